/**
 * The hugepages probe: how many huge pages the kernel has reserved for XMRig's RandomX dataset
 * and scratchpads (doctor checks 2 and 3).
 *
 * Reads, world-readable:
 * - `/proc/meminfo`: `HugePages_Total`, `HugePages_Free`, `HugePages_Rsvd`, `HugePages_Surp`
 *   (counts of default-size pages), `Hugepagesize` and `MemTotal` (kB).
 * - `/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages` and `free_hugepages`: 1 GiB
 *   pages (counts). The directory exists only when the CPU has `pdpe1gb`.
 *
 * @module
 */

import { machinePath, readInteger, readText } from "./read.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

/** Huge page reservation, from `/proc/meminfo` and the 1 GiB hugepages sysfs directory. */
export interface HugepagesRecord {
  /** `HugePages_Total`: default-size huge pages reserved (count). */
  total: number | null;
  /** `HugePages_Free`: default-size huge pages not in use (count). */
  free: number | null;
  /** `HugePages_Rsvd`: pages promised to a mapping but not yet faulted in (count). */
  reserved: number | null;
  /** `HugePages_Surp`: pages above the reservation, from overcommit (count). */
  surplus: number | null;
  /** `Hugepagesize`: the default huge page size, kB (2048 on x86-64 unless changed at boot). */
  size_kb: number | null;
  /** `hugepages-1048576kB/nr_hugepages`: 1 GiB pages reserved (count). */
  pages_1g: number | null;
  /** `hugepages-1048576kB/free_hugepages`: 1 GiB pages not in use (count). */
  free_1g: number | null;
  /** `MemTotal`: usable RAM, kB. */
  mem_total_kb: number | null;
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

const MEMINFO_FIELDS = {
  total: "HugePages_Total",
  free: "HugePages_Free",
  reserved: "HugePages_Rsvd",
  surplus: "HugePages_Surp",
  size_kb: "Hugepagesize",
  mem_total_kb: "MemTotal",
} as const;

const GIGANTIC_DIR = "/sys/kernel/mm/hugepages/hugepages-1048576kB";

/**
 * Parses `/proc/meminfo` into key → value, the value as written: kB for the sized keys
 * (`MemTotal:       24683620 kB` gives 24683620), a count for the `HugePages_*` keys.
 *
 * @param text the file's content
 * @returns the values by key, in file order
 * @throws {SyntaxError} on a line that is not `Key: <integer>` with an optional `kB` unit
 */
export function parseMeminfo(text: string): Map<string, number> {
  const values = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.trim() === "") continue;
    const match = /^([A-Za-z0-9_()]+):\s+(\d{1,20})(?: kB)?\s*$/.exec(line);
    const value = match ? Number(match[2]) : NaN;
    if (!match || !Number.isSafeInteger(value)) {
      throw new SyntaxError(`Cannot parse /proc/meminfo: line ${i + 1} is malformed`);
    }
    if (!values.has(match[1] as string)) values.set(match[1] as string, value);
  }
  return values;
}

async function readMeminfo(ctx: ProbeContext): Promise<Map<string, number> | NullReason> {
  const text = await readText(machinePath(ctx, "/proc/meminfo"), { maxBytes: 64 * 1024 });
  if (!text.ok) return text.reason;
  try {
    return parseMeminfo(text.value);
  } catch {
    return "corrupt";
  }
}

async function collect(ctx: ProbeContext): Promise<HugepagesRecord> {
  const reasons: Reasons = {};
  const [meminfo, pages1g, free1g] = await Promise.all([
    readMeminfo(ctx),
    readInteger(machinePath(ctx, `${GIGANTIC_DIR}/nr_hugepages`)),
    readInteger(machinePath(ctx, `${GIGANTIC_DIR}/free_hugepages`)),
  ]);
  const field = (name: keyof typeof MEMINFO_FIELDS): number | null => {
    if (typeof meminfo === "string") {
      reasons[name] = meminfo;
      return null;
    }
    const value = meminfo.get(MEMINFO_FIELDS[name]);
    if (value === undefined) reasons[name] = "absent";
    return value ?? null;
  };
  const record: HugepagesRecord = {
    total: field("total"),
    free: field("free"),
    reserved: field("reserved"),
    surplus: field("surplus"),
    size_kb: field("size_kb"),
    pages_1g: pages1g.ok ? pages1g.value : null,
    free_1g: free1g.ok ? free1g.value : null,
    mem_total_kb: field("mem_total_kb"),
    reasons,
  };
  if (!pages1g.ok) reasons["pages_1g"] = pages1g.reason;
  if (!free1g.ok) reasons["free_1g"] = free1g.reason;
  return record;
}

/** Reads `/proc/meminfo` and the 1 GiB hugepages counters; needs no privileges. */
export const hugepagesProbe: Probe<HugepagesRecord> = { name: "hugepages", collect };
