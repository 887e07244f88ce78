/**
 * XMRig's log (`<worker root>/xmrig.log`) as the probes read it: only its tail (RigForge appends
 * the log across restarts, up to ~50 MB), only the lines since XMRig's last start, and a line as
 * reported (clean and clipped). Shared by the `msr` and `xmrig_log` probes.
 *
 * @module
 */

import { closeQuietly, readInto } from "../lib/read.ts";
import { dropControl, stripAnsi } from "../lib/text.ts";
import { reasonOf } from "./read.ts";
import type { NullReason } from "./types.ts";

/** The longest log line reported, in characters. */
export const MAX_LOG_LINE = 200;
/** How much of the end of `xmrig.log` is read, in bytes. */
export const LOG_TAIL_BYTES = 1024 * 1024;

/** XMRig's start banner line (`* ABOUT        XMRig/6.26.0 gcc/12.2.0 ...`), printed at each start. */
const BANNER = " * ABOUT";

/**
 * The lines of an XMRig log written since its last start: after the last line containing the
 * start banner ` * ABOUT` (or all lines when the tail holds no banner), ANSI colour codes removed.
 *
 * @param text the log (or its tail)
 * @returns the lines since the last start
 */
export function linesSinceLastStart(text: string): string[] {
  const lines = text.split("\n").map(stripAnsi);
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.includes(BANNER)) return lines.slice(i + 1);
  }
  return lines;
}

/**
 * Whether the log text holds XMRig's start banner (` * ABOUT`): without it, the lines of the
 * current start are not in the text (the log was rotated or truncated, or the start lies
 * before the tail that was read), so a line missing from it cannot be told apart from one
 * XMRig never printed.
 *
 * @param text the log (or its tail)
 * @returns `true` when a start banner is in the text
 */
export function hasStartBanner(text: string): boolean {
  return text.split("\n").some((line) => stripAnsi(line).includes(BANNER));
}

/**
 * A log line as reported: trimmed, control characters (left after ANSI stripping) shown as
 * `.`, at most {@link MAX_LOG_LINE} characters.
 *
 * @param line the raw line
 * @returns the line to report
 */
export function clip(line: string): string {
  return dropControl(line.trim(), ".").slice(0, MAX_LOG_LINE);
}

/**
 * Reads the last `maxBytes` of a regular file with one positioned read, dropping the partial
 * first line when the tail starts mid-file. Not a regular file (a FIFO, a device) →
 * `unreadable`.
 *
 * @param path the file
 * @param maxBytes how much of the end to read
 * @param isRoot whether the process is root
 * @returns the text, or a reason
 */
export async function readTail(
  path: string,
  maxBytes: number,
  isRoot: boolean,
): Promise<{ ok: true; value: string } | { ok: false; reason: NullReason }> {
  let file: Deno.FsFile | undefined;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return { ok: false, reason: "unreadable" };
    file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    const start = Math.max(0, size - maxBytes);
    const buffer = new Uint8Array(size - start);
    await file.seek(start, Deno.SeekMode.Start);
    const filled = await readInto(file, buffer);
    let text = new TextDecoder().decode(buffer.subarray(0, filled));
    if (start > 0) text = text.slice(text.indexOf("\n") + 1);
    return { ok: true, value: text };
  } catch (error) {
    return { ok: false, reason: reasonOf(error, isRoot) };
  } finally {
    closeQuietly(file);
  }
}
