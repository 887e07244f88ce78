/**
 * The snapshot record's type, on its own so the reader (`parse.ts`), the cache (`cache.ts`)
 * and the writer (`src/snapshot.ts`) share it without importing each other in a loop.
 *
 * @module
 */

import type { PreviousCounters, ProbePass, ProbeRecords } from "../probe.ts";

/** The snapshot file's content (schema 1). */
export interface Snapshot {
  /** Format version of this record. */
  schema: 1;
  /** When the probe pass finished: UTC ISO-8601, whole seconds (`2026-01-15T12:00:00Z`). */
  generated_at: string;
  /** The rigforge-api version that wrote it. */
  rigforge_api_version: string;
  /** The probe timer's period in seconds, as given by `probe --interval`. */
  interval_s: number;
  /** How long the probe pass took, in milliseconds. */
  probe_ms: number;
  /** Every probe's record (`null` when the probe failed as a whole). */
  records: ProbeRecords;
  /** Probes that failed as a whole, by name. */
  failures: ProbePass["failures"];
  /** Raw counters for the next pass's rates. */
  counters: PreviousCounters;
}
