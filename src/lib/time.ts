/**
 * The one home of time as text: UTC ISO-8601 with whole seconds (`2026-11-24T16:59:46Z`), the
 * form every `generated_at`, `finished_at` and timestamp field is served in, and its inverse.
 *
 * @module
 */

/** The largest time a `Date` can hold, ms from the epoch either way. */
const MAX_DATE_MS = 8.64e15;

/**
 * ISO 8601 UTC with whole seconds (`2026-11-24T16:59:46Z`), the fraction dropped.
 *
 * @param ms milliseconds since the epoch (from a file's mtime, a log, a unit's timestamp)
 * @returns the text, or `null` for a non-finite or out-of-range time
 */
export function isoSecondsOrNull(ms: number): string | null {
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) return null;
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/**
 * ISO 8601 UTC with whole seconds, for the wall clock (always finite).
 *
 * @param ms milliseconds since the epoch
 * @returns e.g. `2026-01-15T12:00:00Z` (the epoch for a time a `Date` cannot hold)
 */
export function isoSeconds(ms: number): string {
  return isoSecondsOrNull(ms) ?? "1970-01-01T00:00:00Z";
}

/**
 * Parses an ISO-8601 UTC time as written in snapshots and RigForge's files.
 *
 * @param text e.g. `2026-01-15T12:00:00Z` (fractional seconds and `+00:00` accepted)
 * @returns milliseconds since the epoch, or `null`
 */
export function parseTime(text: string): number | null {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : null;
}
