/**
 * What the probes may ask over loopback HTTP, with RigForge's `ACCESS_TOKEN`, which goes to no
 * other address: XMRig's `/2/summary` (the running version, the hashrate windows, the 60 s power
 * pair) and RigForge's control receiver `/status` (doctor check 9). Set on the probe context by
 * `probe`, `doctor` (without `--root`) and serve's embedded prober; never on the request path.
 *
 * @module
 */

import { fetchXmrig, readCapped, xmrigOrigin } from "../xmrig.ts";
import type { ControlReply, ProbeContext } from "./types.ts";

/** What the receiver answered: its HTTP status and body, or a fixed error word. */

/** Default `--xmrig`: XMRig's API as RigForge configures it (port 8080 is fixed). */
export const PROBE_XMRIG = "http://127.0.0.1:8080";
/**
 * Time bound for the probe's XMRig request, ms: the power probe reads the RAPL counters after
 * it, inside the probe's own 5 s bound.
 */
export const PROBE_XMRIG_TIMEOUT_MS = 2000;
/** How long one XMRig reply is shared between the probes of a pass, ms. */
const SHARED_REPLY_MS = 1000;
/**
 * Time bound for asking the control receiver, ms: RigForge's doctor allows 5 s; this stays
 * under the probe's own 5 s bound so a slow receiver is reported as `timeout`, not lost.
 */
export const PROBE_CONTROL_TIMEOUT_MS = 4500;

/**
 * A loopback origin (`127.0.0.0/8`, `[::1]`, `localhost`) for a URL the probe sends RigForge's
 * token to, or `null` for anything else.
 *
 * @param url e.g. `http://127.0.0.1:8080`
 * @returns the origin, or `null`
 */
export function loopbackOrigin(url: string): string | null {
  const origin = xmrigOrigin(url);
  if (origin === null) return null;
  const host = new URL(origin).hostname;
  const loopback = host === "localhost" || host === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  return loopback ? origin : null;
}

/** Largest `/status` body read, bytes. */
export const CONTROL_MAX_BYTES = 64 * 1024;

/**
 * Asks a receiver's `/status` once. Never throws; errors are fixed words without the URL or
 * the token.
 *
 * @param origin the loopback origin, e.g. `http://127.0.0.1:8082`
 * @param token RigForge's `ACCESS_TOKEN`, or `null`
 * @param timeoutMs the time bound
 * @returns the reply
 */
export async function fetchControlStatus(
  origin: string,
  token: string | null,
  timeoutMs = PROBE_CONTROL_TIMEOUT_MS,
): Promise<ControlReply> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const headers: Record<string, string> = { accept: "application/json" };
    if (token !== null) headers["authorization"] = `Bearer ${token}`;
    const response = await fetch(`${origin}/status`, {
      headers,
      signal: controller.signal,
      redirect: "manual",
    });
    const body = await readCapped(response, CONTROL_MAX_BYTES);
    return { status: response.status, text: body.ok ? body.text : "" };
  } catch {
    return { error: controller.signal.aborted ? "timeout" : "no answer" };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Lets the probes ask XMRig's API (`/2/summary`, once per pass: the power and `xmrig_api`
 * probes share the reply) and RigForge's control receiver (`127.0.0.1:<control_port>/status`),
 * both on loopback with RigForge's `ACCESS_TOKEN`, which goes nowhere else.
 *
 * @param ctx the context (its config gives the token)
 * @param xmrig XMRig's loopback origin (see {@link loopbackOrigin})
 * @returns the same context, with `xmrigSummary` and `controlStatus` set
 */
export function withLoopbackHttp(ctx: ProbeContext, xmrig: string): ProbeContext {
  const token = ctx.config?.accessToken ?? null;
  // One request per pass: the power and xmrig_api probes start together and share the reply.
  let summary: { at: number; reply: ReturnType<typeof fetchXmrig> } | null = null;
  ctx.xmrigSummary = () => {
    const now = performance.now();
    if (summary === null || now - summary.at > SHARED_REPLY_MS) {
      const reply = fetchXmrig(xmrig, "/2/summary", token, { timeoutMs: PROBE_XMRIG_TIMEOUT_MS });
      summary = { at: now, reply };
    }
    return summary.reply;
  };
  ctx.controlStatus = (port) =>
    fetchControlStatus(`http://127.0.0.1:${port}`, token, PROBE_CONTROL_TIMEOUT_MS);
  return ctx;
}
