/**
 * RigForge's tuning state: the applied winner (`<worker_root>/tune-overrides.json`), the last
 * full tune (`<worker_root>/rigforge-tune.json` and its mtime), and periodic autotune (the
 * rendered units `/etc/systemd/system/rigforge-autotune.{timer,service}` under the root, the
 * timer's state from `systemctl show`, and recent decisions from the journal).
 *
 * Vocabulary: the tune log and the unit say `perf`/`efficiency` (`target`); RigForge's config
 * says `performance`/`efficiency` (`target_setting`). Both are given.
 *
 * @module
 */

import { join } from "node:path";
import { configSecrets, redactSecrets } from "./config_view.ts";
import { exists, machinePath, readText } from "./read.ts";
import type { CommandResult, NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

/** The knobs RigForge's `tune` sweeps, normalised (`prefetch_mode`, not `scratchpad_…`). */
export interface TuneKnobs {
  /** `randomx.scratchpad_prefetch_mode` (0-3). */
  prefetch_mode: number | null;
  /** `cpu.rx` thread count; `-1` means XMRig's auto. */
  threads: number | null;
  /** `cpu.yield`. */
  yield: boolean | null;
  /** `randomx."1gb-pages"`. */
  "1gb-pages": boolean | null;
  /** `cpu.priority` (0-5). */
  priority: number | null;
  /** `cpu."huge-pages-jit"`. */
  "huge-pages-jit": boolean | null;
  /** `randomx.cache_qos`. */
  cache_qos: boolean | null;
  /** `randomx.wrmsr`. */
  wrmsr: boolean | null;
}

/** A parse result: the value and, relative to it, why each of its `null` fields is `null`. */
export interface Parsed<T> {
  value: T;
  reasons: Reasons;
}

/** The applied overrides. */
export interface AppliedTune {
  /**
   * The file's content as written (a partial XMRig config), except that any credential-looking
   * key (`pass`, `password`, `access-token`, `token`, `tls-fingerprint`, `*secret*`) holding a
   * non-empty value is replaced by `{"__secret__": true}`.
   */
  raw: Record<string, unknown>;
  /** The knobs in it; `null` for a knob the file does not set (XMRig's default applies). */
  knobs: TuneKnobs;
}

/** `best` of the last full tune: its knobs and median hashrate (H/s). */
export interface TuneBest extends TuneKnobs {
  /** Median H/s of the winning candidate (also for the efficiency target). */
  hashrate: number | null;
}

/** The last full `rigforge.sh tune` run, from `rigforge-tune.json`. */
export interface LastTuneRun {
  /** The file's mtime, ISO 8601 UTC (the log itself carries no timestamp). */
  finished_at: string | null;
  /** `bench` (xmrig --bench) or `live` (against the running miner). */
  mode: "bench" | "live" | null;
  /** Tune vocabulary: `perf` or `efficiency`. */
  target: "perf" | "efficiency" | null;
  /** The same target in config vocabulary: `performance` or `efficiency`. */
  target_setting: "performance" | "efficiency" | null;
  /** `climb` or `grid`. */
  search: "climb" | "grid" | null;
  /** Search seeds (`auto`, `guess`…). */
  seeds: string[] | null;
  /** Measurements per candidate. */
  iterations: number | null;
  /** The relative improvement a step must make (0.01 = 1 %). */
  min_delta: number | null;
  /** The winner. */
  best: TuneBest | null;
  /** `best.hashrate`, H/s. */
  best_hs: number | null;
  /** The winner's H/s per package watt, from the result whose knobs equal `best`'s. */
  best_hs_per_watt: number | null;
  /** Distinct candidate knob sets measured. */
  candidates_tried: number | null;
  /** Results whose loaded clock fell below the throttle floor. */
  throttled_count: number | null;
  /** Results whose thread count exceeded the 2 MB HugePages reservation. */
  hugepages_capped_count: number | null;
  /** Entries in `results`. */
  results_count: number | null;
}

/** What a decision line says happened. */
export type DecisionOutcome = "baseline" | "measured" | "applied" | "kept" | "skipped";

/** One autotune journal line that records a decision or a measurement. */
export interface AutotuneDecision {
  /** When journald received the line, ISO 8601 UTC. */
  time: string;
  /** The line without ANSI colours and without the `[INFO] autotune: ` prefix. */
  text: string;
  /** Which kind of line it is. */
  outcome: DecisionOutcome;
  /** The prefetch mode the line is about. */
  mode?: number;
  /** H/s measured or compared. */
  hashrate?: number;
  /** Package watts. */
  watts?: number;
  /** H/s per watt. */
  hs_per_watt?: number;
}

/** Periodic autotune. */
export interface AutotuneState {
  /** Whether `/etc/systemd/system/rigforge-autotune.timer` exists (RigForge rendered it). */
  enabled: boolean;
  /** The timer's `ActiveState` is `active`. */
  active: boolean | null;
  /** `Environment=AUTOTUNE_TARGET=` of the service unit: `perf` or `efficiency`. */
  target: "perf" | "efficiency" | null;
  /** The same in config vocabulary. */
  target_setting: "performance" | "efficiency" | null;
  /** The timer's `OnCalendar=` (e.g. `monthly`). */
  schedule: string | null;
  /** `NextElapseUSecRealtime`, ISO 8601 UTC. */
  next: string | null;
  /** `LastTriggerUSec`, ISO 8601 UTC. */
  last_run: string | null;
  /** Up to {@link MAX_DECISIONS} decision lines, oldest first, newest last. */
  recent: AutotuneDecision[] | null;
}

/** The `tune` probe's record. */
export interface TuneRecord {
  /** `tune-overrides.json`: the knobs XMRig runs with on top of RigForge's defaults. */
  applied: AppliedTune | null;
  /** `rigforge-tune.json`: the last full tune. */
  last_run: LastTuneRun | null;
  /** Periodic autotune. */
  autotune: AutotuneState;
  /** Why each `null` field is `null` (dotted paths, e.g. `applied.knobs.priority`). */
  reasons: Reasons;
}

/** Most decisions kept in {@link AutotuneState.recent}. */
export const MAX_DECISIONS = 20;
/** Journal lines asked for. */
export const JOURNAL_LINES = 500;
/** Longest reuse of the journal's decisions while the timer's last trigger is unchanged (ms). */
export const JOURNAL_TTL_MS = 10 * 60 * 1000;

/** Last journal answer per machine root. */
const journalCache = new Map<string, { key: string; at: number; recent: AutotuneDecision[] }>();

const TIMER_UNIT = "/etc/systemd/system/rigforge-autotune.timer";
const SERVICE_UNIT = "/etc/systemd/system/rigforge-autotune.service";
const OVERRIDES_MAX_BYTES = 64 * 1024;
const TUNE_LOG_MAX_BYTES = 4 * 1024 * 1024;
const UNIT_MAX_BYTES = 64 * 1024;
const MAX_DROP_INS = 32;

// ---------------------------------------------------------------------------------------------
// Pure parsers

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

type Knob = keyof TuneKnobs;
type Check = (value: unknown) => number | boolean | null;

const intIn = (min: number, max: number): Check => (value) =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max
    ? value
    : null;
const bool: Check = (value) => (typeof value === "boolean" ? value : null);
const threadsOf: Check = (value) =>
  Array.isArray(value) ? (value.length <= 4096 ? value.length : null) : intIn(-1, 4096)(value);

const KNOB_CHECKS: Record<Knob, Check> = {
  prefetch_mode: intIn(0, 3),
  threads: threadsOf,
  yield: bool,
  "1gb-pages": bool,
  priority: intIn(0, 5),
  "huge-pages-jit": bool,
  cache_qos: bool,
  wrmsr: bool,
};

/** Where each knob lives in an XMRig config / `tune-overrides.json`. */
const OVERRIDE_PATHS: Record<Knob, [string, string]> = {
  prefetch_mode: ["randomx", "scratchpad_prefetch_mode"],
  threads: ["cpu", "rx"],
  yield: ["cpu", "yield"],
  "1gb-pages": ["randomx", "1gb-pages"],
  priority: ["cpu", "priority"],
  "huge-pages-jit": ["cpu", "huge-pages-jit"],
  cache_qos: ["randomx", "cache_qos"],
  wrmsr: ["randomx", "wrmsr"],
};

const KNOBS = Object.keys(KNOB_CHECKS) as Knob[];

/** Fills knobs from a lookup; a missing key is `absent`, a wrong type `corrupt`. */
function knobsFrom(
  lookup: (knob: Knob) => unknown,
  prefix: string,
  reasons: Reasons,
): TuneKnobs {
  const knobs = {} as Record<Knob, number | boolean | null>;
  for (const knob of KNOBS) {
    const value = lookup(knob);
    const checked = value === undefined || value === null ? null : KNOB_CHECKS[knob](value);
    knobs[knob] = checked;
    if (checked === null) {
      reasons[`${prefix}${knob}`] = value === undefined || value === null ? "absent" : "corrupt";
    }
  }
  return knobs as unknown as TuneKnobs;
}

const SECRET_KEY = /^(pass|password|access-token|access_token|token|tls-fingerprint)$|secret/i;

/** Replaces credential-looking values with the `{"__secret__": true}` sentinel, at any depth. */
function redactCredentials(value: unknown, depth = 0): unknown {
  if (depth > 32) return null;
  if (Array.isArray(value)) return value.map((v) => redactCredentials(v, depth + 1));
  if (!isObj(value)) return value;
  const out: Obj = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && v !== null && v !== "" && v !== false
      ? { __secret__: true }
      : redactCredentials(v, depth + 1);
  }
  return out;
}

/**
 * Parses `<worker_root>/tune-overrides.json`, the partial XMRig config `rigforge.sh tune` and
 * `autotune` deep-merge into XMRig's config, e.g.
 * `{"randomx":{"scratchpad_prefetch_mode":2},"cpu":{"yield":false,"rx":8}}`.
 *
 * @param json the file content
 * @returns the raw object (credentials masked) and its knobs, with reasons keyed
 *   `knobs.<knob>`; `null` when the text is not a JSON object (empty, truncated, garbage)
 */
export function parseOverrides(json: string): Parsed<AppliedTune> | null {
  try {
    const raw = parseJson(json);
    if (!isObj(raw)) return null;
    const reasons: Reasons = {};
    const knobs = knobsFrom(
      (knob) => {
        const [section, key] = OVERRIDE_PATHS[knob];
        const block = raw[section];
        return isObj(block) ? block[key] : undefined;
      },
      "knobs.",
      reasons,
    );
    return { value: { raw: redactCredentials(raw) as Obj, knobs }, reasons };
  } catch {
    return null; // pathological nesting
  }
}

const TUNE_TARGETS = { perf: "performance", efficiency: "efficiency" } as const;

function enumOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  key: string,
  reasons: Reasons,
): T | null {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) {
    return value as T;
  }
  reasons[key] = value === undefined || value === null ? "absent" : "corrupt";
  return null;
}

function numberOf(
  value: unknown,
  key: string,
  reasons: Reasons,
  integer = false,
): number | null {
  if (
    typeof value === "number" && Number.isFinite(value) && value >= 0 &&
    (!integer || Number.isSafeInteger(value))
  ) {
    return value;
  }
  reasons[key] = value === undefined || value === null ? "absent" : "corrupt";
  return null;
}

/** Knobs of a tune-log entry (flat keys; `best` says `scratchpad_prefetch_mode`). */
function logKnobs(entry: Obj, prefix: string, reasons: Reasons): TuneKnobs {
  return knobsFrom(
    (knob) =>
      knob === "prefetch_mode"
        ? entry["prefetch_mode"] ?? entry["scratchpad_prefetch_mode"]
        : entry[knob],
    prefix,
    reasons,
  );
}

function knobKey(knobs: TuneKnobs): string {
  return KNOBS.map((k) => String(knobs[k])).join("|");
}

/**
 * ISO 8601 UTC with whole seconds (`2026-11-24T16:59:46Z`).
 *
 * @param ms milliseconds since the epoch
 * @returns the text, or `null` for a non-finite or out-of-range time
 */
export function isoSeconds(ms: number): string | null {
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return null;
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/**
 * Parses `<worker_root>/rigforge-tune.json`, the last full tune (overwritten by each run; no
 * timestamp inside, so the file's mtime is the finishing time).
 *
 * @param json the file content
 * @param mtimeMs the file's modification time (ms since the epoch), or `null` when unknown
 * @returns the summarised run with reasons keyed relative to it (`best_hs_per_watt`), or `null`
 *   when the text is not a JSON object
 */
export function parseTuneLog(json: string, mtimeMs: number | null): Parsed<LastTuneRun> | null {
  const log = parseJson(json);
  if (!isObj(log)) return null;
  const reasons: Reasons = {};
  const finished_at = mtimeMs === null ? null : isoSeconds(mtimeMs);
  if (finished_at === null) reasons["finished_at"] = "absent";
  const target = enumOf(log["target"], ["perf", "efficiency"] as const, "target", reasons);
  const target_setting = target === null ? null : TUNE_TARGETS[target];
  if (target_setting === null) reasons["target_setting"] = reasons["target"] ?? "absent";

  let seeds: string[] | null = null;
  const rawSeeds = log["seeds"];
  if (Array.isArray(rawSeeds) && rawSeeds.every((s) => typeof s === "string")) {
    seeds = (rawSeeds as string[]).slice(0, 16).map((s) => s.slice(0, 32));
  } else reasons["seeds"] = rawSeeds === undefined || rawSeeds === null ? "absent" : "corrupt";

  let best: TuneBest | null = null;
  const rawBest = log["best"];
  if (isObj(rawBest)) {
    const knobs = logKnobs(rawBest, "best.", reasons);
    best = { ...knobs, hashrate: numberOf(rawBest["hashrate"], "best.hashrate", reasons) };
  } else reasons["best"] = rawBest === undefined || rawBest === null ? "absent" : "corrupt";
  const best_hs = best?.hashrate ?? null;
  if (best_hs === null) {
    reasons["best_hs"] = reasons["best.hashrate"] ?? reasons["best"] ?? "absent";
  }

  let best_hs_per_watt: number | null = null;
  let candidates_tried: number | null = null;
  let throttled_count: number | null = null;
  let hugepages_capped_count: number | null = null;
  let results_count: number | null = null;
  const results = log["results"];
  if (Array.isArray(results)) {
    results_count = results.length;
    const distinct = new Set<string>();
    throttled_count = 0;
    hugepages_capped_count = 0;
    const bestKey = best === null ? null : knobKey(best);
    for (const entry of results.slice(0, 100_000)) {
      if (!isObj(entry)) continue;
      const key = knobKey(logKnobs(entry, "", {}));
      distinct.add(key);
      if (entry["throttled"] === true) throttled_count++;
      if (entry["hugepages_capped"] === true) hugepages_capped_count++;
      const hpw = entry["hs_per_watt"];
      if (key === bestKey && typeof hpw === "number" && Number.isFinite(hpw) && hpw >= 0) {
        best_hs_per_watt = hpw;
      }
    }
    candidates_tried = distinct.size;
    if (best_hs_per_watt === null) reasons["best_hs_per_watt"] = "absent";
  } else {
    const why: NullReason = results === undefined || results === null ? "absent" : "corrupt";
    for (
      const key of [
        "best_hs_per_watt",
        "candidates_tried",
        "throttled_count",
        "hugepages_capped_count",
        "results_count",
      ]
    ) reasons[key] = why;
  }

  return {
    value: {
      finished_at,
      mode: enumOf(log["mode"], ["bench", "live"] as const, "mode", reasons),
      target,
      target_setting,
      search: enumOf(log["search"], ["climb", "grid"] as const, "search", reasons),
      seeds,
      iterations: numberOf(log["iterations"], "iterations", reasons, true),
      min_delta: numberOf(log["min_delta"], "min_delta", reasons),
      best,
      best_hs,
      best_hs_per_watt,
      candidates_tried,
      throttled_count,
      hugepages_capped_count,
      results_count,
    },
    reasons,
  };
}

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

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;
const PREFIX = /^\s*(?:\[(?:INFO|WARN|WARNING|ERROR|OK|DEBUG)\]\s*)?autotune:\s*/i;
const NUM = "([0-9]+(?:\\.[0-9]+)?)";

function num(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** Sets the optional numeric fields that are present. */
function withNumbers(
  decision: AutotuneDecision,
  fields: Partial<Record<"mode" | "hashrate" | "watts" | "hs_per_watt", string | undefined>>,
): AutotuneDecision {
  for (const [key, text] of Object.entries(fields)) {
    const n = num(text);
    if (n !== undefined) decision[key as "mode"] = n;
  }
  return decision;
}

/** `… at 129.5300 H/s/W` or `… at 10790.1 H/s`: which field a score goes to. */
function scoreField(unit: string | undefined): "hs_per_watt" | "hashrate" {
  return unit === "H/s/W" ? "hs_per_watt" : "hashrate";
}

/**
 * Parses one autotune journal line (`MESSAGE` of `rigforge-autotune.service`) into a decision,
 * or `null` when the line is not one. Recognised (after stripping ANSI colours and the
 * `[INFO] autotune: ` prefix):
 * `optimizing for … baseline mode=1 at 10741.3 H/s, 83.40 W, 128.79 H/s/W …` (baseline),
 * `prefetch_mode=2 measured 10790.1 H/s, 83.30 W, 129.53 H/s/W.` (measured),
 * `best is prefetch_mode=2 at 129.5300 H/s/W (vs 128.7926 baseline) — applying it.` (applied),
 * `no mode beat the baseline by the margin — keeping prefetch_mode=1 (128.7926 H/s/W).` (kept),
 * `could not read a live hashrate … Skipping.` (skipped).
 *
 * @param line the message text
 * @param timeUs journald's `__REALTIME_TIMESTAMP`, microseconds since the epoch
 * @returns the decision, or `null`
 */
export function parseDecision(line: string, timeUs: string | number): AutotuneDecision | null {
  const us = typeof timeUs === "number" ? timeUs : /^\d{1,17}$/.test(timeUs) ? Number(timeUs) : NaN;
  const time = isoSeconds(us / 1000);
  if (time === null) return null;
  const clean = line.replace(ANSI, "").replace(/\t/g, " ").replace(CONTROL, "").trim();
  const prefix = PREFIX.exec(clean);
  if (prefix === null) return null;
  const text = clean.slice(prefix[0].length).trim().slice(0, 500);
  let m: RegExpExecArray | null;
  if (/^optimizing for\b/i.test(text)) {
    m = new RegExp(
      `baseline mode=(\\d+) at ${NUM} H/s(?:, ${NUM} W)?(?:, ${NUM} H/s/W)?`,
    ).exec(text);
    return withNumbers({ time, text, outcome: "baseline" }, {
      mode: m?.[1],
      hashrate: m?.[2],
      watts: m?.[3],
      hs_per_watt: m?.[4],
    });
  }
  m = new RegExp(`^prefetch_mode=(\\d+) measured ${NUM} H/s(?:, ${NUM} W)?(?:, ${NUM} H/s/W)?`)
    .exec(text);
  if (m) {
    return withNumbers({ time, text, outcome: "measured" }, {
      mode: m[1],
      hashrate: m[2],
      watts: m[3],
      hs_per_watt: m[4],
    });
  }
  m = new RegExp(`^best is prefetch_mode=(\\d+)(?: at ${NUM} (H/s/W|H/s)\\b)?`).exec(text);
  if (m) {
    const outcome = /\bapplying\b/i.test(text) ? "applied" : "kept";
    return withNumbers({ time, text, outcome }, { mode: m[1], [scoreField(m[3])]: m[2] });
  }
  if (/^no mode\b/i.test(text)) {
    m = new RegExp(`keeping prefetch_mode=(\\d+)(?: \\(${NUM} (H/s/W|H/s)\\))?`).exec(text);
    return withNumbers({ time, text, outcome: "kept" }, {
      mode: m?.[1],
      [scoreField(m?.[3])]: m?.[2],
    });
  }
  if (/^could not\b/i.test(text) || /\bskipping\b/i.test(text)) {
    return { time, text, outcome: "skipped" };
  }
  return null;
}

/**
 * Parses `journalctl -o json` output (one JSON object per line; `MESSAGE` is a string, or an
 * array of bytes when it holds control characters such as ANSI colours, or `null` when too
 * large) into decisions, oldest first, keeping the newest `max`.
 *
 * @param stdout journalctl's output
 * @param max how many decisions to keep (the newest)
 * @returns the decisions
 */
export function parseJournalDecisions(stdout: string, max = MAX_DECISIONS): AutotuneDecision[] {
  const out: AutotuneDecision[] = [];
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    const entry = parseJson(line);
    if (!isObj(entry)) continue;
    const message = messageText(entry["MESSAGE"]);
    const ts = entry["__REALTIME_TIMESTAMP"];
    if (message === null || (typeof ts !== "string" && typeof ts !== "number")) continue;
    const decision = parseDecision(message, ts);
    if (decision !== null) out.push(decision);
  }
  return out.slice(-max);
}

function messageText(value: unknown): string | null {
  if (typeof value === "string") return value.slice(0, 4096);
  if (Array.isArray(value) && value.length <= 65536) {
    if (!value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return null;
    return new TextDecoder().decode(new Uint8Array(value as number[])).slice(0, 4096);
  }
  return null;
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
  if (m) return Number(m[1]) === 0 ? null : isoSeconds(Number(m[1]) * 1000);
  m = /^(?:[A-Z][a-z]{2} )?(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (?:UTC|GMT)$/.exec(v);
  if (m) return isoSeconds(Date.parse(`${m[1]}T${m[2]}Z`));
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

/** The last value of `[section] key=`, or `null`. */
function lastValue(unit: UnitFile, section: string, key: string): string | null {
  const values = unit.get(section)?.get(key);
  return values === undefined || values.length === 0 ? null : values[values.length - 1] ?? null;
}

// ---------------------------------------------------------------------------------------------
// Thin readers

/** Reads a RigForge JSON file: bounded, regular files only; the mtime comes along. */
async function readFile(
  path: string,
  maxBytes: number,
  isRoot: boolean,
): Promise<{ ok: true; text: string; mtimeMs: number | null } | { ok: false; reason: NullReason }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    return { ok: false, reason: error instanceof Deno.errors.NotFound ? "absent" : "unreadable" };
  }
  if (!info.isFile) return { ok: false, reason: "unreadable" };
  const text = await readText(path, { maxBytes, isRoot });
  if (!text.ok) return text;
  return { ok: true, text: text.value, mtimeMs: info.mtime?.getTime() ?? null };
}

/** A unit file plus its drop-ins (`<unit>.d/*.conf`, sorted), as one text. */
async function readUnit(ctx: ProbeContext, path: string): Promise<string | null> {
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

function prefixed(reasons: Reasons, prefix: string, from: Reasons): void {
  for (const [key, reason] of Object.entries(from)) reasons[`${prefix}${key}`] = reason;
}

function commandReason(result: CommandResult): NullReason {
  if (result.failure === "timeout") return "timeout";
  if (result.failure === "absent") return "absent";
  return "unsupported";
}

async function collectAutotune(ctx: ProbeContext, reasons: Reasons): Promise<AutotuneState> {
  const state: AutotuneState = {
    enabled: false,
    active: null,
    target: null,
    target_setting: null,
    schedule: null,
    next: null,
    last_run: null,
    recent: null,
  };
  const nulls = (reason: NullReason, keys: readonly (keyof AutotuneState)[]) => {
    for (const key of keys) if (state[key] === null) reasons[`autotune.${key}`] = reason;
  };
  const all = [
    "active",
    "target",
    "target_setting",
    "schedule",
    "next",
    "last_run",
    "recent",
  ] as const;
  if (ctx.root === "/" && Deno.build.os !== "linux") {
    nulls("unsupported", all);
    return state;
  }
  state.enabled = await exists(machinePath(ctx, TIMER_UNIT));
  if (!state.enabled) {
    state.active = false;
    nulls("absent", all);
    return state;
  }
  const timerText = await readUnit(ctx, TIMER_UNIT);
  const timer = timerText === null ? null : parseUnitFile(timerText);
  const schedule = timer === null ? null : lastValue(timer, "Timer", "OnCalendar");
  state.schedule = schedule === null ? null : schedule.replace(CONTROL, "").slice(0, 128);
  if (state.schedule === null) {
    reasons["autotune.schedule"] = timer === null ? "unreadable" : "absent";
  }

  const serviceText = await readUnit(ctx, SERVICE_UNIT);
  if (serviceText === null) {
    reasons["autotune.target"] = reasons["autotune.target_setting"] = "absent";
  } else {
    const service = parseUnitFile(serviceText);
    const env = parseEnvironment(service.get("Service")?.get("Environment") ?? []);
    const raw = env.get("AUTOTUNE_TARGET");
    const target = raw === "perf" || raw === "performance"
      ? "perf"
      : raw === "efficiency"
      ? "efficiency"
      : null;
    state.target = target;
    state.target_setting = target === null ? null : TUNE_TARGETS[target];
    if (target === null) {
      reasons["autotune.target"] = reasons["autotune.target_setting"] = raw === undefined
        ? "absent"
        : "corrupt";
    }
  }

  const show = await ctx.run("systemctl", [
    "show",
    "rigforge-autotune.timer",
    "-p",
    "ActiveState",
    "-p",
    "NextElapseUSecRealtime",
    "-p",
    "LastTriggerUSec",
    "--timestamp=unix",
  ], { timeoutMs: 2000, maxBytes: 4096 });
  if (show.failure !== null || show.code !== 0) {
    nulls(commandReason(show), ["active", "next", "last_run"]);
  } else {
    const parsed = parseTimerShow(show.stdout);
    state.active = parsed.active_state === null ? null : parsed.active_state === "active";
    state.next = parsed.next;
    state.last_run = parsed.last;
    if (state.active === null) reasons["autotune.active"] = "corrupt";
    if (state.next === null) {
      reasons["autotune.next"] = state.active === false ? "not-running" : "absent";
    }
    if (state.last_run === null) reasons["autotune.last_run"] = "absent";
  }

  // Decisions change only when the autotune service runs: reuse the last answer while the
  // timer's last trigger is unchanged, for at most JOURNAL_TTL_MS (serve probes every few s).
  const key = `${state.last_run}|${state.active}`;
  const now = ctx.now();
  const cached = journalCache.get(ctx.root);
  if (
    cached !== undefined && cached.key === key && now >= cached.at &&
    now - cached.at < JOURNAL_TTL_MS
  ) {
    state.recent = structuredClone(cached.recent);
    return state;
  }
  const journal = await ctx.run("journalctl", [
    "-u",
    "rigforge-autotune.service",
    "-o",
    "json",
    "--output-fields=MESSAGE",
    "-n",
    String(JOURNAL_LINES),
    "--no-pager",
  ], { timeoutMs: 3000, maxBytes: 4 * 1024 * 1024 });
  if (journal.failure !== null || journal.code !== 0) {
    reasons["autotune.recent"] = commandReason(journal);
    journalCache.delete(ctx.root);
  } else {
    const secrets = configSecrets(ctx.config);
    state.recent = parseJournalDecisions(journal.stdout).map((d) => ({
      ...d,
      text: redactSecrets(d.text, secrets),
    }));
    journalCache.set(ctx.root, { key, at: now, recent: structuredClone(state.recent) });
  }
  return state;
}

/**
 * Collects the tune record: applied overrides, the last full tune and periodic autotune.
 * Reads `<worker_root>/tune-overrides.json` (64 KiB cap) and `<worker_root>/rigforge-tune.json`
 * (4 MiB cap) from ctx.rigforge; the units under the root; one `systemctl show` and one
 * `journalctl` call through ctx.run when the autotune timer exists.
 *
 * @param ctx the probe context
 * @returns the record
 */
export async function collectTune(ctx: ProbeContext): Promise<TuneRecord> {
  const reasons: Reasons = {};
  let applied: AppliedTune | null = null;
  let last_run: LastTuneRun | null = null;
  const worker = ctx.rigforge?.workerRoot ?? null;
  if (worker === null) {
    reasons["applied"] = reasons["last_run"] = "absent";
  } else {
    const [overrides, log] = await Promise.all([
      readFile(join(worker, "tune-overrides.json"), OVERRIDES_MAX_BYTES, ctx.isRoot),
      readFile(join(worker, "rigforge-tune.json"), TUNE_LOG_MAX_BYTES, ctx.isRoot),
    ]);
    if (!overrides.ok) reasons["applied"] = overrides.reason;
    else {
      const parsed = parseOverrides(overrides.text);
      if (parsed === null) reasons["applied"] = "corrupt";
      else {
        applied = parsed.value;
        prefixed(reasons, "applied.", parsed.reasons);
      }
    }
    if (!log.ok) reasons["last_run"] = log.reason;
    else {
      const parsed = parseTuneLog(log.text, log.mtimeMs);
      if (parsed === null) reasons["last_run"] = "corrupt";
      else {
        last_run = parsed.value;
        prefixed(reasons, "last_run.", parsed.reasons);
      }
    }
  }
  const autotune = await collectAutotune(ctx, reasons);
  return { applied, last_run, autotune, reasons };
}

/** The `tune` probe: applied knobs, the last full tune, and autotune state and decisions. */
export const tuneProbe: Probe<TuneRecord> = {
  name: "tune",
  collect: collectTune,
};
