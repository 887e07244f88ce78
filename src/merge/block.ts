/**
 * The `rigforge` block spliced into XMRig's summaries: every key RigForge v1.12's block has,
 * with the same types (`version`, `xmrig_version`, `xmrig_commit`, `tune`, `power`, `health`,
 * `watchdog`, `config`, `config_meta`), `control` (the last control outcome, `null` when none)
 * and `control_history` (the outcomes known, newest first: `[]` or the last one), then the
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

import type { XmrigReply } from "../xmrig.ts";
import { arr, bool, int, num, type Obj, obj, oneOf, parseJson, str } from "../lib/json.ts";
import { reasonIn } from "./fields.ts";
import { maskSecrets } from "../lib/secrets.ts";
import { healthSection } from "./health.ts";
import { dig, type Source, sourceOf } from "./source.ts";
import { type TuneGap, tuneGap, type TuneGapInputs } from "../checks.ts";

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
  return { hashrate: hashrateWindows(parsed), version: str(parsed?.["version"], 32) };
}

/**
 * XMRig's moving-average hashrates (`hashrate.total`: 10 s, 60 s, 15 min, H/s), decoded once
 * for the bodies and `/metrics`. A window without data (`null` in XMRig's array) or of the wrong
 * type reads as `null`.
 *
 * @param summary XMRig's summary object (or `null`)
 * @returns the three windows, or `null` when the summary has no `hashrate.total` array
 */
export function hashrateWindows(summary: Obj | null): XmrigFacts["hashrate"] {
  const total = arr(obj(summary?.["hashrate"])?.["total"]);
  return total === null ? null : [num(total[0]), num(total[1]), num(total[2])];
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
    parsed = obj(parseJson(reply.text));
    parsedReplies.set(reply, parsed);
  }
  return parsed;
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
    // v1.12's meaning: the release RigForge pins and builds, not what happens to be running.
    xmrig_version: src.get(
      "xmrig_version",
      "provenance",
      "xmrig_version_pinned",
      (v) => str(v, 64),
    ),
    xmrig_commit: src.get("xmrig_commit", "provenance", "xmrig_commit", (v) => str(v, 64)),
    tune: tuneSection(src),
    power: powerSection(src),
    health: healthSection(src),
    watchdog: watchdogSection(src),
    config: configSection(src),
    config_meta: configMeta(src),
  };
  // Pithead's model of RigForge >= 1.16: the keys are always there (`null`, `[]` when none).
  const view = src.record("config_view");
  const control = src.log.note(
    "control",
    controlSection(src),
    view === null ? src.missing("config_view") : reasonIn(view, "control") ?? "absent",
  );
  block["control"] = control;
  block["control_history"] = control === null ? [] : [control];
  const running = src.log.note(
    "xmrig_version_running",
    facts.version === null ? null : `v${facts.version}`,
    down ? "not-running" : "corrupt",
  );
  const pinned = block["xmrig_version"];
  Object.assign(block, {
    xmrig_version_running: running,
    xmrig_version_mismatch: src.log.note(
      "xmrig_version_mismatch",
      running === null || typeof pinned !== "string" ? null : !sameVersion(running, pinned),
      running === null
        ? src.log.reasons["xmrig_version_running"] ?? null
        : src.log.reasons["xmrig_version"] ?? "absent",
    ),
    xmrig_build_matches_pin: src.get(
      "xmrig_build_matches_pin",
      "provenance",
      "xmrig_build_matches_pin",
      bool,
    ),
    control_receiver: controlReceiverSection(src),
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
    vs_best: vsBest(src, at("vs_best")),
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
      finished_at_source: oneOf(lastRun["finished_at_source"], TIME_SOURCES),
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

/** Live performance against the last tune's best (see `tune_gap.ts`), or `null` + reason. */
function vsBest(src: Source, path: string): TuneGap | null {
  const gap = tuneGap(tuneGapInputs(src));
  return src.log.note(
    path,
    typeof gap === "string" ? null : gap,
    typeof gap === "string" ? gap : null,
  );
}

/**
 * The figures the tune comparison reads from the snapshot's records.
 *
 * @param src the snapshot source
 * @returns the inputs
 */
export function tuneGapInputs(src: Source): TuneGapInputs {
  const tune = src.record("tune");
  const xmrig = src.record("xmrig_api");
  const power = src.record("power");
  const target = oneOf(dig(tune, "last_run.target"), TARGETS);
  return {
    target,
    best_hs: num(dig(tune, "last_run.best_hs")),
    best_hs_per_watt: num(dig(tune, "last_run.best_hs_per_watt")),
    best_reason: reasonIn(
      tune,
      target === "efficiency" ? "last_run.best_hs_per_watt" : "last_run.best_hs",
    ),
    hs_15m: num(dig(xmrig, "hashrate.15m")),
    hs_15m_reason: xmrig === null ? src.missing("xmrig_api") : reasonIn(xmrig, "hashrate.15m"),
    hs_per_watt_60s: num(dig(power, "paired.hs_per_watt")),
    hs_per_watt_reason: power === null ? src.missing("power") : reasonIn(power, "paired"),
  };
}

const TARGETS = ["perf", "efficiency"] as const;
const SETTINGS = ["performance", "efficiency"] as const;

/**
 * The power section. With the probe's 60 s pair (`power.paired`: XMRig's 60 s hashrate and
 * RAPL energy over the same 60 s, ending at `window_end`), `watts`, `hashrate_hs` and
 * `hs_per_watt` all cover that window. Without it, `watts` is the probe interval's average
 * (`window_s` says how long) and `hs_per_watt` is `null` with the pair's reason: dividing a
 * hashrate from another moment would be a figure no interval had.
 */
function powerSection(src: Source): Obj {
  const paired = obj(src.record("power")?.["paired"]);
  const source = src.get("power.source", "power", "source", (v) => oneOf(v, POWER_SOURCES));
  if (paired !== null) {
    const field = <T>(key: string, value: T | null) =>
      src.log.note(`power.${key}`, value, "corrupt");
    return {
      watts: field("watts", num(paired["watts"])),
      hs_per_watt: field("hs_per_watt", num(paired["hs_per_watt"])),
      window_s: field("window_s", num(paired["window_s"])),
      source,
      hs_window: field("hs_window", oneOf(paired["hs_window"], ["60s"])),
      hashrate_hs: field("hashrate_hs", num(paired["hashrate_hs"])),
      window_end: field("window_end", str(paired["window_end"], 64)),
    };
  }
  const watts = src.get("power.watts", "power", "watts", num);
  const why = src.record("power") === null
    ? src.missing("power")
    : reasonIn(src.record("power"), "paired") ?? "unreadable";
  return {
    watts,
    hs_per_watt: src.log.note("power.hs_per_watt", null, why),
    window_s: src.get("power.window_s", "power", "window_s", num),
    source,
    hs_window: null,
    hashrate_hs: null,
    window_end: null,
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
    thermal_hold_since_source: oneOf(
      src.record("watchdog")?.["thermal_hold_since_source"],
      TIME_SOURCES,
    ),
    temp_source: str(src.record("thermal")?.["source"], 64),
  };
}

const MODES = ["enabled", "disabled"] as const;
/** Where a served time came from: today only a file's `mtime` (no content or journal time). */
const TIME_SOURCES = ["mtime"] as const;

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

/** `v6.26.0` and `6.26.0` name the same release. */
function sameVersion(a: string, b: string): boolean {
  return a.replace(/^v/, "") === b.replace(/^v/, "");
}

/**
 * What RigForge's control receiver answered the probe (`GET /status` on loopback, RigForge's
 * doctor check 9), read-only: `null` when control is not enabled or RigForge is absent.
 */
function controlReceiverSection(src: Source): Obj | null {
  const r = src.record("control_receiver");
  if (r === null || bool(r["enabled"]) !== true || bool(r["answers"]) === null) {
    const why = r === null
      ? src.missing("control_receiver")
      : bool(r["enabled"]) !== true
      ? "absent"
      : reasonIn(r, "answers") ?? "unreadable";
    src.log.note("control_receiver", null, why);
    return null;
  }
  const last = obj(r["last"]);
  return {
    answers: bool(r["answers"]),
    http_status: int(r["http_status"]),
    error: str(r["error"], 64),
    port: int(r["port"]),
    last: last === null ? null : {
      change_id: str(last["change_id"], 64),
      status: str(last["status"], 32),
      applied_at: str(last["applied_at"], 64),
    },
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
