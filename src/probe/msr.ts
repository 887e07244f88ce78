/**
 * The MSR probe: whether XMRig's MSR mod (the RandomX register preset, worth 10-15 % hashrate)
 * is in effect (doctor checks 5, 10, 11 and 11a; the `msr` health key).
 *
 * Three sources, strongest first:
 * - the registers themselves, read back from `/dev/cpu/0/msr` (root only; `CAP_SYS_RAWIO`):
 *   an 8-byte `pread` at offset = register number gives the little-endian 64-bit value
 *   (a regular file there is a fixture image instead, see {@link msrOffset});
 * - XMRig's log, `<worker root>/xmrig.log`: the last MSR line since the last start banner
 *   (only the last 1 MiB is read; RigForge appends the log across restarts, up to ~50 MB);
 * - `/sys/module/msr` (the kernel module is loaded) and `/proc/cpuinfo` (which preset the CPU
 *   needs, by XMRig's family/model table).
 *
 * The log is parsed in `msr_log.ts`; the preset table, the register reads and their comparison
 * live in `msr_registers.ts`. This module collects, decides the verdict and re-exports both
 * under its historical path.
 *
 * @module
 */

import { join } from "node:path";
import { parseCpuinfo } from "./cpu.ts";
import { LOG_TAIL_BYTES, readTail } from "./log_tail.ts";
import { type MsrLogStatus, parseMsrLog } from "./msr_log.ts";
import {
  checkRegister,
  MSR_DEVICE,
  type MsrPreset,
  type MsrReadback,
  PRESET_REGISTERS,
  presetFor,
  readRegisters,
  summariseReadback,
} from "./msr_registers.ts";
import { exists, machinePath, readText } from "./read.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

const PRESETS = new Set<string>(Object.keys(PRESET_REGISTERS));

/** Overall MSR verdict. */
export type MsrVerdict = "applied" | "failed" | "not-applied" | "unverified";

/** The MSR record. */
export interface MsrRecord {
  /** The msr driver is present: `/sys/module/msr` or `/dev/cpu/0/msr` exists (built-in too). */
  module_loaded: boolean | null;
  /**
   * The preset the registers are read back against: the one XMRig's log says it applied since
   * its last start; when the log names none, {@link cpu_preset}.
   */
  preset: MsrPreset | null;
  /** Where {@link preset} came from: `log` (XMRig's success line) or `cpu` (XMRig's rules). */
  preset_source: "log" | "cpu" | null;
  /** The preset XMRig 6.26.0 picks for this CPU ({@link presetFor} over `/proc/cpuinfo`). */
  cpu_preset: MsrPreset | null;
  /**
   * RigForge's root-side preset, `<worker root>/.rigforge-msr-preset` (written by `msr-apply`
   * only when `miner_user` is set; doctor check 5). `null` with reason `absent` when no file.
   */
  rigforge_preset: string | null;
  /**
   * Whether the known presets (log, CPU rule, RigForge's file) all name the same preset;
   * `null` when fewer than two are known.
   */
  presets_agree: boolean | null;
  /** XMRig's log verdict since its last start. */
  log: MsrLogStatus | null;
  /** The preset's registers read back on CPU 0 (root only). */
  readback: MsrReadback | null;
  /** See {@link msrVerdict}. */
  verdict: MsrVerdict;
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

/**
 * The verdict. The registers win when read: any mismatch → `failed`; all matching →
 * `applied`. Otherwise the log decides: `failed` → `failed`; `applied` → `unverified` (XMRig
 * says so, the registers were not read); no MSR line or no log → `not-applied`.
 *
 * @param log the log status, or `null`
 * @param readback the read-back, or `null`
 * @returns the verdict
 */
export function msrVerdict(log: MsrLogStatus | null, readback: MsrReadback | null): MsrVerdict {
  if (readback !== null) {
    if (readback.registers.some((r) => r.match === false)) return "failed";
    if (readback.total > 0 && readback.matched === readback.total) return "applied";
  }
  if (log?.status === "failed") return "failed";
  if (log?.status === "applied") return "unverified";
  return "not-applied";
}

async function collectModule(ctx: ProbeContext, reasons: Reasons): Promise<boolean | null> {
  if (await exists(machinePath(ctx, "/sys/module/msr"))) return true;
  if (await exists(machinePath(ctx, MSR_DEVICE))) return true;
  if (await exists(machinePath(ctx, "/sys/module"))) return false;
  reasons["module_loaded"] = "unsupported";
  return null;
}

async function collectPreset(ctx: ProbeContext, reasons: Reasons): Promise<MsrPreset | null> {
  const text = await readText(machinePath(ctx, "/proc/cpuinfo"), { isRoot: ctx.isRoot });
  if (!text.ok) {
    reasons["preset"] = text.reason;
    return null;
  }
  try {
    const preset = presetFor(parseCpuinfo(text.value));
    if (preset === null) reasons["preset"] = "absent";
    return preset;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    reasons["preset"] = "corrupt";
    return null;
  }
}

/** RigForge's root-side preset file, under the worker root. */
export const RIGFORGE_PRESET_FILE = ".rigforge-msr-preset";

async function collectRigforgePreset(ctx: ProbeContext, reasons: Reasons): Promise<string | null> {
  const worker = ctx.rigforge?.workerRoot ?? null;
  if (worker === null) {
    reasons["rigforge_preset"] = "absent";
    return null;
  }
  const text = await readText(join(worker, RIGFORGE_PRESET_FILE), { isRoot: ctx.isRoot });
  if (!text.ok) {
    reasons["rigforge_preset"] = text.reason;
    return null;
  }
  const name = text.value.trim();
  if (!PRESETS.has(name)) {
    reasons["rigforge_preset"] = "corrupt";
    return null;
  }
  return name;
}

/**
 * Whether the presets named by XMRig's log, XMRig's CPU rule and RigForge's file agree.
 *
 * @param names the known presets (`null`: not known)
 * @returns `true`/`false`, or `null` when fewer than two are known
 */
export function presetsAgree(names: readonly (string | null)[]): boolean | null {
  const known = names.filter((n): n is string => n !== null);
  if (known.length < 2) return null;
  return known.every((n) => n === known[0]);
}

async function collectLog(ctx: ProbeContext, reasons: Reasons): Promise<MsrLogStatus | null> {
  const worker = ctx.rigforge?.workerRoot ?? null;
  if (worker === null) {
    reasons["log"] = "absent";
    return null;
  }
  const tail = await readTail(join(worker, "xmrig.log"), LOG_TAIL_BYTES, ctx.isRoot);
  if (!tail.ok) {
    reasons["log"] = tail.reason;
    return null;
  }
  const log = parseMsrLog(tail.value);
  // A failure line or no MSR line names no preset and has no deciding line.
  if (log.preset === null) reasons["log.preset"] = "absent";
  if (log.line === null) reasons["log.line"] = "absent";
  return log;
}

async function collectReadback(
  ctx: ProbeContext,
  preset: MsrPreset | null,
  reasons: Reasons,
): Promise<MsrReadback | null> {
  const device = machinePath(ctx, MSR_DEVICE);
  let reason: NullReason | null = null;
  if (!ctx.isRoot) reason = await exists(device) ? "needs-root" : "absent";
  else if (preset === null) reason = reasons["preset"] ?? "absent";
  else if (preset === "none") reason = "unsupported";
  if (reason !== null || preset === null) {
    reasons["readback"] = reason ?? "absent";
    return null;
  }
  const registers = PRESET_REGISTERS[preset];
  const values = await readRegisters(device, registers, ctx.isRoot);
  if (!values.ok) {
    reasons["readback"] = values.reason;
    return null;
  }
  const readback = summariseReadback(
    registers.map((register, i) => checkRegister(register, values.value[i] ?? null)),
  );
  readback.registers.forEach((r, i) => {
    if (r.actual === null) {
      reasons[`readback.registers.${i}.actual`] = "unreadable";
      reasons[`readback.registers.${i}.match`] = "unreadable";
    }
  });
  return readback;
}

/**
 * Collects the MSR record under the context's root and RigForge worker root.
 *
 * @param ctx the probe context
 * @returns the record
 */
async function collectMsr(ctx: ProbeContext): Promise<MsrRecord> {
  const reasons: Reasons = {};
  const [module_loaded, cpuPreset, log, rigforgePreset] = await Promise.all([
    collectModule(ctx, reasons),
    collectPreset(ctx, reasons),
    collectLog(ctx, reasons),
    collectRigforgePreset(ctx, reasons),
  ]);
  if (cpuPreset === null) reasons["cpu_preset"] = reasons["preset"] ?? "absent";
  // The reference is what XMRig says it applied; only without that line, XMRig's own rule.
  const logPreset = log?.preset ?? null;
  let preset = cpuPreset;
  let preset_source: MsrRecord["preset_source"] = cpuPreset === null ? null : "cpu";
  if (logPreset !== null && PRESETS.has(logPreset)) {
    preset = logPreset as MsrPreset;
    preset_source = "log";
    delete reasons["preset"];
  }
  if (preset_source === null) reasons["preset_source"] = reasons["preset"] ?? "absent";
  const presets_agree = presetsAgree([logPreset, cpuPreset, rigforgePreset]);
  if (presets_agree === null) reasons["presets_agree"] = "absent";
  const readback = await collectReadback(ctx, preset, reasons);
  return {
    module_loaded,
    preset,
    preset_source,
    cpu_preset: cpuPreset,
    rigforge_preset: rigforgePreset,
    presets_agree,
    log,
    readback,
    verdict: msrVerdict(log, readback),
    reasons,
  };
}

/** The MSR probe (`msr` in the snapshot). Register read-back only as root. */
export const msrProbe: Probe<MsrRecord> = {
  name: "msr",
  collect: collectMsr,
};
