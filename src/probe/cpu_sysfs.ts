/**
 * Per-CPU sysfs reads for the CPU probe, kept cheap for machines with hundreds of CPUs.
 *
 * Reads, world-readable:
 * - `/sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq` and `cpuinfo_max_freq` (kHz),
 *   `scaling_governor`.
 * - `/sys/devices/system/cpu/cpuN/thermal_throttle/{core,package}_throttle_count` (events since
 *   boot; Intel with the PTS feature only) and `topology/{core_id,physical_package_id}`.
 * - `/sys/devices/system/cpu/smt/{control,active}`, `/sys/devices/system/node/node[0-9]*`.
 *
 * A 192-CPU EPYC has 576 cpufreq attributes. Each is read with a single read of at most 4 KiB
 * (sysfs hands a whole attribute over in one read), at most {@link PARALLEL_CPUS} CPUs at a
 * time, all under one shared deadline rather than a timer per file: about a third of the CPU
 * time of the general bounded reader.
 *
 * @module
 */

import { closeQuietly } from "../lib/read.ts";
import { failed, type Result, value } from "./result.ts";
import { listDir, machinePath, readAttribute, reasonOf } from "./read.ts";
import type { NullReason, ProbeContext } from "./types.ts";

/** The CPU devices directory. */
export const CPU_DIR = "/sys/devices/system/cpu";
/** Concurrent per-CPU reads: enough to hide latency, few enough to stay cheap. */
export const PARALLEL_CPUS = 16;
/** Time bound for one batch of per-CPU reads, in milliseconds. */
export const BATCH_TIMEOUT_MS = 1000;
const ATTR_MAX_BYTES = 4096;
const decoder = new TextDecoder();

/** One time bound shared by many reads. */
interface Deadline {
  expired: boolean;
  signal: Promise<Result<never>>;
  cancel(): void;
}

function deadline(ms: number): Deadline {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const dl: Deadline = {
    expired: false,
    signal: new Promise((resolve) => {
      timer = setTimeout(() => {
        dl.expired = true;
        resolve(failed("timeout"));
      }, ms);
    }),
    cancel: () => clearTimeout(timer),
  };
  return dl;
}

async function readOnce(path: string): Promise<Result<string>> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const buffer = new Uint8Array(ATTR_MAX_BYTES + 1);
    const n = await file.read(buffer);
    if (n !== null && n > ATTR_MAX_BYTES) return failed("unreadable");
    const text = n === null ? "" : decoder.decode(buffer.subarray(0, n)).trim();
    return text === "" ? failed("absent") : value(text);
  } catch (error) {
    return failed(reasonOf(error));
  } finally {
    closeQuietly(file);
  }
}

function attr(path: string, dl: Deadline): Promise<Result<string>> {
  if (dl.expired) return Promise.resolve(failed("timeout"));
  return Promise.race([readOnce(path), dl.signal]);
}

async function intAttr(path: string, dl: Deadline): Promise<Result<number>> {
  const text = await attr(path, dl);
  if (!text.ok) return text;
  const n = /^\d{1,15}$/.test(text.value) ? Number(text.value) : NaN;
  return Number.isSafeInteger(n) ? value(n) : failed("corrupt");
}

async function mapBounded<T, R>(
  items: readonly T[],
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_CPUS, items.length) }, worker));
  return out;
}

/** Runs per-CPU reads under one deadline, a bounded number of CPUs at a time. */
async function perCpu<R>(
  cpus: readonly string[],
  fn: (cpu: string, dl: Deadline) => Promise<R>,
): Promise<R[]> {
  const dl = deadline(BATCH_TIMEOUT_MS);
  try {
    return await mapBounded(cpus, (cpu) => fn(cpu, dl));
  } finally {
    dl.cancel();
  }
}

/**
 * Lists the logical CPU directories (`cpu0`, `cpu1`, ...) in numeric order.
 *
 * @param ctx the probe context
 * @returns the names, or why there are none
 */
export async function listCpus(ctx: ProbeContext): Promise<Result<string[]>> {
  const names = await listDir(machinePath(ctx, CPU_DIR));
  if (!names.ok) return names;
  const cpus = names.value.filter((name) => /^cpu\d{1,5}$/.test(name));
  if (cpus.length === 0) return failed("absent");
  return value(cpus.sort((a, b) => Number(a.slice(3)) - Number(b.slice(3))));
}

/** One CPU's cpufreq attributes. */
export interface Cpufreq {
  /** The CPU directory name, `cpuN` (the same key as in `/proc/stat`). */
  cpu: string;
  /** `scaling_cur_freq`, kHz. */
  cur: Result<number>;
  /** `cpuinfo_max_freq`, kHz. */
  max: Result<number>;
  /** `scaling_governor`. */
  governor: Result<string>;
}

/**
 * Reads every CPU's cpufreq attributes.
 *
 * @param ctx the probe context
 * @param cpus CPU directory names from {@link listCpus}
 * @returns one entry per CPU, in order
 */
export function readCpufreq(ctx: ProbeContext, cpus: readonly string[]): Promise<Cpufreq[]> {
  return perCpu(cpus, async (cpu, dl) => {
    const dir = machinePath(ctx, `${CPU_DIR}/${cpu}/cpufreq`);
    const [cur, max, governor] = await Promise.all([
      intAttr(`${dir}/scaling_cur_freq`, dl),
      intAttr(`${dir}/cpuinfo_max_freq`, dl),
      attr(`${dir}/scaling_governor`, dl),
    ]);
    return { cpu, cur, max, governor: governor.ok ? value(governor.value.slice(0, 32)) : governor };
  });
}

/**
 * Every CPU's value, CPUs without the file (`absent`: offline, no cpufreq) left out; why not:
 * the first other reason when some CPU has the file but it did not read (a partial set would
 * pass for the whole), `unsupported` when every CPU lacks the file (no cpufreq driver, as in
 * most VMs).
 *
 * @param results one result per CPU
 * @returns the values, or a reason
 */
export function gather<T>(results: readonly Result<T>[]): Result<T[]> {
  const values: T[] = [];
  let reason: NullReason | null = null;
  for (const result of results) {
    if (result.ok) values.push(result.value);
    else if (result.reason !== "absent") reason ??= result.reason;
  }
  // One CPU that has the file but could not be read: the set is incomplete, so cannot tell.
  if (reason !== null) return failed(reason);
  if (values.length > 0) return value(values);
  return failed("unsupported");
}

/** Thermal throttle event counts, each core and package counted once. */
export interface Throttle {
  /** Sum over distinct (package, core) of `core_throttle_count`. */
  core: Result<number>;
  /** Sum over distinct packages of `package_throttle_count`. */
  pkg: Result<number>;
}

/**
 * Reads the thermal throttle counters. SMT siblings both count their core's events and every
 * CPU counts its package's, so each core and each package is taken once (as node_exporter
 * does), not summed over CPUs.
 *
 * @param ctx the probe context
 * @param cpus CPU directory names from {@link listCpus}
 * @returns the totals, or `absent` when the CPU has no such counters (AMD, VMs)
 */
export async function readThrottle(ctx: ProbeContext, cpus: readonly string[]): Promise<Throttle> {
  const dir = (cpu: string) => machinePath(ctx, `${CPU_DIR}/${cpu}`);
  // The directories exist on every CPU or on none: one read decides.
  const probe = await readAttribute(
    `${dir(cpus[0] ?? "cpu0")}/thermal_throttle/core_throttle_count`,
  );
  if (!probe.ok) return { core: probe, pkg: probe };
  const rows = await perCpu(cpus, (cpu, dl) =>
    Promise.all([
      intAttr(`${dir(cpu)}/thermal_throttle/core_throttle_count`, dl),
      intAttr(`${dir(cpu)}/thermal_throttle/package_throttle_count`, dl),
      intAttr(`${dir(cpu)}/topology/core_id`, dl),
      intAttr(`${dir(cpu)}/topology/physical_package_id`, dl),
    ]));
  const cores = new Map<string, number>();
  const packages = new Map<string, number>();
  rows.forEach(([core, pkg, coreId, pkgId], i) => {
    const pkgKey = pkgId.ok ? String(pkgId.value) : "?";
    const coreKey = pkgId.ok && coreId.ok ? `${pkgKey}:${coreId.value}` : `cpu:${cpus[i]}`;
    if (core.ok) cores.set(coreKey, Math.max(core.value, cores.get(coreKey) ?? 0));
    if (pkg.ok) packages.set(pkgKey, Math.max(pkg.value, packages.get(pkgKey) ?? 0));
  });
  const total = (counts: Map<string, number>, results: Result<number>[]): Result<number> => {
    // A counter present but unreadable on some CPU: the sum would undercount, so cannot tell.
    const unread = results.find((r): r is { ok: false; reason: NullReason } =>
      !r.ok && r.reason !== "absent"
    );
    if (unread !== undefined) return failed(unread.reason);
    if (counts.size > 0) return value([...counts.values()].reduce((a, b) => a + b, 0));
    return failed("absent");
  };
  return {
    core: total(cores, rows.map((row) => row[0])),
    pkg: total(packages, rows.map((row) => row[1])),
  };
}

/**
 * Reads `/sys/devices/system/cpu/smt/control` (`on`, `off`, `forceoff`, `notsupported`,
 * `notimplemented`) and `active` (`0`/`1`).
 *
 * @param ctx the probe context
 * @returns both values, or why each is missing
 */
export async function readSmt(
  ctx: ProbeContext,
): Promise<{ control: Result<string>; active: Result<boolean> }> {
  const [control, active] = await Promise.all([
    readAttribute(machinePath(ctx, `${CPU_DIR}/smt/control`)),
    readAttribute(machinePath(ctx, `${CPU_DIR}/smt/active`)),
  ]);
  return {
    control: control.ok ? value(control.value.slice(0, 32)) : control,
    active: !active.ok
      ? active
      : active.value === "0" || active.value === "1"
      ? value(active.value === "1")
      : failed("corrupt"),
  };
}

/**
 * Counts the NUMA node directories `/sys/devices/system/node/node[0-9]*`.
 *
 * @param ctx the probe context
 * @returns the count, or why there is none
 */
export async function countNodes(ctx: ProbeContext): Promise<Result<number>> {
  const names = await listDir(machinePath(ctx, "/sys/devices/system/node"));
  if (!names.ok) return names;
  return value(names.value.filter((name) => /^node\d{1,5}$/.test(name)).length);
}
