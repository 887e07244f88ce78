/**
 * `GET /metrics`: the Prometheus view of the same inputs `/2/summary` is built from (XMRig's
 * `/2/summary` reply, the probe snapshot, now), in the text format 0.0.4 or OpenMetrics 1.0.0.
 * Pure: no I/O and no clock of its own; the one piece of state (the monotonic energy counter)
 * is a value the caller carries, advanced by {@link advanceEnergy}.
 *
 * Conventions (reference/ecosystem.md 2.2): `xmrig_` for what XMRig reports, `rigforge_` for what
 * the probes measure and `rigforge_api_` for the server itself; base units named as suffixes
 * (`_seconds`, `_bytes`, `_watts`, `_joules`, `_celsius`, `_hertz`, `_ratio`); counters end in
 * `_total`; no per-rig label (Prometheus adds `instance`); version data in one info metric.
 * A value that is unknown is left out, never written as 0. Record-derived metrics come only from
 * a fresh snapshot (as in `/2/summary`); `rigforge_snapshot_fresh` and
 * `rigforge_snapshot_age_seconds` say when they are missing for that reason. No label value is
 * ever taken from the config: tokens and pool passwords cannot reach the output.
 *
 * The metric list and its documentation are {@link METRICS} (`metrics/catalog.ts`);
 * `docs/prometheus.md` mirrors it (a test keeps the two equal). The values are put by
 * `metrics/samples.ts`, the energy counter is `metrics/energy.ts`, the wire formats
 * `metrics/exposition.ts`; this file builds the body from them and keeps the per-process state.
 *
 * @module
 */

import { xmrigObject } from "./merge.ts";
import { num } from "./lib/json.ts";
import { METRICS } from "./metrics/catalog.ts";
import {
  contentTypeOf,
  type MetricFamily,
  negotiateFormat,
  renderExposition,
  type Sample,
} from "./metrics/exposition.ts";
import { advanceEnergy, EMPTY_ENERGY } from "./metrics/energy.ts";
import { type MetricsOptions, type Put, putSamples } from "./metrics/samples.ts";
import type { Snapshot } from "./snapshot.ts";
import type { XmrigReply } from "./xmrig.ts";

export { type MetricDefinition, METRICS } from "./metrics/catalog.ts";
export { advanceEnergy, EMPTY_ENERGY, type EnergyState } from "./metrics/energy.ts";
export type { MetricsOptions } from "./metrics/samples.ts";
export {
  contentTypeOf,
  type ExpositionFormat,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
} from "./metrics/exposition.ts";

/** A `/metrics` answer. */
export interface MetricsBody {
  contentType: string;
  body: string;
}

/**
 * Builds the `/metrics` body.
 *
 * @param xmrig XMRig's `/2/summary` reply (the same one `/2/summary` splices)
 * @param snapshot the cached snapshot, or `null` when missing
 * @param now wall clock, ms since the epoch
 * @param options format, doctor verdict, energy state, request and shed counters
 * @returns content type and body
 */
export function metricsBody(
  xmrig: XmrigReply,
  snapshot: Snapshot | null,
  now: number,
  options: MetricsOptions,
): MetricsBody {
  const samples = new Map<string, Sample[]>();
  const put: Put = (name, value, labels = []) => {
    const v = typeof value === "boolean" ? (value ? 1 : 0) : num(value);
    if (v === null) return;
    const list = samples.get(name) ?? [];
    const key = JSON.stringify(labels);
    if (list.some((s) => JSON.stringify(s.labels) === key)) return;
    list.push({ labels, value: v });
    samples.set(name, list);
  };
  putSamples(put, xmrigObject(xmrig), snapshot, now, options);
  const families: MetricFamily[] = METRICS.map((d) => ({
    name: d.name,
    kind: d.kind,
    help: d.help,
    ...(d.unit === undefined ? {} : { unit: d.unit }),
    samples: samples.get(d.name) ?? [],
  }));
  return {
    contentType: contentTypeOf(options.format),
    body: renderExposition(families, options.format),
  };
}

/** Where an internal error happened: answering a route, or running the doctor hook. */
export type InternalErrorSite = "route" | "doctor";

/** The state `/metrics` keeps in a server process: the energy counter and requests served. */
export interface MetricsRoute {
  /**
   * Counts one answered request.
   *
   * @param status the response status
   */
  observe(status: number): void;
  /**
   * Counts one internal error (also reported on stderr by the handler).
   *
   * @param where `route` (a request answered 500) or `doctor` (the doctor hook failed)
   */
  failed(where: InternalErrorSite): void;
  /**
   * Builds the `/metrics` answer, folding the snapshot into the energy counter first.
   *
   * @param accept the request's `Accept` header values
   * @param xmrig XMRig's `/2/summary` reply
   * @param snapshot the snapshot, or `null`
   * @param now wall clock, ms since the epoch
   * @param extra doctor's section, the snapshot read error and the shed counters
   * @returns content type and body
   */
  body(
    accept: readonly string[] | undefined,
    xmrig: XmrigReply,
    snapshot: Snapshot | null,
    now: number,
    extra?: Pick<MetricsOptions, "doctor" | "snapshotError" | "shed">,
  ): MetricsBody;
}

/**
 * Creates the per-process state of `/metrics` (one per handler): the monotonic energy counter
 * and the count of requests answered, by status code (a fixed, small key set).
 *
 * @returns the route state
 */
export function createMetricsRoute(): MetricsRoute {
  let energy = EMPTY_ENERGY;
  const requests: Record<string, number> = {};
  const errors: Record<string, number> = {};
  return {
    observe(status) {
      const code = String(status);
      requests[code] = (requests[code] ?? 0) + 1;
    },
    failed(where) {
      errors[where] = (errors[where] ?? 0) + 1;
    },
    body(accept, xmrig, snapshot, now, extra = {}) {
      energy = advanceEnergy(energy, snapshot);
      return metricsBody(xmrig, snapshot, now, {
        ...extra,
        format: negotiateFormat(accept),
        energy,
        requests,
        errors,
      });
    },
  };
}
