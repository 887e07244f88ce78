/**
 * The probes' entry: the registry (every probe in one explicit list), {@link runProbes}, which
 * runs them concurrently, bounds each in time and turns any throw into data, and the types and
 * runners the other layers use. The files under `src/probe/` are private to it.
 *
 * @module
 */

import { configViewProbe, type ConfigViewRecord } from "./probe/config_view.ts";
import { controlReceiverProbe, type ControlReceiverRecord } from "./probe/control_receiver.ts";
import { cpuProbe, type CpuRecord } from "./probe/cpu.ts";
import { exposureProbe, type ExposureRecord } from "./probe/exposure.ts";
import { firmwareProbe, type FirmwareRecord } from "./probe/firmware.ts";
import { hugepagesProbe, type HugepagesRecord } from "./probe/hugepages.ts";
import { memoryProbe, type MemoryRecord } from "./probe/memory.ts";
import { msrProbe, type MsrRecord } from "./probe/msr.ts";
import { powerProbe, type PowerRecord } from "./probe/power.ts";
import { provenanceProbe, type ProvenanceRecord } from "./probe/provenance.ts";
import { serviceProbe, type ServiceRecord } from "./probe/service.ts";
import { thermalProbe, type ThermalRecord } from "./probe/thermal.ts";
import { tuneProbe, type TuneRecord } from "./probe/tune.ts";
import type { Probe, ProbeContext, ProbeFailure } from "./probe/types.ts";
import { watchdogProbe, type WatchdogRecord } from "./probe/watchdog.ts";
import { xmrigApiProbe, type XmrigApiRecord } from "./probe/xmrig_api.ts";
import { xmrigLogProbe, type XmrigLogRecord } from "./probe/xmrig_log.ts";

export type {
  ConfigViewRecord,
  ControlReceiverRecord,
  CpuRecord,
  ExposureRecord,
  FirmwareRecord,
  HugepagesRecord,
  MemoryRecord,
  MsrRecord,
  PowerRecord,
  ProvenanceRecord,
  ServiceRecord,
  ThermalRecord,
  TuneRecord,
  WatchdogRecord,
  XmrigApiRecord,
  XmrigLogRecord,
};
export {
  type CommandResult,
  type CommandRunner,
  type ControlReply,
  type EnergySample,
  NULL_REASONS,
  type NullReason,
  type PreviousCounters,
  type Probe,
  type ProbeContext,
  type ProbeFailure,
  type Reasons,
} from "./probe/types.ts";
export { replayRunner, runCommand } from "./probe/command.ts";
export { type AutotuneDecision, unknownAutotune } from "./probe/autotune.ts";
export type { TuneKnobs } from "./probe/tune_files.ts";
export type { MsrVerdict } from "./probe/msr.ts";
export { loopbackOrigin, PROBE_XMRIG, withLoopbackHttp } from "./probe/loopback.ts";
export { HISTORY_MAX } from "./probe/power_pair.ts";

/** Every probe's record, by probe name; `null` when the probe failed as a whole. */
export interface ProbeRecords {
  hugepages: HugepagesRecord | null;
  cpu: CpuRecord | null;
  memory: MemoryRecord | null;
  msr: MsrRecord | null;
  xmrig_log: XmrigLogRecord | null;
  firmware: FirmwareRecord | null;
  power: PowerRecord | null;
  thermal: ThermalRecord | null;
  service: ServiceRecord | null;
  tune: TuneRecord | null;
  watchdog: WatchdogRecord | null;
  provenance: ProvenanceRecord | null;
  exposure: ExposureRecord | null;
  config_view: ConfigViewRecord | null;
  xmrig_api: XmrigApiRecord | null;
  control_receiver: ControlReceiverRecord | null;
}

/** The probes, in report order. */
export const PROBES: { [K in keyof ProbeRecords]: Probe<NonNullable<ProbeRecords[K]>> } = {
  hugepages: hugepagesProbe,
  cpu: cpuProbe,
  memory: memoryProbe,
  msr: msrProbe,
  xmrig_log: xmrigLogProbe,
  firmware: firmwareProbe,
  power: powerProbe,
  thermal: thermalProbe,
  service: serviceProbe,
  tune: tuneProbe,
  watchdog: watchdogProbe,
  provenance: provenanceProbe,
  exposure: exposureProbe,
  config_view: configViewProbe,
  xmrig_api: xmrigApiProbe,
  control_receiver: controlReceiverProbe,
};

/** The outcome of one probe pass. */
export interface ProbePass {
  records: ProbeRecords;
  /** Probes that failed as a whole, by name. */
  failures: Partial<Record<keyof ProbeRecords, ProbeFailure>>;
}

/** Per-probe time bound, in milliseconds, on top of any sampling sleep. */
export const PROBE_TIMEOUT_MS = 5000;

/**
 * Runs one probe, bounded in time; a throw or a timeout becomes a {@link ProbeFailure}.
 *
 * @param probe the probe
 * @param ctx the context
 * @returns the record or the failure
 */
export async function runProbe<T>(
  probe: Probe<T>,
  ctx: ProbeContext,
): Promise<{ ok: true; value: T } | { ok: false; failure: ProbeFailure }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = PROBE_TIMEOUT_MS + (ctx.previous === null ? ctx.sampleMs : 0);
  const timeout = new Promise<{ ok: false; failure: ProbeFailure }>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, failure: { reason: "timeout", message: `over ${limit} ms` } }),
      limit,
    );
  });
  try {
    return await Promise.race([
      probe.collect(ctx).then((value) => ({ ok: true as const, value })),
      timeout,
    ]);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, failure: { reason: "unreadable", message: message.slice(0, 200) } };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs every probe concurrently.
 *
 * @param ctx the context
 * @param only restrict to these probe names (default: all)
 * @returns records and failures
 */
export async function runProbes(
  ctx: ProbeContext,
  only?: readonly (keyof ProbeRecords)[],
): Promise<ProbePass> {
  // Every selected probe starts here, concurrently; the outcomes are read back in PROBES' order
  // (runProbe never rejects).
  const start = <K extends keyof ProbeRecords>(name: K) =>
    only !== undefined && !only.includes(name) ? null : runProbe(PROBES[name], ctx);
  const pending: {
    [K in keyof ProbeRecords]: ReturnType<typeof runProbe<NonNullable<ProbeRecords[K]>>> | null;
  } = {
    hugepages: start("hugepages"),
    cpu: start("cpu"),
    memory: start("memory"),
    msr: start("msr"),
    xmrig_log: start("xmrig_log"),
    firmware: start("firmware"),
    power: start("power"),
    thermal: start("thermal"),
    service: start("service"),
    tune: start("tune"),
    watchdog: start("watchdog"),
    provenance: start("provenance"),
    exposure: start("exposure"),
    config_view: start("config_view"),
    xmrig_api: start("xmrig_api"),
    control_receiver: start("control_receiver"),
  };
  const failures: ProbePass["failures"] = {};
  const take = async <K extends keyof ProbeRecords>(name: K): Promise<ProbeRecords[K]> => {
    const outcome = await pending[name];
    if (outcome === null) return null;
    if (outcome.ok) return outcome.value;
    failures[name] = outcome.failure;
    return null;
  };
  const records: ProbeRecords = {
    hugepages: await take("hugepages"),
    cpu: await take("cpu"),
    memory: await take("memory"),
    msr: await take("msr"),
    xmrig_log: await take("xmrig_log"),
    firmware: await take("firmware"),
    power: await take("power"),
    thermal: await take("thermal"),
    service: await take("service"),
    tune: await take("tune"),
    watchdog: await take("watchdog"),
    provenance: await take("provenance"),
    exposure: await take("exposure"),
    config_view: await take("config_view"),
    xmrig_api: await take("xmrig_api"),
    control_receiver: await take("control_receiver"),
  };
  return { records, failures };
}
