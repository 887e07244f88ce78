/**
 * RigForge's miner watchdog: its settings from the config and its state files
 * `<worker_root>/watchdog.fails` (consecutive unhealthy checks, a bare integer) and
 * `<worker_root>/watchdog.thermal-hold` (an empty marker: the miner is stopped because the
 * temperature went above `max_temp_c`). The temperature itself comes from the thermal probe at
 * merge time.
 *
 * @module
 */

import { join } from "node:path";
import { isoSecondsOrNull } from "../lib/time.ts";
import { readText } from "./read.ts";
import type { Probe, ProbeContext, Reasons } from "./types.ts";

/** Fixed hysteresis of RigForge's thermal hold: the miner restarts below `max_temp_c - 5` °C. */
export const THERMAL_HYSTERESIS_C = 5;

/** The `watchdog` probe's record. */
export interface WatchdogRecord {
  /** `watchdog` from the config; `null` without a config. */
  mode: "enabled" | "disabled" | null;
  /** `watchdog_interval_min`: minutes between health checks. */
  interval_min: number | null;
  /** `max_temp_c` in °C: the thermal cutoff (`null` when unset: no cutoff). */
  max_temp_c: number | null;
  /** `max_temp_c - 5` in °C: where a thermal hold is released. */
  resumes_below_c: number | null;
  /** Whether `watchdog.thermal-hold` exists (the miner is held stopped). */
  thermal_hold: boolean | null;
  /**
   * The hold marker's mtime, ISO 8601 UTC: when the hold began. The marker is empty and the
   * watchdog's journal lines carry no machine-readable hold event, so the mtime is the only
   * source (wrong after a copy, restore or clone).
   */
  thermal_hold_since: string | null;
  /** Where {@link thermal_hold_since} came from: `mtime`; `null` with it. */
  thermal_hold_since_source: "mtime" | null;
  /**
   * Consecutive unhealthy checks from `watchdog.fails` (the miner is restarted at 2). Absent or
   * garbled counts as 0, as RigForge does; a garbled file also gets the reason `corrupt` (the
   * only reason in this record that accompanies a non-null value).
   */
  strikes: number;
  /** Why each `null` field is `null` (and `strikes: "corrupt"` for a garbled file). */
  reasons: Reasons;
}

/**
 * Parses `watchdog.fails`: a bare non-negative integer and a newline.
 *
 * @param text the file content
 * @returns the count, or `null` when the content is not a plain integer
 */
export function parseStrikes(text: string): number | null {
  const value = text.trim();
  if (!/^\d{1,9}$/.test(value)) return null;
  return Number(value);
}

/**
 * Collects the watchdog record from ctx.config and ctx.rigforge.workerRoot.
 *
 * @param ctx the probe context
 * @returns the record
 */
export async function collectWatchdog(ctx: ProbeContext): Promise<WatchdogRecord> {
  const reasons: Reasons = {};
  const config = ctx.config;
  const maxTemp = config?.maxTempC ?? null;
  const record: WatchdogRecord = {
    mode: config?.watchdog ?? null,
    interval_min: config?.watchdogIntervalMin ?? null,
    max_temp_c: maxTemp,
    resumes_below_c: maxTemp === null ? null : maxTemp - THERMAL_HYSTERESIS_C,
    thermal_hold: null,
    thermal_hold_since: null,
    thermal_hold_since_source: null,
    strikes: 0,
    reasons,
  };
  if (config === null) {
    for (const key of ["mode", "interval_min", "max_temp_c", "resumes_below_c"]) {
      reasons[key] = "absent";
    }
  } else if (maxTemp === null) {
    reasons["max_temp_c"] = reasons["resumes_below_c"] = "absent";
  }
  const worker = ctx.rigforge?.workerRoot ?? null;
  if (worker === null) {
    reasons["thermal_hold"] = reasons["thermal_hold_since"] = "absent";
    reasons["thermal_hold_since_source"] = "absent";
    return record;
  }
  try {
    const info = await Deno.stat(join(worker, "watchdog.thermal-hold"));
    record.thermal_hold = true;
    record.thermal_hold_since = info.mtime === null ? null : isoSecondsOrNull(info.mtime.getTime());
    if (record.thermal_hold_since === null) reasons["thermal_hold_since"] = "unsupported";
    else record.thermal_hold_since_source = "mtime";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      record.thermal_hold = false;
      reasons["thermal_hold_since"] = "absent";
    } else {
      reasons["thermal_hold"] = reasons["thermal_hold_since"] = error instanceof
            Deno.errors.PermissionDenied && !ctx.isRoot
        ? "needs-root"
        : "unreadable";
    }
  }
  const fails = await readText(join(worker, "watchdog.fails"), {
    maxBytes: 64,
    isRoot: ctx.isRoot,
  });
  if (fails.ok) {
    const strikes = parseStrikes(fails.value);
    if (strikes === null) reasons["strikes"] = "corrupt";
    else record.strikes = strikes;
  } else if (fails.reason !== "absent") {
    reasons["strikes"] = fails.reason;
  }
  if (record.thermal_hold_since === null) {
    reasons["thermal_hold_since_source"] = reasons["thermal_hold_since"] ?? "absent";
  }
  return record;
}

/** The `watchdog` probe: settings, thermal hold and strikes. */
export const watchdogProbe: Probe<WatchdogRecord> = {
  name: "watchdog",
  collect: collectWatchdog,
};
