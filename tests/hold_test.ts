/**
 * Issue 13 item 3: the first-contact hold of a socket-activated `serve`, over an injected clock,
 * reads and change signal (the real-systemd suite shows it end to end).
 *
 * @module
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import type { SnapshotFileRead } from "../src/snapshot/cache.ts";
import {
  createHold,
  HOLD_DEADLINE_MS,
  needsHold,
  newerThan,
  watchChanges,
} from "../src/snapshot/hold.ts";
import type { Snapshot } from "../src/snapshot.ts";
import { fixtureSnapshot } from "./_snapshot.ts";
import { waitFor } from "./_wait.ts";

const base = await fixtureSnapshot("zen4");
const at = (iso: string): Snapshot => ({ ...base, generated_at: iso });
const OLD = at("2026-01-15T12:00:00Z");
const NEW = at("2026-01-15T12:03:00Z");

/** A fake clock and file: each change signal advances the clock by `stepMs` and may swap the file. */
function rig(files: SnapshotFileRead[], stepMs: number) {
  let clock = 80; // the runtime's own start already took 80 ms
  let index = 0;
  const waits: number[] = [];
  let reads = 0;
  return {
    reads: () => reads,
    waits,
    now: () => clock,
    read: () => {
      reads++;
      return Promise.resolve(files[Math.min(index, files.length - 1)]!);
    },
    changed: (ms: number) => {
      waits.push(ms);
      clock += Math.min(ms, stepMs);
      index++;
      return Promise.resolve();
    },
  };
}

Deno.test("needsHold: only socket-activated with a stale or missing snapshot", () => {
  assertEquals(needsHold(true, "stale"), true);
  assertEquals(needsHold(true, "missing"), true);
  assertEquals(needsHold(true, "fresh"), false);
  assertEquals(needsHold(false, "stale"), false, "standalone serve probes by itself");
});

Deno.test("newerThan: a snapshot generated after the one at start; any when there was none", () => {
  assertEquals(newerThan({ ok: true, snapshot: NEW }, OLD), NEW);
  assertEquals(newerThan({ ok: true, snapshot: OLD }, OLD), null, "the same pass");
  assertEquals(newerThan({ ok: true, snapshot: OLD }, null), OLD);
  assertEquals(newerThan({ ok: false, error: "absent" }, null), null);
  assertEquals(newerThan({ ok: false, error: "corrupt" }, OLD), null, "a torn write waits on");
});

Deno.test("hold: the pass's snapshot ends the wait as soon as the file changes to it", async () => {
  const r = rig([
    { ok: true, snapshot: OLD },
    { ok: false, error: "corrupt" },
    { ok: true, snapshot: NEW },
  ], 100);
  const hold = createHold({ baseline: OLD, deadline: HOLD_DEADLINE_MS, ...r });
  const [a, b] = await Promise.all([hold.wait(), hold.wait()]);
  assertEquals([a, b], ["fresh", "fresh"]);
  assertEquals(hold.latest(), NEW);
  assertEquals(r.reads(), 3, "one loop shared by both requests");
  assert(r.now() < HOLD_DEADLINE_MS, "answered before the deadline");
  assertEquals(await hold.wait(), "fresh", "later requests do not wait again");
  assertEquals(r.reads(), 3);
});

Deno.test("hold: a blocked probe never keeps a request past the deadline", async () => {
  const r = rig([{ ok: true, snapshot: OLD }], 150);
  const hold = createHold({ baseline: OLD, deadline: HOLD_DEADLINE_MS, ...r });
  assertEquals(await hold.wait(), "deadline");
  assertEquals(hold.latest(), null, "the newest data is the old snapshot, served labelled");
  assert(r.now() >= HOLD_DEADLINE_MS);
  // Each wait asks for no more than what is left until the deadline.
  let clock = 80;
  for (const ms of r.waits) {
    assert(ms <= HOLD_DEADLINE_MS - clock, `waited ${ms} ms at ${clock} ms`);
    clock += Math.min(ms, 150);
  }
});

Deno.test("hold: with no snapshot at all, the first readable one ends the wait", async () => {
  const r = rig([
    { ok: false, error: "absent" },
    { ok: true, snapshot: OLD },
  ], 50);
  const hold = createHold({ baseline: null, deadline: HOLD_DEADLINE_MS, ...r });
  assertEquals(await hold.wait(), "fresh");
  assertEquals(hold.latest(), OLD);
});

Deno.test("hold: a failing read ends the hold as at the deadline and is reported", async () => {
  const errors: string[] = [];
  const hold = createHold({
    baseline: OLD,
    deadline: HOLD_DEADLINE_MS,
    now: () => 0,
    read: () => Promise.reject(new Error("EIO")),
    changed: () => Promise.resolve(),
    onError: (m) => errors.push(m),
  });
  assertEquals(await hold.wait(), "deadline");
  assertEquals(errors.length, 1);
  assert(errors[0]!.includes("EIO"));
});

Deno.test("watchChanges: an atomic rename into the directory wakes the waiter", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rigforge-hold-" });
  const path = join(dir, "snapshot.json");
  const errors: string[] = [];
  const watch = watchChanges(path, (m) => errors.push(m));
  try {
    const woke = watch.changed(600_000);
    let why: string | null = null;
    void woke.then((w) => why = w);
    // Rewrite until the watcher has seen one (it may start after the first write).
    await waitFor("the watcher reported the rename", async () => {
      await Deno.writeTextFile(join(dir, ".tmp"), "{}");
      await Deno.rename(join(dir, ".tmp"), path);
      return why;
    });
    assertEquals(why, "change");
    assertEquals(errors, []);
  } finally {
    watch.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watchChanges: an unwatchable directory falls back to polling and says so", async () => {
  const errors: string[] = [];
  const watch = watchChanges("/nonexistent-rigforge-dir/snapshot.json", (m) => errors.push(m), 5);
  try {
    assertEquals(await watch.changed(600_000), "timeout", "polls instead of waiting 600 s");
    assertEquals(errors.length, 1);
    assert(errors[0]!.includes("polling"));
  } finally {
    watch.close();
  }
});
