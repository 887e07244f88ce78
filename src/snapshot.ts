/**
 * The snapshot: the one record `probe` (root, on a timer) writes and `serve` (unprivileged)
 * reads. It holds every probe record, the time it was made, the probe interval (so `serve` can
 * judge staleness: older than 3 intervals is stale) and the raw counters the next pass needs
 * for rates (RAPL `energy_uj`, `/proc/stat` jiffies, `/proc/uptime`).
 *
 * Written atomically (a temporary file in the same directory, fsync, rename; mode 0644 so the
 * unprivileged server can read it), default `/run/rigforge-api/snapshot.json`. Read back with
 * {@link parseSnapshot}, which validates the shape and never trusts the file. The file is
 * world-readable: every credential is masked as it is serialized ({@link serializeSnapshot}),
 * so the file holds only what the API may serve.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import type { PreviousCounters, ProbeContext, ProbePass, ProbeRecords } from "./probe.ts";
import { num, obj } from "./lib/json.ts";
import { isoSeconds } from "./lib/time.ts";
import { cpuTimes, energyHistory } from "./snapshot/parse.ts";
import type { Snapshot } from "./snapshot/types.ts";
import { secretReplacer } from "./lib/secrets.ts";
import { VERSION } from "./version.ts";

export {
  createSnapshotCache,
  readSnapshotFile,
  SNAPSHOT_MAX_BYTES,
  type SnapshotCache,
  type SnapshotCacheOptions,
  type SnapshotFileError,
  type SnapshotFileRead,
  type SnapshotRead,
} from "./snapshot/cache.ts";
export { createHold, HOLD_DEADLINE_MS, needsHold, watchChanges } from "./snapshot/hold.ts";
export { parseSnapshot } from "./snapshot/parse.ts";
export { RECORD_NAMES } from "./snapshot/records.ts";
export type { Snapshot } from "./snapshot/types.ts";

/** Where `probe` writes and `serve` reads the snapshot by default. */
export const DEFAULT_SNAPSHOT_PATH = "/run/rigforge-api/snapshot.json";
/** The default probe interval, in seconds (the timer's period). */
export const DEFAULT_INTERVAL_S = 15;
/** A snapshot older than this many intervals is stale. */
export const STALE_INTERVALS = 3;

/** Options for {@link buildSnapshot}. */
export interface BuildSnapshotOptions {
  /** The probe interval in seconds. */
  intervalS: number;
  /** When the pass started (ms since the epoch, from `ctx.now()`), for `probe_ms`. */
  startedMs: number;
}

/**
 * Assembles the snapshot from a probe pass, stamped with `ctx.now()` (the end of the pass).
 *
 * @param pass the records and failures from `runProbes`
 * @param ctx the context the pass ran with (for the clock)
 * @param options interval and start time
 * @returns the snapshot
 */
export function buildSnapshot(
  pass: ProbePass,
  ctx: Pick<ProbeContext, "now">,
  options: BuildSnapshotOptions,
): Snapshot {
  const end = ctx.now();
  return {
    schema: 1,
    generated_at: isoSeconds(end),
    rigforge_api_version: VERSION,
    interval_s: options.intervalS,
    probe_ms: Math.max(0, Math.round(end - options.startedMs)),
    records: pass.records,
    failures: pass.failures,
    counters: countersOf(pass.records),
  };
}

/**
 * Extracts the counters the next pass needs: `/proc/uptime` seconds and per-CPU jiffies from
 * the cpu record's `counters`, and RAPL `energy_uj` (µJ) per package zone id (`intel-rapl:0`)
 * from the power record's `zones` (only when every zone has a counter). The uptime is the power
 * probe's when energy is kept (watts divide by it), else the cpu probe's; without any uptime
 * there are no counters at all (`uptime_s` 0, both maps `null`).
 *
 * @param records the probe records
 * @returns the counters
 */
export function countersOf(records: ProbeRecords): PreviousCounters {
  const cpu = obj(obj(records.cpu)?.["counters"]);
  const power = obj(records.power);
  const cpuUptime = num(cpu?.["uptime_s"]);
  const powerUptime = num(power?.["uptime_s"]);
  const energy = powerUptime === null ? null : energyOf(power?.["zones"]);
  // Watts divide by the uptime difference, so the power probe's own reading wins; the cpu
  // probe uses the uptime only to notice a reboot, which a fraction of a second does not hide.
  const uptime = energy !== null ? powerUptime : cpuUptime ?? powerUptime;
  if (uptime === null) return { uptime_s: 0, cpu_times: null, energy_uj: null };
  return {
    uptime_s: uptime,
    cpu_times: cpuUptime === null ? null : cpuTimes(cpu?.["cpu_times"]),
    energy_uj: energy,
    energy_history: energyHistory(power?.["history"]),
  };
}

function energyOf(zones: unknown): Record<string, number> | null {
  if (!Array.isArray(zones) || zones.length === 0) return null;
  const out: Record<string, number> = {};
  for (const zone of zones) {
    const z = obj(zone);
    const id = z?.["id"];
    const energy = num(z?.["energy_uj"]);
    if (typeof id !== "string" || id === "__proto__" || energy === null) return null;
    out[id] = energy;
  }
  return out;
}

/**
 * Serializes a snapshot with every credential masked (`secretReplacer`, the rule of
 * `maskSecrets` in `src/lib/secrets.ts`): compact JSON plus a newline, as written to the file (a 192-CPU rig's
 * per-CPU counters stay small), or 2-space pretty for people (`probe --print`).
 *
 * @param snapshot the record
 * @param pretty indent for reading
 * @returns the text
 */
export function serializeSnapshot(snapshot: Snapshot, pretty = false): string {
  // masked while serializing: the file holds only what the API may serve
  return JSON.stringify(snapshot, secretReplacer, pretty ? 2 : undefined) + "\n";
}

/**
 * Writes the snapshot atomically: a temporary file in the same directory (mode 0644), fsync,
 * rename over `path`, fsync of the directory. The directory is created (0755) when missing. A
 * reader sees the old file or the new one, never a partial one.
 *
 * @param path the snapshot file
 * @param snapshot the record
 * @throws {Error} when the file cannot be written (the temporary file is removed)
 */
export async function writeSnapshotAtomic(path: string, snapshot: Snapshot): Promise<void> {
  const dir = dirname(path);
  await ensureDir(dir);
  const random = crypto.getRandomValues(new Uint32Array(1))[0]?.toString(16) ?? "0";
  const temp = join(dir, `.${basename(path)}.${Deno.pid}.${random}.tmp`);
  const bytes = new TextEncoder().encode(serializeSnapshot(snapshot));
  try {
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o644 });
    try {
      let offset = 0;
      while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.chmod(temp, 0o644);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await syncDir(dir);
}

/** Creates a missing directory (and missing parents) with mode 0755 whatever the umask. */
async function ensureDir(dir: string): Promise<void> {
  try {
    if ((await Deno.stat(dir)).isDirectory) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const parent = dirname(dir);
  if (parent !== dir) await ensureDir(parent);
  try {
    await Deno.mkdir(dir, { mode: 0o755 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    return; // made concurrently by someone else: leave its mode alone
  }
  await Deno.chmod(dir, 0o755);
}

async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch {
    // some file systems refuse fsync on a directory; the rename is still atomic
  }
}
