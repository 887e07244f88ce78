/**
 * The wire form of a response: the exact bytes `serve` writes (`HTTP/1.1 <code> <NAME>`, the
 * handler's headers with `Connection: close` forced and `Content-Length` in sorted place, the
 * body; HEAD without the body), in one buffer written with one `write`. Pure.
 *
 * @module
 */

import { BAD_VALUE, TOKEN } from "./request_head.ts";
import type { HttpResponse } from "./types.ts";

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
  const name = statusText[response.status] ?? "UNKNOWN";
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
