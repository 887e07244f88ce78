/**
 * The status page in a real browser: headless Chromium (Debian's `chromium`) loads `GET /` from
 * the real `serve` over a fixture rig (zen4 snapshot, RigForge home) with the XMRig stand-in,
 * and the tests read the rendered DOM. Expected values come from the stand-in's raw capture and
 * from the API's own JSON, never from the page's output.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { type BrowserPage, dumpDom, startBrowser } from "./_browser.ts";
import { locate } from "../src/rigforge/locate.ts";
import { RIGFORGE_DIR } from "./_snapshot.ts";
import { type ServeHandle, startServe, writeFreshSnapshot } from "./_serve.ts";
import { type StandinOptions, startStandin } from "./_xmrig_standin.ts";
import { waitFor } from "./_wait.ts";

const HOME = join(RIGFORGE_DIR, "zen4");
const { config } = await locate(HOME);
const TOKEN = config!.accessToken!;
const WIRE = new URL("./fixtures/xmrig_wire/summary-v2-mining.http", import.meta.url);
const CAPTURE_BODY = (() => {
  const raw = Deno.readTextFileSync(WIRE);
  return raw.slice(raw.indexOf("\r\n\r\n") + 4);
})();
const CAPTURE = JSON.parse(CAPTURE_BODY);
const LIMIT = { limitMs: 60_000, everyMs: 200 };

/** The page's hashrate text for a raw H/s figure (the fixture's rates are below 10 000 H/s). */
function hashrateText(value: number | null): string {
  if (value === null) return "—";
  assert(value < 1e4, "fixture hashrate expected below 10 kH/s");
  return `${value.toFixed(1)} H/s`;
}

async function rig(
  options: {
    standin?: StandinOptions;
    snapshot?: boolean;
    down?: boolean;
    args?: readonly string[];
  } = {},
): Promise<{ serve: ServeHandle; stop: () => Promise<void> }> {
  const xmrig = await startStandin(options.standin ?? {});
  if (options.down === true) await xmrig.setMode("down");
  const serve = await startServe({
    xmrig: xmrig.url,
    homeFrom: HOME,
    args: options.args ?? ["--rate", "0", "--global-rate", "0"],
  });
  if (options.snapshot !== false) await writeFreshSnapshot(serve.snapshot, "zen4");
  return {
    serve,
    stop: async () => {
      await serve.stop();
      await xmrig.close();
    },
  };
}

const textOf = (page: BrowserPage, id: string): Promise<string> =>
  page.evaluate(`document.getElementById(${JSON.stringify(id)})?.textContent ?? null`).then(
    String,
  );

/** Waits until the page shows XMRig reachable with a hashrate (a poll may time out under load). */
function waitForRig(page: BrowserPage): Promise<string> {
  return waitFor("the page shows XMRig reachable with a hashrate", async () => {
    const [xmrig, rate] = await Promise.all([textOf(page, "xmrig"), textOf(page, "hr-10s")]);
    return /reachable$/.test(xmrig) && rate !== "—" ? page.dom() : null;
  }, LIMIT);
}

Deno.test("status page in Chromium: hashrate, doctor's verdicts and the freshness line", async () => {
  const { serve, stop } = await rig();
  const browser = await startBrowser();
  try {
    const base = `http://127.0.0.1:${serve.port}`;
    const page = await browser.open(`${base}/#token=${encodeURIComponent(TOKEN)}`);
    const dom = await waitForRig(page);

    const [ten, sixty, fifteen] = CAPTURE.hashrate.total;
    assert(typeof ten === "number", "fixture has a 10 s hashrate");
    assertEquals(await textOf(page, "hr-10s"), hashrateText(ten));
    assertEquals(await textOf(page, "hr-60s"), hashrateText(sixty));
    assertEquals(await textOf(page, "hr-15m"), hashrateText(fifteen));
    assertEquals(await textOf(page, "pool"), CAPTURE.connection.pool);
    assertEquals(await textOf(page, "xmrig"), `XMRig ${CAPTURE.version} reachable`);

    const health = await (await fetch(`${base}/health`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })).json();
    const checks = [
      ...health.doctor.issues.map((c: Record<string, string>) => ({ ...c, verdict: "issue" })),
      ...health.doctor.warnings.map((c: Record<string, string>) => ({ ...c, verdict: "warn" })),
    ];
    assert(checks.length > 0, "the zen4 fixture has doctor findings to show");
    const shown = await page.evaluate(`[...document.querySelectorAll("li.check")].map((li) => ({
      id: li.dataset.id, verdict: li.dataset.verdict,
      title: li.querySelector("b").textContent.trim(),
      detail: li.querySelector(".detail").textContent,
      colour: getComputedStyle(li.querySelector(".pill")).color }))`);
    assert(Array.isArray(shown));
    assertEquals(
      shown.map((c) => ({ id: c.id, verdict: c.verdict, title: c.title, detail: c.detail })),
      checks.map((c) => ({ id: c.id, verdict: c.verdict, title: c.title, detail: c.detail })),
    );
    // verdict colours: a warning is amber, an issue red (the page's palette)
    for (const c of shown) {
      assertEquals(c.colour, c.verdict === "warn" ? "rgb(210, 153, 34)" : "rgb(248, 81, 73)");
    }
    assertEquals(
      await textOf(page, "verdict"),
      `${health.doctor.verdict.issues} issues, ${health.doctor.verdict.warnings} warnings`,
    );

    const fresh = await textOf(page, "fresh");
    assert(fresh.startsWith("Rig data is fresh: snapshot "), fresh);
    assert(fresh.includes(`probed every ${health.snapshot.interval_s} s`), fresh);

    // one-shot `chromium --dump-dom`: the snapshot-derived parts (freshness line, verdicts) are
    // there after the first refresh; the hashrate needs XMRig's answer within serve's 250 ms,
    // which a loaded CI machine can miss once, so it is asserted on the polled page above
    const dumped = await dumpDom(`${base}/#token=${encodeURIComponent(TOKEN)}`);
    assert(dumped.includes('<div id="fresh" class="ok">Rig data is fresh: snapshot '), dumped);
    for (const c of checks) {
      assert(dumped.includes(`data-verdict="${c.verdict}" data-id="${c.id}"`), c.id);
    }

    // the token came from the fragment: kept in sessionStorage, gone from the address bar and DOM
    assertEquals(await page.evaluate("location.hash"), "");
    assertEquals(await page.evaluate(`sessionStorage.getItem("rigforge-api-token")`), TOKEN);
    assert(!dom.includes(TOKEN) && !dumped.includes(TOKEN), "the rendered page shows no token");
    // every request the page made stayed on its own origin
    const requests = page.requests();
    assert(requests.length >= 3, JSON.stringify(requests));
    for (const r of requests) assert(r.url.startsWith(`${base}/`), r.url);
  } finally {
    await browser.close();
    await stop();
  }
});

Deno.test("status page in Chromium: 401 shows the token prompt, a typed token shows the rig", async () => {
  const { serve, stop } = await rig();
  const browser = await startBrowser();
  try {
    const page = await browser.open(`http://127.0.0.1:${serve.port}/`);
    await waitFor("the token prompt", async () => {
      const visible = await page.evaluate(`!document.getElementById("auth").hidden`);
      return visible === true && /\(401\)/.test(await textOf(page, "auth-why"));
    }, LIMIT);
    assertEquals(await page.evaluate(`document.getElementById("main").hidden`), true);

    await page.evaluate(`(() => {
      document.getElementById("token").value = "not-the-token";
      document.getElementById("auth-form").requestSubmit();
    })()`);
    await waitFor(
      "403 asks again",
      async () => /\(403\)/.test(await textOf(page, "auth-why")),
      LIMIT,
    );

    await page.evaluate(`(() => {
      document.getElementById("token").value = ${JSON.stringify(TOKEN)};
      document.getElementById("auth-form").requestSubmit();
    })()`);
    await waitForRig(page);
    assertEquals(await page.evaluate(`document.getElementById("auth").hidden`), true);
    assertEquals(await textOf(page, "hr-10s"), hashrateText(CAPTURE.hashrate.total[0]));
  } finally {
    await browser.close();
    await stop();
  }
});

Deno.test("status page in Chromium: no snapshot and XMRig down are said plainly", async () => {
  const { serve, stop } = await rig({ snapshot: false, down: true });
  const browser = await startBrowser();
  try {
    const page = await browser.open(`http://127.0.0.1:${serve.port}/#token=${TOKEN}`);
    const fresh = await waitFor("the freshness line", async () => {
      const line = await textOf(page, "fresh");
      return line.startsWith("Rig data is") ? line : null;
    }, LIMIT);
    assert(fresh.startsWith("Rig data is MISSING: no snapshot could be read"), fresh);
    assertEquals(await textOf(page, "xmrig"), "XMRig unreachable: connection refused");
    assertEquals(await textOf(page, "hr-10s"), "—");
    assertEquals(await textOf(page, "verdict"), "cannot tell");
    assert((await textOf(page, "watts")).startsWith("cannot tell"));

    // the same, one-shot through `chromium --dump-dom` (deterministic here: nothing to time out)
    const dom = await dumpDom(`http://127.0.0.1:${serve.port}/#token=${TOKEN}`);
    assert(dom.includes('<div id="fresh" class="bad">Rig data is MISSING: no snapshot'), dom);
    assert(dom.includes(">XMRig unreachable: connection refused</span>"), dom);
    assert(dom.includes('<span id="verdict" class="pill unknown">cannot tell</span>'), dom);
    assert(dom.includes("Doctor cannot tell: the snapshot is not fresh."), dom);
  } finally {
    await browser.close();
    await stop();
  }
});

Deno.test("status page in Chromium: a 429 backs off instead of retrying at once", async () => {
  // a per-source budget of 2 connections (the page itself, then one API call) and almost no
  // refill: the page's first refresh meets a 429 on one of its two calls
  const { serve, stop } = await rig({ args: ["--rate", "0.001", "--burst", "2"] });
  const browser = await startBrowser();
  try {
    const page = await browser.open(`http://127.0.0.1:${serve.port}/#token=${TOKEN}`);
    const busy = await waitFor("the page reports the 429", async () => {
      const line = await textOf(page, "updated");
      return line.startsWith("Busy (429)") ? line : null;
    }, LIMIT);
    // the 10 s interval doubled (Retry-After: 1 is shorter), not an immediate retry
    assertEquals(busy, "Busy (429): next try in 20 s");
    const api = page.requests().filter((r) => !r.url.endsWith(`:${serve.port}/`));
    assertEquals(api.map((r) => new URL(r.url).pathname).sort(), ["/2/summary", "/health"]);
  } finally {
    await browser.close();
    await stop();
  }
});

Deno.test("status page in Chromium: markup in XMRig's strings renders as inert text", async () => {
  const image = `<img src=x onerror="window.pwned=1;document.title='pwned'">`;
  const script = `</script><script>window.pwned=2</script>`;
  const hostile = {
    worker_id: `rig ${image} ${script}`,
    pool: `pool.example:3333${image}`,
    brand: `AMD ${script}${image}<b>bold</b>`,
  };
  const summary = JSON.parse(CAPTURE_BODY);
  summary.worker_id = hostile.worker_id;
  summary.connection.pool = hostile.pool;
  summary.cpu.brand = hostile.brand;
  const { serve, stop } = await rig({
    standin: { summaryV2Body: JSON.stringify(summary, null, 4) },
  });
  const browser = await startBrowser();
  try {
    const page = await browser.open(`http://127.0.0.1:${serve.port}/#token=${TOKEN}`);
    const dom = await waitForRig(page);
    assertEquals(await textOf(page, "rig"), hostile.worker_id);
    assertEquals(await textOf(page, "pool"), hostile.pool);
    assertEquals(await textOf(page, "cpu"), hostile.brand);
    assertEquals(await page.evaluate("document.querySelectorAll('img').length"), 0);
    assertEquals(
      await page.evaluate(
        "[...document.querySelectorAll('b')].some((b) => b.textContent === 'bold')",
      ),
      false,
    );
    assertEquals(await page.evaluate("document.querySelectorAll('script').length"), 1);
    assertEquals(await page.evaluate("typeof window.pwned"), "undefined");
    // the title is the worker id as text, not the payload's `document.title='pwned'`
    assertEquals(await page.evaluate("document.title"), `${hostile.worker_id} · RigForge`);
    assert(dom.includes("&lt;img src=x onerror="), "the markup is serialized as text");
  } finally {
    await browser.close();
    await stop();
  }
});

Deno.test("CORS from another origin: Bearer through the preflight reads /2/summary, none gets 401", async () => {
  const { serve, stop } = await rig();
  const api = `http://127.0.0.1:${serve.port}/2/summary`;
  const dashboard = `<!doctype html><title>dashboard</title><pre id="out"></pre><script>
    const get = (headers) => fetch(${JSON.stringify(api)}, { headers }).then(
      async (r) => ({ status: r.status, body: await r.json() }),
      (e) => ({ status: 0, body: String(e) }));
    Promise.all([get({ Authorization: "Bearer ${TOKEN}" }), get({}), get({ Authorization: "Bearer nope" })])
      .then((all) => { document.getElementById("out").textContent = JSON.stringify(all); });
  </script>`;
  const other = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(dashboard, { headers: { "content-type": "text/html" } }),
  );
  const browser = await startBrowser();
  try {
    const origin = `http://127.0.0.1:${other.addr.port}`;
    assert(origin !== `http://127.0.0.1:${serve.port}`);
    const page = await browser.open(`${origin}/`);
    const out = await waitFor("the dashboard's results", async () => {
      const text = await textOf(page, "out");
      return text === "" ? null : JSON.parse(text);
    }, LIMIT);
    const [withToken, without, wrong] = out;
    assertEquals(withToken.status, 200);
    assertEquals(withToken.body.worker_id, CAPTURE.worker_id);
    assertEquals(withToken.body.rigforge.snapshot.status, "fresh");
    assertEquals(without, { status: 401, body: { status: 401, error: "UNAUTHORIZED" } });
    assertEquals(wrong, { status: 403, body: { status: 403, error: "FORBIDDEN" } });
    const requests = page.requests().filter((r) => r.url === api);
    const preflights = requests.filter((r) => r.method === "OPTIONS");
    assert(preflights.length >= 1, `a preflight was sent: ${JSON.stringify(requests)}`);
  } finally {
    await browser.close();
    await other.shutdown();
    await stop();
  }
});
