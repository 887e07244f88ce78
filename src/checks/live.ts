/**
 * The running miner against what RigForge built and tuned: the XMRig version XMRig reports
 * against the one RigForge pins (`XMRIG_VERSION` in `rigforge.sh`), and live performance
 * against the last tune's best (`rigforge-tune.json`; see `src/merge/tune_gap.ts`).
 *
 * @module
 */

import { tuneGap } from "./tune_gap.ts";
import type { ProbeRecords } from "../probe.ts";
import { MAX_PCT_BELOW_BEST } from "../rigforge/thresholds.ts";
import { type Check, check, reasonOf, reasonText } from "./types.ts";

/**
 * The running XMRig is the release RigForge pins: a different version (a hand-swapped
 * binary, a half-finished upgrade) → warning; not running or no pin → skipped.
 *
 * @param records the probe records
 * @returns the `xmrig-version` check
 */
export function xmrigVersionCheck(records: ProbeRecords): Check {
  const id = "xmrig-version";
  const title = "XMRig version";
  const pinned = records.provenance?.xmrig_version_pinned ?? null;
  const running = records.xmrig_api?.version ?? null;
  const data = {
    pinned,
    running: running === null ? null : `v${running}`,
    build_matches_pin: records.provenance?.xmrig_build_matches_pin ?? null,
  };
  if (pinned === null) {
    const why = reasonOf(records.provenance?.reasons, "xmrig_version_pinned") ?? "absent";
    return check(id, "skipped", title, `no pinned version: ${reasonText(why)}`, data);
  }
  if (running === null) {
    const why = reasonOf(records.xmrig_api?.reasons, "version") ?? "not-running";
    return check(id, "skipped", title, `pinned ${pinned}; running: ${reasonText(why)}`, data);
  }
  if (running !== pinned.replace(/^v/, "")) {
    return check(id, "warn", title, `running v${running}, RigForge pins ${pinned}`, data);
  }
  if (data.build_matches_pin === false) {
    return check(id, "warn", title, `${pinned}, but the built commit is not the pinned one`, data);
  }
  return check(id, "ok", title, `${pinned} (as pinned)`, data);
}

/**
 * Live performance against the last tune's best: more than {@link MAX_PCT_BELOW_BEST} % below
 * → warning (not an issue); under the efficiency target the figure is H/s per W.
 *
 * @param records the probe records
 * @returns the `tune-gap` check
 */
export function tuneGapCheck(records: ProbeRecords): Check {
  const id = "tune-gap";
  const title = "Against last tune";
  const run = records.tune?.last_run ?? null;
  const xmrig = records.xmrig_api;
  const power = records.power;
  const gap = tuneGap({
    target: run?.target ?? null,
    best_hs: run?.best_hs ?? null,
    best_hs_per_watt: run?.best_hs_per_watt ?? null,
    best_reason: reasonOf(
      records.tune?.reasons,
      `last_run.${run?.target === "efficiency" ? "best_hs_per_watt" : "best_hs"}`,
    ),
    hs_15m: xmrig?.hashrate["15m"] ?? null,
    hs_15m_reason: xmrig === null ? "unreadable" : reasonOf(xmrig.reasons, "hashrate.15m"),
    hs_per_watt_60s: power?.paired?.hs_per_watt ?? null,
    hs_per_watt_reason: power === null ? "unreadable" : reasonOf(power.reasons, "paired"),
  });
  if (typeof gap === "string") {
    const detail = gap === "absent"
      ? "no tune result to compare with"
      : `cannot tell: ${reasonText(gap)}`;
    return check(id, "skipped", title, detail, { reason: gap, threshold_pct: MAX_PCT_BELOW_BEST });
  }
  const unit = gap.basis === "hashrate" ? "H/s" : "H/s/W";
  const figures = `${gap.live} ${unit} (${gap.window}) vs best ${gap.best} ${unit}`;
  const data = { ...gap, threshold_pct: MAX_PCT_BELOW_BEST };
  if (gap.pct_below_best > MAX_PCT_BELOW_BEST) {
    return check(
      id,
      "warn",
      title,
      `${gap.pct_below_best} % below the last tune: ${figures}`,
      data,
    );
  }
  return check(id, "ok", title, `${gap.pct_of_best} % of the last tune: ${figures}`, data);
}
