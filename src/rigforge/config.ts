/**
 * RigForge's `config.json`: a tolerant reader (comments and trailing commas accepted) and a
 * validator into one typed record that every rigforge-api component uses, so the token is
 * interpreted the same way everywhere (RigForge itself read `"ACCESS_TOKEN": 0` as "open" in one
 * component and as the token `"0"` in another).
 *
 * @module
 */

import { parse, type ParseError, printParseErrorCode } from "jsonc-parser";
import { type Cidr, isIPv4, isIPv6, parseAllowList } from "../ip.ts";

/** The writable-config vocabulary of `autotune`. */
export type AutotuneSetting = "disabled" | "performance" | "efficiency";

/** The validated config. Raw values are kept only where the config view needs them. */
export interface RigforgeConfig {
  /** `HOME_DIR` as written (`DYNAMIC_HOME`, empty, or an absolute path). */
  homeDir: string | null;
  /** `ACCESS_TOKEN`: a non-empty string, or `null` (unset, null or empty: the API is open). */
  accessToken: string | null;
  /** `ACCESS_TOKENS`: named extra tokens, name → token. */
  accessTokens: Record<string, string>;
  /** `api`: the opt-in switch; `null` when the key is absent. */
  api: "enabled" | "disabled" | null;
  /** `api_port` (default 8081). */
  apiPort: number;
  /** `api_bind` (default `0.0.0.0`). */
  apiBind: string;
  /** Whether the config sets `api_bind` itself (else `apiBind` is the default `0.0.0.0`). */
  apiBindSet: boolean;
  /** `api_allow_from`: zero or more sources. */
  apiAllowFrom: Cidr[];
  /** `pools`, raw objects as written (secrets are masked by the config view, not here). */
  pools: Record<string, unknown>[];
  /** `DONATION` (0-100, default 1). */
  donation: number;
  /** `autotune`, canonicalised (`perf`, `true`, `on` → `performance`). */
  autotune: AutotuneSetting;
  /** `watchdog`, canonicalised. */
  watchdog: "disabled" | "enabled";
  /** `watchdog_interval_min` (1-1440, default 5). */
  watchdogIntervalMin: number;
  /** `max_temp_c` in °C (40-110), or `null` when unset or empty. */
  maxTempC: number | null;
  /** `miner_user`, or `null` when the miner runs as root. */
  minerUser: string | null;
  /** `control`: whether RigForge's writable control path is enabled. */
  control: boolean;
  /** `control_port` (default 8082). */
  controlPort: number;
  /** Keys that are not RigForge keys (typos), for a doctor hint. Never values. */
  unknownKeys: string[];
}

/** A config that cannot be used. The message never contains a secret value. */
export class ConfigError extends Error {
  /** The file the error is about. */
  readonly path: string;
  /**
   * @param path the config file
   * @param message what is wrong, without any secret value
   */
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "ConfigError";
    this.path = path;
  }
}

const TOKEN_CHARS = /^[A-Za-z0-9._:@+-]+$/;
const KNOWN_KEYS = new Set([
  "HOME_DIR",
  "ACCESS_TOKEN",
  "ACCESS_TOKENS",
  "api",
  "api_port",
  "api_bind",
  "api_allow_from",
  "control",
  "control_port",
  "control_bind",
  "control_upgrade",
  "pools",
  "DONATION",
  "autotune",
  "watchdog",
  "watchdog_interval_min",
  "max_temp_c",
  "miner_user",
  "add_to_path",
  "hugepages_reserve_extra_mb",
  "threads",
  "RIG_NAME",
]); // deno-fmt-ignore

/**
 * Parses config text: JSON with comments and trailing commas.
 *
 * @param text the file content
 * @param path the file name, for messages
 * @returns the top-level object
 * @throws {ConfigError} on a syntax error (with line and column) or a non-object top level
 */
export function parseConfigText(text: string, path: string): Record<string, unknown> {
  const errors: ParseError[] = [];
  let value: unknown;
  try {
    value = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  } catch {
    // jsonc-parser recurses per nesting level: a hostile file can exhaust the stack
    throw new ConfigError(path, "invalid JSON: nested too deeply");
  }
  const first = errors[0];
  if (first !== undefined) {
    const { line, column } = lineColumn(text, first.offset);
    throw new ConfigError(
      path,
      `invalid JSON at line ${line}, column ${column}: ${printParseErrorCode(first.error)}`,
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(path, "the top level must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

/**
 * Validates a parsed config object into a {@link RigforgeConfig}.
 *
 * @param raw the parsed top-level object
 * @param path the file name, for messages
 * @returns the typed record
 * @throws {ConfigError} naming the key at fault (never its secret value)
 */
export function validateConfig(raw: Record<string, unknown>, path: string): RigforgeConfig {
  const fail = (message: string): never => {
    throw new ConfigError(path, message);
  };
  return {
    homeDir: optionalString(raw, "HOME_DIR", fail),
    accessToken: tokenOf(raw["ACCESS_TOKEN"], "ACCESS_TOKEN", fail),
    accessTokens: namedTokens(raw["ACCESS_TOKENS"], fail),
    api: switchOf(raw["api"], "api", fail),
    apiPort: portOf(raw["api_port"], 8081, "api_port", fail),
    apiBind: bindOf(raw["api_bind"], fail),
    apiBindSet: raw["api_bind"] !== undefined && raw["api_bind"] !== null && raw["api_bind"] !== "",
    apiAllowFrom: allowOf(raw["api_allow_from"], fail),
    pools: poolsOf(raw["pools"], fail),
    donation: intIn(raw["DONATION"], 1, [0, 100], "DONATION", fail),
    autotune: autotuneOf(raw["autotune"], fail),
    watchdog: switchOf(raw["watchdog"], "watchdog", fail) ?? "disabled",
    watchdogIntervalMin: intIn(
      raw["watchdog_interval_min"],
      5,
      [1, 1440],
      "watchdog_interval_min",
      fail,
    ),
    maxTempC: maxTempOf(raw["max_temp_c"], fail),
    minerUser: optionalString(raw, "miner_user", fail),
    control: switchOf(raw["control"], "control", fail) === "enabled",
    controlPort: portOf(raw["control_port"], 8082, "control_port", fail),
    unknownKeys: Object.keys(raw).filter((k) => !KNOWN_KEYS.has(k) && !k.startsWith("_")).sort(),
  }; // deno-fmt-ignore
}

/**
 * Reads, parses and validates a config file.
 *
 * @param path the file
 * @returns the record, or `null` when the file does not exist
 * @throws {ConfigError} when it exists but cannot be read, parsed or validated
 */
export async function readConfig(path: string): Promise<RigforgeConfig | null> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new ConfigError(path, "not a regular file");
    if (info.size > 1024 * 1024) throw new ConfigError(path, "larger than 1 MiB");
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    if (error instanceof ConfigError) throw error;
    const why = error instanceof Deno.errors.PermissionDenied
      ? "permission denied (run as root or as the config's owner)"
      : "cannot be read";
    throw new ConfigError(path, why);
  }
  return validateConfig(parseConfigText(text, path), path);
}

type Fail = (message: string) => never;

function optionalString(raw: Record<string, unknown>, key: string, fail: Fail): string | null {
  const value = raw[key];
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string") return fail(`${key} must be a string`);
  return value;
}

function tokenOf(value: unknown, key: string, fail: Fail): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") {
    return fail(`${key} must be a string or null, not a ${typeOf(value)} (refusing to run open)`);
  }
  if (value === "") return null; // RigForge's default: no token (open)
  const token = value.trim();
  if (token === "") {
    return fail(
      `${key} is blank (only whitespace): set a token or "" for none (refusing to run open)`,
    );
  }
  if (!TOKEN_CHARS.test(token)) {
    return fail(`${key} may hold only letters, digits and . _ : @ + -`);
  }
  return token;
}

function namedTokens(value: unknown, fail: Fail): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    return fail("ACCESS_TOKENS must be an object of name → token");
  }
  const out: Record<string, string> = {};
  for (const [name, token] of Object.entries(value)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
      return fail("ACCESS_TOKENS names may hold only letters, digits and . _ -");
    }
    const parsed = tokenOf(token, `ACCESS_TOKENS.${name}`, fail);
    if (parsed !== null) out[name] = parsed;
  }
  return out;
}

function switchOf(value: unknown, key: string, fail: Fail): "enabled" | "disabled" | null {
  if (value === undefined) return null;
  const text = typeof value === "string" ? value.toLowerCase() : value;
  if ([null, false, "", "disabled", "false", "off", "none", "null"].includes(text as never)) {
    return "disabled";
  }
  if ([true, "enabled", "true", "on"].includes(text as never)) return "enabled";
  return fail(`${key} must be "enabled" or "disabled"`);
}

function autotuneOf(value: unknown, fail: Fail): AutotuneSetting {
  const text = typeof value === "string" ? value.toLowerCase() : value;
  if ([undefined, null, false, "", "disabled", "false", "off", "none"].includes(text as never)) {
    return "disabled";
  }
  if ([true, "true", "on", "perf", "performance"].includes(text as never)) return "performance";
  if (text === "efficiency") return "efficiency";
  return fail(`autotune must be "disabled", "performance" or "efficiency"`);
}

function intOf(value: unknown): number | null {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && /^\d{1,9}$/.test(value.trim())) return Number(value.trim());
  return null;
}

function intIn(
  value: unknown,
  fallback: number,
  [min, max]: [number, number],
  key: string,
  fail: Fail,
): number {
  if (value === undefined || value === null || value === "") return fallback;
  const n = intOf(value);
  if (n === null || n < min || n > max) return fail(`${key} must be a whole number ${min}-${max}`);
  return n;
}

function portOf(value: unknown, fallback: number, key: string, fail: Fail): number {
  const port = intIn(value, fallback, [1, 65535], key, fail);
  if (port === 8080) return fail(`${key} must not be 8080 (XMRig's own API port)`);
  return port;
}

function bindOf(value: unknown, fail: Fail): string {
  if (value === undefined || value === null || value === "") return "0.0.0.0";
  if (typeof value !== "string" || !(isIPv4(value) || isIPv6(value))) {
    return fail("api_bind must be an IPv4 or IPv6 address");
  }
  return value;
}

function allowOf(value: unknown, fail: Fail): Cidr[] {
  const parsed = parseAllowList(value);
  return Array.isArray(parsed) ? parsed : fail(`api_allow_from: ${parsed.error}`);
}

function poolsOf(value: unknown, fail: Fail): Record<string, unknown>[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return fail("pools must be an array");
  return value.map((pool, i) =>
    pool !== null && typeof pool === "object" && !Array.isArray(pool)
      ? pool as Record<string, unknown>
      : fail(`pools[${i}] must be an object`)
  );
}

function maxTempOf(value: unknown, fail: Fail): number | null {
  if (value === undefined || value === null || value === "") return null;
  const n = intOf(value);
  if (n === null || n < 40 || n > 110) return fail("max_temp_c must be empty or 40-110");
  return n;
}

function typeOf(value: unknown): string {
  return Array.isArray(value) ? "array" : typeof value;
}
