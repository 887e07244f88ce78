/**
 * The catalog of every metric `/metrics` can serve, in output order: one object literal per
 * metric, with its type, unit, labels, `# HELP` text and the source of its value (which
 * `docs/prometheus.md` lists and `tests/metrics_test.ts` checks against the doc). The values
 * themselves are put by `samples.ts`.
 *
 * @module
 */

import { MIN_CLOCK_PCT } from "../rigforge/thresholds.ts";
import type { MetricKind } from "./exposition.ts";

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

/** Every metric `/metrics` can serve, in output order. */
export const METRICS: readonly MetricDefinition[] = [
  {
    name: "rigforge_build_info",
    kind: "info",
    labels: [
      "rigforge_api_version",
      "rigforge_version",
      "xmrig_version",
      "xmrig_version_pinned",
      "xmrig_commit",
    ],
    help:
      "Versions: rigforge-api, RigForge, XMRig (from its API) and the XMRig commit RigForge built. Always 1.",
    source:
      "rigforge-api; <home>/VERSION; XMRig /2/summary version; <worker>/xmrig/.rigforge-commit",
  },
  {
    name: "xmrig_up",
    kind: "gauge",
    labels: [],
    help: "1 when XMRig's HTTP API answered /2/summary with a JSON object, 0 otherwise.",
    source: "XMRig /2/summary (fetched with a 250 ms bound, cached 1 s)",
  },
  {
    name: "xmrig_hashrate_hashes_per_second",
    kind: "gauge",
    unit: "hashes_per_second",
    labels: ["window"],
    help:
      "XMRig's moving-average hashrate over the window (10s, 60s, 15m); absent until the window has data.",
    source: "XMRig hashrate.total[0..2]",
  },
  {
    name: "xmrig_hashrate_highest_hashes_per_second",
    kind: "gauge",
    unit: "hashes_per_second",
    labels: [],
    help: "Highest 10 s hashrate XMRig has seen for the current algorithm.",
    source: "XMRig hashrate.highest",
  },
  {
    name: "xmrig_hashes_total",
    kind: "counter",
    labels: [],
    help:
      "XMRig's hashes_total: the pool difficulty of every accepted share summed (an estimate of hashes done).",
    source: "XMRig results.hashes_total",
  },
  {
    name: "xmrig_shares_total",
    kind: "counter",
    labels: ["result"],
    help: "Shares submitted since XMRig started, by pool verdict (accepted, rejected).",
    source: "XMRig results.shares_good; shares_total - shares_good",
  },
  {
    name: "xmrig_pool_up",
    kind: "gauge",
    labels: [],
    help: "1 while XMRig has an active pool connection, 0 otherwise.",
    source: "XMRig connection.ip, connection.uptime_ms",
  },
  {
    name: "xmrig_pool_uptime_seconds",
    kind: "gauge",
    unit: "seconds",
    labels: [],
    help: "Time since the current pool connection became active; 0 when not connected.",
    source: "XMRig connection.uptime_ms",
  },
  {
    name: "xmrig_pool_ping_seconds",
    kind: "gauge",
    unit: "seconds",
    labels: [],
    help: "Median round trip of share submissions to the pool; absent before the first share.",
    source: "XMRig connection.ping (ms)",
  },
  {
    name: "xmrig_pool_failures_total",
    kind: "counter",
    labels: [],
    help: "Times an active pool connection was lost since XMRig started.",
    source: "XMRig connection.failures",
  },
  {
    name: "xmrig_hugepages_allocated",
    kind: "gauge",
    labels: [],
    help: "Huge pages XMRig obtained for the RandomX dataset, cache and scratchpads.",
    source: "XMRig hugepages[0]",
  },
  {
    name: "xmrig_hugepages_requested",
    kind: "gauge",
    labels: [],
    help: "Huge pages XMRig wanted; below it, part of its memory is on normal pages (slower).",
    source: "XMRig hugepages[1]",
  },
  {
    name: "xmrig_paused",
    kind: "gauge",
    labels: [],
    help: "1 when XMRig is paused.",
    source: "XMRig paused",
  },
  {
    name: "xmrig_uptime_seconds",
    kind: "gauge",
    unit: "seconds",
    labels: [],
    help: "Seconds since XMRig started.",
    source: "XMRig uptime",
  },
  {
    name: "xmrig_memory_resident_bytes",
    kind: "gauge",
    unit: "bytes",
    labels: [],
    help: "XMRig's resident set size (huge-page memory not included).",
    source: "XMRig resources.memory.resident_set_memory",
  },
  {
    name: "rigforge_snapshot_fresh",
    kind: "gauge",
    labels: [],
    help:
      "1 when the probe snapshot is younger than 3 probe intervals; 0 when stale or missing (rigforge_ values then absent).",
    source: "snapshot generated_at, interval_s",
  },
  {
    name: "rigforge_snapshot_age_seconds",
    kind: "gauge",
    unit: "seconds",
    labels: [],
    help: "Age of the probe snapshot this answer was built from.",
    source: "now - snapshot generated_at",
  },
  {
    name: "rigforge_probe_interval_seconds",
    kind: "gauge",
    unit: "seconds",
    labels: [],
    help: "The probe timer's period the snapshot was written with.",
    source: "snapshot interval_s",
  },
  {
    name: "rigforge_probe_duration_seconds",
    kind: "gauge",
    unit: "seconds",
    labels: [],
    help: "Wall time of the probe pass that wrote the snapshot.",
    source: "snapshot probe_ms",
  },
  {
    name: "rigforge_probe_failures",
    kind: "gauge",
    labels: [],
    help: "Probes that failed as a whole in the pass that wrote the snapshot.",
    source: "snapshot failures",
  },
  {
    name: "rigforge_miner_service_active",
    kind: "gauge",
    labels: [],
    help: "1 when the miner's systemd unit (xmrig.service) is active.",
    source: "systemctl is-active xmrig.service",
  },
  {
    name: "rigforge_package_power_watts",
    kind: "gauge",
    unit: "watts",
    labels: [],
    help: "CPU package power (all packages), averaged over the probe interval.",
    source: "RAPL /sys/class/powercap/intel-rapl:N/energy_uj delta (root)",
  },
  {
    name: "rigforge_package_energy_joules_total",
    kind: "counter",
    unit: "joules",
    labels: ["zone"],
    help:
      "CPU package energy per RAPL package zone; kept monotonic across the counter's hardware wrap.",
    source: "RAPL /sys/class/powercap/intel-rapl:N/energy_uj (root), wraps corrected",
  },
  {
    name: "rigforge_efficiency_hashes_per_joule",
    kind: "gauge",
    unit: "hashes_per_joule",
    labels: [],
    help:
      "Hashes per joule of package energy: XMRig's 60 s hashrate over package watts of the same 60 s.",
    source: "XMRig hashrate.total[1] / RAPL energy_uj delta over the same 60 s (probe)",
  },
  {
    name: "rigforge_cpu_clock_boost_ratio",
    kind: "gauge",
    unit: "ratio",
    labels: [],
    help:
      "Mean over the busy CPUs of each one's clock as a fraction of its own boost clock (clock_pct_of_boost / 100, so in steps of 0.01); absent when no CPU is busy.",
    source: "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq, cpuinfo_max_freq; /proc/stat",
  },
  {
    name: "rigforge_cpu_busy_frequency_hertz",
    kind: "gauge",
    unit: "hertz",
    labels: [],
    help: "Mean current clock of the busy CPUs (at least 50 % busy over the load window).",
    source: "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq",
  },
  {
    name: "rigforge_cpu_boost_frequency_hertz",
    kind: "gauge",
    unit: "hertz",
    labels: [],
    help: "Highest boost clock over all CPUs.",
    source: "/sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq",
  },
  {
    name: "rigforge_cpu_busy_cpus",
    kind: "gauge",
    labels: [],
    help: "Logical CPUs at least 50 % busy over the load window.",
    source: "/proc/stat",
  },
  {
    name: "rigforge_cpu_throttling",
    kind: "gauge",
    labels: [],
    help:
      `1 when the busy CPUs run below ${MIN_CLOCK_PCT} % of boost (doctor's threshold), else 0.`,
    source: "cpu clock_pct_of_boost",
  },
  {
    name: "rigforge_cpu_core_throttles_total",
    kind: "counter",
    labels: [],
    help: "Core thermal-throttle events, summed over CPUs (Intel).",
    source: "/sys/devices/system/cpu/cpu*/thermal_throttle/core_throttle_count",
  },
  {
    name: "rigforge_cpu_package_throttles_total",
    kind: "counter",
    labels: [],
    help: "Package thermal-throttle events, summed over CPUs (Intel).",
    source: "/sys/devices/system/cpu/cpu*/thermal_throttle/package_throttle_count",
  },
  {
    name: "rigforge_cpu_temperature_celsius",
    kind: "gauge",
    unit: "celsius",
    labels: ["sensor"],
    help: "CPU package temperature from the preferred sensor (the watchdog's reading).",
    source: "/sys/class/hwmon/hwmon*/temp*_input (zenpower, k10temp, coretemp) or thermal_zone0",
  },
  {
    name: "rigforge_hwmon_temperature_celsius",
    kind: "gauge",
    unit: "celsius",
    labels: ["chip", "sensor"],
    help: "Every hwmon temperature sensor the thermal probe read (CPU, NVMe, GPU, ACPI...).",
    source: "/sys/class/hwmon/hwmon*/{name,temp*_label,temp*_input}",
  },
  {
    name: "rigforge_hugepages_configured",
    kind: "gauge",
    labels: [],
    help: "Default-size (2 MB) huge pages reserved by the kernel.",
    source: "/proc/meminfo HugePages_Total",
  },
  {
    name: "rigforge_hugepages_free",
    kind: "gauge",
    labels: [],
    help: "Default-size huge pages not in use.",
    source: "/proc/meminfo HugePages_Free",
  },
  {
    name: "rigforge_hugepages_1g_configured",
    kind: "gauge",
    labels: [],
    help: "1 GB huge pages reserved by the kernel.",
    source: "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
  },
  {
    name: "rigforge_msr_verdict",
    kind: "gauge",
    labels: ["verdict"],
    help:
      "XMRig's MSR mod: 1 on the current verdict (applied, unverified, not-applied, failed), 0 on the others.",
    source: "/dev/cpu/0/msr read-back (root); <worker>/xmrig.log MSR line since the last start",
  },
  {
    name: "rigforge_watchdog_enabled",
    kind: "gauge",
    labels: [],
    help: "1 when RigForge's watchdog is enabled.",
    source: "config.json watchdog",
  },
  {
    name: "rigforge_watchdog_thermal_hold",
    kind: "gauge",
    labels: [],
    help: "1 while the watchdog holds the miner for temperature.",
    source: "<worker>/watchdog.thermal-hold",
  },
  {
    name: "rigforge_watchdog_strikes",
    kind: "gauge",
    labels: [],
    help: "Consecutive failed health checks counted by the watchdog (a restart fires at 2).",
    source: "<worker>/watchdog.fails",
  },
  {
    name: "rigforge_watchdog_max_temperature_celsius",
    kind: "gauge",
    unit: "celsius",
    labels: [],
    help: "Temperature at which the watchdog pauses mining.",
    source: "config.json max_temp_c",
  },
  {
    name: "rigforge_tune_best_hashes_per_second",
    kind: "gauge",
    unit: "hashes_per_second",
    labels: [],
    help: "Median hashrate of the winning candidate of the last tune run.",
    source: "<worker>/rigforge-tune.json best.hashrate",
  },
  {
    name: "rigforge_tune_best_hashes_per_joule",
    kind: "gauge",
    unit: "hashes_per_joule",
    labels: [],
    help: "Efficiency of the winning candidate of the last tune run, when it was measured.",
    source: "<worker>/rigforge-tune.json results[].hs_per_watt",
  },
  {
    name: "rigforge_tune_performance_ratio",
    kind: "gauge",
    unit: "ratio",
    labels: ["basis"],
    help:
      "Live performance over the last tune's best: XMRig's 15 min hashrate over best.hashrate (basis hashrate, tune target perf), or the 60 s H/s per W over the best's (basis hs_per_watt, target efficiency).",
    source: "XMRig hashrate.total[2] or the probe's 60 s pair; <worker>/rigforge-tune.json",
  },
  {
    name: "rigforge_tune_last_run_timestamp_seconds",
    kind: "gauge",
    unit: "seconds",
    labels: [],
    help: "When the last tune run finished (Unix time).",
    source: "<worker>/rigforge-tune.json mtime",
  },
  {
    name: "rigforge_doctor_issues",
    kind: "gauge",
    labels: [],
    help: "Doctor checks failing as issues (the same verdict as /health).",
    source: "src/checks.ts over the snapshot",
  },
  {
    name: "rigforge_doctor_warnings",
    kind: "gauge",
    labels: [],
    help: "Doctor checks with a warning.",
    source: "src/checks.ts over the snapshot",
  },
  {
    name: "rigforge_api_requests_total",
    kind: "counter",
    labels: ["code"],
    help: "Requests answered by the handler since this server process started, by status code.",
    source: "serve's handler",
  },
  {
    name: "rigforge_api_internal_errors_total",
    kind: "counter",
    labels: ["where"],
    help:
      "Internal errors since this server process started, by where they happened (route: a request answered 500; doctor: the doctor hook failed and /health said doctor null). Each is also reported on stderr (rate-limited).",
    source: "serve's handler",
  },
  {
    name: "rigforge_api_requests_shed_total",
    kind: "counter",
    labels: ["reason"],
    help:
      "Connections shed by admission control before parsing (source, global, connections), or cut for trickling their request head (slow), by reason.",
    source: "serve's admission control (src/http/admission.ts)",
  },
];
