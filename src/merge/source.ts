/**
 * The merge's view of one snapshot at one moment: which records may be used (every record of
 * the snapshot there is, fresh or stale: consumers judge its age from `generated_at`; none when
 * it is missing), why a record is unusable, and the `rigforge.snapshot` status.
 *
 * @module
 */

import type { NullReason, ProbeRecords } from "../probe.ts";
import { parseTime } from "../lib/time.ts";
import { type Snapshot, type SnapshotFileError, STALE_INTERVALS } from "../snapshot.ts";
import { int, num, type Obj, obj } from "../lib/json.ts";
import { reasonIn, type ReasonLog, reasonLog } from "./fields.ts";

/** Freshness of the snapshot as judged at request time. */
export type SnapshotStatus = "fresh" | "stale" | "missing";

/** `rigforge.snapshot`: how old the probe data is and whether it is used. */
export interface SnapshotInfo {
  /**
   * `fresh`; `stale` when older than 3 probe intervals (its data is still served, with its own
   * `generated_at`: consumers such as Pithead judge the age); `missing` (no snapshot or none
   * readable: values are then `null` with reason `not-running`).
   */
  status: SnapshotStatus;
  /** Seconds since the snapshot was generated (whole seconds), `null` when missing. */
  age_s: number | null;
  /** The probe interval the snapshot was written with, seconds. */
  interval_s: number | null;
  /** The age beyond which it counts as stale: 3 × `interval_s`. */
  stale_after_s: number | null;
  /** How long the probe pass took, ms. */
  probe_ms: number | null;
  /** Probes that failed as a whole in that pass. */
  failed_probes: string[];
  /** Why the latest look at the file gave nothing new (`corrupt`: the last good one is kept). */
  read_error: SnapshotFileError | null;
}

/** Everything the section builders read from. */
export interface Source {
  /** The snapshot as given (also when stale), for `generated_at`. */
  snapshot: Snapshot | null;
  /** The status block. */
  info: SnapshotInfo;
  /** The reason log for the block being built. */
  log: ReasonLog;
  /**
   * A probe record when present in the snapshot (fresh or stale).
   *
   * @param name the probe name
   * @returns the record as an untrusted object, or `null`
   */
  record(name: keyof ProbeRecords): Obj | null;
  /**
   * Why a probe's record is unusable: `not-running` (snapshot missing: the probe timer is not
   * producing), else the probe's failure reason.
   *
   * @param name the probe name
   * @returns the reason
   */
  missing(name: keyof ProbeRecords): NullReason;
  /**
   * Reads a record field through `read` and notes its reason in the log when `null`.
   *
   * @param path the dotted path in the response
   * @param name the probe
   * @param field the dotted field path in the record
   * @param read the type check
   * @returns the value, or `null`
   */
  get<T>(
    path: string,
    name: keyof ProbeRecords,
    field: string,
    read: (v: unknown) => T | null,
  ): T | null;
}

/**
 * Judges a snapshot's freshness at `now`. A snapshot dated more than 3 intervals in the future
 * (a clock jump) is stale too.
 *
 * @param snapshot the snapshot, or `null`
 * @param now wall clock, ms since the epoch
 * @param readError the cache's latest read error
 * @returns the status block
 */
export function snapshotInfo(
  snapshot: Snapshot | null,
  now: number,
  readError: SnapshotFileError | null = null,
): SnapshotInfo {
  const generated = snapshot === null ? null : parseTime(snapshot.generated_at);
  if (snapshot === null || generated === null) {
    return {
      status: "missing",
      age_s: null,
      interval_s: null,
      stale_after_s: null,
      probe_ms: null,
      failed_probes: [],
      read_error: readError,
    };
  }
  const interval = num(snapshot.interval_s);
  const ageMs = now - generated;
  const limitMs = (interval ?? 0) * STALE_INTERVALS * 1000;
  return {
    status: interval !== null && Math.abs(ageMs) <= limitMs ? "fresh" : "stale",
    age_s: Math.floor(ageMs / 1000),
    interval_s: interval,
    stale_after_s: interval === null ? null : interval * STALE_INTERVALS,
    probe_ms: int(snapshot.probe_ms),
    failed_probes: Object.keys(obj(snapshot.failures) ?? {}).sort(),
    read_error: readError,
  };
}

/**
 * Creates the section builders' source.
 *
 * @param snapshot the snapshot, or `null`
 * @param now wall clock, ms since the epoch
 * @param readError the cache's latest read error
 * @returns the source
 */
export function sourceOf(
  snapshot: Snapshot | null,
  now: number,
  readError: SnapshotFileError | null = null,
): Source {
  const info = snapshotInfo(snapshot, now, readError);
  // A stale snapshot's values are still the newest truth there is; only a missing one is none.
  const usable = info.status === "missing" ? null : obj(snapshot?.records);
  const failures = obj(snapshot?.failures);
  const log = reasonLog();
  const record = (name: keyof ProbeRecords): Obj | null => obj(usable?.[name]);
  const missing = (name: keyof ProbeRecords): NullReason => {
    if (usable === null) return "not-running";
    const reason = obj(failures?.[name])?.["reason"];
    return typeof reason === "string" ? reason as NullReason : "unreadable";
  };
  return {
    snapshot,
    info,
    log,
    record,
    missing,
    get(path, name, field, read) {
      const rec = record(name);
      const value = read(dig(rec, field));
      return log.note(path, value, rec === null ? missing(name) : reasonIn(rec, field));
    },
  };
}

/**
 * Follows a dotted path into an object.
 *
 * @param value the root
 * @param path `a.b.c`
 * @returns the value there, or `undefined`
 */
export function dig(value: unknown, path: string): unknown {
  let here: unknown = value;
  for (const key of path.split(".")) {
    const o = obj(here);
    if (o === null || !Object.hasOwn(o, key)) return undefined;
    here = o[key];
  }
  return here;
}
