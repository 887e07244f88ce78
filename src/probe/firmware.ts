/**
 * The firmware probe: board and BIOS identity for doctor's firmware context (check 15) and the
 * vendor-specific BIOS menu hints.
 *
 * Reads the world-readable DMI strings the kernel decodes from SMBIOS:
 * `/sys/class/dmi/id/{board_vendor,board_name,bios_vendor,bios_version,bios_date,product_name,
 * sys_vendor}`. Serial numbers and UUIDs (root-only there) are never read. An empty string, as
 * firmware leaves unfilled fields, is `null` with `absent`; so is the whole directory on machines
 * without DMI (most VMs, many ARM boards).
 *
 * @module
 */

import { dropControl } from "../lib/text.ts";
import { machinePath, readAttribute } from "./read.ts";
import type { Probe, ProbeContext, Reasons } from "./types.ts";

/** Board, BIOS and system identity from `/sys/class/dmi/id`. */
export interface FirmwareRecord {
  /** `board_vendor`, e.g. `ASUSTeK COMPUTER INC.`. */
  board_vendor: string | null;
  /** `board_name`, e.g. `ROG STRIX X670E-E GAMING WIFI`. */
  board_name: string | null;
  /** `bios_vendor`, e.g. `American Megatrends Inc.`. */
  bios_vendor: string | null;
  /** `bios_version`, e.g. `1813`. */
  bios_version: string | null;
  /** `bios_date`, as the firmware writes it (`MM/DD/YYYY`). */
  bios_date: string | null;
  /** `product_name` (on DIY desktops often a placeholder such as `System Product Name`). */
  product_name: string | null;
  /** `sys_vendor`. */
  sys_vendor: string | null;
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

/** The DMI attributes read, all mode 0444. */
export const DMI_FIELDS = [
  "board_vendor",
  "board_name",
  "bios_vendor",
  "bios_version",
  "bios_date",
  "product_name",
  "sys_vendor",
] as const;

/**
 * Cleans a DMI string for display: drops control characters (a hostile or broken SMBIOS table
 * must not inject terminal escapes into doctor's output) and caps the length.
 *
 * @param raw the attribute's content
 * @returns the cleaned string, or `null` when nothing printable remains
 */
export function cleanDmiString(raw: string): string | null {
  const clean = dropControl(raw).trim().slice(0, 128);
  return clean === "" ? null : clean;
}

async function collect(ctx: ProbeContext): Promise<FirmwareRecord> {
  const reasons: Reasons = {};
  const values = await Promise.all(DMI_FIELDS.map(async (field) => {
    const text = await readAttribute(machinePath(ctx, `/sys/class/dmi/id/${field}`), {
      isRoot: ctx.isRoot,
    });
    const value = text.ok ? cleanDmiString(text.value) : null;
    if (value === null) reasons[field] = text.ok ? "absent" : text.reason;
    return [field, value] as const;
  }));
  const record = Object.fromEntries(values) as Record<(typeof DMI_FIELDS)[number], string | null>;
  return { ...record, reasons };
}

/** Reads board and BIOS identity from DMI; needs no privileges. */
export const firmwareProbe: Probe<FirmwareRecord> = { name: "firmware", collect };
