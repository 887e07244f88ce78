/**
 * The one home of secret masking: what counts as a credential, Pithead's masked-value sentinel
 * `{"__secret__": true}`, the derived-bearer label, and the redaction of known secrets from
 * free text. Every value this program serves, logs or writes (the snapshot included) that
 * comes from a config, an override file or the miner passes through {@link maskSecrets} first.
 *
 * The rule (pure, no I/O):
 * - a **secret key** names a password, secret or token: its words (split at `-`, `_`, `.`,
 *   spaces and camelCase) include `pass`, `passwd`, `password`, `passphrase`, `pwd`, `secret`,
 *   `secrets`, `token`, `credential`, `credentials`, `apikey`, or the pairs `api key`,
 *   `private key`, `access key`, `tls fingerprint`; or a word that *contains* `password`,
 *   `passwd`, `passphrase`, `secret`, `token`, `apikey`, `credential`, `privkey`, `bearer`,
 *   `cookie` or `authorization` (`rpcpassword`, `accesstoken`, `apitoken`); a word ending in
 *   `tokens`/`passwords` is not a secret when the value is a number (a count, such as the
 *   exposure record's `named_tokens`);
 * - a secret key's value is replaced **whole** by the sentinel, whatever its shape (string,
 *   number, object, array), unless it is `null`, `""` or a boolean (unset, or a flag such as
 *   `token_set`: configuration, not a secret) or already the sentinel;
 * - a **string anywhere** (under any key, in any array) that carries a URL userinfo password
 *   (`stratum+tcp://user:pass@host`, `user:pass@host:3333`, also inside free text such as
 *   `connect with user:pass@host`) is replaced whole by the sentinel; a bare `user@host` has no
 *   password and stays;
 * - a string that contains a known secret (`maskSecrets`'s `known`, 3 characters or more), or a
 *   number whose decimal text equals one, is replaced whole by the sentinel;
 * - nesting deeper than {@link MAX_DEPTH} is withheld (the sentinel), never walked unbounded.
 *
 * @module
 */

import { createHmac } from "node:crypto";

/** Pithead's masked-value sentinel. */
export interface Masked {
  /** Always `true`: a value was here and is withheld. */
  readonly __secret__: true;
}

/** The sentinel, frozen; use {@link secretSentinel} for a fresh copy to put in a record. */
export const SECRET: Masked = Object.freeze({ __secret__: true });

/** The message Pithead signs to derive a read-only bearer from a token (HMAC-SHA256 key = token). */
export const DERIVED_BEARER_LABEL = "rigforge:api-read:v1";

/** Nesting deeper than this is withheld as a whole. */
export const MAX_DEPTH = 64;

const SECRET_WORDS = new Set([
  "pass",
  "passwd",
  "password",
  "passphrase",
  "pwd",
  "secret",
  "secrets",
  "token",
  "credential",
  "credentials",
  "apikey",
]);
const SECRET_PAIRS = ["api key", "private key", "access key", "tls fingerprint"];
const SECRET_STEMS = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "apikey",
  "credential",
  "privkey",
  "bearer",
  "cookie",
  "authorization",
];
const COUNT = /(?:tokens|passwords)$/;

/** @returns a fresh `{"__secret__": true}` object */
export function secretSentinel(): Masked {
  return { __secret__: true };
}

/**
 * Whether a value is the sentinel itself.
 *
 * @param value any value
 * @returns true for an object whose only key is `__secret__` holding `true`
 */
export function isSentinel(value: unknown): boolean {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === "__secret__" &&
    Object.getOwnPropertyDescriptor(value, "__secret__")?.value === true;
}

function words(key: string): string[] {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase().split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
}

/**
 * Whether a key names a credential (see the module doc for the rule).
 *
 * @param key an object key
 * @param value its value (a number under a plural key is a count, not a secret)
 * @returns true when the value must be masked
 */
export function isSecretKey(key: string, value?: unknown): boolean {
  const list = words(key);
  if (list.some((w) => SECRET_WORDS.has(w))) return true;
  const joined = ` ${list.join(" ")} `;
  if (SECRET_PAIRS.some((pair) => joined.includes(` ${pair} `))) return true;
  return list.some((w) =>
    !(typeof value === "number" && COUNT.test(w)) && SECRET_STEMS.some((s) => w.includes(s))
  );
}

// Both checks below run in time linear in the text (a word at a time, no backtracking regex):
// they see every string of every record, and a long hostile string must not stall them.

/** `user:password@host` starting a word (the password up to an `@` followed by a host). */
const BARE_USERINFO = /^[^:/@]+:(?!\/\/)[^@]+@[^:/@]/;
const SCHEME_CHAR = /[A-Za-z0-9+.-]/;
const LETTER = /[A-Za-z]/;
const USER_END = "/?#@:";

/**
 * The index of the password colon of `scheme://user:` in `head` (a word cut before its last
 * `@`), or -1. Each `://` is looked at once, its scheme and user scanned once.
 */
function urlPasswordColon(head: string): number {
  for (let at = head.indexOf("://"); at !== -1; at = head.indexOf("://", at + 3)) {
    let letter = false;
    for (let i = at - 1; i >= 0 && SCHEME_CHAR.test(head[i] as string); i--) {
      letter ||= LETTER.test(head[i] as string);
    }
    if (!letter) continue;
    let i = at + 3;
    while (i < head.length && !USER_END.includes(head[i] as string)) i++;
    if (head[i] === ":") return i;
  }
  return -1;
}

/** The words of a text that hold an `@`, each cut before its last `@`. */
function heads(text: string): { word: string; head: string }[] {
  const out: { word: string; head: string }[] = [];
  for (const word of text.split(/\s+/)) {
    const at = word.lastIndexOf("@");
    if (at > 0) out.push({ word, head: word.slice(0, at) });
  }
  return out;
}

/**
 * Whether a string carries a URL userinfo password anywhere in it.
 *
 * @param text a string
 * @returns true for `scheme://user:pass@host…` or `user:pass@host…` anywhere (the latter
 *   starting the string or a word)
 */
export function hasUrlPassword(text: string): boolean {
  return heads(text).some(({ word, head }) =>
    urlPasswordColon(head) !== -1 || BARE_USERINFO.test(word)
  );
}

/**
 * The userinfo passwords of the URLs in a string, for redaction from free text: in each word,
 * from the password colon of `scheme://user:` (else the first `:` after a user name) to the
 * word's last `@`.
 *
 * @param text a string (a pool URL)
 * @returns the passwords found (possibly none)
 */
export function urlPasswords(text: string): string[] {
  const out: string[] = [];
  for (const { head } of heads(text)) {
    const colon = passwordColon(head);
    if (colon !== -1 && colon + 1 < head.length) out.push(head.slice(colon + 1));
  }
  return out;
}

/** The password colon in `head` (a word cut before its last `@`): the URL's, else bare. */
function passwordColon(head: string): number {
  const colon = urlPasswordColon(head);
  if (colon !== -1) return colon;
  const skip = (at: number) =>
    at === 0 || USER_END.includes(head[at - 1] as string) || head.startsWith("//", at + 1);
  let bare = head.indexOf(":");
  while (bare !== -1 && skip(bare)) bare = head.indexOf(":", bare + 1);
  return bare;
}

function masked(value: unknown): boolean {
  return value !== null && value !== "" && typeof value !== "boolean" && value !== undefined &&
    !isSentinel(value);
}

/**
 * THE masking function: a deep copy of a JSON value with every credential replaced whole by
 * `{"__secret__": true}` (rule in the module doc). Pure; `__proto__` keys are dropped.
 *
 * @param value a JSON value (parsed, so no cycles)
 * @param known secret strings (tokens, derived bearers, pool passwords) also masked wherever a
 *   string equals one, except under a `user` key: a pool user is the worker name XMRig itself
 *   serves (in Pithead's `name` mode it equals the token, which `doctor` warns about)
 * @returns the masked copy (an object stays an object, an array an array)
 */
export function maskSecrets(
  value: Record<string, unknown>,
  known?: readonly string[],
): Record<string, unknown>;
export function maskSecrets(
  value: Record<string, unknown> | null,
  known?: readonly string[],
): Record<string, unknown> | null;
export function maskSecrets(value: unknown, known?: readonly string[]): unknown;
export function maskSecrets(value: unknown, known: readonly string[] = []): unknown {
  return walk(value, 0, known.filter((s) => s.length >= 3), "");
}

/**
 * The same rule as {@link maskSecrets}, as a `JSON.stringify` replacer: masks while
 * serializing, so a record is written (the snapshot) exactly as it may be served.
 *
 * @param key the key being serialized (an array index for array items)
 * @param value its value
 * @returns the value, or the sentinel
 */
export function secretReplacer(key: string, value: unknown): unknown {
  if (isSentinel(value)) return value;
  if (key !== "" && isSecretKey(key, value) && masked(value)) return secretSentinel();
  return typeof value === "string" && hasUrlPassword(value) ? secretSentinel() : value;
}

function walk(value: unknown, depth: number, known: readonly string[], key: string): unknown {
  if (typeof value === "string") {
    const isKnown = key !== "user" && known.some((secret) => value.includes(secret));
    return isKnown || hasUrlPassword(value) ? secretSentinel() : value;
  }
  if (typeof value === "number" && known.includes(String(value))) return secretSentinel();
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return secretSentinel();
  if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, known, ""));
  if (isSentinel(value)) return secretSentinel();
  const out: Record<string, unknown> = {};
  for (const [name, inner] of Object.entries(value)) {
    if (name === "__proto__") continue;
    out[name] = isSecretKey(name, inner) && masked(inner)
      ? secretSentinel()
      : walk(inner, depth + 1, known, name);
  }
  return out;
}

/**
 * Pithead's derived read bearer for a token (synchronous; `src/http/auth.ts` computes the same
 * with WebCrypto).
 *
 * @param token the raw token
 * @returns lowercase hex HMAC-SHA256(key = token, message = {@link DERIVED_BEARER_LABEL})
 */
export function deriveBearerHex(token: string): string {
  return createHmac("sha256", token).update(DERIVED_BEARER_LABEL).digest("hex");
}

/**
 * Removes secrets from free text (log lines, reasons): first every URL userinfo password in the
 * text itself (`scheme://user:[redacted]@host`, `user:[redacted]@host`: one the config does not
 * hold, such as a rejected change's, included), then the known secret strings, longest first;
 * known strings shorter than 3 characters are left alone (they would shred ordinary words).
 *
 * @param text the text
 * @param secrets values that must never appear (see `configSecrets`)
 * @returns the text with each password and each occurrence replaced by `[redacted]`
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text.split(/(\s+)/).map((word) => {
    const at = word.lastIndexOf("@");
    const colon = at > 0 ? passwordColon(word.slice(0, at)) : -1;
    return colon === -1 || colon + 1 === at
      ? word
      : `${word.slice(0, colon + 1)}[redacted]${word.slice(at)}`;
  }).join("");
  const sorted = [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  for (const secret of sorted) out = out.split(secret).join("[redacted]");
  return out;
}
