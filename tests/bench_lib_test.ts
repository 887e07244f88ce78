/**
 * The bench's pure helpers (`bench/lib.ts`): wrk's report and `/proc/<pid>/stat`. The figures
 * themselves come only from `deno task bench`, never from tests.
 *
 * @module
 */

import {
  deepEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import {
  fmt,
  median,
  parseProcStat,
  parseSmapsRollup,
  parseWrk,
  ratio,
  replaceSection,
  sectionOf,
  table,
} from "../bench/lib.ts";

const WRK_C50 = `Running 2s test @ http://127.0.0.1:18556/2/summary
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.00ms   43.79ms 832.51ms   99.22%
    Req/Sec     3.64k     1.03k    5.05k    60.00%
  Latency Distribution
     50%    1.24ms
     75%    1.61ms
     90%    2.47ms
     99%  832.51us
  7244 requests in 2.01s, 686.20KB read
  Socket errors: connect 0, read 12, write 0, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec:   3609.26
Transfer/sec:    341.89KB
`;

Deno.test("parseWrk: counts, rate, percentiles in ms, socket errors and non-2xx", () => {
  assertEquals(parseWrk(WRK_C50), {
    requests: 7244,
    seconds: 2.01,
    rps: 3609.26,
    p50ms: 1.24,
    p99ms: 0.83251,
    non2xx: 5,
    errors: { connect: 0, read: 12, write: 0, timeout: 3 },
  });
  const plain = WRK_C50.replace(/ {2}Socket errors.*\n/, "").replace(/ {2}Non-2xx.*\n/, "")
    .replace("1.24ms", "1.50s");
  const parsed = parseWrk(plain);
  assertEquals([parsed.p50ms, parsed.non2xx, parsed.errors.read], [1500, 0, 0]);
  assertThrows(() => parseWrk(WRK_C50.replace(/ {2}Latency Distribution[\s\S]*?99%.*\n/, "")));
  assertThrows(() => parseWrk(WRK_C50.replace("1.24ms", "1.24parsecs")), SyntaxError);
  assertThrows(() => parseWrk(""), SyntaxError);
});

Deno.test("parseProcStat: fields after the last ')' of the command name", () => {
  const stat =
    "4242 (deno (weird) x) S 1 4242 4242 0 -1 4194560 9000 77 0 0 1234 567 8 9 20 0 7 0 " +
    "123456 1000000 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  assertEquals(parseProcStat(stat), {
    cminflt: 77,
    utime: 1234,
    stime: 567,
    cutime: 8,
    cstime: 9,
    threads: 7,
  });
  assertThrows(() => parseProcStat("garbage"), SyntaxError);
  assertThrows(() => parseProcStat("1 (x) S 1 2"), SyntaxError);
});

Deno.test("median, fmt, ratio and table", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, 3, 2]), 2.5);
  assertEquals(Number.isNaN(median([])), true);
  assertEquals([fmt(1234.56), fmt(0.456, 2), fmt(null), fmt(NaN)], ["1,235", "0.46", "—", "—"]);
  assertEquals([ratio(1, 4), ratio(1, 0), ratio(null, 2)], ["0.25×", "—", "—"]);
  assertEquals(table(["a", "b"], [["1", "2"]]), "| a | b |\n| --- | --- |\n| 1 | 2 |\n");
});

Deno.test("parseSmapsRollup: Rss split into anonymous and file-backed kB", () => {
  const text = [
    "558542638000-7fffaba98000 ---p 00000000 00:00 0                          [rollup]",
    "Rss:               59876 kB",
    "Pss:               40000 kB",
    "Anonymous:         18204 kB",
    "AnonHugePages:         0 kB",
  ].join("\n");
  assertEquals(parseSmapsRollup(text), { rssKiB: 59876, anonKiB: 18204, fileKiB: 41672 });
  assertThrows(() => parseSmapsRollup("Rss: 1 kB\n"), SyntaxError);
});

Deno.test("replaceSection and sectionOf: one generator's section inside another's page", () => {
  const page = "# Benchmarks\n\nfigures\n";
  const once = replaceSection(page, "rig-impact", "first");
  assertEquals(
    once,
    "# Benchmarks\n\nfigures\n\n<!-- rig-impact:begin -->\n\nfirst\n\n<!-- rig-impact:end -->\n",
  );
  const twice = replaceSection(once + "tail\n", "rig-impact", "second\n");
  assertEquals(twice.match(/rig-impact:begin/g)?.length, 1);
  assert(twice.includes("\n\nsecond\n\n") && !twice.includes("first") && twice.endsWith("tail\n"));
  assertEquals(
    sectionOf(twice, "rig-impact"),
    "<!-- rig-impact:begin -->\n\nsecond\n\n<!-- rig-impact:end -->",
  );
  assertEquals(sectionOf(page, "rig-impact"), null);
});
