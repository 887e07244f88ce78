/**
 * The probe interface shared by every probe in `src/probe/`.
 *
 * A probe knows one part of the machine (or of the RigForge install) and returns a typed
 * record. Every value it cannot measure is `null`, and the record's `reasons` map names why,
 * keyed by the field's dotted path (`"energy_uj"`, `"ram.mts"`). A probe never throws past
 * {@link runProbe}; a probe that fails as a whole becomes `null` plus a {@link ProbeFailure}.
 *
 * @module
 */

import type { RigforgeConfig } from "../rigforge/config.ts";
import type { XmrigReply } from "../xmrig.ts";
import type { RigforgePaths } from "../rigforge/locate.ts";

/** Why a value is `null`. Machine-readable and stable: consumers switch on it. */
export type NullReason =
  /** The file exists but only root may read it (RAPL `energy_uj`, SMBIOS tables, MSRs). */
  | "needs-root"
  /** The file, directory or unit does not exist on this machine. */
  | "absent"
  /** The platform or kernel does not offer this (no cpufreq in a VM, not Linux). */
  | "unsupported"
  /** An I/O error other than permission or absence, or a read that exceeded its size cap. */
  | "unreadable"
  /** The content was read but does not parse. */
  | "corrupt"
  /** A read or command did not finish within its time bound. */
  | "timeout"
  /** The value depends on something that is not running (the miner, a timer). */
  | "not-running"
  /** A windowed figure needs readings older than the probe has kept yet (first minute). */
  | "warming-up"
  /** The value judges mining (clocks under load) and `xmrig.service` is not active. */
  | "miner-inactive"
  /** A virtual machine: the value would describe the host's hardware, which is not visible. */
  | "virtual-machine";

/** Every {@link NullReason}, for decoders of records read back from a file. */
export const NULL_REASONS: readonly NullReason[] = [
  "needs-root",
  "absent",
  "unsupported",
  "unreadable",
  "corrupt",
  "timeout",
  "not-running",
  "warming-up",
  "miner-inactive",
  "virtual-machine",
];

/** Field path → reason, for every `null` field in a probe record. */
export type Reasons = Record<string, NullReason>;

/** Result of one bounded external command. */
export interface CommandResult {
  /** Exit code, or `null` when the command could not be started or was killed on timeout. */
  code: number | null;
  stdout: string;
  /** Set when the command could not run: `"absent"` (no such binary) or `"timeout"`. */
  failure: NullReason | null;
}

/** Runs an external command with a time bound and an output cap. Injected so tests can replay. */
export type CommandRunner = (
  command: string,
  args: readonly string[],
  options?: { timeoutMs?: number; maxBytes?: number },
) => Promise<CommandResult>;

/** Raw counters carried from one probe pass to the next, for rates over the probe interval. */
export interface PreviousCounters {
  /** Seconds since boot (`/proc/uptime`, first field) when the counters were read. */
  uptime_s: number;
  /** Per-CPU jiffies from `/proc/stat`: cpu id → [busy, total]. */
  cpu_times: Record<string, [number, number]> | null;
  /** RAPL package zone id (`intel-rapl:0`) → `energy_uj` reading. */
  energy_uj: Record<string, number> | null;
  /**
   * The RAPL readings of the last passes (about 2 minutes, oldest first), for power over the
   * same 60 s as XMRig's 60 s hashrate (`src/probe/power_pair.ts`); absent in old snapshots.
   */
  energy_history?: EnergySample[] | null;
}

/** Everything a probe may read. The root is a value, never a global. */
export interface ProbeContext {
  /** Root prefix under which `/proc`, `/sys`, `/dev`, `/etc/systemd` and `/run` are read. */
  root: string;
  /** Located RigForge paths, or `null` when no RigForge install was found. */
  rigforge: RigforgePaths | null;
  /** The validated RigForge config, or `null` when it is missing. */
  config: RigforgeConfig | null;
  /** Whether the process runs with effective uid 0 (root-only files are then attempted). */
  isRoot: boolean;
  /** Runs `systemctl`/`journalctl`; replaced by a fixture replayer in tests. */
  run: CommandRunner;
  /** Wall clock in milliseconds since the epoch. */
  now: () => number;
  /** Counters from the previous pass, or `null` on a first pass. */
  previous: PreviousCounters | null;
  /** When `previous` is `null`, how long a probe that needs a rate may sample (ms). */
  sampleMs: number;
  /** Sleeps; injected so tests do not wait. */
  sleep: (ms: number) => Promise<void>;
  /**
   * Fetches XMRig's `/2/summary` (loopback, RigForge's token, bounded): set by `probe` only, so
   * the power probe can pair XMRig's 60 s hashrate with RAPL energy over the same 60 s.
   */
  xmrigSummary?: () => Promise<XmrigReply>;
  /**
   * Asks RigForge's control receiver `GET /status` on `127.0.0.1:<port>` with RigForge's token
   * (5 s bound): set by `probe` only, never on the request path.
   */
  controlStatus?: (port: number) => Promise<ControlReply>;
}

/** One probe: a name and a collector. */
export interface Probe<T> {
  /** Stable key under which the record appears in the snapshot. */
  name: string;
  /** Collects the record. May throw; {@link runProbe} turns that into data. */
  collect(ctx: ProbeContext): Promise<T>;
}

/** How a probe failed as a whole. */
export interface ProbeFailure {
  reason: NullReason;
  message: string;
}

/** A loopback HTTP answer (status and body text), or why there was none (fixed words). */
export type ControlReply = { status: number; text: string } | { error: string };

/** One kept counter reading: `/proc/uptime` seconds and `energy_uj` per zone id. */
export interface EnergySample {
  uptime_s: number;
  energy_uj: Record<string, number>;
}

/** Energy counters read at one moment. */
export interface EnergyReading {
  /** Seconds since boot (`/proc/uptime`) at the reading. */
  uptime_s: number;
  /** Zone id (`intel-rapl:0`) → its counter (µJ) and the counter's wrap range (µJ). */
  zones: Record<string, { energy_uj: number; max_energy_range_uj: number | null }>;
}
