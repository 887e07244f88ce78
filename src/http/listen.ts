/**
 * The listener of `serve`: accepts connections (`node:net`), applies admission control and the
 * connection cap, reads each request head (`head_reader.ts`, incremental and bounded), runs the
 * handler, writes its answer (`wire.ts`) and closes; keeps every deadline in one sweep. Where to
 * listen (socket activation, `--bind`) is `activation.ts`'s; the bytes of a response are
 * `wire.ts`'s; status names and error bodies come in as options (default `responses.ts`).
 *
 * Why a `node:net` server with its own head parser, not `node:http` or `Deno.serve`: see
 * docs/architecture-serve.md (`Deno.serve` cannot take an inherited fd, denoland/deno#14006;
 * `node:http` cost twice the CPU per `Connection: close` request, docs/benchmarks-http-floor.md).
 * With one request per connection and no bodies, all `serve` needs is the head.
 *
 * Limits (all measured in tests/listen_test.ts):
 * - request head over 8 KiB → 431 (a request line over it → 414); malformed request → 400 (a
 *   bare LF or CR at once); unsupported HTTP version → 505; no complete head within 5 s → 408
 *   (checked every second, so 5-6 s); a head trickled in tiny reads (more than 8 reads
 *   averaging under 32 bytes, or more than 32 reads) → 408 at once, counted as shed `slow`. All
 *   are pre-built XMRig-style JSON responses with the CORS headers and `Connection: close`,
 *   then the connection is closed;
 * - at most 64 open connections; at the cap, the connection still reading its head that has
 *   been quiet longest, from the source (full address) holding the most connections, is closed
 *   to make room (so idle connections never lock a client out). A connection whose complete
 *   head is in hand is never picked, and one accepted in the last 100 ms only when no older
 *   one is left (its request is most likely already in flight; `connections.ts`). The choice
 *   waits two turns of the event loop (up to 16 connections over the cap meanwhile), so a
 *   request already in the kernel is read, and spared, first; past that overflow it is made at
 *   accept. A connection still reading is always pickable (a new one too), so only when all
 *   others have their head in hand is the new one closed. Both count as shed `connections`. A
 *   connection stops counting once its answer is written (then only drained until it closes);
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

import { type AddressInfo, createServer, type Socket } from "node:net";
import { setImmediate } from "node:timers";
import { normaliseAddress } from "../ip.ts";
import { describe, listenError, type ListenTarget } from "./activation.ts";
import { type Admission, createAdmission, type ShedCounts } from "./admission.ts";
import { type ConnectionState, pickEvictee } from "./connections.ts";
import { createHeadReader, feedHead, onlyBlankLines } from "./head_reader.ts";
import type { RequestHead } from "./request_head.ts";
import { errorResponse as defaultErrorResponse, STATUS_TEXT } from "./responses.ts";
import type { Handler, HttpResponse } from "./types.ts";
import { rawResponse, responseBytes } from "./wire.ts";

/** Limits of the listener; see the module doc for what each does. */
export interface ListenLimits {
  /** Open connections at most (admitted ones; held shed connections are not counted). */
  maxConnections: number;
  /** Largest request head (request line + headers), bytes; larger → 431 (request line: 414). */
  maxHeaderBytes: number;
  /** Reads a head may take whatever their size. */
  headFreeReads: number;
  /** Past `headFreeReads`, a head's reads must average at least this many bytes, else 408. */
  headMinAverageBytes: number;
  /** Reads a head may take at most, else 408. */
  headMaxReads: number;
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
  /** At the cap, a connection younger than this goes only when no older one is left, ms. */
  evictGraceMs: number;
}

/** The defaults of {@link ListenLimits}. */
export const DEFAULT_LIMITS: Readonly<ListenLimits> = {
  maxConnections: 64,
  maxHeaderBytes: 8192,
  headFreeReads: 8,
  headMinAverageBytes: 32,
  headMaxReads: 32,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10000,
  checkIntervalMs: 1000,
  socketIdleMs: 10000,
  handlerTimeoutMs: 5000,
  drainMs: 6000,
  shedHoldMs: 1000,
  maxHeld: 256,
  evictGraceMs: 100,
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
  /** Status line names (XMRig uses llhttp's enum names: `404 NOT_FOUND`); default `responses.ts`. */
  statusText?: Readonly<Record<number, string>>;
  /**
   * The response for a status the listener answers itself (400, 408, 414, 429, 431, 505, and
   * 500 when the handler fails); default `errorResponse` of `responses.ts`, the handler's own.
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
  /** Monotonic clock in ms (default `performance.now`), for every deadline and eviction. */
  now?: () => number;
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

const OVERFLOW = 16; // connections over the cap let in while the eviction choice waits

/** How long an answered connection is drained before it is cut (1-2 s with the sweep), ms. */
const DRAIN_MS = 1000;

/**
 * Listens and serves until idle exit or {@link RunningServer.stop}.
 *
 * @param options target, handler, limits, admission, idle exit, clock
 * @returns the running server, once it is listening
 * @throws {Error} when it cannot listen (address in use, fd 3 not a listening socket)
 */
export async function startServer(options: ListenOptions): Promise<RunningServer> {
  const limits: ListenLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const now = options.now ?? (() => performance.now());
  const admission = options.admission ?? createAdmission({ rate: 0, burst: 0, globalRate: 0 });
  const statusText = options.statusText ?? STATUS_TEXT;
  const errorResponse = options.errorResponse ?? defaultErrorResponse;
  const internalError = errorResponse(500);
  const internalBytes = {
    GET: responseBytes("GET", internalError, statusText),
    HEAD: responseBytes("HEAD", internalError, statusText),
  };
  const raw: Record<400 | 408 | 414 | 429 | 431 | 505, Uint8Array> = {
    400: rawResponse(errorResponse(400), statusText),
    408: rawResponse(errorResponse(408), statusText),
    414: rawResponse(errorResponse(414), statusText),
    429: rawResponse(errorResponse(429), statusText, [["Retry-After", "1"]]),
    431: rawResponse(errorResponse(431), statusText),
    505: rawResponse(errorResponse(505), statusText),
  };
  const headLimits = {
    maxBytes: limits.maxHeaderBytes,
    freeReads: limits.headFreeReads,
    minAverageBytes: limits.headMinAverageBytes,
    maxReads: limits.headMaxReads,
  };
  const shedMode = options.shedMode ?? "429";
  const report = options.onError ?? (() => {});
  // allowHalfOpen: a client that half-closes after its request still gets the answer
  const server = createServer({ allowHalfOpen: true });

  const sockets = new Map<Socket, ConnectionState>();
  const held = new Set<Socket>();
  const bySource = new Map<string, Set<Socket>>();
  const draining = new Map<Socket, number>();
  const recent: { response: HttpResponse; kind: string; bytes: Uint8Array }[] = [];
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let trimScheduled = false;
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
    const t = now();
    // at the cap, the choice of whom to close waits one turn of the event loop (`trim`), so a
    // connection whose request is already in the kernel is read, and spared, first; only past
    // the overflow allowance is it made at once
    if (sockets.size >= limits.maxConnections + OVERFLOW && !evictOne(t)) {
      admission.noteShed("connections");
      socket.destroy();
      return;
    }
    if (sockets.size >= limits.maxConnections) scheduleTrim();
    const conn: ConnectionState = {
      address,
      start: t,
      last: t,
      phase: "reading",
      answerBy: 0,
      method: "",
      reader: createHeadReader(headLimits),
    };
    sockets.set(socket, conn);
    let group = bySource.get(address);
    if (group === undefined) bySource.set(address, group = new Set());
    group.add(socket);
    clearTimeout(idleTimer);
    socket.on("error", () => socket.destroy());
    socket.once("close", () => {
      // an answered connection was untracked (and the idle timer armed) when its answer was
      // written: the idle time counts from the last answer, not from the client's close
      if (untrack(socket)) arm();
    });
    socket.on("data", (chunk: Uint8Array) => onData(socket, conn, chunk));
    socket.on("end", () => {
      if (conn.reader === null) return; // the answer is on its way; the close follows it
      const empty = onlyBlankLines(conn.reader);
      conn.reader = null;
      conn.phase = "answering";
      // nothing but blank lines: a clean close; an incomplete head: 400
      if (empty) socket.end();
      else finish(socket, raw[400]);
    });
  });

  /** One chunk of a connection: fed to its head reader until the head is done. */
  function onData(socket: Socket, conn: ConnectionState, chunk: Uint8Array): void {
    conn.last = now();
    if (conn.reader === null) return; // answered: the rest (body, pipelined requests) is drained
    const result = feedHead(conn.reader, chunk);
    if (result.kind === "partial") return;
    conn.reader = null;
    conn.phase = "answering";
    if (result.kind === "slow") {
      admission.noteShed("slow");
      finish(socket, raw[408]);
    } else if (result.kind === "error") finish(socket, raw[result.status]);
    else void respond(socket, conn, result.head);
  }

  // Every deadline is one sweep over all connections (like node:http's
  // connectionsCheckingInterval), not a timer per connection: timers are a large share of the
  // CPU of a request. No complete head within headersTimeoutMs → 408; a handler out of time →
  // 500; no traffic for socketIdleMs, or open longer than requestTimeoutMs → destroyed; an
  // answered connection still draining after DRAIN_MS → destroyed.
  const sweep = setInterval(() => {
    const t = now();
    for (const [socket, until] of draining) if (t >= until) socket.destroy();
    for (const [socket, conn] of sockets) {
      if (conn.reader !== null && t - conn.start >= limits.headersTimeoutMs) {
        conn.reader = null;
        conn.phase = "answering";
        finish(socket, raw[408]);
      } else if (conn.answerBy !== 0 && t >= conn.answerBy) {
        conn.answerBy = 0;
        report("handler failed: handler timed out");
        finish(socket, internalBytes[conn.method === "HEAD" ? "HEAD" : "GET"]);
      } else if (
        t - conn.last >= limits.socketIdleMs || t - conn.start >= limits.requestTimeoutMs
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
    const group = bySource.get(conn.address);
    group?.delete(socket);
    if (group?.size === 0) bySource.delete(conn.address);
    return true;
  }

  /** After the next turn's reads: closes connections (eviction rule) until back at the cap. */
  function scheduleTrim(): void {
    if (trimScheduled) return;
    trimScheduled = true;
    // two turns: a connection accepted in this turn has its first bytes read in the next
    setImmediate(() =>
      setImmediate(() => {
        trimScheduled = false;
        // with every head in hand nothing goes: those connections finish on their own
        while (sockets.size > limits.maxConnections && evictOne(now()));
      })
    );
  }

  /** At the cap: closes the connection {@link pickEvictee} names; false when there is none. */
  function evictOne(t: number): boolean {
    const victim = pickEvictee(bySource, sockets, t, limits.evictGraceMs);
    if (victim === undefined) return false;
    admission.noteShed("connections");
    untrack(victim);
    victim.destroy();
    return true;
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
  async function respond(socket: Socket, conn: ConnectionState, head: RequestHead): Promise<void> {
    conn.answerBy = now() + limits.handlerTimeoutMs;
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
    draining.set(socket, now() + DRAIN_MS);
    socket.once("close", () => draining.delete(socket));
    socket.once("finish", () => {
      const conn = sockets.get(socket);
      if (conn !== undefined) conn.phase = "written";
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

  const bound: AddressInfo | string | null = server.address();
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
