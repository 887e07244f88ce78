/**
 * The response records both the handler and the listener build from: XMRig's status names, its
 * headers (sorted as XMRig sorts them) and its pre-built error bodies. A module of its own, below
 * both, so the socket layer (`listen.ts`) needs nothing from the handler.
 *
 * @module
 */

import type { HttpResponse } from "./types.ts";

/**
 * Reason phrases for the status line, XMRig's style (llhttp's enum names, not RFC phrases).
 * The listener writes `HTTP/1.1 <code> <STATUS_TEXT[code]>`.
 */
export const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  200: "OK",
  204: "NO_CONTENT",
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  408: "REQUEST_TIMEOUT",
  413: "PAYLOAD_TOO_LARGE",
  414: "URI_TOO_LONG",
  429: "TOO_MANY_REQUESTS",
  431: "REQUEST_HEADER_FIELDS_TOO_LARGE",
  500: "INTERNAL_SERVER_ERROR",
  503: "SERVICE_UNAVAILABLE",
  505: "HTTP_VERSION_NOT_SUPPORTED",
});

/** The headers on every response, in XMRig's (alphabetical) order, without `Content-Length`. */
export const BASE_HEADERS: readonly [string, string][] = Object.freeze([
  ["Access-Control-Allow-Headers", "Authorization, Content-Type"],
  ["Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"],
  ["Access-Control-Allow-Origin", "*"],
  ["Connection", "close"],
  ["Content-Type", "application/json"],
]);

/** The methods the API answers; sent as `Allow` with 405. */
export const ALLOWED_METHODS = "GET, HEAD, OPTIONS";

const encoder = new TextEncoder();

/**
 * Builds a response with XMRig's headers.
 *
 * @param status the status code
 * @param body the JSON body text (`""` for none)
 * @param extra headers to add (merged in alphabetical order)
 * @returns the response record
 */
export function jsonResponse(
  status: number,
  body: string,
  extra: readonly [string, string][] = [],
): HttpResponse {
  const headers = [...BASE_HEADERS, ...extra].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
  return { status, headers, body: encoder.encode(body) };
}

/**
 * XMRig's error body for a status: `{"status": <code>, "error": "<NAME>"}`, 4-space pretty.
 *
 * @param status the status code
 * @returns the body text
 */
export function errorBody(status: number): string {
  return JSON.stringify({ status, error: STATUS_TEXT[status] ?? "ERROR" }, null, 4);
}

const ERRORS: ReadonlyMap<number, HttpResponse> = new Map(
  Object.keys(STATUS_TEXT).map(Number).filter((status) => status >= 400).map((status) => [
    status,
    jsonResponse(status, errorBody(status), status === 405 ? [["Allow", ALLOWED_METHODS]] : []),
  ]),
);

/**
 * The prebuilt response for an error status (400, 401, 403, 404, 405, 408, 413, 414, 429, 431,
 * 500, 503, 505), for the handler and for the listener's own refusals. The same object is returned every
 * time: do not mutate it.
 *
 * @param status an error status in {@link STATUS_TEXT}
 * @returns the response (500's when the status is unknown)
 */
export function errorResponse(status: number): HttpResponse {
  return ERRORS.get(status) ?? ERRORS.get(500)!;
}
