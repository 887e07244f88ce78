/**
 * Decoders: untrusted JSON in, a value of the declared type out, or a {@link DecodeError}
 * naming the first path that does not fit. A decoder builds a new value from only the declared
 * keys, so nothing undeclared is carried on and nothing is cast. Declaring a decoder as
 * `Decoder<SomeRecord>` makes the compiler check that it covers every field of the type.
 *
 * @module
 */

import { isObject, type Obj } from "./json.ts";

/** Reads `value` (found at `path`) as a `T`, or throws {@link DecodeError}. */
export type Decoder<T> = (value: unknown, path: string) => T;

/** The type a decoder produces. */
export type Decoded<D> = D extends Decoder<infer T> ? T : never;

/** The first place a value did not fit its decoder. */
export class DecodeError extends Error {
  /**
   * @param path the dotted path of the value that did not fit (`cpu.governors`)
   * @param expected what was expected there (`an array`)
   */
  constructor(readonly path: string, readonly expected: string) {
    super(`${path}: expected ${expected}`);
    this.name = "DecodeError";
  }
}

function fail(path: string, expected: string): never {
  throw new DecodeError(path, expected);
}

/**
 * A string.
 *
 * @param v untrusted
 * @param path where `v` was found
 * @returns the string
 */
export function string(v: unknown, path: string): string {
  return typeof v === "string" ? v : fail(path, "a string");
}

/**
 * A finite number (JSON has no other kind, but a hand-edited file may hold a string).
 *
 * @param v untrusted
 * @param path where `v` was found
 * @returns the number
 */
export function number(v: unknown, path: string): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fail(path, "a number");
}

/**
 * A boolean.
 *
 * @param v untrusted
 * @param path where `v` was found
 * @returns the boolean
 */
export function boolean(v: unknown, path: string): boolean {
  return typeof v === "boolean" ? v : fail(path, "a boolean");
}

/**
 * Any JSON object, kept as it is (its fields stay `unknown` for the reader to check).
 *
 * @param v untrusted
 * @param path where `v` was found
 * @returns the object
 */
export function jsonObject(v: unknown, path: string): Obj {
  return isObject(v) ? v : fail(path, "an object");
}

/**
 * One of the given strings.
 *
 * @param values the accepted strings
 * @returns the decoder
 */
export function literal<const T extends string>(...values: T[]): Decoder<T> {
  return (v, path) =>
    values.find((x) => x === v) ?? fail(path, `one of ${values.map((x) => `"${x}"`).join(", ")}`);
}

/**
 * `null` or what `decode` reads.
 *
 * @param decode the decoder for a present value
 * @returns the decoder
 */
export function nullable<T>(decode: Decoder<T>): Decoder<T | null> {
  return (v, path) => v === null ? null : decode(v, path);
}

/**
 * An array whose every item `decode` reads.
 *
 * @param decode the item decoder
 * @returns the decoder
 */
export function array<T>(decode: Decoder<T>): Decoder<T[]> {
  return (v, path) =>
    Array.isArray(v) ? v.map((item, i) => decode(item, `${path}[${i}]`)) : fail(path, "an array");
}

/**
 * A pair, as in per-CPU jiffies `[busy, total]`.
 *
 * @param first the first item's decoder
 * @param second the second item's decoder
 * @returns the decoder
 */
export function pair<A, B>(first: Decoder<A>, second: Decoder<B>): Decoder<[A, B]> {
  return (v, path) =>
    Array.isArray(v) && v.length === 2
      ? [first(v[0], `${path}[0]`), second(v[1], `${path}[1]`)]
      : fail(path, "a pair");
}

/**
 * An object used as a map: any keys (but `__proto__`), every value read by `decode`.
 *
 * @param decode the value decoder
 * @returns the decoder
 */
export function dict<T>(decode: Decoder<T>): Decoder<Record<string, T>> {
  return (v, path) => {
    if (!isObject(v)) return fail(path, "an object");
    const out: Record<string, T> = {};
    for (const [key, item] of Object.entries(v)) {
      if (key === "__proto__") fail(path, "an object without a __proto__ key");
      out[key] = decode(item, `${path}.${key}`);
    }
    return out;
  };
}

type Shape = Record<string, Decoder<unknown>>;

/**
 * An object with the given fields (every one required; `null` only where the field's decoder
 * allows it) and, optionally, fields that may be left out. Undeclared keys are dropped.
 *
 * @param shape required field → decoder
 * @param optional field that may be absent → decoder
 * @returns the decoder
 */
export function object<S extends Shape, O extends Shape = Record<never, never>>(
  shape: S,
  optional?: O,
): Decoder<{ [K in keyof S]: Decoded<S[K]> } & { [K in keyof O]?: Decoded<O[K]> }> {
  return (v, path) => {
    if (!isObject(v)) return fail(path, "an object");
    const out: Record<string, unknown> = {};
    for (const [key, decode] of Object.entries(shape)) {
      if (!Object.hasOwn(v, key)) fail(`${path}.${key}`, "a value (the field is missing)");
      out[key] = decode(v[key], `${path}.${key}`);
    }
    for (const [key, decode] of Object.entries(optional ?? {})) {
      if (v[key] !== undefined) out[key] = decode(v[key], `${path}.${key}`);
    }
    return out as { [K in keyof S]: Decoded<S[K]> } & { [K in keyof O]?: Decoded<O[K]> };
  };
}
