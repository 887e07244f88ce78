/**
 * The one home of the untrusted-JSON guards. Everything parsed from outside (snapshot files,
 * XMRig's replies, RigForge's tune files, config sidecar and control status, XMRig's config) is
 * `unknown` until one of these says what it is: a value of the wrong type reads as `null` (or
 * fails the guard), never as a crash or a wrongly typed value passed on.
 *
 * @module
 */

/** A JSON object from outside: its fields are still `unknown`. */
export type Obj = Record<string, unknown>;

/**
 * Whether a parsed JSON value is an object (not `null`, not an array).
 *
 * @param value anything
 * @returns the type guard
 */
export function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * The value as an object, or `null`.
 *
 * @param value anything
 * @returns the object (not an array), or `null`
 */
export function obj(value: unknown): Obj | null {
  return isObject(value) ? value : null;
}

/**
 * The value as a finite number, or `null`.
 *
 * @param value anything
 * @returns the number, or `null`
 */
export function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * The value as a safe integer, or `null`.
 *
 * @param value anything
 * @returns the integer, or `null`
 */
export function int(value: unknown): number | null {
  return typeof value === "number" && Number.isSafeInteger(value) ? value : null;
}

/**
 * The value as a string (at most `max` characters), or `null`.
 *
 * @param value anything
 * @param max the longest string passed on
 * @returns the string, or `null`
 */
export function str(value: unknown, max = 256): string | null {
  return typeof value === "string" ? value.slice(0, max) : null;
}

/**
 * The value as a boolean, or `null`.
 *
 * @param value anything
 * @returns the boolean, or `null`
 */
export function bool(value: unknown): boolean | null {
  return typeof value === "boolean" ? value : null;
}

/**
 * The value when it is one of `allowed`, else `null`.
 *
 * @param value anything
 * @param allowed the accepted strings
 * @returns the value, or `null`
 */
export function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | null {
  if (typeof value !== "string") return null;
  return allowed.find((a) => a === value) ?? null;
}

/**
 * The value as an array, or `null`.
 *
 * @param value anything
 * @returns the array, or `null`
 */
export function arr(value: unknown): unknown[] | null {
  return Array.isArray(value) ? value : null;
}

/**
 * `JSON.parse` that does not throw.
 *
 * @param text the text
 * @returns the value, or `undefined` when the text is not JSON
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // not JSON: the caller's guard turns this into its reason
  }
}

/**
 * Parses text that must hold a JSON object.
 *
 * @param text the text
 * @returns the object, or `null` when the text is not JSON or not an object
 */
export function parseObject(text: string): Obj | null {
  return obj(parseJson(text));
}
