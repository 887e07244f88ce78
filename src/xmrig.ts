/**
 * Client for XMRig's local HTTP API (`http://127.0.0.1:8080` by default): `/1/summary`,
 * `/2/summary` and `/2/backends`, with XMRig's own access token (RigForge's `ACCESS_TOKEN`).
 *
 * Every fetch is bounded in time (250 ms by default) and size (1 MiB), and only a `200` whose
 * body is a JSON object (an array for `/2/backends`) counts. The body is returned as text,
 * exactly as XMRig sent it: XMRig's 64-bit integers do not survive `JSON.parse`, so the merge
 * splices the text instead of re-serializing it. Error strings are fixed words (`timeout`,
 * `connection refused`, `http 500`...): they never carry the token, the URL or its credentials.
 *
 * {@link createXmrigClient} adds a per-path cache (1 s) and single flight: concurrent requests
 * for one path share one fetch, so a burst of clients costs XMRig one request per path per second.
 *
 * @module
 */

import { isObject, parseJson } from "./lib/json.ts";
import { readStreamUpTo } from "./lib/read.ts";

/** The XMRig routes the sister API passes through (`/api.json` is served from `/1/summary`). */
export type XmrigPath = "/1/summary" | "/2/summary" | "/2/backends";

/** XMRig's answer: the body text as sent, or why there is none. */
export type XmrigReply = { ok: true; text: string } | { ok: false; error: string };

/** Bounds for one fetch. */
export interface FetchXmrigOptions {
  /** Whole-exchange time bound in milliseconds (connect, headers, body). Default 250. */
  timeoutMs?: number;
  /** Largest accepted body in bytes. Default 1 MiB (Pithead's cap too). */
  maxBytes?: number;
}

/** Default time bound for one XMRig fetch, in milliseconds. */
export const XMRIG_TIMEOUT_MS = 250;
/** Default body cap for one XMRig fetch, in bytes. */
export const XMRIG_MAX_BYTES = 1024 * 1024;
/** Default cache lifetime per path, in milliseconds. */
export const XMRIG_TTL_MS = 1000;

/**
 * Checks a body the way Pithead does: the first non-space character opens the expected JSON
 * value and `JSON.parse` accepts the whole text as that kind of value.
 *
 * @param text the body text
 * @param expect `"object"` for the summaries, `"array"` for `/2/backends`
 * @returns `null` when acceptable, otherwise the error word (`not a JSON object`/`array`)
 */
export function checkBody(text: string, expect: "object" | "array"): string | null {
  const error = expect === "object" ? "not a JSON object" : "not a JSON array";
  const first = text.trimStart()[0];
  if (first !== (expect === "object" ? "{" : "[")) return error;
  const value = parseJson(text);
  return (expect === "array" ? Array.isArray(value) : isObject(value)) ? null : error;
}

/**
 * Turns an `--xmrig` value into the origin to fetch from: `http:` or `https:` only, user
 * credentials and any path, query or fragment dropped.
 *
 * @param base e.g. `http://127.0.0.1:8080`
 * @returns the origin (`http://127.0.0.1:8080`), or `null` when unusable
 */
export function xmrigOrigin(base: string): string | null {
  try {
    const url = new URL(base);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.origin;
  } catch {
    return null;
  }
}

/**
 * Fetches one XMRig route once, bounded in time and size. Never throws.
 *
 * @param base XMRig's API origin, e.g. `http://127.0.0.1:8080`
 * @param path the route
 * @param token XMRig's access token (sent as `Authorization: Bearer`), or `null` for none
 * @param options time and size bounds
 * @returns the body text, or a fixed error word
 */
export async function fetchXmrig(
  base: string,
  path: XmrigPath,
  token: string | null,
  options: FetchXmrigOptions = {},
): Promise<XmrigReply> {
  const origin = xmrigOrigin(base);
  if (origin === null) return { ok: false, error: "bad address" };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? XMRIG_TIMEOUT_MS);
  try {
    const headers: Record<string, string> = { accept: "application/json" };
    if (token !== null) headers["authorization"] = `Bearer ${token}`;
    const response = await fetch(origin + path, {
      headers,
      signal: controller.signal,
      redirect: "manual",
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      return { ok: false, error: `http ${response.status}` };
    }
    const body = await readCapped(response, options.maxBytes ?? XMRIG_MAX_BYTES);
    if (!body.ok) return body;
    const error = checkBody(body.text, path === "/2/backends" ? "array" : "object");
    return error === null ? { ok: true, text: body.text } : { ok: false, error };
  } catch (error) {
    return { ok: false, error: controller.signal.aborted ? "timeout" : networkError(error) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads a response body as UTF-8 text, at most `maxBytes` (declared or streamed).
 *
 * @param response the response
 * @param maxBytes the cap
 * @returns the text, or `too large` / `not UTF-8`
 */
export async function readCapped(response: Response, maxBytes: number): Promise<XmrigReply> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    return { ok: false, error: "too large" };
  }
  if (response.body === null) return { ok: true, text: "" };
  const bytes = await readStreamUpTo(response.body, maxBytes);
  if (bytes === null) return { ok: false, error: "too large" };
  try {
    return { ok: true, text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { ok: false, error: "not UTF-8" };
  }
}

/** Maps a fetch failure to a fixed word; the error's own message (it names the URL) is dropped. */
function networkError(error: unknown): string {
  const text = error instanceof Error ? `${error.message} ${String(error.cause ?? "")}` : "";
  if (/refused/i.test(text)) return "connection refused";
  if (/reset|closed|incomplete|unexpected eof|end of file/i.test(text)) return "connection reset";
  if (/timed? ?out/i.test(text)) return "timeout";
  if (/unreachable/i.test(text)) return "network unreachable";
  if (/dns|resolve|lookup|name or service/i.test(text)) return "name not resolved";
  return "unreachable";
}

/** Options for {@link createXmrigClient}. */
export interface XmrigClientOptions extends FetchXmrigOptions {
  /** XMRig's API origin (`--xmrig`), e.g. `http://127.0.0.1:8080`. */
  base: string;
  /** XMRig's access token, or `null`. */
  token: string | null;
  /** Cache lifetime per path in milliseconds (default 1000). */
  ttlMs?: number;
  /** Monotonic clock in milliseconds (default `performance.now`). */
  now?: () => number;
  /** The fetch to use (default {@link fetchXmrig}); injected by tests. */
  fetcher?: typeof fetchXmrig;
}

/** A cached, single-flight XMRig client: path → reply. Never rejects. */
export type XmrigClient = (path: XmrigPath) => Promise<XmrigReply>;

/**
 * Creates the client the request path uses: a reply (good or bad) is reused for `ttlMs`, and
 * while a fetch for a path is running every caller for that path awaits the same one.
 *
 * @param options origin, token, bounds, cache lifetime
 * @returns the client
 */
export function createXmrigClient(options: XmrigClientOptions): XmrigClient {
  const ttlMs = options.ttlMs ?? XMRIG_TTL_MS;
  const now = options.now ?? (() => performance.now());
  const fetcher = options.fetcher ?? fetchXmrig;
  const bounds: FetchXmrigOptions = {};
  if (options.timeoutMs !== undefined) bounds.timeoutMs = options.timeoutMs;
  if (options.maxBytes !== undefined) bounds.maxBytes = options.maxBytes;
  const cache = new Map<XmrigPath, { at: number; reply: XmrigReply }>();
  const inFlight = new Map<XmrigPath, Promise<XmrigReply>>();
  return (path) => {
    const hit = cache.get(path);
    if (hit !== undefined && now() - hit.at < ttlMs) return Promise.resolve(hit.reply);
    const running = inFlight.get(path);
    if (running !== undefined) return running;
    const fetching = fetcher(options.base, path, options.token, bounds)
      .catch((): XmrigReply => ({ ok: false, error: "unreachable" }))
      .then((reply) => {
        cache.set(path, { at: now(), reply });
        inFlight.delete(path);
        return reply;
      });
    inFlight.set(path, fetching);
    return fetching;
  };
}
