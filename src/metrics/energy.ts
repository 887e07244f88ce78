/**
 * The monotonic package-energy counter `/metrics` serves as
 * `rigforge_package_energy_joules_total`: RAPL's hardware counter wraps, so each snapshot's raw
 * `energy_uj` readings are folded into a running total per zone.
 *
 * @module
 */

import { arr, num, obj, str } from "../lib/json.ts";
import type { Snapshot } from "../snapshot.ts";

/** The monotonic energy counter's state: per RAPL zone, the last raw reading and the total. */
export interface EnergyState {
  /** `generated_at` of the last snapshot folded in. */
  generated_at: string | null;
  /** `/proc/uptime` of that reading (a smaller value means a reboot). */
  uptime_s: number | null;
  /** Zone id → last `energy_uj`, its wrap range, and the running total in joules. */
  zones: Record<string, { last_uj: number; range_uj: number | null; total_j: number }>;
}

/** The state before any snapshot. */
export const EMPTY_ENERGY: EnergyState = Object.freeze({
  generated_at: null,
  uptime_s: null,
  zones: Object.freeze({}) as EnergyState["zones"],
});

/**
 * Folds a snapshot's RAPL readings into the monotonic energy counter. A zone seen for the
 * first time starts at its raw reading (J, as node_exporter's RAPL counter would); afterwards
 * each new reading adds its delta, with a hardware wrap corrected by the zone's own
 * `max_energy_range_uj` (at most one wrap between snapshots: minutes at any real package power
 * against a 15 s timer). After a reboot (uptime went back) or a wrap without a known range, the
 * reading is taken as the new base and adds nothing. The same snapshot folded twice changes
 * nothing.
 *
 * @param state the state so far ({@link EMPTY_ENERGY} at start)
 * @param snapshot the snapshot (its `power` record), or `null`
 * @returns the new state (the old one when nothing changed)
 */
export function advanceEnergy(state: EnergyState, snapshot: Snapshot | null): EnergyState {
  if (snapshot === null || snapshot.generated_at === state.generated_at) return state;
  const power = obj(snapshot.records.power);
  const uptime = num(power?.["uptime_s"]);
  const rebooted = uptime !== null && state.uptime_s !== null && uptime < state.uptime_s;
  const zones: EnergyState["zones"] = { ...state.zones };
  for (const zone of arr(power?.["zones"]) ?? []) {
    const z = obj(zone);
    const id = str(z?.["id"], 64);
    const uj = num(z?.["energy_uj"]);
    if (id === null || uj === null || uj < 0) continue;
    const range = num(z?.["max_energy_range_uj"]);
    const before = zones[id];
    if (before === undefined) {
      zones[id] = { last_uj: uj, range_uj: range, total_j: uj / 1e6 };
      continue;
    }
    let delta = uj - before.last_uj;
    if (delta < 0) delta = range !== null && range > 0 && !rebooted ? delta + range : 0;
    if (rebooted || delta < 0) delta = 0;
    zones[id] = { last_uj: uj, range_uj: range, total_j: before.total_j + delta / 1e6 };
  }
  return { generated_at: snapshot.generated_at, uptime_s: uptime ?? state.uptime_s, zones };
}
