/**
 * XMRig's huge-pages outcome since its last start, from `<worker root>/xmrig.log`: the
 * RandomX dataset line (`randomx  allocated 2336 MB (2080+256) huge pages 100% 1168/1168`)
 * and the CPU backend line (`cpu      READY threads 16/16 (16) huge pages 100% 16/16`).
 * RigForge's doctor greps the whole appended log, so one 100 % line from any earlier run
 * passes forever; only lines after the last start banner count here.
 *
 * @module
 */

import { clip, hasStartBanner, linesSinceLastStart, LOG_TAIL_BYTES, readTail } from "./log_tail.ts";
import type { Probe, ProbeContext, Reasons } from "./types.ts";

/** One huge-pages report line: how many of the wanted pages were huge. */
export interface HugepagesLine {
  /** Percentage of pages that are huge pages, as XMRig prints it (0-100). */
  pct: number;
  /** Pages allocated as huge pages. */
  allocated: number;
  /** Pages wanted. */
  total: number;
  /** The line, trimmed (no secrets: XMRig prints sizes and counts only). */
  line: string;
}

/** The record: XMRig's huge-pages lines since its last start. */
export interface XmrigLogRecord {
  /** The RandomX dataset and cache allocation (`randomx  allocated …`), last since start. */
  dataset: HugepagesLine | null;
  /** The CPU backend's scratchpads (`cpu      READY threads …`), last since start. */
  threads: HugepagesLine | null;
  reasons: Reasons;
}

const DATASET = /\brandomx\s+allocated .*huge pages (\d{1,3})% (\d{1,9})\/(\d{1,9})/;
const THREADS = /\bcpu\s+READY threads .*huge pages (\d{1,3})% (\d{1,9})\/(\d{1,9})/;

function lineOf(match: RegExpExecArray, line: string): HugepagesLine | null {
  const [pct, allocated, total] = [match[1], match[2], match[3]].map(Number) as [
    number,
    number,
    number,
  ];
  if (pct > 100 || allocated > total) return null;
  return { pct, allocated, total, line: clip(line) };
}

/**
 * Finds XMRig's huge-pages lines since its last start.
 *
 * @param text the log (or its tail)
 * @returns the last dataset and threads lines, `null` where none was written since the start
 */
export function parseHugepagesLog(text: string): Omit<XmrigLogRecord, "reasons"> {
  let dataset: HugepagesLine | null = null;
  let threads: HugepagesLine | null = null;
  for (const line of linesSinceLastStart(text)) {
    const d = DATASET.exec(line);
    if (d) dataset = lineOf(d, line) ?? dataset;
    const t = THREADS.exec(line);
    if (t) threads = lineOf(t, line) ?? threads;
  }
  return { dataset, threads };
}

/**
 * Collects the record from the last {@link LOG_TAIL_BYTES} of `<worker root>/xmrig.log`.
 *
 * @param ctx the probe context
 * @returns the record
 */
export async function collectXmrigLog(ctx: ProbeContext): Promise<XmrigLogRecord> {
  const empty = (reason: Reasons[string]): XmrigLogRecord => ({
    dataset: null,
    threads: null,
    reasons: { dataset: reason, threads: reason },
  });
  if (ctx.rigforge === null) return empty("absent");
  const tail = await readTail(`${ctx.rigforge.workerRoot}/xmrig.log`, LOG_TAIL_BYTES, ctx.isRoot);
  if (!tail.ok) return empty(tail.reason);
  const parsed = parseHugepagesLog(tail.value);
  const reasons: Reasons = {};
  // No start banner in the tail: this start's lines are not there (log rotated or truncated,
  // or the start lies before the tail), so a missing line cannot be told from no line.
  const missing = hasStartBanner(tail.value) ? "not-running" : "absent";
  if (parsed.dataset === null) reasons["dataset"] = missing;
  if (parsed.threads === null) reasons["threads"] = missing;
  return { ...parsed, reasons };
}

/** The `xmrig_log` probe. */
export const xmrigLogProbe: Probe<XmrigLogRecord> = {
  name: "xmrig_log",
  collect: collectXmrigLog,
};
