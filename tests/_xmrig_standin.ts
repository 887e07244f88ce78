/**
 * Shared test helper: a stand-in for XMRig's HTTP API on 127.0.0.1 (ephemeral port) that
 * replays the exact bytes a real XMRig 6.26.0 sent (`tests/fixtures/xmrig_wire/*.http`), and
 * can be switched into the failure modes the sister API must survive.
 *
 * ```ts
 * const xmrig = await startStandin({ token: "rig-01" });
 * // ... serve --xmrig xmrig.url ...
 * await xmrig.setMode("hang");
 * xmrig.count("/2/summary"); // requests seen for that path
 * await xmrig.close();
 * ```
 *
 * @module
 */

import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * What the stand-in does with a request:
 * - `normal`: replays XMRig's captured response for the path (401/403 per the token, 404 for
 *   an unknown path), then closes, as XMRig does;
 * - `slow`: the same after `delayMs` (default 1000);
 * - `hang`: reads the request and never answers;
 * - `down`: not listening at all (connection refused);
 * - `500`: `500 INTERNAL_SERVER_ERROR` with an XMRig-style JSON error body;
 * - `non-json`: 200 with a body that is not JSON;
 * - `array`: 200 with a JSON array (valid JSON, not an object);
 * - `huge`: 200 with a 2 MiB JSON object;
 * - `cut`: the normal response's head (with its full `Content-Length`) and half its body, then
 *   the connection is closed.
 */
export type StandinMode =
  | "normal"
  | "slow"
  | "hang"
  | "down"
  | "500"
  | "non-json"
  | "array"
  | "huge"
  | "cut";

/** Options of {@link startStandin}. */
export interface StandinOptions {
  /** XMRig's access token; `null` (default) answers without checking `Authorization`. */
  token?: string | null;
  /** The initial mode (default `normal`). */
  mode?: StandinMode;
  /** Delay of the `slow` mode, ms (default 1000). */
  delayMs?: number;
  /** Capture replayed for `/2/summary` (default `summary-v2-mining`). */
  summaryV2?: string;
  /**
   * A `/2/summary` body served instead of the capture's (with XMRig's headers), e.g. a capture
   * with hostile strings spliced in.
   */
  summaryV2Body?: string;
}

/** A running stand-in. */
export interface Standin {
  /** The port on 127.0.0.1. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`, for `serve --xmrig`. */
  readonly url: string;
  /** @returns the current mode */
  mode(): StandinMode;
  /**
   * Switches mode (`down` closes the listening socket; leaving `down` listens again on the
   * same port).
   *
   * @param mode the new mode
   * @param options a new delay for `slow`
   */
  setMode(mode: StandinMode, options?: { delayMs?: number }): Promise<void>;
  /** Requests seen per path (query string removed), live. */
  readonly counts: Readonly<Record<string, number>>;
  /**
   * @param path a path such as `/2/summary`
   * @returns requests seen for it
   */
  count(path: string): number;
  /** @returns requests seen in all */
  total(): number;
  /** Closes the listener and every open connection. */
  close(): Promise<void>;
}

const WIRE_DIR = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "xmrig_wire");
const MAX_HEAD = 16 * 1024;

function capture(name: string): Uint8Array {
  return Deno.readFileSync(join(WIRE_DIR, `${name}.http`));
}

function response(status: string, contentType: string, body: Uint8Array | string): Uint8Array {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const head = new TextEncoder().encode(
    `HTTP/1.1 ${status}\r\n` +
      "Access-Control-Allow-Headers: Authorization, Content-Type\r\n" +
      "Access-Control-Allow-Methods: GET, PUT, POST, DELETE\r\n" +
      "Access-Control-Allow-Origin: *\r\n" +
      "Connection: close\r\n" +
      `Content-Length: ${bytes.byteLength}\r\n` +
      `Content-Type: ${contentType}\r\n\r\n`,
  );
  const out = new Uint8Array(head.byteLength + bytes.byteLength);
  out.set(head);
  out.set(bytes, head.byteLength);
  return out;
}

/** Splits a captured response at the blank line: [head incl. CRLFCRLF, body]. */
function splitCapture(bytes: Uint8Array): [Uint8Array, Uint8Array] {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return [bytes.subarray(0, i + 4), bytes.subarray(i + 4)];
    }
  }
  return [bytes, new Uint8Array()];
}

/**
 * Starts the stand-in.
 *
 * @param options token, initial mode, slow delay
 * @returns the running stand-in
 */
export async function startStandin(options: StandinOptions = {}): Promise<Standin> {
  const token = options.token ?? null;
  let mode: StandinMode = options.mode ?? "normal";
  let delayMs = options.delayMs ?? 1000;
  const routes: Record<string, Uint8Array> = {
    "/2/summary": options.summaryV2Body === undefined
      ? capture(options.summaryV2 ?? "summary-v2-mining")
      : response("200 OK", "application/json", options.summaryV2Body),
    "/1/summary": capture("summary-v1-mining"),
    "/api.json": capture("api-json-v1-alias"),
    "/2/backends": capture("backends-v2"),
  };
  const unauthorized = capture("restricted-summary-v2-notoken");
  const forbidden = capture("restricted-summary-v2-wrongtoken");
  const notFound = capture("restricted-unknown-token");
  const serverError = response(
    "500 INTERNAL_SERVER_ERROR",
    "application/json",
    '{\n    "status": 500,\n    "error": "INTERNAL_SERVER_ERROR"\n}',
  );
  const notJson = response("200 OK", "application/json", "<html>not json</html>");
  const array = response("200 OK", "application/json", "[1, 2, 3]");
  const huge = response(
    "200 OK",
    "application/json",
    `{"pad": "${"x".repeat(2 * 1024 * 1024)}"}`,
  );
  const counts: Record<string, number> = Object.create(null);
  const sockets = new Set<net.Socket>();

  function answer(method: string, path: string, authorization: string | null): Uint8Array {
    if (token !== null) {
      if (authorization === null) return unauthorized;
      if (authorization !== `Bearer ${token}`) return forbidden;
    }
    return (method === "GET" ? routes[path] : undefined) ?? notFound;
  }

  function onRequest(socket: net.Socket, head: string): void {
    const [requestLine = "", ...lines] = head.split("\r\n");
    const [method = "", target = ""] = requestLine.split(" ");
    const path = target.split("?")[0] ?? "";
    counts[path] = (counts[path] ?? 0) + 1;
    const auth = lines.find((line) => /^authorization:/i.test(line));
    const authorization = auth === undefined ? null : auth.slice(auth.indexOf(":") + 1).trim();
    const send = (bytes: Uint8Array): void => {
      if (!socket.destroyed) socket.end(bytes);
    };
    switch (mode) {
      case "hang":
      case "down":
        return;
      case "slow": {
        const timer = setTimeout(() => send(answer(method, path, authorization)), delayMs);
        socket.once("close", () => clearTimeout(timer));
        return;
      }
      case "500":
        return send(serverError);
      case "non-json":
        return send(notJson);
      case "array":
        return send(array);
      case "huge":
        return send(huge);
      case "cut": {
        const [head, body] = splitCapture(answer(method, path, authorization));
        socket.write(head);
        socket.write(body.subarray(0, Math.floor(body.byteLength / 2)), () => socket.destroy());
        return;
      }
      default:
        return send(answer(method, path, authorization));
    }
  }

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffered = "";
    let answered = false;
    socket.on("data", (chunk: Uint8Array) => {
      if (answered) return;
      buffered += new TextDecoder().decode(chunk);
      const end = buffered.indexOf("\r\n\r\n");
      if (end >= 0) {
        answered = true;
        onRequest(socket, buffered.slice(0, end));
      } else if (buffered.length > MAX_HEAD) {
        socket.destroy();
      }
    });
  });

  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port }, () => {
        server.off("error", reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  const port = await listen(0);
  if (mode === "down") await stopListening();

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    mode: () => mode,
    async setMode(next, change = {}) {
      if (change.delayMs !== undefined) delayMs = change.delayMs;
      const was = mode;
      mode = next;
      if (next === "down" && was !== "down") await stopListening();
      if (next !== "down" && was === "down") await listen(port);
    },
    counts,
    count: (path) => counts[path] ?? 0,
    total: () => Object.values(counts).reduce((sum, n) => sum + n, 0),
    close: stopListening,
  };
}
