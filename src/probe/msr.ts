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
 * @module
 */

import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { type CpuIdentity, parseCpuinfo } from "./cpu.ts";
import { exists, machinePath, readText, reasonOf } from "./read.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

/** XMRig's MSR presets (`cpu.msr` in its API), `none` for CPUs without one. */
export type MsrPreset =
  | "ryzen_17h"
  | "ryzen_19h"
  | "ryzen_19h_zen4"
  | "ryzen_1Ah_zen5"
  | "intel"
  | "none";

/** One register a preset writes: the value and the bits that matter. */
export interface MsrRegister {
  /** Register number, e.g. `0xc0011020n` (also the byte offset into `/dev/cpu/N/msr`). */
  reg: bigint;
  /** The value XMRig writes. */
  value: bigint;
  /** Bits compared on read-back; all ones for the whole register. */
  mask: bigint;
}

const WHOLE = 0xffff_ffff_ffff_ffffn;
const NOT_BIT5 = 0xffff_ffff_ffff_ffdfn;

const ZEN4_ZEN5: readonly MsrRegister[] = [
  { reg: 0xc0011020n, value: 0x0004_4000_0000_0000n, mask: WHOLE },
  { reg: 0xc0011021n, value: 0x0004_0000_0000_0040n, mask: NOT_BIT5 },
  { reg: 0xc0011022n, value: 0x8680_0004_0157_0000n, mask: WHOLE },
  { reg: 0xc001102bn, value: 0x0000_0000_2040_cc10n, mask: WHOLE },
];

/**
 * The registers each preset writes, with values and masks as in XMRig 6.26.0 (`RxConfig`);
 * RigForge's `_msr_preset_regs` table. `none` writes nothing.
 */
export const PRESET_REGISTERS: Readonly<Record<MsrPreset, readonly MsrRegister[]>> = {
  ryzen_19h_zen4: ZEN4_ZEN5,
  ryzen_1Ah_zen5: ZEN4_ZEN5,
  ryzen_19h: [
    { reg: 0xc0011020n, value: 0x0004_4800_0000_0000n, mask: WHOLE },
    { reg: 0xc0011021n, value: 0x001c_0002_0000_0040n, mask: NOT_BIT5 },
    { reg: 0xc0011022n, value: 0xc000_0004_0157_0000n, mask: WHOLE },
    { reg: 0xc001102bn, value: 0x0000_0000_2000_cc10n, mask: WHOLE },
  ],
  ryzen_17h: [
    { reg: 0xc0011020n, value: 0x0000_0000_0000_0000n, mask: WHOLE },
    { reg: 0xc0011021n, value: 0x0000_0000_0000_0040n, mask: NOT_BIT5 },
    { reg: 0xc0011022n, value: 0x0000_0000_0151_0000n, mask: WHOLE },
    { reg: 0xc001102bn, value: 0x0000_0000_2000_cc16n, mask: WHOLE },
  ],
  intel: [{ reg: 0x1a4n, value: 0xfn, mask: WHOLE }],
  none: [],
};

const PRESETS = new Set<string>(Object.keys(PRESET_REGISTERS));

/**
 * The preset XMRig picks for a CPU (RigForge's `_msr_detect_preset`): AuthenticAMD family 23
 * (0x17) → `ryzen_17h`; family 25 (0x19) models 96-127 (0x60-0x7f) → `ryzen_19h_zen4`, other
 * family 25 models → `ryzen_19h`; family 26 (0x1a) → `ryzen_1Ah_zen5`; GenuineIntel →
 * `intel`; anything else → `none`.
 *
 * @param identity `vendor_id`, `cpu family` and `model` from `/proc/cpuinfo` (decimal)
 * @returns the preset, or `null` when the vendor, or an AMD CPU's family or model, is unknown
 */
export function presetFor(
  identity: Pick<CpuIdentity, "vendor" | "family" | "model">,
): MsrPreset | null {
  const { vendor, family, model } = identity;
  if (vendor === null) return null;
  if (vendor === "GenuineIntel") return "intel";
  if (vendor !== "AuthenticAMD") return "none";
  if (family === null) return null;
  if (family === 23) return "ryzen_17h";
  if (family === 26) return "ryzen_1Ah_zen5";
  if (family !== 25) return "none";
  if (model === null) return null;
  return model >= 96 && model <= 127 ? "ryzen_19h_zen4" : "ryzen_19h";
}

/** What XMRig's log says about the MSR mod since its last start. */
export interface MsrLogStatus {
  /** `applied` (success line), `failed` (a failure line) or `none` (no MSR line yet). */
  status: "applied" | "failed" | "none";
  /** The preset named by the success line; `null` otherwise. */
  preset: string | null;
  /** The deciding line, trimmed, at most 200 characters; `null` for `none`. */
  line: string | null;
}

/** The longest log line returned in {@link MsrLogStatus.line}. */
export const MAX_LOG_LINE = 200;
/** How much of the end of `xmrig.log` is read, in bytes. */
export const LOG_TAIL_BYTES = 1024 * 1024;

/** XMRig's start banner line (`* ABOUT        XMRig/6.26.0 gcc/12.2.0 ...`), printed at each start. */
const BANNER = " * ABOUT";
const SUCCESS = /register values for "([A-Za-z0-9_]{1,32})" preset have been set successfully/;
const FAILURES = [
  "FAILED TO APPLY MSR MOD",
  "cannot set MSR",
  "cannot read MSR",
  "msr kernel module is not available",
];
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * Reads XMRig's verdict on the MSR mod from its log text. Only lines after the last start
 * banner (a line containing ` * ABOUT`) count, so an old success before a restart does not;
 * among those, the last MSR line decides: `register values for "<preset>" preset have been
 * set successfully` → `applied`; `FAILED TO APPLY MSR MOD`, `cannot set MSR`,
 * `cannot read MSR` or `msr kernel module is not available` → `failed`. ANSI colour codes are
 * ignored; other control characters in the returned line become `.`.
 *
 * @param text the log (or its tail)
 * @returns the status
 */
export function parseMsrLog(text: string): MsrLogStatus {
  const lines = text.split("\n").map((line) => line.replace(ANSI, ""));
  let start = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.includes(BANNER)) {
      start = i + 1;
      break;
    }
  }
  let status: MsrLogStatus = { status: "none", preset: null, line: null };
  for (let i = start; i < lines.length; i++) {
    const line = lines[i]!;
    const success = SUCCESS.exec(line);
    if (success) {
      status = { status: "applied", preset: success[1]!, line: clip(line) };
    } else if (FAILURES.some((failure) => line.includes(failure))) {
      status = { status: "failed", preset: null, line: clip(line) };
    }
  }
  return status;
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/g;

/** The line as reported: control characters (left after ANSI stripping) shown as `.`. */
function clip(line: string): string {
  return line.trim().replace(CONTROL, ".").slice(0, MAX_LOG_LINE);
}

/** One register read back. */
export interface RegisterCheck {
  /** Register number, `0x` + 8 lower-case hex digits (`0xc0011020`). */
  register: string;
  /** The preset's value, `0x` + 16 lower-case hex digits. */
  expected: string;
  /** The compared bits, `0x` + 16 lower-case hex digits. */
  mask: string;
  /** The value read, `0x` + 16 hex digits; `null` when the read failed. */
  actual: string | null;
  /** `(actual & mask) === (expected & mask)`; `null` when unread. */
  match: boolean | null;
}

/** The read-back of a preset's registers on CPU 0. */
export interface MsrReadback {
  registers: RegisterCheck[];
  /** Registers that match. */
  matched: number;
  /** Registers in the preset. */
  total: number;
  /** Registers that could not be read (not a mismatch). */
  unreadable: number;
}

/** Overall MSR verdict. */
export type MsrVerdict = "applied" | "failed" | "not-applied" | "unverified";

/** The MSR record. */
export interface MsrRecord {
  /** The msr driver is present: `/sys/module/msr` or `/dev/cpu/0/msr` exists (built-in too). */
  module_loaded: boolean | null;
  /** The preset this CPU needs ({@link presetFor}); the log's when `/proc/cpuinfo` is unusable. */
  preset: MsrPreset | null;
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
 * Formats a 64-bit value as `0x` + 16 lower-case hex digits.
 *
 * @param value the value
 * @returns the text
 */
export function hex64(value: bigint): string {
  return `0x${BigInt.asUintN(64, value).toString(16).padStart(16, "0")}`;
}

/**
 * Compares one register's read value with the preset.
 *
 * @param register the preset's register
 * @param actual the value read, or `null` when unreadable
 * @returns the check
 */
export function checkRegister(register: MsrRegister, actual: bigint | null): RegisterCheck {
  return {
    register: `0x${register.reg.toString(16).padStart(8, "0")}`,
    expected: hex64(register.value),
    mask: hex64(register.mask),
    actual: actual === null ? null : hex64(actual),
    match: actual === null ? null : (actual & register.mask) === (register.value & register.mask),
  };
}

/**
 * Summarises register checks.
 *
 * @param registers the checks
 * @returns the read-back
 */
export function summariseReadback(registers: RegisterCheck[]): MsrReadback {
  return {
    registers,
    matched: registers.filter((r) => r.match === true).length,
    total: registers.length,
    unreadable: registers.filter((r) => r.match === null).length,
  };
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

/** A Node-style error's `code` → a null reason. */
function nodeReason(error: unknown, isRoot: boolean): NullReason {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT" || code === "ENOTDIR" || code === "ENXIO" || code === "ENODEV") {
    return "absent";
  }
  if (code === "EACCES" || code === "EPERM") return isRoot ? "unreadable" : "needs-root";
  return reasonOf(error, isRoot);
}

/**
 * Reads the last `maxBytes` of a regular file with one positioned read, dropping the partial
 * first line when the tail starts mid-file. Not a regular file (a FIFO, a device) →
 * `unreadable`.
 *
 * @param path the file
 * @param maxBytes how much of the end to read
 * @param isRoot whether the process is root
 * @returns the text, or a reason
 */
export async function readTail(
  path: string,
  maxBytes: number,
  isRoot: boolean,
): Promise<{ ok: true; value: string } | { ok: false; reason: NullReason }> {
  let file: Deno.FsFile | undefined;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return { ok: false, reason: "unreadable" };
    file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    const start = Math.max(0, size - maxBytes);
    const buffer = new Uint8Array(size - start);
    await file.seek(start, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < buffer.length) {
      const n = await file.read(buffer.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    let text = new TextDecoder().decode(buffer.subarray(0, filled));
    if (start > 0) text = text.slice(text.indexOf("\n") + 1);
    return { ok: true, value: text };
  } catch (error) {
    return { ok: false, reason: reasonOf(error, isRoot) };
  } finally {
    try {
      file?.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Bytes per register in an MSR image file. The device reads 8 bytes at offset = register, but
 * a file cannot: registers are numbered one apart (0xc0011020, 0xc0011021, ...), so their
 * 8-byte values would overlap. A regular file standing in for `/dev/cpu/N/msr` (fixture roots,
 * `--root` captures) therefore holds register `r` at offset `r * 8`, sparse.
 */
export const MSR_IMAGE_STRIDE = 8n;

/**
 * Where a register's 8 bytes are: offset = register number on the character device, register
 * number × {@link MSR_IMAGE_STRIDE} in a regular image file.
 *
 * @param reg the register number
 * @param image whether the path is a regular file (an image) rather than the device
 * @returns the byte offset
 */
export function msrOffset(reg: bigint, image: boolean): bigint {
  return image ? reg * MSR_IMAGE_STRIDE : reg;
}

/**
 * Reads registers from an msr device (`/dev/cpu/N/msr`): one 8-byte `pread` per register at
 * {@link msrOffset}, little-endian. A failed or short read leaves that register `null`.
 *
 * @param path the device (or, in fixtures, an image file, see {@link MSR_IMAGE_STRIDE})
 * @param registers the registers to read
 * @param isRoot whether the process is root
 * @returns the values in order, or a reason when the device cannot be opened
 */
export async function readRegisters(
  path: string,
  registers: readonly MsrRegister[],
  isRoot: boolean,
): Promise<{ ok: true; value: (bigint | null)[] } | { ok: false; reason: NullReason }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    return { ok: false, reason: reasonOf(error, isRoot) };
  }
  if (!info.isFile && !info.isCharDevice) return { ok: false, reason: "unreadable" };
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    return { ok: false, reason: nodeReason(error, isRoot) };
  }
  try {
    const buffer = new Uint8Array(8);
    const view = new DataView(buffer.buffer);
    return {
      ok: true,
      value: registers.map((register) => {
        try {
          const n = readSync(fd, buffer, 0, 8, msrOffset(register.reg, info.isFile));
          return n === 8 ? view.getBigUint64(0, true) : null;
        } catch {
          return null;
        }
      }),
    };
  } finally {
    closeSync(fd);
  }
}

/** The device node of CPU 0's MSRs. */
export const MSR_DEVICE = "/dev/cpu/0/msr";

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
  return parseMsrLog(tail.value);
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
  const [module_loaded, detected, log] = await Promise.all([
    collectModule(ctx, reasons),
    collectPreset(ctx, reasons),
    collectLog(ctx, reasons),
  ]);
  let preset = detected;
  if (preset === null && log !== null && log.preset !== null && PRESETS.has(log.preset)) {
    preset = log.preset as MsrPreset;
    delete reasons["preset"];
  }
  const readback = await collectReadback(ctx, preset, reasons);
  return { module_loaded, preset, log, readback, verdict: msrVerdict(log, readback), reasons };
}

/** The MSR probe (`msr` in the snapshot). Register read-back only as root. */
export const msrProbe: Probe<MsrRecord> = {
  name: "msr",
  collect: collectMsr,
};
