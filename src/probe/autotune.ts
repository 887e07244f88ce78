/**
 * RigForge's periodic autotune: the rendered units
 * `/etc/systemd/system/rigforge-autotune.{timer,service}` under the root, the timer's state
 * from `systemctl show`, and recent decisions from the journal of `rigforge-autotune.service`.
 *
 * Vocabulary: the unit says `perf`/`efficiency` (`target`); RigForge's config says
 * `performance`/`efficiency` (`target_setting`). Both are given.
 *
 * @module
 */

import { dropControl, stripAnsi } from "../lib/text.ts";
import { configSecrets } from "./config_canonical.ts";
import { redactSecrets } from "../lib/secrets.ts";
import { isObject, parseJson } from "../lib/json.ts";
import { exists, machinePath } from "./read.ts";
import {
  lastValue,
  parseEnvironment,
  parseTimerShow,
  parseUnitFile,
  readUnit,
} from "./systemd_unit.ts";
import { isoSecondsOrNull } from "../lib/time.ts";
import { TUNE_TARGETS } from "./tune_files.ts";
import type { CommandResult, NullReason, ProbeContext, Reasons } from "./types.ts";

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
  const time = isoSecondsOrNull(us / 1000);
  if (time === null) return null;
  const clean = dropControl(stripAnsi(line).replace(/\t/g, " ")).trim();
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
    if (!isObject(entry)) continue;
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

/** Maps a command that did not run cleanly (`systemctl`, `journalctl`) to a null reason. */
function commandReason(result: CommandResult): NullReason {
  if (result.failure === "timeout") return "timeout";
  if (result.failure === "absent") return "absent";
  return "unsupported";
}

/**
 * The autotune state before anything is known: not enabled, every other field `null`.
 *
 * @returns a fresh state
 */
export function unknownAutotune(): AutotuneState {
  return {
    enabled: false,
    active: null,
    target: null,
    target_setting: null,
    schedule: null,
    next: null,
    last_run: null,
    recent: null,
  };
}

/**
 * Collects the autotune state: whether the timer unit exists, its `OnCalendar=` and the
 * service's `AUTOTUNE_TARGET` (unit files and drop-ins under the root), the timer's state from
 * one `systemctl show` call, and the recent decisions from one `journalctl` call through
 * ctx.run (reused while the timer's last trigger is unchanged, at most {@link JOURNAL_TTL_MS}).
 * Decision texts have the config's secrets redacted.
 *
 * @param ctx the probe context
 * @param reasons the tune record's reasons: written with `autotune.`-prefixed keys
 * @returns the state
 */
export async function collectAutotune(
  ctx: ProbeContext,
  reasons: Reasons,
): Promise<AutotuneState> {
  const state = unknownAutotune();
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
  state.schedule = schedule === null ? null : dropControl(schedule).slice(0, 128);
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
