/**
 * Pure helpers of `deno task bench`: parsing wrk's report and `/proc/<pid>/stat`, and
 * formatting. The process-level measurement lives in `bench/run.ts`.
 *
 * @module
 */

/** What one wrk run reported. */
export interface WrkReport {
  /** Responses completed (wrk's "N requests in"). */
  requests: number;
  /** The run's length, seconds. */
  seconds: number;
  /** wrk's Requests/sec. */
  rps: number;
  /** Latency percentiles from `--latency`, milliseconds. */
  p50ms: number;
  p99ms: number;
  /** Responses that were not 2xx/3xx. */
  non2xx: number;
  /** Socket errors: connect, read, write, timeout. */
  errors: { connect: number; read: number; write: number; timeout: number };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) throw new SyntaxError(`wrk: bad duration ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/**
 * Parses the report of `wrk --latency`.
 *
 * @param text wrk's stdout
 * @returns the figures
 * @throws {SyntaxError} when a required line is missing
 */
export function parseWrk(text: string): WrkReport {
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(text);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const p50 = /^\s+50%\s+(\S+)$/m.exec(text);
  const p99 = /^\s+99%\s+(\S+)$/m.exec(text);
  if (done === null || rps === null || p50 === null || p99 === null) {
    throw new SyntaxError("wrk: report incomplete (was --latency given?)");
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(done[1]),
    seconds: durationMs(`${done[2]}${done[3]}`) / 1000,
    rps: Number(rps[1]),
    p50ms: durationMs(p50[1]!),
    p99ms: durationMs(p99[1]!),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    errors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
    },
  };
}

/** The fields of `/proc/<pid>/stat` the bench uses (clock ticks and page-fault counts). */
export interface ProcStat {
  /** User and system CPU of the process (all threads), clock ticks. */
  utime: number;
  stime: number;
  /** CPU of its waited-for children, clock ticks. */
  cutime: number;
  cstime: number;
  /** Minor faults of its waited-for children: any reaped child adds its own (hundreds). */
  cminflt: number;
  /** Threads. */
  threads: number;
}

/**
 * Parses `/proc/<pid>/stat` (proc(5)): the fields after the command name, which may itself hold
 * spaces and parentheses, so the split starts after the last `)`.
 *
 * @param text the file's content
 * @returns the fields
 * @throws {SyntaxError} when the line is malformed
 */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(")");
  const fields = text.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state); field N is fields[N - 3].
  const at = (n: number) => {
    const v = Number(fields[n - 3]);
    if (close < 0 || !Number.isSafeInteger(v)) throw new SyntaxError(`stat: field ${n}`);
    return v;
  };
  return {
    cminflt: at(11),
    utime: at(14),
    stime: at(15),
    cutime: at(16),
    cstime: at(17),
    threads: at(20),
  };
}

/**
 * The median of a list.
 *
 * @param values numbers
 * @returns the median (`NaN` for an empty list)
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Formats a number for the table: `—` for missing, else `digits` significant-ish decimals.
 *
 * @param value the number
 * @param digits decimals (default 1)
 * @returns the text
 */
export function fmt(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  return value.toFixed(digits);
}

/**
 * A ratio `ours / baseline` as text (`0.42×`), `—` when either side is missing or zero.
 *
 * @param ours our figure
 * @param baseline the baseline's
 * @returns the text
 */
export function ratio(
  ours: number | null | undefined,
  baseline: number | null | undefined,
): string {
  if (
    ours === null || ours === undefined || baseline === null || baseline === undefined ||
    !Number.isFinite(ours) || !Number.isFinite(baseline) || baseline === 0
  ) return "—";
  return `${(ours / baseline).toFixed(2)}×`;
}

/**
 * A Markdown table.
 *
 * @param head the header cells
 * @param rows the rows
 * @returns the table text, ending with a line feed
 */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |\n`;
  return line(head) + line(head.map(() => "---")) + rows.map(line).join("");
}

/** Resident memory of a process by kind, from `/proc/<pid>/smaps_rollup` (KiB). */
export interface RssParts {
  /** `Rss`: all resident pages. */
  rssKiB: number;
  /** `Anonymous`: heaps (V8's and malloc's arenas), stacks. */
  anonKiB: number;
  /** `Rss` minus `Anonymous`: pages of mapped files (the executable, libraries). */
  fileKiB: number;
}

/**
 * Parses `/proc/<pid>/smaps_rollup` (proc(5)): the `Rss:` and `Anonymous:` lines, in kB.
 *
 * @param text the file's content
 * @returns the parts
 * @throws {SyntaxError} when either line is missing
 */
export function parseSmapsRollup(text: string): RssParts {
  const rss = /^Rss:\s+(\d+) kB$/m.exec(text);
  const anon = /^Anonymous:\s+(\d+) kB$/m.exec(text);
  if (rss === null || anon === null) throw new SyntaxError("smaps_rollup: no Rss/Anonymous line");
  const rssKiB = Number(rss[1]);
  const anonKiB = Number(anon[1]);
  return { rssKiB, anonKiB, fileKiB: rssKiB - anonKiB };
}

/**
 * Puts `body` between the markers `<!-- NAME:begin -->` and `<!-- NAME:end -->` of a Markdown
 * document (replacing what was there), or appends the marked section when the document has
 * none. Two generators can so share one page: each owns its section.
 *
 * @param doc the document
 * @param name the section's name
 * @param body the section's new content
 * @returns the new document
 */
export function replaceSection(doc: string, name: string, body: string): string {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const section = `${begin}\n\n${body.trim()}\n\n${end}`;
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end, from);
  if (from < 0 || to < 0) return `${doc.trimEnd()}\n\n${section}\n`;
  return doc.slice(0, from) + section + doc.slice(to + end.length);
}

/**
 * The marked section `name` of a document (see {@link replaceSection}), markers included.
 *
 * @param doc the document
 * @param name the section's name
 * @returns the section, or `null` when the document has none
 */
export function sectionOf(doc: string, name: string): string | null {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end, from);
  return from < 0 || to < 0 ? null : doc.slice(from, to + end.length);
}
