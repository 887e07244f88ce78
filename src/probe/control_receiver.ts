/**
 * RigForge's control receiver, asked the way RigForge's doctor (check 9) asks it: `GET /status`
 * on `http://127.0.0.1:<control_port>` with `Authorization: Bearer <ACCESS_TOKEN>`, 5 s bound,
 * run by `probe` only (never on the request path). `200` (the last change record) or `503`
 * (`no change applied yet`) means it answers; anything else, or no answer, means it does not.
 * The token is sent to that loopback address only and appears in no record, error or log.
 *
 * @module
 */

import { configSecrets } from "./config_canonical.ts";
import { parseControlStatus } from "./config_view.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

import type { ControlReply } from "./types.ts";

/** The `control_receiver` probe's record. */
export interface ControlReceiverRecord {
  /** Whether `control` is enabled in RigForge's config (the receiver is only asked then). */
  enabled: boolean | null;
  /** The loopback port asked (`control_port`). */
  port: number | null;
  /** `true`: answered 200 or 503; `false`: another status or no answer. */
  answers: boolean | null;
  /** The HTTP status it answered with. */
  http_status: number | null;
  /** Why it did not answer (`timeout`, `connection refused`, `http 401`, ...), fixed words. */
  error: string | null;
  /** The last change it reports (200 only): id, status, applied time. */
  last: { change_id: string | null; status: string | null; applied_at: string | null } | null;
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

/**
 * Builds the record from the receiver's reply.
 *
 * @param reply the reply
 * @param port the port asked
 * @param secrets strings that must never be kept (tokens, pool passwords)
 * @returns the record
 */
export function receiverRecord(
  reply: ControlReply,
  port: number,
  secrets: readonly string[],
): ControlReceiverRecord {
  const reasons: Reasons = {};
  if ("error" in reply) {
    reasons["http_status"] = reply.error === "timeout" ? "timeout" : "not-running";
    reasons["last"] = reasons["http_status"];
    return {
      enabled: true,
      port,
      answers: false,
      http_status: null,
      error: reply.error,
      last: null,
      reasons,
    };
  }
  const answers = reply.status === 200 || reply.status === 503;
  let last: ControlReceiverRecord["last"] = null;
  if (reply.status === 200) {
    const parsed = parseControlStatus(reply.text, secrets);
    if (parsed === null) reasons["last"] = "corrupt";
    else {
      last = {
        change_id: parsed.value.change_id,
        status: parsed.value.status,
        applied_at: parsed.value.applied_at,
      };
    }
  } else reasons["last"] = "absent";
  return {
    enabled: true,
    port,
    answers,
    http_status: reply.status,
    error: answers ? null : `http ${reply.status}`,
    last,
    reasons,
  };
}

function notAsked(enabled: boolean | null, reason: NullReason): ControlReceiverRecord {
  const reasons: Reasons = {};
  for (const key of ["answers", "http_status", "last"]) reasons[key] = reason;
  if (enabled === null) reasons["enabled"] = reason;
  return {
    enabled,
    port: null,
    answers: null,
    http_status: null,
    error: null,
    last: null,
    reasons,
  };
}

async function collect(ctx: ProbeContext): Promise<ControlReceiverRecord> {
  const config = ctx.config;
  if (config === null) return notAsked(null, "absent");
  if (!config.control) return notAsked(false, "not-running");
  if (!ctx.controlStatus) return notAsked(true, "unsupported");
  const reply = await ctx.controlStatus(config.controlPort);
  return receiverRecord(reply, config.controlPort, configSecrets(config));
}

/** RigForge's control receiver, asked over loopback HTTP by `probe`. */
export const controlReceiverProbe: Probe<ControlReceiverRecord> = {
  name: "control_receiver",
  collect,
};
