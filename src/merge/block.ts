/**
 * The `rigforge` block spliced into XMRig's summaries: every key RigForge v1.12's block has,
 * with the same types (`version`, `xmrig_version`, `xmrig_commit`, `tune`, `power`, `health`,
 * `watchdog`, `config`, `config_meta`, and `control` when a control outcome exists), then the
 * probe data v1.12 did not serve (`api_version`, `snapshot`, `provenance`, `exposure`), the
 * XMRig status (`xmrig_api`: `ok` | `unreachable`, `xmrig_error`) and `reasons` (dotted path →
 * why that value is `null`).
 *
 * Values that come from the snapshot are `null` when it is missing or stale (reason
 * `not-running`: the probe timer is not producing); `rigforge.snapshot.status` says which.
 *
 * @module
 */

import type { Snapshot, SnapshotFileError } from "../snapshot.ts";
import { VERSION } from "../version.ts";

export { maskSecrets } from "../lib/secrets.ts";
import type { XmrigReply } from "../xmrig.ts";
import { arr, bool, int, num, type Obj, obj, oneOf, str } from "./fields.ts";
import { maskSecrets } from "../lib/secrets.ts";
import { healthSection } from "./health.ts";
import { type Source, sourceOf } from "./source.ts";

/** XMRig's hashrate windows (`hashrate.total[0..2]`), seconds. */
export const XMRIG_WINDOWS_S: readonly [number, number, number] = [10, 60, 900];
const WINDOW_NAMES = ["10s", "60s", "15m"] as const;

/** What the block needs from XMRig's summary (parsed only for these numbers). */
export interface XmrigFacts {
  /** `hashrate.total`: 10 s, 60 s and 15 min averages, H/s (`null`: not enough data yet). */
  hashrate: [number | null, number | null, number | null] | null;
  /** `version`, e.g. `6.26.0`. */
  version: string | null;
}

/**
 * Reads the hashrate windows and version from XMRig's summary text.
 *
 * @param reply XMRig's reply (or `null` when not fetched)
 * @returns the facts (all `null` when unreachable or unparsable)
 */
export function xmrigFacts(reply: XmrigReply | null): XmrigFacts {
  const parsed = xmrigObject(reply);
  const total = arr(obj(parsed?.["hashrate"])?.["total"]);
  return {
    hashrate: total === null ? null : [num(total[0]), num(total[1]), num(total[2])],
    version: str(parsed?.["version"], 32),
  };
}

const parsedReplies = new WeakMap<object, Obj | null>();

/**
 * XMRig's reply parsed as an object, once per reply object: the client caches a reply for a
 * second, so every body and `/metrics` built from it share one `JSON.parse`. (Parsed numbers are
 * only read for facts and metrics; the spliced bodies keep XMRig's text.)
 *
 * @param reply XMRig's reply (or `null` when not fetched)
 * @returns the object, or `null` when unreachable or not a JSON object
 */
export function xmrigObject(reply: XmrigReply | null): Obj | null {
  if (reply === null || !reply.ok) return null;
  let parsed = parsedReplies.get(reply);
  if (parsed === undefined) {
    try {
      parsed = obj(JSON.parse(reply.text));
    } catch {
      parsed = null;
    }
    parsedReplies.set(reply, parsed);
  }
  return parsed;
}

/**
 * Pairs the power window with XMRig's hashrate window of the closest length (by ratio): a 15 s
 * probe interval pairs with the 10 s average, 45 s with 60 s. When that window has no value
 * yet, the next closest one with a value is used.
 *
 * @param windowS the power window, seconds
 * @param hashrate XMRig's three windows
 * @returns the chosen window's name and H/s, or `null` when none has a positive value
 */
export function matchWindow(
  windowS: number,
  hashrate: XmrigFacts["hashrate"],
): { window: "10s" | "60s" | "15m"; hs: number } | null {
  if (hashrate === null || !(windowS > 0)) return null;
  const order = [0, 1, 2].sort((a, b) =>
    Math.abs(Math.log(XMRIG_WINDOWS_S[a]! / windowS)) -
    Math.abs(Math.log(XMRIG_WINDOWS_S[b]! / windowS))
  );
  for (const i of order) {
    const hs = hashrate[i];
    if (hs !== null && hs !== undefined && hs > 0) return { window: WINDOW_NAMES[i]!, hs };
  }
  return null;
}

/** Options for {@link rigforgeBlock}. */
export interface BlockOptions {
  /** The snapshot cache's latest read error (`corrupt`: the last good snapshot is in use). */
  snapshotError?: SnapshotFileError | null;
}

/**
 * Builds the `rigforge` block.
 *
 * @param snapshot the cached snapshot, or `null`
 * @param xmrig XMRig's summary reply (`null`: not fetched, e.g. for `/health`)
 * @param now wall clock, ms since the epoch
 * @param options the snapshot read error
 * @returns the block, ready for `JSON.stringify`
 */
export function rigforgeBlock(
  snapshot: Snapshot | null,
  xmrig: XmrigReply | null,
  now: number,
  options: BlockOptions = {},
): Obj {
  const src = sourceOf(snapshot, now, options.snapshotError ?? null);
  const facts = xmrigFacts(xmrig);
  const down = xmrig === null || !xmrig.ok;
  const block: Obj = {
    version: src.get("version", "provenance", "rigforge_version", (v) => str(v, 64)),
    xmrig_version: src.log.note(
      "xmrig_version",
      facts.version === null ? null : `v${facts.version}`,
      down ? "not-running" : "absent",
    ),
    xmrig_commit: src.get("xmrig_commit", "provenance", "xmrig_commit", (v) => str(v, 64)),
    tune: tuneSection(src),
    power: powerSection(src, facts),
    health: healthSection(src),
    watchdog: watchdogSection(src),
    config: configSection(src),
    config_meta: configMeta(src),
  };
  const control = controlSection(src);
  if (control !== null) block["control"] = control;
  Object.assign(block, {
    api_version: VERSION,
    snapshot: src.info,
    provenance: provenanceSection(src),
    exposure: exposureSection(src),
    xmrig_api: down ? "unreachable" : "ok",
    xmrig_error: xmrig === null ? "not fetched" : xmrig.ok ? null : xmrig.error,
    reasons: src.log.reasons,
  });
  return block;
}

/**
 * Builds the tune section (also the body of `/tune`).
 *
 * @param src the snapshot source
 * @param prefix the section's path, for reasons
 * @returns the section
 */
export function tuneSection(src: Source, prefix = "tune"): Obj {
  const at = (key: string) => prefix === "" ? key : `${prefix}.${key}`;
  const autotune = obj(src.record("tune")?.["autotune"]);
  const lastRun = obj(src.record("tune")?.["last_run"]);
  const text = (v: unknown) => str(v, 64);
  return {
    applied: maskSecrets(src.get(at("applied"), "tune", "applied.raw", obj)),
    target: src.get(at("target"), "tune", "last_run.target", (v) => oneOf(v, TARGETS)),
    last_best_hs: src.get(at("last_best_hs"), "tune", "last_run.best_hs", num),
    candidates_tried: src.get(at("candidates_tried"), "tune", "last_run.candidates_tried", int),
    autotune: {
      enabled: src.get(at("autotune.enabled"), "tune", "autotune.enabled", bool),
      target: src.get(at("autotune.target"), "tune", "autotune.target", (v) => oneOf(v, TARGETS)),
      schedule: src.get(at("autotune.schedule"), "tune", "autotune.schedule", text),
      next: src.get(at("autotune.next"), "tune", "autotune.next", text),
      active: bool(autotune?.["active"]),
      target_setting: oneOf(autotune?.["target_setting"], SETTINGS),
      last_run: str(autotune?.["last_run"], 64),
      recent: arr(autotune?.["recent"])?.map(obj).filter((d) => d !== null) ?? null,
    },
    last_run: lastRun === null ? null : {
      finished_at: str(lastRun["finished_at"], 64),
      mode: oneOf(lastRun["mode"], ["bench", "live"]),
      target_setting: oneOf(lastRun["target_setting"], SETTINGS),
      search: oneOf(lastRun["search"], ["climb", "grid"]),
      iterations: int(lastRun["iterations"]),
      best: maskSecrets(obj(lastRun["best"])),
      best_hs_per_watt: num(lastRun["best_hs_per_watt"]),
      throttled_count: int(lastRun["throttled_count"]),
      hugepages_capped_count: int(lastRun["hugepages_capped_count"]),
      results_count: int(lastRun["results_count"]),
    },
  };
}

const TARGETS = ["perf", "efficiency"] as const;
const SETTINGS = ["performance", "efficiency"] as const;

function powerSection(src: Source, facts: XmrigFacts): Obj {
  const watts = src.get("power.watts", "power", "watts", num);
  const windowS = src.get("power.window_s", "power", "window_s", num);
  const pair = windowS === null ? null : matchWindow(windowS, facts.hashrate);
  const hsPerWatt = pair !== null && watts !== null && watts > 0
    ? Math.round(pair.hs / watts * 100) / 100
    : null;
  // No watts: the watts' reason; else no hashrate yet, or XMRig down: nothing to divide.
  const why = watts === null ? src.log.reasons["power.watts"] ?? null : "not-running";
  return {
    watts,
    hs_per_watt: src.log.note("power.hs_per_watt", hsPerWatt, why),
    window_s: windowS,
    source: src.get("power.source", "power", "source", (v) => oneOf(v, POWER_SOURCES)),
    hs_window: pair?.window ?? null,
    hashrate_hs: pair?.hs ?? null,
  };
}

const POWER_SOURCES = ["rapl-window", "rapl-sample"] as const;

/**
 * Builds the watchdog section: exactly `{"mode": "disabled"}` when disabled (as v1.12), else
 * v1.12's keys (`thermal_hold`, `max_temp_c`, `resumes_below_c`, `temp_c`, `strikes`) plus
 * `interval_min`, `thermal_hold_since` and `temp_source` (the sensor `temp_c` came from).
 *
 * @param src the snapshot source
 * @param prefix the section's path, for reasons
 * @returns the section
 */
export function watchdogSection(src: Source, prefix = "watchdog"): Obj {
  const at = (key: string) => prefix === "" ? key : `${prefix}.${key}`;
  const mode = src.get(at("mode"), "watchdog", "mode", (v) => oneOf(v, MODES));
  if (mode === "disabled") return { mode };
  return {
    mode,
    thermal_hold: src.get(at("thermal_hold"), "watchdog", "thermal_hold", bool),
    max_temp_c: src.get(at("max_temp_c"), "watchdog", "max_temp_c", int),
    resumes_below_c: src.get(at("resumes_below_c"), "watchdog", "resumes_below_c", int),
    temp_c: src.get(at("temp_c"), "thermal", "package_c", num),
    strikes: src.get(at("strikes"), "watchdog", "strikes", int),
    interval_min: int(src.record("watchdog")?.["interval_min"]),
    thermal_hold_since: str(src.record("watchdog")?.["thermal_hold_since"], 64),
    temp_source: str(src.record("thermal")?.["source"], 64),
  };
}

const MODES = ["enabled", "disabled"] as const;

function configSection(src: Source): Obj | null {
  return maskSecrets(src.get("config", "config_view", "config", obj));
}

function configMeta(src: Source): Obj {
  const meta = src.get("config_meta", "config_view", "config_meta", obj);
  const why = src.log.reasons["config_meta"] ?? null;
  const field = <T>(key: string, value: T | null): T | null =>
    src.log.note(`config_meta.${key}`, value, meta === null ? why : "absent");
  return {
    revision: field("revision", str(meta?.["revision"], 64)),
    changed_at: field("changed_at", str(meta?.["changed_at"], 64)),
    source: field("source", oneOf(meta?.["source"], ["control", "local", "restore"])),
    last_change_id: field("last_change_id", str(meta?.["last_change_id"], 64)),
    edited_since_stamp: bool(src.record("config_view")?.["edited_since_stamp"]),
  };
}

function controlSection(src: Source): Obj | null {
  const control = obj(src.record("config_view")?.["control"]);
  if (control === null) return null;
  return {
    change_id: str(control["change_id"], 64),
    status: str(control["status"], 32),
    reason: str(control["reason"], 512),
    applied_at: str(control["applied_at"], 64),
  };
}

function provenanceSection(src: Source): Obj {
  const p = src.record("provenance");
  const http = obj(p?.["xmrig_http"]);
  return {
    xmrig_sha256: str(p?.["xmrig_sha256_actual"], 64),
    binary_matches: bool(p?.["binary_matches"]),
    xmrig_http: http === null ? null : {
      enabled: bool(http["enabled"]),
      host: str(http["host"], 64),
      port: int(http["port"]),
      restricted: bool(http["restricted"]),
      token_set: bool(http["token_set"]),
    },
  };
}

function exposureSection(src: Source): Obj {
  const e = src.record("exposure");
  return {
    api: oneOf(e?.["api"], MODES),
    port: int(e?.["port"]),
    bind: str(e?.["bind"], 64),
    token_required: bool(e?.["token_set"]),
    named_tokens: int(e?.["named_tokens"]),
    scoped: bool(e?.["scoped"]),
  };
}
