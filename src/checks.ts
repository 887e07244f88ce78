/**
 * Doctor's judgement: probe records in, one {@link Check} per thing RigForge's `doctor` checks
 * (with the same thresholds and the same issue rules) plus what RigForge's `/health` left out,
 * and an overall verdict. Pure: no file, clock or process access. `doctor` and `/health` share
 * it.
 *
 * Issue rules (a counted issue makes `doctor` exit 1), as in RigForge v1.12's doctor table:
 * service inactive, no huge pages, miner user mismatch, binary SHA-256 mismatch, XMRig's HTTP
 * API not restricted, msr module missing, MSR mod failed per the log, MSR registers differing
 * when the mod is expected. Plus: rigforge-api's socket down while the config enables the API,
 * and its allow-list configured but not enforced (no BPF cgroup firewall).
 * Everything else is a warning, info or ok. Checks that need root report `needs-root` without
 * root and are never issues.
 *
 * @module
 */

import type { ProbeRecords } from "./probe.ts";
import {
  binaryCheck,
  hugepagesLogCheck,
  minerUserCheck,
  msrModCheck,
  msrModuleCheck,
  msrPresetCheck,
  msrReadbackCheck,
  restrictedCheck,
  rigforgeFound,
  serviceActiveCheck,
} from "./checks/miner.ts";
import {
  cpuClockCheck,
  governorCheck,
  hugepages1gCheck,
  hugepagesCheck,
  numaCheck,
  powerCheck,
  smtCheck,
  thermalCheck,
  throttleCheck,
} from "./checks/machine.ts";
import {
  firmwareCheck,
  memoryProfileCheck,
  ramLayoutCheck,
  ramSpeedCheck,
} from "./checks/memory.ts";
import {
  autotuneCheck,
  controlCheck,
  exposureCheck,
  sisterApiCheck,
  watchdogCheck,
} from "./checks/rigforge.ts";
import { ipScopeCheck } from "./checks/ip_scope.ts";
import { tuneGapCheck, xmrigVersionCheck } from "./checks/live.ts";
import { type Check, check, type CheckStatus, type Verdict } from "./checks/types.ts";

export { rigforgeFound } from "./checks/miner.ts";
export { type TuneGap, tuneGap, type TuneGapInputs } from "./checks/tune_gap.ts";
export type { Check, CheckStatus, Verdict } from "./checks/types.ts";

/** How doctor (or `/health`) runs. */
export interface EvaluateOptions {
  /** Whether the records were collected as root (root-only reads were attempted). */
  isRoot: boolean;
  /** Whether the machine is Linux; elsewhere every check is `skipped`. */
  linux: boolean;
}

/** The result of {@link evaluate}. */
export interface Evaluation {
  verdict: Verdict;
  /** Every check, in doctor's order; ids are stable. */
  checks: Check[];
}

/** Checks whose data comes from root-only reads (SMBIOS tables, `/dev/cpu/0/msr`). */
export const ROOT_ONLY_CHECKS: readonly string[] = [
  "msr-readback",
  "ram-layout",
  "ram-speed",
  "memory-profile",
];

/** Null reasons that mean a value exists but was not read (as opposed to absent here). */
const UNREAD_REASONS: readonly string[] = ["needs-root", "unreadable", "corrupt", "timeout"];

/** Checks whose warnings are BIOS settings (listed by the `firmware` context line). */
const BIOS_ITEMS: readonly string[] = ["memory-profile", "smt", "numa-nps", "cpu-clock"];

/**
 * Judges the probe records.
 *
 * @param records every probe's record (`null` for a probe that failed as a whole)
 * @param options whether root-only reads were attempted, and whether this is Linux
 * @returns the checks and the verdict
 * @example
 * ```ts ignore
 * const { verdict, checks } = evaluate(pass.records, { isRoot: Deno.uid() === 0, linux: true });
 * ```
 */
export function evaluate(records: ProbeRecords, options: EvaluateOptions): Evaluation {
  const checks = options.linux ? judge(records, options) : notLinux(records, options);
  return { verdict: verdictOf(checks), checks };
}

function judge(records: ProbeRecords, options: EvaluateOptions): Check[] {
  const before = [
    serviceActiveCheck(records),
    hugepagesCheck(records),
    hugepages1gCheck(records),
    minerUserCheck(records),
    binaryCheck(records),
    restrictedCheck(records),
    exposureCheck(records),
    controlCheck(records),
    msrModuleCheck(records),
    msrModCheck(records),
    msrReadbackCheck(records),
    msrPresetCheck(records),
    governorCheck(records),
    ramLayoutCheck(records),
    ramSpeedCheck(records),
    cpuClockCheck(records),
  ];
  const bios = [memoryProfileCheck(records), smtCheck(records), numaCheck(records)];
  const biosItems = [...before, ...bios].filter((c) => BIOS_ITEMS.includes(c.id));
  // An item that could not be read (needs root, unreadable) is "cannot tell", never "no
  // change recommended".
  const unread = (c: Check) =>
    c.status === "needs-root" || UNREAD_REASONS.includes(String(c.data["reason"] ?? ""));
  const recommendations = biosItems
    .filter((c) => (c.status === "warn" || c.status === "issue") && !unread(c))
    .map((c) => c.id);
  const unknown = biosItems.filter(unread).map((c) => c.id);
  const after = [
    hugepagesLogCheck(records),
    thermalCheck(records),
    throttleCheck(records),
    powerCheck(records),
    watchdogCheck(records),
    autotuneCheck(records),
    tuneGapCheck(records),
    xmrigVersionCheck(records),
    sisterApiCheck(records),
    ipScopeCheck(records),
  ];
  const all = [...before, firmwareCheck(records, recommendations, unknown), ...bios, ...after];
  const found = rigforgeFound(records) ? all : all.map(withoutRigforge);
  return options.isRoot ? found : found.map(unprivileged);
}

/**
 * Checks that judge RigForge's own install (its config, worker root, XMRig build and log):
 * skipped, never counted, when no RigForge is found (no `VERSION`, no `config.json`).
 */
export const RIGFORGE_CHECKS: readonly string[] = [
  "miner-user",
  "xmrig-binary",
  "xmrig-api-restricted",
  "api-exposure",
  "control-receiver",
  "msr-mod",
  "msr-preset",
  "xmrig-hugepages-log",
  "watchdog",
];

function withoutRigforge(c: Check): Check {
  if (!RIGFORGE_CHECKS.includes(c.id)) return c;
  return check(c.id, "skipped", c.title, "RigForge not found: needs its install", {
    reason: "absent",
  });
}

/** Without root, a root-only check that could not measure is `needs-root`, never an issue. */
function unprivileged(c: Check): Check {
  if (!ROOT_ONLY_CHECKS.includes(c.id)) return c;
  if (c.status === "ok" || c.status === "info" || c.status === "skipped") return c;
  if (c.status === "needs-root" || !("reason" in c.data)) return c;
  return { ...c, status: "needs-root", detail: "needs root (run doctor with sudo)" };
}

function notLinux(records: ProbeRecords, options: EvaluateOptions): Check[] {
  return judge(records, options).map((c) =>
    check(c.id, "skipped", c.title, "Linux only", { reason: "unsupported" })
  );
}

/**
 * Counts a list of checks into a verdict.
 *
 * @param checks the checks
 * @returns issues and warnings
 */
export function verdictOf(checks: readonly Check[]): Verdict {
  const count = (status: CheckStatus) => checks.filter((c) => c.status === status).length;
  return { issues: count("issue"), warnings: count("warn") };
}

/** One check in brief, for `/health`'s `doctor` section. */
export interface CheckBrief {
  id: string;
  title: string;
  detail: string;
}

/** Doctor's verdict as `/health` serves it (under `doctor`) and `doctor --json` embeds it. */
export interface DoctorSection {
  verdict: Verdict;
  /** The checks with a counted issue. */
  issues: CheckBrief[];
  /** The checks with a warning. */
  warnings: CheckBrief[];
  /** Ids of the checks that could not be judged without root. */
  needs_root: string[];
}

/**
 * Doctor's verdict in brief, for `/health`: the counts, the issues and warnings with their
 * lines, and what needs root. The request path's hook (`HandlerDeps.checks` in
 * `src/http/handler.ts`) is `(records) => doctorSection(records, { isRoot: true, linux })`:
 * snapshot records come from the root probe timer, and a record collected without root carries
 * `needs-root` reasons that the checks honour anyway.
 *
 * @param records the probe records
 * @param options as for {@link evaluate}
 * @returns the section
 */
export function doctorSection(records: ProbeRecords, options: EvaluateOptions): DoctorSection {
  return sectionOf(evaluate(records, options));
}

/**
 * The `/health` doctor section of an evaluation already made.
 *
 * @param evaluation the result of {@link evaluate}
 * @returns the section
 */
export function sectionOf({ verdict, checks }: Evaluation): DoctorSection {
  const brief = (c: Check): CheckBrief => ({ id: c.id, title: c.title, detail: c.detail });
  return {
    verdict,
    issues: checks.filter((c) => c.status === "issue").map(brief),
    warnings: checks.filter((c) => c.status === "warn").map(brief),
    needs_root: checks.filter((c) => c.status === "needs-root").map((c) => c.id),
  };
}
