/**
 * The CPU probe: identity, governors, clocks under load, thermal throttling counters, SMT and
 * NUMA layout (doctor checks 12, 14, 15, 15b, 15c and the `clock_pct_of_boost` health field).
 *
 * Reads, all world-readable:
 * - `/proc/cpuinfo`: the first processor's `vendor_id`, `model name`, `cpu family`, `model`,
 *   `flags`; the number of `processor` entries.
 * - `/proc/stat`: per-CPU `cpuN` jiffies (USER_HZ ticks); `/proc/uptime`: seconds since boot.
 * - `/sys/devices/system/cpu/cpuN/cpufreq/{scaling_cur_freq,cpuinfo_max_freq}` (kHz) and
 *   `scaling_governor`; absent in most VMs.
 * - `/sys/devices/system/cpu/cpuN/thermal_throttle/{core,package}_throttle_count` (event counts,
 *   Intel only) with `topology/{core_id,physical_package_id}` to count each core and package once.
 * - `/sys/devices/system/cpu/smt/{control,active}`, `/sys/devices/system/node/node[0-9]*`.
 *
 * The clock that matters is the one of the CPUs the miner keeps busy: RigForge averages idle
 * cores in and reports false throttling when the miner runs fewer threads than there are CPUs.
 * "Busy" is judged over a load window: the previous pass's `/proc/stat` counters, else a short
 * sample (`ctx.sampleMs`), else (every counter unchanged) the utilisation since boot.
 *
 * @module
 */

import { dropControl } from "../lib/text.ts";
import { type CpuTimes, type Load, measureLoad, readParsed } from "./cpu_load.ts";
import {
  countNodes,
  type Cpufreq,
  gather,
  listCpus,
  readCpufreq,
  readSmt,
  readThrottle,
} from "./cpu_sysfs.ts";
import { failed, put, type Result, value } from "./result.ts";
import type { Probe, ProbeContext, Reasons } from "./types.ts";

/** What the first `/proc/cpuinfo` entry says the CPU is. Reused by the MSR probe. */
export interface CpuIdentity {
  /** `vendor_id`, e.g. `AuthenticAMD`, `GenuineIntel`. */
  vendor: string | null;
  /** `model name`, e.g. `AMD Ryzen 9 7950X 16-Core Processor`. */
  model_name: string | null;
  /** `cpu family`, decimal (25 = 0x19 for Zen 3/4, 6 for Intel Core). */
  family: number | null;
  /** `model`, decimal (97 = 0x61 for Raphael). */
  model: number | null;
}

/** The parsed parts of `/proc/cpuinfo`. */
export interface Cpuinfo extends CpuIdentity {
  /** Number of `processor` entries: the logical CPUs the kernel brought up. */
  processors: number;
  /** Whether the first entry's `flags` has `hypervisor` (a VM); `null` without `flags`. */
  hypervisor: boolean | null;
}

/** CPU identity, clocks under load, throttling, SMT and NUMA. */
export interface CpuRecord extends CpuIdentity {
  /** Logical CPUs (`processor` entries in `/proc/cpuinfo`). */
  logical_cpus: number | null;
  /** `cpuinfo` flags name `hypervisor`: clocks, NUMA and NPS describe the host, not this VM. */
  hypervisor: boolean | null;
  /** Distinct `scaling_governor` values over all CPUs, sorted. */
  governors: string[] | null;
  /**
   * Distinct `scaling_governor` values over the busy CPUs only (the ones mining), sorted;
   * `not-running` when no CPU is busy.
   */
  busy_governors: string[] | null;
  /** Mean `scaling_cur_freq` over all CPUs, kHz (floored). */
  cur_freq_khz_mean: number | null;
  /** Highest `scaling_cur_freq`, kHz. */
  cur_freq_khz_max: number | null;
  /** Highest `cpuinfo_max_freq` over all CPUs (the boost ceiling), kHz. */
  boost_khz: number | null;
  /** CPUs at least 50 % busy over the load window. */
  busy_cpus: number | null;
  /** Mean `scaling_cur_freq` over the busy CPUs only, kHz (floored). */
  busy_freq_khz_mean: number | null;
  /**
   * Busy CPUs' clock against each one's own ceiling: `floor(100 × mean over the busy CPUs of
   * scaling_cur_freq / cpuinfo_max_freq)` (`/sys/devices/system/cpu/cpuN/cpufreq`), percent. Not
   * `busy_freq_khz_mean / boost_khz`: on hybrid CPUs (P- and E-cores) the E-cores' lower
   * ceiling would read as throttling. `not-running` when no CPU is busy; a busy CPU whose clock
   * or ceiling did not read: that read's reason.
   */
  clock_pct_of_boost: number | null;
  /**
   * Every CPU, idle ones included (RigForge's all-CPU view), each against its own ceiling:
   * `floor(100 × mean of scaling_cur_freq / cpuinfo_max_freq)`, percent.
   */
  all_clock_pct_of_boost: number | null;
  /** What "busy" was judged over: a window between two readings, or the time since boot. */
  load_source: "window" | "since-boot" | null;
  /** Length of the load window, seconds (the uptime for `since-boot`). */
  load_window_s: number | null;
  /** Thermal throttle events, each core and each package counted once (Intel only). */
  throttle: { core_throttle_count: number | null; package_throttle_count: number | null };
  /** `/sys/devices/system/cpu/smt/control` (`on`, `off`, `forceoff`, `notsupported`, ...) and `active`. */
  smt: { control: string | null; active: boolean | null };
  /** Number of `/sys/devices/system/node/node[0-9]*` directories. */
  numa_nodes: number | null;
  /**
   * The model is an EPYC and there is exactly one NUMA node (NPS1; NPS4 mines faster).
   * `null` with `virtual-machine` in a VM (the host's NUMA setup is not visible).
   */
  epyc_nps1_suspect: boolean | null;
  /** The raw readings this pass ended with, for the next pass's window. */
  counters: { uptime_s: number | null; cpu_times: CpuTimes | null };
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

/**
 * Parses `/proc/cpuinfo`: the first processor's identity and the processor count.
 *
 * @param text the file's content
 * @returns identity, count and the `hypervisor` flag
 * @throws {SyntaxError} on a non-blank line without a colon, a non-numeric family or model, or
 *   no `processor` entry at all
 */
export function parseCpuinfo(text: string): Cpuinfo {
  let processors = 0;
  const first = new Map<string, string>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.trim() === "") continue;
    const colon = line.indexOf(":");
    if (colon === -1) {
      throw new SyntaxError(`Cannot parse /proc/cpuinfo: line ${i + 1} has no colon`);
    }
    const key = line.slice(0, colon).trim();
    if (key === "processor") processors++;
    else if (processors === 1 && !first.has(key)) first.set(key, line.slice(colon + 1).trim());
  }
  if (processors === 0) throw new SyntaxError("Cannot parse /proc/cpuinfo: no processor entry");
  const flags = first.get("flags");
  return {
    vendor: printable(first.get("vendor_id")),
    model_name: printable(first.get("model name")),
    family: decimal(first.get("cpu family"), "cpu family"),
    model: decimal(first.get("model"), "model"),
    processors,
    hypervisor: flags === undefined ? null : flags.split(/\s+/).includes("hypervisor"),
  };
}

function decimal(value: string | undefined, key: string): number | null {
  if (value === undefined) return null;
  if (!/^\d{1,6}$/.test(value)) throw new SyntaxError(`Cannot parse /proc/cpuinfo: bad ${key}`);
  return Number(value);
}

/** Drops control characters (terminal escapes) and caps the length of a kernel-supplied string. */
function printable(value: string | undefined): string | null {
  const clean = value === undefined ? undefined : dropControl(value).trim().slice(0, 256);
  return clean ? clean : null;
}

function floorMean(values: readonly number[]): number {
  return Math.floor(values.reduce((a, b) => a + b, 0) / values.length);
}

interface Clocks {
  governors: Result<string[]>;
  busyGovernors: Result<string[]>;
  curMean: Result<number>;
  curMax: Result<number>;
  boost: Result<number>;
  busyCpus: Result<number>;
  busyMean: Result<number>;
  pct: Result<number>;
  allPct: Result<number>;
}

/**
 * `floor(100 × mean of scaling_cur_freq / cpuinfo_max_freq)` over the given CPUs, each
 * CPU against its own ceiling: on a hybrid CPU an E-core at full speed counts as 100 %, not as
 * a fraction of the P-cores' boost. A CPU whose clock or ceiling did not read makes the whole
 * figure cannot-tell with that read's reason; a zero ceiling is `corrupt`.
 */
function pctOfOwnBoost(busy: readonly Cpufreq[]): Result<number> {
  if (busy.length === 0) return failed("absent");
  let sum = 0;
  for (const f of busy) {
    if (!f.cur.ok) return f.cur;
    if (!f.max.ok) return f.max;
    if (f.max.value <= 0) return failed("corrupt");
    sum += f.cur.value / f.max.value;
  }
  return value(Math.floor(sum * 100 / busy.length));
}

/** Clock figures over all CPUs and over the busy ones only. */
function clocks(cpus: Result<string[]>, freq: Cpufreq[], load: Load): Clocks {
  const all = <T>(pick: (f: Cpufreq) => Result<T>): Result<T[]> =>
    cpus.ok ? gather(freq.map(pick)) : cpus;
  const curs = all((f) => f.cur);
  const maxes = all((f) => f.max);
  const govs = all((f) => f.governor);
  const util = load.utilisation;
  const busy = new Set(
    util.ok ? Object.keys(util.value.busy).filter((cpu) => util.value.busy[cpu]! >= 0.5) : [],
  );
  // A figure over the busy CPUs: cannot-tell when the per-CPU reads or the load did not read,
  // `not-running` when nobody is busy, `absent` when no busy CPU has the file.
  const overBusy = <T, R>(
    whole: Result<unknown>,
    pick: (f: Cpufreq) => Result<T>,
    make: (picked: T[]) => R,
  ): Result<R> => {
    if (!whole.ok) return failed(whole.reason);
    if (!util.ok) return failed(util.reason);
    if (busy.size === 0) return failed("not-running");
    const picked = freq.flatMap((f) => {
      const r = busy.has(f.cpu) ? pick(f) : null;
      return r !== null && r.ok ? [r.value] : [];
    });
    return picked.length === 0 ? failed("absent") : value(make(picked));
  };
  const busyGovernors = overBusy(govs, (f) => f.governor, (g) => [...new Set(g)].sort());
  const busyMean = overBusy(curs, (f) => f.cur, floorMean);
  const boost = maxes.ok ? value(Math.max(...maxes.value)) : maxes;
  const pct: Result<number> = !busyMean.ok
    ? busyMean
    : !boost.ok
    ? boost
    : pctOfOwnBoost(freq.filter((f) => busy.has(f.cpu)));
  return {
    governors: govs.ok ? value([...new Set(govs.value)].sort()) : govs,
    busyGovernors,
    curMean: curs.ok ? value(floorMean(curs.value)) : curs,
    curMax: curs.ok ? value(Math.max(...curs.value)) : curs,
    boost,
    busyCpus: util.ok ? value(busy.size) : util,
    busyMean,
    pct,
    allPct: !curs.ok
      ? curs
      : !maxes.ok
      ? maxes
      : pctOfOwnBoost(freq.filter((f) => f.cur.ok || f.max.ok)),
  };
}

async function collect(ctx: ProbeContext): Promise<CpuRecord> {
  const [info, load, cpus, smt, nodes] = await Promise.all([
    readParsed(ctx, "/proc/cpuinfo", parseCpuinfo),
    measureLoad(ctx),
    listCpus(ctx),
    readSmt(ctx),
    countNodes(ctx),
  ]);
  const cpuList = cpus.ok ? cpus.value : [];
  const [freq, throttle] = await Promise.all([
    readCpufreq(ctx, cpuList),
    readThrottle(ctx, cpuList),
  ]);
  const c = clocks(cpus, freq, load);
  const field = <T>(pick: (i: Cpuinfo) => T | null): Result<T> => {
    if (!info.ok) return info;
    const v = pick(info.value);
    return v === null ? failed("absent") : value(v);
  };
  const modelName = field((i) => i.model_name);
  const hypervisor = field((i) => i.hypervisor);
  const nps1: Result<boolean> = hypervisor.ok && hypervisor.value
    ? failed("virtual-machine")
    : !modelName.ok
    ? modelName
    : !nodes.ok
    ? nodes
    : value(modelName.value.includes("EPYC") && nodes.value === 1);
  const reasons: Reasons = {};
  return {
    vendor: put(reasons, "vendor", field((i) => i.vendor)),
    model_name: put(reasons, "model_name", modelName),
    family: put(reasons, "family", field((i) => i.family)),
    model: put(reasons, "model", field((i) => i.model)),
    logical_cpus: put(reasons, "logical_cpus", field((i) => i.processors)),
    hypervisor: put(reasons, "hypervisor", hypervisor),
    governors: put(reasons, "governors", c.governors),
    busy_governors: put(reasons, "busy_governors", c.busyGovernors),
    cur_freq_khz_mean: put(reasons, "cur_freq_khz_mean", c.curMean),
    cur_freq_khz_max: put(reasons, "cur_freq_khz_max", c.curMax),
    boost_khz: put(reasons, "boost_khz", c.boost),
    busy_cpus: put(reasons, "busy_cpus", c.busyCpus),
    busy_freq_khz_mean: put(reasons, "busy_freq_khz_mean", c.busyMean),
    clock_pct_of_boost: put(reasons, "clock_pct_of_boost", c.pct),
    all_clock_pct_of_boost: put(reasons, "all_clock_pct_of_boost", c.allPct),
    load_source: put(
      reasons,
      "load_source",
      load.utilisation.ok ? value(load.utilisation.value.source) : load.utilisation,
    ),
    load_window_s: put(reasons, "load_window_s", load.window_s),
    throttle: {
      core_throttle_count: put(reasons, "throttle.core_throttle_count", throttle.core),
      package_throttle_count: put(reasons, "throttle.package_throttle_count", throttle.pkg),
    },
    smt: {
      control: put(reasons, "smt.control", smt.control),
      active: put(reasons, "smt.active", smt.active),
    },
    numa_nodes: put(reasons, "numa_nodes", nodes),
    epyc_nps1_suspect: put(reasons, "epyc_nps1_suspect", nps1),
    counters: {
      uptime_s: put(reasons, "counters.uptime_s", load.end.uptime),
      cpu_times: put(reasons, "counters.cpu_times", load.end.times),
    },
    reasons,
  };
}

/** Reads CPU identity, clocks under load, throttling, SMT and NUMA; needs no privileges. */
export const cpuProbe: Probe<CpuRecord> = { name: "cpu", collect };
