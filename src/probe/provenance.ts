/**
 * What is installed, as built (not as pinned in a script): RigForge's `<home>/VERSION`, the
 * XMRig commit (`<worker_root>/xmrig/.rigforge-commit`), the SHA-256 recorded at build time
 * (`<worker_root>/xmrig/.rigforge-sha256`) against the SHA-256 of the binary now on disk
 * (`<worker_root>/xmrig/build/xmrig`), and XMRig's own HTTP API settings from
 * `<worker_root>/xmrig/build/config.json` (never the access token itself, only whether one is
 * set).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { parse, type ParseError } from "jsonc-parser";
import { closeQuietly } from "../lib/read.ts";
import { isObject } from "../lib/json.ts";
import { absentOrCorrupt, mergeReasons } from "./json.ts";
import { readText, reasonOf } from "./read.ts";
import type { NullReason, Probe, ProbeContext, Reasons } from "./types.ts";

/** XMRig's `http` block, without the token. */
export interface XmrigHttp {
  /** `http.enabled`. */
  enabled: boolean | null;
  /** `http.host` (the bind address). */
  host: string | null;
  /** `http.port`. */
  port: number | null;
  /** `http.restricted`: `true` makes the API read-only. */
  restricted: boolean | null;
  /** Whether `http.access-token` is a non-empty string (its value is never kept). */
  token_set: boolean;
}

/** JSON scalars a layout knob may hold. */
export type Knob = boolean | number | string | null;

/**
 * The CPU thread layout and RandomX knobs of `xmrig/build/config.json`: `cpu.rx` as written
 * (`-1`/absent: XMRig's automatic layout; a count; or an explicit list of per-thread entries,
 * each a CPU index or `[intensity, affinity]`), and the knobs RigForge's tune may set.
 */
export interface XmrigLayout {
  /** `cpu.rx`: `-1`, a thread count, or the per-thread list (at most 4096 entries). */
  rx: number | (number | number[])[] | null;
  /** `cpu.*` knobs: `yield`, `priority`, `huge-pages`, `huge-pages-jit`, `memory-pool`, `asm`. */
  cpu: Record<string, Knob>;
  /**
   * `randomx.*` knobs: `mode`, `scratchpad_prefetch_mode`, `1gb-pages`, `cache_qos`, `wrmsr`,
   * `rdmsr`, `numa`, `init`.
   */
  randomx: Record<string, Knob>;
}

const CPU_KNOBS = ["yield", "priority", "huge-pages", "huge-pages-jit", "memory-pool", "asm"];
const RANDOMX_KNOBS = [
  "mode",
  "scratchpad_prefetch_mode",
  "1gb-pages",
  "cache_qos",
  "wrmsr",
  "rdmsr",
  "numa",
  "init",
];

/**
 * Reads the thread layout and knobs from XMRig's parsed config (only scalar knobs and a
 * numeric `rx`; anything else is left out).
 *
 * @param config the parsed `config.json`
 * @returns the layout, or `null` when there is no `cpu` object
 */
export function layoutOf(config: unknown): XmrigLayout | null {
  if (!isObject(config) || !isObject(config["cpu"])) return null;
  const cpu = config["cpu"];
  const randomx = isObject(config["randomx"]) ? config["randomx"] : {};
  const knobs = (block: Record<string, unknown>, keys: readonly string[]) => {
    const out: Record<string, Knob> = {};
    for (const key of keys) {
      const v = block[key];
      const scalar = v === null || typeof v === "boolean" ||
        (typeof v === "number" && Number.isFinite(v)) ||
        (typeof v === "string" && /^[0-9A-Za-z._-]{0,32}$/.test(v));
      if (scalar && v !== undefined) out[key] = v as Knob;
    }
    return out;
  };
  const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
  const raw = cpu["rx"];
  let rx: XmrigLayout["rx"] = null;
  if (isInt(raw)) rx = raw;
  else if (Array.isArray(raw) && raw.length <= 4096) {
    const entries = raw.filter((e): e is number | number[] =>
      isInt(e) || (Array.isArray(e) && e.length <= 4 && e.every(isInt))
    );
    if (entries.length === raw.length) rx = entries;
  }
  return { rx, cpu: knobs(cpu, CPU_KNOBS), randomx: knobs(randomx, RANDOMX_KNOBS) };
}

/** XMRig's config (JSONC) parsed, or `undefined` when it does not parse cleanly. */
function parseConfig(text: string): unknown {
  const errors: ParseError[] = [];
  try {
    const value: unknown = parse(text, errors, { allowTrailingComma: true });
    return errors.length === 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The `provenance` probe's record. */
export interface ProvenanceRecord {
  /** `<home>/VERSION`, trimmed (e.g. `1.17.2`). */
  rigforge_version: string | null;
  /** The XMRig commit RigForge built, 40 lower-case hex digits. */
  xmrig_commit: string | null;
  /** The binary's SHA-256 recorded at build time, 64 lower-case hex digits. */
  xmrig_sha256_recorded: string | null;
  /** The SHA-256 of `xmrig/build/xmrig` as it is now. */
  xmrig_sha256_actual: string | null;
  /** Whether the two hashes are equal (`false` is tamper evidence or an unrecorded rebuild). */
  binary_matches: boolean | null;
  /** XMRig's HTTP API settings. */
  xmrig_http: XmrigHttp | null;
  /**
   * The XMRig release RigForge pins and builds (`XMRIG_VERSION` in `<home>/rigforge.sh`, e.g.
   * `v6.26.0`), what RigForge v1.12 serves as `xmrig_version`.
   */
  xmrig_version_pinned: string | null;
  /** The commit RigForge pins (`XMRIG_COMMIT` in `<home>/rigforge.sh`), 40 hex digits. */
  xmrig_commit_pinned: string | null;
  /** Whether the built commit (`.rigforge-commit`) is the pinned one. */
  xmrig_build_matches_pin: boolean | null;
  /** The thread layout and knobs of the built config (tune overrides merged in by RigForge). */
  xmrig_layout: XmrigLayout | null;
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

/**
 * Reads RigForge's pin from `rigforge.sh`: the lines `XMRIG_VERSION="${XMRIG_VERSION:-v6.26.0}"`
 * and `XMRIG_COMMIT="${XMRIG_COMMIT:-<40 hex>}"` (the default after `:-`, as RigForge's own
 * release test reads it with sed), or a plain `XMRIG_VERSION="v6.26.0"`.
 *
 * @param text the script (its first 512 KiB)
 * @returns the pinned version and commit, each `null` when not found or malformed
 */
export function parsePin(text: string): { version: string | null; commit: string | null } {
  const value = (name: string): string | null => {
    const line = new RegExp(`^${name}="(?:\\$\\{${name}:-)?([^"}]*)\\}?"\\s*$`, "m").exec(text);
    return line?.[1] ?? null;
  };
  const version = value("XMRIG_VERSION");
  const commit = value("XMRIG_COMMIT");
  return {
    version: version !== null && /^v?\d{1,4}\.\d{1,4}\.\d{1,4}[0-9A-Za-z.+-]{0,32}$/.test(version)
      ? version
      : null,
    commit: commit !== null && /^[0-9a-fA-F]{40}$/.test(commit) ? commit.toLowerCase() : null,
  };
}

/** Largest binary hashed, in bytes (XMRig is ~10 MB). */
export const HASH_MAX_BYTES = 256 * 1024 * 1024;
/** Time bound for hashing, in milliseconds. */
export const HASH_TIMEOUT_MS = 3000;

/**
 * Parses `VERSION`: one line such as `1.17.2`.
 *
 * @param text the file content
 * @returns the version, or `null` when it does not look like one
 */
export function parseVersion(text: string): string | null {
  const value = text.trim();
  return /^[0-9A-Za-z][0-9A-Za-z.+_~-]{0,63}$/.test(value) ? value : null;
}

/**
 * Parses `.rigforge-commit`: a 40-hex-digit git commit.
 *
 * @param text the file content
 * @returns the commit in lower case, or `null` when it is not 40 hex digits
 */
export function parseCommit(text: string): string | null {
  const value = text.trim();
  return /^[0-9a-fA-F]{40}$/.test(value) ? value.toLowerCase() : null;
}

/**
 * Parses `.rigforge-sha256`: its first whitespace-separated token must be a SHA-256 in hex
 * (`sha256sum` output, `<hash>  <file>`, is accepted).
 *
 * @param text the file content
 * @returns the hash in lower case, or `null`
 */
export function parseSha256Record(text: string): string | null {
  const token = text.trim().split(/\s+/)[0] ?? "";
  return /^[0-9a-fA-F]{64}$/.test(token) ? token.toLowerCase() : null;
}

/**
 * Parses XMRig's `config.json` (JSON with comments and trailing commas, as XMRig accepts) and
 * extracts its `http` block. The access token is reduced to `token_set`.
 *
 * @param text the file content
 * @returns the block with reasons keyed relative to it (`host`), or `null` with `why` when the
 *   file does not parse (`corrupt`) or has no `http` object (`absent`)
 */
export function parseXmrigHttp(
  text: string,
): { value: XmrigHttp; reasons: Reasons } | { value: null; why: NullReason } {
  const errors: ParseError[] = [];
  let config: unknown;
  try {
    config = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  } catch {
    return { value: null, why: "corrupt" };
  }
  if (errors.length > 0 || !isObject(config)) return { value: null, why: "corrupt" };
  const block = config["http"];
  if (block === undefined || block === null) return { value: null, why: "absent" };
  if (!isObject(block)) return { value: null, why: "corrupt" };
  const reasons: Reasons = {};
  const pick = <T>(key: string, field: string, ok: (v: unknown) => v is T): T | null => {
    const v = block[key];
    if (ok(v)) return v;
    reasons[field] = absentOrCorrupt(v);
    return null;
  };
  const isBool = (v: unknown): v is boolean => typeof v === "boolean";
  const token = block["access-token"];
  return {
    value: {
      enabled: pick("enabled", "enabled", isBool),
      host: pick(
        "host",
        "host",
        (v): v is string => typeof v === "string" && /^[0-9A-Za-z.:_%-]{1,64}$/.test(v),
      ),
      port: pick(
        "port",
        "port",
        (v): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 65535,
      ),
      restricted: pick("restricted", "restricted", isBool),
      token_set: typeof token === "string" && token.length > 0,
    },
    reasons,
  };
}

interface HashEntry {
  size: number;
  mtimeMs: number | null;
  ctimeMs: number | null;
  ino: number | null;
  digest: string;
}

/** Digests by path, valid while (size, mtime, ctime, inode) are unchanged. */
const hashCache = new Map<string, HashEntry>();
let hashesComputed = 0;

/**
 * How many files {@link sha256File} has actually read and hashed in this process (cache misses).
 *
 * @returns the count
 */
export function hashesComputedCount(): number {
  return hashesComputed;
}

/**
 * SHA-256 of a regular file, streamed in 1 MiB chunks, capped at {@link HASH_MAX_BYTES} and
 * {@link HASH_TIMEOUT_MS}. Memoised per path while size, mtime, ctime and inode are unchanged,
 * so `serve` probing every few seconds does not re-read a 10 MB binary (ctime cannot be set
 * back from user space, so a rewrite with a restored mtime is still noticed).
 *
 * @param path the file
 * @param isRoot whether the process is root (for the reason of a permission error)
 * @returns the lower-case hex digest, or a reason
 */
export async function sha256File(
  path: string,
  isRoot = false,
): Promise<{ ok: true; value: string } | { ok: false; reason: NullReason }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    return { ok: false, reason: reasonOf(error, isRoot) };
  }
  if (!info.isFile || info.size > HASH_MAX_BYTES) return { ok: false, reason: "unreadable" };
  const key = {
    size: info.size,
    mtimeMs: info.mtime?.getTime() ?? null,
    ctimeMs: info.ctime?.getTime() ?? null,
    ino: info.ino,
  };
  const cached = hashCache.get(path);
  if (
    cached !== undefined && cached.size === key.size && cached.mtimeMs === key.mtimeMs &&
    cached.ctimeMs === key.ctimeMs && cached.ino === key.ino
  ) {
    return { ok: true, value: cached.digest };
  }
  const result = await hashStream(path, isRoot);
  if (result.ok) {
    hashesComputed++;
    hashCache.set(path, { ...key, digest: result.value });
  } else hashCache.delete(path);
  return result;
}

async function hashStream(
  path: string,
  isRoot: boolean,
): Promise<{ ok: true; value: string } | { ok: false; reason: NullReason }> {
  const deadline = Date.now() + HASH_TIMEOUT_MS;
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const hash = createHash("sha256");
    const buffer = new Uint8Array(1024 * 1024);
    let total = 0;
    while (true) {
      const n = await file.read(buffer);
      if (n === null) break;
      total += n;
      if (total > HASH_MAX_BYTES) return { ok: false, reason: "unreadable" };
      hash.update(buffer.subarray(0, n));
      if (Date.now() > deadline) return { ok: false, reason: "timeout" };
    }
    return { ok: true, value: hash.digest("hex") };
  } catch (error) {
    return { ok: false, reason: reasonOf(error, isRoot) };
  } finally {
    closeQuietly(file);
  }
}

/** Reads a small text file and parses it; `null` plus a reason on any failure. */
async function readParsed<T>(
  path: string,
  parse: (text: string) => T | null,
  isRoot: boolean,
): Promise<{ value: T | null; reason: NullReason | null }> {
  const text = await readText(path, { maxBytes: 4096, isRoot });
  if (!text.ok) return { value: null, reason: text.reason };
  const value = parse(text.value);
  return value === null ? { value: null, reason: "corrupt" } : { value, reason: null };
}

/**
 * Collects the provenance record from ctx.rigforge (home and worker root).
 *
 * @param ctx the probe context
 * @returns the record
 */
export async function collectProvenance(ctx: ProbeContext): Promise<ProvenanceRecord> {
  const reasons: Reasons = {};
  const record: ProvenanceRecord = {
    rigforge_version: null,
    xmrig_commit: null,
    xmrig_sha256_recorded: null,
    xmrig_sha256_actual: null,
    binary_matches: null,
    xmrig_http: null,
    xmrig_version_pinned: null,
    xmrig_commit_pinned: null,
    xmrig_build_matches_pin: null,
    xmrig_layout: null,
    reasons,
  };
  const paths = ctx.rigforge;
  if (paths === null) {
    for (const key of Object.keys(record)) if (key !== "reasons") reasons[key] = "absent";
    return record;
  }
  const xmrig = join(paths.workerRoot, "xmrig");
  const [version, commit, recorded, actual, config, script] = await Promise.all([
    readParsed(join(paths.home, "VERSION"), parseVersion, ctx.isRoot),
    readParsed(join(xmrig, ".rigforge-commit"), parseCommit, ctx.isRoot),
    readParsed(join(xmrig, ".rigforge-sha256"), parseSha256Record, ctx.isRoot),
    sha256File(join(xmrig, "build", "xmrig"), ctx.isRoot),
    readText(join(xmrig, "build", "config.json"), { maxBytes: 1024 * 1024, isRoot: ctx.isRoot }),
    readText(join(paths.home, "rigforge.sh"), { maxBytes: 512 * 1024, isRoot: ctx.isRoot }),
  ]);
  record.rigforge_version = version.value;
  if (version.reason) reasons["rigforge_version"] = version.reason;
  record.xmrig_commit = commit.value;
  if (commit.reason) reasons["xmrig_commit"] = commit.reason;
  record.xmrig_sha256_recorded = recorded.value;
  if (recorded.reason) reasons["xmrig_sha256_recorded"] = recorded.reason;
  if (actual.ok) record.xmrig_sha256_actual = actual.value;
  else reasons["xmrig_sha256_actual"] = actual.reason;
  if (record.xmrig_sha256_recorded !== null && record.xmrig_sha256_actual !== null) {
    record.binary_matches = record.xmrig_sha256_recorded === record.xmrig_sha256_actual;
  } else {
    reasons["binary_matches"] = reasons["xmrig_sha256_recorded"] ??
      reasons["xmrig_sha256_actual"] ?? "absent";
  }
  if (!config.ok) reasons["xmrig_http"] = reasons["xmrig_layout"] = config.reason;
  else {
    const parsed = parseConfig(config.value);
    record.xmrig_layout = layoutOf(parsed);
    if (record.xmrig_layout === null) reasons["xmrig_layout"] = "corrupt";
    else if (record.xmrig_layout.rx === null) {
      // No `cpu.rx` (XMRig lays threads out itself), or a form not read here (XMRig's object
      // form, a list over 4096 entries).
      const cpu = isObject(parsed) && isObject(parsed["cpu"]) ? parsed["cpu"] : {};
      reasons["xmrig_layout.rx"] = cpu["rx"] === undefined ? "absent" : "unsupported";
    }
    const http = parseXmrigHttp(config.value);
    if (http.value === null) reasons["xmrig_http"] = http.why;
    else {
      record.xmrig_http = http.value;
      mergeReasons(reasons, "xmrig_http.", http.reasons);
    }
  }
  pinOf(record, script.ok ? parsePin(script.value) : script.reason);
  return record;
}

/** Fills the pinned version and commit, and whether the build is the pinned commit. */
function pinOf(
  record: ProvenanceRecord,
  pin: { version: string | null; commit: string | null } | NullReason,
): void {
  const reasons = record.reasons;
  if (typeof pin === "string") {
    reasons["xmrig_version_pinned"] = reasons["xmrig_commit_pinned"] = pin;
    reasons["xmrig_build_matches_pin"] = pin;
    return;
  }
  record.xmrig_version_pinned = pin.version;
  if (pin.version === null) reasons["xmrig_version_pinned"] = "corrupt";
  record.xmrig_commit_pinned = pin.commit;
  if (pin.commit === null) reasons["xmrig_commit_pinned"] = "corrupt";
  if (pin.commit !== null && record.xmrig_commit !== null) {
    record.xmrig_build_matches_pin = pin.commit === record.xmrig_commit;
  } else {
    reasons["xmrig_build_matches_pin"] = reasons["xmrig_commit_pinned"] ??
      reasons["xmrig_commit"] ?? "absent";
  }
}

/** The `provenance` probe: versions, build commit, binary hash and XMRig's HTTP settings. */
export const provenanceProbe: Probe<ProvenanceRecord> = {
  name: "provenance",
  collect: collectProvenance,
};
