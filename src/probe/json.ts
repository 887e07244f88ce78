/**
 * Helpers shared by the probes that turn hostile JSON files (RigForge's tune files, its config
 * sidecar and control status, XMRig's config) into records with reasons.
 *
 * @module
 */

import type { Reasons } from "./types.ts";

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
