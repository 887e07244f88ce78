import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { buildAuth, deriveReadBearer } from "../src/http/auth.ts";
import { createHandler, type HandlerDeps, requestPath } from "../src/http/handler.ts";
import { BASE_HEADERS, errorResponse, STATUS_TEXT } from "../src/http/responses.ts";
import type { HttpRequest, HttpResponse } from "../src/http/types.ts";
import type { ProbeRecords } from "../src/probe.ts";
import { locate } from "../src/rigforge/locate.ts";
import { serializeSnapshot, type SnapshotRead } from "../src/snapshot.ts";
import { createXmrigClient, type XmrigPath, type XmrigReply } from "../src/xmrig.ts";
import { FIXTURE_NOW_MS } from "./_context.ts";
import { parseLossless, without } from "./_lossless.ts";
import { fixtureSnapshot, RIGFORGE_DIR, XMRIG_DIR, xmrigBody } from "./_snapshot.ts";

const NOW = FIXTURE_NOW_MS + 5000;
const { config } = await locate(join(RIGFORGE_DIR, "zen4"));
const TOKEN = config!.accessToken!;
const NAMED = Object.values(config!.accessTokens)[0]!;
const DERIVED = await deriveReadBearer(TOKEN);
const AUTH = await buildAuth(config);
const zen4 = await fixtureSnapshot("zen4");
const decoder = new TextDecoder();

const CAPTURES: Record<XmrigPath, string> = {
  "/1/summary": xmrigBody("summary-v1-mining.json"),
  "/2/summary": xmrigBody("summary-v2-mining.json"),
  "/2/backends": xmrigBody("backends-v2.json"),
};

function deps(overrides: Partial<HandlerDeps> = {}): HandlerDeps {
  return {
    auth: AUTH,
    snapshot: (): SnapshotRead => ({ snapshot: zen4, error: null }),
    xmrig: (path) => Promise.resolve({ ok: true, text: CAPTURES[path] }),
    now: () => NOW,
    ...overrides,
  };
}

function request(
  url: string,
  options: { method?: string; authorization?: string[] | null } = {},
): HttpRequest {
  const headers: Record<string, string[]> = { host: ["rig:8081"] };
  const auth = options.authorization === undefined ? [`Bearer ${TOKEN}`] : options.authorization;
  if (auth !== null) headers["authorization"] = auth;
  return { method: options.method ?? "GET", url, headers, remoteAddress: "192.168.1.10" };
}

const text = (response: HttpResponse) => decoder.decode(response.body);
const xmrigError = (status: number) =>
  `{\n    "status": ${status},\n    "error": "${STATUS_TEXT[status]}"\n}`;

Deno.test("summaries: XMRig's body of the same version plus generated_at and rigforge", async () => {
  const handler = createHandler(deps());
  const cases: [string, XmrigPath][] = [
    ["/1/summary", "/1/summary"],
    ["/api.json", "/1/summary"],
    ["/2/summary", "/2/summary"],
  ];
  for (const [url, source] of cases) {
    const response = await handler(request(url));
    assertEquals(response.status, 200, url);
    const body = parseLossless(text(response)) as Record<string, unknown>;
    assertEquals(
      without(body as never, ["generated_at", "rigforge"]),
      parseLossless(CAPTURES[source]),
    );
    assertEquals(body["generated_at"], "2026-01-15T12:00:00Z");
    assert(text(response).startsWith(CAPTURES[source].slice(0, -2)), "XMRig's bytes first");
    assert(text(response).includes("18446744073709551615"), "2^64-1 kept");
  }
});

Deno.test("/api.json carries the v1 body, as XMRig's alias does", async () => {
  const handler = createHandler(deps());
  const alias = parseLossless(xmrigBody("api-json-v1-alias.json")) as Record<string, unknown>;
  const body = parseLossless(text(await handler(request("/api.json")))) as Record<string, unknown>;
  assertEquals(
    Object.keys(without(body as never, ["generated_at", "rigforge"])),
    Object.keys(alias),
  );
  assert(Array.isArray((body["hashrate"] as Record<string, unknown>)["threads"]), "v1 threads");
});

Deno.test("/2/backends is XMRig's array plus rigforge in cpu; 503 in XMRig's form when down", async () => {
  const up = await createHandler(deps())(request("/2/backends"));
  assertEquals(up.status, 200);
  const backends = JSON.parse(text(up)) as Record<string, unknown>[];
  const original = JSON.parse(CAPTURES["/2/backends"]!) as Record<string, unknown>[];
  const { rigforge, ...cpu } = backends[0]!;
  assertEquals([cpu, ...backends.slice(1)], original, "XMRig's array, annotation aside");
  assertEquals(typeof rigforge, "object");
  const down = await createHandler(deps({
    xmrig: () => Promise.resolve({ ok: false, error: "connection refused" }),
  }))(request("/2/backends"));
  assertEquals(down.status, 503);
  assertEquals(text(down), xmrigError(503));
});

Deno.test("every response carries exactly XMRig's headers, sorted, no Server or Date", async () => {
  const handler = createHandler(deps());
  const requests = [
    request("/2/summary"),
    request("/health"),
    request("/nope"),
    request("/2/summary", { authorization: null }),
    request("/2/summary", { method: "POST" }),
  ];
  for (const r of requests) {
    const response = await handler(r);
    const names = response.headers.map(([name]) => name);
    assertEquals(names, [...names].sort(), `${r.method} ${r.url}: sorted`);
    const base = response.headers.filter(([name]) => name !== "Allow");
    assertEquals(base, BASE_HEADERS.map(([n, v]) => [n, v]));
    for (const name of names) assert(!/^(server|date|content-length)$/i.test(name), name);
  }
  assertEquals(BASE_HEADERS, [
    ["Access-Control-Allow-Headers", "Authorization, Content-Type"],
    ["Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"],
    ["Access-Control-Allow-Origin", "*"],
    ["Connection", "close"],
    ["Content-Type", "application/json"],
  ]);
});

Deno.test("decision order: OPTIONS, then 405 before auth, then auth, then 404", async () => {
  const handler = createHandler(deps());
  const preflight = await handler(request("/anything", { method: "OPTIONS", authorization: null }));
  assertEquals([preflight.status, preflight.body.length], [200, 0]);
  const captured = Deno.readTextFileSync(join(XMRIG_DIR, "method-options-preflight.http"))
    .split("\r\n\r\n")[0]!.split("\r\n").slice(1).map((line) => line.split(": ")[0]);
  assertEquals(preflight.headers.map(([name]) => name), captured, "XMRig's preflight headers");
  for (const method of ["POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND", "get"]) {
    const response = await handler(request("/2/summary", { method, authorization: null }));
    assertEquals(response.status, 405, method);
    assertEquals(text(response), xmrigError(405));
    assert(response.headers.some(([n, v]) => n === "Allow" && v === "GET, HEAD, OPTIONS"));
  }
  assertEquals((await handler(request("/nope", { authorization: null }))).status, 401);
  assertEquals((await handler(request("/nope", { authorization: ["Bearer x"] }))).status, 403);
  assertEquals((await handler(request("/nope"))).status, 404);
  assertEquals(
    (await handler(request("/health", { method: "HEAD", authorization: null }))).status,
    401,
  );
});

Deno.test("error bodies are XMRig's, byte for byte", async () => {
  const handler = createHandler(deps());
  const read = (name: string) => Deno.readTextFileSync(join(XMRIG_DIR, name)).trimEnd();
  assertEquals(
    text(await handler(request("/2/summary", { authorization: null }))),
    read("restricted-summary-v2-notoken.json"),
  );
  assertEquals(
    text(await handler(request("/2/summary", { authorization: ["Bearer wrong-token"] }))),
    read("restricted-summary-v2-wrongtoken.json"),
  );
  assertEquals(text(await handler(request("/nope"))), read("restricted-unknown-token.json"));
  const patch = Deno.readTextFileSync(join(XMRIG_DIR, "method-patch-summary-token.http"));
  assertEquals(
    text(await handler(request("/2/summary", { method: "PATCH" }))),
    patch.split("\r\n\r\n")[1],
  );
  for (const status of [400, 408, 413, 429, 431, 500, 503]) {
    assertEquals(text(errorResponse(status)), xmrigError(status));
    assertEquals(errorResponse(status).status, status);
  }
  assertEquals(STATUS_TEXT[431], "REQUEST_HEADER_FIELDS_TOO_LARGE");
  assertEquals(STATUS_TEXT[429], "TOO_MANY_REQUESTS");
});

Deno.test("routing is exact; the query string is ignored; absolute-form uses its path", async () => {
  const handler = createHandler(deps());
  const ok = [
    "/2/summary?x=1",
    "/2/summary?",
    "/health#frag",
    "http://rig:8081/tune?y",
    "HTTP://x/1/summary",
  ];
  for (const url of ok) assertEquals((await handler(request(url))).status, 200, url);
  for (const file of ["path-trailing-slash.http", "path-uppercase.http"]) {
    assert(Deno.readTextFileSync(join(XMRIG_DIR, file)).startsWith("HTTP/1.1 404"));
  }
  const notFound = [
    "/2/summary/",
    "/2/SUMMARY",
    "//2/summary",
    "/2/%73ummary",
    "/2/./summary",
    "",
    "*",
    "/metrics2",
  ];
  for (const url of notFound) assertEquals((await handler(request(url))).status, 404, url);
  assertEquals(requestPath("http://h:1"), "/");
  assertEquals(requestPath("/a?b?c"), "/a");
});

Deno.test("auth: token, named token, derived bearer; 401 missing, 403 wrong", async () => {
  const handler = createHandler(deps());
  const status = async (authorization: string[] | null) =>
    (await handler(request("/2/summary", { authorization }))).status;
  assertEquals(await status([`Bearer ${TOKEN}`]), 200);
  assertEquals(await status([`Bearer ${NAMED}`]), 200);
  assertEquals(await status([`Bearer ${DERIVED}`]), 200);
  assertEquals(await status([`Bearer ${await deriveReadBearer(NAMED)}`]), 200);
  assertEquals(await status(null), 401);
  assertEquals(await status([]), 401);
  assertEquals(await status([`bearer ${TOKEN}`]), 403);
  assertEquals(await status([`Bearer ${TOKEN} `]), 403);
  assertEquals(await status(["Bearer wrong", `Bearer ${TOKEN}`]), 403, "first header counts");
  assertEquals(await status([`Bearer ${TOKEN}`, "Bearer wrong"]), 200);
  const open = createHandler(deps({ auth: await buildAuth(null) }));
  assertEquals((await open(request("/2/summary", { authorization: null }))).status, 200);
});

Deno.test("XMRig hanging or refusing: still 200 with the reason (the client's timeout fires)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn); // accept, never answer
  })();
  try {
    // XMRig accepts and never answers: only the client's own timeout can end the request, so
    // the "timeout" word proves the bound fired (its length is a figure for the benches).
    const xmrig = createXmrigClient({ base: `http://127.0.0.1:${port}`, token: TOKEN });
    const handler = createHandler(deps({ xmrig }));
    const response = await handler(request("/1/summary"));
    assertEquals(response.status, 200);
    const body = JSON.parse(text(response));
    assertEquals(Object.keys(body), ["generated_at", "rigforge"]);
    assertEquals([body.rigforge.xmrig_api, body.rigforge.xmrig_error], ["unreachable", "timeout"]);
    assert(held.length > 0, "XMRig's stand-in was really asked");
  } finally {
    listener.close();
    held.forEach((c) => c.close());
    await accepting.catch(() => {});
  }
  const refused = createHandler(deps({
    xmrig: createXmrigClient({ base: `http://127.0.0.1:${port}`, token: TOKEN }),
  }));
  const body = JSON.parse(text(await refused(request("/2/summary"))));
  assertEquals(body.rigforge.xmrig_error, "connection refused");
});

Deno.test("snapshot missing or stale: still 200, XMRig data intact, status says so", async () => {
  for (
    const [read, now, status] of [
      [{ snapshot: null, error: "absent" }, NOW, "missing"],
      [{ snapshot: zen4, error: null }, NOW + 600_000, "stale"],
      [{ snapshot: zen4, error: "corrupt" }, NOW, "fresh"],
    ] as [SnapshotRead, number, string][]
  ) {
    const handler = createHandler(deps({ snapshot: () => read, now: () => now }));
    for (const url of ["/2/summary", "/health", "/tune"]) {
      const response = await handler(request(url));
      assertEquals(response.status, 200, `${status} ${url}`);
      const body = JSON.parse(text(response));
      const info = url === "/2/summary" ? body.rigforge.snapshot : body.snapshot;
      assertEquals(info.status, status);
      assertEquals(info.read_error, read.error);
      if (url === "/2/summary") {
        assertEquals(body.uptime, JSON.parse(CAPTURES["/2/summary"]).uptime);
      }
    }
  }
});

Deno.test("the doctor hook runs once per snapshot and feeds /health", async () => {
  let calls = 0;
  const checks = (records: ProbeRecords) => {
    calls++;
    return { verdict: { issues: records.hugepages === null ? 1 : 0, warnings: 0 }, checks: [] };
  };
  const handler = createHandler(deps({ checks }));
  for (let i = 0; i < 3; i++) {
    const body = JSON.parse(text(await handler(request("/health"))));
    assertEquals(body.doctor, { verdict: { issues: 0, warnings: 0 }, checks: [] });
  }
  assertEquals(calls, 1);
  const without = JSON.parse(text(await createHandler(deps())(request("/health"))));
  assertEquals(without.doctor, null);
});

Deno.test("a failing dependency is a 500 in XMRig's form, never a throw", async () => {
  const handler = createHandler(deps({
    snapshot: () => Promise.reject(new Error(`boom ${TOKEN}`)),
    checks: () => {
      throw new Error(TOKEN);
    },
  }));
  const response = await handler(request("/2/summary"));
  assertEquals(response.status, 500);
  assertEquals(text(response), xmrigError(500));
});

Deno.test("secret sweep: no token, derived bearer or pool password in any answer", async () => {
  const secrets = [TOKEN, NAMED, DERIVED, await deriveReadBearer(NAMED), "LEAKCHECK"];
  const leaks = (where: string, value: string) => {
    for (const secret of secrets) {
      assert(!value.includes(secret), `${where} leaks ${secret.slice(0, 12)}…`);
    }
  };
  leaks("snapshot file", serializeSnapshot(zen4));
  const down: XmrigReply = { ok: false, error: "timeout" };
  const variants: [string, Partial<HandlerDeps>][] = [
    ["up", {}],
    ["xmrig down", { xmrig: () => Promise.resolve(down) }],
    ["no snapshot", { snapshot: () => ({ snapshot: null, error: "corrupt" }) }],
    ["stale", { now: () => NOW + 3600_000 }],
    ["throwing", { xmrig: () => Promise.reject(new Error(TOKEN)) }],
  ];
  const urls = [
    "/1/summary",
    "/2/summary",
    "/api.json",
    "/2/backends",
    "/health",
    "/tune",
    "/nope",
    "/2/config",
    "/1/config",
  ];
  const auths: (string[] | null)[] = [null, [`Bearer ${TOKEN}`], [`Bearer ${DERIVED}`], [
    "Bearer wrong",
  ], [`Bearer ${TOKEN}x`]];
  let checked = 0;
  for (const [name, override] of variants) {
    const handler = createHandler(deps(override));
    for (const url of urls) {
      for (const method of ["GET", "HEAD", "POST", "OPTIONS", "DELETE"]) {
        for (const authorization of auths) {
          const response = await handler(request(url, { method, authorization }));
          leaks(`${name} ${method} ${url}`, JSON.stringify(response.headers) + text(response));
          checked++;
        }
      }
    }
  }
  assertEquals(checked, variants.length * urls.length * 5 * auths.length);
  const body = JSON.parse(text(await createHandler(deps())(request("/2/summary"))));
  const pools = body.rigforge.config.pools;
  assertEquals(pools[0].pass, { __secret__: true }, "masked, not deleted");
  assertEquals(body.rigforge.exposure.token_required, true);
});
