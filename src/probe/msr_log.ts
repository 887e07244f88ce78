/**
 * XMRig's own verdict on the MSR mod, from its log `<worker root>/xmrig.log`: the last MSR line
 * since the last start banner. Only the last {@link LOG_TAIL_BYTES} are read, because RigForge
 * appends the log across restarts (up to ~50 MB).
 *
 * @module
 */

import { closeQuietly, readInto } from "../lib/read.ts";
import { dropControl, stripAnsi } from "../lib/text.ts";
import { reasonOf } from "./read.ts";
import type { NullReason } from "./types.ts";

/** What XMRig's log says about the MSR mod since its last start. */
export interface MsrLogStatus {
  /** `applied` (success line), `failed` (a failure line) or `none` (no MSR line yet). */
  status: "applied" | "failed" | "none";
  /** The preset named by the success line; `null` otherwise. */
  preset: string | null;
  /** The deciding line, trimmed, at most 200 characters; `null` for `none`. */
  line: string | null;
}

/** The longest log line returned in {@link MsrLogStatus.line}. */
export const MAX_LOG_LINE = 200;
/** How much of the end of `xmrig.log` is read, in bytes. */
export const LOG_TAIL_BYTES = 1024 * 1024;

/** XMRig's start banner line (`* ABOUT        XMRig/6.26.0 gcc/12.2.0 ...`), printed at each start. */
const BANNER = " * ABOUT";
const SUCCESS = /register values for "([A-Za-z0-9_]{1,32})" preset have been set successfully/;
const FAILURES = [
  "FAILED TO APPLY MSR MOD",
  "cannot set MSR",
  "cannot read MSR",
  "msr kernel module is not available",
];

/**
 * Reads XMRig's verdict on the MSR mod from its log text. Only lines after the last start
 * banner (a line containing ` * ABOUT`) count, so an old success before a restart does not;
 * among those, the last MSR line decides: `register values for "<preset>" preset have been
 * set successfully` → `applied`; `FAILED TO APPLY MSR MOD`, `cannot set MSR`,
 * `cannot read MSR` or `msr kernel module is not available` → `failed`. ANSI colour codes are
 * ignored; other control characters in the returned line become `.`.
 *
 * @param text the log (or its tail)
 * @returns the status
 */
export function parseMsrLog(text: string): MsrLogStatus {
  let status: MsrLogStatus = { status: "none", preset: null, line: null };
  for (const line of linesSinceLastStart(text)) {
    const success = SUCCESS.exec(line);
    if (success) {
      status = { status: "applied", preset: success[1]!, line: clip(line) };
    } else if (FAILURES.some((failure) => line.includes(failure))) {
      status = { status: "failed", preset: null, line: clip(line) };
    }
  }
  return status;
}

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
