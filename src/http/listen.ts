/**
 * The socket layer of `serve`, and the only file that knows about sockets: socket activation
 * (`LISTEN_FDS`/`LISTEN_PID`, the listening socket on fd 3), `--bind`/`--port`, connection
 * limits, admission control, slow-client timeouts, idle exit, reading the request head (parsed
 * by the pure `request_head.ts`) and writing the plain {@link HttpResponse} the handler answers.
 *
 * Why a `node:net` server with its own head parser, not `node:http` or `Deno.serve`:
 * `Deno.serve` cannot take an inherited fd (denoland/deno#14006) and has no header or idle
 * timeouts. `node:http` has both, but its per-connection machinery cost ~136 ms of CPU per 1,000
 * `Connection: close` requests against ~65 ms for a raw `node:net` server answering the same
 * (docs/benchmarks-http-floor.md), which put `serve` above CPython's http.server. With one
 * request per connection and no request bodies, all `serve` needs is the head: read at most
 * 8 KiB, parse it, write one buffer, close. `net.createServer().listen({ fd: 3 })` takes the
 * inherited socket and needs no permission (docs/architecture-serve.md).
 *
 * Limits (all measured in tests/listen_test.ts):
 * - request head over 8 KiB → 431; malformed request → 400; no complete head within 5 s → 408
 *   (checked every second, so 5-6 s); all three are pre-built XMRig-style JSON responses with the
 *   CORS headers and `Connection: close`, then the connection is closed;
 * - at most 64 open connections; at the cap, the newest connection that has not sent a complete
 *   request head, from the source holding the most connections, is closed to make room (so idle
 *   connections never lock a client out); only when all 64 have a request in flight is the new
 *   connection closed right after accept. Both count as shed `connections`. A connection stops
 *   counting once its answer is written (it is then only drained until the client closes);
 * - one request per connection (`Connection: close`, like XMRig); request bodies and pipelined
 *   requests are never read, only drained so the client gets its answer instead of a reset;
 * - a handler that has not answered in 5 s gets a 500 (checked every second, so 5-6 s); a
 *   connection silent for 10 s, or open for 10 s, is destroyed (a backstop: the limits above
 *   end every connection sooner);
 * - admission control (`admission.ts`) runs right after accept, before a byte is read: a
 *   connection over budget is held unread for 1 s (at most 256 at once, outside the
 *   64-connection cap), then answered with a pre-built `429 TOO_MANY_REQUESTS` +
 *   `Retry-After: 1`; past 256 held, it is destroyed at once. Holding makes a client that
 *   retries back to back cost ~1 % of a core instead of ~70 % (docs/architecture-serve.md).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { normaliseAddress } from "../ip.ts";
import { type Admission, createAdmission, type ShedCounts, sourceKey } from "./admission.ts";
import { BAD_VALUE, parseRequestHead, type RequestHead, TOKEN } from "./request_head.ts";
import { errorResponse as handlerErrorResponse, STATUS_TEXT } from "./handler.ts";
import type { Handler, HttpResponse } from "./types.ts";

/** Where to listen: an inherited listening socket, or an address and port. */
export type ListenTarget =
  | { kind: "fd"; fd: number }
  | { kind: "tcp"; host: string; port: number };

/** Limits of the listener; see the module doc for what each does. */
export interface ListenLimits {
  /** Open connections at most (admitted ones; held shed connections are not counted). */
  maxConnections: number;
  /** Largest request head (request line + headers), bytes; larger → 431. */
  maxHeaderBytes: number;
  /** A full request head must arrive within this, ms; else 408. */
  headersTimeoutMs: number;
  /** A connection still open this long after accept is destroyed (a backstop), ms. */
  requestTimeoutMs: number;
  /** How often the timeouts above and `socketIdleMs` are checked (one sweep), ms. */
  checkIntervalMs: number;
  /** A connection with no traffic for this long is destroyed, ms. */
  socketIdleMs: number;
  /** A handler that has not answered within this gets a 500, ms. */
  handlerTimeoutMs: number;
  /** On `stop()`, connections still open after this are destroyed, ms. */
  drainMs: number;
  /**
   * A connection shed by admission control is held this long (unread, outside the connection
   * cap) before it is answered or closed, so a client retrying back to back retries at most
   * once per hold instead of as fast as the server can refuse, ms.
   */
  shedHoldMs: number;
  /** Shed connections held at once at most; beyond that they are destroyed right away. */
  maxHeld: number;
}

/** The defaults of {@link ListenLimits}. */
export const DEFAULT_LIMITS: Readonly<ListenLimits> = {
  maxConnections: 64,
  maxHeaderBytes: 8192,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10000,
  checkIntervalMs: 1000,
  socketIdleMs: 10000,
  handlerTimeoutMs: 5000,
  drainMs: 6000,
  shedHoldMs: 1000,
  maxHeld: 256,
};

/**
 * What happens to a connection over its admission budget once its hold (`shedHoldMs`) ends:
 * `429` (the default) writes a pre-built `429 TOO_MANY_REQUESTS` with `Retry-After: 1` and
 * closes; `close` just destroys it. Past `maxHeld` held connections, both destroy at once.
 */
export type ShedMode = "close" | "429";

/** Options of {@link startServer}. */
export interface ListenOptions {
  /** Where to listen. */
  target: ListenTarget;
  /** The request handler (`createHandler` in `src/http/handler.ts`). */
  handler: Handler;
  /** Status line names (XMRig uses llhttp's enum names: `404 NOT_FOUND`). */
  statusText?: Readonly<Record<number, string>>;
  /**
   * The response for a status the listener answers itself (400, 408, 429, 431, and 500 when
   * the handler fails): `errorResponse` from `src/http/handler.ts`, so every error looks the
   * same (the default).
   */
  errorResponse?: (status: number) => HttpResponse;
  /** Exit after this many ms with no open connection (0 = never). */
  idleExitMs: number;
  /** Overrides of {@link DEFAULT_LIMITS} (tests use shorter timeouts). */
  limits?: Partial<ListenLimits>;
  /** Admission control; `null` or absent admits everything (and still counts cap sheds). */
  admission?: Admission | null;
  /** How over-budget connections are shed (default `429`). */
  shedMode?: ShedMode;
  /** Called with a handler failure (a bug); never with request data. */
  onError?: (message: string) => void;
}

/** Why a server stopped. */
export type StopReason = "idle" | "stopped";

/** A listening server. */
export interface RunningServer {
  /** What it listens on, for the startup log (`127.0.0.1:8081`, `[::]:8081`, `fd 3 (…)`). */
  readonly address: string;
  /** The bound port (also for an inherited socket), or null when unknown. */
  readonly port: number | null;
  /** Resolves once the server has stopped accepting and every connection has closed. */
  readonly closed: Promise<StopReason>;
  /**
   * Stops accepting, lets in-flight requests finish (connections still open after
   * `drainMs` are destroyed) and resolves like {@link RunningServer.closed}.
   */
  stop(): Promise<StopReason>;
  /** @returns connections open now */
  openConnections(): number;
  /** @returns shed connections by reason, for `/metrics` */
  shedCounts(): ShedCounts;
}

/**
 * Serializes a response to the exact bytes on the wire (`HTTP/1.1 <code> <NAME>`, the headers
 * of {@link responseHeaders}, the body), in one buffer written with one `write`.
 *
 * @param response the response
 * @param statusText status names
 * @param extra headers to add (inserted in alphabetical position), e.g. `Retry-After`
 * @returns the bytes
 */
export function rawResponse(
  response: HttpResponse,
  statusText: Readonly<Record<number, string>>,
  extra: readonly [string, string][] = [],
  withBody = true,
): Uint8Array {
  const headers = responseHeaders(response.headers, response.body.byteLength);
  for (const header of extra) insertSorted(headers, header);
  const name = statusText[response.status] ?? STATUS_TEXT[response.status] ?? "UNKNOWN";
  const head = new TextEncoder().encode(
    `HTTP/1.1 ${response.status} ${name}\r\n` +
      headers.map(([key, value]) => `${key}: ${value}\r\n`).join("") + "\r\n",
  );
  if (!withBody) return head;
  const bytes = new Uint8Array(head.byteLength + response.body.byteLength);
  bytes.set(head, 0);
  bytes.set(response.body, head.byteLength);
  return bytes;
}

/**
 * Whether systemd passed this process a listening socket (`sd_listen_fds(3)`): `LISTEN_PID`
 * equals our pid and `LISTEN_FDS` is at least 1. The socket is fd 3 (`SD_LISTEN_FDS_START`);
 * further fds are ignored.
 *
 * @param env reads an environment variable
 * @param pid this process's id (`Deno.pid`)
 * @returns the fd target, or null when not socket-activated
 */
export function socketActivation(
  env: (name: string) => string | undefined,
  pid: number,
): ListenTarget | null {
  const listenPid = env("LISTEN_PID");
  const listenFds = env("LISTEN_FDS");
  if (listenPid === undefined || listenFds === undefined) return null;
  if (!/^\d{1,10}$/.test(listenPid) || Number(listenPid) !== pid) return null;
  if (!/^\d{1,4}$/.test(listenFds) || Number(listenFds) < 1) return null;
  return { kind: "fd", fd: 3 };
}

/**
 * The headers to send: the handler's, in its order, with `Connection: close` forced and
 * `Content-Length` set to the body's length (inserted in alphabetical position, as XMRig sorts
 * its headers). An empty body gets no `Content-Length` unless the handler set one, as XMRig
 * does (its OPTIONS answer has none; the connection close ends the body).
 *
 * @param headers the handler's headers
 * @param length the body length in bytes
 * @returns the headers to write
 */
export function responseHeaders(
  headers: readonly [string, string][],
  length: number,
): [string, string][] {
  const out: [string, string][] = [];
  let hasLength = false;
  let hasConnection = false;
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === "content-length") {
      hasLength = true;
      out.push([name, String(length)]);
    } else if (lower === "connection") {
      hasConnection = true;
      out.push([name, "close"]);
    } else {
      out.push([name, value]);
    }
  }
  if (!hasConnection) insertSorted(out, ["Connection", "close"]);
  if (!hasLength && length > 0) insertSorted(out, ["Content-Length", String(length)]);
  return out;
}

function insertSorted(headers: [string, string][], header: [string, string]): void {
  const key = header[0].toLowerCase();
  const at = headers.findIndex(([name]) => name.toLowerCase() > key);
  if (at === -1) headers.push(header);
  else headers.splice(at, 0, header);
}

/**
 * Listens and serves until idle exit or {@link RunningServer.stop}.
 *
 * @param options target, handler, limits, admission, idle exit
 * @returns the running server, once it is listening
 * @throws {Error} when it cannot listen (address in use, fd 3 not a listening socket)
 */
/**
 * The bytes of a handler's answer: {@link rawResponse}, without the body for HEAD (which keeps
 * the body's `Content-Length`). One buffer, written with one `write`.
 *
 * @param method the request method
 * @param response the handler's answer
 * @param statusText status names
 * @returns the bytes
 * @throws {Error} when a header name or value cannot go on the wire (CR, LF, NUL, non-token)
 */
export function responseBytes(
  method: string,
  response: HttpResponse,
  statusText: Readonly<Record<number, string>>,
): Uint8Array {
  for (const [name, value] of response.headers) {
    if (!TOKEN.test(name) || BAD_VALUE.test(value)) {
      throw new Error(`invalid header ${JSON.stringify(name)}`);
    }
  }
  // HEAD: the same head as GET (Content-Length keeps the body's length), no body
  return rawResponse(response, statusText, [], method !== "HEAD");
}

/** Per-connection state of an admitted connection. */
interface Connection {
  /** Source key (admission.ts `sourceKey`), for the cap's eviction rule. */
  key: string;
  /** `performance.now()` at accept. */
  start: number;
  /** `performance.now()` of the last byte received. */
  last: number;
  /** The normalised peer address. */
  address: string;
  /** While the handler runs: when it is out of time (`performance.now()`), else 0. */
  answerBy: number;
  /** The request method, once the head is complete. */
  method: string;
  /** The head is complete (or the connection was answered already): not evictable. */
  requested: boolean;
  /** What came so far, while the head is incomplete. */
  buffer: Buffer | null;
}

/**
 * Listens and serves until idle exit or {@link RunningServer.stop}.
 *
 * @param options target, handler, limits, admission, idle exit
 * @returns the running server, once it is listening
 * @throws {Error} when it cannot listen (address in use, fd 3 not a listening socket)
 */
export async function startServer(options: ListenOptions): Promise<RunningServer> {
  const limits: ListenLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const admission = options.admission ?? createAdmission({ rate: 0, burst: 0, globalRate: 0 });
  const statusText = options.statusText ?? STATUS_TEXT;
  const errorResponse = options.errorResponse ?? handlerErrorResponse;
  const internalError = errorResponse(500);
  const internalBytes = {
    GET: responseBytes("GET", internalError, statusText),
    HEAD: responseBytes("HEAD", internalError, statusText),
  };
  const raw = {
    400: rawResponse(errorResponse(400), statusText),
    408: rawResponse(errorResponse(408), statusText),
    429: rawResponse(errorResponse(429), statusText, [["Retry-After", "1"]]),
    431: rawResponse(errorResponse(431), statusText),
  };
  const shedMode = options.shedMode ?? "429";
  const report = options.onError ?? (() => {});
  // allowHalfOpen: a client that half-closes after its request (`nc -N`, some HTTP/1.0
  // clients) still gets the answer (pinned by tests/listen_test.ts)
  const server = createServer({ allowHalfOpen: true });

  const sockets = new Map<Socket, Connection>();
  const held = new Set<Socket>();
  const bySource = new Map<string, Set<Socket>>();
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let stopping: StopReason | null = null;
  let resolveClosed: (reason: StopReason) => void = () => {};
  const closed = new Promise<StopReason>((resolve) => (resolveClosed = resolve));

  const arm = (): void => {
    clearTimeout(idleTimer);
    idleTimer = undefined;
    if (options.idleExitMs > 0 && sockets.size === 0 && stopping === null) {
      idleTimer = setTimeout(() => void shutdown("idle"), options.idleExitMs);
    }
  };

  // Admission is decided right after accept, before a byte is read.
  server.on("connection", (socket: Socket) => {
    const address = normaliseAddress(socket.remoteAddress ?? "");
    if (admission.admit(address) !== "ok") {
      shed(socket);
      return;
    }
    if (sockets.size >= limits.maxConnections && !evictOne()) {
      admission.noteShed("connections");
      socket.destroy();
      return;
    }
    const now = performance.now();
    const conn: Connection = {
      key: sourceKey(address),
      start: now,
      last: now,
      address,
      answerBy: 0,
      method: "",
      requested: false,
      buffer: null,
    };
    sockets.set(socket, conn);
    let group = bySource.get(conn.key);
    if (group === undefined) bySource.set(conn.key, group = new Set());
    group.add(socket);
    clearTimeout(idleTimer);
    socket.on("error", () => socket.destroy());
    socket.once("close", () => {
      // an answered connection was untracked (and the idle timer armed) when its answer was
      // written: the idle time counts from the last answer, not from the client's close
      if (untrack(socket)) arm();
    });
    socket.on("data", (chunk: Buffer) => {
      conn.last = performance.now();
      if (conn.requested) return; // answered: the rest (body, pipelined requests) is drained
      conn.buffer = conn.buffer === null ? chunk : Buffer.concat([conn.buffer, chunk]);
      const result = parseRequestHead(conn.buffer, limits.maxHeaderBytes);
      if (result.kind === "partial") return;
      conn.requested = true;
      conn.buffer = null;
      if (result.kind === "error") finish(socket, raw[result.status]);
      else void respond(socket, conn, result.head);
    });
    socket.on("end", () => {
      if (conn.requested) return; // the answer is on its way; the close follows it
      conn.requested = true;
      // nothing but blank lines: a clean close; an incomplete head: 400
      const rest = conn.buffer === null ? null : parseRequestHead(conn.buffer, Infinity);
      const empty = rest === null || (rest.kind === "partial" && rest.empty);
      conn.buffer = null;
      if (empty) socket.end();
      else finish(socket, raw[400]);
    });
  });

  // Every deadline is one sweep over all connections (like node:http's
  // connectionsCheckingInterval), not a timer per connection: timers are a large share of the
  // CPU of a request. No complete head within headersTimeoutMs → 408; a handler out of time →
  // 500; no traffic for socketIdleMs, or open longer than requestTimeoutMs → destroyed; an
  // answered connection still draining after DRAIN_MS → destroyed.
  const draining = new Map<Socket, number>();
  const recent: { response: HttpResponse; kind: string; bytes: Uint8Array }[] = [];
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [socket, until] of draining) if (now >= until) socket.destroy();
    for (const [socket, conn] of sockets) {
      if (!conn.requested && now - conn.start >= limits.headersTimeoutMs) {
        conn.requested = true;
        conn.buffer = null;
        finish(socket, raw[408]);
      } else if (conn.answerBy !== 0 && now >= conn.answerBy) {
        conn.answerBy = 0;
        report("handler failed: handler timed out");
        finish(socket, internalBytes[conn.method === "HEAD" ? "HEAD" : "GET"]);
      } else if (
        now - conn.last >= limits.socketIdleMs || now - conn.start >= limits.requestTimeoutMs
      ) {
        socket.destroy();
      }
    }
  }, limits.checkIntervalMs);

  /** Forgets an admitted connection; false when it was not tracked (any more). */
  function untrack(socket: Socket): boolean {
    const conn = sockets.get(socket);
    if (conn === undefined) return false;
    sockets.delete(socket);
    const group = bySource.get(conn.key);
    group?.delete(socket);
    if (group?.size === 0) bySource.delete(conn.key);
    return true;
  }

  /**
   * At the cap: closes the newest connection that has not sent a complete request head, from
   * the source holding the most connections (else from any source), so idle connections can
   * never lock a client out. False when every open connection has a request in flight.
   */
  function evictOne(): boolean {
    let largest: Set<Socket> | undefined;
    for (const group of bySource.values()) {
      if (largest === undefined || group.size > largest.size) largest = group;
    }
    const victim = (largest && newestWaiting(largest)) ?? newestWaiting(sockets.keys());
    if (victim === undefined) return false;
    admission.noteShed("connections");
    untrack(victim);
    victim.destroy();
    return true;
  }

  function newestWaiting(group: Iterable<Socket>): Socket | undefined {
    let found: Socket | undefined;
    for (const socket of group) if (sockets.get(socket)?.requested === false) found = socket;
    return found;
  }

  /** Holds a shed connection (bounded), then answers 429 or closes it. */
  function shed(socket: Socket): void {
    socket.on("error", () => socket.destroy());
    if (limits.shedHoldMs <= 0 && shedMode === "429" && stopping === null) {
      closeWith(socket, raw[429]);
      return;
    }
    if (held.size >= limits.maxHeld || stopping !== null || limits.shedHoldMs <= 0) {
      socket.destroy(); // the pool is full: the cheapest refusal
      return;
    }
    held.add(socket);
    socket.pause(); // leave whatever it sends in the kernel until the hold ends
    const timer = setTimeout(() => {
      if (shedMode === "429") closeWith(socket, raw[429]);
      else socket.destroy();
    }, limits.shedHoldMs);
    socket.once("close", () => {
      clearTimeout(timer);
      held.delete(socket);
    });
  }

  /** Runs the handler (its deadline is kept by the sweep) and writes its answer. */
  async function respond(socket: Socket, conn: Connection, head: RequestHead): Promise<void> {
    conn.answerBy = performance.now() + limits.handlerTimeoutMs;
    conn.method = head.method;
    let response: HttpResponse;
    try {
      response = await options.handler({
        method: head.method,
        url: head.url,
        headers: head.headers,
        remoteAddress: conn.address,
      });
    } catch (error) {
      response = internalError;
      if (conn.answerBy !== 0) {
        report(`handler failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (conn.answerBy === 0) return; // out of time: the sweep answered 500 already
    conn.answerBy = 0;
    if (socket.destroyed || !socket.writable) return;
    const kind = head.method === "HEAD" ? "HEAD" : "GET";
    // the handler returns the same (memoised) response object for up to a second: its bytes
    // are built once, not per request (a short list, not a WeakMap: a WeakMap entry per
    // request made the garbage collector cost more than the bytes)
    let bytes = recent.find((entry) => entry.response === response && entry.kind === kind)?.bytes;
    try {
      if (bytes === undefined) {
        bytes = responseBytes(kind, response, statusText);
        recent.push({ response, kind, bytes });
        if (recent.length > 8) recent.shift();
      }
    } catch (error) {
      report(`response rejected: ${error instanceof Error ? error.message : String(error)}`);
      bytes = responseBytes(head.method, internalError, statusText);
    }
    finish(socket, bytes);
  }

  /**
   * Answers an admitted connection and closes it. Once the answer is written the connection
   * no longer counts against the cap or the idle timer, while the drain waits for the client's
   * close (as node:http freed it on `finish`).
   */
  function finish(socket: Socket, bytes: Uint8Array): void {
    draining.set(socket, performance.now() + DRAIN_MS);
    socket.once("close", () => draining.delete(socket));
    socket.once("finish", () => {
      if (untrack(socket)) arm();
    });
    socket.resume();
    socket.end(bytes);
  }

  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  function shutdown(reason: StopReason): Promise<StopReason> {
    if (stopping !== null) return closed;
    stopping = reason;
    clearTimeout(idleTimer);
    // 1. stop accepting: close(2) our copy of the listening socket (never shutdown(2)), so
    //    connections arriving from now on wait in the backlog of systemd's copy.
    server.close(() => {
      clearTimeout(drainTimer);
      clearInterval(sweep);
      resolveClosed(reason);
    });
    for (const socket of held) socket.destroy(); // shed anyway: no reason to keep them
    // 2. in-flight requests finish; anything still open after drainMs is cut.
    drainTimer = setTimeout(() => {
      for (const socket of sockets.keys()) socket.destroy();
    }, limits.drainMs);
    return closed;
  }

  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(listenError(error, options.target));
      server.once("error", onError);
      const done = (): void => {
        server.off("error", onError);
        resolve();
      };
      if (options.target.kind === "fd") server.listen({ fd: options.target.fd }, done);
      else server.listen({ host: options.target.host, port: options.target.port }, done);
    });
  } catch (error) {
    clearInterval(sweep);
    throw error;
  }
  server.on("error", (error: Error) => report(`server error: ${error.message}`));
  arm();

  const bound = server.address() as AddressInfo | string | null;
  const port = bound !== null && typeof bound === "object" ? bound.port : null;
  return {
    address: describe(options.target, bound),
    port,
    closed,
    stop: () => shutdown("stopped"),
    openConnections: () => sockets.size,
    shedCounts: () => admission.counts(),
  };
}

/** How long an answered connection is drained before it is cut (1-2 s with the sweep), ms. */
const DRAIN_MS = 1000;

/**
 * Writes pre-built bytes in one write, half-closes, drains what the client still sends (so it
 * gets the answer instead of a reset), cuts after 1 s.
 *
 * @param socket the connection
 * @param bytes the whole answer
 */
function closeWith(socket: Socket, bytes: Uint8Array): void {
  if (socket.listenerCount("error") === 0) socket.on("error", () => socket.destroy());
  socket.resume();
  socket.end(bytes);
  const timer = setTimeout(() => socket.destroy(), 1000);
  socket.once("close", () => clearTimeout(timer));
}

function listenError(error: Error & { code?: string }, target: ListenTarget): Error {
  const where = target.kind === "fd"
    ? `inherited fd ${target.fd}`
    : hostPort(target.host, target.port);
  const why = error.code === "EADDRINUSE"
    ? "address already in use"
    : error.code === "EADDRNOTAVAIL"
    ? "address not available on this machine"
    : error.code === "EACCES"
    ? "permission denied"
    : error.message;
  return new Error(`cannot listen on ${where}: ${why}`);
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function describe(target: ListenTarget, bound: AddressInfo | string | null): string {
  const actual = bound !== null && typeof bound === "object"
    ? hostPort(bound.address, bound.port)
    : null;
  if (target.kind === "fd") {
    return actual === null ? `fd ${target.fd}` : `fd ${target.fd} (${actual})`;
  }
  return actual ?? hostPort(target.host, target.port);
}
