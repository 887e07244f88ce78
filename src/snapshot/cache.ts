/**
 * The server side of the snapshot: one bounded read of the file ({@link readSnapshotFile}) and
 * the request path's cache ({@link createSnapshotCache}), which looks at the file at most once a
 * second and re-reads it only when it changed.
 *
 * @module
 */

import { readUpTo } from "../lib/read.ts";
import type { Snapshot } from "./types.ts";
import { parseSnapshot } from "./parse.ts";

/** The largest snapshot file accepted, in bytes: ~70 times a 64-core rig's snapshot (14 KiB). */
export const SNAPSHOT_MAX_BYTES = 1024 * 1024;

/** Why a snapshot file could not be used. */
export type SnapshotFileError = "absent" | "unreadable" | "too large" | "corrupt";

/** The outcome of reading the snapshot file once. */
export type SnapshotFileRead =
  | { ok: true; snapshot: Snapshot }
  | { ok: false; error: SnapshotFileError };

/**
 * Reads and validates the snapshot file once, bounded in size.
 *
 * @param path the snapshot file
 * @returns the snapshot, or why not
 */
export async function readSnapshotFile(path: string): Promise<SnapshotFileRead> {
  let bytes: Uint8Array;
  try {
    const file = await Deno.open(path, { read: true });
    try {
      bytes = await readUpTo(file, SNAPSHOT_MAX_BYTES);
    } finally {
      file.close();
    }
  } catch (error) {
    return { ok: false, error: error instanceof Deno.errors.NotFound ? "absent" : "unreadable" };
  }
  if (bytes.length > SNAPSHOT_MAX_BYTES) return { ok: false, error: "too large" };
  const snapshot = parseSnapshot(new TextDecoder().decode(bytes));
  return snapshot === null ? { ok: false, error: "corrupt" } : { ok: true, snapshot };
}

/** What the server knows about the snapshot at a moment. */
export interface SnapshotRead {
  /** The last good snapshot, or `null` when none was ever read (or the file is gone). */
  snapshot: Snapshot | null;
  /**
   * Why the latest look at the file did not yield a new snapshot: `"absent"`, `"unreadable"`,
   * `"too large"`, or `"corrupt"` (a torn or garbage file; the previous snapshot is kept).
   * `null` when the file was read fine.
   */
  error: SnapshotFileError | null;
}

/** A cached view of the snapshot file for the request path. */
export interface SnapshotCache {
  /** The current snapshot: re-checks the file at most once per interval. Never rejects. */
  read(): Promise<SnapshotRead>;
}

/** Options for {@link createSnapshotCache}. */
export interface SnapshotCacheOptions {
  /** Least time between two looks at the file, in ms (default 1000). */
  minCheckMs?: number;
  /** Monotonic clock in ms (default `performance.now`). */
  now?: () => number;
}

/**
 * Creates the server's snapshot cache. A look at the file is a `stat`; the file is re-read only
 * when its mtime, size or inode changed (the atomic rename gives a new inode). A torn or garbage
 * file keeps the last good snapshot and reports `corrupt` (and is parsed again once it changes); a
 * file over {@link SNAPSHOT_MAX_BYTES} by its `stat` is not read (`too large`); a removed file
 * drops the snapshot (`absent`). Concurrent callers share one look.
 *
 * @param path the snapshot file
 * @param options check interval and clock
 * @returns the cache
 */
export function createSnapshotCache(
  path: string,
  options: SnapshotCacheOptions = {},
): SnapshotCache {
  const minCheckMs = options.minCheckMs ?? 1000;
  const now = options.now ?? (() => performance.now());
  let state: SnapshotRead = { snapshot: null, error: "absent" };
  let key: string | null = null;
  let checkedAt = -Infinity;
  let looking: Promise<SnapshotRead> | null = null;

  async function look(): Promise<SnapshotRead> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      key = null;
      const missing = error instanceof Deno.errors.NotFound;
      state = missing ? { snapshot: null, error: "absent" } : { ...state, error: "unreadable" };
      return state;
    }
    const next = `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
    if (next === key) return state;
    if (info.size > SNAPSHOT_MAX_BYTES) {
      key = next; // not read at all (the stat says enough); looked at again once it changes
      state = { snapshot: state.snapshot, error: "too large" };
      return state;
    }
    const read = await readSnapshotFile(path);
    if (read.ok) {
      key = next;
      state = { snapshot: read.snapshot, error: null };
    } else {
      // A corrupt file is parsed again only once it changes (inode, size or mtime): a
      // half-written one does when it is completed, and a pathological one is not parsed again
      // every second on the request path. An unreadable one (cheap to try) is retried.
      key = read.error === "corrupt" ? next : null;
      state = read.error === "absent"
        ? { snapshot: null, error: "absent" }
        : { snapshot: state.snapshot, error: read.error };
    }
    return state;
  }

  return {
    read(): Promise<SnapshotRead> {
      if (looking !== null) return looking;
      if (now() - checkedAt < minCheckMs) return Promise.resolve(state);
      checkedAt = now();
      looking = look().catch(() => state).finally(() => {
        looking = null;
      });
      return looking;
    },
  };
}
