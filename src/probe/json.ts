/**
 * Helpers shared by the probes that turn hostile JSON files (RigForge's tune files, its config
 * sidecar and control status, XMRig's config) into records with reasons.
 *
 * @module
 */

import type { Reasons } from "./types.ts";

/** A parsed JSON object. */
export type JsonObject = Record<string, unknown>;

/**
 * Whether a parsed JSON value is an object (not `null`, not an array).
 *
 * @param value any value
 * @returns the type guard
 */
export function isObj(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * `JSON.parse` that does not throw.
 *
 * @param text the text
 * @returns the value, or `undefined` when the text is not JSON
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Parses text that must hold a JSON object.
 *
 * @param text the text
 * @returns the object, or `null` when the text is not JSON or not an object
 */
export function parseObject(text: string): JsonObject | null {
  const value = parseJson(text);
  return isObj(value) ? value : null;
}

/**
 * Why a JSON field that failed validation is `null`: missing or `null` is `absent`, anything
 * else (a wrong type or range) is `corrupt`.
 *
 * @param value the field's raw value
 * @returns the reason
 */
export function absentOrCorrupt(value: unknown): "absent" | "corrupt" {
  return value === undefined || value === null ? "absent" : "corrupt";
}

/**
 * Copies a part's reasons into a record's, each key prefixed (`applied.` + `knobs.priority`).
 *
 * @param reasons the record's reasons (written)
 * @param prefix the part's dotted path plus `.`
 * @param from the part's reasons, keyed relative to it
 */
export function mergeReasons(reasons: Reasons, prefix: string, from: Reasons): void {
  for (const [key, reason] of Object.entries(from)) reasons[`${prefix}${key}`] = reason;
}
