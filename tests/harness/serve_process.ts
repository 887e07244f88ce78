/**
 * Test harness: runs `rigforge-api serve` as a real process (`deno run` with exactly the
 * compile task's flags), standalone, under `systemd-socket-activate`, or under
 * `fake_systemd.py` (which plays systemd's Accept=no part: it keeps the listening socket and
 * starts the service again on the next connection after an idle exit), plus a raw-socket HTTP
 * client.
 *
 * @module
 */

import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CLI_COMMAND, REPO_ROOT } from "../_cli.ts";

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * The command line that runs the CLI like the compiled binary: `deno run <flags> main.ts`, or
 * the binary itself when `RIGFORGE_API_BINARY` names one ({@link CLI_COMMAND}).
 */
export const SERVE_COMMAND: readonly string[] = CLI_COMMAND;

/** A python3 that is a real executable (a pyenv shim would fork, and signals would miss it). */
export const PYTHON: string = (() => {
  try {
    Deno.statSync("/usr/bin/python3");
    return "/usr/bin/python3";
  } catch {
    return "python3";
  }
})();

/** Lines of a child's output, collected as they arrive. */
export interface LineLog {
  /** Every line so far. */
  readonly lines: string[];
  /**
   * Waits for a line matching `pattern` (including one already seen after `from`).
   *
   * @param pattern what to wait for
   * @param timeoutMs how long
   * @param from index of the first line to consider
   * @returns the line
   */
  wait(pattern: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** Resolves when the stream ends. */
  readonly done: Promise<void>;
}

/**
 * Collects a stream's lines.
 *
 * @param stream a child's stdout or stderr
 * @returns the log
 */
export function collectLines(stream: ReadableStream<Uint8Array>): LineLog {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const done = (async () => {
    let rest = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
      for (const wake of waiters) wake();
    }
    if (rest !== "") lines.push(rest);
    for (const wake of waiters) wake();
  })();
  let ended = false;
  done.then(() => (ended = true));
  return {
    lines,
    done,
    wait(pattern, timeoutMs = 10_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const line = lines.slice(from).find((l) => pattern.test(l));
          if (line !== undefined) {
            cleanup();
            resolve(line);
            return true;
          }
          if (ended) {
            cleanup();
            reject(new Error(`stream ended without ${pattern}; got:\n${lines.join("\n")}`));
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; got:\n${lines.join("\n")}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        const wake = (): void => void check();
        if (!check()) waiters.add(wake);
      });
    },
  };
}

/** A spawned process with its output. */
export interface Spawned {
  readonly child: Deno.ChildProcess;
  readonly stdout: LineLog;
  readonly stderr: LineLog;
  /** Resolves with the exit code (or 128 + signal). */
  readonly exited: Promise<number>;
  /**
   * Sends a signal (if still running) and waits for the exit.
   *
   * @param signal default SIGTERM
   * @returns the exit code
   */
  stop(signal?: Deno.Signal): Promise<number>;
}

function spawn(command: string, args: string[], env: Record<string, string>): Spawned {
  const child = new Deno.Command(command, {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = collectLines(child.stdout);
  const stderr = collectLines(child.stderr);
  const exited = child.status.then(async (status) => {
    await Promise.all([stdout.done, stderr.done]);
    return status.signal === null ? status.code : 128 + signalNumber(status.signal);
  });
  let finished = false;
  exited.then(() => (finished = true));
  return {
    child,
    stdout,
    stderr,
    exited,
    async stop(signal = "SIGTERM") {
      if (!finished) {
        try {
          child.kill(signal);
        } catch {
          // already gone
        }
      }
      return await exited;
    },
  };
}

function signalNumber(signal: Deno.Signal): number {
  return ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}

/**
 * Runs `serve` standalone (no socket activation).
 *
 * @param args flags after `serve`
 * @param env extra environment
 * @returns the process
 */
export function spawnServe(args: string[], env: Record<string, string> = {}): Spawned {
  const [command, ...rest] = SERVE_COMMAND as [string, ...string[]];
  return spawn(command, [...rest, "serve", ...args], env);
}

/**
 * Runs `serve` under Debian's `systemd-socket-activate -l 127.0.0.1:<port>` (Accept=no: one
 * listening socket on fd 3, `LISTEN_FDS=1`, `LISTEN_PID` = the service's pid).
 *
 * @param port the port to listen on
 * @param args flags after `serve`
 * @param env extra environment
 * @returns the process (systemd-socket-activate execs the service: same pid)
 */
export function spawnSocketActivated(
  port: number,
  args: string[],
  env: Record<string, string> = {},
): Spawned {
  return spawn("systemd-socket-activate", [
    "-l",
    `127.0.0.1:${port}`,
    ...SERVE_COMMAND,
    "serve",
    ...args,
  ], env);
}

/** `fake_systemd.py` running `serve`. */
export interface FakeSystemd extends Spawned {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** @returns how many times the service was started so far */
  starts(): number;
  /** @returns the exit codes of the service runs that ended so far */
  exits(): number[];
}

/**
 * Runs `serve` under `tests/harness/fake_systemd.py`, which plays systemd for an Accept=no
 * socket: it keeps the listening socket across service exits and starts the service again when
 * a connection is queued.
 *
 * @param args flags after `serve`
 * @param env extra environment
 * @returns the harness, once it listens
 */
export async function startFakeSystemd(
  args: string[],
  env: Record<string, string> = {},
): Promise<FakeSystemd> {
  const spawned = spawn(PYTHON, [
    join(HERE, "fake_systemd.py"),
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--",
    ...SERVE_COMMAND,
    "serve",
    ...args,
  ], env);
  const line = await spawned.stdout.wait(/^LISTENING \d+$/);
  const port = Number(line.split(" ")[1]);
  return {
    ...spawned,
    port,
    starts: () => spawned.stdout.lines.filter((l) => l.startsWith("START ")).length,
    exits: () =>
      spawned.stdout.lines.filter((l) => l.startsWith("EXIT ")).map((l) => Number(l.split(" ")[2])),
  };
}

/**
 * A free TCP port on 127.0.0.1 (bound and released; another process could take it, which is
 * unlikely within the few milliseconds before the caller binds it).
 *
 * @returns the port
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** What a raw exchange produced. */
export interface RawReply {
  /** Everything the server sent before closing (or before the time bound). */
  text: string;
  /** Status code from the status line, or null when nothing (or no status line) came back. */
  status: number | null;
  /** Header lines (as sent) of the response. */
  headers: string[];
  /** The body text. */
  body: string;
  /** How the exchange ended. */
  end: "closed" | "reset" | "timeout" | "refused";
  /** Milliseconds from connect to the end. */
  ms: number;
}

/** Options of {@link rawRequest}. */
export interface RawRequestOptions {
  /** Give up after this many ms (default 5000). */
  timeoutMs?: number;
  /** Bind the client to this local address (127.0.0.2 is another source on Linux lo). */
  localAddress?: string;
  /** Host to connect to (default 127.0.0.1). */
  host?: string;
  /** Half-close (send FIN) right after writing the request, as `nc -N` does. */
  halfClose?: boolean;
}

/**
 * Sends raw bytes (nothing when `data` is `null`) and reads until the server closes.
 *
 * @param port the server's port
 * @param data the request bytes
 * @param options time bound, source address
 * @returns the reply
 */
export function rawRequest(
  port: number,
  data: string | null,
  options: RawRequestOptions = {},
): Promise<RawReply> {
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let settled = false;
    const socketOptions: net.NetConnectOpts = { port, host: options.host ?? "127.0.0.1" };
    if (options.localAddress !== undefined) socketOptions.localAddress = options.localAddress;
    const socket = net.connect(socketOptions);
    const finish = (end: RawReply["end"]): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseReply(chunks, end, performance.now() - started));
    };
    const timer = setTimeout(() => finish("timeout"), options.timeoutMs ?? 5000);
    socket.on("connect", () => {
      if (data !== null) socket.write(data);
      if (options.halfClose) socket.end();
    });
    socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    socket.on("end", () => finish("closed"));
    socket.on("close", () => finish("closed"));
    socket.on("error", (error: Error & { code?: string }) => {
      finish(error.code === "ECONNREFUSED" ? "refused" : "reset");
    });
  });
}

function parseReply(chunks: Uint8Array[], end: RawReply["end"], ms: number): RawReply {
  const text = new TextDecoder().decode(concat(chunks));
  const split = text.indexOf("\r\n\r\n");
  const head = split < 0 ? text : text.slice(0, split);
  const [statusLine = "", ...headers] = head.split("\r\n");
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
  return {
    text,
    status: match === null ? null : Number(match[1]),
    headers: match === null ? [] : headers,
    body: split < 0 ? "" : text.slice(split + 4),
    end,
    ms,
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * A GET request's bytes.
 *
 * @param path the target
 * @param headers extra header lines
 * @returns the request text
 */
export function get(path: string, headers: string[] = []): string {
  return [`GET ${path} HTTP/1.1`, "Host: rig", ...headers, "", ""].join("\r\n");
}

/**
 * Opens a connection and keeps it open without sending anything.
 *
 * @param port the server's port
 * @param localAddress optional source address
 * @returns the socket (destroy it when done) once connected, and a promise of its close
 */
export function idleConnection(
  port: number,
  localAddress?: string,
): Promise<{ socket: net.Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const options: net.NetConnectOpts = { port, host: "127.0.0.1" };
    if (localAddress !== undefined) options.localAddress = localAddress;
    const socket = net.connect(options);
    let received = "";
    socket.on("data", (chunk: Uint8Array) => (received += new TextDecoder().decode(chunk)));
    const closed = new Promise<string>((done) => socket.on("close", () => done(received)));
    socket.on("error", () => {});
    socket.once("connect", () => resolve({ socket, closed }));
    socket.once("error", reject);
  });
}

/**
 * The silent flooder: a separate Deno process that keeps `count` connections open to
 * 127.0.0.1:`port` without sending a byte, reconnecting each one the server closes (so the
 * connection cap stays under pressure). Kill it with SIGKILL and await its status.
 *
 * @param port the server's port
 * @param count connections to hold open
 * @returns the child process
 */
export function spawnSilentFlood(port: number, count = 300): Deno.ChildProcess {
  const flood = `
import { connect } from "node:net";
const [port, count] = Deno.args.map(Number);
const open = [];
function one() {
  const s = connect({ port, host: "127.0.0.1" });
  s.on("error", () => {});
  s.once("close", () => one());
  open.push(s);
  if (open.length > count) open.shift().destroy();
}
for (let i = 0; i < count; i++) one();
`;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", flood, String(port), String(count)],
    stdout: "null",
    stderr: "null",
  }).spawn();
}
