/**
 * The probes' result shape: a value, or the reason there is none, and the step that files a
 * failed field's reason in its record.
 *
 * @module
 */

import type { NullReason, Reasons } from "./types.ts";

/** A value or why there is none (what every bounded reader and probe step returns). */
export type Result<T> = { ok: true; value: T } | { ok: false; reason: NullReason };

/**
 * Wraps a value as a successful result.
 *
 * @param v the value
 * @returns `{ ok: true, value: v }`
 */
export function value<T>(v: T): Result<T> {
  return { ok: true, value: v };
}

/**
 * A failed result.
 *
 * @param reason why there is no value
 * @returns `{ ok: false, reason }`
 */
export function failed(reason: NullReason): Result<never> {
  return { ok: false, reason };
}

/**
 * A record field's value, or `null` with its reason recorded under `path`.
 *
 * @param reasons the record's reasons map, updated in place
 * @param path the field's dotted path
 * @param result the field's result
 * @returns the value or `null`
 */
export function put<T>(reasons: Reasons, path: string, result: Result<T>): T | null {
  if (result.ok) return result.value;
  reasons[path] = result.reason;
  return null;
}
