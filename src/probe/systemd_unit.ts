/**
 * Generic systemd parsing and reading: unit files with their drop-ins (`[Section]`,
 * `Key=Value`, `Environment=`), and `systemctl show --timestamp=unix` output. Used by the tune
 * probe for RigForge's autotune units.
 *
 * @module
 */

import { join } from "node:path";
import { machinePath, readText } from "./read.ts";
import { isoSecondsOrNull } from "../lib/time.ts";
import type { ProbeContext } from "./types.ts";

/** Largest unit file or drop-in read, in bytes. */
export const UNIT_MAX_BYTES = 64 * 1024;
/** Most drop-ins (`<unit>.d/*.conf`) read per unit. */
export const MAX_DROP_INS = 32;

// ---------------------------------------------------------------------------------------------
// Pure parsers

function isComment(line: string): boolean {
  return line.startsWith("#") || line.startsWith(";");
}

/** A parsed systemd unit file: section → key → every value assigned, in order. */
export type UnitFile = Map<string, Map<string, string[]>>;

/**
 * Parses systemd unit-file syntax tolerantly: `#`/`;` comments, `[Section]` headers,
 * `Key=Value` with blanks around `=`, backslash line continuations (comment lines inside a
 * continuation are skipped, as systemd does), repeated keys (values accumulate) and the empty
 * assignment `Key=`, which resets the list as it does for systemd's list settings. Lines
 * outside a section or without `=` are ignored. Concatenating a unit with its drop-ins and
 * parsing the result gives systemd's override order.
 *
 * @param text the unit file (and drop-ins) as text
 * @returns section → key → values
 */
export function parseUnitFile(text: string): UnitFile {
  const units: UnitFile = new Map();
  let section: Map<string, string[]> | null = null;
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] ?? "").trim();
    if (line === "" || isComment(line)) continue;
    while (line.endsWith("\\")) {
      line = line.slice(0, -1) + " ";
      i++;
      while (i < lines.length && isComment((lines[i] ?? "").trim())) i++;
      if (i >= lines.length) break;
      line += (lines[i] ?? "").trim();
    }
    line = line.trim();
    if (line.startsWith("[")) {
      const end = line.indexOf("]");
      if (end > 1) {
        const name = line.slice(1, end).trim();
        section = units.get(name) ?? new Map();
        units.set(name, section);
      } else section = null;
      continue;
    }
    const eq = line.indexOf("=");
    if (section === null || eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (value === "") {
      section.set(key, []);
      continue;
    }
    const list = section.get(key) ?? [];
    list.push(value);
    section.set(key, list);
  }
  return units;
}

/**
 * Splits `Environment=` values into variables, honouring double and single quotes and
 * backslash escapes (`Environment="A=1 2" B=3`). Later assignments win.
 *
 * @param values every `Environment=` value of a unit, in order
 * @returns name → value
 */
export function parseEnvironment(values: readonly string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const value of values) {
    const words: string[] = [];
    let word: string | null = null;
    let quote: string | null = null;
    for (let i = 0; i < value.length; i++) {
      const c = value[i] as string;
      if (c === "\\" && i + 1 < value.length) {
        word = (word ?? "") + value[++i];
      } else if (quote !== null) {
        if (c === quote) quote = null;
        else word = (word ?? "") + c;
      } else if (c === '"' || c === "'") {
        quote = c;
        word ??= "";
      } else if (/\s/.test(c)) {
        if (word !== null) words.push(word);
        word = null;
      } else word = (word ?? "") + c;
    }
    if (word !== null && quote === null) words.push(word);
    for (const w of words) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(w);
      if (m) env.set(m[1] as string, m[2] as string);
    }
  }
  return env;
}

/** The properties of `systemctl show … --timestamp=unix`, parsed. */
export interface TimerShow {
  /** `ActiveState` (`active`, `inactive`…). */
  active_state: string | null;
  /** `NextElapseUSecRealtime` as ISO 8601 UTC. */
  next: string | null;
  /** `LastTriggerUSec` as ISO 8601 UTC. */
  last: string | null;
}

/**
 * Parses a systemd timestamp as printed with `--timestamp=unix` (`@1788220800`); also accepts
 * the default `Sat 2026-08-01 00:00:00 UTC` form when the zone is UTC. `n/a`, `0` and empty
 * mean unset.
 *
 * @param value the property value
 * @returns ISO 8601 UTC, or `null`
 */
export function parseSystemdTimestamp(value: string): string | null {
  const v = value.trim();
  let m = /^@(\d{1,12})(?:\.\d+)?$/.exec(v);
  if (m) return Number(m[1]) === 0 ? null : isoSecondsOrNull(Number(m[1]) * 1000);
  m = /^(?:[A-Z][a-z]{2} )?(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (?:UTC|GMT)$/.exec(v);
  if (m) return isoSecondsOrNull(Date.parse(`${m[1]}T${m[2]}Z`));
  return null;
}

/**
 * Parses `systemctl show rigforge-autotune.timer -p ActiveState -p NextElapseUSecRealtime
 * -p LastTriggerUSec --timestamp=unix` (`Key=Value` lines, in systemd's order).
 *
 * @param stdout the output
 * @returns the three properties
 */
export function parseTimerShow(stdout: string): TimerShow {
  const props = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) props.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const state = props.get("ActiveState") ?? "";
  return {
    active_state: /^[a-z][a-z-]{0,31}$/.test(state) ? state : null,
    next: parseSystemdTimestamp(props.get("NextElapseUSecRealtime") ?? ""),
    last: parseSystemdTimestamp(props.get("LastTriggerUSec") ?? ""),
  };
}

/**
 * The last value assigned to `[section] key=` (systemd's override order: a later assignment,
 * e.g. from a drop-in, wins).
 *
 * @param unit the parsed unit
 * @param section the section name (`Timer`)
 * @param key the key (`OnCalendar`)
 * @returns the value, or `null` when unset
 */
export function lastValue(unit: UnitFile, section: string, key: string): string | null {
  const values = unit.get(section)?.get(key);
  return values === undefined || values.length === 0 ? null : values[values.length - 1] ?? null;
}

// ---------------------------------------------------------------------------------------------
// Thin readers

/**
 * Reads a unit file plus its drop-ins (`<unit>.d/*.conf`, at most {@link MAX_DROP_INS}, sorted
 * by name) under the context's root, as one text for {@link parseUnitFile}. Each file is capped
 * at {@link UNIT_MAX_BYTES}; an unreadable drop-in is skipped.
 *
 * @param ctx the probe context (its root)
 * @param path the unit's machine path, e.g. `/etc/systemd/system/rigforge-autotune.timer`
 * @returns the text, or `null` when the unit itself cannot be read
 */
export async function readUnit(ctx: ProbeContext, path: string): Promise<string | null> {
  const main = await readText(machinePath(ctx, path), { maxBytes: UNIT_MAX_BYTES });
  if (!main.ok) return null;
  const texts = [main.value];
  const dir = machinePath(ctx, `${path}.d`);
  try {
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".conf")) names.push(entry.name);
      if (names.length >= MAX_DROP_INS) break;
    }
    for (const name of names.sort()) {
      const text = await readText(join(dir, name), { maxBytes: UNIT_MAX_BYTES });
      if (text.ok) texts.push(text.value);
    }
  } catch {
    // no drop-ins
  }
  return texts.join("\n");
}
