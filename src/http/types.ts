/**
 * The plain request and response records the handler works on. The socket plumbing
 * (`listen.ts`) parses the request head into these and writes the answer, so the handler is a plain
 * function testable without a socket.
 *
 * @module
 */

/** What the handler needs from a request. */
export interface HttpRequest {
  /** The method as sent (upper-case for well-formed requests). */
  method: string;
  /** The request target as sent (origin-form `/2/summary?x`, or absolute-form). */
  url: string;
  /** Header name (lower-case) → values in arrival order. */
  headers: Record<string, string[]>;
  /** The peer's address, normalised (`::ffff:` stripped). */
  remoteAddress: string;
}

/** What the handler answers. */
export interface HttpResponse {
  status: number;
  /** Headers in the order they are sent. `Content-Length` is added by the listener. */
  headers: [string, string][];
  /** The body; the listener omits it for HEAD but keeps its length. */
  body: Uint8Array;
}

/** A request handler. */
export type Handler = (request: HttpRequest) => Promise<HttpResponse>;
