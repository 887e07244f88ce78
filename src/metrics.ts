/**
 * `GET /metrics`: the Prometheus view of the same inputs `/2/summary` is built from (XMRig's
 * `/2/summary` reply, the probe snapshot, now), in the text format 0.0.4 or OpenMetrics 1.0.0.
 * Pure: no I/O and no clock of its own; the one piece of state (the monotonic energy counter)
 * is a value the caller carries, advanced by {@link advanceEnergy}.
 *
 * Conventions (reference/ecosystem.md 2.2): `xmrig_` for what XMRig reports, `rigforge_` for what
 * the probes measure and `rigforge_api_` for the server itself; base units named as suffixes
 * (`_seconds`, `_bytes`, `_watts`, `_joules`, `_celsius`, `_hertz`, `_ratio`); counters end in
 * `_total`; no per-rig label (Prometheus adds `instance`); version data in one info metric.
 * A value that is unknown is left out, never written as 0. Record-derived metrics come only from
 * a fresh snapshot (as in `/2/summary`); `rigforge_snapshot_fresh` and
 * `rigforge_snapshot_age_seconds` say when they are missing for that reason. No label value is
 * ever taken from the config: tokens and pool passwords cannot reach the output.
 *
 * The metric list and its documentation are {@link METRICS}; `docs/prometheus.md` mirrors it
 * (a test keeps the two equal).
 *
 * @module
 */

import { MIN_CLOCK_PCT } from "./checks/thresholds.ts";
import { matchWindow, xmrigObject } from "./merge/block.ts";
import { arr, bool, int, num, type Obj, obj, str } from "./merge/fields.ts";
import { dig, sourceOf } from "./merge/source.ts";
import {
  contentTypeOf,
  type ExpositionFormat,
  type MetricFamily,
  type MetricKind,
  negotiateFormat,
  renderExposition,
  type Sample,
} from "./metrics/exposition.ts";
import { parseTime, type Snapshot, type SnapshotFileError } from "./snapshot.ts";
import { VERSION } from "./version.ts";
import type { XmrigReply } from "./xmrig.ts";

export {
  contentTypeOf,
  type ExpositionFormat,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
} from "./metrics/exposition.ts";

/** One metric as documented: name (as written in the 0.0.4 format), type, unit, labels, source. */
export interface MetricDefinition {
  name: string;
  kind: MetricKind;
  /** Base unit when the name carries one. */
  unit?: string;
  /** Label names its samples carry. */
  labels: readonly string[];
  /** The `# HELP` text. */
  help: string;
  /** Where the value comes from (for the docs). */
  source: string;
}

function def(
  name: string,
  kind: MetricKind,
  unit: string | null,
  labels: readonly string[],
  help: string,
  source: string,
): MetricDefinition {
  return unit === null
    ? { name, kind, labels, help, source }
    : { name, kind, unit, labels, help, source };
}

/** Every metric `/metrics` can serve, in output order. */
export const METRICS: readonly MetricDefinition[] = [
  def(
    "rigforge_build_info",
    "info",
    null,
    ["rigforge_api_version", "rigforge_version", "xmrig_version", "xmrig_commit"],
    "Versions: rigforge-api, RigForge, XMRig (from its API) and the XMRig commit RigForge built. Always 1.",
    "rigforge-api; <home>/VERSION; XMRig /2/summary version; <worker>/xmrig/.rigforge-commit",
  ),
  def(
    "xmrig_up",
    "gauge",
    null,
    [],
    "1 when XMRig's HTTP API answered /2/summary with a JSON object, 0 otherwise.",
    "XMRig /2/summary (fetched with a 250 ms bound, cached 1 s)",
  ),
  def(
    "xmrig_hashrate_hashes_per_second",
    "gauge",
    "hashes_per_second",
    ["window"],
    "XMRig's moving-average hashrate over the window (10s, 60s, 15m); absent until the window has data.",
    "XMRig hashrate.total[0..2]",
  ),
  def(
    "xmrig_hashrate_highest_hashes_per_second",
    "gauge",
    "hashes_per_second",
    [],
    "Highest 10 s hashrate XMRig has seen for the current algorithm.",
    "XMRig hashrate.highest",
  ),
  def(
    "xmrig_hashes_total",
    "counter",
    null,
    [],
    "XMRig's hashes_total: the pool difficulty of every accepted share summed (an estimate of hashes done).",
    "XMRig results.hashes_total",
  ),
  def(
    "xmrig_shares_total",
    "counter",
    null,
    ["result"],
    "Shares submitted since XMRig started, by pool verdict (accepted, rejected).",
    "XMRig results.shares_good; shares_total - shares_good",
  ),
  def(
    "xmrig_pool_up",
    "gauge",
    null,
    [],
    "1 while XMRig has an active pool connection, 0 otherwise.",
    "XMRig connection.ip, connection.uptime_ms",
  ),
  def(
    "xmrig_pool_uptime_seconds",
    "gauge",
    "seconds",
    [],
    "Time since the current pool connection became active; 0 when not connected.",
    "XMRig connection.uptime_ms",
  ),
  def(
    "xmrig_pool_ping_seconds",
    "gauge",
    "seconds",
    [],
    "Median round trip of share submissions to the pool; absent before the first share.",
    "XMRig connection.ping (ms)",
  ),
  def(
    "xmrig_pool_failures_total",
    "counter",
    null,
    [],
    "Times an active pool connection was lost since XMRig started.",
    "XMRig connection.failures",
  ),
  def(
    "xmrig_hugepages_allocated",
    "gauge",
    null,
    [],
    "Huge pages XMRig obtained for the RandomX dataset, cache and scratchpads.",
    "XMRig hugepages[0]",
  ),
  def(
    "xmrig_hugepages_requested",
    "gauge",
    null,
    [],
    "Huge pages XMRig wanted; below it, part of its memory is on normal pages (slower).",
    "XMRig hugepages[1]",
  ),
  def(
    "xmrig_paused",
    "gauge",
    null,
    [],
    "1 when XMRig is paused.",
    "XMRig paused",
  ),
  def(
    "xmrig_uptime_seconds",
    "gauge",
    "seconds",
    [],
    "Seconds since XMRig started.",
    "XMRig uptime",
  ),
  def(
    "xmrig_memory_resident_bytes",
    "gauge",
    "bytes",
    [],
    "XMRig's resident set size (huge-page memory not included).",
    "XMRig resources.memory.resident_set_memory",
  ),
  def(
    "rigforge_snapshot_fresh",
    "gauge",
    null,
    [],
    "1 when the probe snapshot is younger than 3 probe intervals; 0 when stale or missing (rigforge_ values then absent).",
    "snapshot generated_at, interval_s",
  ),
  def(
    "rigforge_snapshot_age_seconds",
    "gauge",
    "seconds",
    [],
    "Age of the probe snapshot this answer was built from.",
    "now - snapshot generated_at",
  ),
  def(
    "rigforge_probe_interval_seconds",
    "gauge",
    "seconds",
    [],
    "The probe timer's period the snapshot was written with.",
    "snapshot interval_s",
  ),
  def(
    "rigforge_probe_duration_seconds",
    "gauge",
    "seconds",
    [],
    "Wall time of the probe pass that wrote the snapshot.",
    "snapshot probe_ms",
  ),
  def(
    "rigforge_probe_failures",
    "gauge",
    null,
    [],
    "Probes that failed as a whole in the pass that wrote the snapshot.",
    "snapshot failures",
  ),
  def(
    "rigforge_miner_service_active",
    "gauge",
    null,
    [],
    "1 when the miner's systemd unit (xmrig.service) is active.",
    "systemctl is-active xmrig.service",
  ),
  def(
    "rigforge_package_power_watts",
    "gauge",
    "watts",
    [],
    "CPU package power (all packages), averaged over the probe interval.",
    "RAPL /sys/class/powercap/intel-rapl:N/energy_uj delta (root)",
  ),
  def(
    "rigforge_package_energy_joules_total",
    "counter",
    "joules",
    ["zone"],
    "CPU package energy per RAPL package zone; kept monotonic across the counter's hardware wrap.",
    "RAPL /sys/class/powercap/intel-rapl:N/energy_uj (root), wraps corrected",
  ),
  def(
    "rigforge_efficiency_hashes_per_joule",
    "gauge",
    "hashes_per_joule",
    [],
    "Hashes per joule of package energy: XMRig's hashrate (window closest to the power window) over package watts.",
    "XMRig hashrate.total / RAPL watts",
  ),
  def(
    "rigforge_cpu_clock_boost_ratio",
    "gauge",
    "ratio",
    [],
    "Mean clock of the busy CPUs as a fraction of the boost clock; absent when no CPU is busy.",
    "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq, cpuinfo_max_freq; /proc/stat",
  ),
  def(
    "rigforge_cpu_busy_frequency_hertz",
    "gauge",
    "hertz",
    [],
    "Mean current clock of the busy CPUs (at least 50 % busy over the load window).",
    "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq",
  ),
  def(
    "rigforge_cpu_boost_frequency_hertz",
    "gauge",
    "hertz",
    [],
    "Highest boost clock over all CPUs.",
    "/sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq",
  ),
  def(
    "rigforge_cpu_busy_cpus",
    "gauge",
    null,
    [],
    "Logical CPUs at least 50 % busy over the load window.",
    "/proc/stat",
  ),
  def(
    "rigforge_cpu_throttling",
    "gauge",
    null,
    [],
    `1 when the busy CPUs run below ${MIN_CLOCK_PCT} % of boost (doctor's threshold), else 0.`,
    "cpu clock_pct_of_boost",
  ),
  def(
    "rigforge_cpu_core_throttles_total",
    "counter",
    null,
    [],
    "Core thermal-throttle events, summed over CPUs (Intel).",
    "/sys/devices/system/cpu/cpu*/thermal_throttle/core_throttle_count",
  ),
  def(
    "rigforge_cpu_package_throttles_total",
    "counter",
    null,
    [],
    "Package thermal-throttle events, summed over CPUs (Intel).",
    "/sys/devices/system/cpu/cpu*/thermal_throttle/package_throttle_count",
  ),
  def(
    "rigforge_cpu_temperature_celsius",
    "gauge",
    "celsius",
    ["sensor"],
    "CPU package temperature from the preferred sensor (the watchdog's reading).",
    "/sys/class/hwmon/hwmon*/temp*_input (zenpower, k10temp, coretemp) or thermal_zone0",
  ),
  def(
    "rigforge_hwmon_temperature_celsius",
    "gauge",
    "celsius",
    ["chip", "sensor"],
    "Every hwmon temperature sensor the thermal probe read (CPU, NVMe, GPU, ACPI...).",
    "/sys/class/hwmon/hwmon*/{name,temp*_label,temp*_input}",
  ),
  def(
    "rigforge_hugepages_configured",
    "gauge",
    null,
    [],
    "Default-size (2 MB) huge pages reserved by the kernel.",
    "/proc/meminfo HugePages_Total",
  ),
  def(
    "rigforge_hugepages_free",
    "gauge",
    null,
    [],
    "Default-size huge pages not in use.",
    "/proc/meminfo HugePages_Free",
  ),
  def(
    "rigforge_hugepages_1g_configured",
    "gauge",
    null,
    [],
    "1 GB huge pages reserved by the kernel.",
    "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
  ),
  def(
    "rigforge_watchdog_enabled",
    "gauge",
    null,
    [],
    "1 when RigForge's watchdog is enabled.",
    "config.json watchdog",
  ),
  def(
    "rigforge_watchdog_thermal_hold",
    "gauge",
    null,
    [],
    "1 while the watchdog holds the miner for temperature.",
    "<worker>/watchdog.thermal-hold",
  ),
  def(
    "rigforge_watchdog_strikes",
    "gauge",
    null,
    [],
    "Consecutive failed health checks counted by the watchdog (a restart fires at 2).",
    "<worker>/watchdog.fails",
  ),
  def(
    "rigforge_watchdog_max_temperature_celsius",
    "gauge",
    "celsius",
    [],
    "Temperature at which the watchdog pauses mining.",
    "config.json max_temp_c",
  ),
  def(
    "rigforge_tune_best_hashes_per_second",
    "gauge",
    "hashes_per_second",
    [],
    "Median hashrate of the winning candidate of the last tune run.",
    "<worker>/rigforge-tune.json best.hashrate",
  ),
  def(
    "rigforge_tune_best_hashes_per_joule",
    "gauge",
    "hashes_per_joule",
    [],
    "Efficiency of the winning candidate of the last tune run, when it was measured.",
    "<worker>/rigforge-tune.json results[].hs_per_watt",
  ),
  def(
    "rigforge_tune_last_run_timestamp_seconds",
    "gauge",
    "seconds",
    [],
    "When the last tune run finished (Unix time).",
    "<worker>/rigforge-tune.json mtime",
  ),
  def(
    "rigforge_doctor_issues",
    "gauge",
    null,
    [],
    "Doctor checks failing as issues (the same verdict as /health).",
    "src/checks.ts over the snapshot",
  ),
  def(
    "rigforge_doctor_warnings",
    "gauge",
    null,
    [],
    "Doctor checks with a warning.",
    "src/checks.ts over the snapshot",
  ),
  def(
    "rigforge_api_requests_total",
    "counter",
    null,
    ["code"],
    "Requests answered by the handler since this server process started, by status code.",
    "serve's handler",
  ),
  def(
    "rigforge_api_requests_shed_total",
    "counter",
    null,
    ["reason"],
    "Connections shed by admission control before parsing (source, global, connections), or cut for trickling their request head (slow), by reason.",
    "serve's admission control (src/http/admission.ts)",
  ),
];

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
}

/** A `/metrics` answer. */
export interface MetricsBody {
  contentType: string;
  body: string;
}

type Put = (name: string, value: unknown, labels?: readonly (readonly [string, string])[]) => void;

/**
 * Builds the `/metrics` body.
 *
 * @param xmrig XMRig's `/2/summary` reply (the same one `/2/summary` splices)
 * @param snapshot the cached snapshot, or `null` when missing
 * @param now wall clock, ms since the epoch
 * @param options format, doctor verdict, energy state, request and shed counters
 * @returns content type and body
 */
export function metricsBody(
  xmrig: XmrigReply,
  snapshot: Snapshot | null,
  now: number,
  options: MetricsOptions,
): MetricsBody {
  const samples = new Map<string, Sample[]>();
  const put: Put = (name, value, labels = []) => {
    const v = typeof value === "boolean" ? (value ? 1 : 0) : num(value);
    if (v === null) return;
    const list = samples.get(name) ?? [];
    const key = JSON.stringify(labels);
    if (list.some((s) => JSON.stringify(s.labels) === key)) return;
    list.push({ labels, value: v });
    samples.set(name, list);
  };
  const summary = xmrigObject(xmrig);
  buildInfo(put, summary, snapshot);
  xmrigMetrics(put, summary);
  snapshotMetrics(put, summary, snapshot, now, options);
  serverMetrics(put, options);
  const families: MetricFamily[] = METRICS.map((d) => ({
    name: d.name,
    kind: d.kind,
    help: d.help,
    ...(d.unit === undefined ? {} : { unit: d.unit }),
    samples: samples.get(d.name) ?? [],
  }));
  return {
    contentType: contentTypeOf(options.format),
    body: renderExposition(families, options.format),
  };
}

/** The state `/metrics` keeps in a server process: the energy counter and requests served. */
export interface MetricsRoute {
  /**
   * Counts one answered request.
   *
   * @param status the response status
   */
  observe(status: number): void;
  /**
   * Builds the `/metrics` answer, folding the snapshot into the energy counter first.
   *
   * @param accept the request's `Accept` header values
   * @param xmrig XMRig's `/2/summary` reply
   * @param snapshot the snapshot, or `null`
   * @param now wall clock, ms since the epoch
   * @param extra doctor's section, the snapshot read error and the shed counters
   * @returns content type and body
   */
  body(
    accept: readonly string[] | undefined,
    xmrig: XmrigReply,
    snapshot: Snapshot | null,
    now: number,
    extra?: Pick<MetricsOptions, "doctor" | "snapshotError" | "shed">,
  ): MetricsBody;
}

/**
 * Creates the per-process state of `/metrics` (one per handler): the monotonic energy counter
 * and the count of requests answered, by status code (a fixed, small key set).
 *
 * @returns the route state
 */
export function createMetricsRoute(): MetricsRoute {
  let energy = EMPTY_ENERGY;
  const requests: Record<string, number> = {};
  return {
    observe(status) {
      const code = String(status);
      requests[code] = (requests[code] ?? 0) + 1;
    },
    body(accept, xmrig, snapshot, now, extra = {}) {
      energy = advanceEnergy(energy, snapshot);
      return metricsBody(xmrig, snapshot, now, {
        ...extra,
        format: negotiateFormat(accept),
        energy,
        requests,
      });
    },
  };
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
    ...(commit !== null && /^[0-9a-f]{40}$/.test(commit) ? label("xmrig_commit", commit) : []),
  ]);
}

const WINDOWS = ["10s", "60s", "15m"] as const;

function xmrigMetrics(put: Put, summary: Obj | null): void {
  put("xmrig_up", summary !== null);
  if (summary === null) return;
  const hashrate = obj(summary["hashrate"]);
  const total = arr(hashrate?.["total"]) ?? [];
  WINDOWS.forEach((window, i) =>
    put("xmrig_hashrate_hashes_per_second", total[i], [["window", window]])
  );
  put("xmrig_hashrate_highest_hashes_per_second", hashrate?.["highest"]);
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
  summary: Obj | null,
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
  powerMetrics(put, summary, src.record("power"), options.energy ?? null);
  cpuMetrics(put, src.record("cpu"));
  thermalMetrics(put, src.record("thermal"));
  put("rigforge_hugepages_configured", int(rec("hugepages", "total")));
  put("rigforge_hugepages_free", int(rec("hugepages", "free")));
  put("rigforge_hugepages_1g_configured", int(rec("hugepages", "pages_1g")));
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
  const finished = str(lastRun?.["finished_at"], 64);
  const finishedMs = finished === null ? null : parseTime(finished);
  put("rigforge_tune_last_run_timestamp_seconds", finishedMs === null ? null : finishedMs / 1000);
  const verdict = obj(obj(options.doctor)?.["verdict"]);
  put("rigforge_doctor_issues", int(verdict?.["issues"]));
  put("rigforge_doctor_warnings", int(verdict?.["warnings"]));
}

function powerMetrics(
  put: Put,
  summary: Obj | null,
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
  const total = arr(obj(summary?.["hashrate"])?.["total"]);
  const hashrate: [number | null, number | null, number | null] | null = total === null
    ? null
    : [num(total[0]), num(total[1]), num(total[2])];
  const windowS = num(power?.["window_s"]);
  const pair = windowS === null ? null : matchWindow(windowS, hashrate);
  if (pair !== null && watts !== null && watts > 0) {
    put("rigforge_efficiency_hashes_per_joule", pair.hs / watts);
  }
}

function cpuMetrics(put: Put, cpu: Obj | null): void {
  const busy = num(cpu?.["busy_freq_khz_mean"]);
  const boost = num(cpu?.["boost_khz"]);
  const pct = int(cpu?.["clock_pct_of_boost"]);
  const ratio = busy !== null && boost !== null && boost > 0
    ? busy / boost
    : pct === null
    ? null
    : pct / 100;
  put("rigforge_cpu_clock_boost_ratio", ratio);
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
  for (const [reason, count] of Object.entries(options.shed ?? {}).sort()) {
    if (/^[a-z_]{1,32}$/.test(reason)) {
      put("rigforge_api_requests_shed_total", int(count), [["reason", reason]]);
    }
  }
}
