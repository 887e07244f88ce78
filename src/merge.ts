/**
 * Every response body of the sister API, from (XMRig's reply or its failure, the snapshot or
 * its absence, now). Pure: no I/O, no clock of its own.
 *
 * - Summaries (`/1/summary`, `/api.json`, `/2/summary`): XMRig's body of that version, byte for
 *   byte, with `generated_at` (the snapshot's UTC time, which Pithead ages; `null` without a
 *   snapshot) and `rigforge` spliced in as its last two keys. XMRig unreachable: the body is
 *   `{"generated_at", "rigforge"}` with `rigforge.xmrig_api: "unreachable"` and
 *   `rigforge.xmrig_error`, still served with 200.
 * - `/health`: `generated_at`, v1.12's health keys and `watchdog`, the extra health data, the
 *   doctor verdict (`doctor`, from the hook), `snapshot` and `reasons`.
 * - `/tune`: `generated_at`, v1.12's tune keys and the extra tune data, `snapshot`, `reasons`.
 * - `/2/backends`: XMRig's body verbatim, or 503 when XMRig did not answer.
 *
 * Bodies are pretty-printed with 4 spaces, as XMRig prints its own.
 *
 * @module
 */

import { healthSection } from "./merge/health.ts";
import { rigforgeBlock, tuneSection, watchdogSection } from "./merge/block.ts";
import { type Source, sourceOf } from "./merge/source.ts";
import { spliceTopLevel } from "./merge/splice.ts";
import type { ProbeRecords } from "./probe.ts";
import type { SnapshotRead } from "./snapshot.ts";
import type { XmrigReply } from "./xmrig.ts";

export { type SpliceEntry, spliceTopLevel } from "./merge/splice.ts";
import { annotatedBackends, backendAnnotation } from "./merge/backends.ts";
export {
  type BlockOptions,
  hashrateWindows,
  rigforgeBlock,
  tuneGapInputs,
  type XmrigFacts,
  xmrigFacts,
  xmrigObject,
} from "./merge/block.ts";
export { tuneGap } from "./checks.ts";
export {
  dig,
  type SnapshotInfo,
  snapshotInfo,
  type SnapshotStatus,
  sourceOf,
} from "./merge/source.ts";

/** The snapshot as the request sees it: the cache's answer and the wall clock (ms). */
export interface SnapshotView {
  read: SnapshotRead;
  now: number;
}

/**
 * Doctor's verdict for `/health` (`evaluate` from `src/checks.ts`): called with the
 * snapshot's records (fresh or stale); its JSON-serializable result is served as `doctor`.
 */
export type DoctorHook = (records: ProbeRecords) => unknown;

function pretty(value: unknown): string {
  return JSON.stringify(value, null, 4);
}

function generatedAt(view: SnapshotView): string | null {
  return view.read.snapshot?.generated_at ?? null;
}

/**
 * The body of `/1/summary`, `/api.json` and `/2/summary`.
 *
 * @param xmrig XMRig's reply for the matching version (`/1/summary` for v1 and `/api.json`)
 * @param view the snapshot and now
 * @returns the body text
 */
export function summaryBody(xmrig: XmrigReply, view: SnapshotView): string {
  const options = { snapshotError: view.read.error };
  const block = rigforgeBlock(view.read.snapshot, xmrig, view.now, options);
  const generated = generatedAt(view);
  if (xmrig.ok) {
    const spliced = spliceTopLevel(xmrig.text, [
      ["generated_at", JSON.stringify(generated)],
      ["rigforge", pretty(block)],
    ]);
    if (spliced !== null) return spliced;
    const failed: XmrigReply = { ok: false, error: "not a JSON object" };
    return pretty({
      generated_at: generated,
      rigforge: rigforgeBlock(view.read.snapshot, failed, view.now, options),
    });
  }
  return pretty({ generated_at: generated, rigforge: block });
}

function bodySource(view: SnapshotView): Source {
  return sourceOf(view.read.snapshot, view.now, view.read.error);
}

/**
 * The body of `/health`. Doctor's verdict is served with any snapshot there is (fresh or stale,
 * labelled by `snapshot`); `null` when it is missing.
 *
 * @param view the snapshot and now
 * @param doctor the doctor hook's result for this snapshot (`null`: no hook or no snapshot)
 * @returns the body text
 */
export function healthBody(view: SnapshotView, doctor: unknown = null): string {
  return pretty(healthObject(view, doctor));
}

/**
 * The object `/health` serves (what {@link healthBody} prints), for callers that embed it
 * (`doctor --json`) rather than serve it.
 *
 * @param view the snapshot and now
 * @param doctor the doctor hook's result for this snapshot (`null`: no hook or no snapshot)
 * @returns the body as an object
 */
export function healthObject(view: SnapshotView, doctor: unknown = null): Record<string, unknown> {
  const src = bodySource(view);
  return {
    generated_at: generatedAt(view),
    ...healthSection(src, ""),
    watchdog: watchdogSection(src, "watchdog"),
    doctor: src.info.status === "missing" ? null : doctor ?? null,
    snapshot: src.info,
    reasons: src.log.reasons,
  };
}

/**
 * The body of `/tune`.
 *
 * @param view the snapshot and now
 * @returns the body text
 */
export function tuneBody(view: SnapshotView): string {
  const src = bodySource(view);
  return pretty({
    generated_at: generatedAt(view),
    ...tuneSection(src, ""),
    snapshot: src.info,
    reasons: src.log.reasons,
  });
}

/**
 * The body of `/2/backends`: XMRig's array verbatim, with `rigforge` (the tuned thread layout
 * and knobs, from the snapshot) spliced into the `cpu` backend's object; 503 (XMRig's error
 * form) when XMRig did not answer with one.
 *
 * @param xmrig XMRig's `/2/backends` reply
 * @param view the snapshot and now
 * @returns status and body text (`text` only with 200)
 */
export function backendsBody(
  xmrig: XmrigReply,
  view: SnapshotView,
): { status: 200; text: string } | { status: 503 } {
  if (!xmrig.ok) return { status: 503 };
  return annotatedBackends(xmrig, backendAnnotation(bodySource(view)));
}
