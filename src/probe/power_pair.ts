/**
 * Hashrate and package power over the same interval, ending at the same instant.
 *
 * The probe asks XMRig's API (`/2/summary`, with RigForge's `ACCESS_TOKEN`) for its 60 s
 * average (`hashrate.total[1]`, H/s) and reads the RAPL counters
 * (`/sys/class/powercap/intel-rapl:N/energy_uj`, µJ) right after the reply: that reading ends
 * both windows. The energy at the window's start (60 s earlier on the `/proc/uptime` clock) is
 * interpolated between the two kept readings around it (the probe keeps the counters of the
 * passes of the last {@link HISTORY_KEEP_S} seconds), with every zone's wrap corrected per step
 * between readings. Package power only: no DRAM, board or PSU losses.
 *
 * @module
 */

import type { XmrigReply } from "../xmrig.ts";
import { isObject, parseJson } from "../lib/json.ts";
import type { EnergyReading, EnergySample, NullReason } from "./types.ts";

/** The window hashrate and power are paired over, seconds (XMRig's `hashrate.total[1]`). */
export const PAIR_WINDOW_S = 60;
/** How far back the probe keeps counter readings, seconds (the window plus two 15 s passes). */
export const HISTORY_KEEP_S = 120;
/** Most readings kept (a timer faster than 15 s must not grow the snapshot). */
export const HISTORY_MAX = 16;
/**
 * Largest gap between two kept readings that is still trusted, seconds: each step may correct
 * one wrap only, and RAPL's ~262 kJ range takes over 10 minutes to wrap even at 400 W.
 */
export const MAX_STEP_S = 120;

/** Hashrate and power over one window. */
export interface PairedPower {
  /** The window's length, seconds (always {@link PAIR_WINDOW_S}). */
  window_s: number;
  /** XMRig's window the hashrate is (`"60s"`: `hashrate.total[1]`). */
  hs_window: "60s";
  /** XMRig's average hashrate over the window, H/s. */
  hashrate_hs: number;
  /** Average package power over the same window, W (two decimals). */
  watts: number;
  /** `hashrate_hs / watts`, H/s per W (= hashes per joule), two decimals. */
  hs_per_watt: number;
  /** The window's end, `/proc/uptime` seconds. */
  window_end_uptime_s: number;
}

/**
 * Reads XMRig's 60 s average hashrate from its summary.
 *
 * @param reply XMRig's `/2/summary` reply
 * @returns H/s, or why there is none (`not-running`: unreachable or paused; `warming-up`: XMRig
 *   answers but has no positive 60 s average yet)
 */
export function hashrate60(reply: XmrigReply): number | NullReason {
  if (!reply.ok) return "not-running";
  const parsed = parseJson(reply.text);
  const hashrate = isObject(parsed) ? parsed["hashrate"] : null;
  const total = isObject(hashrate) ? hashrate["total"] : null;
  if (!Array.isArray(total)) return "corrupt";
  const value: unknown = total[1];
  const paused = isObject(parsed) && parsed["paused"] === true;
  // XMRig answers but has no 60 s average yet (`null`, or 0.0 before its first hash):
  // warming up, as the `xmrig_api` record says for the same reply; paused: not running.
  if (value === null) return paused ? "not-running" : "warming-up";
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return "corrupt";
  return value > 0 ? value : paused ? "not-running" : "warming-up";
}

/**
 * The readings to keep for later passes: the earlier ones still within {@link HISTORY_KEEP_S}
 * of `end` (and before it: an uptime that went back is a reboot, whose counters are void),
 * plus `end`, oldest first, at most {@link HISTORY_MAX}.
 *
 * @param history earlier readings (untrusted order)
 * @param end this pass's reading
 * @returns the readings to keep
 */
export function keepHistory(history: readonly EnergySample[], end: EnergySample): EnergySample[] {
  const kept = history
    .filter((s) => s.uptime_s < end.uptime_s && s.uptime_s >= end.uptime_s - HISTORY_KEEP_S)
    .sort((a, b) => a.uptime_s - b.uptime_s);
  return [...kept, end].slice(-HISTORY_MAX);
}

/**
 * Package energy over the `windowS` seconds that end at `end`, from the kept readings.
 *
 * @param history earlier readings
 * @param end the reading that ends the window (its ranges correct wraps)
 * @param windowS the window, seconds
 * @returns joules, or why they cannot be told (`warming-up`: no reading that old yet;
 *   `unreadable`: a gap too long to trust, a zone missing, or a counter that ran back with
 *   no known range)
 */
export function energyOver(
  history: readonly EnergySample[],
  end: EnergyReading,
  windowS: number,
): number | NullReason {
  const ids = Object.keys(end.zones);
  if (ids.length === 0) return "unreadable";
  const series: EnergySample[] = [
    ...history.filter((s) => s.uptime_s < end.uptime_s).sort((a, b) => a.uptime_s - b.uptime_s),
    {
      uptime_s: end.uptime_s,
      energy_uj: Object.fromEntries(ids.map((id) => [id, end.zones[id]!.energy_uj])),
    },
  ];
  const start = end.uptime_s - windowS;
  let first = -1;
  for (let i = series.length - 2; i >= 0; i--) {
    if (series[i]!.uptime_s <= start) {
      first = i;
      break;
    }
  }
  if (first < 0) return "warming-up";
  // Cumulative (unwrapped) energy at each reading from `first` on, µJ.
  const cumulative = [0];
  for (let i = first + 1; i < series.length; i++) {
    const a = series[i - 1]!;
    const b = series[i]!;
    if (b.uptime_s - a.uptime_s > MAX_STEP_S) return "unreadable";
    let step = 0;
    for (const id of ids) {
      const from = Object.hasOwn(a.energy_uj, id) ? a.energy_uj[id] : undefined;
      const to = Object.hasOwn(b.energy_uj, id) ? b.energy_uj[id] : undefined;
      if (typeof from !== "number" || typeof to !== "number") return "unreadable";
      let delta = to - from;
      if (delta < 0) {
        const range = end.zones[id]!.max_energy_range_uj;
        if (range === null || !(range > 0)) return "unreadable";
        delta += range;
        if (delta < 0) return "unreadable";
      }
      step += delta;
    }
    cumulative.push(cumulative[cumulative.length - 1]! + step);
  }
  // Linear interpolation inside the step that holds the window's start.
  const a = series[first]!;
  const b = series[first + 1]!;
  const fraction = (start - a.uptime_s) / (b.uptime_s - a.uptime_s);
  const atStart = cumulative[0]! + (cumulative[1]! - cumulative[0]!) * fraction;
  const joules = (cumulative[cumulative.length - 1]! - atStart) / 1e6;
  return Number.isFinite(joules) && joules >= 0 ? joules : "unreadable";
}

/**
 * Pairs XMRig's 60 s hashrate with the package power over the same 60 s.
 *
 * @param hashrate XMRig's 60 s average (H/s), or why it is missing
 * @param history earlier counter readings
 * @param end the reading taken right after XMRig's reply
 * @returns the pair, or why there is none
 */
export function pairPower(
  hashrate: number | NullReason,
  history: readonly EnergySample[],
  end: EnergyReading,
): PairedPower | NullReason {
  if (typeof hashrate === "string") return hashrate;
  const joules = energyOver(history, end, PAIR_WINDOW_S);
  if (typeof joules === "string") return joules;
  const watts = joules / PAIR_WINDOW_S;
  if (!(watts > 0)) return "unreadable";
  return {
    window_s: PAIR_WINDOW_S,
    hs_window: "60s",
    hashrate_hs: hashrate,
    watts: Math.round(watts * 100) / 100,
    hs_per_watt: Math.round(hashrate / watts * 100) / 100,
    window_end_uptime_s: end.uptime_s,
  };
}
