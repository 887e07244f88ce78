/**
 * The first-contact hold of a socket-activated `serve`: systemd starts the server on the first
 * connection, and the probe timer bound to it (`OnActiveSec=0`) starts a probe pass at the same
 * moment. When the snapshot the last activation left is stale or missing, requests wait for that
 * pass's snapshot (the file changing to one newer than the one at start), but never past a
 * deadline (600 ms after the `serve` process started, runtime start included, so that with
 * systemd's spawn the first byte still leaves well inside Pithead's 1 s timeout); then they are
 * answered with the newest data there is, its
 * `rigforge.snapshot.status` saying how old it is.
 *
 * The decision ({@link needsHold}) and the wait ({@link createHold}) are pure over injected
 * reads, clock and change signal; {@link watchChanges} is the thin `inotify` watcher on the
 * snapshot's directory that `serve` passes in.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import { parseTime } from "../lib/time.ts";
import type { Snapshot } from "./types.ts";
import type { SnapshotFileRead } from "./cache.ts";

/** How long after the `serve` process started a held request is answered at the latest, ms. */
export const HOLD_DEADLINE_MS = 600;

/**
 * Whether requests should wait for the probe pass this activation started: only when
 * socket-activated and the snapshot at start is not fresh (stale or missing).
 *
 * @param activated whether systemd passed the listening socket
 * @param status the snapshot's status at start (`snapshotInfo(...).status`)
 * @returns `true` to hold
 */
export function needsHold(activated: boolean, status: "fresh" | "stale" | "missing"): boolean {
  return activated && status !== "fresh";
}

/** How a hold ended. */
export type HoldOutcome = "fresh" | "deadline";

/** Options for {@link createHold}. */
export interface HoldOptions {
  /** The snapshot at start (`null`: none); a snapshot generated after it ends the hold. */
  baseline: Snapshot | null;
  /** When to answer at the latest, on the `now` clock (ms). */
  deadline: number;
  /** Monotonic clock, ms (`performance.now`). */
  now: () => number;
  /** One read of the snapshot file. */
  read: () => Promise<SnapshotFileRead>;
  /** Resolves when the snapshot file may have changed, or after `ms` at the latest. */
  changed: (ms: number) => Promise<unknown>;
  /** Reports an unexpected failure of the wait (the hold then ends as at the deadline). */
  onError?: (message: string) => void;
}

/** A hold in progress (or ended). */
export interface Hold {
  /** Resolves when the pass's snapshot is there or the deadline passed; never rejects. */
  wait(): Promise<HoldOutcome>;
  /** The newer snapshot that ended the hold, or `null` (deadline, or not ended yet). */
  latest(): Snapshot | null;
}

/**
 * Whether a read brought a snapshot newer than the baseline (any snapshot when there was none).
 *
 * @param read one read of the file
 * @param baseline the snapshot at start, or `null`
 * @returns the newer snapshot, or `null`
 */
export function newerThan(read: SnapshotFileRead, baseline: Snapshot | null): Snapshot | null {
  if (!read.ok) return null;
  if (baseline === null) return read.snapshot;
  const before = parseTime(baseline.generated_at);
  const after = parseTime(read.snapshot.generated_at);
  return after !== null && (before === null || after > before) ? read.snapshot : null;
}

/**
 * Starts a hold: one loop shared by every waiter reads the file, and on each change signal reads
 * again, until a newer snapshot is there or the deadline passes.
 *
 * @param options baseline, deadline, clock, read and change signal
 * @returns the hold
 */
export function createHold(options: HoldOptions): Hold {
  let found: Snapshot | null = null;
  async function loop(): Promise<HoldOutcome> {
    for (;;) {
      found = newerThan(await options.read(), options.baseline);
      if (found !== null) return "fresh";
      const left = options.deadline - options.now();
      if (left <= 0) return "deadline";
      await options.changed(left);
    }
  }
  let running: Promise<HoldOutcome> | null = null;
  return {
    wait(): Promise<HoldOutcome> {
      // Started by the first request: no work at all when nobody asks.
      running ??= loop().catch((error) => {
        options.onError?.(
          `snapshot hold failed: ${error instanceof Error ? error.message : error}`,
        );
        return "deadline" as const;
      });
      return running;
    },
    latest: () => found,
  };
}

/** A change signal over a file, from {@link watchChanges}. */
export interface ChangeWatch {
  /** Resolves on the next event for the file (`change`), or after `ms` (`timeout`). */
  changed(ms: number): Promise<"change" | "timeout">;
  /** Stops watching. */
  close(): void;
}

/**
 * Watches a file's directory (`inotify` through `Deno.watchFs`; the probe replaces the file by
 * an atomic rename, so the directory is what sees it). When the directory cannot be watched
 * (missing, no permission), `changed` falls back to polling every `pollMs`, and `onError` is told
 * once.
 *
 * @param path the snapshot file
 * @param onError reports a watch that could not start
 * @param pollMs the fallback poll period, ms
 * @returns the watch
 */
export function watchChanges(
  path: string,
  onError: (message: string) => void,
  pollMs = 25,
): ChangeWatch {
  const name = basename(path);
  const waiter: { wake: (() => void) | null } = { wake: null };
  let watcher: Deno.FsWatcher | null = null;
  try {
    watcher = Deno.watchFs(dirname(path), { recursive: false });
    const events = watcher;
    void (async () => {
      try {
        for await (const event of events) {
          if (event.paths.some((p) => basename(p) === name)) waiter.wake?.();
        }
      } catch (error) {
        onError(`snapshot watch ended: ${error instanceof Error ? error.message : error}`);
      }
    })();
  } catch (error) {
    onError(
      `cannot watch ${dirname(path)} (${error instanceof Error ? error.message : error}); ` +
        `polling every ${pollMs} ms`,
    );
  }
  return {
    changed(ms: number): Promise<"change" | "timeout"> {
      const limit = watcher === null ? Math.min(ms, pollMs) : ms;
      return new Promise((resolve) => {
        const timer = setTimeout(() => done("timeout"), Math.max(0, limit));
        function done(why: "change" | "timeout"): void {
          clearTimeout(timer);
          waiter.wake = null;
          resolve(why);
        }
        waiter.wake = () => done("change");
      });
    },
    close(): void {
      try {
        watcher?.close();
      } catch {
        // already closed: nothing left to release
      }
      watcher = null;
      waiter.wake?.();
    },
  };
}
