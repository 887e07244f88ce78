/**
 * The shape of one doctor check and the small helpers every check group uses.
 *
 * @module
 */

import type { NullReason, Reasons } from "../probe.ts";

/**
 * A check's outcome.
 * - `ok`: as it should be.
 * - `warn`: advisory, worth a look; never counted as an issue.
 * - `info`: context, no judgement.
 * - `issue`: a counted problem; doctor exits 1 when any check has it.
 * - `needs-root`: could not be judged without root; never counted.
 * - `skipped`: does not apply here (feature off, miner not running); not printed by doctor.
 */
export type CheckStatus = "ok" | "warn" | "info" | "issue" | "needs-root" | "skipped";

/** One check: a stable id, an outcome, a title, one human line and the numbers behind it. */
export interface Check {
  /** Stable kebab-case id (`hugepages`, `msr-readback`); consumers switch on it. */
  id: string;
  /** The outcome. */
  status: CheckStatus;
  /** A short name of what is checked (`HugePages reserved`). */
  title: string;
  /** One human line saying what was found. Never contains a secret. */
  detail: string;
  /** The values the verdict was made from (numbers, states, null reasons). */
  data: Record<string, unknown>;
}

/** The overall verdict: counted issues (doctor exits 1 when > 0) and warnings. */
export interface Verdict {
  /** Checks with status `issue`. */
  issues: number;
  /** Checks with status `warn`. */
  warnings: number;
}

/**
 * Builds a check.
 *
 * @param id stable id
 * @param status outcome
 * @param title short name
 * @param detail one line
 * @param data the numbers behind it
 * @returns the check
 */
export function check(
  id: string,
  status: CheckStatus,
  title: string,
  detail: string,
  data: Record<string, unknown> = {},
): Check {
  return { id, status, title, detail, data };
}

/**
 * The reason a record gives for a `null` field, or `null` when it names none.
 *
 * @param reasons the record's reasons map
 * @param field the dotted field path
 * @returns the reason, or `null`
 */
export function reasonOf(reasons: Reasons | undefined, field: string): NullReason | null {
  return reasons?.[field] ?? null;
}

/**
 * A human phrase for a null reason (`"needs root"`, `"not present on this machine"`).
 *
 * @param reason the reason (or `null` when none was given)
 * @returns the phrase
 */
export function reasonText(reason: NullReason | null): string {
  switch (reason) {
    case "needs-root":
      return "needs root (run doctor with sudo)";
    case "absent":
      return "not present on this machine";
    case "unsupported":
      return "not supported here";
    case "unreadable":
      return "could not be read";
    case "corrupt":
      return "could not be parsed";
    case "timeout":
      return "did not answer in time";
    case "not-running":
      return "nothing running to measure";
    case "warming-up":
      return "not enough history yet (about a minute after the first probe)";
    case "miner-inactive":
      return "xmrig.service is not active";
    case "virtual-machine":
      return "a virtual machine: the host's hardware is not visible";
    default:
      return "unknown";
  }
}

/**
 * The check for a value that could not be measured: `needs-root` when that is the reason,
 * otherwise the given fallback status with "cannot tell: <reason>".
 *
 * @param id stable id
 * @param title short name
 * @param reason why the value is null
 * @param fallback the status when the reason is not `needs-root`
 * @param data the numbers behind it
 * @returns the check
 */
export function unknownCheck(
  id: string,
  title: string,
  reason: NullReason | null,
  fallback: CheckStatus,
  data: Record<string, unknown> = {},
): Check {
  if (reason === "needs-root") {
    return check(id, "needs-root", title, reasonText(reason), { ...data, reason });
  }
  return check(id, fallback, title, `cannot tell: ${reasonText(reason)}`, { ...data, reason });
}

/**
 * The check for a whole probe that did not report (it failed or timed out).
 *
 * @param id stable id
 * @param title short name
 * @param probe the probe's name
 * @returns a `warn` check naming the probe
 */
export function missingProbe(id: string, title: string, probe: string): Check {
  return check(id, "warn", title, `cannot tell: the ${probe} probe did not report`, {
    probe,
    reason: "unreadable",
  });
}

/**
 * Formats kHz as a whole number of MHz (`4950000` → `"4950 MHz"`).
 *
 * @param khz kilohertz
 * @returns the text
 */
export function mhz(khz: number): string {
  return `${Math.round(khz / 1000)} MHz`;
}
