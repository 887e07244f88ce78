/**
 * RigForge's tune files under `<worker_root>`: `tune-overrides.json` (the applied winner, a
 * partial XMRig config) and `rigforge-tune.json` (the last full `rigforge.sh tune` run). Pure
 * parsers; the tune probe (`tune.ts`) reads the files.
 *
 * Vocabulary: the tune log says `perf`/`efficiency` (`target`); RigForge's config says
 * `performance`/`efficiency` (`target_setting`). Both are given.
 *
 * @module
 */

import { maskSecrets } from "../lib/secrets.ts";
import { isObject, type Obj, parseJson } from "../lib/json.ts";
import { absentOrCorrupt } from "./json.ts";
import { isoSecondsOrNull } from "../lib/time.ts";
import type { Reasons } from "./types.ts";

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
   * The file's content as written (a partial XMRig config), masked by `maskSecrets`
   * (`src/lib/secrets.ts`): every credential becomes `{"__secret__": true}`.
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
  /**
   * The file's mtime, ISO 8601 UTC: the log carries no timestamp and `rigforge.sh tune` writes
   * no journal line, so the mtime is the only source (wrong after a copy, restore or clone).
   */
  finished_at: string | null;
  /** Where {@link finished_at} came from: always `mtime` today; `null` with it. */
  finished_at_source: "mtime" | null;
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

/** Tune vocabulary (`target`) → config vocabulary (`target_setting`). */
export const TUNE_TARGETS = { perf: "performance", efficiency: "efficiency" } as const;

type Knob = keyof TuneKnobs;
const intIn = (min: number, max: number) => (value: unknown): number | null =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max
    ? value
    : null;
const bool = (value: unknown): boolean | null => (typeof value === "boolean" ? value : null);
const threadsOf = (value: unknown): number | null =>
  Array.isArray(value) ? (value.length <= 4096 ? value.length : null) : intIn(-1, 4096)(value);

const KNOB_CHECKS: { [K in Knob]: (value: unknown) => TuneKnobs[K] } = {
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
  const read = <K extends Knob>(knob: K): TuneKnobs[K] | null => {
    const value = lookup(knob);
    const checked = value === undefined || value === null ? null : KNOB_CHECKS[knob](value);
    if (checked === null) reasons[`${prefix}${knob}`] = absentOrCorrupt(value);
    return checked;
  };
  // In KNOB_CHECKS' order, so the reasons keep the order they always had.
  return {
    prefetch_mode: read("prefetch_mode"),
    threads: read("threads"),
    yield: read("yield"),
    "1gb-pages": read("1gb-pages"),
    priority: read("priority"),
    "huge-pages-jit": read("huge-pages-jit"),
    cache_qos: read("cache_qos"),
    wrmsr: read("wrmsr"),
  };
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
    if (!isObject(raw)) return null;
    const reasons: Reasons = {};
    const knobs = knobsFrom(
      (knob) => {
        const [section, key] = OVERRIDE_PATHS[knob];
        const block = raw[section];
        return isObject(block) ? block[key] : undefined;
      },
      "knobs.",
      reasons,
    );
    return { value: { raw: maskSecrets(raw), knobs }, reasons };
  } catch {
    return null; // pathological nesting
  }
}

function enumOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  key: string,
  reasons: Reasons,
): T | null {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) {
    return value as T;
  }
  reasons[key] = absentOrCorrupt(value);
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
  reasons[key] = absentOrCorrupt(value);
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
  if (!isObject(log)) return null;
  const reasons: Reasons = {};
  const finished_at = mtimeMs === null ? null : isoSecondsOrNull(mtimeMs);
  if (finished_at === null) reasons["finished_at"] = reasons["finished_at_source"] = "absent";
  const target = enumOf(log["target"], ["perf", "efficiency"] as const, "target", reasons);
  const target_setting = target === null ? null : TUNE_TARGETS[target];
  if (target_setting === null) reasons["target_setting"] = reasons["target"] ?? "absent";

  let seeds: string[] | null = null;
  const rawSeeds = log["seeds"];
  if (Array.isArray(rawSeeds) && rawSeeds.every((s) => typeof s === "string")) {
    seeds = (rawSeeds as string[]).slice(0, 16).map((s) => s.slice(0, 32));
  } else reasons["seeds"] = absentOrCorrupt(rawSeeds);

  let best: TuneBest | null = null;
  const rawBest = log["best"];
  if (isObject(rawBest)) {
    const knobs = logKnobs(rawBest, "best.", reasons);
    best = { ...knobs, hashrate: numberOf(rawBest["hashrate"], "best.hashrate", reasons) };
  } else reasons["best"] = absentOrCorrupt(rawBest);
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
      if (!isObject(entry)) continue;
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
    const why = absentOrCorrupt(results);
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
      finished_at_source: finished_at === null ? null : "mtime",
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
