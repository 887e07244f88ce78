/**
 * XMRig's own verdict on the MSR mod, from its log `<worker root>/xmrig.log`: the last MSR line
 * since the last start banner (the tail is read by `log_tail.ts`).
 *
 * @module
 */

import { clip, linesSinceLastStart } from "./log_tail.ts";

/** What XMRig's log says about the MSR mod since its last start. */
export interface MsrLogStatus {
  /** `applied` (success line), `failed` (a failure line) or `none` (no MSR line yet). */
  status: "applied" | "failed" | "none";
  /** The preset named by the success line; `null` otherwise. */
  preset: string | null;
  /** The deciding line, trimmed, at most 200 characters; `null` for `none`. */
  line: string | null;
}

const SUCCESS = /register values for "([A-Za-z0-9_]{1,32})" preset have been set successfully/;
const FAILURES = [
  "FAILED TO APPLY MSR MOD",
  "cannot set MSR",
  "cannot read MSR",
  "msr kernel module is not available",
];

/**
 * Reads XMRig's verdict on the MSR mod from its log text. Only lines after the last start
 * banner (a line containing ` * ABOUT`) count, so an old success before a restart does not;
 * among those, the last MSR line decides: `register values for "<preset>" preset have been
 * set successfully` → `applied`; `FAILED TO APPLY MSR MOD`, `cannot set MSR`,
 * `cannot read MSR` or `msr kernel module is not available` → `failed`. ANSI colour codes are
 * ignored; other control characters in the returned line become `.`.
 *
 * @param text the log (or its tail)
 * @returns the status
 */
export function parseMsrLog(text: string): MsrLogStatus {
  let status: MsrLogStatus = { status: "none", preset: null, line: null };
  for (const line of linesSinceLastStart(text)) {
    const success = SUCCESS.exec(line);
    if (success) {
      status = { status: "applied", preset: success[1]!, line: clip(line) };
    } else if (FAILURES.some((failure) => line.includes(failure))) {
      status = { status: "failed", preset: null, line: clip(line) };
    }
  }
  return status;
}
