/**
 * Shared test helper: the malformed-HTTP corpus (issue 6, item 1) and its judge, used by
 * `tests/hostile_http_test.ts` (every case, then a good request) and `tests/soak_test.ts` (the
 * corpus in a loop beside the load).
 *
 * @module
 */

import { errorBody } from "../src/http/responses.ts";
import {
  bodyText,
  exchange,
  headerValues,
  latin1,
  type ParsedResponse,
  parseResponse,
  responseProblems,
} from "./_rawhttp.ts";

/** One hostile request and what the server must do with it. */
export interface Case {
  /** Family, for the summary. */
  family: string;
  /** What it is. */
  name: string;
  /** The bytes, in chunks written back to back. */
  send: (string | Uint8Array)[];
  /** Acceptable statuses (empty: only a clean close is acceptable). */
  expect: number[];
  /** A clean close with no byte sent is acceptable too (documented cases only). */
  mayClose?: boolean;
  /** The method, when the answer must follow HEAD rules. */
  method?: string;
  /** Exactly this body is required (e.g. the 405 body). */
  bodyIs?: string;
  /** Half-close after sending (for incomplete requests: the server sees the EOF). */
  halfClose?: boolean;
  /** The only acceptable `Content-Type` (default `application/json`; the status page's is HTML). */
  contentType?: string;
}

const CRLF = "\r\n";
/** The status page's `Content-Type` (`GET /`). */
const PAGE_TYPE = "text/html; charset=utf-8";

/**
 * A request: the line, the header lines, the blank line, the body.
 *
 * @param line the request line
 * @param headers header lines
 * @param body the body
 * @returns the request text
 */
export function request(line: string, headers: string[], body = ""): string {
  return [line, ...headers, "", body].join(CRLF);
}

/** Every control byte 0x00-0x1f and 0x7f, for injection sweeps. */
const CONTROLS = [...Array.from({ length: 32 }, (_, i) => i), 0x7f];

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}

/**
 * The corpus. Expected statuses are the documented answers (docs/api.md, src/http/listen.ts):
 * 400 for anything the HTTP parser rejects, 431 for a head over 8 KiB, 405 for a well-formed
 * method other than GET/HEAD/OPTIONS, 404 for an unknown path, 401/403 for missing/wrong
 * credentials, 200 for requests that are odd but valid.
 *
 * @param token the server's `ACCESS_TOKEN` (good requests carry it)
 * @returns the cases, in a fixed order
 */
export function corpus(token: string): Case[] {
  const TOKEN = token;
  const AUTH = `Authorization: Bearer ${token}`;
  const req = (line: string, headers: string[] = ["Host: rig", AUTH], body = ""): string =>
    request(line, headers, body);
  const cases: Case[] = [];
  const add = (family: string, name: string, send: Case["send"], expect: number[], more = {}) =>
    cases.push({ family, name, send, expect, ...more });

  // 1. Broken request lines.
  const lines: [string, number[]][] = [
    ["", [400]],
    [" ", [400]],
    ["GET", [400]],
    ["GET /health", [200]], // HTTP/0.9-style line followed by headers: served as HTTP/1.x
    ["GET  /health HTTP/1.1", [200]], // llhttp (node's and XMRig's parser) allows this
    ["GET /health  HTTP/1.1", [200]],
    ["GET /health HTTP/1.1 ", [400]],
    [" GET /health HTTP/1.1", [400]],
    ["GET\t/health\tHTTP/1.1", [400]],
    ["GET /health HTTP/1.1 extra", [400]],
    ["/health HTTP/1.1", [400]],
    ["GET HTTP/1.1", [400]],
    ["GET /hea lth HTTP/1.1", [400]],
    ["GET /health HTTP/1.1\rX", [400]],
    ["GE T /health HTTP/1.1", [400]],
    ["G\u00c9T /health HTTP/1.1", [400]],
    ["GET\u0000 /health HTTP/1.1", [400]],
    ["123 /health HTTP/1.1", [400]],
    ["GET /health http/1.1", [400]],
    ["GET /health HTTP/1.1/", [400]],
    ["GET /health HTTP /1.1", [400]],
    ["GET /health HTTP/", [400]],
    ["GET /health H", [400]],
    ["GET /health HTTP/1.1" + "1".repeat(20), [400]],
    ["=?utf-8?Q?GET?= /health HTTP/1.1", [400]],
    ["GET " + "/" + "a".repeat(9000) + " HTTP/1.1", [414]], // the target alone: 414 (issue 12)
    ["X".repeat(10_000) + " /health HTTP/1.1", [400]],
  ];
  for (const [line, expect] of lines) {
    add("request line", JSON.stringify(line.slice(0, 40)), [latin1(req(line))], expect);
  }
  add("request line", "LF-only line endings", ["GET /health HTTP/1.1\nHost: rig\n\n"], [400]);
  add("request line", "CR-only line endings", ["GET /health HTTP/1.1\rHost: rig\r\r"], [400]);
  add("request line", "leading empty lines (RFC 9112 2.2)", [
    CRLF + CRLF + req("GET /tune HTTP/1.1"),
  ], [
    200,
  ]);
  const eof = { mayClose: true, halfClose: true };
  add("request line", "only CRLFs, then EOF", [CRLF.repeat(50)], [], eof);
  add("request line", "empty connection, then EOF", [], [], eof);
  add("request line", "a single byte, then EOF", ["G"], [400], eof);
  add(
    "request line",
    "head cut before the blank line, then EOF",
    [
      "GET /health HTTP/1.1\r\nHost: rig\r\n",
    ],
    [400],
    eof,
  );
  add("request line", "request line only, then EOF", ["GET /health HTTP/1.1\r\n"], [400], eof);
  add(
    "request line",
    "body cut short, then EOF",
    [
      req("GET /health HTTP/1.1", ["Host: rig", AUTH, "Content-Length: 10"], "abc"),
    ],
    [200],
    eof,
  );

  // 2. Versions.
  const versions: [string, number[]][] = [
    ["HTTP/1.0", [200]],
    ["HTTP/1.1", [200]],
    ["HTTP/0.9", [505]], // a well-formed version other than 1.x: 505 (issue 12)
    ["HTTP/1.2", [400]],
    ["HTTP/1.9", [400]],
    ["HTTP/2", [400]],
    ["HTTP/2.0", [505]], // not HTTP/1.x: 505 HTTP_VERSION_NOT_SUPPORTED (issue 12)
    ["HTTP/3.0", [505]],
    ["HTTP/9.9", [505]],
    ["HTTP/1", [400]],
    ["HTTP/1.10", [400]],
    ["HTTP/01.1", [400]],
    ["HTTPS/1.1", [400]],
    ["HTTP/a.b", [400]],
    ["HTTP/1.1\u0000", [400]],
    ["HTTP/-1.1", [400]],
    ["SIP/2.0", [400]],
    ["RTSP/1.0", [400]], // not HTTP: 400 (issue 12)
  ];
  for (const [version, expect] of versions) {
    add("version", version, [latin1(req(`GET /health ${version}`))], expect);
  }

  // 3. Huge headers (the head limit is 8 KiB: 431 above it).
  add("huge headers", "one 9 KiB header", [req("GET /health HTTP/1.1", [
    "Host: rig",
    AUTH,
    `X-Big: ${"a".repeat(9 * 1024)}`,
  ])], [431]);
  add("huge headers", "one 64 KiB header", [req("GET /health HTTP/1.1", [
    "Host: rig",
    AUTH,
    `X-Big: ${"a".repeat(64 * 1024)}`,
  ])], [431]);
  add("huge headers", "one 1 MiB header", [req("GET /health HTTP/1.1", [
    "Host: rig",
    AUTH,
    `X-Big: ${"a".repeat(1024 * 1024)}`,
  ])], [431]);
  add("huge headers", "a 10 KiB header name", [req("GET /health HTTP/1.1", [
    "Host: rig",
    AUTH,
    `${"X".repeat(10 * 1024)}: 1`,
  ])], [431]);
  add("huge headers", "2,000 small headers", [req("GET /health HTTP/1.1", [
    "Host: rig",
    AUTH,
    ...Array.from({ length: 2000 }, (_, i) => `X-${i}: ${i}`),
  ])], [431]);
  add("huge headers", "120 small headers (under 8 KiB)", [req("GET /health HTTP/1.1", [
    "Host: rig",
    AUTH,
    ...Array.from({ length: 120 }, (_, i) => `X-${i}: ${i}`),
  ])], [200]);
  add("huge headers", "a 7 KiB header (under the limit)", [req("GET /health HTTP/1.1", [
    "Host: rig",
    AUTH,
    `X-Big: ${"a".repeat(7 * 1024)}`,
  ])], [200]);
  add("huge headers", "a 9 KiB Authorization", [req("GET /health HTTP/1.1", [
    "Host: rig",
    `Authorization: Bearer ${"t".repeat(9 * 1024)}`,
  ])], [431]);
  add("huge headers", "a 6 KiB wrong Authorization", [req("GET /health HTTP/1.1", [
    "Host: rig",
    `Authorization: Bearer ${"t".repeat(6 * 1024)}`,
  ])], [403]);
  add("huge headers", "a 9 KiB Host", [req("GET /health HTTP/1.1", [
    `Host: ${"h".repeat(9 * 1024)}`,
    AUTH,
  ])], [431]);
  add(
    "huge headers",
    "a 9 KiB query string",
    [req(`GET /health?${"q".repeat(9 * 1024)} HTTP/1.1`)],
    [
      414, // the request target alone is over the limit (issue 12)
    ],
  );

  // 4. Duplicate headers.
  const dup = (name: string, headers: string[], expect: number[]) =>
    add("duplicate headers", name, [req("GET /health HTTP/1.1", headers)], expect);
  dup("two Host", ["Host: rig", "Host: evil", AUTH], [400]); // RFC 9112 3.2 (issue 12)
  dup("two equal Content-Length", ["Host: rig", AUTH, "Content-Length: 0", "Content-Length: 0"], [
    400,
  ]);
  add("duplicate headers", "two different Content-Length", [
    req(
      "GET /health HTTP/1.1",
      ["Host: rig", AUTH, "Content-Length: 1", "Content-Length: 2"],
      "ab",
    ),
  ], [400]);
  add("duplicate headers", "two Transfer-Encoding", [
    req("GET /health HTTP/1.1", [
      "Host: rig",
      AUTH,
      "Transfer-Encoding: chunked",
      "Transfer-Encoding: chunked",
    ], "0\r\n\r\n"),
  ], [400]);
  dup("right then wrong Authorization", ["Host: rig", AUTH, "Authorization: Bearer wrong"], [200]);
  dup("wrong then right Authorization", ["Host: rig", "Authorization: Bearer wrong", AUTH], [403]);
  dup("empty then right Authorization", ["Host: rig", "Authorization:", AUTH], [403]);
  dup("two Connection", ["Host: rig", AUTH, "Connection: keep-alive", "Connection: upgrade"], [
    200,
  ]);
  dup("100 Authorization headers", [
    "Host: rig",
    ...Array.from({ length: 100 }, () => "Authorization: Bearer wrong"),
  ], [403]);
  dup("header named __proto__", ["Host: rig", AUTH, "__proto__: x", "constructor: y"], [200]);
  dup("header named hasOwnProperty", ["Host: rig", AUTH, "hasOwnProperty: 1", "toString: 1"], [
    200,
  ]);
  dup("no Host (HTTP/1.1)", [AUTH], [400]);
  dup("empty Host", ["Host:", AUTH], [200]);

  // 5. Header injection: CR/LF and other control bytes in header values and names.
  for (const byte of CONTROLS) {
    const value = `a${String.fromCharCode(byte)}b`;
    // TAB (0x09) is legal inside a value; CR before LF ends the line; LF alone ends it too.
    const expect = byte === 0x09 ? [200] : [400];
    add("header injection", `${hex(byte)} in a header value`, [
      latin1(req("GET /health HTTP/1.1", ["Host: rig", AUTH, `X-Inject: ${value}`])),
    ], expect);
  }
  add("header injection", "CRLF + Set-Cookie in a value", [
    req("GET /health HTTP/1.1", ["Host: rig", AUTH, "X-A: a\r\nSet-Cookie: pwned=1"]),
  ], [200]);
  add("header injection", "bare CR + header in a value", [
    req("GET /health HTTP/1.1", ["Host: rig", AUTH, "X-A: a\rSet-Cookie: pwned=1"]),
  ], [400]);
  add("header injection", "obs-fold continuation line", [
    req("GET /health HTTP/1.1", ["Host: rig", AUTH, "X-A: a", " folded"]),
  ], [400]);
  add("header injection", "space before the colon", [
    req("GET /health HTTP/1.1", ["Host : rig", AUTH]),
  ], [400]);
  add("header injection", "header without a colon", [
    req("GET /health HTTP/1.1", ["Host: rig", AUTH, "NoColonHere"]),
  ], [400]);
  add("header injection", "header name with a space", [
    req("GET /health HTTP/1.1", ["Host: rig", AUTH, "X A: b"]),
  ], [400]);
  add("header injection", "header name with a slash", [
    req("GET /health HTTP/1.1", ["Host: rig", AUTH, "X/A: b"]),
  ], [400]);
  add("header injection", "empty header name", [
    req("GET /health HTTP/1.1", ["Host: rig", AUTH, ": b"]),
  ], [400]);
  add("header injection", "Authorization with CR inside", [
    latin1(req("GET /health HTTP/1.1", ["Host: rig", `Authorization: Bearer ${TOKEN}\rX`])),
  ], [400]);
  add("header injection", "Authorization with a trailing NUL", [
    latin1(req("GET /health HTTP/1.1", ["Host: rig", `Authorization: Bearer ${TOKEN}\u0000`])),
  ], [400]);
  add("header injection", "%0d%0a in the path (not decoded, not echoed)", [
    req("GET /health%0d%0aSet-Cookie:%20pwned=1 HTTP/1.1"),
  ], [404]);
  add("header injection", "%0d%0a in the query (ignored)", [
    req("GET /health?x=%0d%0aSet-Cookie:%20pwned=1 HTTP/1.1"),
  ], [200]);

  // 6. Absolute-form, dot segments and percent-encoding (routing is exact; nothing is decoded).
  const paths: [string, number[]][] = [
    ["http://rig/health", [200]],
    ["http://rig:8081/2/summary", [200]],
    ["https://rig/tune", [200]],
    ["http://user:pass@rig/health", [200]],
    ["http://evil.example/health?x=1", [200]],
    ["HTTP://RIG/health", [200]],
    ["http://rig", [200]],
    ["http://rig?x", [404]],
    ["http://[::1]:8081/health", [200]],
    ["ftp://rig/health", [200]],
    ["file:///etc/passwd", [404]],
    ["//health", [404]],
    ["///health", [404]],
    ["/./health", [404]],
    ["/../health", [404]],
    ["/../../../../etc/passwd", [404]],
    ["/health/..", [404]],
    ["/health/../tune", [404]],
    ["/%2e%2e/health", [404]],
    ["/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", [404]],
    ["/..%2f..%2fetc%2fpasswd", [404]],
    ["/%c0%ae%c0%ae/etc/passwd", [404]],
    ["/..\\..\\etc\\passwd", [404]],
    ["/%68ealth", [404]],
    ["/health%00", [404]],
    ["/health%", [404]],
    ["/health%zz", [404]],
    ["/HEALTH", [404]],
    ["/health/", [404]],
    ["/health;x=1", [404]],
    ["/health#frag", [400]], // a fragment is never sent (RFC 9112 3.2; issue 12)
    ["/health?", [200]],
    ["/health?a=1&b=2", [200]],
    ["/health??", [200]],
    ["/2/summary?x=../../etc/passwd", [200]],
    ["*", [400]], // `*` is for OPTIONS only (RFC 9112 3.2.4; issue 12)
    ["health", [400]],
    ["/", [200]],
    ["/favicon.ico", [404]],
    ["/1/config", [404]],
    ["/2/config", [404]],
    ["/json_rpc", [404]],
    ["/metrics/../health", [404]],
    ["/1/summary", [200]],
    ["/api.json", [200]],
    ["/2/backends", [200]],
    ["/proc/self/environ", [404]],
    ["/run/rigforge-api/snapshot.json", [404]],
  ];
  for (const [path, expect] of paths) {
    // `/` (and an absolute-form target without a path) is the status page: HTML
    const page = path === "/" || path === "http://rig";
    add(
      "paths",
      path,
      [req(`GET ${path} HTTP/1.1`)],
      expect,
      page ? { contentType: PAGE_TYPE } : {},
    );
  }

  // 7. NUL bytes.
  const nul: [string, string, number[]][] = [
    ["in the method", "G\u0000ET /health HTTP/1.1\r\nHost: rig\r\n\r\n", [400]],
    ["in the path", "GET /hea\u0000lth HTTP/1.1\r\nHost: rig\r\n\r\n", [400]],
    ["in the query", "GET /health?\u0000 HTTP/1.1\r\nHost: rig\r\n\r\n", [400]],
    ["in the version", "GET /health HTTP\u0000/1.1\r\nHost: rig\r\n\r\n", [400]],
    ["in a header name", `GET /health HTTP/1.1\r\nHo\u0000st: rig\r\n${AUTH}\r\n\r\n`, [400]],
    ["before the request", `\u0000GET /health HTTP/1.1\r\nHost: rig\r\n\r\n`, [400]],
    ["1 KiB of NULs", "\u0000".repeat(1024), [400]],
    [
      "in the body",
      req("GET /health HTTP/1.1", ["Host: rig", AUTH, "Content-Length: 3"], "\u0000\u0000\u0000"),
      [200],
    ],
  ];
  for (const [name, text, expect] of nul) add("NUL bytes", name, [latin1(text)], expect);

  // 8. Invalid UTF-8 and other high bytes.
  const utf: [string, string, number[]][] = [
    ["0xff in the path", "GET /\u00ff\u00fe HTTP/1.1", [400]],
    ["lone continuation byte in the path", "GET /health\u0080 HTTP/1.1", [400]],
    ["overlong '/' in the path", "GET /\u00c0\u00afhealth HTTP/1.1", [400]],
    ["encoded surrogate in the path", "GET /\u00ed\u00a0\u0080 HTTP/1.1", [400]],
    ["0xff in the query", "GET /health?\u00ff HTTP/1.1", [400]],
  ];
  for (const [name, line, expect] of utf) add("invalid UTF-8", name, [latin1(req(line))], expect);
  const utfHeaders: [string, string, number[]][] = [
    ["0xff in a header value", "X-A: \u00ff\u00fe", [200]], // obs-text (RFC 9110 5.5)
    ["truncated sequence in a value", "X-A: \u00e2\u0082", [200]],
    ["0xff in a header name", "X-\u00ff: 1", [400]],
    ["0xff in the Authorization value", "Authorization: Bearer \u00ff\u00ff", [403]],
    ["0xff in Host", "Host: \u00ff", [400]], // a second, invalid Host (issue 12)
  ];
  for (const [name, header, expect] of utfHeaders) {
    const headers = header.startsWith("Authorization") ? ["Host: rig", header] : [
      "Host: rig",
      AUTH,
      header,
    ];
    add("invalid UTF-8", name, [latin1(req("GET /health HTTP/1.1", headers))], expect);
  }
  add("invalid UTF-8", "a body of 0xff bytes", [
    latin1(
      req("GET /health HTTP/1.1", ["Host: rig", AUTH, "Content-Length: 4"], "\u00ff".repeat(4)),
    ),
  ], [200]);

  // 9. Requests with bodies (never read; a GET with one is still answered).
  const bodies: [string, string, string[], string, number[]][] = [
    ["GET with a body", "GET /health", ["Content-Length: 5"], "hello", [200]],
    ["GET with Content-Length: 0", "GET /health", ["Content-Length: 0"], "", [200]],
    [
      "GET announcing 100 MB, sending 5 bytes",
      "GET /health",
      ["Content-Length: 100000000"],
      "hello",
      [200],
    ],
    ["GET with a 64 KiB body", "GET /health", ["Content-Length: 65536"], "b".repeat(65536), [200]],
    ["Content-Length: -1", "GET /health", ["Content-Length: -1"], "", [400]],
    ["Content-Length: abc", "GET /health", ["Content-Length: abc"], "", [400]],
    ["Content-Length: 1e3", "GET /health", ["Content-Length: 1e3"], "", [400]],
    ["Content-Length: 0x10", "GET /health", ["Content-Length: 0x10"], "", [400]],
    ["Content-Length: 1 2", "GET /health", ["Content-Length: 1 2"], "ab", [400]],
    ["Content-Length: 2^64+1", "GET /health", ["Content-Length: 18446744073709551617"], "", [400]],
    ["Content-Length: +5", "GET /health", ["Content-Length: +5"], "hello", [400]],
    [
      "POST with a JSON body",
      "POST /2/summary",
      ["Content-Type: application/json", "Content-Length: 2"],
      "{}",
      [405],
    ],
    [
      "PUT /1/config",
      "PUT /1/config",
      ["Content-Type: application/json", "Content-Length: 2"],
      "{}",
      [405],
    ],
    [
      "POST /json_rpc pause",
      "POST /json_rpc",
      ["Content-Type: application/json", "Content-Length: 36"],
      '{"method":"pause","id":1,"x":"yyyy"}',
      [405],
    ],
    ["DELETE with a body", "DELETE /health", ["Content-Length: 3"], "abc", [405]],
    ["PATCH announcing 1 GB", "PATCH /health", ["Content-Length: 1000000000"], "x", [405]],
    [
      "Expect: 100-continue on GET",
      "GET /health",
      ["Expect: 100-continue", "Content-Length: 3"],
      "abc",
      [200], // no interim 100: answered as is
    ],
    ["Expect: something-else", "GET /health", ["Expect: 417-please"], "", [200]],
  ];
  for (const [name, line, extra, body, expect] of bodies) {
    add(
      "bodies",
      name,
      [latin1(req(`${line} HTTP/1.1`, ["Host: rig", AUTH, ...extra], body))],
      expect,
    );
  }

  // 10. Chunked bodies on GET (and request-smuggling shapes).
  const chunked: [string, string[], string, number[]][] = [
    ["valid chunked body", ["Transfer-Encoding: chunked"], "5\r\nhello\r\n0\r\n\r\n", [200]],
    ["chunked, no body sent", ["Transfer-Encoding: chunked"], "", [200]],
    ["bad chunk size", ["Transfer-Encoding: chunked"], "zz\r\nhello\r\n0\r\n\r\n", [200]], // bodies are never read
    ["chunk size overflow", ["Transfer-Encoding: chunked"], "ffffffffffffffffff\r\n", [200]],
    ["chunk extension", ["Transfer-Encoding: chunked"], "5;ext=1\r\nhello\r\n0\r\n\r\n", [200]],
    ["chunked + Content-Length", ["Transfer-Encoding: chunked", "Content-Length: 5"], "0\r\n\r\n", [
      400,
    ]],
    ["Content-Length + chunked", ["Content-Length: 5", "Transfer-Encoding: chunked"], "0\r\n\r\n", [
      400,
    ]],
    ["gzip, chunked", ["Transfer-Encoding: gzip, chunked"], "0\r\n\r\n", [200]],
    ["chunked, gzip (not last)", ["Transfer-Encoding: chunked, gzip"], "", [400]],
    // RFC 9112 6.3: the last coding must be chunked (issue 12)
    ["Transfer-Encoding: xchunked", ["Transfer-Encoding: xchunked"], "", [400]],
    ["Transfer-Encoding: identity", ["Transfer-Encoding: identity"], "", [400]],
    ["Transfer-Encoding: gzip", ["Transfer-Encoding: gzip"], "", [400]],
    ["Transfer-Encoding with a tab", ["Transfer-Encoding:\tchunked"], "0\r\n\r\n", [200]],
    [
      "chunked with a smuggled request",
      ["Transfer-Encoding: chunked"],
      "0\r\n\r\nGET /tune HTTP/1.1\r\nHost: rig\r\n\r\n",
      [200],
    ],
  ];
  for (const [name, extra, body, expect] of chunked) {
    add(
      "chunked",
      name,
      [req("GET /health HTTP/1.1", ["Host: rig", AUTH, ...extra], body)],
      expect,
    );
  }

  // 11. Pipelining: only the first request is answered (one response, then the close).
  const good = req("GET /health HTTP/1.1");
  add("pipelined", "two GETs", [good + req("GET /tune HTTP/1.1")], [200]);
  add("pipelined", "ten GETs", [good.repeat(10)], [200]);
  add("pipelined", "200 GETs in one write", [good.repeat(200)], [200]);
  add("pipelined", "GET then POST", [good + req("POST /health HTTP/1.1")], [200]);
  add("pipelined", "GET then garbage", [good + "\u0001\u0002garbage\r\n\r\n"], [200]);
  add("pipelined", "GET then a 64 KiB header", [
    good + req("GET /health HTTP/1.1", ["Host: rig", `X-Big: ${"a".repeat(65536)}`]),
  ], [200]);
  add("pipelined", "unauthenticated GET then a good one", [
    req("GET /health HTTP/1.1", ["Host: rig"]) + good,
  ], [401]);
  add("pipelined", "GET with Connection: keep-alive twice", [
    req("GET /health HTTP/1.1", ["Host: rig", AUTH, "Connection: keep-alive"]).repeat(2),
  ], [200]);

  // 12. HTTP/1.0.
  add("HTTP/1.0", "GET without Host", ["GET /health HTTP/1.0\r\n" + AUTH + "\r\n\r\n"], [200]);
  add("HTTP/1.0", "GET with Host", [req("GET /tune HTTP/1.0")], [200]);
  add("HTTP/1.0", "keep-alive asked", [
    req("GET /health HTTP/1.0", ["Host: rig", AUTH, "Connection: keep-alive"]),
  ], [200]);
  add("HTTP/1.0", "HEAD", [req("HEAD /health HTTP/1.0")], [200], { method: "HEAD" });
  add("HTTP/1.0", "POST", [req("POST /health HTTP/1.0", ["Host: rig", "Content-Length: 0"])], [
    405,
  ]);
  add("HTTP/1.0", "no token", ["GET /health HTTP/1.0\r\n\r\n"], [401]);
  add("HTTP/1.0", "summary, then two requests pipelined", [
    req("GET /2/summary HTTP/1.0").repeat(2),
  ], [200]);

  // 13. HTTP/2 on the plain port.
  const settings = "\u0000\u0000\u0000\u0004\u0000\u0000\u0000\u0000\u0000";
  add("HTTP/2", "prior-knowledge preface", ["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], [400]);
  add("HTTP/2", "preface and an empty SETTINGS frame", [
    latin1("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings),
  ], [400]);
  add("HTTP/2", "a SETTINGS frame alone", [latin1(settings)], [400]);
  add("HTTP/2", "h2c upgrade request", [
    req("GET /health HTTP/1.1", [
      "Host: rig",
      AUTH,
      "Connection: Upgrade, HTTP2-Settings",
      "Upgrade: h2c",
      "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
    ]),
  ], [200]); // the upgrade is ignored: answered over HTTP/1.1
  add(
    "HTTP/2",
    "websocket upgrade request",
    [
      req("GET /health HTTP/1.1", [
        "Host: rig",
        AUTH,
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
      ]),
    ],
    [200], // the upgrade is ignored
  );

  // 14. TLS and other binary protocols on the plain port.
  const tls = (version: string, label: string) => {
    const random = "R".repeat(32);
    const hello = "\u0001\u0000\u0000\u00a1" + version + random +
      "\u0000\u0000\u0002\u0013\u0001\u0001\u0000\u0000\u0076" + "\u0000".repeat(118);
    add("TLS", `ClientHello (${label})`, [latin1("\u0016\u0003\u0001\u0000\u00a5" + hello)], [400]);
  };
  tls("\u0003\u0003", "TLS 1.2/1.3 record");
  tls("\u0003\u0001", "TLS 1.0");
  tls("\u0003\u0000", "SSL 3.0");
  add("TLS", "SSLv2-compatible ClientHello", [
    latin1("\u0080\u002e\u0001\u0003\u0001\u0000\u0015\u0000\u0000\u0000\u0010" + "C".repeat(37)),
  ], [400]);
  add("TLS", "TLS alert record", [latin1("\u0015\u0003\u0003\u0000\u0002\u0002\u0028")], [400]);
  add("binary", "SSH banner", ["SSH-2.0-OpenSSH_9.6\r\n"], [400]);
  add("binary", "stratum login JSON", [
    '{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"x","pass":"y"}}\n',
  ], [400]);
  add("binary", "Redis inline command", ["*1\r\n$4\r\nPING\r\n"], [400]);
  add("binary", "PROXY protocol v1 header", [
    "PROXY TCP4 1.2.3.4 5.6.7.8 1111 8081\r\n" + req("GET /health HTTP/1.1"),
  ], [400]);
  add("binary", "4 KiB of random bytes", [randomBytes(4096, 0x5eed)], [400]);
  add("binary", "64 KiB of random bytes", [randomBytes(65536, 0xbeef)], [400]);

  // 15. Methods.
  const methods: [string, number[], string?][] = [
    ["OPTIONS", [200]],
    ["HEAD", [200], "HEAD"],
    ["POST", [405]],
    ["PUT", [405]],
    ["DELETE", [405]],
    ["PATCH", [405]],
    ["TRACE", [405]],
    ["PROPFIND", [405]],
    ["MKCOL", [405]],
    ["PURGE", [405]],
    ["SEARCH", [405]],
    ["LINK", [405]],
    ["get", [400]],
    ["Get", [400]],
    ["FOO", [400]],
    ["GETS", [400]],
    ["G", [400]],
    ["BREW", [400]],
    ["POST\u00ff", [400]],
  ];
  for (const [method, expect, kind] of methods) {
    add(
      "methods",
      method,
      [latin1(req(`${method} /health HTTP/1.1`))],
      expect,
      kind ? { method: kind } : {},
    );
  }
  add("methods", "CONNECT to a host", [req("CONNECT evil.example:443 HTTP/1.1")], [405]);
  add("methods", "OPTIONS * (no token)", [req("OPTIONS * HTTP/1.1", ["Host: rig"])], [200]);
  add(
    "methods",
    "POST without a token is 405, not 401",
    [
      req("POST /health HTTP/1.1", ["Host: rig"]),
    ],
    [405],
    { bodyIs: errorBody(405) },
  );
  add("methods", "HEAD of /2/summary", [req("HEAD /2/summary HTTP/1.1")], [200], {
    method: "HEAD",
  });

  // 16. Credentials on the wire.
  const auths: [string, string[], number[]][] = [
    ["none", [], [401]],
    ["empty", ["Authorization:"], [403]],
    ["lowercase scheme", [`Authorization: bearer ${TOKEN}`], [403]],
    ["two spaces", [`Authorization: Bearer  ${TOKEN}`], [403]],
    ["tab after the scheme", [`Authorization: Bearer\t${TOKEN}`], [403]],
    ["trailing space", [`Authorization: Bearer ${TOKEN} `], [200]], // the parser drops it (docs/api.md)
    ["no space after the colon", [`Authorization:Bearer ${TOKEN}`], [200]],
    ["header name upper-case", [`AUTHORIZATION: Bearer ${TOKEN}`], [200]],
    ["token prefix", [`Authorization: Bearer ${TOKEN.slice(0, -1)}`], [403]],
    ["token plus a byte", [`Authorization: Bearer ${TOKEN}x`], [403]],
    ["Basic", ["Authorization: Basic dXNlcjpwYXNz"], [403]],
    ["query token only", [], [401]],
  ];
  for (const [name, headers, expect] of auths) {
    const target = name === "query token only" ? `/health?access_token=${TOKEN}` : "/health";
    add("auth", name, [req(`GET ${target} HTTP/1.1`, ["Host: rig", ...headers])], expect);
  }

  // 18. Strictness (issue 12 item 7): each answered at once with its status.
  const strict: [string, (string | Uint8Array)[], number[]][] = [
    ["head ending in a bare LF (CRLF LF)", ["GET /health HTTP/1.1\r\nHost: rig\r\n\n"], [400]],
    ["head ending in LF LF", ["GET /health HTTP/1.1\r\nHost: rig\n\n"], [400]],
    ["a bare LF mid-head, head unfinished", ["GET /health HTTP/1.1\r\nHost: rig\nX: 1"], [400]],
    ["no Host on HTTP/1.1", [req("GET /health HTTP/1.1", [AUTH])], [400]],
    ["two equal Host lines", [req("GET /health HTTP/1.1", ["Host: rig", "Host: rig", AUTH])], [
      400,
    ]],
    ["Host with a space", [req("GET /health HTTP/1.1", ["Host: r ig", AUTH])], [400]],
    ["Host with userinfo", [req("GET /health HTTP/1.1", ["Host: u@rig", AUTH])], [400]],
    ["Host with a path", [req("GET /health HTTP/1.1", ["Host: rig/x", AUTH])], [400]],
    ["Host with a bad port", [req("GET /health HTTP/1.1", ["Host: rig:80x", AUTH])], [400]],
    ["Host as an IPv6 literal", [req("GET /health HTTP/1.1", ["Host: [::1]:8081", AUTH])], [200]],
    ["an 8 KiB target", [req(`GET /${"t".repeat(8200)} HTTP/1.1`)], [414]],
    ["HTTP/2.0 request line", [req("GET /health HTTP/2.0")], [505]],
    ["an unknown protocol", [req("GET /health FTP/1.0")], [400]],
    ["a fragment", [req("GET /health#x HTTP/1.1")], [400]],
    ["GET *", [req("GET * HTTP/1.1")], [400]],
    ["HEAD *", [req("HEAD * HTTP/1.1")], [400]],
    ["Transfer-Encoding: chunked, identity", [
      req("GET /health HTTP/1.1", ["Host: rig", AUTH, "Transfer-Encoding: chunked, identity"]),
    ], [400]],
  ];
  for (const [name, send, expect] of strict) add("strictness", name, send, expect);

  // 17. Control bytes anywhere in the request target.
  for (const byte of CONTROLS) {
    add("target control bytes", `${hex(byte)} in the path`, [
      latin1(req(`GET /he${String.fromCharCode(byte)}alth HTTP/1.1`)),
    ], [400]);
  }
  return cases;
}

/** Deterministic pseudo-random bytes (xorshift32), so a failure reproduces. */
function randomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  // never start like an HTTP method or a TLS record by accident
  out[0] = 0x01;
  return out;
}

/** Strips interim (1xx) responses, as an HTTP client would. */
function finalResponse(bytes: Uint8Array): { interim: number[]; rest: Uint8Array } {
  const interim: number[] = [];
  let rest = bytes;
  for (;;) {
    const text = new TextDecoder().decode(rest.subarray(0, 64));
    const match = /^HTTP\/1\.1 (1\d\d) [^\r\n]*\r\n\r\n/.exec(text);
    if (match === null) return { interim, rest };
    interim.push(Number(match[1]));
    rest = rest.subarray(match[0].length);
  }
}

/** How the server handled one case. */
export interface Outcome {
  ok: boolean;
  detail: string;
  status: number | null;
}

/**
 * Sends one case on a new connection and judges the answer: the expected status, a well-formed
 * XMRig-style response (error bodies exactly XMRig's), no secret, nothing injected; or a clean
 * close where that is allowed. Never throws for what the server does.
 *
 * @param port the server's port
 * @param c the case
 * @param secrets strings that must not appear on the wire
 * @returns the outcome
 */
export async function runCase(port: number, c: Case, secrets: string[]): Promise<Outcome> {
  const result = await exchange(port, c.send, { timeoutMs: 2500, halfClose: c.halfClose ?? false });
  const where = `${result.end} after ${Math.round(result.ms)} ms`;
  if (result.end === "timeout") return { ok: false, detail: `no close (${where})`, status: null };
  if (result.bytes.length === 0) {
    return c.mayClose || c.expect.length === 0
      ? { ok: true, detail: `clean close (${where})`, status: null }
      : { ok: false, detail: `closed without an answer (${where})`, status: null };
  }
  if (result.end === "reset") {
    // an answer followed by RST: the client may lose the answer; not a clean close
    return { ok: false, detail: `answer then reset (${where})`, status: null };
  }
  // the server sends no interim (1xx) answer: an `Expect:` request is answered as is
  const { interim, rest } = finalResponse(result.bytes);
  if (interim.length > 0) return { ok: false, detail: `interim ${interim}`, status: interim[0]! };
  const parsed: ParsedResponse | string = parseResponse(rest, c.method ?? "GET");
  if (typeof parsed === "string") {
    const text = new TextDecoder().decode(result.bytes.subarray(0, 200));
    return { ok: false, detail: `${parsed}: ${JSON.stringify(text)}`, status: null };
  }
  const problems = responseProblems(parsed, c.method ?? "GET");
  if (!c.expect.includes(parsed.status)) {
    problems.push(`status ${parsed.status}, expected ${c.expect.join("/")}`);
  }
  const body = bodyText(parsed);
  if (parsed.status >= 400 && body !== errorBody(parsed.status)) {
    problems.push(`error body ${JSON.stringify(body.slice(0, 80))}`);
  }
  if (c.bodyIs !== undefined && body !== c.bodyIs) problems.push("body differs");
  const wire = new TextDecoder().decode(result.bytes);
  for (const secret of secrets) if (wire.includes(secret)) problems.push("a secret on the wire");
  if (/set-cookie/i.test(wire) || /root:x:0:0/.test(wire)) {
    problems.push("injected or file content");
  }
  const type = c.contentType ?? "application/json";
  if (headerValues(parsed, "content-type").some((t) => t !== type)) {
    problems.push("content type");
  }
  return {
    ok: problems.length === 0,
    detail: problems.length === 0 ? `${parsed.status} (${where})` : problems.join("; "),
    status: parsed.status,
  };
}
