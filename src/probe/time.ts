/**
 * Time formatting shared by the probes.
 *
 * @module
 */

/**
 * ISO 8601 UTC with whole seconds (`2026-11-24T16:59:46Z`).
 *
 * @param ms milliseconds since the epoch
 * @returns the text, or `null` for a non-finite or out-of-range time
 */
export function isoSeconds(ms: number): string | null {
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return null;
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
