/**
 * The power probe: CPU package power from the RAPL energy counters.
 *
 * Reads `/sys/class/powercap/intel-rapl:N/` for every top-level zone whose `name` starts with
 * `package-` (AMD Zen exposes its packages under the same `intel-rapl:N` names); subzones
 * (`intel-rapl:0:0` core, uncore, dram), `psys` and the `intel-rapl-mmio:N` duplicates are left
 * out. Per zone: `name`, `max_energy_range_uj` (µJ, world-readable) and `energy_uj` (µJ, a
 * wrapping counter, root-only since the PLATYPUS fix: attempted only when `ctx.isRoot`).
 * Timestamps come from `/proc/uptime` (seconds since boot, 10 ms resolution), which readings
 * taken by two processes share.
 *
 * Watts are an energy delta over the probe interval (`ctx.previous`), or on a first pass over a
 * short sample (`ctx.sampleMs`). Each package's counter wraps at its own `max_energy_range_uj`,
 * so the wrap is corrected per package (RigForge adds the sum of all ranges to the summed delta,
 * which is wrong when only one socket wraps). Package power only: no DRAM, board or PSU losses.
 *
 * @module
 */

import { parseUptime } from "./cpu_load.ts";
import { hashrate60, keepHistory, type PairedPower, pairPower } from "./power_pair.ts";
import { isoSeconds } from "../lib/time.ts";
import { listDir, machinePath, readAttribute, readInteger, readText } from "./read.ts";
import type {
  EnergyReading,
  EnergySample,
  NullReason,
  Probe,
  ProbeContext,
  Reasons,
} from "./types.ts";

/** One RAPL package zone. */
export interface RaplZone {
  /** The sysfs zone id, e.g. `intel-rapl:0`. */
  id: string;
  /** The zone's `name`, e.g. `package-0`. */
  name: string;
  /** `energy_uj`: energy counter, µJ, wraps at `max_energy_range_uj`; root-only. */
  energy_uj: number | null;
  /** `max_energy_range_uj`: the counter's range, µJ. */
  max_energy_range_uj: number | null;
}

/** CPU package power from RAPL. */
export interface PowerRecord {
  /** The package zones, in id order. */
  zones: RaplZone[];
  /** Seconds since boot when the counters were read (the next pass's window start). */
  uptime_s: number | null;
  /** Package power summed over all packages, W, two decimals. */
  watts: number | null;
  /** The window `watts` is averaged over, seconds. */
  window_s: number | null;
  /** `rapl-window`: delta since the previous pass; `rapl-sample`: a short sample in this pass. */
  source: "rapl-window" | "rapl-sample" | null;
  /** Sum of the current `energy_uj` counters, J (a wrapping counter, e.g. for Prometheus). */
  energy_j_total: number | null;
  /**
   * XMRig's 60 s hashrate and package power over the same 60 s, ending at the same instant
   * (`src/probe/power_pair.ts`); `null` without XMRig, RAPL, or a reading 60 s old.
   */
  paired: (PairedPower & { window_end: string | null }) | null;
  /** The counter readings the next pass needs for {@link PowerRecord.paired}, oldest first. */
  history: EnergySample[];
  /** Why each `null` field is `null` (`zones.<index>.energy_uj` for a zone's counter). */
  reasons: Reasons;
}

const POWERCAP = "/sys/class/powercap";

/**
 * Average package power between two readings: the per-zone energy deltas, each corrected for at
 * most one wrap of that zone's own counter, summed and divided by the elapsed uptime.
 *
 * @param earlier the window's start
 * @param later the window's end
 * @returns watts with two decimals, or `null` when the window is not positive, the two readings
 *   do not cover the same zones, or a counter went backwards without a known range
 */
export function wattsBetween(earlier: EnergyReading, later: EnergyReading): number | null {
  const window = later.uptime_s - earlier.uptime_s;
  if (!(window > 0) || !Number.isFinite(window)) return null;
  const ids = Object.keys(later.zones);
  if (ids.length === 0 || ids.length !== Object.keys(earlier.zones).length) return null;
  let microjoules = 0;
  for (const id of ids) {
    if (!Object.hasOwn(earlier.zones, id)) return null;
    const start = earlier.zones[id];
    const end = later.zones[id];
    if (!start || !end) return null;
    let delta = end.energy_uj - start.energy_uj;
    if (delta < 0) {
      const range = end.max_energy_range_uj ?? start.max_energy_range_uj;
      if (range === null || !(range > 0)) return null;
      delta += range;
      if (delta < 0) return null;
    }
    if (!Number.isFinite(delta)) return null;
    microjoules += delta;
  }
  return Math.round(microjoules / 1e6 / window * 100) / 100;
}

interface Zone {
  id: string;
  name: string;
  max: number | null;
  maxReason: NullReason | null;
}

async function listPackageZones(ctx: ProbeContext): Promise<Zone[] | NullReason> {
  const entries = await listDir(machinePath(ctx, POWERCAP));
  if (!entries.ok) return entries.reason;
  const ids = entries.value
    .filter((name) => /^intel-rapl:\d{1,4}$/.test(name))
    .sort((a, b) => Number(a.split(":")[1]) - Number(b.split(":")[1]))
    .slice(0, 64);
  const zones = await Promise.all(ids.map(async (id): Promise<Zone | null> => {
    const dir = machinePath(ctx, `${POWERCAP}/${id}`);
    const name = await readAttribute(`${dir}/name`);
    if (!name.ok || !/^package-\d{1,4}$/.test(name.value)) return null;
    const max = await readInteger(`${dir}/max_energy_range_uj`);
    return {
      id,
      name: name.value,
      max: max.ok ? max.value : null,
      maxReason: max.ok ? null : max.reason,
    };
  }));
  const packages = zones.filter((zone): zone is Zone => zone !== null);
  return packages.length > 0 ? packages : "absent";
}

async function readUptime(ctx: ProbeContext): Promise<number | NullReason> {
  const text = await readText(machinePath(ctx, "/proc/uptime"));
  if (!text.ok) return text.reason;
  try {
    return parseUptime(text.value);
  } catch {
    return "corrupt";
  }
}

/** One reading of every zone's counter and the uptime, or why it could not be taken. */
interface Energy {
  reading: EnergyReading | null;
  reason: NullReason;
  uptime: number | NullReason;
  counters: (number | NullReason)[];
}

async function readEnergy(ctx: ProbeContext, zones: readonly Zone[]): Promise<Energy> {
  const [uptime, counters] = await Promise.all([
    readUptime(ctx),
    Promise.all(zones.map(async (zone) => {
      const path = machinePath(ctx, `${POWERCAP}/${zone.id}/energy_uj`);
      const value = await readInteger(path, { isRoot: true });
      return value.ok ? value.value : value.reason;
    })),
  ]);
  const failure = [uptime, ...counters].find((v): v is NullReason => typeof v === "string");
  if (failure !== undefined || typeof uptime !== "number") {
    return { reading: null, reason: failure ?? "unreadable", uptime, counters };
  }
  const reading: EnergyReading = { uptime_s: uptime, zones: {} };
  zones.forEach((zone, i) => {
    reading.zones[zone.id] = { energy_uj: counters[i] as number, max_energy_range_uj: zone.max };
  });
  return { reading, reason: "unreadable", uptime, counters };
}

/** The previous pass's counters as a reading over `zones`, when they cover every zone. */
function previousReading(ctx: ProbeContext, zones: readonly Zone[]): EnergyReading | null {
  const previous = ctx.previous;
  const energy = previous?.energy_uj;
  if (!previous || !energy || !Number.isFinite(previous.uptime_s)) return null;
  const reading: EnergyReading = { uptime_s: previous.uptime_s, zones: {} };
  for (const zone of zones) {
    const value = Object.hasOwn(energy, zone.id) ? energy[zone.id] : undefined;
    if (typeof value !== "number" || !Number.isFinite(value)) return null;
    reading.zones[zone.id] = { energy_uj: value, max_energy_range_uj: zone.max };
  }
  return reading;
}

/** The zones as reported, recording why a counter or range is missing. */
function zoneView(
  zones: readonly Zone[],
  counters: readonly (number | NullReason)[],
  reasons: Reasons,
): RaplZone[] {
  return zones.map((zone, i) => {
    const energy = counters[i] ?? "unreadable";
    if (typeof energy === "string") reasons[`zones.${i}.energy_uj`] = energy;
    if (zone.maxReason) reasons[`zones.${i}.max_energy_range_uj`] = zone.maxReason;
    return {
      id: zone.id,
      name: zone.name,
      energy_uj: typeof energy === "number" ? energy : null,
      max_energy_range_uj: zone.max,
    };
  });
}

/** A record without watts (and without a total when `total` is `null`), `reason` given. */
function withoutWatts(
  zones: RaplZone[],
  uptime: number | NullReason,
  reason: NullReason,
  reasons: Reasons,
  total: number | null = null,
): PowerRecord {
  for (const key of ["watts", "window_s", "source"]) reasons[key] = reason;
  reasons["paired"] ??= reason;
  if (total === null) reasons["energy_j_total"] = reason;
  if (typeof uptime === "string") reasons["uptime_s"] = uptime;
  return {
    zones,
    uptime_s: typeof uptime === "number" ? uptime : null,
    watts: null,
    window_s: null,
    source: null,
    energy_j_total: total,
    paired: null,
    history: [],
    reasons,
  };
}

async function collect(ctx: ProbeContext): Promise<PowerRecord> {
  const reasons: Reasons = {};
  // XMRig first, then the counters at once: that reading ends both 60 s windows.
  const hashrate = ctx.xmrigSummary ? hashrate60(await ctx.xmrigSummary()) : "not-running";
  const zones = await listPackageZones(ctx);
  if (typeof zones === "string") return withoutWatts([], await readUptime(ctx), zones, reasons);
  if (!ctx.isRoot) {
    const view = zoneView(zones, zones.map(() => "needs-root"), reasons);
    return withoutWatts(view, await readUptime(ctx), "needs-root", reasons);
  }
  let now = await readEnergy(ctx, zones);
  let start = previousReading(ctx, zones);
  let source: PowerRecord["source"] = "rapl-window";
  let watts = start && now.reading ? wattsBetween(start, now.reading) : null;
  if (watts === null && now.reading) {
    // No usable previous pass (first pass, reboot, new zone): sample within this pass.
    start = now.reading;
    source = "rapl-sample";
    await ctx.sleep(ctx.sampleMs);
    now = await readEnergy(ctx, zones);
    watts = now.reading ? wattsBetween(start, now.reading) : null;
  }
  const view = zoneView(zones, now.counters, reasons);
  if (!now.reading) return withoutWatts(view, now.uptime, now.reason, reasons);
  const end = now.reading;
  const total = Object.values(end.zones).reduce((sum, zone) => sum + zone.energy_uj, 0) / 1e6;
  // A zero-length window or a counter that ran backwards without a known range.
  const paired = pairedFrom(ctx, hashrate, end, reasons);
  if (watts === null || start === null) {
    const record = withoutWatts(view, end.uptime_s, "unreadable", reasons, total);
    if (paired.paired !== null) delete reasons["paired"];
    return { ...record, ...paired };
  }
  return {
    zones: view,
    uptime_s: end.uptime_s,
    watts,
    window_s: Math.round((end.uptime_s - start.uptime_s) * 100) / 100,
    source,
    energy_j_total: total,
    ...paired,
    reasons,
  };
}

/** This pass's reading as a kept sample. */
function sampleOf(reading: EnergyReading): EnergySample {
  const energy: Record<string, number> = {};
  for (const [id, zone] of Object.entries(reading.zones)) energy[id] = zone.energy_uj;
  return { uptime_s: reading.uptime_s, energy_uj: energy };
}

/** The 60 s pair and the readings to keep; records why there is no pair. */
function pairedFrom(
  ctx: ProbeContext,
  hashrate: number | NullReason,
  end: EnergyReading,
  reasons: Reasons,
): Pick<PowerRecord, "paired" | "history"> {
  const history = ctx.previous?.energy_history ?? [];
  const pair = pairPower(hashrate, history, end);
  if (typeof pair === "string") reasons["paired"] = pair;
  return {
    paired: typeof pair === "string" ? null : { ...pair, window_end: isoSeconds(ctx.now()) },
    history: keepHistory(history, sampleOf(end)),
  };
}

/** Reads RAPL package energy and derives package watts; the counters need root. */
export const powerProbe: Probe<PowerRecord> = { name: "power", collect };
