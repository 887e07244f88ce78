/**
 * The tune probe: RigForge's tuning state. The applied winner (`<worker_root>/tune-overrides.json`)
 * and the last full tune (`<worker_root>/rigforge-tune.json` and its mtime) are parsed in
 * `tune_files.ts`; periodic autotune (units, timer state, journal decisions) is collected in
 * `autotune.ts`; generic systemd parsing lives in `systemd_unit.ts`. This module reads the
 * files, assembles the record and re-exports those modules' API under its historical path.
 *
 * Vocabulary: the tune log and the unit say `perf`/`efficiency` (`target`); RigForge's config
 * says `performance`/`efficiency` (`target_setting`). Both are given.
 *
 * @module
 */

import { join } from "node:path";
import { type AutotuneState, collectAutotune } from "./autotune.ts";
import { mergeReasons } from "./json.ts";
import { readText } from "./read.ts";
import { type AppliedTune, type LastTuneRun, parseOverrides, parseTuneLog } from "./tune_files.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

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

const OVERRIDES_MAX_BYTES = 64 * 1024;
const TUNE_LOG_MAX_BYTES = 4 * 1024 * 1024;

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
        mergeReasons(reasons, "applied.", parsed.reasons);
      }
    }
    if (!log.ok) reasons["last_run"] = log.reason;
    else {
      const parsed = parseTuneLog(log.text, log.mtimeMs);
      if (parsed === null) reasons["last_run"] = "corrupt";
      else {
        last_run = parsed.value;
        mergeReasons(reasons, "last_run.", parsed.reasons);
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
