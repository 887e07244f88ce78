/**
 * The pure request-head parser (`src/http/request_head.ts`) on inline bytes: what it accepts,
 * the table of malformed heads (400), the size limit (431), incomplete heads, fail-fast on a
 * request line that can never become valid. The same rules on real sockets are in
 * hostile_http_test.ts (the corpus).
 */

import { deepEqual as assertEquals } from "node:assert/strict";
import { type HeadResult, parseRequestHead } from "../src/http/request_head.ts";
import {
  createHeadReader,
  DEFAULT_HEAD_LIMITS,
  feedHead,
  type FeedResult,
  type HeadLimits,
} from "../src/http/head_reader.ts";

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const parse = (text: string, max = 8192): HeadResult => parseRequestHead(bytes(text), max);
const status = (text: string, max = 8192): number | string => {
  const result = parse(text, max);
  return result.kind === "error" ? result.status : result.kind;
};

Deno.test("a well-formed head: method, target, version, headers lower-cased in order", () => {
  const result = parse(
    "GET /2/summary?x=1 HTTP/1.1\r\nHost: rig\r\nX-Dup: a\r\nx-dup:\t b \t\r\n" +
      "__proto__: p\r\nAuthorization: Bearer t \r\n\r\nbody GET / HTTP/1.1\r\n",
  );
  if (result.kind !== "head") throw new Error(JSON.stringify(result));
  const { method, url, version, headers } = result.head;
  assertEquals([method, url, version], ["GET", "/2/summary?x=1", "1.1"]);
  assertEquals(Object.getPrototypeOf(headers), null);
  assertEquals(headers["x-dup"], ["a", "b"]);
  assertEquals(headers["__proto__"], ["p"]);
  assertEquals(headers["authorization"], ["Bearer t"]);
  assertEquals(headers["host"], ["rig"]);
  assertEquals(Object.keys(headers), ["host", "x-dup", "__proto__", "authorization"]);
});

Deno.test("odd but valid heads are accepted, as llhttp accepts them", () => {
  const ok: [string, string][] = [
    ["\r\n\r\nGET / HTTP/1.1\r\nHost: r\r\n\r\n", "1.1"], // leading empty lines
    ["GET  /  HTTP/1.1\r\nHost: r\r\n\r\n", "1.1"], // runs of spaces
    ["GET /health\r\nHost: r\r\n\r\n", "0.9"], // no version
    ["GET / HTTP/1.0\r\n\r\n", "1.0"], // HTTP/1.0 needs no Host
    ["CONNECT rig:443 HTTP/1.1\r\nHost: rig\r\n\r\n", "1.1"],
    ["OPTIONS * HTTP/1.1\r\nHost: r\r\n\r\n", "1.1"],
    ["GET http://rig/health HTTP/1.1\r\nHost:\r\n\r\n", "1.1"], // empty Host
    ["GET /x HTTP/1.1\r\nHost: r\r\nX-A: \u00ff\u00fe\r\n\r\n", "1.1"], // obs-text
    ["GET /x HTTP/1.1\r\nHost: r\r\nContent-Length: 0018446744073709551615\r\n\r\n", "1.1"],
    ["GET /x HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "1.1"],
  ];
  for (const [text, version] of ok) {
    const result = parse(text);
    assertEquals(result.kind === "head" ? result.head.version : result, version, text);
  }
});

Deno.test("malformed heads are 400", () => {
  const bad = [
    "GARBAGE\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\n", // HTTP/1.1 without Host
    " GET / HTTP/1.1\r\nHost: r\r\n\r\n",
    "GET / HTTP/1.1 \r\nHost: r\r\n\r\n",
    "GET\t/\tHTTP/1.1\r\nHost: r\r\n\r\n",
    "GET / HTTP/1.1 extra\r\nHost: r\r\n\r\n",
    "get / HTTP/1.1\r\nHost: r\r\n\r\n",
    "FOO / HTTP/1.1\r\nHost: r\r\n\r\n",
    "GET health HTTP/1.1\r\nHost: r\r\n\r\n",
    "GET /a\u0000b HTTP/1.1\r\nHost: r\r\n\r\n",
    "GET /\u00ff HTTP/1.1\r\nHost: r\r\n\r\n",
    "GET /a\tb HTTP/1.1\r\nHost: r\r\n\r\n",
    "GET / HTTP/1.2\r\nHost: r\r\n\r\n",
    "GET / HTTP/2\r\nHost: r\r\n\r\n",
    "GET / http/1.1\r\nHost: r\r\n\r\n",
    "GET / SIP/2.0\r\nHost: r\r\n\r\n",
    "GET / HTTP/1.1\rX\r\nHost: r\r\n\r\n",
    "GET / HTTP/1.1\r\nHost : r\r\n\r\n", // space before the colon
    "GET / HTTP/1.1\r\nHost: r\r\nNoColon\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\n: empty name\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nX/A: b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nX-\u00ff: 1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nX-A: a\r\n folded\r\n\r\n", // obs-fold
    "GET / HTTP/1.1\r\nHost: r\r\nX-A: a\rb\r\n\r\n", // bare CR
    "GET / HTTP/1.1\r\nHost: r\r\nX-A: a\nb\r\n\r\n", // bare LF
    "GET / HTTP/1.1\r\nHost: r\r\nX-A: a\u0000\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nX-A: a\u007f\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nContent-Length: -1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nContent-Length: 1 2\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nContent-Length: 18446744073709551616\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n" +
    "Transfer-Encoding: chunked\r\n\r\n",
  ];
  for (const text of bad) assertEquals(status(text), 400, JSON.stringify(text));
});

Deno.test("incomplete heads: partial, or 400 as soon as the request line cannot be valid", () => {
  assertEquals(parse(""), { kind: "partial", empty: true });
  assertEquals(parse("\r\n\r\n\r"), { kind: "partial", empty: true });
  assertEquals(parse("G"), { kind: "partial", empty: false });
  assertEquals(parse("M-SEA"), { kind: "partial", empty: false });
  assertEquals(parse("GET / HTTP/1.1\r\nHo"), { kind: "partial", empty: false });
  for (
    const text of [
      "\u0000",
      "\u0016\u0003\u0001", // a TLS record
      "SSH-2.0-OpenSSH_9.6\r\n",
      "PROXY TCP4 1.2.3.4",
      "GETS ",
      "X".repeat(10_000),
      "GET / HTTP/1.1\nHost: r\n\n", // LF-only line endings
      "GET / HTTP/1.1\rHost: r\r\r", // CR-only line endings
    ]
  ) {
    assertEquals(status(text), 400, JSON.stringify(text.slice(0, 40)));
  }
});

Deno.test("a head over the limit is 431, counted from the request line to the blank line", () => {
  const head = (size: number) => {
    const start = "GET / HTTP/1.1\r\nHost: r\r\nX: ";
    return start + "a".repeat(size - start.length - 4) + "\r\n\r\n";
  };
  assertEquals(head(100).length, 100);
  assertEquals(status(head(100), 100), "head");
  assertEquals(status("\r\n" + head(100), 100), "head"); // leading blank lines do not count
  assertEquals(status(head(101), 100), 431);
  assertEquals(status(head(101).slice(0, 101 - 4), 100), "partial");
  assertEquals(status(head(200).slice(0, 150), 100), 431); // incomplete and already too large
  assertEquals(status("GET /" + "a".repeat(9000), 8192), 414); // the request line alone
  assertEquals(status("\r\n".repeat(60), 100), 431);
});

Deno.test("strictness (issue 12 item 7): bare LF, framing, Host, 414, 505, fragments, *", () => {
  const cases: [string, number | string][] = [
    // a head ending in a bare LF: 400 at once, not partial (which waited 5 s for a 408)
    ["GET / HTTP/1.1\r\nHost: r\r\n\n", 400],
    ["GET / HTTP/1.1\r\nHost: r\n\n", 400],
    ["GET / HTTP/1.1\r\nHost: r\r\nX: 1\n", 400],
    // RFC 9112 6.3: a Transfer-Encoding whose last coding is not chunked
    ["GET / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: identity\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: gzip\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "head"],
    // RFC 9112 3.2: exactly one valid Host on HTTP/1.1
    ["GET / HTTP/1.1\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: user@rig\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: rig:99999x\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: [::1]:8081\r\n\r\n", "head"],
    ["GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]:8081\r\n\r\n", "head"], // RFC 6874 zone
    ["GET / HTTP/1.1\r\nHost: rig.lan.:\r\n\r\n", "head"], // empty port is allowed
    ["GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: 192.168.1.5:8081\r\n\r\n", "head"],
    ["GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    // a request target over the limit: 414, not 431
    ["GET /" + "a".repeat(200) + " HTTP/1.1\r\nHost: r\r\n\r\n", 414],
    // versions: other HTTP majors 505, other protocols 400
    ["GET / HTTP/2.0\r\nHost: r\r\n\r\n", 505],
    ["GET / HTTP/0.9\r\nHost: r\r\n\r\n", 505],
    ["GET / HTTP/3.0\r\n", 505],
    ["GET / RTSP/1.0\r\n\r\n", 400],
    ["GET / SIP/2.0\r\n\r\n", 400],
    // fragments never; `*` only with OPTIONS
    ["GET /health#frag HTTP/1.1\r\nHost: r\r\n\r\n", 400],
    ["GET * HTTP/1.1\r\nHost: r\r\n\r\n", 400],
    ["HEAD * HTTP/1.1\r\nHost: r\r\n\r\n", 400],
    ["OPTIONS * HTTP/1.1\r\nHost: r\r\n\r\n", "head"],
  ];
  for (const [text, expected] of cases) {
    assertEquals(status(text, 100), expected, JSON.stringify(text.slice(0, 60)));
  }
});

Deno.test("the head reader: one byte per read costs the same per byte, and is cut short", () => {
  const head = "GET / HTTP/1.1\r\nHost: r\r\nX: " + "a".repeat(8000) + "\r\n\r\n";
  const feedAll = (limits: Partial<HeadLimits>, size: number) => {
    const reader = createHeadReader(limits);
    let result: FeedResult = { kind: "partial", empty: true };
    for (let i = 0; i < head.length && result.kind === "partial"; i += size) {
      result = feedHead(reader, bytes(head.slice(i, i + size)));
    }
    return { result, reader };
  };
  // unbounded reads: the head is found, and the scanning work is linear (each byte once)
  const whole = feedAll({}, head.length);
  assertEquals(whole.result.kind, "head");
  const trickled = feedAll({ freeReads: 1e9, maxReads: 1e9 }, 1);
  assertEquals(trickled.result.kind, "head");
  assertEquals(trickled.reader.work, whole.reader.work, "work per byte does not grow");
  assertEquals(trickled.reader.reads, head.length);
  // default bounds: a one-byte trickle is cut after freeReads + 1 reads
  const cut = feedAll({}, 1);
  assertEquals(cut.result.kind, "slow");
  assertEquals(cut.reader.reads, DEFAULT_HEAD_LIMITS.freeReads + 1);
  // a human typing line by line (one line per read, well under 8 reads) is fine
  const typed = createHeadReader();
  let last: FeedResult = { kind: "partial", empty: true };
  for (const line of ["GET / HTTP/1.1\r\n", "Host: rig\r\n", "\r\n"]) {
    last = feedHead(typed, bytes(line));
  }
  assertEquals(last.kind, "head");
  // 32 reads at most, whatever their size (40-byte header lines: the average is fine)
  const many = createHeadReader();
  let r: FeedResult = feedHead(many, bytes("GET / HTTP/1.1\r\nHost: rig\r\n"));
  for (let i = 0; i < 70 && r.kind === "partial"; i++) {
    r = feedHead(many, bytes(`X-${String(i).padStart(2, "0")}: ${"b".repeat(31)}\r\n`));
  }
  assertEquals([r.kind, many.reads], ["slow", DEFAULT_HEAD_LIMITS.maxReads + 1]);
});
