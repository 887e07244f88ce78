/**
 * The memory probe: which DIMMs are installed, on how many channels, at what speed, and whether
 * the XMP/EXPO profile is on (doctor checks 13, 13b and 15a; the `ram` and `xmp` health keys).
 *
 * Reads `/sys/firmware/dmi/tables/DMI`, the raw SMBIOS structure table (mode 0400: root only;
 * absent in most VMs), and decodes its type 17 memory devices with {@link decodeSmbiosTable}.
 * Speeds are MT/s, sizes MiB. Unlike RigForge, which printed 0 for anything unknown, every
 * unknown value here is `null` with its reason.
 *
 * @module
 */

import { exists, machinePath, readBytes } from "./read.ts";
import {
  decodeMemoryDevice,
  decodeSmbiosTable,
  MAX_TABLE_BYTES,
  type MemoryDevice,
} from "./smbios.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

/** The machine path of the SMBIOS structure table. */
export const DMI_TABLE_PATH = "/sys/firmware/dmi/tables/DMI";

/** The memory layout from SMBIOS. */
export interface MemoryRecord {
  /** Populated DIMMs (a type 17 device with a known, non-zero size). */
  modules: number | null;
  /** Memory channels in use, by {@link countChannels}. */
  channels: number | null;
  /** The slowest configured (running) speed over populated DIMMs, MT/s. */
  configured_mts: number | null;
  /** The fastest rated speed over populated DIMMs (SPD/XMP/EXPO `Speed`), MT/s. */
  rated_mts: number | null;
  /**
   * XMP/EXPO verdict: `true` when configured >= rated (the profile runs), `false` when
   * configured < rated (profile off, RAM at JEDEC default); `null` unless both are known.
   */
  profile_enabled: boolean | null;
  /** The populated DIMMs, in table order. */
  dimms: MemoryDevice[] | null;
  /** Why each `null` field is `null` (`dimms.<i>.<field>` for a DIMM's fields). */
  reasons: Reasons;
}

/** A module counts as populated when its size is known and non-zero (RigForge's rule). */
function populated(d: MemoryDevice): boolean {
  return d.size_mb !== null && d.size_mb > 0;
}

/**
 * The channel letter a slot name carries: an explicit `Channel X` token
 * (`ChannelA-DIMM0`, `P0 CHANNEL A`), else the letter right before the trailing digits
 * (`DIMM_A1` → `A`, `DIMMB2` → `B`, `DIMM_P0_C0` → `C`). The `M` of a bare `DIMM0` is not a
 * channel letter.
 *
 * @param locator a Device Locator string
 * @returns the upper-case letter, or `null`
 */
export function channelLetter(locator: string): string | null {
  const explicit = /CHANNEL[\s_-]*([A-Z])(?![A-Z])/i.exec(locator);
  if (explicit) return explicit[1]!.toUpperCase();
  const trailing = /(?:^|[^A-Z]|DIMM)([A-Z])\d+$/i.exec(locator.trim());
  return trailing ? trailing[1]!.toUpperCase() : null;
}

/**
 * Counts memory channels, RigForge's rule: the larger of the number of distinct Bank Locator
 * values and the number of distinct channel letters from the Locators ({@link channelLetter}).
 * One refinement: bank locators of the bare `BANK <n>` form (AMI firmware numbers each slot
 * that way on Intel boards, so four slots on two channels read `BANK 0`..`BANK 3`) are counted
 * only when no Locator carries a channel letter.
 *
 * @param dimms the populated DIMMs
 * @returns the count, or `null` when neither source says anything
 */
export function countChannels(dimms: readonly MemoryDevice[]): number | null {
  const letters = new Set<string>();
  const banks = new Set<string>();
  const slotBanks = new Set<string>();
  for (const d of dimms) {
    const letter = d.locator === null ? null : channelLetter(d.locator);
    if (letter !== null) letters.add(letter);
    if (d.bank_locator === null) continue;
    const bank = d.bank_locator.toUpperCase();
    if (/^BANK\s*\d+$/.test(bank)) slotBanks.add(bank);
    else banks.add(bank);
  }
  const bankCount = banks.size + (letters.size === 0 ? slotBanks.size : 0);
  const count = Math.max(letters.size, bankCount);
  return count === 0 ? null : count;
}

/**
 * Summarises decoded memory devices into the record (everything but the read).
 *
 * @param devices every type 17 device in the table, populated or not
 * @returns the record
 */
export function summariseMemory(devices: readonly MemoryDevice[]): MemoryRecord {
  const reasons: Reasons = {};
  if (devices.length === 0) {
    for (const key of ["modules", "channels", "configured_mts", "rated_mts", "profile_enabled"]) {
      reasons[key] = "absent";
    }
    return {
      modules: null,
      channels: null,
      configured_mts: null,
      rated_mts: null,
      profile_enabled: null,
      dimms: [],
      reasons,
    };
  }
  const dimms = devices.filter(populated);
  dimms.forEach((d, i) => {
    for (const [field, value] of Object.entries(d)) {
      if (value === null) reasons[`dimms.${i}.${field}`] = "absent";
    }
  });
  const configured = dimms.map((d) => d.configured_mts).filter((v): v is number => v !== null);
  const rated = dimms.map((d) => d.speed_mts).filter((v): v is number => v !== null);
  const channels = countChannels(dimms);
  const configuredMts = configured.length > 0 ? Math.min(...configured) : null;
  const ratedMts = rated.length > 0 ? Math.max(...rated) : null;
  if (channels === null) reasons["channels"] = "absent";
  if (configuredMts === null) reasons["configured_mts"] = "absent";
  if (ratedMts === null) reasons["rated_mts"] = "absent";
  const profile = configuredMts !== null && ratedMts !== null ? configuredMts >= ratedMts : null;
  if (profile === null) reasons["profile_enabled"] = "absent";
  return {
    modules: dimms.length,
    channels,
    configured_mts: configuredMts,
    rated_mts: ratedMts,
    profile_enabled: profile,
    dimms,
    reasons,
  };
}

/** A record whose every field is unknown for one reason. */
function unknown(reason: NullReason): MemoryRecord {
  const reasons: Reasons = {};
  for (const key of ["modules", "channels", "configured_mts", "rated_mts", "profile_enabled"]) {
    reasons[key] = reason;
  }
  reasons["dimms"] = reason;
  return {
    modules: null,
    channels: null,
    configured_mts: null,
    rated_mts: null,
    profile_enabled: null,
    dimms: null,
    reasons,
  };
}

/**
 * Reads and decodes the SMBIOS table under the context's root. Not root: the table is not
 * opened; every field is `needs-root`, or `absent` when the table does not exist at all.
 *
 * @param ctx the probe context
 * @returns the record
 */
async function collectMemory(ctx: ProbeContext): Promise<MemoryRecord> {
  const path = machinePath(ctx, DMI_TABLE_PATH);
  if (!ctx.isRoot) return unknown(await exists(path) ? "needs-root" : "absent");
  const bytes = await readBytes(path, { maxBytes: MAX_TABLE_BYTES, isRoot: true });
  if (!bytes.ok) return unknown(bytes.reason);
  let devices: MemoryDevice[];
  try {
    devices = decodeSmbiosTable(bytes.value)
      .map(decodeMemoryDevice)
      .filter((d): d is MemoryDevice => d !== null);
  } catch (error) {
    if (error instanceof SyntaxError) return unknown("corrupt");
    throw error;
  }
  return summariseMemory(devices);
}

/** The memory probe (`memory` in the snapshot). Root-only for real data. */
export const memoryProbe: Probe<MemoryRecord> = {
  name: "memory",
  collect: collectMemory,
};
