/**
 * Shared test helper: a raw-socket HTTP client (`Deno.connect`) for the hostile-input, slow
 * client and load tests. It sends exactly the bytes it is given (no normalisation, no header
 * added), reads whatever the server sends until the server closes or a deadline passes, and
 * parses and checks the answer strictly: one `HTTP/1.1` response, headers well formed,
 * `Content-Length` equal to the body length, nothing after the body.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What one raw exchange saw. */
export interface RawResult {
  /** Every byte the server sent. */
  bytes: Uint8Array;
  /** How the exchange ended: the server closed (EOF), reset the connection, or our deadline. */
  end: "closed" | "reset" | "timeout";
  /** Milliseconds from connect to the end. */
  ms: number;
  /** Milliseconds from connect to the first byte received, `null` when none came. */
  firstByteMs: number | null;
  /** Whether our writes failed part-way (the server closed while we were sending). */
  writeFailed: boolean;
}

/** Options for {@link exchange}. */
export interface ExchangeOptions {
  /** Address (default `127.0.0.1`). */
  host?: string;
  /** Give up reading after this many ms (default 3000). */
  timeoutMs?: number;
  /** Pause between the chunks, ms (default 0: all written back to back). */
  gapMs?: number;
  /** Half-close our side (`shutdown(SHUT_WR)`) after the last chunk (default false). */
  halfClose?: boolean;
  /** Stop reading after this many bytes (default 4 MiB). */
  maxBytes?: number;
}

/**
 * Converts text or bytes to bytes (text as UTF-8; use {@link latin1} for raw octets).
 *
 * @param chunk text or bytes
 * @returns the bytes
 */
export function toBytes(chunk: string | Uint8Array): Uint8Array {
  return typeof chunk === "string" ? encoder.encode(chunk) : chunk;
}

/**
 * Encodes a string one byte per character (each char code & 0xff), for requests that must carry
 * arbitrary octets (invalid UTF-8, NUL, bytes ≥ 0x80) exactly.
 *
 * @param text characters U+0000-U+00FF
 * @returns the bytes
 */
export function latin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/**
 * Concatenates byte arrays.
 *
 * @param parts the pieces
 * @returns one array
 */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await conn.write(bytes.subarray(offset));
}

/**
 * Connects, writes the chunks (optionally paced), and reads until the server closes, resets,
 * or the deadline passes. Reading runs concurrently with writing, so an early answer (a 431
 * while we are still sending) is seen. Never throws for network errors after the connect.
 *
 * @param port the server's port
 * @param chunks what to send, in order
 * @param options address, deadline, pacing, half-close
 * @returns what the server sent and how the exchange ended
 * @throws {Error} when the connection cannot be made at all
 */
export async function exchange(
  port: number,
  chunks: readonly (string | Uint8Array)[],
  options: ExchangeOptions = {},
): Promise<RawResult> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: options.host ?? "127.0.0.1", port });
  const timeoutMs = options.timeoutMs ?? 3000;
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  let firstByteMs: number | null = null;
  let finished = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const reading = (async (): Promise<{ bytes: Uint8Array; end: RawResult["end"] }> => {
    const parts: Uint8Array[] = [];
    let total = 0;
    const buffer = new Uint8Array(65536);
    try {
      while (total < maxBytes) {
        const n = await conn.read(buffer);
        if (n === null) return { bytes: concat(parts), end: "closed" };
        if (firstByteMs === null) firstByteMs = performance.now() - started;
        parts.push(buffer.slice(0, n));
        total += n;
      }
      return { bytes: concat(parts), end: "timeout" };
    } catch {
      // a read error after our own deadline is our close; before it, the server reset us
      return { bytes: concat(parts), end: finished ? "timeout" : "reset" };
    }
  })();

  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      finished = true;
      resolve();
    }, timeoutMs);
  });

  let writeFailed = false;
  const writing = (async () => {
    try {
      for (let i = 0; i < chunks.length; i++) {
        if (finished) return;
        if (i > 0 && (options.gapMs ?? 0) > 0) {
          await new Promise((resolve) => setTimeout(resolve, options.gapMs));
        }
        await writeAll(conn, toBytes(chunks[i]!));
      }
      if (options.halfClose) await conn.closeWrite();
    } catch {
      writeFailed = true;
    }
  })();

  const outcome = await Promise.race([reading, deadline.then(() => null)]);
  finished = true;
  clearTimeout(timer);
  try {
    conn.close();
  } catch {
    // already closed
  }
  await writing;
  const result = outcome ?? { ...(await reading), end: "timeout" as const };
  return {
    bytes: result.bytes,
    end: outcome === null ? "timeout" : result.end,
    ms: performance.now() - started,
    firstByteMs,
    writeFailed,
  };
}

/** One parsed HTTP response. */
export interface ParsedResponse {
  /** `HTTP/1.1`. */
  version: string;
  /** The status code. */
  status: number;
  /** The reason phrase as sent. */
  reason: string;
  /** Header lines as sent, in order. */
  headers: [string, string][];
  /** The body (exactly `Content-Length` bytes when that header is present). */
  body: Uint8Array;
  /** Bytes after the body (a second response, garbage): must be empty. */
  trailing: Uint8Array;
}

/**
 * Parses the bytes of exactly one response. No body framing but `Content-Length` (or none:
 * the body runs to the close) is accepted: the server never sends chunked responses. The answer
 * to a HEAD request has no body whatever its `Content-Length` says.
 *
 * @param bytes what the server sent
 * @param method the request method (`HEAD` changes the framing)
 * @returns the response, or a string saying why the bytes are not one
 */
export function parseResponse(bytes: Uint8Array, method = "GET"): ParsedResponse | string {
  let headEnd = -1;
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      headEnd = i;
      break;
    }
  }
  if (headEnd < 0) return `no complete head in ${bytes.length} bytes`;
  const head = decoder.decode(bytes.subarray(0, headEnd));
  const [statusLine = "", ...lines] = head.split("\r\n");
  const status = /^(HTTP\/\d\.\d) (\d{3}) ([^\r\n]*)$/.exec(statusLine);
  if (status === null) return `bad status line ${JSON.stringify(statusLine)}`;
  const headers: [string, string][] = [];
  for (const line of lines) {
    const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+): ?([\x20-\x7e\t]*)$/.exec(line);
    if (match === null) return `bad header line ${JSON.stringify(line)}`;
    headers.push([match[1]!, match[2]!]);
  }
  const rest = bytes.subarray(headEnd + 4);
  const lengths = headers.filter(([name]) => name.toLowerCase() === "content-length");
  if (lengths.length > 1) return "more than one Content-Length";
  if (headers.some(([name]) => name.toLowerCase() === "transfer-encoding")) {
    return "Transfer-Encoding in a response";
  }
  let body = rest;
  let trailing: Uint8Array = new Uint8Array(0);
  if (method === "HEAD") {
    body = new Uint8Array(0);
    trailing = rest;
  } else if (lengths.length === 1) {
    const value = lengths[0]![1];
    if (!/^\d{1,9}$/.test(value)) return `bad Content-Length ${value}`;
    const length = Number(value);
    if (rest.length < length) return `body ${rest.length} bytes, Content-Length ${length}`;
    body = rest.subarray(0, length);
    trailing = rest.subarray(length);
  }
  return {
    version: status[1]!,
    status: Number(status[2]),
    reason: status[3]!,
    headers,
    body,
    trailing,
  };
}

/**
 * Looks up a header (case-insensitive) in a parsed response.
 *
 * @param response the response
 * @param name the header name
 * @returns every value, in order
 */
export function headerValues(response: ParsedResponse, name: string): string[] {
  const lower = name.toLowerCase();
  return response.headers.filter(([key]) => key.toLowerCase() === lower).map(([, v]) => v);
}

/**
 * The body as text.
 *
 * @param response the response
 * @returns the body decoded as UTF-8
 */
export function bodyText(response: ParsedResponse): string {
  return decoder.decode(response.body);
}

/**
 * Checks a response against the server's promises for every answer: an `HTTP/1.1` status line
 * with an upper-case llhttp-style name, `Connection: close`, no `Server`/`Date`, no duplicate
 * headers, a `Content-Length` equal to the body whenever there is a body, a JSON body when the
 * type is `application/json`, and nothing after the body.
 *
 * @param response the parsed response
 * @param method the request method (a HEAD answer has no body but may declare a length)
 * @returns the problems found (empty: well formed)
 */
export function responseProblems(response: ParsedResponse, method = "GET"): string[] {
  const problems: string[] = [];
  if (response.version !== "HTTP/1.1") problems.push(`version ${response.version}`);
  if (!/^[A-Z_]+$/.test(response.reason)) problems.push(`reason ${response.reason}`);
  const names = response.headers.map(([name]) => name.toLowerCase());
  if (new Set(names).size !== names.length) problems.push(`duplicate headers ${names}`);
  if (headerValues(response, "connection").join() !== "close") {
    problems.push("no Connection: close");
  }
  if (names.includes("server") || names.includes("date")) problems.push("Server or Date header");
  const length = headerValues(response, "content-length")[0];
  if (method !== "HEAD") {
    if (response.body.length > 0 && length === undefined) problems.push("body without length");
    if (length !== undefined && Number(length) !== response.body.length) {
      problems.push(`Content-Length ${length} != body ${response.body.length}`);
    }
  } else if (response.body.length > 0) {
    problems.push("HEAD answered with a body");
  }
  if (response.trailing.length > 0) {
    problems.push(`${response.trailing.length} bytes after the response`);
  }
  const type = headerValues(response, "content-type")[0];
  if (type === "application/json" && response.body.length > 0) {
    try {
      JSON.parse(bodyText(response));
    } catch {
      problems.push("body is not JSON");
    }
  }
  return problems;
}

/** A good request's outcome. */
export interface GetResult {
  /** The response. */
  response: ParsedResponse;
  /** Milliseconds from connect to the server's close. */
  ms: number;
}

/**
 * Sends a well-formed `GET` and insists on a complete, well-formed answer.
 *
 * @param port the server's port
 * @param path the request target
 * @param headers extra header lines (`["Authorization: Bearer x"]`)
 * @param options address and deadline
 * @returns the response and its time
 * @throws {Error} when the answer is missing, cut or malformed
 */
export async function get(
  port: number,
  path: string,
  headers: readonly string[] = [],
  options: ExchangeOptions = {},
): Promise<GetResult> {
  const request = [`GET ${path} HTTP/1.1`, "Host: rig", ...headers, "", ""].join("\r\n");
  const result = await exchange(port, [request], options);
  const response = parseResponse(result.bytes, "GET");
  if (typeof response === "string") {
    throw new Error(`GET ${path}: ${response} (end: ${result.end}, ${Math.round(result.ms)} ms)`);
  }
  if (result.end !== "closed") throw new Error(`GET ${path}: connection ${result.end}`);
  const problems = responseProblems(response);
  if (problems.length > 0) throw new Error(`GET ${path}: ${problems.join("; ")}`);
  return { response, ms: result.ms };
}

/**
 * The median of some numbers.
 *
 * @param values the numbers (not empty)
 * @returns the median
 */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A percentile (nearest rank) of some numbers.
 *
 * @param values the numbers (not empty)
 * @param p 0-100
 * @returns the value at that rank
 */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * Counts ESTABLISHED TCP connections whose local port is `port` (`/proc/net/tcp` and `tcp6`:
 * column 2 is `ADDR:PORT` in hex, column 4 the state, `01` = ESTABLISHED).
 *
 * @param port the server's port
 * @returns how many connections the server still holds
 */
export function establishedOn(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let count = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of Deno.readTextFileSync(file).split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(hex) && cols[3] === "01") count++;
    }
  }
  return count;
}
