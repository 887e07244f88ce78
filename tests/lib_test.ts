/**
 * The shared helpers in `src/lib/`: control-character cleaning, ISO-seconds time, bounded
 * reads and the untrusted-JSON guards. Expected values are written out from the character tables (ECMA-48,
 * Unicode C0/C1), not taken from the functions' output.
 *
 * @module
 */

import { deepEqual as assertEquals } from "node:assert/strict";
import {
  array,
  DecodeError,
  dict,
  literal,
  nullable,
  number,
  object,
  string,
} from "../src/lib/decode.ts";
import { arr, bool, int, isObject, num, obj, oneOf, parseObject, str } from "../src/lib/json.ts";
import { closeQuietly, concatBytes, readInto, readStreamUpTo, readUpTo } from "../src/lib/read.ts";
import { collapseControl, dropControl, stripAnsi } from "../src/lib/text.ts";
import { isoSeconds, isoSecondsOrNull, parseTime } from "../src/lib/time.ts";

Deno.test("text: every C0, DEL and C1 character is dropped, and nothing else", () => {
  for (let code = 0; code <= 0x2ff; code++) {
    const c = String.fromCharCode(code);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
    assertEquals(dropControl(`a${c}b`), control ? "ab" : `a${c}b`, `U+${code.toString(16)}`);
  }
  assertEquals(dropControl("tab\there\nline\r\n"), "tabhereline");
});

Deno.test("text: each control character, or each run, becomes the replacement", () => {
  assertEquals(dropControl("a\u0000\u0001\u009bb\tc", "."), "a...b.c");
  assertEquals(collapseControl("  reason\r\n\tmore\u0085x  "), "  reason more x  ");
  assertEquals(collapseControl("a\u0000\u0001b", "."), "a.b");
});

Deno.test("text: colour and cursor sequences go whole, the text they colour stays", () => {
  assertEquals(stripAnsi("\x1b[1;31mFAILED\x1b[0m"), "FAILED");
  assertEquals(stripAnsi("\x1b[?25lhidden cursor\x1b[?25h"), "hidden cursor");
  assertEquals(stripAnsi("\x1b[2 qspace intermediate"), "space intermediate");
  // Other escapes lose their ESC and BEL to dropControl; what remains is printable.
  assertEquals(dropControl(stripAnsi("\x1b]0;pwned\x07title")), "]0;pwnedtitle");
  assertEquals(dropControl(stripAnsi("a\x1b")), "a");
  assertEquals(stripAnsi("plain [31m text"), "plain [31m text");
});

Deno.test("time: ISO seconds drop the fraction; out-of-range times are null", () => {
  assertEquals(isoSecondsOrNull(Date.UTC(2026, 10, 24, 16, 59, 46, 999)), "2026-11-24T16:59:46Z");
  assertEquals(isoSecondsOrNull(Number.NaN), null);
  assertEquals(isoSecondsOrNull(8.64e15 + 1), null);
  assertEquals(isoSeconds(Number.POSITIVE_INFINITY), "1970-01-01T00:00:00Z");
  assertEquals(parseTime("2026-11-24T16:59:46Z"), Date.UTC(2026, 10, 24, 16, 59, 46));
  assertEquals(parseTime("2026-11-24T16:59:46.5+00:00"), Date.UTC(2026, 10, 24, 16, 59, 46, 500));
  assertEquals(parseTime("2026-11-24 16:59:46"), null);
  assertEquals(parseTime("2026-13-45T99:99:99Z"), null);
});

Deno.test("json: guards read a wrong type as null, never as a wrongly typed value", () => {
  assertEquals([isObject({}), isObject([]), isObject(null), isObject("x")], [
    true,
    false,
    false,
    false,
  ]);
  assertEquals([obj([]), obj({ a: 1 })], [null, { a: 1 }]);
  assertEquals([num(1.5), num(Number.NaN), num("1"), num(Infinity)], [1.5, null, null, null]);
  assertEquals([int(3), int(3.5), int(2 ** 53), int("3")], [3, null, null, null]);
  assertEquals([str("abcdef", 3), str(1)], ["abc", null]);
  assertEquals([bool(false), bool(0)], [false, null]);
  assertEquals([oneOf("b", ["a", "b"]), oneOf("c", ["a", "b"]), oneOf(1, ["a"])], [
    "b",
    null,
    null,
  ]);
  assertEquals([arr([1]), arr({})], [[1], null]);
  assertEquals([parseObject('{"a":1}'), parseObject("[1]"), parseObject("{")], [
    { a: 1 },
    null,
    null,
  ]);
});

/** A reader handing out `total` bytes of 7 in chunks of at most `chunk`. */
function source(total: number, chunk: number): { read(b: Uint8Array): Promise<number | null> } {
  let left = total;
  return {
    read(buffer) {
      if (left === 0) return Promise.resolve(null);
      const n = Math.min(left, chunk, buffer.length);
      buffer.fill(7, 0, n);
      left -= n;
      return Promise.resolve(n);
    },
  };
}

Deno.test("read: readUpTo stops one byte past the cap, whatever the chunking", async () => {
  assertEquals((await readUpTo(source(10, 3), 10)).length, 10);
  assertEquals((await readUpTo(source(11, 3), 10)).length, 11);
  assertEquals((await readUpTo(source(1 << 20, 65536), 100)).length, 101);
  assertEquals((await readUpTo(source(0, 1), 10)).length, 0);
  const buffer = new Uint8Array(8);
  assertEquals(await readInto(source(5, 2), buffer), 5);
  assertEquals(await readInto(source(50, 3), buffer), 8);
});

Deno.test("read: a stream over the cap is cancelled and reads as null", async () => {
  const stream = (sizes: number[]) => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const size = sizes.shift();
        if (size === undefined) controller.close();
        else controller.enqueue(new Uint8Array(size));
      },
      cancel() {
        cancelled = true;
      },
    });
    return { body, cancelled: () => cancelled };
  };
  const within = stream([4, 6]);
  assertEquals((await readStreamUpTo(within.body, 10))?.length, 10);
  const over = stream([4, 6, 1, 1000]);
  assertEquals(await readStreamUpTo(over.body, 10), null);
  assertEquals(over.cancelled(), true);
  assertEquals(
    concatBytes([new Uint8Array([1, 2]), new Uint8Array([3])]),
    new Uint8Array([1, 2, 3]),
  );
});

Deno.test("read: closeQuietly accepts an already closed file and nothing else", async () => {
  const path = await Deno.makeTempFile();
  try {
    const file = await Deno.open(path, { read: true });
    file.close();
    closeQuietly(file);
    closeQuietly(undefined);
    let thrown: unknown = null;
    try {
      closeQuietly({
        close() {
          throw new Deno.errors.PermissionDenied("no");
        },
      });
    } catch (error) {
      thrown = error;
    }
    assertEquals(thrown instanceof Deno.errors.PermissionDenied, true);
  } finally {
    await Deno.remove(path);
  }
});

/** The error a decoder throws, or `null` when it accepts the value. */
function rejection(decode: (v: unknown, path: string) => unknown, value: unknown): string | null {
  try {
    decode(value, "rec");
    return null;
  } catch (error) {
    if (error instanceof DecodeError) return error.message;
    throw error;
  }
}

Deno.test("decode: values are rebuilt from declared keys, or rejected with the path", () => {
  const rec = object(
    { name: string, tags: nullable(array(literal("a", "b"))), n: nullable(number) },
    { extra: number },
  );
  assertEquals(rec({ name: "x", tags: ["a"], n: null, junk: 1 }, "rec"), {
    name: "x",
    tags: ["a"],
    n: null,
  });
  assertEquals(rec({ name: "x", tags: null, n: 2, extra: 3 }, "rec"), {
    name: "x",
    tags: null,
    n: 2,
    extra: 3,
  });
  assertEquals(rejection(rec, { name: "x", tags: "a", n: 1 }), "rec.tags: expected an array");
  assertEquals(
    rejection(rec, { name: "x", tags: ["c"], n: 1 }),
    'rec.tags[0]: expected one of "a", "b"',
  );
  assertEquals(
    rejection(rec, { name: "x", tags: null }),
    "rec.n: expected a value (the field is missing)",
  );
  assertEquals(
    rejection(rec, { name: "x", tags: null, n: 1, extra: "3" }),
    "rec.extra: expected a number",
  );
  assertEquals(rejection(rec, [1]), "rec: expected an object");
  // An inherited name is not a field: only own keys count.
  assertEquals(
    rejection(object({ constructor: string }), {}),
    "rec.constructor: expected a value (the field is missing)",
  );
  const map = dict(number);
  assertEquals(map({ a: 1 }, "rec"), { a: 1 });
  assertEquals(
    rejection(map, JSON.parse('{"__proto__": 1}')),
    "rec: expected an object without a __proto__ key",
  );
});
