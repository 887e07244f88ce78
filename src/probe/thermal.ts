/**
 * The thermal probe: the CPU package temperature the watchdog and doctor should judge, and every
 * hwmon temperature sensor beside it.
 *
 * Reads, world-readable:
 * - `/sys/class/hwmon/hwmonN/name` (the driver: `k10temp`, `zenpower`, `coretemp`, `nvme`,
 *   ...), `temp[0-9]*_label` and `temp[0-9]*_input` (millidegrees Celsius).
 * - `/sys/class/thermal/thermal_zone0/temp` (millidegrees Celsius), only as the last resort: on
 *   many boards zone 0 is an ACPI zone far from the CPU.
 *
 * Preference for the package temperature: zenpower `Tdie`, k10temp `Tdie`, k10temp `Tctl`,
 * coretemp `Package id N`, then thermal_zone0. Among several matches of the same rule (one chip
 * per socket) the hottest wins. Some hwmon drivers block for seconds: every read is bounded.
 *
 * @module
 */

import { dropControl } from "../lib/text.ts";
import { listDir, machinePath, readAttribute } from "./read.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

/** One hwmon temperature sensor. */
export interface ThermalSensor {
  /** The hwmon `name` (driver), e.g. `k10temp`. */
  chip: string;
  /** `temp<N>_label`, or `temp<N>` when the driver gives no label. */
  label: string;
  /** Degrees Celsius, one decimal. */
  c: number;
}

/** CPU package temperature and all hwmon temperatures. */
export interface ThermalRecord {
  /** The preferred package temperature, degrees Celsius, one decimal. */
  package_c: number | null;
  /** Where `package_c` came from: `chip/label` (`k10temp/Tctl`) or `thermal_zone0`. */
  source: string | null;
  /** Every readable hwmon temperature, in hwmon then sensor order. */
  sensors: ThermalSensor[];
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

const READ_TIMEOUT_MS = 250;
const MAX_CHIPS = 32;
const MAX_SENSORS_PER_CHIP = 128;

/** The package-temperature rules, most trusted first. */
const PREFERENCE: readonly { chip: string; label: RegExp }[] = [
  { chip: "zenpower", label: /^Tdie$/ },
  { chip: "k10temp", label: /^Tdie$/ },
  { chip: "k10temp", label: /^Tctl$/ },
  { chip: "coretemp", label: /^Package id \d+$/ },
];

/**
 * Parses a temperature attribute (`temp1_input`, `thermal_zone0/temp`): an integer in
 * millidegrees Celsius.
 *
 * @param text the attribute's content, e.g. `"78250\n"`
 * @returns degrees Celsius rounded to one decimal (78.3)
 * @throws {SyntaxError} when the content is not an integer
 */
export function parseMillidegrees(text: string): number {
  const trimmed = text.trim();
  if (!/^-?\d{1,9}$/.test(trimmed)) {
    throw new SyntaxError("Cannot parse temperature: not an integer");
  }
  return Math.round(Number(trimmed) / 100) / 10;
}

/**
 * Picks the package temperature among hwmon sensors by the preference rules.
 *
 * @param sensors the sensors read
 * @returns the temperature and its `chip/label` source, or `null` when no rule matches
 */
export function choosePackage(
  sensors: readonly ThermalSensor[],
): { c: number; source: string } | null {
  for (const rule of PREFERENCE) {
    const matches = sensors.filter((s) => s.chip === rule.chip && rule.label.test(s.label));
    if (matches.length === 0) continue;
    const hottest = matches.reduce((a, b) => (b.c > a.c ? b : a));
    return { c: hottest.c, source: `${hottest.chip}/${hottest.label}` };
  }
  return null;
}

/** Drops control characters (terminal escapes) from a driver-supplied string. */
function printable(text: string): string {
  return dropControl(text).slice(0, 64);
}

async function readCelsius(path: string): Promise<number | NullReason> {
  const text = await readAttribute(path, { timeoutMs: READ_TIMEOUT_MS });
  if (!text.ok) return text.reason;
  try {
    return parseMillidegrees(text.value);
  } catch {
    return "corrupt";
  }
}

async function readChip(dir: string): Promise<ThermalSensor[]> {
  const [name, entries] = await Promise.all([
    readAttribute(`${dir}/name`, { timeoutMs: READ_TIMEOUT_MS }),
    listDir(dir),
  ]);
  if (!name.ok || !entries.ok) return [];
  const chip = printable(name.value);
  const indexes = entries.value
    .map((entry) => /^temp(\d{1,3})_input$/.exec(entry)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort((a, b) => Number(a) - Number(b))
    .slice(0, MAX_SENSORS_PER_CHIP);
  const sensors = await Promise.all(indexes.map(async (n) => {
    const [label, c] = await Promise.all([
      readAttribute(`${dir}/temp${n}_label`, { timeoutMs: READ_TIMEOUT_MS }),
      readCelsius(`${dir}/temp${n}_input`),
    ]);
    if (typeof c !== "number") return null;
    return { chip, label: label.ok ? printable(label.value) : `temp${n}`, c };
  }));
  return sensors.filter((s): s is ThermalSensor => s !== null);
}

async function readHwmon(ctx: ProbeContext): Promise<ThermalSensor[]> {
  const base = machinePath(ctx, "/sys/class/hwmon");
  const names = await listDir(base);
  if (!names.ok) return [];
  const chips = names.value
    .filter((name) => /^hwmon\d{1,4}$/.test(name))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .slice(0, MAX_CHIPS);
  const perChip = await Promise.all(chips.map((chip) => readChip(`${base}/${chip}`)));
  return perChip.flat();
}

async function collect(ctx: ProbeContext): Promise<ThermalRecord> {
  const sensors = await readHwmon(ctx);
  const chosen = choosePackage(sensors);
  if (chosen) return { package_c: chosen.c, source: chosen.source, sensors, reasons: {} };
  const zone = await readCelsius(machinePath(ctx, "/sys/class/thermal/thermal_zone0/temp"));
  if (typeof zone === "number") {
    return { package_c: zone, source: "thermal_zone0", sensors, reasons: {} };
  }
  return { package_c: null, source: null, sensors, reasons: { package_c: zone, source: zone } };
}

/** Reads hwmon temperatures and picks the CPU package one; needs no privileges. */
export const thermalProbe: Probe<ThermalRecord> = { name: "thermal", collect };
