/**
 * The HTTP/1.x request-head parser of `serve`: a pure function from the bytes received so far to
 * the parsed head, "need more", or the error status to answer. Bodies are never parsed (one
 * request per connection, `Connection: close`), so the head is all there is.
 *
 * It is at least as strict as llhttp (node's and XMRig's parser), and stricter where RFC 9112
 * asks (issue 12; every case is in the corpus, `tests/_corpus.ts`):
 * - request line `METHOD SP+ request-target SP+ version` with no leading or trailing space; the
 *   method one of llhttp's HTTP methods (`FOO` is a 400, not a 405); the target visible ASCII
 *   only, starting with `/` or a scheme `x://` (any visible ASCII after `CONNECT`), `*` only for
 *   OPTIONS, never a `#fragment`; the version `HTTP/1.1` or `HTTP/1.0`, or missing (an
 *   HTTP/0.9-style line, still followed by headers); another HTTP major (`HTTP/2.0`,
 *   `HTTP/0.9`) is a 505, another protocol (`RTSP/1.0`) a 400; a request line longer than the
 *   head limit is a 414;
 * - no bare LF or CR anywhere: a head ending in `\n\n` or `\r\n\n` is a 400 at once;
 * - header lines `name: value`, the name a token, the value without control bytes other than
 *   HTAB (obs-text 0x80-0xff is allowed), no obs-fold, no bare CR or LF; spaces and tabs around
 *   the value are dropped; names lower-cased, duplicates kept in arrival order;
 * - a body announced badly is still a bad request: `Content-Length` not all digits, over
 *   2^64 - 1 or repeated; `Transfer-Encoding` with `Content-Length`, or whose last coding is
 *   not `chunked` (RFC 9112 6.3);
 * - exactly one well-formed `Host` (`host[:port]`, RFC 9112 3.2): none on HTTP/1.1, two, or an
 *   invalid one is a 400; a head over the limit is a 431.
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
  | { kind: "error"; status: 400 | 414 | 431 | 505 };

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
};
/** A well-formed HTTP-version (RFC 9112 2.3) of a major version other than 1 → 505. */
const OTHER_HTTP = /^HTTP\/[02-9]\.\d$/;
/**
 * `Host` (RFC 9110 7.2): uri-host [":" port]; an IP-literal in brackets (a zone, `%25eth0`,
 * RFC 6874, included), or a reg-name.
 */
const HOST = /^(?:\[[0-9A-Za-z:.%_~-]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::\d{0,5})?$/;
const MAX_LENGTH = "18446744073709551615"; // 2^64 - 1, llhttp's limit
const BARE_LF = /(?:^|[^\r])\n/;

/**
 * Parses the request head at the start of `bytes` (everything received on the connection so
 * far; bytes after the head, a body or a pipelined request, are ignored).
 *
 * @param bytes the bytes received so far
 * @param maxBytes the largest head (request line, headers, blank line), bytes; larger → 431
 * @returns the head, `partial` (need more; `empty` when only blank lines came so far), or the
 *   status to answer (400 malformed, 414 request line over the limit, 431 head over it, 505
 *   HTTP version not supported)
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
    // not complete: fail fast on a request line that can never be valid, and on a bare LF
    // or CR anywhere (a head ending in `\n\n` or `\r\n\n` is a 400 now, not a 408 later)
    const status = incompleteStatus(buffer, start);
    if (status !== null) return { kind: "error", status };
    if (buffer.length - start > maxBytes) {
      const lf = buffer.indexOf(LF, start);
      const lineEnd = lf === -1 ? buffer.length : lf;
      // the request line alone is over the limit: the target is too long (414)
      const inTarget = lineEnd - start > maxBytes && buffer.indexOf(SP, start) !== -1;
      return { kind: "error", status: inTarget ? 414 : 431 };
    }
    return { kind: "partial", empty: false };
  }
  const text = buffer.toString("latin1", start, end);
  if (BARE_LF.test(text)) return { kind: "error", status: 400 };
  const lines = text.split("\r\n");
  const line = requestLine(lines[0] as string);
  if (typeof line === "number") return { kind: "error", status: line };
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
  // RFC 9112 3.2: exactly one Host on HTTP/1.1, never two, always well-formed
  const host = headers["host"];
  if (line.version === "1.1" && host === undefined) return { kind: "error", status: 400 };
  if (host !== undefined && (host.length !== 1 || !HOST.test(host[0] as string))) {
    return { kind: "error", status: 400 };
  }
  return { kind: "head", head: { ...line, headers } };
}

/**
 * The request line, or the status for a bad one: 400 malformed (also a `#fragment` in the
 * target, RFC 9112 3.2, and `*` with any method but OPTIONS, 3.2.4), 505 for a well-formed
 * HTTP version other than 1.0 and 1.1 (`HTTP/2.0`, `HTTP/0.9`); other protocols are 400.
 */
function requestLine(text: string): Omit<RequestHead, "headers"> | 400 | 505 {
  if (text.length === 0 || text.charCodeAt(0) === SP || text.charCodeAt(text.length - 1) === SP) {
    return 400;
  }
  const parts = text.split(/ +/);
  if (parts.length !== 2 && parts.length !== 3) return 400;
  const [method, url, versionText] = parts as [string, string, string | undefined];
  if (!METHOD_SET.has(method) || !TARGET.test(url)) return 400;
  if (method !== "CONNECT" && url[0] !== "/" && url !== "*" && !SCHEME.test(url)) return 400;
  if (url.includes("#") || (url === "*" && method !== "OPTIONS")) return 400;
  if (versionText === undefined) return { method, url, version: "0.9" }; // HTTP/0.9-style line
  const version = VERSIONS[versionText];
  if (version !== undefined) return { method, url, version };
  return OTHER_HTTP.test(versionText) ? 505 : 400;
}

/**
 * The status for a request line, or null when it is (or, `partial`, may still become) valid.
 * Used by `head_reader.ts` to fail fast.
 *
 * @param text the line without its CRLF (`partial`: the first bytes of an unfinished line)
 * @param partial the line has not ended yet
 * @returns 400, 505, or null
 */
export function requestLineStatus(text: string, partial = false): 400 | 505 | null {
  if (!partial) {
    const line = requestLine(text);
    return typeof line === "number" ? line : null;
  }
  const cr = text.indexOf("\r");
  if (cr !== -1 && cr + 1 < text.length) return 400;
  const space = text.indexOf(" ");
  const method = (space === -1 ? text.slice(0, 16) : text.slice(0, space)).replace(/\r$/, "");
  if (space !== -1) return METHOD_SET.has(method) ? null : 400;
  return METHODS.some((known) => known.startsWith(method)) ? null : 400;
}

/** The status for an incomplete head that can never become valid, or null. */
function incompleteStatus(buffer: Buffer, start: number): 400 | 505 | null {
  const lf = buffer.indexOf(LF, start);
  if (lf === -1) {
    return requestLineStatus(
      buffer.toString("latin1", start, Math.min(buffer.length, start + 32)),
      true,
    );
  }
  if (buffer[lf - 1] !== CR || lf - 1 === start) return 400;
  const status = requestLineStatus(buffer.toString("latin1", start, lf - 1));
  if (status !== null) return status;
  for (let i = lf + 1; i < buffer.length; i++) {
    const byte = buffer[i];
    if (byte === LF && buffer[i - 1] !== CR) return 400;
    if (byte === CR && i + 1 < buffer.length && buffer[i + 1] !== LF) return 400;
  }
  return null;
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
    // RFC 9112 6.3: a request whose last coding is not chunked has no knowable length
    const chunked = codings.indexOf("chunked");
    if (chunked !== codings.length - 1) return false;
  }
  return true;
}
