/**
 * Checks on the machine itself: huge pages, governor, clock under load, SMT, NUMA, temperature
 * and power (RigForge doctor checks 2, 3, 12, 14, 15b, 15c, plus thermal and power context).
 *
 * @module
 */

import type { ProbeRecords } from "../probe.ts";
import {
  EXPECTED_GOVERNOR,
  MIN_CLOCK_PCT,
  MIN_HUGEPAGES,
  MIN_HUGEPAGES_1G,
  NPS1_SUSPECT_NODES,
  SMT_OFF_VALUES,
} from "../rigforge/thresholds.ts";
import { type Check, check, mhz, missingProbe, reasonOf, unknownCheck } from "./types.ts";

/**
 * Check 2: default-size huge pages reserved (`/proc/meminfo` `HugePages_Total > 0`); none is a
 * counted issue (RandomX falls back to 4 KiB pages and loses a large share of its hashrate).
 *
 * @param records the probe records
 * @returns the `hugepages` check
 */
export function hugepagesCheck(records: ProbeRecords): Check {
  const id = "hugepages";
  const title = "HugePages reserved";
  const hp = records.hugepages;
  if (hp === null) return missingProbe(id, title, "hugepages");
  const data = { total: hp.total, free: hp.free, size_kb: hp.size_kb };
  if (hp.total === null) {
    return unknownCheck(id, title, reasonOf(hp.reasons, "total"), "issue", data);
  }
  if (hp.total < MIN_HUGEPAGES) {
    return check(id, "issue", title, "none reserved: reboot after RigForge setup", data);
  }
  const size = hp.size_kb === null ? "" : ` × ${hp.size_kb} kB (${sizeMb(hp.total, hp.size_kb)})`;
  const free = hp.free === null ? "" : `, ${hp.free} free`;
  return check(id, "ok", title, `${hp.total} pages${size}${free}`, data);
}

function sizeMb(pages: number, sizeKb: number): string {
  return `${Math.round((pages * sizeKb) / 1024)} MB`;
}

/**
 * Check 3: 1 GiB huge pages (`hugepages-1048576kB/nr_hugepages > 0`). Optional: a warning,
 * never an issue (they need a `pdpe1gb` CPU and give RandomX a few percent).
 *
 * @param records the probe records
 * @returns the `hugepages-1g` check
 */
export function hugepages1gCheck(records: ProbeRecords): Check {
  const id = "hugepages-1g";
  const title = "1 GB HugePages";
  const hp = records.hugepages;
  if (hp === null) return missingProbe(id, title, "hugepages");
  const data = { pages_1g: hp.pages_1g, free_1g: hp.free_1g };
  if (hp.pages_1g === null) {
    const reason = reasonOf(hp.reasons, "pages_1g");
    const why = reason === "absent"
      ? "not available (no pdpe1gb CPU flag or kernel support)"
      : null;
    if (why !== null) return check(id, "warn", title, `${why}; optional`, { ...data, reason });
    return unknownCheck(id, title, reason, "warn", data);
  }
  if (hp.pages_1g < MIN_HUGEPAGES_1G) {
    return check(id, "warn", title, "none reserved (optional: a few % more hashrate)", data);
  }
  return check(id, "ok", title, `${hp.pages_1g} × 1 GB reserved`, data);
}

/**
 * Check 12: the CPU frequency governor, over every CPU (RigForge read cpu0 only); anything but
 * `performance` on some CPU is a warning.
 *
 * @param records the probe records
 * @returns the `governor` check
 */
export function governorCheck(records: ProbeRecords): Check {
  const id = "governor";
  const title = "CPU governor";
  const cpu = records.cpu;
  if (cpu === null) return missingProbe(id, title, "cpu");
  const governors = cpu.governors;
  const data = { governors };
  if (governors === null || governors.length === 0) {
    const reason = reasonOf(cpu.reasons, "governors");
    if (reason === "absent" || reason === "unsupported") {
      return check(id, "info", title, "no cpufreq governor (VM or no cpufreq driver)", {
        ...data,
        reason,
      });
    }
    return unknownCheck(id, title, reason, "warn", data);
  }
  if (governors.every((g) => g === EXPECTED_GOVERNOR)) {
    return check(id, "ok", title, `${EXPECTED_GOVERNOR} on every CPU`, data);
  }
  return check(
    id,
    "warn",
    title,
    `${governors.join(", ")} (expected ${EXPECTED_GOVERNOR} on every CPU)`,
    data,
  );
}

/**
 * Check 14: the effective clock under load, judged only while the miner runs, over the busy
 * CPUs (RigForge averaged idle cores in and reported false throttling), each against its own
 * boost clock (`cpuinfo_max_freq`; hybrid E-cores have a lower one): below {@link MIN_CLOCK_PCT} %
 * is a warning ("check PBO/cTDP and cooling"). `all_cpus_pct_of_boost` is the same figure over
 * every CPU, idle ones included.
 *
 * @param records the probe records
 * @returns the `cpu-clock` check
 */
export function cpuClockCheck(records: ProbeRecords): Check {
  const id = "cpu-clock";
  const title = "CPU clock under load";
  const cpu = records.cpu;
  if (cpu === null) return missingProbe(id, title, "cpu");
  const data = {
    busy_cpus: cpu.busy_cpus,
    logical_cpus: cpu.logical_cpus,
    busy_freq_khz_mean: cpu.busy_freq_khz_mean,
    boost_khz: cpu.boost_khz,
    clock_pct_of_boost: cpu.clock_pct_of_boost,
    all_cpus_pct_of_boost: cpu.all_clock_pct_of_boost,
    load_source: cpu.load_source,
    min_clock_pct: MIN_CLOCK_PCT,
  };
  if (records.service?.xmrig_active !== true) {
    return check(id, "skipped", title, "judged only while xmrig.service is active", data);
  }
  const pct = cpu.clock_pct_of_boost;
  if (pct === null || cpu.busy_freq_khz_mean === null || cpu.boost_khz === null) {
    const reason = reasonOf(cpu.reasons, "clock_pct_of_boost");
    if (reason === "not-running") {
      return check(id, "skipped", title, "no busy CPU to judge", { ...data, reason });
    }
    if (reason === "absent" || reason === "unsupported") {
      return check(id, "info", title, "no cpufreq data (VM or no cpufreq driver)", {
        ...data,
        reason,
      });
    }
    return unknownCheck(id, title, reason, "warn", data);
  }
  const what = `${pct} % of each CPU's own boost clock over ${cpu.busy_cpus ?? "?"} busy ` +
    `CPU(s) (mean ${mhz(cpu.busy_freq_khz_mean)}, highest boost ${mhz(cpu.boost_khz)})`;
  if (pct < MIN_CLOCK_PCT) {
    return check(id, "warn", title, `${what}: likely throttling, check PBO/cTDP and cooling`, data);
  }
  return check(id, "ok", title, what, data);
}

/**
 * Check 15b: SMT (`/sys/devices/system/cpu/smt/control`); `off`/`forceoff` is a warning
 * (RandomX gains from both threads of a core; enable SMT in the BIOS).
 *
 * @param records the probe records
 * @returns the `smt` check
 */
export function smtCheck(records: ProbeRecords): Check {
  const id = "smt";
  const title = "SMT";
  const cpu = records.cpu;
  if (cpu === null) return missingProbe(id, title, "cpu");
  const control = cpu.smt?.control ?? null;
  const data = { control, active: cpu.smt?.active ?? null };
  if (control === null) {
    const reason = reasonOf(cpu.reasons, "smt.control");
    return check(id, "skipped", title, "no SMT control in sysfs", { ...data, reason });
  }
  if (SMT_OFF_VALUES.includes(control)) {
    return check(id, "warn", title, `${control}: enable SMT in the BIOS`, data);
  }
  if (control === "on") return check(id, "ok", title, "on", data);
  return check(id, "info", title, control, data);
}

/**
 * Check 15c: an EPYC with one NUMA node is probably in NPS1; NPS4 gives RandomX more memory
 * bandwidth locality. A warning with the BIOS menu path.
 *
 * @param records the probe records
 * @returns the `numa-nps` check
 */
export function numaCheck(records: ProbeRecords): Check {
  const id = "numa-nps";
  const title = "NUMA nodes per socket";
  const cpu = records.cpu;
  if (cpu === null) return missingProbe(id, title, "cpu");
  const data = {
    numa_nodes: cpu.numa_nodes,
    epyc_nps1_suspect: cpu.epyc_nps1_suspect,
    suspect_nodes: NPS1_SUSPECT_NODES,
  };
  if (cpu.hypervisor === true) {
    return check(
      id,
      "skipped",
      title,
      "virtual machine: the host's NUMA setup is not visible",
      data,
    );
  }
  if (cpu.epyc_nps1_suspect === true) {
    return check(
      id,
      "warn",
      title,
      "EPYC with one NUMA node (NPS1): set AMD CBS ▸ DF Common Options ▸ Memory Addressing ▸ " +
        "NUMA nodes per socket ▸ NPS4",
      data,
    );
  }
  if (!/EPYC/.test(cpu.model_name ?? "")) {
    return check(id, "skipped", title, "not an EPYC", data);
  }
  if (cpu.numa_nodes === null || cpu.numa_nodes === 0) {
    return check(id, "skipped", title, "no NUMA information in sysfs", data);
  }
  return check(id, "ok", title, `${cpu.numa_nodes} NUMA nodes`, data);
}

/**
 * Temperature: the package sensor against the watchdog's `max_temp_c`, and a thermal hold
 * (the watchdog stopped the miner). Context for throttling; a warning at most.
 *
 * @param records the probe records
 * @returns the `thermal` check
 */
export function thermalCheck(records: ProbeRecords): Check {
  const id = "thermal";
  const title = "CPU temperature";
  const thermal = records.thermal;
  if (thermal === null) return missingProbe(id, title, "thermal");
  const maxC = records.watchdog?.max_temp_c ?? null;
  const hold = records.watchdog?.thermal_hold ?? null;
  const data = { package_c: thermal.package_c, source: thermal.source, max_temp_c: maxC, hold };
  if (hold === true) {
    return check(id, "warn", title, "thermal hold: the watchdog stopped the miner", data);
  }
  if (thermal.package_c === null) {
    const reason = reasonOf(thermal.reasons, "package_c");
    if (reason === "absent" || reason === "unsupported") {
      return check(id, "info", title, "no temperature sensor (VM?)", { ...data, reason });
    }
    return unknownCheck(id, title, reason, "warn", data);
  }
  const what = `${thermal.package_c.toFixed(1)} °C (${thermal.source ?? "sensor"})`;
  if (maxC !== null && thermal.package_c >= maxC) {
    return check(id, "warn", title, `${what}: at or above max_temp_c ${maxC} °C`, data);
  }
  const limit = maxC === null ? "" : `, cutoff ${maxC} °C`;
  return check(id, "ok", title, `${what}${limit}`, data);
}

/**
 * Thermal throttle events (Intel `thermal_throttle/*_throttle_count`, summed over CPUs since
 * boot): any is a warning. AMD has no such counters: skipped.
 *
 * @param records the probe records
 * @returns the `thermal-throttle` check
 */
export function throttleCheck(records: ProbeRecords): Check {
  const id = "thermal-throttle";
  const title = "Thermal throttle events";
  const cpu = records.cpu;
  if (cpu === null) return missingProbe(id, title, "cpu");
  const core = cpu.throttle?.core_throttle_count ?? null;
  const pkg = cpu.throttle?.package_throttle_count ?? null;
  const data = { core_throttle_count: core, package_throttle_count: pkg };
  if (core === null && pkg === null) {
    const reason = reasonOf(cpu.reasons, "throttle.core_throttle_count") ??
      reasonOf(cpu.reasons, "throttle");
    return check(id, "skipped", title, "no throttle counters (not an Intel CPU?)", {
      ...data,
      reason,
    });
  }
  const total = (core ?? 0) + (pkg ?? 0);
  if (total > 0) {
    return check(
      id,
      "warn",
      title,
      `${core ?? 0} core and ${pkg ?? 0} package event(s) since boot: check cooling`,
      data,
    );
  }
  return check(id, "ok", title, "none since boot", data);
}

/**
 * Package power from RAPL: context only (`info`), or `needs-root` (`energy_uj` is root-only).
 *
 * @param records the probe records
 * @returns the `power` check
 */
export function powerCheck(records: ProbeRecords): Check {
  const id = "power";
  const title = "Package power";
  const power = records.power;
  if (power === null) return missingProbe(id, title, "power");
  const data = { watts: power.watts, window_s: power.window_s, source: power.source };
  if (power.watts === null) {
    const reason = reasonOf(power.reasons, "watts");
    if (reason === "absent" || reason === "unsupported") {
      return check(id, "skipped", title, "no RAPL package zone", { ...data, reason });
    }
    return unknownCheck(id, title, reason, "info", data);
  }
  const window = power.window_s === null ? "" : ` over ${power.window_s} s`;
  return check(id, "info", title, `${power.watts.toFixed(2)} W (RAPL package${window})`, data);
}
