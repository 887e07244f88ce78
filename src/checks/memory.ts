/**
 * Checks on RAM and firmware: layout, speed, the XMP/EXPO profile and the firmware context line
 * (RigForge doctor checks 13, 13b, 15, 15a). The SMBIOS table is root-only: without root these
 * are `needs-root`, never issues.
 *
 * @module
 */

import type { ProbeRecords } from "../probe.ts";
import { MIN_RAM_MTS, SINGLE_CHANNEL_MAX } from "../rigforge/thresholds.ts";
import { type Check, check, missingProbe, reasonOf, unknownCheck } from "./types.ts";

function memoryUnknown(id: string, title: string, records: ProbeRecords, field: string): Check {
  const memory = records.memory;
  const reason = memory === null ? null : reasonOf(memory.reasons, field);
  if (reason === "absent" || reason === "unsupported") {
    return check(id, "info", title, "no SMBIOS memory table (VM?)", { reason });
  }
  return unknownCheck(id, title, reason, "warn");
}

/**
 * Check 13: RAM layout from SMBIOS type 17: populated modules and channels; one channel or
 * fewer is a warning (RandomX is memory-bound; a second channel adds a lot).
 *
 * @param records the probe records
 * @returns the `ram-layout` check
 */
export function ramLayoutCheck(records: ProbeRecords): Check {
  const id = "ram-layout";
  const title = "RAM layout";
  const memory = records.memory;
  if (memory === null) return missingProbe(id, title, "memory");
  const data = { modules: memory.modules, channels: memory.channels };
  if (memory.modules === null) return memoryUnknown(id, title, records, "modules");
  if (memory.modules === 0) {
    return check(id, "warn", title, "no populated memory device in SMBIOS", data);
  }
  if (memory.channels === null) {
    return check(id, "warn", title, `${memory.modules} module(s), channels unknown`, data);
  }
  const what = `${memory.modules} module(s) across ${memory.channels} channel(s)`;
  if (memory.channels <= SINGLE_CHANNEL_MAX) {
    return check(id, "warn", title, `${what}: single-channel, add a module per channel`, data);
  }
  return check(id, "ok", title, what, data);
}

/**
 * Check 13b: the configured (running) RAM speed; below {@link MIN_RAM_MTS} MT/s is a warning
 * ("enable XMP/EXPO").
 *
 * @param records the probe records
 * @returns the `ram-speed` check
 */
export function ramSpeedCheck(records: ProbeRecords): Check {
  const id = "ram-speed";
  const title = "RAM speed";
  const memory = records.memory;
  if (memory === null) return missingProbe(id, title, "memory");
  const data = {
    configured_mts: memory.configured_mts,
    rated_mts: memory.rated_mts,
    min_ram_mts: MIN_RAM_MTS,
  };
  const mts = memory.configured_mts;
  if (mts === null || mts <= 0) {
    const unknown = memoryUnknown(id, title, records, "configured_mts");
    return { ...unknown, data: { ...data, ...unknown.data } };
  }
  const rated = memory.rated_mts === null ? "" : ` (rated ${memory.rated_mts})`;
  if (mts < MIN_RAM_MTS) {
    return check(
      id,
      "warn",
      title,
      `${mts} MT/s${rated}: below ${MIN_RAM_MTS}, enable XMP/EXPO`,
      data,
    );
  }
  return check(id, "ok", title, `${mts} MT/s${rated}`, data);
}

/**
 * Check 15a: the XMP/EXPO/DOCP profile: RAM running below its rated speed is a warning.
 *
 * @param records the probe records
 * @returns the `memory-profile` check
 */
export function memoryProfileCheck(records: ProbeRecords): Check {
  const id = "memory-profile";
  const title = "XMP/EXPO memory profile";
  const memory = records.memory;
  if (memory === null) return missingProbe(id, title, "memory");
  const data = {
    profile_enabled: memory.profile_enabled,
    configured_mts: memory.configured_mts,
    rated_mts: memory.rated_mts,
  };
  if (memory.profile_enabled === null) {
    const reason = reasonOf(memory.reasons, "profile_enabled");
    if (reason === "needs-root") return unknownCheck(id, title, reason, "skipped", data);
    return check(id, "skipped", title, "needs both the configured and the rated speed", {
      ...data,
      reason,
    });
  }
  if (!memory.profile_enabled) {
    return check(
      id,
      "warn",
      title,
      `off: running ${memory.configured_mts} of ${memory.rated_mts} MT/s, enable XMP/EXPO/DOCP`,
      data,
    );
  }
  return check(id, "ok", title, `on (${memory.configured_mts} MT/s)`, data);
}

/**
 * Check 15: firmware context: board, BIOS version and date and the CPU model, pointing at the
 * BIOS items below when there are any. Always `info`; `skipped` when nothing is known.
 *
 * @param records the probe records
 * @param recommendations ids of the BIOS-related checks that recommend a change
 * @param unknown ids of the BIOS-related checks that could not read their value (needs root,
 *   unreadable): the line then says it cannot tell, never "no BIOS changes recommended"
 * @returns the `firmware` check
 */
export function firmwareCheck(
  records: ProbeRecords,
  recommendations: string[],
  unknown: string[] = [],
): Check {
  const id = "firmware";
  const title = "Firmware";
  const fw = records.firmware;
  const model = records.cpu?.model_name ?? null;
  const data = {
    board_vendor: fw?.board_vendor ?? null,
    board_name: fw?.board_name ?? null,
    bios_vendor: fw?.bios_vendor ?? null,
    bios_version: fw?.bios_version ?? null,
    bios_date: fw?.bios_date ?? null,
    cpu_model: model,
    recommendations,
    cannot_tell: unknown,
  };
  const board = [data.board_vendor, data.board_name].filter((v) => v !== null).join(" ");
  const bios = data.bios_version === null
    ? ""
    : `BIOS ${data.bios_version}${data.bios_date === null ? "" : ` (${data.bios_date})`}`;
  const parts = [board, bios, model ?? ""].filter((p) => p !== "");
  if (parts.length === 0) return check(id, "skipped", title, "no DMI data or CPU model", data);
  const advice = [
    recommendations.length === 0 && unknown.length === 0 ? "no BIOS changes recommended" : "",
    recommendations.length === 0 ? "" : `BIOS changes recommended: ${recommendations.join(", ")}`,
    unknown.length === 0
      ? ""
      : `cannot tell whether ${unknown.join(", ")} need(s) a BIOS change: ` +
        "not read (run doctor with sudo)",
  ].filter((a) => a !== "").join("; ");
  return check(id, "info", title, `${parts.join(", ")}; ${advice}`, data);
}
