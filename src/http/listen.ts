/**
 * The socket layer of `serve`, and the only file that knows about sockets: socket activation
 * (`LISTEN_FDS`/`LISTEN_PID`, the listening socket on fd 3), `--bind`/`--port`, connection
 * limits, admission control, slow-client timeouts, idle exit, and the conversion between
 * `node:http` objects and the plain {@link HttpRequest}/{@link HttpResponse} the handler uses.
 *
 * Why `node:http` and not `Deno.serve`: `Deno.serve` cannot take an inherited fd
 * (denoland/deno#14006) and has no header or idle timeouts; `node:http` has both, answers 400/431
 * itself, and `listen({ fd: 3 })` needs no permission. When `Deno.serve` gains an fd option this
 * file is the one to swap (see docs/architecture-serve.md).
 *
 * Limits (all measured in tests/listen_test.ts):
 * - request head over 8 KiB → 431; malformed request → 400; no complete head within 5 s → 408
 *   (checked every second, so 5-6 s); all three are pre-built XMRig-style JSON responses with the
 *   CORS headers and `Connection: close`, then the connection is closed;
 * - at most 64 open connections; at the cap, the newest connection that has not sent a complete
 *   request head, from the source holding the most connections, is closed to make room (so idle
 *   connections never lock a client out); only when all 64 have a request in flight is the new
 *   connection closed right after accept. Both count as shed `connections`;
 * - one request per connection (`Connection: close`, like XMRig); request bodies are never read;
 * - a connection idle for 10 s is destroyed; a handler that has not answered in 5 s gets a 500;
 * - admission control (`admission.ts`) runs right after accept, before node:http attaches its
 *   parser: a connection over budget is held unread for 1 s (at most 256 at once, outside the
 *   64-connection cap), then answered with a pre-built `429 TOO_MANY_REQUESTS` +
 *   `Retry-After: 1`; past 256 held, it is destroyed at once. Holding makes a client that
 *   retries back to back cost ~1 % of a core instead of ~70 % (docs/architecture-serve.md).
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { normaliseAddress } from "../ip.ts";
import { type Admission, createAdmission, type ShedCounts, sourceKey } from "./admission.ts";
import type { Handler, HttpRequest, HttpResponse } from "./types.ts";

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
  /** The whole request must arrive within this, ms (node:http requires >= headersTimeoutMs). */
  requestTimeoutMs: number;
  /** How often node:http checks the two timeouts above, ms. */
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
   * same (default {@link defaultErrorResponse}).
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

/** Status names the listener itself uses (llhttp's enum names, as XMRig sends them). */
export const LISTENER_STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  400: "BAD_REQUEST",
  408: "REQUEST_TIMEOUT",
  429: "TOO_MANY_REQUESTS",
  431: "REQUEST_HEADER_FIELDS_TOO_LARGE",
  500: "INTERNAL_SERVER_ERROR",
  503: "SERVICE_UNAVAILABLE",
};

/**
 * The listener's own error response when none is injected: XMRig's headers and XMRig's error
 * body (`{"status": N, "error": "NAME"}`, 4-space pretty), no `Content-Length` yet.
 *
 * @param status the status code
 * @returns the response record
 */
export function defaultErrorResponse(status: number): HttpResponse {
  const body = JSON.stringify({ status, error: LISTENER_STATUS_TEXT[status] ?? "ERROR" }, null, 4);
  return {
    status,
    headers: [
      ["Access-Control-Allow-Headers", "Authorization, Content-Type"],
      ["Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"],
      ["Access-Control-Allow-Origin", "*"],
      ["Connection", "close"],
      ["Content-Type", "application/json"],
    ],
    body: new TextEncoder().encode(body),
  };
}

/**
 * Serializes a response to the exact bytes on the wire (`HTTP/1.1 <code> <NAME>`, the headers
 * of {@link responseHeaders}, the body), for answers written straight to the socket before or
 * instead of `node:http` (400, 408, 431, 429).
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
): Uint8Array {
  const headers = responseHeaders(response.headers, response.body.byteLength);
  for (const header of extra) insertSorted(headers, header);
  const name = statusText[response.status] ?? LISTENER_STATUS_TEXT[response.status] ?? "UNKNOWN";
  const head = new TextEncoder().encode(
    `HTTP/1.1 ${response.status} ${name}\r\n` +
      headers.map(([key, value]) => `${key}: ${value}\r\n`).join("") + "\r\n",
  );
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
 * Converts a `node:http` request to the handler's {@link HttpRequest}: header names lower-cased
 * with every value kept in arrival order (from `rawHeaders`, into a prototype-less object so a
 * header named `__proto__` is just a header), and the peer address normalised.
 *
 * @param req the incoming request
 * @returns the plain request
 */
export function toHttpRequest(req: IncomingMessage): HttpRequest {
  const raw = req.rawHeaders;
  const headers = Object.create(null) as Record<string, string[]>;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const list = headers[name];
    if (list === undefined) headers[name] = [value];
    else list.push(value);
  }
  return {
    method: req.method ?? "",
    url: req.url ?? "",
    headers,
    remoteAddress: normaliseAddress(req.socket.remoteAddress ?? ""),
  };
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
 * Writes a handler response with `writeHead(status, NAME, headers)` + `end(body)`; for HEAD the
 * body is left out but `Content-Length` keeps its length. No `Date` header is sent.
 *
 * @param res the node response
 * @param method the request method
 * @param response the handler's answer
 * @param statusText status names
 */
export function writeHttpResponse(
  res: ServerResponse,
  method: string,
  response: HttpResponse,
  statusText: Readonly<Record<number, string>>,
): void {
  const length = response.body.byteLength;
  const name = statusText[response.status] ?? LISTENER_STATUS_TEXT[response.status] ?? "UNKNOWN";
  res.sendDate = false;
  if (length === 0) res.useChunkedEncodingByDefault = false;
  res.writeHead(response.status, name, responseHeaders(response.headers, length));
  if (method === "HEAD" || length === 0) res.end();
  else res.end(response.body);
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
  const statusText = options.statusText ?? LISTENER_STATUS_TEXT;
  const errorResponse = options.errorResponse ?? defaultErrorResponse;
  const internalError = errorResponse(500);
  const raw = {
    400: rawResponse(errorResponse(400), statusText),
    408: rawResponse(errorResponse(408), statusText),
    429: rawResponse(errorResponse(429), statusText, [["Retry-After", "1"]]),
    431: rawResponse(errorResponse(431), statusText),
  };
  const shedMode = options.shedMode ?? "429";
  const report = options.onError ?? (() => {});
  const server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: 1000,
    connectionsCheckingInterval: limits.checkIntervalMs,
    requireHostHeader: false, // node's own 400 would carry Date and no body: we answer it
  });
  server.timeout = limits.socketIdleMs;
  // A client that half-closes after its request (`nc -N`, some HTTP/1.0 clients) still gets
  // the answer: node then marks the response as the last one instead of ending the socket.
  // `httpAllowHalfOpen` is node's long-standing (untyped) switch for this; pinned by
  // tests/listen_test.ts.
  (server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;

  const sockets = new Set<Socket>();
  const held = new Set<Socket>();
  const bySource = new Map<string, Set<Socket>>();
  const sourceOf = new WeakMap<Socket, string>();
  const requested = new WeakSet<Socket>();
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

  // Admission runs before node:http sees the socket: node's own connection listener (which
  // attaches the parser) is called only for admitted connections.
  const nodeListeners = server.listeners("connection") as ((socket: Socket) => void)[];
  server.removeAllListeners("connection");
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
    const key = sourceKey(address);
    sockets.add(socket);
    let group = bySource.get(key);
    if (group === undefined) bySource.set(key, group = new Set());
    group.add(socket);
    sourceOf.set(socket, key);
    clearTimeout(idleTimer);
    socket.once("close", () => {
      untrack(socket);
      arm();
    });
    for (const listener of nodeListeners) listener.call(server, socket);
  });

  function untrack(socket: Socket): void {
    sockets.delete(socket);
    const key = sourceOf.get(socket);
    const group = key === undefined ? undefined : bySource.get(key);
    group?.delete(socket);
    if (key !== undefined && group?.size === 0) bySource.delete(key);
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
    const victim = (largest && newestWaiting(largest)) ?? newestWaiting(sockets);
    if (victim === undefined) return false;
    admission.noteShed("connections");
    untrack(victim);
    victim.destroy();
    return true;
  }

  function newestWaiting(group: Set<Socket>): Socket | undefined {
    let found: Socket | undefined;
    for (const socket of group) if (!requested.has(socket)) found = socket;
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

  server.on("clientError", (error: Error & { code?: string }, socket: Socket) => {
    // a response is on its way (Connection: close ends it), or this socket was answered
    // already and node's parser reports the rest of a bad request again
    if (requested.has(socket)) return;
    requested.add(socket);
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.removeAllListeners("data"); // node's parser is done with it: drain to nowhere
    const bytes = error.code === "HPE_HEADER_OVERFLOW"
      ? raw[431]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? raw[408]
      : raw[400];
    closeWith(socket, bytes);
  });

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    if (requested.has(socket)) return; // pipelined: only the first request is answered
    requested.add(socket);
    void respond(req, res);
  };
  server.on("request", onRequest);
  // `Expect:` headers: no interim 100 and no node-made 417, the request is answered as is
  server.on("checkContinue", onRequest);
  server.on("checkExpectation", onRequest);
  // CONNECT: node detaches the socket; answer it (405 from the handler) on the raw socket
  server.on("connect", (req: IncomingMessage, socket: Socket) => {
    requested.add(socket);
    void answer(req).then((response) => {
      if (!socket.destroyed) closeWith(socket, rawResponse(response, statusText));
    });
  });

  /** The handler's answer, bounded in time; a missing Host (HTTP/1.1) is a 400. */
  async function answer(req: IncomingMessage): Promise<HttpResponse> {
    if (req.headers.host === undefined && req.httpVersion === "1.1") return errorResponse(400);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("handler timed out")), limits.handlerTimeoutMs);
      });
      return await Promise.race([options.handler(toHttpRequest(req)), deadline]);
    } catch (error) {
      report(`handler failed: ${error instanceof Error ? error.message : String(error)}`);
      return internalError;
    } finally {
      clearTimeout(timer);
    }
  }

  async function respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const response = await answer(req);
    if (res.destroyed || res.writableEnded) return;
    try {
      writeHttpResponse(res, req.method ?? "GET", response, statusText);
    } catch (error) {
      report(`response rejected: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) writeHttpResponse(res, req.method ?? "GET", internalError, statusText);
      else res.destroy();
    }
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
      resolveClosed(reason);
    });
    for (const socket of held) socket.destroy(); // shed anyway: no reason to keep them
    // 2. in-flight requests finish; anything still open after drainMs is cut.
    drainTimer = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, limits.drainMs);
    return closed;
  }

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

/** Writes pre-built bytes, half-closes, drains what the client still sends, cuts after 1 s. */
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
