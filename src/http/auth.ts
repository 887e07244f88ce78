/**
 * Bearer authentication in XMRig's style, with RigForge's extra credentials.
 *
 * Accepted `Authorization` values, each exactly `Bearer <credential>` (capital B, one space,
 * case-sensitive, nothing after it):
 * - `ACCESS_TOKEN` and every value of `ACCESS_TOKENS`;
 * - Pithead's derived read bearer for each of them that is 32 characters or longer: the
 *   lowercase hex of HMAC-SHA256(key = the token, message = `rigforge:api-read:v1`).
 *
 * The header *value* arrives without its leading and trailing spaces and tabs (`request_head.ts`
 * strips optional whitespace around a field value, as RFC 9110 says; XMRig keeps a trailing
 * space and answers 403 to it), and only the first `Authorization` header counts. A missing header is
 * `"missing"` (401), any other mismatch `"wrong"` (403). With no token configured at all the API
 * is open and the header is ignored. The accepted values are computed once, at start-up, and
 * held outside the {@link Auth} record so inspecting or logging it shows no secret; the
 * comparison visits every candidate and every byte (padded to the longest), without early exit.
 *
 * @module
 */

import { DERIVED_BEARER_LABEL } from "../lib/secrets.ts";
import type { RigforgeConfig } from "../rigforge/config.ts";

/** The message Pithead signs to derive a read-only bearer from a token (`src/lib/secrets.ts`). */
export const DERIVED_MESSAGE = DERIVED_BEARER_LABEL;
/** Tokens shorter than this get no derived bearer (Pithead's rule). */
export const DERIVED_MIN_LENGTH = 32;

/** The authentication state built at start-up. Holds no secret in its own fields. */
export interface Auth {
  /** `true` when no token is configured: every request passes. */
  readonly open: boolean;
  /** How many bearer values are accepted (tokens plus derived ones), for a start-up log line. */
  readonly accepted: number;
}

/** The outcome of {@link checkAuth}. */
export type AuthResult = "ok" | "missing" | "wrong";

const SECRETS = new WeakMap<Auth, { values: Uint8Array[]; width: number }>();
const encoder = new TextEncoder();

/**
 * Derives Pithead's read-only bearer for a token.
 *
 * @param token the raw token
 * @returns lowercase hex HMAC-SHA256(key = token, message = {@link DERIVED_MESSAGE})
 */
export async function deriveReadBearer(token: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(token),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, encoder.encode(DERIVED_MESSAGE)),
  );
  return Array.from(mac, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Builds the accepted credentials from the validated config (`null`: no config file → open).
 * Tokens are already validated by `src/rigforge/config.ts` (a non-string `ACCESS_TOKEN` makes
 * the config unusable, so the server never starts open by accident).
 *
 * @param config the validated RigForge config, or `null`
 * @returns the auth state
 */
export async function buildAuth(config: RigforgeConfig | null): Promise<Auth> {
  const tokens = config === null ? [] : [
    ...(config.accessToken === null ? [] : [config.accessToken]),
    ...Object.values(config.accessTokens),
  ].filter((token) => token !== "");
  const credentials = new Set<string>();
  for (const token of tokens) {
    credentials.add(token);
    if (token.length >= DERIVED_MIN_LENGTH) credentials.add(await deriveReadBearer(token));
  }
  const values = [...credentials].map((credential) => encoder.encode(`Bearer ${credential}`));
  const auth: Auth = Object.freeze({ open: values.length === 0, accepted: values.length });
  SECRETS.set(auth, { values, width: Math.max(0, ...values.map((v) => v.length)) });
  return auth;
}

/**
 * Checks the request's `Authorization` header values.
 *
 * @param auth from {@link buildAuth}
 * @param headerValues every `Authorization` value in arrival order (`undefined` or `[]`: none)
 * @returns `"ok"`, `"missing"` (no header: 401) or `"wrong"` (403)
 */
export function checkAuth(auth: Auth, headerValues: readonly string[] | undefined): AuthResult {
  if (auth.open) return "ok";
  const first = headerValues?.[0];
  if (first === undefined) return "missing";
  const secrets = SECRETS.get(auth);
  if (secrets === undefined) return "wrong";
  const presented = encoder.encode(first.replace(/^[ \t]+/, ""));
  let matched = 0;
  for (const candidate of secrets.values) {
    matched |= equalConstantTime(presented, candidate, secrets.width) ? 1 : 0;
  }
  return matched === 1 ? "ok" : "wrong";
}

/** Compares two byte strings over `width` bytes (both padded with zeros), plus their lengths. */
function equalConstantTime(a: Uint8Array, b: Uint8Array, width: number): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < width; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
