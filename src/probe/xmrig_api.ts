/**
 * The running XMRig as its own API reports it (`GET /2/summary` on loopback, RigForge's
 * `ACCESS_TOKEN` as the bearer, fetched by `probe` only): its self-reported `version` and its
 * `hashrate.total` averages over 10 s, 60 s and 15 min (H/s). Only numbers and a version
 * string are kept; nothing else of XMRig's reply reaches the snapshot.
 *
 * @module
 */

import type { XmrigReply } from "../xmrig.ts";
import { isObject, parseJson } from "../lib/json.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

/** The `xmrig_api` probe's record. */
export interface XmrigApiRecord {
  /** Whether XMRig answered `/2/summary` with a JSON object. */
  reachable: boolean;
  /** XMRig's `version`, e.g. `6.26.0` (no `v`). */
  version: string | null;
  /** `hashrate.total`: 10 s, 60 s and 15 min averages, H/s; `null` where XMRig has none yet. */
  hashrate: { "10s": number | null; "60s": number | null; "15m": number | null };
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

const WINDOWS = ["10s", "60s", "15m"] as const;

/**
 * Reads the version and hashrate windows from XMRig's `/2/summary` reply.
 *
 * @param reply the reply
 * @returns the record
 */
export function parseXmrigSummary(reply: XmrigReply): XmrigApiRecord {
  const reasons: Reasons = {};
  const empty = { "10s": null, "60s": null, "15m": null };
  const fail = (reason: NullReason, reachable: boolean): XmrigApiRecord => {
    reasons["version"] = reason;
    for (const w of WINDOWS) reasons[`hashrate.${w}`] = reason;
    return { reachable, version: null, hashrate: empty, reasons };
  };
  if (!reply.ok) return fail("not-running", false);
  const parsed = parseJson(reply.text);
  if (!isObject(parsed)) return fail("corrupt", false);
  const version = typeof parsed["version"] === "string" &&
      /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$/.test(parsed["version"])
    ? parsed["version"]
    : null;
  if (version === null) reasons["version"] = "corrupt";
  const hashrate = isObject(parsed["hashrate"]) ? parsed["hashrate"] : null;
  const total = Array.isArray(hashrate?.["total"]) ? hashrate["total"] as unknown[] : null;
  const out: XmrigApiRecord["hashrate"] = { ...empty };
  WINDOWS.forEach((w, i) => {
    const value = total?.[i];
    if (typeof value === "number" && Number.isFinite(value) && value > 0) out[w] = value;
    else reasons[`hashrate.${w}`] = total === null ? "corrupt" : "warming-up";
  });
  return { reachable: true, version, hashrate: out, reasons };
}

async function collect(ctx: ProbeContext): Promise<XmrigApiRecord> {
  if (!ctx.xmrigSummary) return parseXmrigSummary({ ok: false, error: "not fetched" });
  return parseXmrigSummary(await ctx.xmrigSummary());
}

/** XMRig's running version and hashrate windows, from its own API. */
export const xmrigApiProbe: Probe<XmrigApiRecord> = { name: "xmrig_api", collect };
