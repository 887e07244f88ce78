/**
 * The sister API's exposure posture from RigForge's config: whether it is enabled, where it
 * listens, whether a token is required and whether a firewall scope (`api_allow_from`) is set.
 * Token values and token names never appear in the record, only their presence and count.
 *
 * @module
 */

import { formatCidr } from "../ip.ts";
import type { Probe, ProbeContext, Reasons } from "./types.ts";

/** The `exposure` probe's record. */
export interface ExposureRecord {
  /** The `api` setting; `null` when the config does not set it (RigForge's default: disabled). */
  api: "enabled" | "disabled" | null;
  /** `api_port` (default 8081). */
  port: number | null;
  /** `api_bind` (default `0.0.0.0`). */
  bind: string | null;
  /** Whether `ACCESS_TOKEN` is set (the API then requires a Bearer token). */
  token_set: boolean | null;
  /** How many named extra tokens `ACCESS_TOKENS` holds. */
  named_tokens: number | null;
  /** `api_allow_from` sources (addresses or CIDRs); empty when unscoped. */
  allow_from: string[] | null;
  /** Whether the port is scoped to sources by the firewall (`allow_from` is non-empty). */
  scoped: boolean | null;
  /** Whether RigForge's writable control path (`control`, port `control_port`) is enabled. */
  control: boolean | null;
  /**
   * Whether a token (`ACCESS_TOKEN` or a value of `ACCESS_TOKENS`) equals a value the API
   * serves to its readers: a pool `user` (whole, or the stratum name before `+`) or a pool
   * `rig-id` (XMRig's `worker_id`). True in Pithead's `name` mode, where the token is then
   * public to anyone who may read the feed. Which token it is never appears.
   */
  token_public: boolean | null;
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

/**
 * Derives the exposure record from a validated config (pure).
 *
 * @param config ctx.config
 * @returns the record
 */
export function exposureOf(config: ProbeContext["config"]): ExposureRecord {
  if (config === null) {
    const reasons: Reasons = {};
    for (
      const key of [
        "api",
        "port",
        "bind",
        "token_set",
        "named_tokens",
        "allow_from",
        "scoped",
        "control",
        "token_public",
      ]
    ) {
      reasons[key] = "absent";
    }
    return {
      api: null,
      port: null,
      bind: null,
      token_set: null,
      named_tokens: null,
      allow_from: null,
      scoped: null,
      control: null,
      token_public: null,
      reasons,
    };
  }
  const allow = config.apiAllowFrom.map(formatCidr);
  return {
    api: config.api,
    port: config.apiPort,
    bind: config.apiBind,
    token_set: config.accessToken !== null,
    named_tokens: Object.keys(config.accessTokens).length,
    allow_from: allow,
    scoped: allow.length > 0,
    control: config.control,
    token_public: tokenPublic(config),
    reasons: config.api === null ? { api: "absent" } : {},
  };
}

/** The `exposure` probe: API enablement, bind, token and firewall scope. */
export const exposureProbe: Probe<ExposureRecord> = {
  name: "exposure",
  collect: (ctx) => Promise.resolve(exposureOf(ctx.config)),
};

/** Whether a token equals a pool `user` (or its stratum name before `+`) or a pool `rig-id`. */
function tokenPublic(config: NonNullable<ProbeContext["config"]>): boolean {
  const tokens = new Set(
    [config.accessToken, ...Object.values(config.accessTokens)].filter((t) => t !== null),
  );
  if (tokens.size === 0) return false;
  for (const pool of config.pools) {
    for (const key of ["user", "rig-id"]) {
      const value = pool[key];
      if (typeof value !== "string") continue;
      if (tokens.has(value) || tokens.has(value.split("+")[0] ?? value)) return true;
    }
  }
  return false;
}
