/**
 * The MSR registers of XMRig's RandomX presets and their read-back: the preset table (values
 * and compared bits, as in XMRig 6.26.0), which preset a CPU needs, positioned 8-byte reads
 * from `/dev/cpu/N/msr` (or a fixture image file) and the comparison with the preset.
 *
 * @module
 */

import { closeSync, openSync, readSync } from "node:fs";
import type { CpuIdentity } from "./cpu.ts";
import { reasonOf } from "./read.ts";
import type { NullReason } from "./types.ts";

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

/**
 * The preset XMRig 6.26.0 picks for a CPU: AuthenticAMD family 23 (0x17) → `ryzen_17h`;
 * family 25 (0x19) models 97 (0x61) and 117 (0x75) → `ryzen_19h_zen4`, every other family 25
 * model → `ryzen_19h`; family 26 (0x1a) → `ryzen_1Ah_zen5`; GenuineIntel → `intel`; anything
 * else → `none`. Source: XMRig v6.26.0 `src/backend/cpu/platform/BasicCpuInfo.cpp`, the
 * `case 0x19:` branch of the AMD family switch (Zen 4, and with it the `ryzen_19h_zen4` MSR
 * preset, only for models 0x61 and 0x75; every other family 0x19 model gets `ryzen_19h`). RigForge's
 * `_msr_detect_preset` maps all of models 96-127 to `ryzen_19h_zen4`, which differs from XMRig
 * for e.g. model 116; the MSR probe therefore prefers the preset XMRig's log names.
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
  return model === 0x61 || model === 0x75 ? "ryzen_19h_zen4" : "ryzen_19h";
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
