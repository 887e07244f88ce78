/**
 * "This rig is 8 % below its last tuned best": live performance against the last full tune
 * (`<worker>/rigforge-tune.json`), in the tune's own terms.
 *
 * - Tune target `perf`: XMRig's 15 min average hashrate (`hashrate.total[2]`, from the probe's
 *   `/2/summary`) against `best.hashrate`, the median of RigForge's `xmrig --bench=10M` runs.
 *   A 10M-hash bench runs for minutes (about 15 at 10 kH/s), so XMRig's longest window is the
 *   one that compares: the 10 s and 60 s windows swing with every share and thermal step.
 * - Tune target `efficiency`: the probe's 60 s pair (XMRig's 60 s hashrate over RAPL watts of
 *   the same 60 s) against the best result's `hs_per_watt`.
 *
 * @module
 */

import type { NullReason } from "../probe.ts";

/** The comparison, as served (`rigforge.tune.vs_best`, `/tune`, `/metrics`, doctor). */
export interface TuneGap {
  /** `hashrate` (H/s) under the `perf` target, `hs_per_watt` under `efficiency`. */
  basis: "hashrate" | "hs_per_watt";
  /** XMRig's window the live figure covers: `15m` (hashrate) or `60s` (H/s per W). */
  window: "15m" | "60s";
  /** The live figure, in the basis' unit. */
  live: number;
  /** The last tune's best, in the basis' unit. */
  best: number;
  /** `live / best` in percent, one decimal. */
  pct_of_best: number;
  /** `100 - pct_of_best`: how far below the best (negative: above it), one decimal. */
  pct_below_best: number;
}

/** What the comparison reads (each already checked as a finite number or `null`). */
export interface TuneGapInputs {
  /** The last tune's target (`perf` | `efficiency`), `null` without a tune log. */
  target: string | null;
  /** The last tune's `best.hashrate`, H/s. */
  best_hs: number | null;
  /** The best result's `hs_per_watt` (H/s per W). */
  best_hs_per_watt: number | null;
  /** Why the target's best is `null` (the tune record's reason), when known. */
  best_reason?: NullReason | null;
  /** XMRig's 15 min average, H/s, and why it is missing. */
  hs_15m: number | null;
  hs_15m_reason: NullReason | null;
  /** The probe's 60 s H/s per W, and why it is missing. */
  hs_per_watt_60s: number | null;
  hs_per_watt_reason: NullReason | null;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * Compares live performance with the last tune's best.
 *
 * @param input the figures
 * @returns the comparison, or why it cannot be told (`absent`: no tune, or no best in the
 *   target's unit; `corrupt`: a best that is unreadable or not above 0; the live figure's own
 *   reason otherwise)
 */
export function tuneGap(input: TuneGapInputs): TuneGap | NullReason {
  const efficiency = input.target === "efficiency";
  const best = efficiency ? input.best_hs_per_watt : input.best_hs;
  if (input.target === null) return "absent";
  if (best === null) return input.best_reason ?? "absent";
  // A best of 0 (or below) is a tune log that cannot be compared with, not a missing one.
  if (!(best > 0)) return "corrupt";
  const live = efficiency ? input.hs_per_watt_60s : input.hs_15m;
  if (live === null || !(live >= 0)) {
    return (efficiency ? input.hs_per_watt_reason : input.hs_15m_reason) ?? "unreadable";
  }
  const pct = round1(live / best * 100);
  return {
    basis: efficiency ? "hs_per_watt" : "hashrate",
    window: efficiency ? "60s" : "15m",
    live,
    best,
    pct_of_best: pct,
    pct_below_best: round1(100 - pct),
  };
}
