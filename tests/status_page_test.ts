/**
 * `GET /` and `HEAD /` through the handler (no socket): the prebuilt status page, its
 * Content-Security-Policy derived from its own inline script and style, no auth and no secret;
 * and the page script's pure helpers.
 */

import {
  deepEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { buildAuth } from "../src/http/auth.ts";
import { createHandler, type HandlerDeps } from "../src/http/handler.ts";
import { buildStatusPage } from "../src/http/status_page.ts";
import type { HttpRequest, HttpResponse } from "../src/http/types.ts";
import { locate } from "../src/rigforge/locate.ts";
import { formatDuration, formatHashrate, freshnessLine } from "../src/http/status_page.js";
import { RIGFORGE_DIR } from "./_snapshot.ts";

const { config } = await locate(join(RIGFORGE_DIR, "zen4"));
const TOKEN = config!.accessToken!;
const NAMED = Object.values(config!.accessTokens)[0]!;

async function handler(open = false): Promise<(r: HttpRequest) => Promise<HttpResponse>> {
  const deps: HandlerDeps = {
    auth: await buildAuth(open ? null : config),
    snapshot: () => ({ snapshot: null, error: "absent" }),
    xmrig: () => Promise.resolve({ ok: false, error: "connection refused" }),
    now: () => Date.now(),
  };
  return createHandler(deps);
}

function request(url: string, method = "GET", authorization?: string): HttpRequest {
  const headers: Record<string, string[]> = { host: ["rig:8081"] };
  if (authorization !== undefined) headers["authorization"] = [authorization];
  return { method, url, headers, remoteAddress: "192.168.1.10" };
}

const header = (response: HttpResponse, name: string): string | undefined =>
  response.headers.find(([n]) => n === name)?.[1];
const hash = (text: string): string =>
  `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
const inner = (html: string, tag: string): string[] =>
  [...html.matchAll(new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1]!);

Deno.test("GET /: the status page, HTML, without a token even when one is configured", async () => {
  const handle = await handler();
  const page = await handle(request("/"));
  assertEquals(page.status, 200);
  assertEquals(header(page, "Content-Type"), "text/html; charset=utf-8");
  assertEquals(header(page, "X-Content-Type-Options"), "nosniff");
  assertEquals(header(page, "Referrer-Policy"), "no-referrer");
  const html = new TextDecoder().decode(page.body);
  assert(html.startsWith("<!doctype html>"));
  // the same prebuilt object for every request, query strings and absolute form included
  assert((await handle(request("/"))) === page);
  assert((await handle(request("/?refresh=1"))) === page);
  assert((await handle(request("http://rig:8081/"))) === page);
  // HEAD: the same response; the listener drops the body and keeps the length
  assert((await handle(request("/", "HEAD"))) === page);
  // a wrong token does not matter for the page, and other paths still need auth
  assert((await handle(request("/", "GET", "Bearer wrong"))) === page);
  assertEquals((await handle(request("/index.html"))).status, 401);
  assertEquals((await handle(request("/2/summary"))).status, 401);
  assertEquals((await handle(request("/index.html"))).status, 401);
  assertEquals((await handle(request("/", "POST"))).status, 405);
  assertEquals((await (await handler(true))(request("/index.html"))).status, 404);
  // headers sorted as on every route, CORS included
  const names = page.headers.map(([n]) => n);
  assertEquals(names, [...names].sort());
  assertEquals(header(page, "Access-Control-Allow-Origin"), "*");
  assertEquals(header(page, "Connection"), "close");
});

Deno.test("GET /: the policy allows exactly the page's own inline script and style", async () => {
  const page = await (await handler())(request("/"));
  const html = new TextDecoder().decode(page.body);
  const csp = header(page, "Content-Security-Policy")!;
  const directives = Object.fromEntries(
    csp.split(";").map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v.join(" ")]),
  );
  const scripts = inner(html, "script");
  const styles = inner(html, "style");
  assertEquals(scripts.length, 1);
  assertEquals(styles.length, 1);
  assertEquals(directives["default-src"], "'none'");
  assertEquals(directives["script-src"], hash(scripts[0]!));
  assertEquals(directives["style-src"], hash(styles[0]!));
  assertEquals(directives["connect-src"], "'self'");
  assertEquals(directives["frame-ancestors"], "'none'");
  assert(!csp.includes("unsafe"), csp);
  // no external resource of any kind
  assert(!/\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i.test(html), "no external URL");
  assert(!/<link\b|<img\b|<iframe\b|@import/i.test(html));
  // no secret: neither configured token appears
  assert(!html.includes(TOKEN) && !html.includes(NAMED));
});

Deno.test("buildStatusPage() refuses a script that would end its element early", () => {
  const template = "<style>a{}</style><script>/*STATUS_PAGE_SCRIPT*/</script>";
  assertThrows(() => buildStatusPage(template, "x = '</script>'"), /<\/script/);
  assertThrows(() => buildStatusPage("<style></style><script></script>", "x"), /slot/);
  const built = buildStatusPage(template, "// note\n/** doc */\nlet a = 1; // $& $1");
  assertEquals(built.html, "<style>a{}</style><script>let a = 1; // $& $1</script>");
  assert(built.csp.includes(hash("let a = 1; // $& $1")));
});

Deno.test("the page's formatters: hashrate, durations and the freshness sentence", () => {
  assertEquals(formatHashrate(184.44), "184.4 H/s");
  assertEquals(formatHashrate(20544.7), "20.54 kH/s");
  assertEquals(formatHashrate(12_345_678), "12.35 MH/s");
  assertEquals(formatHashrate(null), "—");
  assertEquals(formatDuration(118), "1m 58s");
  assertEquals(formatDuration(90061), "1d 1h");
  assertEquals(formatDuration(-1), "—");
  const fresh = freshnessLine({ status: "fresh", age_s: 3, interval_s: 15 });
  assertEquals(fresh, {
    text: "Rig data is fresh: snapshot 3s old, probed every 15 s.",
    tone: "ok",
  });
  const stale = freshnessLine({ status: "stale", age_s: 120, stale_after_s: 45 });
  assertEquals(stale.tone, "warn");
  assert(stale.text.startsWith("Rig data is STALE: snapshot 2m 0s old (stale after 45 s)."));
  const missing = freshnessLine({ status: "missing", age_s: null, read_error: "missing" });
  assertEquals(missing.tone, "bad");
  assert(missing.text.startsWith("Rig data is MISSING: no snapshot could be read (missing)."));
  assertEquals(freshnessLine("<b>").tone, "unknown");
});
