/**
 * Bounded file reading for probes. Some sysfs files report a size of 4096 or 0 whatever they
 * hold, and some hwmon reads block for seconds, so every read here is capped in bytes and time
 * and returns a {@link NullReason} instead of throwing.
 *
 * @module
 */

import { join } from "node:path";
import { closeQuietly, readUpTo } from "../lib/read.ts";
import type { Result } from "./result.ts";
import type { NullReason, ProbeContext } from "./types.ts";

/** Default cap for a text read: kernel attribute files are tiny; `/proc/cpuinfo` on 192 CPUs ~1 MB. */
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
/** Default time bound for a single read, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 1000;

/** Options for the bounded readers. */
export interface ReadOptions {
  /** Largest accepted size in bytes; a longer file is `unreadable`. */
  maxBytes?: number;
  /** Time bound in milliseconds; a slower read is `timeout`. */
  timeoutMs?: number;
}

/**
 * Joins a machine path (`/proc/meminfo`, `/sys/class/powercap`) under the context's root prefix.
 *
 * @param ctx the probe context carrying `root`
 * @param path an absolute machine path
 * @returns the path to open
 */
export function machinePath(ctx: Pick<ProbeContext, "root">, path: string): string {
  return ctx.root === "/" ? path : join(ctx.root, path);
}

/**
 * Maps an error thrown by a Deno file API to a null reason.
 *
 * @param error what was thrown
 * @param isRoot whether the process is root (a permission error as root is not `needs-root`)
 * @returns the reason
 */
export function reasonOf(error: unknown, isRoot = false): NullReason {
  if (error instanceof Deno.errors.NotFound) return "absent";
  if (error instanceof Deno.errors.PermissionDenied) return isRoot ? "unreadable" : "needs-root";
  if (error instanceof Deno.errors.TimedOut) return "timeout";
  return "unreadable";
}

/**
 * Reads a whole file as bytes, bounded in size and time.
 *
 * @param path the file to read (already joined under the root when it is a machine path)
 * @param options size and time bounds
 * @returns the bytes, or a reason
 */
export async function readBytes(
  path: string,
  options: ReadOptions & { isRoot?: boolean } = {},
): Promise<Result<Uint8Array>> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Result<Uint8Array>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: "timeout" }), timeoutMs);
  });
  try {
    return await Promise.race([readCapped(path, maxBytes, options.isRoot ?? false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readCapped(
  path: string,
  maxBytes: number,
  isRoot: boolean,
): Promise<Result<Uint8Array>> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const bytes = await readUpTo(file, maxBytes);
    if (bytes.length > maxBytes) return { ok: false, reason: "unreadable" };
    return { ok: true, value: bytes };
  } catch (error) {
    return { ok: false, reason: reasonOf(error, isRoot) };
  } finally {
    closeQuietly(file);
  }
}

/**
 * Reads a whole file as UTF-8 text, bounded in size and time. Invalid UTF-8 is replaced, not
 * fatal: parsers decide what malformed content means.
 *
 * @param path the file to read
 * @param options size and time bounds
 * @returns the text, or a reason
 */
export async function readText(
  path: string,
  options: ReadOptions & { isRoot?: boolean } = {},
): Promise<Result<string>> {
  const bytes = await readBytes(path, options);
  if (!bytes.ok) return bytes;
  return { ok: true, value: new TextDecoder().decode(bytes.value) };
}

/**
 * Reads a one-line sysfs attribute (`scaling_governor`, `board_name`), trimmed. An empty file
 * is `absent` (the kernel leaves DMI strings empty when the firmware did not fill them).
 *
 * @param path the attribute file
 * @param options size and time bounds
 * @returns the trimmed text, or a reason
 */
export async function readAttribute(
  path: string,
  options: ReadOptions & { isRoot?: boolean } = {},
): Promise<Result<string>> {
  const text = await readText(path, { maxBytes: 4096, ...options });
  if (!text.ok) return text;
  const value = text.value.trim();
  return value === "" ? { ok: false, reason: "absent" } : { ok: true, value };
}

/**
 * Reads a sysfs attribute that holds one non-negative integer (`energy_uj`, `nr_hugepages`).
 *
 * @param path the attribute file
 * @param options size and time bounds
 * @returns the integer, or a reason (`corrupt` when it is not a plain decimal integer)
 */
export async function readInteger(
  path: string,
  options: ReadOptions & { isRoot?: boolean } = {},
): Promise<Result<number>> {
  const text = await readAttribute(path, options);
  if (!text.ok) return text;
  if (!/^\d{1,20}$/.test(text.value)) return { ok: false, reason: "corrupt" };
  const value = Number(text.value);
  return Number.isSafeInteger(value) ? { ok: true, value } : { ok: false, reason: "corrupt" };
}

/**
 * Lists a directory's entry names, sorted, bounded in count.
 *
 * @param path the directory
 * @param maxEntries the most entries to return
 * @returns sorted names, or a reason
 */
export async function listDir(
  path: string,
  maxEntries = 4096,
): Promise<Result<string[]>> {
  try {
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) {
      names.push(entry.name);
      if (names.length >= maxEntries) break;
    }
    return { ok: true, value: names.sort() };
  } catch (error) {
    return { ok: false, reason: reasonOf(error) };
  }
}

/**
 * Whether a path exists (file, directory or symlink target).
 *
 * @param path the path
 * @returns true when `stat` succeeds
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
