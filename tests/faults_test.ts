/**
 * Faults around a real `serve` (issue 6, item 3): XMRig's API down, hanging, answering 500,
 * non-JSON, a JSON array, a 2 MiB body, a body cut mid-way; the snapshot file missing, empty,
 * truncated, garbage, of the wrong shape, a directory, too large, replaced during reads;
 * RigForge files corrupt (for `probe` and `doctor`, which read them; `serve` reads only the
 * config); the config corrupt at start; the config changed while running (token rotation).
 *
 * Every request must get 200 with the documented markers (`rigforge.xmrig_api`,
 * `rigforge.xmrig_error`, `snapshot.status`, `snapshot.read_error`) or the documented error
 * (`/2/backends` → 503 without XMRig), and the server must not crash. Request times are
 * reported (a `faults-timing:` line per test, quoted in docs/reliability.md), not asserted: CI
 * shares two cores.
 *
 * The XMRig client caches each path's reply for 1 s and the snapshot cache looks at the file
 * at most once a second: after each new fault the test waits until the server reports it.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { parseSnapshot } from "../src/snapshot.ts";
import { MAX_SNAPSHOT_DEPTH, nestedDeeperThan } from "../src/snapshot/parse.ts";
import { runCli } from "./_cli.ts";
import { get, percentile } from "./_rawhttp.ts";
import { copyTree, type ServeHandle, startServe, writeFreshSnapshot } from "./_serve.ts";
import { RIGFORGE_DIR } from "./_snapshot.ts";
import { ROOTS_DIR } from "./_context.ts";
import { type StandinMode, startStandin } from "./_xmrig_standin.ts";
import { waitFor } from "./_wait.ts";

const TOKEN = "tok-FAULTS-a1b2c3d4e5f60718293a4b5c6d7e8f90";
const AUTH = `Authorization: Bearer ${TOKEN}`;
/** Longer than the server's 1 s caches: a token re-read on a timer would have happened. */
const PAST_CACHES_MS = 1100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One request's outcome. */
interface Answer {
  status: number;
  // deno-lint-ignore no-explicit-any
  json: any;
  ms: number;
}

/** Every request made, for the `faults-timing:` lines. */
const timings: number[] = [];

/**
 * The timing figure of one test: its requests since `from` (each test prints its own line, so
 * no test reads another's timings).
 */
function timingLine(name: string, from: number, coldFrom: number): string {
  const mine = timings.slice(from);
  const cold = coldStarts.slice(coldFrom);
  return `faults-timing: ${name}: ${mine.length} requests, p50 ${
    percentile(mine, 50).toFixed(1)
  } ms, max ${Math.max(...mine).toFixed(1)} ms; cold start (first 5 requests of a new ` +
    `process, in parallel): max ${Math.max(...cold).toFixed(0)} ms`;
}

/**
 * Polls `path` (not timed) until `check` holds for its JSON body: the server has seen a change
 * behind its 1 s caches.
 */
function seen(
  what: string,
  port: number,
  path: string,
  check: (json: Record<string, unknown>) => boolean,
): Promise<true> {
  return waitFor(what, async () => {
    const { response } = await get(port, path, [AUTH], { timeoutMs: 5000 });
    const json = JSON.parse(new TextDecoder().decode(response.body));
    return check(json) || null;
  });
}

async function ask(port: number, path: string, headers = [AUTH]): Promise<Answer> {
  const { response, ms } = await get(port, path, headers, { timeoutMs: 5000 });
  timings.push(ms);
  const text = new TextDecoder().decode(response.body);
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path}: body is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.status, json, ms };
}

/** Cold-start times (the first request of a new process), reported apart from the bound. */
const coldStarts: number[] = [];

/**
 * The first requests of a fresh process compile the request path (V8 compiles lazily) and run
 * doctor's checks on the first snapshot: they are warm-up, timed apart from the faults.
 */
async function warm(port: number): Promise<void> {
  const started = performance.now();
  await Promise.all(
    ["/health", "/tune", "/2/summary", "/1/summary", "/2/backends"].map((path) =>
      get(port, path, [AUTH], { timeoutMs: 5000 })
    ),
  );
  coldStarts.push(performance.now() - started);
}

async function startWithStandin(
  mode: StandinMode = "normal",
): Promise<{ serve: ServeHandle; xmrig: Awaited<ReturnType<typeof startStandin>> }> {
  const xmrig = await startStandin({ token: TOKEN, mode });
  const serve = await startServe({
    homeFrom: join(RIGFORGE_DIR, "zen4"),
    config: { api: "enabled", ACCESS_TOKEN: TOKEN },
    xmrig: xmrig.url,
    args: ["--rate", "0", "--global-rate", "0"],
  });
  return { serve, xmrig };
}

async function stopAll(serve: ServeHandle, xmrig: { close(): Promise<void> }): Promise<void> {
  const alive = serve.rssKiB() !== null;
  const { code, stderr } = await serve.stop();
  await xmrig.close();
  assert(alive, `serve died during the test:\n${stderr}`);
  assertEquals(code, 0, stderr);
  assert(!/error|panic|uncaught/i.test(stderr.split("\n").slice(1).join("\n")), stderr);
}

Deno.test("nestedDeeperThan() counts brackets outside strings only, in one pass", () => {
  assertEquals(nestedDeeperThan("[[1]]", 2), false);
  assertEquals(nestedDeeperThan("[[[1]]]", 2), true);
  assertEquals(nestedDeeperThan('{"a": {"b": [1, {"c": 2}]}}', 4), false);
  assertEquals(nestedDeeperThan('{"a": {"b": [1, {"c": 2}]}}', 3), true);
  assertEquals(nestedDeeperThan('["[[[[", "{{{{"]', 1), false, "brackets in strings");
  assertEquals(nestedDeeperThan('["\\"", "[[[["]', 1), false, "an escaped quote");
  assertEquals(nestedDeeperThan('["\\\\", [[1]]]', 2), true, "an escaped backslash");
  assertEquals(nestedDeeperThan("]]]][[", 1), false, "unbalanced closers");
  assertEquals(nestedDeeperThan("", 0), false);
  // a 7 MiB run of brackets and 1 MiB of brackets in a string (its cost: the faults figures)
  assertEquals(nestedDeeperThan("[".repeat(7 * 1024 * 1024), MAX_SNAPSHOT_DEPTH), true);
  assertEquals(nestedDeeperThan('"'.padEnd(1024 * 1024, "[") + '"', MAX_SNAPSHOT_DEPTH), false);
  // a real snapshot is 7 levels deep: well inside the limit
  assert(MAX_SNAPSHOT_DEPTH >= 32);
});

Deno.test("XMRig faults: 200 with xmrig_api unreachable and a fixed error word, or 503", async () => {
  const { serve, xmrig } = await startWithStandin();
  await writeFreshSnapshot(serve.snapshot, "zen4");
  const from = timings.length;
  const coldFrom = coldStarts.length;
  try {
    const port = serve.port;
    await warm(port);
    const cases: [StandinMode, string | null, number][] = [
      ["normal", null, 200],
      ["down", "connection refused", 503],
      ["hang", "timeout", 503],
      ["500", "http 500", 503],
      ["non-json", "not a JSON object", 503],
      ["array", "not a JSON object", 200], // an array is what /2/backends is: passed through
      ["huge", "too large", 503],
      ["cut", null, 503], // the word depends on where the cut is seen; it is a fixed word
      ["normal", null, 200],
    ];
    const words: string[] = [];
    for (const [mode, error, backends] of cases) {
      if (mode !== "normal" && xmrig.mode() !== "normal") {
        // From one fault to the next the answer may look the same: go through "normal" first,
        // so waiting for the new state proves the server saw the new fault.
        await xmrig.setMode("normal");
        await seen(
          "XMRig normal again",
          port,
          "/2/summary",
          (json) => (json.rigforge as Record<string, unknown> | undefined)?.xmrig_api === "ok",
        );
      }
      await xmrig.setMode(mode);
      const shows = (json: Record<string, unknown>) => {
        const block = json.rigforge as Record<string, unknown> | undefined;
        if (mode === "normal") return block?.xmrig_api === "ok";
        return block?.xmrig_api === "unreachable" &&
          (error === null || block.xmrig_error === error);
      };
      await seen(`${mode}: XMRig's new state behind the 1 s cache`, port, "/2/summary", shows);
      // One round of every route showing the new state together. The server's 1 s cache can
      // expire between requests, and on a starved machine a refetch from the stand-in (in this
      // process) can miss the server's 250 ms XMRig bound: such a round is asked again.
      const [v2, v1, alias, back, health] = await waitFor(
        `${mode}: every summary route to show it in one round`,
        async () => {
          const round = await Promise.all([
            ask(port, "/2/summary"),
            ask(port, "/1/summary"),
            ask(port, "/api.json"),
            ask(port, "/2/backends"),
            ask(port, "/health"),
          ]);
          const consistent = round.slice(0, 3).every((a) => shows(a.json)) &&
            round[3]!.status === backends;
          return consistent ? round : null;
        },
      );
      for (const answer of [v2, v1, alias]) {
        assertEquals(answer.status, 200, mode);
        const block = answer.json.rigforge;
        assert(block !== undefined, `${mode}: no rigforge block`);
        assertEquals(answer.json.generated_at, health.json.generated_at, "snapshot stamp");
        if (mode === "normal") {
          assertEquals(block.xmrig_api, "ok");
          assertEquals(block.xmrig_error, null);
          assertEquals(answer.json.version, "6.26.0", "XMRig's keys are there");
        } else {
          assertEquals(block.xmrig_api, "unreachable", mode);
          assertEquals(Object.keys(answer.json), ["generated_at", "rigforge"], mode);
          if (error !== null) assertEquals(block.xmrig_error, error, mode);
          assertMatch(block.xmrig_error, /^[a-z0-9 ]{2,40}$/i, `${mode}: a fixed word`);
          assert(!block.xmrig_error.includes("127.0.0.1"), "no address in the error");
        }
        words.push(`${mode}:${block.xmrig_error ?? "ok"}`);
      }
      assertEquals(back.status, backends, `${mode}: /2/backends`);
      if (backends === 503) assertEquals(back.json, { status: 503, error: "SERVICE_UNAVAILABLE" });
      assertEquals(health.status, 200, "/health does not depend on XMRig");
      assertEquals(health.json.snapshot.status, "fresh");
    }
    // deno-lint-ignore no-console
    console.log(`faults-xmrig: ${[...new Set(words)].join(", ")}`);
    // deno-lint-ignore no-console
    console.log(timingLine("xmrig", from, coldFrom));
  } finally {
    await stopAll(serve, xmrig);
  }
});

Deno.test("snapshot faults: the last good snapshot is kept, the read error is reported", async () => {
  const { serve, xmrig } = await startWithStandin();
  const path = serve.snapshot;
  const good = await writeFreshSnapshot(path, "zen4");
  const from = timings.length;
  const coldFrom = coldStarts.length;
  try {
    const port = serve.port;
    await warm(port);
    const big = new Uint8Array(9 * 1024 * 1024).fill(0x20);
    big[0] = 0x7b; // "{"
    const notObject = JSON.parse(good);
    notObject.records.cpu = 5;
    const wrongTypes = JSON.parse(good);
    for (const [name, record] of Object.entries(wrongTypes.records)) {
      wrongTypes.records[name] = record === null ? { reasons: "x" } : poison(record, 0);
    }
    wrongTypes.failures = { power: { reason: 7 }, cpu: "x", thermal: { reason: "<b>x</b>" } };
    const deep = '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000);
    const deeper = "[".repeat(1024 * 1024); // a million levels
    // valid JSON of the wrong shape, 70 times the size of a 64-core rig's snapshot (14 KiB)
    const wide = `{"schema": 1, "pad": [${"1,".repeat(512 * 1024 - 16)}1]}`;
    // [what is done, status, read_error]
    const steps: [string, () => Promise<void>, string, string | null][] = [
      ["good", () => Deno.writeTextFile(path, good), "fresh", null],
      ["empty", () => Deno.writeTextFile(path, ""), "fresh", "corrupt"],
      [
        "truncated",
        () => Deno.writeTextFile(path, good.slice(0, good.length / 2)),
        "fresh",
        "corrupt",
      ],
      ["garbage", () => Deno.writeFile(path, randomBytes(4096)), "fresh", "corrupt"],
      [
        "wrong schema",
        () => Deno.writeTextFile(path, good.replace('"schema":1', '"schema":2')),
        "fresh",
        "corrupt",
      ],
      ["JSON null", () => Deno.writeTextFile(path, "null"), "fresh", "corrupt"],
      ["100,000 levels deep", () => Deno.writeTextFile(path, deep), "fresh", "corrupt"],
      ["1 MiB of unclosed brackets", () => Deno.writeTextFile(path, deeper), "fresh", "corrupt"],
      [
        "1 MiB of valid JSON, wrong shape",
        () => Deno.writeTextFile(path, wide),
        "fresh",
        "corrupt",
      ],
      ["9 MiB", () => Deno.writeFile(path, big), "fresh", "too large"],
      ["missing", () => Deno.remove(path), "missing", "absent"],
      ["garbage again", () => Deno.writeTextFile(path, "}{"), "missing", "corrupt"],
      [
        "a directory",
        async () => {
          await Deno.remove(path);
          await Deno.mkdir(path);
        },
        "missing",
        "unreadable",
      ],
      [
        "good again",
        async () => {
          await Deno.remove(path);
          await writeFreshSnapshot(path);
        },
        "fresh",
        null,
      ],
      [
        "a record that is not an object",
        () => Deno.writeTextFile(path, JSON.stringify(notObject)),
        "fresh",
        "corrupt",
      ],
      [
        "every field of the wrong type",
        () => Deno.writeTextFile(path, JSON.stringify(wrongTypes)),
        "fresh",
        null,
      ],
      ["good at last", () => writeFreshSnapshot(path).then(() => {}), "fresh", null],
    ];
    const outcomes: string[] = [];
    const snapshotIs = (name: string, status: string, readError: string | null) =>
      seen(`${name}: /health to report ${status}/${readError}`, port, "/health", (json) => {
        const block = json.snapshot as Record<string, unknown> | undefined;
        return block?.status === status && block?.read_error === readError;
      });
    let previous = "fresh/null";
    for (const [name, act, status, readError] of steps) {
      if (`${status}/${readError}` === previous && readError !== null) {
        // The same outcome as the step before: show a good snapshot first, so waiting for
        // the outcome proves the server read the new file.
        await writeFreshSnapshot(path);
        await snapshotIs(`${name} (good first)`, "fresh", null);
      }
      previous = `${status}/${readError}`;
      await act();
      await snapshotIs(name, status, readError);
      // XMRig stays up here; a refetch that misses the server's 250 ms XMRig bound on a
      // starved machine (the stand-in runs in this process) is asked again.
      const [health, tune, summary] = await waitFor(
        `${name}: a round with XMRig reachable`,
        async () => {
          const round = await Promise.all([
            ask(port, "/health"),
            ask(port, "/tune"),
            ask(port, "/2/summary"),
          ]);
          return round[2]!.json?.rigforge?.xmrig_api === "ok" ? round : null;
        },
      ).catch((error) => {
        throw new Error(`step "${name}": ${error instanceof Error ? error.message : error}`);
      });
      for (const answer of [health, tune]) {
        assertEquals(answer.status, 200, name);
        assertEquals(answer.json.snapshot.status, status, `${name}: snapshot.status`);
        assertEquals(answer.json.snapshot.read_error, readError, `${name}: snapshot.read_error`);
      }
      assertEquals(summary.status, 200, name);
      assertEquals(summary.json.rigforge.snapshot.status, status, name);
      assertEquals(summary.json.rigforge.xmrig_api, "ok", name);
      if (status === "missing") {
        assertEquals(health.json.generated_at, null, name);
        assertEquals(summary.json.generated_at, null, name);
      } else {
        assertMatch(health.json.generated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, name);
      }
      outcomes.push(
        `${name}→${status}/${readError} (${
          Math.round(Math.max(health.ms, tune.ms, summary.ms))
        } ms)`,
      );
    }
    // deno-lint-ignore no-console
    console.log(`faults-snapshot: ${outcomes.join(", ")}`);
    // deno-lint-ignore no-console
    console.log(timingLine("snapshot", from, coldFrom));
  } finally {
    await Deno.remove(path, { recursive: true }).catch(() => {});
    await stopAll(serve, xmrig);
  }
});

Deno.test("snapshot replaced during reads: atomic replacement is never seen torn", async () => {
  const { serve, xmrig } = await startWithStandin();
  const path = serve.snapshot;
  await writeFreshSnapshot(path);
  const good = await Deno.readTextFile(path);
  try {
    const port = serve.port;
    await warm(port);
    await seen("the first snapshot to be served", port, "/health", (json) => {
      const block = json.snapshot as Record<string, unknown> | undefined;
      return block?.status === "fresh" && block?.read_error === null;
    });
    // The sleeps below are the scenario's pacing (a writer every 2 ms, a reader every 5 ms, a
    // 20 ms window with half a file), not waits for a condition.
    // 1. Atomic replacement (what `probe` does) every few ms for 2.5 s, requests meanwhile.
    let writing = true;
    let replaced = 0;
    const writer = (async () => {
      const tmp = `${path}.writer.tmp`;
      while (writing) {
        await Deno.writeTextFile(tmp, good);
        await Deno.rename(tmp, path);
        replaced++;
        await sleep(2);
      }
    })();
    const until = performance.now() + 2500;
    let requests = 0;
    while (performance.now() < until) {
      const health = await ask(port, "/health");
      assertEquals(health.status, 200);
      assertEquals(health.json.snapshot.status, "fresh");
      assertEquals(health.json.snapshot.read_error, null, "an atomic replacement is never torn");
      requests++;
      await sleep(5);
    }
    writing = false;
    await writer;

    // 2. In-place rewriting (what a careless `cp` does): torn reads are possible; the last
    //    good snapshot is kept and `corrupt` reported, never a failure.
    writing = true;
    let torn = 0;
    const rewriter = (async () => {
      const bytes = new TextEncoder().encode(good);
      while (writing) {
        const file = await Deno.open(path, { write: true, truncate: true });
        await file.write(bytes.subarray(0, bytes.length / 2));
        await sleep(20);
        await file.write(bytes.subarray(bytes.length / 2));
        file.close();
        await sleep(1);
      }
    })();
    const until2 = performance.now() + 2500;
    while (performance.now() < until2) {
      const health = await ask(port, "/health");
      assertEquals(health.status, 200);
      assertEquals(health.json.snapshot.status, "fresh", "the last good snapshot is kept");
      if (health.json.snapshot.read_error === "corrupt") torn++;
      else assertEquals(health.json.snapshot.read_error, null);
      requests++;
      await sleep(5);
    }
    writing = false;
    await rewriter;
    // deno-lint-ignore no-console
    console.log(
      `faults-replace: ${replaced} atomic replacements, ${requests} requests, 0 torn reads; ` +
        `in-place rewriting: ${torn} responses reported corrupt (last good kept)`,
    );
  } finally {
    await stopAll(serve, xmrig);
  }
});

Deno.test("token rotation: serve reads the token at start; a restart picks up the new one", async () => {
  const oldToken = "tok-ROTATE-old-00112233445566778899aabbccdd";
  const newToken = "tok-ROTATE-new-ffeeddccbbaa99887766554433221";
  const xmrig = await startStandin();
  let serve = await startServe({
    config: { ACCESS_TOKEN: oldToken },
    xmrig: xmrig.url,
    args: ["--rate", "0", "--global-rate", "0"],
  });
  const home = serve.home;
  try {
    const as = (token: string) => [`Authorization: Bearer ${token}`];
    await warm(serve.port);
    assertEquals((await ask(serve.port, "/tune", as(oldToken))).status, 200);
    assertEquals((await ask(serve.port, "/tune", as(newToken))).status, 403);
    // rotate in place, as `rigforge.sh apply` does
    await Deno.writeTextFile(join(home, "config.json"), JSON.stringify({ ACCESS_TOKEN: newToken }));
    // The behaviour under test is that nothing happens: wait past the server's 1 s caches, so
    // a token re-read on a timer or on the file's change would have taken effect by now.
    await sleep(PAST_CACHES_MS);
    assertEquals((await ask(serve.port, "/tune", as(oldToken))).status, 200, "still the old one");
    assertEquals((await ask(serve.port, "/tune", as(newToken))).status, 403, "until a restart");
    // a config made unusable while running changes nothing either
    await Deno.writeTextFile(join(home, "config.json"), "{ not json");
    assertEquals((await ask(serve.port, "/tune", as(oldToken))).status, 200);
    await Deno.writeTextFile(join(home, "config.json"), JSON.stringify({ ACCESS_TOKEN: newToken }));
    // restart (systemctl try-restart rigforge-api.service does this on a rig)
    const saved = await Deno.makeTempDir({ prefix: "rf-rotate-" });
    await copyTree(home, saved);
    await serve.stop();
    serve = await startServe({
      homeFrom: saved,
      xmrig: xmrig.url,
      args: ["--rate", "0", "--global-rate", "0"],
    });
    await Deno.remove(saved, { recursive: true });
    await warm(serve.port);
    assertEquals((await ask(serve.port, "/tune", as(newToken))).status, 200, "new token works");
    assertEquals((await ask(serve.port, "/tune", as(oldToken))).status, 403, "old one is revoked");
    assertEquals((await ask(serve.port, "/tune", [])).status, 401);
  } finally {
    await stopAll(serve, xmrig);
  }
});

Deno.test("a corrupt config at start: serve refuses with a clear error and no secret", async () => {
  const secret = "tok-CORRUPT-never-printed-0123456789abcdef";
  const cases: [string, string, RegExp][] = [
    ["invalid JSON", `{ "ACCESS_TOKEN": "${secret}", ,, }`, /invalid JSON at line 1/],
    ["top level array", `["${secret}"]`, /top level must be a JSON object/],
    ["token with a space", `{ "ACCESS_TOKEN": "${secret} x" }`, /ACCESS_TOKEN may hold only/],
    ["pools not an array", `{ "ACCESS_TOKEN": "${secret}", "pools": "${secret}" }`, /pools/],
  ];
  for (const [name, text, message] of cases) {
    let error = "";
    try {
      const serve = await startServe({ config: text, startTimeoutMs: 20_000 });
      await serve.stop();
      throw new Error(`${name}: serve started`);
    } catch (caught) {
      error = String(caught);
    }
    assertMatch(error, /serve did not start \(exit 1\)/, name);
    assertMatch(error, /config error: .*config\.json: /, name);
    assertMatch(error, message, name);
    assert(!error.includes(secret), `${name}: the secret is in the error`);
    assert(!/\n\s+at /.test(error), `${name}: a stack trace`);
  }
});

Deno.test("corrupt RigForge files: probe and doctor report them as corrupt, never crash", async () => {
  const home = await Deno.makeTempDir({ prefix: "rf-corrupt-home-" });
  const out = await Deno.makeTempDir({ prefix: "rf-corrupt-out-" });
  try {
    await copyTree(join(RIGFORGE_DIR, "zen4"), home);
    const worker = join(home, "data", "worker");
    await Deno.writeFile(join(home, "VERSION"), randomBytes(100_000));
    await Deno.writeTextFile(join(home, ".rigforge-config-meta.json"), '{"revision": ');
    await Deno.writeTextFile(join(worker, "rigforge-tune.json"), '{"target": "perf", "runs": [');
    await Deno.writeTextFile(join(worker, "tune-overrides.json"), "[1, 2, 3]");
    await Deno.writeFile(join(worker, "watchdog.fails"), randomBytes(64));
    await Deno.writeFile(join(worker, "xmrig.log"), randomBytes(1024 * 1024));
    await Deno.writeTextFile(
      join(worker, "xmrig", ".rigforge-commit"),
      "not a commit\n".repeat(99),
    );
    await Deno.writeTextFile(join(worker, "xmrig", "build", "config.json"), "nope");
    const root = join(ROOTS_DIR, "zen4");
    const snapshotPath = join(out, "snapshot.json");
    const probe = await runCli(
      ["probe", "--rigforge-home", home, "--root", root, "--out", snapshotPath],
      { cwd: out },
    );
    assertEquals(probe.code, 0, probe.stderr);
    assertEquals(probe.stderr, "");
    const snapshot = parseSnapshot(await Deno.readTextFile(snapshotPath));
    assert(snapshot !== null, "probe wrote a valid snapshot");
    const text = JSON.stringify(snapshot);
    assert(text.includes('"corrupt"'), "the corrupt files are reported as corrupt");
    for (
      const secret of ["pass-LEAKCHECK-stratum", "tok-LEAKCHECK-9f2c1e7a5b3d4c6e8f0a1b2c3d4e5f60"]
    ) {
      assert(!text.includes(secret), "no secret in the snapshot");
    }
    const doctor = await runCli(["doctor", "--json", "--rigforge-home", home, "--root", root], {
      cwd: out,
    });
    assert(doctor.code === 0 || doctor.code === 1, `doctor exit ${doctor.code}: ${doctor.stderr}`);
    JSON.parse(doctor.stdout);
    assert(!/\n\s+at /.test(doctor.stderr), doctor.stderr);
    const history = await runCli([
      "tune-history",
      "--json",
      "--rigforge-home",
      home,
      "--root",
      root,
    ], {
      cwd: out,
    });
    assertEquals(history.code, 0, history.stderr);
    JSON.parse(history.stdout);
    // and serve over that snapshot (restamped fresh) answers every route
    const xmrig = await startStandin({ token: "tok-LEAKCHECK-9f2c1e7a5b3d4c6e8f0a1b2c3d4e5f60" });
    const serve = await startServe({
      homeFrom: home,
      snapshot: snapshotPath,
      xmrig: xmrig.url,
      args: ["--rate", "0", "--global-rate", "0"],
    });
    const stamped = JSON.parse(await Deno.readTextFile(snapshotPath));
    stamped.generated_at = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(
      ".000Z",
      "Z",
    );
    await Deno.writeTextFile(snapshotPath, JSON.stringify(stamped));
    try {
      await warm(serve.port);
      const auth = ["Authorization: Bearer tok-LEAKCHECK-9f2c1e7a5b3d4c6e8f0a1b2c3d4e5f60"];
      for (const path of ["/health", "/tune", "/2/summary", "/1/summary"]) {
        const answer = await ask(serve.port, path, auth);
        assertEquals(answer.status, 200, path);
      }
    } finally {
      await stopAll(serve, xmrig);
    }
  } finally {
    await Deno.remove(home, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

/**
 * Replaces every value in a record with one of another type (numbers become strings, strings
 * numbers, arrays objects, ...), keeping the keys, so the merge meets a well-formed snapshot
 * whose fields are all wrong.
 */
function poison(value: unknown, depth: number): unknown {
  if (typeof value === "number") return String(value) + "x";
  if (typeof value === "string") return value.length > 0 ? -1 : [value];
  if (typeof value === "boolean") return value ? "yes" : 0;
  if (value === null) return { nested: { deeper: [] } };
  if (Array.isArray(value)) return { length: value.length, 0: "x" };
  if (depth > 3) return "object";
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    out[key] = poison(inner, depth + 1);
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift32). */
function randomBytes(length: number, seed = 0x12345): Uint8Array {
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
  return out;
}
