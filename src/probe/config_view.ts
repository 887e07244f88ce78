/**
 * The config view Pithead reads: RigForge's effective **writable** config (the control-path
 * allowlist: `DONATION`, `autotune`, `max_temp_c`, `pools`, `watchdog`,
 * `watchdog_interval_min`) with pool secrets masked, its revision and provenance
 * (`<home>/.rigforge-config-meta.json`), and the last control outcome
 * (`/var/lib/rigforge-control/status.json` under the root).
 *
 * Masking: a pool's `pass` and `tls-fingerprint` (at any depth) become `{"__secret__": true}`
 * when they hold a value; `null` and `""` stay as they are, because "no password" / "no pin" is
 * configuration, not a secret, and Pithead needs to tell "unset" from "set but hidden".
 *
 * @module
 */

import { createHash, createHmac } from "node:crypto";
import { join } from "node:path";
import type { AutotuneSetting, RigforgeConfig } from "../rigforge/config.ts";
import { machinePath, readText } from "./read.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

/** The writable config, canonical vocabulary (`perf` is already `performance`). */
export interface WritableConfig {
  /** XMRig donate level, percent (0-100). */
  DONATION: number;
  /** `disabled`, `performance` or `efficiency`. */
  autotune: AutotuneSetting;
  /** Thermal cutoff in °C, or `null` (no cutoff). */
  max_temp_c: number | null;
  /** Pools as the operator wrote them (not defaults-filled). */
  pools: Record<string, unknown>[];
  /** Whether the miner watchdog runs. */
  watchdog: "enabled" | "disabled";
  /** Minutes between watchdog checks. */
  watchdog_interval_min: number;
}

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

/** The sentinel Pithead understands for a masked secret. */
export const SECRET = Object.freeze({ __secret__: true });

const SECRET_KEYS = new Set(["pass", "tls-fingerprint"]);
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

/**
 * The writable config from the validated config (pure). Pools are deep copies of what the
 * operator wrote; secrets are NOT masked here (the revision hashes them).
 *
 * @param config the validated config
 * @returns the writable subset
 */
export function writableConfig(config: RigforgeConfig): WritableConfig {
  return {
    DONATION: config.donation,
    autotune: config.autotune,
    max_temp_c: config.maxTempC,
    pools: structuredClone(config.pools),
    watchdog: config.watchdog,
    watchdog_interval_min: config.watchdogIntervalMin,
  };
}

/**
 * Masks pool secrets at any depth: every `pass` and `tls-fingerprint` key whose value is not
 * `null` or `""` becomes `{"__secret__": true}` (pure; returns a copy).
 *
 * @param value any JSON value
 * @returns the masked copy
 */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEYS.has(key) && v !== null && v !== "" ? { ...SECRET } : maskSecrets(v);
  }
  return out;
}

/** Compares strings by Unicode code point, as jq sorts keys (UTF-8 byte order). */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i] as string).codePointAt(0)! - (y[i] as string).codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * A copy of a JSON value with object keys sorted recursively by code point.
 *
 * @param value any JSON value
 * @returns the sorted copy
 */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value).sort(([a], [b]) => byCodePoint(a, b));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
}

/**
 * Canonical JSON text, byte-identical to what `jq -S .` (jq 1.6) prints for parsed JSON: keys
 * sorted recursively by code point, 2-space indent, `"key": value`, DEL escaped as `\u007f`,
 * numbers in jq's shortest form (`1e+17`, `1e-05`, `-0`), and a trailing LF. (jq 1.7 prints
 * number literals as written; for the integers a writable config holds, both agree.)
 *
 * @param value any JSON value
 * @returns the text
 */
export function canonicalJson(value: unknown): string {
  return jqPretty(sortKeys(value), "") + "\n";
}

function jqPretty(value: unknown, indent: string): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") return jqNumber(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return JSON.stringify(value).replaceAll("\x7f", "\\u007f");
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => inner + jqPretty(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (typeof value !== "object") return "null";
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return "{}";
  const body = entries.map(([k, v]) => `${inner}${jqPretty(k, inner)}: ${jqPretty(v, inner)}`);
  return `{\n${body.join(",\n")}\n${indent}}`;
}

/**
 * Formats a number as jq 1.6 does: the shortest round-trip digits, exponential when the decimal
 * point would sit more than 15 places past the digits or 4+ places before them.
 *
 * @param n the number
 * @returns its text
 */
export function jqNumber(n: number): string {
  if (Number.isNaN(n)) return "null";
  if (!Number.isFinite(n)) return n > 0 ? "1.7976931348623157e+308" : "-1.7976931348623157e+308";
  if (Object.is(n, -0)) return "-0";
  const [mantissa = "0", exponent = "0"] = Math.abs(n).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const decpt = Number(exponent) + 1;
  const sign = n < 0 ? "-" : "";
  if (decpt <= -4 || decpt > digits.length + 15) {
    const e = decpt - 1;
    const frac = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${frac}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return sign + digits + "0".repeat(decpt - digits.length);
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/**
 * The config revision: the first 16 hex digits of the SHA-256 of the canonical text of the
 * UNMASKED writable config. Aliases hash alike (`perf` ≡ `performance`) because the validated
 * config is already canonical; a pool password change changes it.
 *
 * @param config the validated config
 * @returns 16 lower-case hex digits
 */
export function configRevision(config: RigforgeConfig): string {
  return createHash("sha256").update(canonicalJson(writableConfig(config))).digest("hex")
    .slice(0, 16);
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? value as Record<string, unknown>
      : null;
  } catch {
    return null;
  }
}

function field<T>(
  obj: Record<string, unknown>,
  key: string,
  valid: (v: unknown) => v is T,
  reasons: Reasons,
): T | null {
  const v = obj[key];
  if (valid(v)) return v;
  reasons[key] = v === undefined || v === null ? "absent" : "corrupt";
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

// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\x00-\x1f\x7f]+/g;

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
    reason = redactSecrets(raw, secrets).replace(CONTROL_CHARS, " ").trim().slice(0, 300);
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

/**
 * Replaces every occurrence of each secret (3 characters or longer; longest first) with
 * `[redacted]`.
 *
 * @param text free text from a file or a journal line
 * @param secrets values that must never appear (see {@link configSecrets})
 * @returns the text without them
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  const sorted = [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  for (const secret of sorted) out = out.split(secret).join("[redacted]");
  return out;
}

/**
 * Every credential the config holds, for redaction of free text: `ACCESS_TOKEN`, the
 * `ACCESS_TOKENS` values, the read bearers derived from them
 * (HMAC-SHA256(token, "rigforge:api-read:v1"), hex), and every pool `pass`/`tls-fingerprint`.
 *
 * @param config the validated config, or `null`
 * @returns the secret strings
 */
export function configSecrets(config: RigforgeConfig | null): string[] {
  if (config === null) return [];
  const out: string[] = [];
  const tokens = [config.accessToken, ...Object.values(config.accessTokens)];
  for (const token of tokens) {
    if (token === null) continue;
    out.push(token, createHmac("sha256", token).update("rigforge:api-read:v1").digest("hex"));
  }
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === "object") {
      for (const [key, v] of Object.entries(value)) {
        if (SECRET_KEYS.has(key) && typeof v === "string") out.push(v);
        else walk(v);
      }
    }
  };
  walk(config.pools);
  return out;
}

function prefixed(reasons: Reasons, prefix: string, from: Reasons): void {
  for (const [key, reason] of Object.entries(from)) reasons[`${prefix}${key}`] = reason;
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
    record.config = sortKeys(maskSecrets(writableConfig(config))) as Record<string, unknown>;
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
        prefixed(reasons, "config_meta.", parsed.reasons);
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
      prefixed(reasons, "control.", parsed.reasons);
    }
  }
  return record;
}

/** The `config_view` probe: masked writable config, revision/provenance, control outcome. */
export const configViewProbe: Probe<ConfigViewRecord> = {
  name: "config_view",
  collect: collectConfigView,
};
