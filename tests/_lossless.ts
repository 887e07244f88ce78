/**
 * Shared test helper: a tiny lossless JSON parser. Numbers are kept as their literal text
 * (`{ $num: "18446744073709551615" }`), so a comparison sees every digit XMRig sent, which
 * `JSON.parse` would round. Object key order is kept (duplicate keys: the last one wins, as in
 * `JSON.parse`).
 *
 * @module
 */

/** A JSON value with numbers as literal text. */
export type Lossless =
  | null
  | boolean
  | string
  | { $num: string }
  | Lossless[]
  | { [key: string]: Lossless };

/**
 * Parses JSON text without losing number precision.
 *
 * @param text the JSON text
 * @returns the value
 * @throws {SyntaxError} on invalid JSON
 */
export function parseLossless(text: string): Lossless {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at ${i}`);
  };
  const space = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
  };
  const value = (): Lossless => {
    space();
    const c = text[i];
    if (c === "{") return object();
    if (c === "[") return array();
    if (c === '"') return string();
    if (c === "t" && text.startsWith("true", i)) return (i += 4, true);
    if (c === "f" && text.startsWith("false", i)) return (i += 5, false);
    if (c === "n" && text.startsWith("null", i)) return (i += 4, null);
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (m === null) return fail("unexpected character");
    i += m[0].length;
    return { $num: m[0] };
  };
  const string = (): string => {
    // deno-lint-ignore no-control-regex -- JSON strings may not hold raw control characters
    const m = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(text.slice(i));
    if (m === null) return fail("bad string");
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const object = (): Lossless => {
    i++;
    const out: { [key: string]: Lossless } = {};
    space();
    if (text[i] === "}") return (i++, out);
    while (true) {
      space();
      const key = string();
      space();
      if (text[i++] !== ":") fail("expected :");
      Object.defineProperty(out, key, {
        value: value(),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      space();
      const c = text[i++];
      if (c === "}") return out;
      if (c !== ",") fail("expected , or }");
    }
  };
  const array = (): Lossless[] => {
    i++;
    const out: Lossless[] = [];
    space();
    if (text[i] === "]") return (i++, out);
    while (true) {
      out.push(value());
      space();
      const c = text[i++];
      if (c === "]") return out;
      if (c !== ",") fail("expected , or ]");
    }
  };
  const result = value();
  space();
  if (i !== text.length) fail("trailing text");
  return result;
}

/**
 * Removes top-level keys from a parsed object (for "the body minus our keys is XMRig's").
 *
 * @param value a parsed object
 * @param keys the keys to drop
 * @returns a copy without them
 */
export function without(value: Lossless, keys: readonly string[]): { [key: string]: Lossless } {
  if (value === null || typeof value !== "object" || Array.isArray(value) || "$num" in value) {
    throw new TypeError("not an object");
  }
  return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k)));
}
