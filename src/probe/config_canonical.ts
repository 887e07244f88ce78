/**
 * The canonical writable config and its secrets: the control-path allowlist (`DONATION`,
 * `autotune`, `max_temp_c`, `pools`, `watchdog`, `watchdog_interval_min`) taken from the
 * validated config, pool secrets masked for display, the canonical text (`jq -S .`) and
 * revision hash, and the redaction of every configured credential from free text. Pure.
 *
 * Masking is `maskSecrets` of `src/lib/secrets.ts`: every credential at any
 * depth becomes `{"__secret__": true}`; `null` and `""` stay as they are, because "no password" /
 * "no pin" is configuration, not a secret, and Pithead needs to tell "unset" from "set but
 * hidden".
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { AutotuneSetting, RigforgeConfig } from "../rigforge/config.ts";
import { deriveBearerHex, isSecretKey, urlPasswords } from "../lib/secrets.ts";

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

/**
 * The config's tokens (`ACCESS_TOKEN`, the `ACCESS_TOKENS` values) and their derived read
 * bearers: the values masked wherever a string equals one (`maskSecrets`'s `known`).
 *
 * @param config the validated config, or `null`
 * @returns the token strings
 */
export function configTokens(config: RigforgeConfig | null): string[] {
  if (config === null) return [];
  const out: string[] = [];
  for (const token of [config.accessToken, ...Object.values(config.accessTokens)]) {
    if (token !== null) out.push(token, deriveBearerHex(token));
  }
  return out;
}

/**
 * Every credential the config holds, for redaction of free text: `ACCESS_TOKEN`, the
 * `ACCESS_TOKENS` values, the read bearers derived from them
 * (HMAC-SHA256(token, "rigforge:api-read:v1"), hex), every pool value under a secret key
 * (`isSecretKey` in `src/lib/secrets.ts`) and every URL userinfo password.
 *
 * @param config the validated config, or `null`
 * @returns the secret strings
 */
export function configSecrets(config: RigforgeConfig | null): string[] {
  if (config === null) return [];
  const out = configTokens(config);
  const collect = (value: unknown): void => {
    if (typeof value === "string" || typeof value === "number") out.push(String(value));
    else if (value !== null && typeof value === "object") Object.values(value).forEach(collect);
  };
  const walk = (value: unknown): void => {
    if (typeof value === "string") out.push(...urlPasswords(value));
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value !== null && typeof value === "object") {
      for (const [key, v] of Object.entries(value)) {
        if (isSecretKey(key, v)) collect(v);
        else walk(v);
      }
    }
  };
  walk(config.pools);
  return out;
}
