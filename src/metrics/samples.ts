/**
 * The values `/metrics` serves, put sample by sample from XMRig's summary, the snapshot and the
 * server's own counters. A value that is unknown is not put (never written as 0); record-derived
 * values only come from a fresh snapshot.
 *
 * @module
 */

import { arr, bool, int, num, type Obj, obj, str } from "../lib/json.ts";
import { parseTime } from "../lib/time.ts";
import { dig, hashrateWindows, sourceOf, tuneGap, tuneGapInputs } from "../merge.ts";
import type { MsrVerdict } from "../probe.ts";
import { MIN_CLOCK_PCT } from "../rigforge/thresholds.ts";
import type { Snapshot, SnapshotFileError } from "../snapshot.ts";
import { VERSION } from "../version.ts";
import type { EnergyState } from "./energy.ts";
import type { ExpositionFormat } from "./exposition.ts";

/** What `/metrics` needs besides XMRig's reply, the snapshot and now. */
export interface MetricsOptions {
  /** The wire format (from `negotiateFormat` on the `Accept` header). */
  format: ExpositionFormat;
  /** The snapshot cache's latest read error (kept for symmetry with the JSON bodies). */
  snapshotError?: SnapshotFileError | null;
  /** Doctor's section for this snapshot (the handler's hook result: `{verdict: {issues, warnings}}`). */
  doctor?: unknown;
  /** The monotonic energy counter; without it the raw RAPL readings are served. */
  energy?: EnergyState | null;
  /** Requests answered by the handler since start, status code → count. */
  requests?: Readonly<Record<string, number>> | null;
  /** Connections shed by admission control since start, reason → count. */
  shed?: Readonly<Record<string, number>> | null;
  /** Internal errors since start, where (`route`, `doctor`) → count. */
  errors?: Readonly<Record<string, number>> | null;
}

/** Puts one sample (`null`, `undefined` and non-numbers are left out; booleans are 1 or 0). */
export type Put = (
  name: string,
  value: unknown,
  labels?: readonly (readonly [string, string])[],
) => void;

/**
 * Puts every sample `/metrics` serves.
 *
 * @param put where samples go
 * @param summary XMRig's `/2/summary` as an object, or `null` when it did not answer with one
 * @param snapshot the snapshot, or `null`
 * @param now wall clock, ms since the epoch
 * @param options doctor verdict, energy state, request, error and shed counters
 */
export function putSamples(
  put: Put,
  summary: Obj | null,
  snapshot: Snapshot | null,
  now: number,
  options: MetricsOptions,
): void {
  buildInfo(put, summary, snapshot);
  xmrigMetrics(put, summary);
  snapshotMetrics(put, snapshot, now, options);
  serverMetrics(put, options);
}

function label(name: string, value: unknown): [string, string][] {
  const text = str(value, 128);
  return text === null || text === "" ? [] : [[name, text]];
}

function buildInfo(put: Put, summary: Obj | null, snapshot: Snapshot | null): void {
  // Versions do not go stale: the snapshot's provenance is used even when it is old.
  const provenance = obj(snapshot?.records.provenance);
  const commit = str(provenance?.["xmrig_commit"], 64);
  put("rigforge_build_info", 1, [
    ["rigforge_api_version", VERSION],
    ...label("rigforge_version", provenance?.["rigforge_version"]),
    ...label("xmrig_version", summary?.["version"]),
    ...label("xmrig_version_pinned", provenance?.["xmrig_version_pinned"]),
    ...(commit !== null && /^[0-9a-f]{40}$/.test(commit) ? label("xmrig_commit", commit) : []),
  ]);
}

const WINDOWS = ["10s", "60s", "15m"] as const;

/** The MSR probe's verdicts (`MsrVerdict`), one `rigforge_msr_verdict` series each. */
const MSR_VERDICTS: readonly MsrVerdict[] = ["applied", "unverified", "not-applied", "failed"];

function xmrigMetrics(put: Put, summary: Obj | null): void {
  put("xmrig_up", summary !== null);
  if (summary === null) return;
  const windows = hashrateWindows(summary);
  WINDOWS.forEach((window, i) =>
    put("xmrig_hashrate_hashes_per_second", windows?.[i] ?? null, [["window", window]])
  );
  put("xmrig_hashrate_highest_hashes_per_second", obj(summary["hashrate"])?.["highest"]);
  const results = obj(summary["results"]);
  put("xmrig_hashes_total", results?.["hashes_total"]);
  const good = int(results?.["shares_good"]);
  const all = int(results?.["shares_total"]);
  put("xmrig_shares_total", good, [["result", "accepted"]]);
  if (good !== null && all !== null && all >= good) {
    put("xmrig_shares_total", all - good, [["result", "rejected"]]);
  }
  const connection = obj(summary["connection"]);
  if (connection !== null) {
    const uptimeMs = num(connection["uptime_ms"]) ??
      (num(connection["uptime"]) === null ? null : num(connection["uptime"])! * 1000);
    const ip = str(connection["ip"]);
    put("xmrig_pool_up", (ip !== null && ip !== "") || (uptimeMs !== null && uptimeMs > 0));
    put("xmrig_pool_uptime_seconds", uptimeMs === null ? null : uptimeMs / 1000);
    const ping = num(connection["ping"]);
    put("xmrig_pool_ping_seconds", ping !== null && ping > 0 ? ping / 1000 : null);
    put("xmrig_pool_failures_total", int(connection["failures"]));
  }
  const pages = arr(summary["hugepages"]);
  if (pages !== null) {
    put("xmrig_hugepages_allocated", int(pages[0]));
    put("xmrig_hugepages_requested", int(pages[1]));
  }
  put("xmrig_paused", bool(summary["paused"]));
  put("xmrig_uptime_seconds", summary["uptime"]);
  put("xmrig_memory_resident_bytes", dig(summary, "resources.memory.resident_set_memory"));
}

function snapshotMetrics(
  put: Put,
  snapshot: Snapshot | null,
  now: number,
  options: MetricsOptions,
): void {
  const src = sourceOf(snapshot, now, options.snapshotError ?? null);
  put("rigforge_snapshot_fresh", src.info.status === "fresh");
  const generated = snapshot === null ? null : parseTime(snapshot.generated_at);
  if (snapshot !== null && generated !== null) {
    put("rigforge_snapshot_age_seconds", (now - generated) / 1000);
    put("rigforge_probe_interval_seconds", snapshot.interval_s);
    put(
      "rigforge_probe_duration_seconds",
      num(snapshot.probe_ms) === null ? null : snapshot.probe_ms / 1000,
    );
    put("rigforge_probe_failures", Object.keys(obj(snapshot.failures) ?? {}).length);
  }
  if (src.info.status !== "fresh") return;
  const rec = (name: Parameters<typeof src.record>[0], field: string) =>
    dig(src.record(name), field);

  put("rigforge_miner_service_active", bool(rec("service", "xmrig_active")));
  powerMetrics(put, src.record("power"), options.energy ?? null);
  cpuMetrics(put, src.record("cpu"));
  thermalMetrics(put, src.record("thermal"));
  put("rigforge_hugepages_configured", int(rec("hugepages", "total")));
  put("rigforge_hugepages_free", int(rec("hugepages", "free")));
  put("rigforge_hugepages_1g_configured", int(rec("hugepages", "pages_1g")));
  const msr = rec("msr", "verdict");
  if (MSR_VERDICTS.some((v) => v === msr)) {
    for (const v of MSR_VERDICTS) put("rigforge_msr_verdict", msr === v, [["verdict", v]]);
  }
  const mode = rec("watchdog", "mode");
  if (mode === "enabled" || mode === "disabled") {
    put("rigforge_watchdog_enabled", mode === "enabled");
  }
  if (mode === "enabled") {
    put("rigforge_watchdog_thermal_hold", bool(rec("watchdog", "thermal_hold")));
    put("rigforge_watchdog_strikes", int(rec("watchdog", "strikes")));
    put("rigforge_watchdog_max_temperature_celsius", rec("watchdog", "max_temp_c"));
  }
  const lastRun = obj(rec("tune", "last_run"));
  put("rigforge_tune_best_hashes_per_second", lastRun?.["best_hs"]);
  put("rigforge_tune_best_hashes_per_joule", lastRun?.["best_hs_per_watt"]);
  const gap = tuneGap(tuneGapInputs(src));
  if (typeof gap !== "string") {
    put("rigforge_tune_performance_ratio", gap.live / gap.best, [["basis", gap.basis]]);
  }
  const finished = str(lastRun?.["finished_at"], 64);
  const finishedMs = finished === null ? null : parseTime(finished);
  put("rigforge_tune_last_run_timestamp_seconds", finishedMs === null ? null : finishedMs / 1000);
  const verdict = obj(obj(options.doctor)?.["verdict"]);
  put("rigforge_doctor_issues", int(verdict?.["issues"]));
  put("rigforge_doctor_warnings", int(verdict?.["warnings"]));
}

function powerMetrics(
  put: Put,
  power: Obj | null,
  energy: EnergyState | null,
): void {
  const watts = num(power?.["watts"]);
  put("rigforge_package_power_watts", watts);
  if (energy !== null) {
    for (const [zone, z] of Object.entries(energy.zones)) {
      put("rigforge_package_energy_joules_total", z.total_j, [["zone", zone]]);
    }
  } else {
    for (const zone of arr(power?.["zones"]) ?? []) {
      const z = obj(zone);
      const uj = num(z?.["energy_uj"]);
      const id = str(z?.["id"], 64);
      if (id !== null && uj !== null) {
        put("rigforge_package_energy_joules_total", uj / 1e6, [["zone", id]]);
      }
    }
  }
  put("rigforge_efficiency_hashes_per_joule", num(obj(power?.["paired"])?.["hs_per_watt"]));
}

function cpuMetrics(put: Put, cpu: Obj | null): void {
  const busy = num(cpu?.["busy_freq_khz_mean"]);
  const boost = num(cpu?.["boost_khz"]);
  const pct = int(cpu?.["clock_pct_of_boost"]);
  // Each busy CPU against its own boost clock (hybrid E-cores have a lower one), as the health
  // field and doctor judge it; not busy_freq_khz_mean / boost_khz.
  put("rigforge_cpu_clock_boost_ratio", pct === null ? null : pct / 100);
  put("rigforge_cpu_busy_frequency_hertz", busy === null ? null : busy * 1000);
  put("rigforge_cpu_boost_frequency_hertz", boost === null ? null : boost * 1000);
  put("rigforge_cpu_busy_cpus", int(cpu?.["busy_cpus"]));
  put("rigforge_cpu_throttling", pct === null ? null : pct < MIN_CLOCK_PCT);
  put("rigforge_cpu_core_throttles_total", int(dig(cpu, "throttle.core_throttle_count")));
  put("rigforge_cpu_package_throttles_total", int(dig(cpu, "throttle.package_throttle_count")));
}

function thermalMetrics(put: Put, thermal: Obj | null): void {
  put(
    "rigforge_cpu_temperature_celsius",
    thermal?.["package_c"],
    label("sensor", thermal?.["source"]),
  );
  const seen = new Map<string, number>();
  for (const sensor of arr(thermal?.["sensors"]) ?? []) {
    const s = obj(sensor);
    const chip = str(s?.["chip"], 64);
    const name = str(s?.["label"], 64);
    if (chip === null || name === null) continue;
    // Two sockets give two hwmon chips with the same name and labels: number the repeats.
    const key = `${chip}\u0000${name}`;
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    put("rigforge_hwmon_temperature_celsius", s?.["c"], [
      ["chip", n === 0 ? chip : `${chip}_${n}`],
      ["sensor", name],
    ]);
  }
}

function serverMetrics(put: Put, options: MetricsOptions): void {
  for (const [code, count] of Object.entries(options.requests ?? {}).sort()) {
    if (/^\d{3}$/.test(code)) put("rigforge_api_requests_total", int(count), [["code", code]]);
  }
  for (const [where, count] of Object.entries(options.errors ?? {}).sort()) {
    put("rigforge_api_internal_errors_total", int(count), [["where", where]]);
  }
  for (const [reason, count] of Object.entries(options.shed ?? {}).sort()) {
    if (/^[a-z_]{1,32}$/.test(reason)) {
      put("rigforge_api_requests_shed_total", int(count), [["reason", reason]]);
    }
  }
}
