import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  checkBody,
  createXmrigClient,
  fetchXmrig,
  xmrigOrigin,
  type XmrigPath,
  type XmrigReply,
} from "../src/xmrig.ts";

const XMRIG = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "xmrig");
const SUMMARY = Deno.readTextFileSync(join(XMRIG, "summary-v2-mining.json")).trimEnd();
const BACKENDS = Deno.readTextFileSync(join(XMRIG, "backends-v2.json")).trimEnd();
const TOKEN = "rig-01-secret";

/** A loopback stand-in for XMRig; `route` decides the answer per path. */
async function withServer(
  route: (path: string, auth: string | null) => Response | Promise<Response>,
  body: (base: string) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", signal: controller.signal, onListen: () => {} },
    (request) => route(new URL(request.url).pathname, request.headers.get("authorization")),
  );
  try {
    await body(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    controller.abort();
    await server.finished;
  }
}

Deno.test("fetchXmrig returns XMRig's bytes unchanged, big integers included", async () => {
  await withServer(
    (path, auth) =>
      auth !== `Bearer ${TOKEN}`
        ? new Response('{"status": 401, "error": "UNAUTHORIZED"}', { status: 401 })
        : new Response(path === "/2/backends" ? BACKENDS : SUMMARY),
    async (base) => {
      const summary = await fetchXmrig(base, "/2/summary", TOKEN);
      assertEquals(summary, { ok: true, text: SUMMARY });
      assert(summary.ok && summary.text.includes("18446744073709551615"));
      assertEquals(await fetchXmrig(base, "/2/backends", TOKEN), { ok: true, text: BACKENDS });
      assertEquals(await fetchXmrig(base, "/2/summary", null), { ok: false, error: "http 401" });
    },
  );
});

Deno.test("fetchXmrig refuses what Pithead would refuse", async () => {
  const answers: Record<string, () => Response> = {
    "/1/summary": () => new Response("[1, 2]"),
    "/2/summary": () => new Response("oops", { status: 500 }),
    "/2/backends": () => new Response('{"not": "an array"}'),
  };
  await withServer((path) => answers[path]!(), async (base) => {
    assertEquals(await fetchXmrig(base, "/1/summary", null), {
      ok: false,
      error: "not a JSON object",
    });
    assertEquals(await fetchXmrig(base, "/2/summary", null), { ok: false, error: "http 500" });
    assertEquals(await fetchXmrig(base, "/2/backends", null), {
      ok: false,
      error: "not a JSON array",
    });
  });
});

Deno.test("fetchXmrig caps the body size, with or without Content-Length", async () => {
  const big = `{"a": "${"x".repeat(2000)}"}`;
  await withServer((path) => {
    if (path === "/1/summary") return new Response(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    return new Response(stream); // chunked: no Content-Length
  }, async (base) => {
    const options = { maxBytes: 1000 };
    assertEquals(await fetchXmrig(base, "/1/summary", null, options), {
      ok: false,
      error: "too large",
    });
    assertEquals(await fetchXmrig(base, "/2/summary", null, options), {
      ok: false,
      error: "too large",
    });
    assert((await fetchXmrig(base, "/1/summary", null)).ok, "under the default 1 MiB cap");
  });
});

Deno.test("fetchXmrig times out on a slow XMRig within its bound", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  await withServer(async () => {
    await held;
    return new Response(SUMMARY);
  }, async (base) => {
    const started = performance.now();
    const reply = await fetchXmrig(base, "/2/summary", TOKEN, { timeoutMs: 150 });
    const elapsed = performance.now() - started;
    release();
    // The server never answers: only the 150 ms timeout ends the fetch (no upper wall-clock
    // bound: CI shares two cores; the bound's effect is the "timeout" word).
    assertEquals(reply, { ok: false, error: "timeout" });
    assert(elapsed >= 140, `gave up after ${elapsed} ms, before its 150 ms timeout`);
  });
});

Deno.test("fetchXmrig reports a refused connection without the URL or token", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const reply = await fetchXmrig(`http://user:pw@127.0.0.1:${port}`, "/2/summary", TOKEN);
  assertEquals(reply, { ok: false, error: "connection refused" });
  assertEquals(await fetchXmrig("ftp://x", "/2/summary", TOKEN), {
    ok: false,
    error: "bad address",
  });
});

Deno.test("xmrigOrigin drops credentials, paths and odd schemes", () => {
  assertEquals(xmrigOrigin("http://u:p@127.0.0.1:8080/x?y#z"), "http://127.0.0.1:8080");
  assertEquals(xmrigOrigin("http://[::1]:8080"), "http://[::1]:8080");
  assertEquals(xmrigOrigin("file:///etc/passwd"), null);
  assertEquals(xmrigOrigin("not a url"), null);
});

Deno.test("checkBody accepts only the expected JSON kind", () => {
  assertEquals(checkBody(SUMMARY, "object"), null);
  assertEquals(checkBody("  {}", "object"), null);
  assertEquals(checkBody(BACKENDS, "array"), null);
  for (const bad of ["", "null", "1", '"{}"', "{", "{} x", "[]", "\uFEFF{}"]) {
    assertEquals(checkBody(bad, "object"), "not a JSON object", JSON.stringify(bad));
  }
  assertEquals(checkBody("{}", "array"), "not a JSON array");
});

Deno.test("createXmrigClient shares one fetch per path and caches replies for the TTL", async () => {
  let clock = 0;
  const calls: XmrigPath[] = [];
  const gates: (() => void)[] = [];
  const fetcher = (_base: string, path: XmrigPath): Promise<XmrigReply> => {
    calls.push(path);
    const n = calls.length;
    return new Promise((resolve) => gates.push(() => resolve({ ok: true, text: `{"n":${n}}` })));
  };
  const client = createXmrigClient({ base: "http://x", token: null, now: () => clock, fetcher });
  const burst = [client("/2/summary"), client("/2/summary"), client("/1/summary")];
  assertEquals(calls, ["/2/summary", "/1/summary"]);
  gates.forEach((open) => open());
  const replies = await Promise.all(burst);
  assertEquals(replies[0], replies[1]);
  assertEquals(replies[0], { ok: true, text: '{"n":1}' });
  clock = 999;
  assertEquals(await client("/2/summary"), { ok: true, text: '{"n":1}' }, "cached within 1 s");
  assertEquals(calls.length, 2);
  clock = 1000;
  const again = client("/2/summary");
  gates[2]!();
  assertEquals(await again, { ok: true, text: '{"n":3}' }, "refetched after 1 s");
});

Deno.test("createXmrigClient caches failures too and never rejects", async () => {
  let calls = 0;
  const client = createXmrigClient({
    base: "http://x",
    token: null,
    now: () => 0,
    fetcher: () => {
      calls++;
      return Promise.reject(new Error("boom http://secret@host"));
    },
  });
  assertEquals(await client("/2/summary"), { ok: false, error: "unreachable" });
  assertEquals(await client("/2/summary"), { ok: false, error: "unreachable" });
  assertEquals(calls, 1);
});
