/**
 * `rigforge-api tune-history [--json]`: RigForge's `tune --history` with times and the whole
 * decision trail: the applied knobs (`tune-overrides.json`), the last full tune
 * (`rigforge-tune.json` and its mtime), and periodic autotune (timer state, target, schedule,
 * next and last run as ISO 8601, recent decisions from the journal including the baseline).
 * Runs only the `tune` and `service` probes; never needs root.
 *
 * @module
 */

import { join } from "node:path";
import {
  type AutotuneDecision,
  runProbes,
  type ServiceRecord,
  type TuneKnobs,
  type TuneRecord,
  unknownAutotune,
} from "../probe.ts";
import { isoSeconds } from "../lib/time.ts";
import { type Command, type Io, parseCommandArgs } from "./args.ts";
import { buildContext, LOCATION_HELP, LOCATION_OPTIONS } from "./context.ts";

const HELP = `rigforge-api tune-history: what RigForge's tuning chose, when, and why

Shows the knobs applied from tune-overrides.json, the last full 'rigforge.sh tune' run
(from rigforge-tune.json; its time is the file's mtime), and periodic autotune: whether the
timer is installed and active, its target and schedule, the next and last run, and the
recent decisions from the journal (baseline, measurements, the choice). Times are ISO 8601
UTC. Read-only; needs no root.

USAGE:
  rigforge-api tune-history [--json] [--rigforge-home DIR] [--config FILE] [--root DIR]

OPTIONS:
  --json                one JSON document (applied, last_run, autotune with recent
                        decisions)
${LOCATION_HELP}
  -h, --help            this help

EXAMPLES:
  rigforge-api tune-history
  rigforge-api tune-history --json | jq '.autotune.recent[-1]'
`;

/** The `tune-history --json` document. */
export interface TuneHistoryReport {
  /** When it ran: UTC ISO-8601, whole seconds. */
  generated_at: string;
  /** The applied overrides (raw, credentials masked, and as knobs), or `null`. */
  applied: TuneRecord["applied"];
  /** The last full tune, or `null`. */
  last_run: TuneRecord["last_run"];
  /** Periodic autotune; `active` falls back to the timer's `is-active` state. */
  autotune: TuneRecord["autotune"];
  /** Why each `null` field is `null` (dotted paths relative to the document). */
  reasons: TuneRecord["reasons"];
}

/**
 * Builds the `--json` document from the tune and service records.
 *
 * @param tune the tune record (`null` when the probe failed)
 * @param service the service record (for the timer's active state), or `null`
 * @param nowMs when it ran
 * @returns the document
 */
export function tuneHistoryReport(
  tune: TuneRecord | null,
  service: ServiceRecord | null,
  nowMs: number,
): TuneHistoryReport {
  const autotune: TuneRecord["autotune"] = tune?.autotune ?? unknownAutotune();
  const timerState = service?.autotune_timer ?? null;
  const active = autotune.active ?? (timerState === null ? null : timerState === "active");
  return {
    generated_at: isoSeconds(nowMs),
    applied: tune?.applied ?? null,
    last_run: tune?.last_run ?? null,
    autotune: { ...autotune, active },
    reasons: tune?.reasons ?? { applied: "unreadable", last_run: "unreadable" },
  };
}

const KNOB_ORDER: (keyof TuneKnobs)[] = [
  "prefetch_mode",
  "threads",
  "yield",
  "1gb-pages",
  "priority",
  "huge-pages-jit",
  "cache_qos",
  "wrmsr",
];

function appliedLines(report: TuneHistoryReport): string[] {
  if (report.applied === null) {
    return [
      "Applied knobs: none yet (running XMRig's auto defaults).",
      "    Run 'rigforge.sh tune' to find the best knobs for this rig.",
    ];
  }
  const knobs = report.applied.knobs;
  const set = KNOB_ORDER.filter((k) => knobs[k] !== null).map((k) => `    • ${k}=${knobs[k]}`);
  if (set.length === 0) return ["Applied knobs: tune-overrides.json sets none of the tuned knobs."];
  return ["Applied knobs (tune-overrides.json):", ...set];
}

function lastRunLines(report: TuneHistoryReport, workerRoot: string | null): string[] {
  const run = report.last_run;
  if (run === null) return ["Last full tune: none recorded yet."];
  const parts = [
    `target=${run.target ?? "?"}`,
    run.mode === null ? null : `mode=${run.mode}`,
    run.search === null ? null : `search=${run.search}`,
    `${run.candidates_tried ?? "?"} candidate(s) tried`,
    run.best_hs === null ? null : `best ${run.best_hs} H/s`,
    run.best_hs_per_watt === null ? null : `${run.best_hs_per_watt} H/s/W`,
  ].filter((p) => p !== null);
  const best = run.best === null
    ? null
    : KNOB_ORDER.filter((k) => run.best?.[k] !== null).map((k) => `${k}=${run.best?.[k]}`);
  const flags = [
    run.throttled_count ? `${run.throttled_count} throttled` : null,
    run.hugepages_capped_count ? `${run.hugepages_capped_count} hugepages-capped` : null,
  ].filter((p) => p !== null);
  return [
    `Last full tune (${run.finished_at ?? "time unknown"}): ${parts.join(", ")}`,
    ...(best === null || best.length === 0 ? [] : [`    best knobs: ${best.join(" ")}`]),
    ...(flags.length === 0 ? [] : [`    results: ${flags.join(", ")}`]),
    ...(workerRoot === null
      ? []
      : [`    full search log: ${join(workerRoot, "rigforge-tune.json")}`]),
  ];
}

const TARGET_TEXT: Record<string, string> = {
  performance: "performance (hashrate)",
  efficiency: "efficiency (hashrate-per-watt)",
};

function decisionLine(d: AutotuneDecision): string {
  const tag = d.outcome === "measured" ? "" : ` [${d.outcome}]`;
  return `      ${d.time}  ${d.text}${tag}`;
}

function autotuneLines(report: TuneHistoryReport): string[] {
  const at = report.autotune;
  if (!at.enabled) {
    return [
      "Periodic autotune: off.",
      '    Set "autotune": "performance" or "efficiency" in config.json and run apply.',
    ];
  }
  const state = at.active === null ? "state unknown" : at.active ? "active" : "inactive";
  const setting = at.target_setting ?? null;
  const schedule = [
    `    schedule: ${at.schedule ?? "?"}`,
    at.next === null ? null : `next run: ${at.next}`,
    at.last_run === null ? null : `last run: ${at.last_run}`,
  ].filter((p) => p !== null);
  const recent = at.recent ?? [];
  return [
    `Periodic autotune: enabled (${state}).`,
    `    optimizing for: ${setting === null ? "?" : TARGET_TEXT[setting] ?? setting}`,
    schedule.join(" — "),
    ...(recent.length === 0
      ? ["    recent decisions: none in the journal"]
      : ["    recent decisions:", ...recent.map(decisionLine)]),
    "    full log: journalctl -u rigforge-autotune",
  ];
}

/**
 * Renders the human history.
 *
 * @param report the document
 * @param workerRoot RigForge's worker root (for the path of the full search log), or `null`
 * @returns the text, ending in a newline
 */
export function renderTuneHistory(report: TuneHistoryReport, workerRoot: string | null): string {
  return [
    ...appliedLines(report),
    "",
    ...lastRunLines(report, workerRoot),
    "",
    ...autotuneLines(report),
  ].join("\n") + "\n";
}

async function run(argv: string[], io: Io): Promise<number> {
  const values = parseCommandArgs(argv, { json: { type: "boolean" }, ...LOCATION_OPTIONS });
  const ctx = await buildContext(values, io, { sampleMs: 0 });
  const pass = await runProbes(ctx, ["tune", "service"]);
  const report = tuneHistoryReport(pass.records.tune, pass.records.service, ctx.now());
  if (values["json"] === true) io.stdout(JSON.stringify(report, null, 2) + "\n");
  else io.stdout(renderTuneHistory(report, ctx.rigforge?.workerRoot ?? null));
  return 0;
}

/** The `tune-history` command. */
export const tuneHistoryCommand: Command = {
  name: "tune-history",
  help: HELP,
  run,
};
