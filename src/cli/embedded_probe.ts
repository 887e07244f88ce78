/**
 * The embedded prober of `serve`: where no probe timer keeps the snapshot fresh (standalone
 * `serve`, `deno task start`), the server probes in-process on its own period, and the request
 * path takes the newer of the file's snapshot and its own.
 *
 * @module
 */

import type { PreviousCounters, ProbeContext } from "../probe.ts";
import { parseTime } from "../lib/time.ts";
import { buildSnapshot, type Snapshot, type SnapshotRead } from "../snapshot.ts";
import { snapshotInfo } from "../merge.ts";
import { describeError } from "../lib/text.ts";

/** How long the first embedded pass samples rates, ms. */
export const EMBEDDED_SAMPLE_MS = 250;

/** `--embedded-probe`. */
export type EmbeddedMode = "auto" | "on" | "off";

/** The embedded-probe decision and why, for the startup line. */
export interface EmbeddedDecision {
  embedded: boolean;
  why: string;
}

/**
 * Decides whether to probe in-process: never when socket-activated (the root probe timer feeds
 * the server), always with `on`, never with `off`; `auto` when the snapshot at start is missing,
 * unreadable or stale (older than 3 of its own intervals).
 *
 * @param mode `--embedded-probe`
 * @param activated whether systemd passed a socket
 * @param snapshot the snapshot file's content at start, or `null` when absent or unusable
 * @param now wall clock, ms since the epoch
 * @returns the decision
 */
export function decideEmbedded(
  mode: EmbeddedMode,
  activated: boolean,
  snapshot: Snapshot | null,
  now: number,
): EmbeddedDecision {
  if (activated) return { embedded: false, why: "socket-activated: the probe timer feeds it" };
  if (mode === "off") return { embedded: false, why: "--embedded-probe off" };
  if (mode === "on") return { embedded: true, why: "--embedded-probe on" };
  const status = snapshotInfo(snapshot, now).status;
  return status === "fresh"
    ? { embedded: false, why: "the snapshot file is fresh" }
    : { embedded: true, why: `the snapshot file is ${status}` };
}

/** A running embedded prober. */
export interface EmbeddedProber {
  /** The latest snapshot it made, or `null` before the first pass ends. */
  latest(): Snapshot | null;
  /** Resolves when the first pass has ended. */
  readonly first: Promise<void>;
  /** Passes that failed as a whole (each reported; the last snapshot was kept). */
  failures(): number;
  /** Stops probing (a pass in progress finishes; no further pass starts). */
  stop(): void;
}

/**
 * Probes in-process every `intervalS` seconds (the next pass starts `intervalS` after the end of
 * the previous one, so passes never overlap), carrying the rate counters from pass to pass.
 *
 * @param ctx the probe context (its `previous` is ignored; the first pass samples instead)
 * @param intervalS the period, seconds
 * @param report where a failed pass is reported (the last snapshot is kept meanwhile)
 * @returns the prober
 */
export function startEmbeddedProber(
  ctx: ProbeContext,
  intervalS: number,
  report: (message: string) => void,
): EmbeddedProber {
  let latest: Snapshot | null = null;
  let previous: PreviousCounters | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let failed = 0;

  async function pass(): Promise<void> {
    const passCtx: ProbeContext = { ...ctx, previous, sampleMs: EMBEDDED_SAMPLE_MS };
    try {
      const started = passCtx.now();
      // loaded on first use: a socket-activated server never probes and never loads the probes
      const { runProbes } = await import("../probe.ts");
      const result = await runProbes(passCtx);
      latest = buildSnapshot(result, passCtx, { intervalS, startedMs: started });
      const counters = latest.counters;
      previous = counters.cpu_times === null && counters.energy_uj === null ? null : counters;
    } catch (error) {
      // runProbes turns every probe failure into data, so this is a bug: keep the last
      // snapshot, and say so
      failed += 1;
      report(`embedded probe pass failed (${failed} so far): ${describeError(error)}`);
    }
  }

  function schedule(): void {
    if (!stopped) timer = setTimeout(() => void pass().then(schedule), intervalS * 1000);
  }

  const first = pass().then(schedule);
  return {
    latest: () => latest,
    failures: () => failed,
    first,
    stop(): void {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The newer of the file's snapshot and the embedded one (by `generated_at`).
 *
 * @param read what the file cache says
 * @param embedded the embedded prober's latest, or `null`
 * @returns what the request sees
 */
export function newerSnapshot(read: SnapshotRead, embedded: Snapshot | null): SnapshotRead {
  if (embedded === null) return read;
  if (read.snapshot !== null) {
    const file = parseTime(read.snapshot.generated_at) ?? -Infinity;
    const mine = parseTime(embedded.generated_at) ?? -Infinity;
    if (file >= mine) return read;
  }
  return { snapshot: embedded, error: null };
}
