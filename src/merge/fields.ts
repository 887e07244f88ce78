/**
 * Defensive field access for the merge. Snapshot records come from a file and are validated
 * only as objects (see `parseSnapshot`), so every leaf is re-checked here: a field of the wrong
 * type reads as `null`, never as a crash or as a wrongly typed value in a response.
 *
 * @module
 */

import type { NullReason, Reasons } from "../probe/types.ts";

/** A JSON object read from the snapshot. */
export type Obj = Record<string, unknown>;

/**
 * The value as an object, or `null`.
 *
 * @param value anything
 * @returns the object (not an array), or `null`
 */
export function obj(value: unknown): Obj | null {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value as Obj : null;
}

/**
 * The value as a finite number, or `null`.
 *
 * @param value anything
 * @returns the number, or `null`
 */
export function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * The value as a safe integer, or `null`.
 *
 * @param value anything
 * @returns the integer, or `null`
 */
export function int(value: unknown): number | null {
  return Number.isSafeInteger(value) ? value as number : null;
}

/**
 * The value as a string (at most `max` characters), or `null`.
 *
 * @param value anything
 * @param max the longest string passed on
 * @returns the string, or `null`
 */
export function str(value: unknown, max = 256): string | null {
  return typeof value === "string" ? value.slice(0, max) : null;
}

/**
 * The value as a boolean, or `null`.
 *
 * @param value anything
 * @returns the boolean, or `null`
 */
export function bool(value: unknown): boolean | null {
  return typeof value === "boolean" ? value : null;
}

/**
 * The value when it is one of `allowed`, else `null`.
 *
 * @param value anything
 * @param allowed the accepted strings
 * @returns the value, or `null`
 */
export function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | null {
  return typeof value === "string" && (allowed as readonly string[]).includes(value)
    ? value as T
    : null;
}

/**
 * The value as an array, or `null`.
 *
 * @param value anything
 * @returns the array, or `null`
 */
export function arr(value: unknown): unknown[] | null {
  return Array.isArray(value) ? value : null;
}

const NULL_REASONS: readonly NullReason[] = [
  "needs-root",
  "absent",
  "unsupported",
  "unreadable",
  "corrupt",
  "timeout",
  "not-running",
  "warming-up",
  "miner-inactive",
  "virtual-machine",
];

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
