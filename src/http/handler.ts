/**
 * The sister API's wire contract as a plain function: request record in, response record out,
 * no socket. Decision order (XMRig's, made read-only):
 *
 * 1. `OPTIONS` (any path) → 200, CORS headers and `Connection: close` only (as XMRig: no
 *    `Content-Type`, no body), no auth (browser preflight);
 * 2. any method but `GET`/`HEAD` → 405 with `Allow: GET, HEAD, OPTIONS`, before auth;
 * 3. `/`: the status page (`status_page.ts`), prebuilt, no auth (it holds no data);
 * 4. auth → 401 (no `Authorization` header) or 403 (wrong), when a token is configured;
 * 5. route by exact path (the query string is ignored; absolute-form targets use their path)
 *    → 404 for anything unknown;
 * 6. the body: `/1/summary`, `/api.json` (XMRig's alias of v1), `/2/summary`: XMRig's body of
 *    that version, byte for byte, plus `generated_at` and `rigforge`; `/2/backends`: XMRig's
 *    body verbatim; `/health`, `/tune`: built from the snapshot; `/metrics`: Prometheus text
 *    0.0.4 or OpenMetrics 1.0.0 by `Accept` (`src/metrics.ts`), from the same inputs.
 *
 * Every response carries XMRig's headers, sorted as XMRig sorts them (alphabetically): the
 * three CORS headers, `Connection: close` and `Content-Type: application/json`; the listener adds
 * `Content-Length` (between `Connection` and `Content-Type`) and drops the body of a HEAD
 * response. No `Server`, no `Date`. The status page (`/`) carries the same CORS and `Connection`
 * headers with `text/html` and its own policy headers (`status_page.ts`). Error bodies are
 * XMRig's, byte for byte (`{"status": 401, "error": "UNAUTHORIZED"}` pretty-printed with 4
 * spaces) and built once.
 * The request path reads only the cached snapshot and the cached XMRig replies: it spawns no
 * process and reads no `/proc` or `/sys` file. Nothing from the request is echoed back.
 *
 * @module
 */

import { describeError } from "../lib/text.ts";
import {
  backendsBody,
  type DoctorHook,
  healthBody,
  type SnapshotView,
  summaryBody,
  tuneBody,
} from "../merge.ts";
import { createMetricsRoute, type InternalErrorSite, type MetricsRoute } from "../metrics.ts";
import type { SnapshotRead } from "../snapshot.ts";
import type { XmrigClient, XmrigReply } from "../xmrig.ts";
import { type Auth, checkAuth } from "./auth.ts";
import { statusPageResponse } from "./status_page.ts";
import { BASE_HEADERS, errorResponse, jsonResponse } from "./responses.ts";
import type { Handler, HttpRequest, HttpResponse } from "./types.ts";

/** Route paths, matched exactly (`/` is the status page, answered before authentication). */
export const ROUTES: readonly string[] = [
  "/",
  "/1/summary",
  "/2/summary",
  "/api.json",
  "/2/backends",
  "/health",
  "/tune",
  "/metrics",
];

/** What the handler needs; everything slow or stateful sits behind these functions. */
export interface HandlerDeps {
  /** Accepted credentials, built once at start-up. */
  auth: Auth;
  /** The cached snapshot (`createSnapshotCache(path).read`). */
  snapshot: () => Promise<SnapshotRead> | SnapshotRead;
  /** The cached, single-flight XMRig client (`createXmrigClient(...)`). */
  xmrig: XmrigClient;
  /** Wall clock in ms since the epoch (snapshot age, staleness). */
  now: () => number;
  /**
   * Hook for doctor's verdict on `/health`: `evaluate` from `src/checks.ts` once it exists,
   * called with the snapshot's records. Absent: `/health` says `"doctor": null`.
   */
  checks?: DoctorHook;
  /**
   * Admission control's shed counters for `/metrics` (`Admission.counts` from
   * `src/http/admission.ts`). Absent: the shed counter is not exposed.
   */
  shedCounts?: () => Readonly<Record<string, number>>;
  /**
   * Where internal errors go (a route that failed, the doctor hook that threw): serve passes the
   * listener's rate-limited stderr reporter. Each error is also counted on `/metrics`
   * (`rigforge_api_internal_errors_total`). Absent: counted only.
   */
  report?: (message: string) => void;
}

const encoder = new TextEncoder();

/** XMRig's preflight answer: the CORS headers and `Connection: close`, no body, no type. */
const PREFLIGHT: HttpResponse = {
  status: 200,
  headers: BASE_HEADERS.filter(([name]) => name !== "Content-Type"),
  body: new Uint8Array(0),
};

/**
 * The path of a request target, matched exactly as XMRig does: origin-form up to `?`;
 * absolute-form (`http://host/path?q`) gives its path, not normalised or decoded.
 *
 * @param target the request target as sent
 * @returns the path (`""` for an authority-only target)
 */
export function requestPath(target: string): string {
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  const rest = absolute === null ? target : target.slice(absolute[0].length) || "/";
  const end = rest.search(/[?#]/);
  return end < 0 ? rest : rest.slice(0, end);
}

/**
 * Creates the request handler.
 *
 * @param deps credentials, snapshot cache, XMRig client, clock, doctor hook
 * @returns the handler
 */
export function createHandler(deps: HandlerDeps): Handler {
  const metrics = createMetricsRoute();
  const fail = (where: InternalErrorSite, error: unknown): void => {
    metrics.failed(where);
    deps.report?.(`${where} failed: ${describeError(error)}`);
  };
  const doctor = doctorMemo(deps.checks, (error) => fail("doctor", error));
  const bodies = bodyMemo();
  const page = statusPageResponse(BASE_HEADERS.filter(([name]) => name !== "Content-Type"));
  const handle = async (request: HttpRequest): Promise<HttpResponse> => {
    if (request.method === "OPTIONS") return PREFLIGHT;
    if (request.method !== "GET" && request.method !== "HEAD") return errorResponse(405);
    const path = requestPath(request.url);
    // The status page holds no data and no secret: served before auth (its script sends the token).
    if (path === "/") return page;
    const verdict = checkAuth(deps.auth, request.headers["authorization"]);
    if (verdict === "missing") return errorResponse(401);
    if (verdict === "wrong") return errorResponse(403);
    if (!ROUTES.includes(path)) return errorResponse(404);
    try {
      if (path === "/metrics") return await metricsRoute(request, deps, doctor, metrics);
      return await route(path, deps, doctor, bodies);
    } catch (error) {
      fail("route", error);
      return errorResponse(500);
    }
  };
  return async (request: HttpRequest): Promise<HttpResponse> => {
    const response = await handle(request);
    metrics.observe(response.status);
    return response;
  };
}

async function route(
  path: string,
  deps: HandlerDeps,
  doctor: (view: SnapshotView) => unknown,
  bodies: BodyMemo,
): Promise<HttpResponse> {
  if (path === "/2/backends") {
    const [read, reply] = await Promise.all([deps.snapshot(), deps.xmrig("/2/backends")]);
    const view: SnapshotView = { read, now: deps.now() };
    return bodies(path, reply, view, () => {
      const body = backendsBody(reply, view);
      return body.status === 200 ? jsonResponse(200, body.text) : errorResponse(body.status);
    });
  }
  const xmrigPath = path === "/2/summary" ? "/2/summary" : "/1/summary";
  const [read, reply] = await Promise.all([
    deps.snapshot(),
    path === "/health" || path === "/tune" ? null : deps.xmrig(xmrigPath),
  ]);
  const view: SnapshotView = { read, now: deps.now() };
  return bodies(path, reply, view, () => {
    if (path === "/health") return jsonResponse(200, healthBody(view, doctor(view)));
    if (path === "/tune") return jsonResponse(200, tuneBody(view));
    return jsonResponse(200, summaryBody(reply as XmrigReply, view));
  });
}

type BodyMemo = (
  path: string,
  reply: XmrigReply | null,
  view: SnapshotView,
  build: () => HttpResponse,
) => HttpResponse;

/**
 * Builds each route's body at most once per second and per input: the inputs (the cached XMRig
 * reply object, the snapshot object, its read error) change at most once a second, and the one
 * time-dependent field (`rigforge.snapshot.age_s`) is in whole seconds. So a poll storm costs
 * the socket work, not a merge per request.
 */
function bodyMemo(): BodyMemo {
  const memo = new Map<string, {
    reply: XmrigReply | null;
    snapshot: object | null;
    error: string | null;
    second: number;
    response: HttpResponse;
  }>();
  return (path, reply, view, build) => {
    const second = Math.floor(view.now / 1000);
    const hit = memo.get(path);
    if (
      hit !== undefined && hit.reply === reply && hit.snapshot === view.read.snapshot &&
      hit.error === view.read.error && hit.second === second
    ) {
      return hit.response;
    }
    const response = build();
    memo.set(path, {
      reply,
      snapshot: view.read.snapshot,
      error: view.read.error,
      second,
      response,
    });
    return response;
  };
}

/**
 * Runs the doctor hook once per snapshot (records do not change within one snapshot). A hook
 * that throws gives `null` for that snapshot, and the error goes to `onError`.
 */
function doctorMemo(
  hook: DoctorHook | undefined,
  onError: (error: unknown) => void,
): (view: SnapshotView) => unknown {
  const seen = new WeakMap<object, unknown>();
  return (view) => {
    const snapshot = view.read.snapshot;
    if (hook === undefined || snapshot === null) return null;
    if (!seen.has(snapshot)) {
      let result: unknown = null;
      try {
        result = hook(snapshot.records);
      } catch (error) {
        onError(error);
        result = null;
      }
      seen.set(snapshot, result);
    }
    return seen.get(snapshot);
  };
}

// ---- /metrics: Prometheus text 0.0.4 or OpenMetrics 1.0.0 by `Accept` (src/metrics.ts) ----

async function metricsRoute(
  request: HttpRequest,
  deps: HandlerDeps,
  doctor: (view: SnapshotView) => unknown,
  metrics: MetricsRoute,
): Promise<HttpResponse> {
  const [read, reply] = await Promise.all([deps.snapshot(), deps.xmrig("/2/summary")]);
  const now = deps.now();
  const out = metrics.body(request.headers["accept"], reply, read.snapshot, now, {
    doctor: doctor({ read, now }),
    snapshotError: read.error,
    shed: deps.shedCounts?.() ?? null,
  });
  const headers: [string, string][] = [
    ...BASE_HEADERS.filter(([name]) => name !== "Content-Type"),
    ["Content-Type", out.contentType],
    ["Vary", "Accept"],
  ];
  return { status: 200, headers, body: encoder.encode(out.body) };
}
