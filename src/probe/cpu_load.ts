/**
 * The load window of the CPU probe: per-CPU jiffies from `/proc/stat`, seconds since boot from
 * `/proc/uptime`, and which CPUs were busy between two readings.
 *
 * Reads, world-readable:
 * - `/proc/stat`: the `cpuN` lines, USER_HZ jiffies (normally 1/100 s).
 * - `/proc/uptime`: the first field, seconds since boot (monotonic, 10 ms resolution).
 *
 * The window is, in order of preference: from the previous pass's counters (`ctx.previous`,
 * unless the machine rebooted since), else from a sample of `ctx.sampleMs`; when no counter moved
 * over it (static fixture files, a zero-length window) the utilisation since boot stands in.
 *
 * @module
 */

import { machinePath, readText } from "./read.ts";
import { failed, type Result, value } from "./result.ts";
import type { PreviousCounters, ProbeContext } from "./types.ts";

/** Per-CPU jiffies: `cpuN` → [busy, total]. */
export type CpuTimes = Record<string, [number, number]>;

/**
 * Parses the per-CPU lines of `/proc/stat` (`cpuN user nice system idle iowait irq softirq
 * steal guest guest_nice`, in USER_HZ jiffies). Total is the sum of the first eight fields
 * (guest time is already inside user and nice); busy is total minus idle and iowait. The
 * aggregate `cpu` line and all other lines are ignored.
 *
 * @param text the file's content
 * @returns `cpuN` → [busy, total]
 * @throws {SyntaxError} on a `cpuN` line with fewer than four fields or a non-integer field, or
 *   when there is no `cpuN` line
 */
export function parseProcStat(text: string): CpuTimes {
  const times: CpuTimes = {};
  let found = false;
  for (const line of text.split("\n")) {
    const match = /^(cpu\d{1,5})\s+(.*)$/.exec(line);
    if (!match) continue;
    const fields = (match[2] as string).trim().split(/\s+/);
    if (fields.length < 4 || !fields.every((f) => /^\d{1,19}$/.test(f))) {
      throw new SyntaxError(`Cannot parse /proc/stat: ${match[1]} line is malformed`);
    }
    const n = fields.map(Number);
    const total = n.slice(0, 8).reduce((sum, v) => sum + v, 0);
    const idle = (n[3] ?? 0) + (n[4] ?? 0);
    if (!Number.isSafeInteger(total)) {
      throw new SyntaxError(`Cannot parse /proc/stat: ${match[1]} counters overflow`);
    }
    times[match[1] as string] = [total - idle, total];
    found = true;
  }
  if (!found) throw new SyntaxError("Cannot parse /proc/stat: no per-CPU line");
  return times;
}

/**
 * Parses `/proc/uptime` (`1007.33 1901.59`): the first field, seconds since boot (monotonic,
 * including suspend), so readings from two processes compare.
 *
 * @param text the file's content
 * @returns seconds since boot
 * @throws {SyntaxError} when the first field is not a non-negative decimal number
 */
export function parseUptime(text: string): number {
  const match = /^\s*(\d{1,12}(?:\.\d{1,9})?)(?:\s|$)/.exec(text);
  if (!match) throw new SyntaxError("Cannot parse /proc/uptime: first field is not a number");
  return Number(match[1]);
}

/** How busy each CPU was, and over what. */
export interface Utilisation {
  /** `window` when some counter moved between the readings, else `since-boot`. */
  source: "window" | "since-boot";
  /** `cpuN` → busy fraction, 0..1. */
  busy: Record<string, number>;
}

/**
 * Busy fraction per CPU between two `/proc/stat` readings. When there is no earlier reading, or
 * no CPU's total moved (static files, a zero-length window), the cumulative counters of the later
 * reading give the utilisation since boot instead.
 *
 * @param earlier the window's start, or `null`
 * @param later the window's end
 * @returns the fractions and their source
 */
export function cpuUtilisation(earlier: CpuTimes | null, later: CpuTimes): Utilisation {
  const window: Record<string, number> = {};
  let moved = false;
  for (const [cpu, [busy, total]] of Object.entries(later)) {
    const start = earlier?.[cpu];
    if (start === undefined) continue;
    const dTotal = total - start[1];
    if (dTotal > 0) moved = true;
    window[cpu] = dTotal > 0 ? clamp01((busy - start[0]) / dTotal) : 0;
  }
  if (moved) return { source: "window", busy: window };
  const sinceBoot: Record<string, number> = {};
  for (const [cpu, [busy, total]] of Object.entries(later)) {
    sinceBoot[cpu] = total > 0 ? clamp01(busy / total) : 0;
  }
  return { source: "since-boot", busy: sinceBoot };
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/**
 * Reads a machine file under the root and parses it; a parser throw becomes `corrupt`.
 *
 * @param ctx the probe context (root)
 * @param path the machine path, e.g. `/proc/stat`
 * @param parse the pure parser
 * @returns the parsed value, or why there is none
 */
export async function readParsed<T>(
  ctx: ProbeContext,
  path: string,
  parse: (text: string) => T,
): Promise<Result<T>> {
  const text = await readText(machinePath(ctx, path));
  if (!text.ok) return text;
  try {
    return value(parse(text.value));
  } catch {
    return failed("corrupt");
  }
}

/** One reading of the load counters. */
export interface Counters {
  /** `/proc/stat` per-CPU jiffies. */
  times: Result<CpuTimes>;
  /** `/proc/uptime`, seconds since boot. */
  uptime: Result<number>;
}

/**
 * Reads `/proc/stat` and `/proc/uptime` once.
 *
 * @param ctx the probe context
 * @returns both readings, each a value or a reason
 */
export async function readCounters(ctx: ProbeContext): Promise<Counters> {
  const [times, uptime] = await Promise.all([
    readParsed(ctx, "/proc/stat", parseProcStat),
    readParsed(ctx, "/proc/uptime", parseUptime),
  ]);
  return { times, uptime };
}

/** The previous pass's counters, when they can start a window ending at `end` (no reboot since). */
function usablePrevious(previous: PreviousCounters | null, end: Counters): CpuTimes | null {
  const times = previous?.cpu_times;
  if (!previous || !times || !end.times.ok || !end.uptime.ok) return null;
  if (!(end.uptime.value > previous.uptime_s)) return null;
  let common = 0;
  for (const [cpu, [, total]] of Object.entries(end.times.value)) {
    const start = times[cpu];
    if (start === undefined) continue;
    if (total < start[1]) return null;
    common++;
  }
  return common > 0 ? times : null;
}

/** The load window a pass measured. */
export interface Load {
  /** The readings the window ended with (the next pass's start). */
  end: Counters;
  /** Busy fraction per CPU, and its source. */
  utilisation: Result<Utilisation>;
  /** Window length, seconds (uptime for `since-boot`). */
  window_s: Result<number>;
}

/**
 * Measures the load window: previous counters, else a sample of `ctx.sampleMs` (sleeping through
 * `ctx.sleep`), else since boot.
 *
 * @param ctx the probe context
 * @returns the window
 */
export async function measureLoad(ctx: ProbeContext): Promise<Load> {
  let end = await readCounters(ctx);
  let start = usablePrevious(ctx.previous, end);
  let startUptime: number | null = start ? ctx.previous?.uptime_s ?? null : null;
  if (start === null && end.times.ok) {
    start = end.times.value;
    startUptime = end.uptime.ok ? end.uptime.value : null;
    await ctx.sleep(ctx.sampleMs);
    end = await readCounters(ctx);
  }
  if (!end.times.ok) return { end, utilisation: end.times, window_s: end.times };
  const utilisation = cpuUtilisation(start, end.times.value);
  let window_s: Result<number> = end.uptime;
  if (utilisation.source === "window" && end.uptime.ok) {
    window_s = startUptime === null
      ? failed("unreadable")
      : value(Math.round((end.uptime.value - startUptime) * 100) / 100);
  }
  return { end, utilisation: value(utilisation), window_s };
}
