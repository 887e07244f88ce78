/**
 * The config view Pithead reads: RigForge's effective **writable** config with pool secrets
 * masked (built in `config_canonical.ts`), its revision and provenance
 * (`<home>/.rigforge-config-meta.json`), and the last control outcome
 * (`/var/lib/rigforge-control/status.json` under the root). This module parses the sidecar and
 * the control status, assembles the record and re-exports `config_canonical.ts` under its
 * historical path.
 *
 * @module
 */

import { join } from "node:path";
import { collapseControl } from "../lib/text.ts";
import { maskSecrets, redactSecrets } from "../lib/secrets.ts";
import {
  configRevision,
  configSecrets,
  configTokens,
  sortKeys,
  writableConfig,
} from "./config_canonical.ts";
import { parseObject } from "../lib/json.ts";
import { absentOrCorrupt, mergeReasons } from "./json.ts";
import { machinePath, readText } from "./read.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

/** Provenance of the current config. */
export interface ConfigMeta {
  /** First 16 hex digits of the SHA-256 of the canonical unmasked writable config; always
   * recomputed, never taken from the sidecar. */
  revision: string;
  /** When the config last changed through RigForge, `YYYY-MM-DDTHH:MM:SSZ`. */
  changed_at: string | null;
  /** Who changed it: `control`, `local` or `restore`. */
  source: "control" | "local" | "restore" | null;
  /** The control change id (16 hex) of that change. */
  last_change_id: string | null;
}

/** The last outcome of RigForge's writable control path. */
export interface ControlStatus {
  /** The change id. */
  change_id: string | null;
  /** `applied`, `rejected`, `rolled_back`, `failed`, `noop`, `throttled` or `started`. */
  status: string | null;
  /** Why it was rejected or failed (control characters removed, known secrets redacted). */
  reason: string | null;
  /** When, `YYYY-MM-DDTHH:MM:SSZ`. */
  applied_at: string | null;
}

/** The `config_view` probe's record. */
export interface ConfigViewRecord {
  /** The writable config, secrets masked, keys sorted at every depth. */
  config: Record<string, unknown> | null;
  /** Revision and provenance. */
  config_meta: ConfigMeta | null;
  /**
   * Whether the config changed since RigForge last stamped the sidecar (its recorded revision
   * differs from the current one, e.g. config.json edited by hand): `changed_at`/`source` then
   * describe an older config.
   */
  edited_since_stamp: boolean | null;
  /** The last control outcome. */
  control: ControlStatus | null;
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

const CONTROL_STATUSES = new Set([
  "applied",
  "rejected",
  "rolled_back",
  "failed",
  "noop",
  "throttled",
  "started",
]);
const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const HEX16 = /^[0-9a-f]{16}$/;

function field<T>(
  obj: Record<string, unknown>,
  key: string,
  valid: (v: unknown) => v is T,
  reasons: Reasons,
): T | null {
  const v = obj[key];
  if (valid(v)) return v;
  reasons[key] = absentOrCorrupt(v);
  return null;
}

const isIso = (v: unknown): v is string => typeof v === "string" && ISO_Z.test(v);
const isHex16 = (v: unknown): v is string => typeof v === "string" && HEX16.test(v);
const isSource = (v: unknown): v is "control" | "local" | "restore" =>
  v === "control" || v === "local" || v === "restore";

/**
 * Parses the provenance sidecar `<home>/.rigforge-config-meta.json`
 * (`{"revision","source","last_change_id","changed_at"}`).
 *
 * @param text the file content
 * @returns the validated fields (`revision` is the one stamped then) with reasons, or `null`
 *   when the text is not a JSON object
 */
export function parseConfigMeta(text: string): {
  /** The revision stamped with that change (reason key `revision` when invalid). */
  stamped: string | null;
  changed_at: string | null;
  source: "control" | "local" | "restore" | null;
  last_change_id: string | null;
  reasons: Reasons;
} | null {
  const obj = parseObject(text);
  if (obj === null) return null;
  const reasons: Reasons = {};
  const stampedReasons: Reasons = {};
  const stamped = field(obj, "revision", isHex16, stampedReasons);
  if (stampedReasons["revision"]) reasons["revision"] = stampedReasons["revision"];
  return {
    stamped,
    changed_at: field(obj, "changed_at", isIso, reasons),
    source: field(obj, "source", isSource, reasons),
    last_change_id: field(obj, "last_change_id", isHex16, reasons),
    reasons,
  };
}

/**
 * Parses RigForge's control status record (`/var/lib/rigforge-control/status.json`). The free
 * text `reason` has control characters collapsed, is cut to 300 characters and has every
 * string in `secrets` replaced by `[redacted]`.
 *
 * @param text the file content
 * @param secrets values that must never appear (tokens, pool passwords)
 * @returns the status with reasons keyed relative to it, or `null` when not a JSON object
 */
export function parseControlStatus(
  text: string,
  secrets: readonly string[] = [],
): { value: ControlStatus; reasons: Reasons } | null {
  const obj = parseObject(text);
  if (obj === null) return null;
  const reasons: Reasons = {};
  const isId = (v: unknown): v is string => typeof v === "string" && /^[0-9a-f]{8,64}$/.test(v);
  const isStatus = (v: unknown): v is string => typeof v === "string" && CONTROL_STATUSES.has(v);
  let reason: string | null = null;
  const raw = obj["reason"];
  if (typeof raw === "string" && raw.trim() !== "") {
    reason = collapseControl(redactSecrets(raw, secrets)).trim().slice(0, 300);
  } else reasons["reason"] = raw === undefined || raw === null || raw === "" ? "absent" : "corrupt";
  return {
    value: {
      change_id: field(obj, "change_id", isId, reasons),
      status: field(obj, "status", isStatus, reasons),
      reason,
      applied_at: field(obj, "applied_at", isIso, reasons),
    },
    reasons,
  };
}

async function readSmall(
  path: string,
  isRoot: boolean,
): Promise<{ ok: true; value: string } | { ok: false; reason: NullReason }> {
  return await readText(path, { maxBytes: 64 * 1024, isRoot });
}

/**
 * Collects the config view from ctx.config, the sidecar under ctx.rigforge.home, and the control
 * status under the root.
 *
 * @param ctx the probe context
 * @returns the record
 */
export async function collectConfigView(ctx: ProbeContext): Promise<ConfigViewRecord> {
  const reasons: Reasons = {};
  const record: ConfigViewRecord = {
    config: null,
    config_meta: null,
    edited_since_stamp: null,
    control: null,
    reasons,
  };
  const config = ctx.config;
  const home = ctx.rigforge?.home ?? null;
  const [meta, control] = await Promise.all([
    config === null || home === null
      ? Promise.resolve(null)
      : readSmall(join(home, ".rigforge-config-meta.json"), ctx.isRoot),
    readSmall(machinePath(ctx, "/var/lib/rigforge-control/status.json"), ctx.isRoot),
  ]);

  if (config === null) {
    reasons["config"] = reasons["config_meta"] = reasons["edited_since_stamp"] = "absent";
  } else {
    // tokens are masked wherever a string equals one (a pool `user` excepted: see secrets.ts)
    const tokens = configTokens(config);
    const masked = maskSecrets(writableConfig(config), tokens);
    record.config = sortKeys(masked) as Record<string, unknown>;
    if (config.maxTempC === null) reasons["config.max_temp_c"] = "absent";
    const revision = configRevision(config);
    const cm: ConfigMeta = { revision, changed_at: null, source: null, last_change_id: null };
    record.config_meta = cm;
    const fresh = (why: NullReason) => {
      for (const key of ["changed_at", "source", "last_change_id"]) {
        reasons[`config_meta.${key}`] = why;
      }
      reasons["edited_since_stamp"] = why;
    };
    if (meta === null) fresh("absent");
    else if (!meta.ok) fresh(meta.reason);
    else {
      const parsed = parseConfigMeta(meta.value);
      if (parsed === null) fresh("corrupt");
      else {
        cm.changed_at = parsed.changed_at;
        cm.source = parsed.source;
        cm.last_change_id = parsed.last_change_id;
        mergeReasons(reasons, "config_meta.", parsed.reasons);
        record.edited_since_stamp = parsed.stamped === null ? null : parsed.stamped !== revision;
        const why = parsed.reasons["revision"];
        delete reasons["config_meta.revision"];
        if (why !== undefined) reasons["edited_since_stamp"] = why;
      }
    }
  }

  if (!control.ok) reasons["control"] = control.reason;
  else {
    const parsed = parseControlStatus(control.value, configSecrets(config));
    if (parsed === null) reasons["control"] = "corrupt";
    else {
      record.control = parsed.value;
      mergeReasons(reasons, "control.", parsed.reasons);
    }
  }
  return record;
}

/** The `config_view` probe: masked writable config, revision/provenance, control outcome. */
export const configViewProbe: Probe<ConfigViewRecord> = {
  name: "config_view",
  collect: collectConfigView,
};
