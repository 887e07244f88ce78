/**
 * Reading a snapshot back: {@link parseSnapshot} validates untrusted text and never throws;
 * each probe record is decoded into its type or rejected (`records.ts`).
 *
 * @module
 */

import { num, obj, parseJson } from "../lib/json.ts";
import { parseTime } from "../lib/time.ts";
import type { PreviousCounters, ProbeFailure, ProbePass } from "../probe.ts";
import { type DecodedRecords, decodeRecords, RECORD_NAMES } from "./records.ts";
import type { Snapshot } from "./types.ts";
import { type EnergySample, HISTORY_MAX } from "../probe.ts";

/** The deepest nesting a snapshot may have (real ones are 7 levels deep). */
export const MAX_SNAPSHOT_DEPTH = 64;

/**
 * Whether JSON text nests objects and arrays deeper than `limit` (brackets inside strings are
 * skipped). One linear scan, run before `JSON.parse`, whose time grows steeply with nesting:
 * 7 MiB of `[` (under the size cap) kept it busy for over 2 s.
 *
 * @param text JSON text (not necessarily valid)
 * @param limit the deepest nesting allowed
 * @returns `true` when some value is nested deeper
 */
export function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/**
 * Parses and validates snapshot text. Each record is decoded into its type; one that does not
 * fit is `null` with a `corrupt` entry in `failures` naming the path (a record that is not even
 * an object, like a missing or malformed header, rejects the whole file).
 *
 * @param text the file content
 * @returns the snapshot, or `null` when it is not a valid schema-1 snapshot
 */
export function parseSnapshot(text: string): Snapshot | null {
  if (nestedDeeperThan(text, MAX_SNAPSHOT_DEPTH)) return null;
  const top = obj(parseJson(text));
  if (top === null || top["schema"] !== 1) return null;
  const generated = top["generated_at"];
  if (typeof generated !== "string" || parseTime(generated) === null) return null;
  const interval = num(top["interval_s"]);
  const probeMs = num(top["probe_ms"]);
  const records = recordsOf(top["records"]);
  const counters = countersFrom(top["counters"]);
  if (interval === null || interval <= 0 || interval > 86400) return null;
  if (probeMs === null || probeMs < 0 || records === null || counters === null) return null;
  const version = top["rigforge_api_version"];
  return {
    schema: 1,
    generated_at: generated,
    rigforge_api_version: typeof version === "string" ? version.slice(0, 64) : "unknown",
    interval_s: interval,
    probe_ms: probeMs,
    records: records.records,
    failures: { ...failuresOf(top["failures"]), ...records.rejected },
    counters,
  };
}

function recordsOf(value: unknown): DecodedRecords | null {
  const raw = obj(value);
  if (raw === null) return null;
  // A record that is not even an object means the file is not a snapshot at all.
  if (
    RECORD_NAMES.some((name) =>
      raw[name] !== undefined && raw[name] !== null && obj(raw[name]) === null
    )
  ) {
    return null;
  }
  return decodeRecords(raw);
}

function failuresOf(value: unknown): ProbePass["failures"] {
  const raw = obj(value) ?? {};
  const out: Record<string, ProbeFailure> = {};
  for (const name of RECORD_NAMES) {
    const failure = obj(raw[name]);
    if (failure === null) continue;
    const reason = typeof failure["reason"] === "string" ? failure["reason"] : "unreadable";
    const message = typeof failure["message"] === "string" ? failure["message"] : "";
    out[name] = { reason: reason as ProbeFailure["reason"], message: message.slice(0, 200) };
  }
  return out;
}

function countersFrom(value: unknown): PreviousCounters | null {
  const raw = obj(value);
  if (raw === null) return null;
  const uptime = num(raw["uptime_s"]);
  if (uptime === null || uptime < 0) return null;
  return {
    uptime_s: uptime,
    cpu_times: cpuTimes(raw["cpu_times"]),
    energy_uj: numberMap(raw["energy_uj"]),
    energy_history: energyHistory(raw["energy_history"]),
  };
}

/**
 * Validates kept RAPL readings (`[{uptime_s, energy_uj: {zone: µJ}}]`, at most 16).
 *
 * @param value untrusted
 * @returns the readings, or `null` when absent or any entry is malformed
 */
export function energyHistory(value: unknown): EnergySample[] | null {
  if (!Array.isArray(value) || value.length > HISTORY_MAX) return null;
  const out: EnergySample[] = [];
  for (const item of value) {
    const entry = obj(item);
    const uptime = num(entry?.["uptime_s"]);
    const energy = numberMap(entry?.["energy_uj"]);
    if (uptime === null || uptime < 0 || energy === null) return null;
    out.push({ uptime_s: uptime, energy_uj: energy });
  }
  return out;
}

/**
 * Validates per-CPU jiffies (`cpuN` → [busy, total]).
 *
 * @param value untrusted
 * @returns the map, or `null` when any entry is not a pair of finite numbers
 */
export function cpuTimes(value: unknown): Record<string, [number, number]> | null {
  const raw = obj(value);
  if (raw === null) return null;
  const out: Record<string, [number, number]> = {};
  for (const [cpu, pair] of Object.entries(raw)) {
    if (cpu === "__proto__") continue;
    if (!Array.isArray(pair) || pair.length !== 2) return null;
    const [busy, total] = [num(pair[0]), num(pair[1])];
    if (busy === null || total === null) return null;
    out[cpu] = [busy, total];
  }
  return out;
}

function numberMap(value: unknown): Record<string, number> | null {
  const raw = obj(value);
  if (raw === null) return null;
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(raw)) {
    if (key === "__proto__") continue;
    const v = num(n);
    if (v === null) return null;
    out[key] = v;
  }
  return out;
}
