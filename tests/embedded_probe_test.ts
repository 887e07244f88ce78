/**
 * The embedded prober of `serve` (standalone, no probe timer): it probes on its own period,
 * keeps the last snapshot when a pass fails, and reports and counts every failed pass instead of
 * dropping it.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { startEmbeddedProber } from "../src/cli/embedded_probe.ts";
import { fixtureContext } from "./_context.ts";
import { waitFor } from "./_wait.ts";

Deno.test("embedded prober: a pass makes a snapshot of the machine it probes", async () => {
  const reports: string[] = [];
  const prober = startEmbeddedProber(fixtureContext("zen4"), 3600, (m) => reports.push(m));
  try {
    await prober.first;
    const snapshot = prober.latest();
    assert(snapshot !== null, "the first pass made a snapshot");
    assertEquals(snapshot.interval_s, 3600);
    assertEquals(typeof snapshot.records.cpu?.logical_cpus, "number");
    assertEquals([prober.failures(), reports], [0, []]);
  } finally {
    prober.stop();
  }
});

Deno.test("embedded prober: a failed pass is reported and counted, never swallowed", async () => {
  const reports: string[] = [];
  let calls = 0;
  const ctx = fixtureContext("zen4", {
    now: () => {
      calls += 1;
      throw new Error("clock broke\nsecond line");
    },
  });
  const prober = startEmbeddedProber(ctx, 3600, (m) => reports.push(m));
  try {
    await prober.first;
    await waitFor("the failure reported", () => reports.length === 1);
    assert(calls >= 1);
    assertEquals(prober.latest(), null, "no snapshot from a failed pass");
    assertEquals(prober.failures(), 1);
    assertEquals(reports, ["embedded probe pass failed (1 so far): Error: clock broke"]);
  } finally {
    prober.stop();
  }
});
