/**
 * Never swallow: a route that fails answers 500 and the error reaches the reporter serve passes
 * in (its rate-limited stderr) and the `/metrics` counter; a doctor hook that throws leaves
 * `"doctor": null` on `/health`, and is reported and counted the same way.
 *
 * @module
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { buildAuth } from "../src/http/auth.ts";
import { createHandler, type HandlerDeps } from "../src/http/handler.ts";
import type { Handler, HttpResponse } from "../src/http/types.ts";
import type { SnapshotRead } from "../src/snapshot.ts";
import { FIXTURE_NOW_MS } from "./_context.ts";
import { fixtureSnapshot, xmrigBody } from "./_snapshot.ts";

const zen4 = await fixtureSnapshot("zen4");
const auth = await buildAuth(null);
const decoder = new TextDecoder();
const SUMMARY = xmrigBody("summary-v2-mining.json");

function get(handler: Handler, url: string): Promise<HttpResponse> {
  return handler({
    method: "GET",
    url,
    headers: { host: ["rig:8081"] },
    remoteAddress: "127.0.0.1",
  });
}

/** The value of one sample line of a 0.0.4 body, or `null` when the line is absent. */
function sample(body: string, series: string): number | null {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

function deps(reported: string[], overrides: Partial<HandlerDeps>): HandlerDeps {
  return {
    auth,
    snapshot: (): SnapshotRead => ({ snapshot: zen4, error: null }),
    xmrig: () => Promise.resolve({ ok: true, text: SUMMARY }),
    now: () => FIXTURE_NOW_MS + 5000,
    report: (message) => reported.push(message),
    ...overrides,
  };
}

Deno.test("a failing route answers 500, is reported and counted on /metrics", async () => {
  const reported: string[] = [];
  const handler = createHandler(deps(reported, {
    xmrig: (path) =>
      path === "/2/backends"
        ? Promise.reject(new RangeError("injected route failure"))
        : Promise.resolve({ ok: true, text: SUMMARY }),
  }));
  const before = decoder.decode((await get(handler, "/metrics")).body);
  assertEquals(sample(before, 'rigforge_api_internal_errors_total{where="route"}'), null);

  assertEquals((await get(handler, "/2/backends")).status, 500);
  assertEquals((await get(handler, "/2/backends")).status, 500);
  assertEquals(reported, [
    "route failed: RangeError: injected route failure",
    "route failed: RangeError: injected route failure",
  ]);
  const after = decoder.decode((await get(handler, "/metrics")).body);
  assertEquals(sample(after, 'rigforge_api_internal_errors_total{where="route"}'), 2);
  assertEquals(sample(after, 'rigforge_api_requests_total{code="500"}'), 2);
});

Deno.test("a doctor hook that throws is reported once per snapshot and counted", async () => {
  const reported: string[] = [];
  const handler = createHandler(deps(reported, {
    checks: () => {
      throw new TypeError("governors.every is not a function\nat governorCheck");
    },
  }));
  const health = await get(handler, "/health");
  assertEquals(health.status, 200);
  assertEquals(JSON.parse(decoder.decode(health.body)).doctor, null);
  await get(handler, "/health"); // the same snapshot: the hook is not run again
  assertEquals(reported, ["doctor failed: TypeError: governors.every is not a function"]);
  const metrics = decoder.decode((await get(handler, "/metrics")).body);
  assertEquals(sample(metrics, 'rigforge_api_internal_errors_total{where="doctor"}'), 1);
  assert(!metrics.includes('where="route"'), "no route failed");
});
