/**
 * The status page served on `GET /` and `HEAD /`: one static HTML document for people, with its
 * CSS and script inline and no external resource (rigs are often offline). It holds no data and
 * no secret, so it needs no token; its script reads `/2/summary` and `/health` from the page's
 * own origin with the token the person types (see `status_page.js`).
 *
 * The bytes, the headers and the `Content-Security-Policy` are built once, at start-up: the
 * script (`status_page.js`) is inlined into `status_page.html`, and the policy allows exactly
 * that inline script and style by their sha256 hashes, connections to the page's own origin,
 * and nothing else. Both files are text imports, so `deno compile` embeds them in the binary.
 *
 * @module
 */

import { createHash } from "node:crypto";
import html from "./status_page.html" with { type: "text" };
import script from "./status_page.js" with { type: "text" };
import type { HttpResponse } from "./types.ts";

/** Where the script goes in `status_page.html`. */
const SCRIPT_SLOT = "/*STATUS_PAGE_SCRIPT*/";

/** The page as built: its document and the policy that allows exactly its inline parts. */
export interface StatusPage {
  /** The HTML document, script inlined. */
  readonly html: string;
  /** The `Content-Security-Policy` value, with the inline script's and style's hashes. */
  readonly csp: string;
}

/**
 * Inlines the script (whole-line comments dropped) into the template and derives the policy from
 * the result: one `<style>`
 * and one `<script>` element, each allowed by the base64 sha256 of its exact text.
 *
 * @param template the HTML with {@link SCRIPT_SLOT} inside its only `<script>` element
 * @param source the script's text
 * @returns the document and its policy
 * @throws {Error} when the template does not have exactly one slot, style and script, or the
 *   script would end its own element early
 */
export function buildStatusPage(template: string, source: string): StatusPage {
  if (/<\/script/i.test(source)) throw new Error("status page: the script contains </script");
  if (template.split(SCRIPT_SLOT).length !== 2) {
    throw new Error("status page: the template needs exactly one script slot");
  }
  const document = template.replace(SCRIPT_SLOT, () => withoutCommentLines(source));
  const styles = inline(document, "style");
  const scripts = inline(document, "script");
  if (styles.length !== 1 || scripts.length !== 1) {
    throw new Error("status page: expected exactly one inline <style> and one inline <script>");
  }
  const csp = [
    "default-src 'none'",
    `script-src '${sha256(scripts[0]!)}'`,
    `style-src '${sha256(styles[0]!)}'`,
    "connect-src 'self'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html: document, csp };
}

/**
 * The prebuilt `GET /` response (`HEAD /` sends its head): `text/html`, the page's policy,
 * `nosniff`, `no-referrer`, the CORS headers and `Connection: close` as on every route. Call it
 * once at start-up (`createHandler` does) and answer every request with that object.
 *
 * @param baseHeaders the headers every response carries (the handler's, without `Content-Type`)
 * @returns the response
 */
export function statusPageResponse(baseHeaders: readonly [string, string][]): HttpResponse {
  const page = buildStatusPage(html, script);
  const headers: [string, string][] = [
    ...baseHeaders,
    ["Cache-Control", "no-cache"],
    ["Content-Security-Policy", page.csp],
    ["Content-Type", "text/html; charset=utf-8"],
    ["Referrer-Policy", "no-referrer"],
    ["X-Content-Type-Options", "nosniff"],
  ];
  headers.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
  return { status: 200, headers, body: new TextEncoder().encode(page.html) };
}

/**
 * The script without its whole-line comments (`// ...` lines and JSDoc blocks that start a line):
 * they document the source, not the page, and would double the bytes sent.
 */
function withoutCommentLines(source: string): string {
  return source.replace(/^[ \t]*\/\*\*[\s\S]*?\*\/[ \t]*\n/gm, "").replace(/^[ \t]*\/\/.*\n/gm, "");
}

/** The text content of every `<tag>` element (no attributes other than `type` expected). */
function inline(document: string, tag: "style" | "script"): string[] {
  const pattern = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "gi");
  return [...document.matchAll(pattern)].map((match) => match[1] ?? "");
}

/** A CSP hash source for a text: `sha256-<base64>` of its UTF-8 bytes. */
function sha256(text: string): string {
  return `sha256-${createHash("sha256").update(text, "utf8").digest("base64")}`;
}
