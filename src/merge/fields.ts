/**
 * Reasons for the merge's `null` leaves: the record's own reason for a field (or its nearest
 * parent's), and the log that collects them for a response block. The field guards the merge
 * reads with live in `src/lib/json.ts`.
 *
 * @module
 */

import { type Obj, obj, oneOf } from "../lib/json.ts";
import { NULL_REASONS, type NullReason, type Reasons } from "../probe.ts";

/**
 * A record's reason for a field, checked against the known vocabulary; when the field itself
 * has none, the nearest parent's reason (a `null` object explains its leaves).
 *
 * @param record the probe record (or `null`)
 * @param field the dotted field path inside the record
 * @returns the reason, or `null` when the record names none
 */
export function reasonIn(record: Obj | null, field: string): NullReason | null {
  const reasons = obj(record?.["reasons"]);
  // A null parent (`last_run`) carries the reason for all its leaves (`last_run.target`).
  for (let path = field; path !== ""; path = path.slice(0, Math.max(0, path.lastIndexOf(".")))) {
    const reason = oneOf(reasons?.[path], NULL_REASONS);
    if (reason !== null) return reason;
  }
  return null;
}

/**
 * Collects the reasons for the `null` leaves of a response block: `note(path, value, reason)`
 * records `reason` under `path` when `value` is `null` and passes the value through.
 */
export interface ReasonLog {
  /** The collected reasons, dotted response path → reason. */
  reasons: Reasons;
  /**
   * Notes why `value` is null, when it is.
   *
   * @param path the dotted path in the response
   * @param value the value placed there
   * @param reason the reason to record when `value` is `null` (default `unreadable`)
   * @returns `value`
   */
  note<T>(path: string, value: T, reason: NullReason | null): T;
}

/**
 * Creates a {@link ReasonLog}.
 *
 * @returns an empty log
 */
export function reasonLog(): ReasonLog {
  const reasons: Reasons = {};
  return {
    reasons,
    note(path, value, reason) {
      if (value === null) reasons[path] = reason ?? "unreadable";
      return value;
    },
  };
}
