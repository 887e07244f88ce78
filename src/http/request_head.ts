/**
 * The HTTP/1.x request-head parser of `serve`: a pure function from the bytes received so far to
 * the parsed head, "need more", or the error status to answer. Bodies are never parsed (one
 * request per connection, `Connection: close`), so the head is all there is.
 *
 * It is as strict as llhttp (node's and XMRig's parser) where the malformed-request corpus
 * (`tests/_corpus.ts`) pins llhttp's answers, and accepts what llhttp accepts there:
 * - request line `METHOD SP+ request-target SP+ version` with no leading or trailing space; the
 *   method one of llhttp's HTTP methods (`FOO` is a 400, not a 405); the target visible ASCII
 *   only, starting with `/`, `*` or a scheme `x://` (any visible ASCII after `CONNECT`); the
 *   version `HTTP/1.1`, `HTTP/1.0`, `HTTP/0.9`, `HTTP/2.0` or `RTSP/1.0` (llhttp's set), or
 *   missing (an HTTP/0.9-style line, still followed by headers);
 * - header lines `name: value`, the name a token, the value without control bytes other than
 *   HTAB (obs-text 0x80-0xff is allowed), no obs-fold, no bare CR or LF; spaces and tabs around
 *   the value are dropped; names lower-cased, duplicates kept in arrival order;
 * - a body announced badly is still a bad request: `Content-Length` not all digits, over
 *   2^64 - 1 or repeated; `Transfer-Encoding` with `Content-Length`, or with `chunked` not last;
 * - HTTP/1.1 without `Host` is a 400; a head over the limit is a 431.
 * Leading empty lines (CRLF) before the request line are skipped (RFC 9112 2.2).
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** A complete, well-formed request head. */
export interface RequestHead {
  /** The method, one of {@link METHODS}. */
  method: string;
  /** The request target as sent. */
  url: string;
  /** `1.1`, `1.0`, `0.9` or `2.0` (`RTSP/1.0` is `1.0`; a missing version is `0.9`). */
  version: string;
  /** Lower-case name → values in arrival order, in a prototype-less object. */
  headers: Record<string, string[]>;
}

/** What the bytes received so far amount to. */
export type HeadResult =
  | { kind: "head"; head: RequestHead }
  | { kind: "partial"; empty: boolean }
  | { kind: "error"; status: 400 | 431 };

/** llhttp's HTTP methods (node's `http.METHODS`); any other method is a 400. */
export const METHODS: readonly string[] = [
  "ACL",
  "BIND",
  "CHECKOUT",
  "CONNECT",
  "COPY",
  "DELETE",
  "GET",
  "HEAD",
  "LINK",
  "LOCK",
  "M-SEARCH",
  "MERGE",
  "MKACTIVITY",
  "MKCALENDAR",
  "MKCOL",
  "MOVE",
  "NOTIFY",
  "OPTIONS",
  "PATCH",
  "POST",
  "PROPFIND",
  "PROPPATCH",
  "PURGE",
  "PUT",
  "QUERY",
  "REBIND",
  "REPORT",
  "SEARCH",
  "SOURCE",
  "SUBSCRIBE",
  "TRACE",
  "UNBIND",
  "UNLINK",
  "UNLOCK",
  "UNSUBSCRIBE",
];

const METHOD_SET = new Set(METHODS);
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
/** An HTTP token (RFC 9110 5.6.2): a header name, a method. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e]+$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
/** Bytes a header value may not hold: controls other than HTAB (obs-text is allowed). */
// deno-lint-ignore no-control-regex -- control bytes are exactly what it looks for
export const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const VERSIONS: Readonly<Record<string, string>> = {
  "HTTP/1.1": "1.1",
  "HTTP/1.0": "1.0",
  "HTTP/0.9": "0.9",
  "HTTP/2.0": "2.0",
  "RTSP/1.0": "1.0",
};
const MAX_LENGTH = "18446744073709551615"; // 2^64 - 1, llhttp's limit

/**
 * Parses the request head at the start of `bytes` (everything received on the connection so
 * far; bytes after the head, a body or a pipelined request, are ignored).
 *
 * @param bytes the bytes received so far
 * @param maxBytes the largest head (request line, headers, blank line), bytes; larger → 431
 * @returns the head, `partial` (need more; `empty` when only blank lines came so far), or the
 *   status to answer (400 malformed, 431 too large)
 */
export function parseRequestHead(bytes: Uint8Array, maxBytes: number): HeadResult {
  let start = 0;
  while (bytes[start] === CR && bytes[start + 1] === LF) start += 2;
  if (start === bytes.length || (bytes[start] === CR && start + 1 === bytes.length)) {
    return start > maxBytes ? { kind: "error", status: 431 } : { kind: "partial", empty: true };
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = buffer.indexOf("\r\n\r\n", start, "latin1");
  if (end === -1 || end + 4 - start > maxBytes) {
    // not complete: fail fast on a request line that can never be valid
    if (!plausibleStart(buffer, start)) return { kind: "error", status: 400 };
    if (buffer.length - start > maxBytes) return { kind: "error", status: 431 };
    return { kind: "partial", empty: false };
  }
  const lines = buffer.toString("latin1", start, end).split("\r\n");
  const line = requestLine(lines[0] as string);
  if (line === null) return { kind: "error", status: 400 };
  const headers = Object.create(null) as Record<string, string[]>;
  for (let i = 1; i < lines.length; i++) {
    const text = lines[i] as string;
    const colon = text.indexOf(":");
    if (colon <= 0) return { kind: "error", status: 400 };
    const name = text.slice(0, colon);
    if (!TOKEN.test(name)) return { kind: "error", status: 400 };
    const value = trimOws(text.slice(colon + 1));
    if (BAD_VALUE.test(value)) return { kind: "error", status: 400 };
    const key = name.toLowerCase();
    const list = headers[key];
    if (list === undefined) headers[key] = [value];
    else list.push(value);
  }
  if (!bodyFramingOk(headers)) return { kind: "error", status: 400 };
  if (line.version === "1.1" && headers["host"] === undefined) {
    return { kind: "error", status: 400 };
  }
  return { kind: "head", head: { ...line, headers } };
}

/** The request line, or null when malformed. */
function requestLine(text: string): Omit<RequestHead, "headers"> | null {
  if (text.length === 0 || text.charCodeAt(0) === SP || text.charCodeAt(text.length - 1) === SP) {
    return null;
  }
  const parts = text.split(/ +/);
  if (parts.length !== 2 && parts.length !== 3) return null;
  const [method, url, versionText] = parts as [string, string, string | undefined];
  if (!METHOD_SET.has(method) || !TARGET.test(url)) return null;
  if (method !== "CONNECT" && url[0] !== "/" && url !== "*" && !SCHEME.test(url)) return null;
  const version = versionText === undefined ? "0.9" : VERSIONS[versionText];
  return version === undefined ? null : { method, url, version };
}

/**
 * Whether an incomplete head can still become a valid one: the first line has no bare CR,
 * ends with CRLF if it has ended, and starts with (a prefix of) a known method.
 */
function plausibleStart(buffer: Buffer, start: number): boolean {
  const lf = buffer.indexOf(LF, start);
  if (lf !== -1) {
    return buffer[lf - 1] === CR && lf - 1 > start &&
      requestLine(buffer.toString("latin1", start, lf - 1)) !== null;
  }
  const cr = buffer.indexOf(CR, start);
  if (cr !== -1 && cr + 1 < buffer.length) return false;
  const space = buffer.indexOf(SP, start);
  const method = buffer.toString(
    "latin1",
    start,
    space === -1 ? Math.min(buffer.length, start + 16) : space,
  );
  if (space !== -1) return METHOD_SET.has(method);
  return METHODS.some((known) => known.startsWith(method.replace(/\r$/, "")));
}

function trimOws(value: string): string {
  let from = 0;
  let to = value.length;
  while (from < to && (value[from] === " " || value[from] === "\t")) from++;
  while (to > from && (value[to - 1] === " " || value[to - 1] === "\t")) to--;
  return value.slice(from, to);
}

/** `Content-Length` digits only, once, at most 2^64 - 1; `Transfer-Encoding` sane and alone. */
function bodyFramingOk(headers: Record<string, string[]>): boolean {
  const length = headers["content-length"];
  const coding = headers["transfer-encoding"];
  if (length !== undefined) {
    if (length.length !== 1 || coding !== undefined) return false;
    const digits = (length[0] as string).replace(/^0+(?=\d)/, "");
    if (!/^\d+$/.test(digits)) return false;
    if (digits.length > MAX_LENGTH.length) return false;
    if (digits.length === MAX_LENGTH.length && digits > MAX_LENGTH) return false;
  }
  if (coding !== undefined) {
    const codings = coding.join(",").split(",").map((c) => trimOws(c).toLowerCase());
    const chunked = codings.indexOf("chunked");
    if (chunked !== -1 && chunked !== codings.length - 1) return false;
  }
  return true;
}
