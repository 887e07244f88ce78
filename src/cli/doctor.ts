/**
 * `rigforge-api doctor [--json]`: runs every probe once, judges the records with
 * `src/checks.ts` and prints one line per check (or one JSON document). Exits 1 when a check
 * found a counted issue, 0 otherwise; Linux only (elsewhere it says so and exits 0).
 *
 * @module
 */

import {
  type Check,
  type CheckStatus,
  evaluate,
  type Evaluation,
  rigforgeFound,
  sectionOf,
} from "../checks.ts";
import { healthObject } from "../merge.ts";
import { type ProbePass, type ProbeRecords, runProbes } from "../probe.ts";
import { isoSeconds } from "../lib/time.ts";
import { buildSnapshot, DEFAULT_INTERVAL_S, DEFAULT_SNAPSHOT_PATH } from "../snapshot.ts";
import { VERSION } from "../version.ts";
import { type Command, type Io, parseCommandArgs } from "./args.ts";
import { buildContext, LOCATION_HELP, LOCATION_OPTIONS } from "./context.ts";
import { PROBE_XMRIG, withLoopbackHttp } from "../probe.ts";
import { previousCounters } from "./probe.ts";

const HELP = `rigforge-api doctor: check this rig the way RigForge's doctor does, and more

Runs every probe once (about a quarter of a second: the CPU load window) and judges the
result with RigForge's thresholds: miner service, huge pages, MSR mod (module, XMRig's log
since its last start, register read-back), binary integrity, XMRig's API posture, RAM layout
and speed, clock over the busy CPUs, firmware, NUMA, temperature, watchdog, autotune and
rigforge-api's own socket. Root-only checks (SMBIOS, MSR read-back) say "needs root" without
sudo and are never counted as issues.

USAGE:
  rigforge-api doctor [--json] [--rigforge-home DIR] [--config FILE] [--root DIR]

OPTIONS:
  --json                one JSON document: verdict, every check (stable ids) and the
                        /health object
${LOCATION_HELP}
  -h, --help            this help

OUTPUT:
  ✓ ok   ! warning   ∙ information   ✗ issue   ? needs root (run with sudo)

EXIT STATUS:
  0 no counted issue (warnings allowed), or not Linux. RigForge not found is not an issue:
    the first line says where doctor looked, and the checks that need RigForge are skipped
  1 at least one issue, or the config is unusable
  2 usage error

EXAMPLES:
  sudo rigforge-api doctor
  rigforge-api doctor --json | jq '.checks[] | select(.status == "issue")'
  rigforge-api doctor --root /mnt/rig --rigforge-home /mnt/rig/opt/rigforge
`;

/** The mark printed before each check, by status (`skipped` checks are not printed). */
export const MARKS: Record<Exclude<CheckStatus, "skipped">, string> = {
  ok: "✓",
  warn: "!",
  info: "∙",
  issue: "✗",
  "needs-root": "?",
};

/** The `doctor --json` document. */
export interface DoctorReport {
  /** When doctor ran: UTC ISO-8601, whole seconds. */
  generated_at: string;
  /** rigforge-api's own version. */
  rigforge_api_version: string;
  /** RigForge's version (`<rigforge-home>/VERSION`), or `null`. */
  rigforge_version: string | null;
  /** Whether doctor ran as root (root-only checks were attempted). */
  is_root: boolean;
  /**
   * Whether RigForge is there (`VERSION` or `config.json` read) and, when it is not, where
   * doctor looked (`looked_in`; `null` when found or not known). When not found, the checks
   * that need RigForge are `skipped`.
   */
  rigforge: { found: boolean; looked_in: string | null };
  /** Counted issues and warnings. */
  verdict: Evaluation["verdict"];
  /** Every check in doctor's order, `skipped` ones included. */
  checks: Check[];
  /** The object `/health` would serve for these records (`healthObject` of `src/merge.ts`). */
  health: Record<string, unknown>;
}

/**
 * Builds the `--json` document. `health` is exactly what `/health` would serve for a snapshot
 * of this pass (`healthObject` from `src/merge.ts`), doctor section included.
 *
 * @param pass the probe pass
 * @param evaluation the checks and verdict
 * @param options the pass's start and end times and privilege
 * @returns the document
 */
export function doctorReport(
  pass: ProbePass,
  evaluation: Evaluation,
  options: { startedMs: number; nowMs: number; isRoot: boolean; home?: string | null },
): DoctorReport {
  const snapshot = buildSnapshot(pass, { now: () => options.nowMs }, {
    intervalS: DEFAULT_INTERVAL_S,
    startedMs: options.startedMs,
  });
  const view = { read: { snapshot, error: null }, now: options.nowMs };
  return {
    generated_at: isoSeconds(options.nowMs),
    rigforge_api_version: VERSION,
    rigforge_version: pass.records.provenance?.rigforge_version ?? null,
    is_root: options.isRoot,
    rigforge: {
      found: rigforgeFound(pass.records),
      looked_in: rigforgeFound(pass.records) ? null : options.home ?? null,
    },
    verdict: evaluation.verdict,
    checks: evaluation.checks,
    health: healthObject(view, sectionOf(evaluation)),
  };
}

/**
 * Renders the human report: a header, one line per check that applies, and a summary.
 *
 * @param records the probe records (for the header)
 * @param evaluation the checks and verdict
 * @param home where RigForge was looked for (named in the first line when it is not there)
 * @returns the text, ending in a newline
 */
export function renderDoctor(
  records: ProbeRecords,
  evaluation: Evaluation,
  home: string | null = null,
): string {
  const shown = evaluation.checks.filter((c) => c.status !== "skipped");
  const width = Math.max(0, ...shown.map((c) => c.title.length));
  const lines = [header(records, home)];
  for (const c of shown) {
    const mark = MARKS[c.status as Exclude<CheckStatus, "skipped">];
    lines.push(`  ${mark} ${c.title.padEnd(width)}  ${c.detail}`);
  }
  lines.push(summary(evaluation));
  return lines.join("\n") + "\n";
}

function header(records: ProbeRecords, home: string | null): string {
  const version = records.provenance?.rigforge_version ?? null;
  const fw = records.firmware;
  const board = fw?.board_name
    ? [fw.board_vendor, fw.board_name]
    : [fw?.sys_vendor, fw?.product_name];
  const machine = [
    board.filter((v) => typeof v === "string" && v !== "").join(" "),
    records.cpu?.model_name ?? "",
  ].filter((p) => p !== "");
  const on = machine.length === 0 ? "" : ` on ${machine.join(", ")}`;
  if (!rigforgeFound(records)) {
    const where = home === null ? "" : ` at ${home}`;
    return `rigforge-api doctor — RigForge is not installed${where} (no VERSION or config.json ` +
      `there)${on}; the checks that need RigForge are skipped (--rigforge-home DIR to point ` +
      "at it)";
  }
  const unknown = (records.config_view?.config ?? null) === null ? "(not found)" : "(no VERSION)";
  return `rigforge-api doctor — RigForge ${version ?? unknown}${on}`;
}

function summary({ verdict, checks }: Evaluation): string {
  const warnings = verdict.warnings === 0 ? "" : `, ${verdict.warnings} warning(s)`;
  const needRoot = checks.filter((c) => c.status === "needs-root").length;
  const root = needRoot === 0 ? "" : `; ${needRoot} check(s) need root: run with sudo`;
  if (verdict.issues === 0) return `all critical checks passed${warnings}${root}`;
  return `${verdict.issues} issue(s) found${warnings}${root}`;
}

async function run(argv: string[], io: Io): Promise<number> {
  const values = parseCommandArgs(argv, { json: { type: "boolean" }, ...LOCATION_OPTIONS });
  if (Deno.build.os !== "linux") {
    io.stderr("rigforge-api doctor: doctor is Linux-only (it reads /proc, /sys and systemd)\n");
    return 0;
  }
  // On the machine itself (no --root): ask XMRig and the control receiver over loopback, and
  // reuse the probe timer's counters, so the 60 s power pair is there as it is for serve.
  let ctx = await buildContext(values, io, { sampleMs: 250 });
  if (ctx.root === "/") {
    ctx.previous = await previousCounters(DEFAULT_SNAPSHOT_PATH, ctx.now(), DEFAULT_INTERVAL_S);
    ctx = withLoopbackHttp(ctx, PROBE_XMRIG);
  }
  const startedMs = ctx.now();
  const pass = await runProbes(ctx);
  const evaluation = evaluate(pass.records, { isRoot: ctx.isRoot, linux: true });
  if (values["json"] === true) {
    const report = doctorReport(pass, evaluation, {
      startedMs,
      nowMs: ctx.now(),
      isRoot: ctx.isRoot,
      home: ctx.rigforge?.home ?? null,
    });
    io.stdout(JSON.stringify(report, null, 2) + "\n");
  } else {
    io.stdout(renderDoctor(pass.records, evaluation, ctx.rigforge?.home ?? null));
  }
  return evaluation.verdict.issues > 0 ? 1 : 0;
}

/** The `doctor` command. */
export const doctorCommand: Command = {
  name: "doctor",
  help: HELP,
  run,
};
