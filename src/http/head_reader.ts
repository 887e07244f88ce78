/**
 * Reading one request head off a connection, chunk by chunk, with the work per connection
 * bounded before the head completes (pure: bytes in, verdict out; the socket is `listen.ts`'s).
 *
 * - **Incremental**: each chunk is appended once (the buffer grows by doubling, never past the
 *   head limit plus one chunk's worth) and only the new bytes are scanned for line ends; the
 *   request line is judged once, when it ends; the head is parsed once
 *   (`parseRequestHead`), when its blank line arrives. Work per byte is constant, so an 8 KiB
 *   head costs the same sent in one segment or in 8,192.
 * - **Fail fast**: a bare LF or a CR not followed by LF → 400 at once (not a 408 after 5 s); a
 *   request line that cannot become valid → its status at once (400, 414, 505); a request line
 *   longer than the head limit → 414, any other head over it → 431.
 * - **Trickle bound**: a connection may take {@link HeadLimits.freeReads} reads to deliver its
 *   head; past that, its reads must average at least {@link HeadLimits.minAverageBytes} bytes,
 *   and it gets at most {@link HeadLimits.maxReads} reads in all. A head trickled one byte per
 *   TCP segment is answered `408` after `freeReads + 1` reads instead of costing thousands of
 *   reads (tests/listen_test.ts, bench/trickle.ts).
 *
 * @module
 */

import { type HeadResult, parseRequestHead, requestLineStatus } from "./request_head.ts";

/** The bounds on reading one head. */
export interface HeadLimits {
  /** Largest request head (request line + headers + blank line), bytes. */
  maxBytes: number;
  /** Reads a head may take whatever their size. */
  freeReads: number;
  /** Past `freeReads`, the reads so far must average at least this many bytes. */
  minAverageBytes: number;
  /** Reads a head may take at most. */
  maxReads: number;
}

/** The defaults of {@link HeadLimits}. */
export const DEFAULT_HEAD_LIMITS: Readonly<HeadLimits> = {
  maxBytes: 8192,
  freeReads: 8,
  minAverageBytes: 32,
  maxReads: 32,
};

/** What a chunk amounts to: a head result, or `slow` (the trickle bound was crossed). */
export type FeedResult = HeadResult | { kind: "slow" };

/** The per-connection reading state (one per connection, dropped when the head is done). */
export interface HeadReader {
  /** The bounds. */
  readonly limits: HeadLimits;
  /** The bytes kept so far (`length` of them are valid). */
  buffer: Uint8Array;
  /** Valid bytes in `buffer`. */
  length: number;
  /** Bytes received in all (kept or not). */
  received: number;
  /** Reads (chunks) so far. */
  reads: number;
  /** Where scanning resumes. */
  scanned: number;
  /** Start of the current line. */
  lineStart: number;
  /** Start of the request line (after leading empty lines), or -1 before it. */
  start: number;
  /** Whether the request line has ended (and was judged). */
  lineDone: boolean;
  /** Bytes of scanning work done (for the bounded-work test). */
  work: number;
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * A fresh reader.
 *
 * @param limits the bounds (default {@link DEFAULT_HEAD_LIMITS})
 * @returns the state
 */
export function createHeadReader(limits: Partial<HeadLimits> = {}): HeadReader {
  const all = { ...DEFAULT_HEAD_LIMITS, ...limits };
  return {
    limits: all,
    buffer: new Uint8Array(Math.min(1024, all.maxBytes + 4)),
    length: 0,
    received: 0,
    reads: 0,
    scanned: 0,
    lineStart: 0,
    start: -1,
    lineDone: false,
    work: 0,
  };
}

/**
 * Whether nothing but empty lines (CRLF) came so far, for a clean close at EOF.
 *
 * @param reader the state
 * @returns true when no request byte arrived
 */
export function onlyBlankLines(reader: HeadReader): boolean {
  for (let i = reader.lineStart; i < reader.length; i++) {
    if (reader.buffer[i] !== CR) return false; // a lone trailing CR still counts as blank
  }
  return reader.start === -1;
}

/**
 * Feeds one chunk.
 *
 * @param reader the state (updated)
 * @param chunk the bytes just read
 * @returns the head, `partial`, an error status, or `slow`
 */
export function feedHead(reader: HeadReader, chunk: Uint8Array): FeedResult {
  const { maxBytes } = reader.limits;
  reader.reads++;
  reader.received += chunk.byteLength;
  append(reader, chunk);
  const result = scan(reader);
  if (result !== null) return result;
  const { freeReads, minAverageBytes, maxReads } = reader.limits;
  if (reader.length - headStart(reader) > maxBytes) {
    return { kind: "error", status: reader.lineDone ? 431 : overlongLine(reader) };
  }
  if (reader.length > maxBytes && onlyBlankLines(reader)) return { kind: "error", status: 431 };
  if (
    reader.reads > maxReads ||
    (reader.reads > freeReads && reader.received < reader.reads * minAverageBytes)
  ) {
    return { kind: "slow" };
  }
  return { kind: "partial", empty: onlyBlankLines(reader) };
}

/** Where the head begins: the request line, or the line in progress before it has ended. */
function headStart(reader: HeadReader): number {
  return reader.start !== -1 ? reader.start : reader.lineStart;
}

/** Appends what can still matter: at most the head limit past the request line, plus 4. */
function append(reader: HeadReader, chunk: Uint8Array): void {
  const cap = headStart(reader) + reader.limits.maxBytes + 4;
  const take = Math.min(chunk.byteLength, Math.max(0, cap - reader.length) + 1);
  if (reader.length + take > reader.buffer.byteLength) {
    let size = reader.buffer.byteLength * 2;
    while (size < reader.length + take) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(reader.buffer.subarray(0, reader.length));
    reader.buffer = grown;
  }
  reader.buffer.set(chunk.subarray(0, take), reader.length);
  reader.length += take;
}

/** Scans the new bytes: line ends, bare CR/LF, the request line, the blank line. */
function scan(reader: HeadReader): HeadResult | null {
  const b = reader.buffer;
  for (let i = reader.scanned; i < reader.length; i++) {
    reader.work++;
    const byte = b[i];
    const afterCr = i > 0 && b[i - 1] === CR;
    if (byte !== LF) {
      if (afterCr) return { kind: "error", status: 400 }; // a CR not followed by LF
      continue;
    }
    if (!afterCr) return { kind: "error", status: 400 }; // a bare LF
    const empty = i - 1 === reader.lineStart;
    if (reader.start === -1) {
      if (!empty) {
        reader.start = reader.lineStart;
        const status = requestLineStatus(latin1(b, reader.start, i - 1));
        if (status !== null) return { kind: "error", status };
        reader.lineDone = true;
      }
    } else if (empty) {
      reader.scanned = i + 1;
      const end = i + 1;
      if (end - reader.start > reader.limits.maxBytes) return { kind: "error", status: 431 };
      return parseRequestHead(b.subarray(reader.start, end), reader.limits.maxBytes);
    }
    reader.lineStart = i + 1;
  }
  reader.scanned = reader.length;
  if (reader.start === -1 && reader.length > reader.lineStart) {
    // the request line so far: fail fast on one that can never become valid
    const status = requestLineStatus(
      latin1(b, reader.lineStart, Math.min(reader.length, reader.lineStart + 32)),
      true,
    );
    if (status !== null) return { kind: "error", status };
  }
  return null;
}

/** A request line that never ended within the limit: 414 once the target has begun. */
function overlongLine(reader: HeadReader): 400 | 414 {
  const from = reader.lineStart;
  const line = latin1(reader.buffer, from, Math.min(reader.length, from + 32));
  return line.includes(" ") ? 414 : 400;
}

function latin1(bytes: Uint8Array, from: number, to: number): string {
  let out = "";
  for (let i = from; i < to; i += 4096) {
    out += String.fromCharCode(...bytes.subarray(i, Math.min(to, i + 4096)));
  }
  return out;
}
