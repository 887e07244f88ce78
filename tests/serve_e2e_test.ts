/**
 * `rigforge-api serve` end to end, as real processes run with exactly the compile task's Deno
 * flags: socket-activated under Debian's `systemd-socket-activate`, idle exit and re-activation
 * under `tests/harness/fake_systemd.py` (which keeps the socket like systemd does), standalone on
 * `--port`, slow clients and the connection cap against the real limits, admission with two
 * source addresses, the embedded prober, and the refusals. A stand-in XMRig
 * (`tests/_xmrig_standin.ts`) replays a real XMRig 6.26.0's bytes.
 *
 * The flag parsing and the embedded-probe rule are unit-tested first, in-process.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { parseServeArgs, serveCommand } from "../src/cli/serve.ts";
import { decideEmbedded, newerSnapshot } from "../src/cli/embedded_probe.ts";
import { UsageError } from "../src/cli/args.ts";
import { readConfig } from "../src/rigforge/config.ts";
import { isoSeconds } from "../src/lib/time.ts";
import { type Snapshot, writeSnapshotAtomic } from "../src/snapshot.ts";
import { runCli } from "./_cli.ts";
import { fixtureSnapshot, RIGFORGE_DIR } from "./_snapshot.ts";
import { ROOTS_DIR } from "./_context.ts";
import { startStandin } from "./_xmrig_standin.ts";
import { establishedOn } from "./_rawhttp.ts";
import { waitFor } from "./_wait.ts";
import {
  freePort,
  get,
  idleConnection,
  type RawReply,
  rawRequest,
  spawnServe,
  spawnSocketActivated,
  startFakeSystemd,
} from "./harness/serve_process.ts";

const TOKEN = "rig-01";
const AUTH = `Authorization: Bearer ${TOKEN}`;
const XMRIG_HEADERS = [
  "Access-Control-Allow-Headers: Authorization, Content-Type",
  "Access-Control-Allow-Methods: GET, HEAD, OPTIONS",
  "Access-Control-Allow-Origin: *",
  "Connection: close",
];

function usage(argv: string[]): string {
  try {
    parseServeArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  return "accepted";
}

async function tempRig(config: unknown): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "rigforge-serve-" });
  if (config !== null) {
    await Deno.writeTextFile(
      join(dir, "config.json"),
      typeof config === "string" ? config : JSON.stringify(config),
    );
  }
  return dir;
}

async function freshSnapshot(dir: string): Promise<{ path: string; snapshot: Snapshot }> {
  const snapshot = await fixtureSnapshot("zen4", { now: () => Date.now() });
  const path = join(dir, "run", "snapshot.json");
  await writeSnapshotAtomic(path, snapshot);
  return { path, snapshot };
}

function hasNoFingerprint(reply: RawReply): boolean {
  return !reply.headers.some((h) => /^(server|date|transfer-encoding):/i.test(h));
}

Deno.test("parseServeArgs: defaults, validation, typed record", () => {
  const defaults = parseServeArgs([]);
  assertEquals(defaults, {
    bind: null,
    port: null,
    xmrig: "http://127.0.0.1:8080",
    snapshot: "/run/rigforge-api/snapshot.json",
    idleExitS: 120,
    embeddedProbe: "auto",
    probeIntervalS: 15,
    rate: 5,
    burst: 20,
    globalRate: 50,
    location: { "rigforge-home": undefined, config: undefined, root: undefined },
  });
  const custom = parseServeArgs([
    "--bind=::",
    "--port=0",
    "--xmrig=http://user:pw@127.0.0.1:18080/x?y",
    "--idle-exit=0",
    "--embedded-probe=off",
    "--rate=0",
    "--burst=1",
    "--global-rate=0.5",
    "--root=/tmp/r",
  ]);
  assertEquals(custom.bind, "::");
  assertEquals(custom.port, 0);
  assertEquals(custom.xmrig, "http://127.0.0.1:18080", "credentials and path dropped");
  assertEquals([custom.idleExitS, custom.rate, custom.burst, custom.globalRate], [0, 0, 1, 0.5]);
  assertEquals(custom.location.root, "/tmp/r");
  assertMatch(usage(["--bind", "localhost"]), /--bind must be an IPv4 or IPv6 address/);
  assertMatch(usage(["--port", "65536"]), /--port must be a whole number 0-65535/);
  assertMatch(usage(["--xmrig", "ftp://x"]), /--xmrig must be an http/);
  assertMatch(usage(["--embedded-probe", "maybe"]), /auto, on or off/);
  assertMatch(usage(["--idle-exit=-1"]), /--idle-exit must be a number/);
  assertMatch(usage(["--burst", "0"]), /--burst must be a whole number 1-/);
  assertMatch(usage(["--nope"]), /unknown flag --nope/);
  assertMatch(usage(["stray"]), /unexpected argument/);
});

Deno.test("serve --help documents every flag with its default", () => {
  for (
    const flag of [
      "--bind ADDR",
      "--port N",
      "--xmrig URL",
      "--snapshot FILE",
      "--idle-exit SECONDS",
      "--embedded-probe MODE",
      "--probe-interval SECONDS",
      "--rate N",
      "--burst N",
      "--global-rate N",
      "--rigforge-home DIR",
      "--config FILE",
      "--root DIR",
    ]
  ) assert(serveCommand.help.includes(flag), flag);
  assertMatch(serveCommand.help, /\$CREDENTIALS_DIRECTORY\/config/);
  assertMatch(serveCommand.help, /^USAGE:$/m);
  assertMatch(serveCommand.help, /^EXAMPLES:$/m);
  for (const line of serveCommand.help.split("\n")) assert(line.length <= 100, line);
});

Deno.test("the embedded-probe rule", async () => {
  const now = Date.now();
  const snapshot = await fixtureSnapshot("zen4", { now: () => now });
  const old = { ...snapshot, generated_at: isoSeconds(now - 46_000) };
  assertEquals(decideEmbedded("auto", false, snapshot, now).embedded, false);
  assertEquals(decideEmbedded("auto", false, old, now).embedded, true);
  assertEquals(decideEmbedded("auto", false, null, now).embedded, true);
  assertEquals(decideEmbedded("off", false, null, now).embedded, false);
  assertEquals(decideEmbedded("on", false, snapshot, now).embedded, true);
  for (const mode of ["auto", "on", "off"] as const) {
    assertEquals(decideEmbedded(mode, true, null, now).embedded, false, mode);
  }
  const fromFile = { snapshot: old, error: null };
  assertEquals(newerSnapshot(fromFile, snapshot).snapshot, snapshot);
  assertEquals(newerSnapshot({ snapshot, error: null }, old).snapshot, snapshot);
  assertEquals(newerSnapshot({ snapshot: null, error: "absent" }, snapshot), {
    snapshot,
    error: null,
  });
  assertEquals(newerSnapshot(fromFile, null), fromFile);
});

Deno.test("the XMRig stand-in replays XMRig's bytes and fails in each named way", async () => {
  const xmrig = await startStandin({ token: TOKEN, delayMs: 300 });
  const wire = (name: string) =>
    new TextDecoder().decode(
      Deno.readFileSync(join(RIGFORGE_DIR, "..", "xmrig_wire", `${name}.http`)),
    );
  try {
    const summary = await rawRequest(xmrig.port, get("/2/summary?x=1", [AUTH]));
    assertEquals(summary.text, wire("summary-v2-mining"));
    assertEquals((await rawRequest(xmrig.port, get("/2/summary"))).status, 401);
    assertEquals(
      (await rawRequest(xmrig.port, get("/2/summary", ["Authorization: Bearer x"]))).status,
      403,
    );
    assertEquals((await rawRequest(xmrig.port, get("/nope", [AUTH]))).status, 404);
    assertEquals(xmrig.count("/2/summary"), 3);
    assertEquals(xmrig.total(), 4);
    const body = async () => (await rawRequest(xmrig.port, get("/2/summary", [AUTH]))).body;
    await xmrig.setMode("500");
    assertMatch(await body(), /"status": 500/);
    await xmrig.setMode("non-json");
    assert(!(await body()).startsWith("{"));
    await xmrig.setMode("array");
    assertEquals(await body(), "[1, 2, 3]");
    await xmrig.setMode("huge");
    assert((await body()).length > 2 * 1024 * 1024);
    await xmrig.setMode("cut");
    const cut = await rawRequest(xmrig.port, get("/2/summary", [AUTH]));
    const declared = Number(cut.headers.find((h) => h.startsWith("Content-Length:"))?.slice(15));
    assert(cut.body.length > 0 && cut.body.length < declared, `${cut.body.length}/${declared}`);
    await xmrig.setMode("slow");
    const slow = await rawRequest(xmrig.port, get("/2/summary", [AUTH]));
    assert(slow.status === 200 && slow.ms >= 280, `${slow.ms} ms`);
    await xmrig.setMode("hang");
    assertEquals(
      (await rawRequest(xmrig.port, get("/2/summary", [AUTH]), { timeoutMs: 400 })).end,
      "timeout",
    );
    await xmrig.setMode("down");
    assertEquals((await rawRequest(xmrig.port, get("/2/summary", [AUTH]))).end, "refused");
    await xmrig.setMode("normal");
    assertEquals((await rawRequest(xmrig.port, get("/2/summary", [AUTH]))).status, 200);
  } finally {
    await xmrig.close();
  }
});

Deno.test("socket-activated under systemd-socket-activate: real bytes, auth, cache, admission", async () => {
  const xmrig = await startStandin({ token: TOKEN });
  const dir = await tempRig({ ACCESS_TOKEN: TOKEN });
  const { path, snapshot } = await freshSnapshot(dir);
  const port = freePort();
  const serve = spawnSocketActivated(port, [
    "--rigforge-home",
    dir,
    "--xmrig",
    xmrig.url,
    "--snapshot",
    path,
  ]);
  try {
    await serve.stderr.wait(/^Listening on 127\.0\.0\.1:\d+ as 3\.$/);
    // the first connection is the one that makes systemd-socket-activate exec the service
    const summary = await rawRequest(port, get("/2/summary", [AUTH]), { timeoutMs: 30_000 });
    assertEquals(summary.status, 200, summary.text);
    assertEquals(summary.headers.slice(0, 4), XMRIG_HEADERS);
    assert(hasNoFingerprint(summary), summary.text);
    const xmrigBody = Deno.readTextFileSync(
      join(RIGFORGE_DIR, "..", "xmrig", "summary-v2-mining.json"),
    ).trimEnd();
    assert(summary.body.startsWith(xmrigBody.slice(0, -2)), "XMRig's bytes come first, verbatim");
    assert(summary.body.includes('"diff_current": 18446744073709551615'));
    assert(summary.body.includes(`"generated_at": "${snapshot.generated_at}"`));
    assert(summary.body.includes('"rigforge": {'));

    const line = await serve.stderr.wait(/^rigforge-api serve: listening/);
    assertMatch(
      line,
      new RegExp(
        `^rigforge-api serve: listening on fd 3 \\(127\\.0\\.0\\.1:${port}\\) ` +
          `\\(socket-activated, idle exit 120 s\\), token: required, snapshot: ${path}, ` +
          `admission: 5/s per source \\(burst 20\\), 50/s in all$`,
      ),
    );

    const noAuth = await rawRequest(port, get("/2/summary"));
    assertEquals(noAuth.status, 401);
    assertEquals(noAuth.body, '{\n    "status": 401,\n    "error": "UNAUTHORIZED"\n}');
    const head = await rawRequest(port, `HEAD /2/summary HTTP/1.1\r\nHost: rig\r\n${AUTH}\r\n\r\n`);
    assertEquals(head.status, 200);
    assertEquals(head.body, "");
    assertEquals(head.headers, summary.headers);
    const garbage = await rawRequest(port, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n");
    assertEquals(garbage.status, 400);
    assert(hasNoFingerprint(garbage), garbage.text);
    // XMRig saw one /2/summary fetch for all of the above (1 s cache, single flight)
    assertEquals(xmrig.count("/2/summary"), 1);

    // admission: a flood from 127.0.0.1 is shed while a poller on 127.0.0.2 is served
    let flooding = true;
    const floodStart = performance.now();
    const flood = Promise.all(Array.from({ length: 4 }, async () => {
      const statuses: (number | null)[] = [];
      while (flooding) statuses.push((await rawRequest(port, get("/health", [AUTH]))).status);
      return statuses;
    }));
    const poll: RawReply[] = [];
    for (let i = 0; i < 4; i++) {
      // A poller's period is the scenario (a dashboard polls on a timer), not a wait.
      await new Promise((r) => setTimeout(r, 250));
      poll.push(await rawRequest(port, get("/health", [AUTH]), { localAddress: "127.0.0.2" }));
    }
    flooding = false;
    const flooded = (await flood).flat();
    // The budgets run on the real clock here: bounds scale with how long the flood really
    // lasted (a loaded machine stretches it), so they test the budget, not the machine's speed.
    const seconds = (performance.now() - floodStart) / 1000;
    assertEquals(poll.map((r) => r.status), [200, 200, 200, 200], "the poller was served");
    // the flooder got its burst, then 429s, each after a 1 s hold (so it retried slowly)
    const served = flooded.filter((s) => s === 200).length;
    const refill = 5 * Math.ceil(seconds + 1);
    assert(served >= 10 && served <= 20 + refill, `${served} of ${flooded.length} in ${seconds} s`);
    assert(flooded.includes(429), JSON.stringify(flooded));
    const maxAttempts = served + 4 * Math.ceil(seconds + 1);
    assert(flooded.length <= maxAttempts, `${flooded.length} attempts: shed ones were not held`);

    assertEquals(await serve.stop("SIGTERM"), 0);
    const all = serve.stderr.lines.join("\n");
    assert(!all.includes(TOKEN), "the token never reaches stderr");
    assertEquals(serve.stderr.lines.filter((l) => l.startsWith("rigforge-api")).length, 1);
  } finally {
    await serve.stop("SIGKILL");
    await xmrig.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("idle exit under a systemd stand-in: exit 0, restarted on the next connection, none lost", async () => {
  const xmrig = await startStandin();
  const dir = await tempRig(null);
  const missing = join(dir, "run", "snapshot.json");
  const fake = await startFakeSystemd([
    "--rigforge-home",
    dir,
    "--xmrig",
    xmrig.url,
    "--snapshot",
    missing,
    "--idle-exit",
    "0.3",
  ]);
  try {
    const first = await rawRequest(fake.port, get("/2/summary"), { timeoutMs: 30_000 });
    assertEquals(first.status, 200);
    const line = await fake.stderr.wait(/^rigforge-api serve: listening/);
    assertMatch(line, /\(socket-activated, idle exit 0.3 s\), token: open, snapshot: \//);
    assert(line.includes(`snapshot: ${missing},`), "socket-activated: never embedded");
    assertMatch(first.body, /"status": "missing"/);
    // idle → exit 0 (the harness prints EXIT <pid> <code>)
    await fake.stdout.wait(/^EXIT \d+ 0$/, 10_000);
    assertEquals(fake.starts(), 1);
    // a connection while no service runs waits in the kept socket's backlog
    const queued = await rawRequest(fake.port, get("/2/summary"), { timeoutMs: 30_000 });
    assertEquals(queued.status, 200);
    assertEquals(fake.starts(), 2);
    // requests spaced around the idle time land before, during and after exits: all served
    // (gaps alternate between shorter than the idle time and longer than it, with jitter)
    const statuses: (number | null)[] = [];
    // The gaps are the scenario (requests racing the idle exit), not waits for a condition.
    for (let i = 0; i < 6; i++) {
      const gap = i % 2 === 0 ? 100 + Math.random() * 250 : 450 + Math.random() * 250;
      await new Promise((r) => setTimeout(r, gap));
      statuses.push((await rawRequest(fake.port, get("/tune"), { timeoutMs: 30_000 })).status);
    }
    assertEquals(statuses, new Array(6).fill(200));
    assert(fake.starts() >= 4, `${fake.starts()} starts`);
    assertEquals(await fake.stop("SIGTERM"), 0);
    assertEquals(fake.exits().every((code) => code === 0), true, fake.stdout.lines.join("\n"));
  } finally {
    await fake.stop("SIGKILL");
    await xmrig.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("standalone on --port: slow clients and the connection cap under the real limits", async () => {
  const dir = await tempRig(null);
  const port = freePort();
  const serve = spawnServe([
    "--rigforge-home",
    dir,
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--xmrig",
    "http://127.0.0.1:9",
    "--snapshot",
    join(dir, "none.json"),
    "--embedded-probe",
    "off",
    "--idle-exit",
    "1",
    "--rate",
    "0",
    "--global-rate",
    "0",
  ]);
  try {
    const line = await serve.stderr.wait(/^rigforge-api serve: listening/, 30_000);
    assertMatch(line, new RegExp(`listening on 127\\.0\\.0\\.1:${port} \\(standalone\\)`));
    assertMatch(line, /admission: unlimited$/);
    // a silent client and a trickling one do not delay a good request
    let slowDone = 0;
    const silent = rawRequest(port, null, { timeoutMs: 30_000 }).finally(() => slowDone++);
    const trickle = rawRequest(port, "GET /tune HTTP/1.1\r\nHo", { timeoutMs: 30_000 })
      .finally(() => slowDone++);
    await waitFor(
      "the silent and the trickling client to be connected",
      () => establishedOn(port) >= 2,
    );
    const good = await rawRequest(port, get("/tune"));
    assertEquals(good.status, 200);
    assertEquals(slowDone, 0, "the good request was answered before the slow ones were dropped");
    // 64 open connections (the two slow ones + 62 idle): a good client still gets in, the
    // quietest connection still reading its head (the silent one, the oldest) makes room
    const idle = [];
    for (let i = 0; i < 62; i++) idle.push(await idleConnection(port));
    await waitFor("64 open connections", () => establishedOn(port) >= 64);
    const atCap = await rawRequest(port, get("/tune"), { timeoutMs: 10_000 });
    assertEquals(atCap.status, 200, atCap.text);
    const evicted = await silent;
    assertEquals([evicted.status, evicted.end], [null, "closed"], "the silent one made room");
    // the trickler is dropped on schedule (5 s header timeout, checked every second) with 408
    for (const reply of [await trickle]) {
      assertEquals(reply.status, 408, reply.text);
      const after = reply.ms;
      assert(after >= 4900, `dropped after ${after} ms, before the 5 s header timeout`);
    }
    // the idle ones never sent a byte: dropped too (408), not held forever
    const idleReplies = await Promise.all(idle.map((c) => c.closed));
    assert(idleReplies.every((text) => text.startsWith("HTTP/1.1 408 ")), idleReplies[0]);
    // standalone never idle-exits (--idle-exit applies to socket activation only)
    assertEquals((await rawRequest(port, get("/tune"))).status, 200);
    assertEquals(await serve.stop("SIGTERM"), 0);
  } finally {
    await serve.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("standalone without a snapshot probes in-process (embedded) and serves that machine", async () => {
  const port = freePort();
  const serve = spawnServe([
    "--rigforge-home",
    join(RIGFORGE_DIR, "zen4"),
    "--root",
    join(ROOTS_DIR, "zen4"),
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--xmrig",
    "http://127.0.0.1:9",
    "--snapshot",
    "/nonexistent/snapshot.json",
  ]);
  try {
    const line = await serve.stderr.wait(/^rigforge-api serve: listening/, 30_000);
    assertMatch(
      line,
      /snapshot: embedded probe every 15 s \(the snapshot file is missing\)/,
    );
    const config = await readConfig(join(RIGFORGE_DIR, "zen4", "config.json"));
    assertMatch(line, /token: required/);
    const health = await rawRequest(
      port,
      get("/health", [`Authorization: Bearer ${config?.accessToken}`]),
    );
    assertEquals(health.status, 200, health.text);
    const body = JSON.parse(health.body);
    assertEquals(body.hugepages_total, 1280, "zen4's /proc/meminfo, not this machine's");
    assertEquals(body.snapshot.status, "fresh");
    assertEquals(await serve.stop("SIGTERM"), 0);
    assert(!serve.stderr.lines.join("\n").includes("LEAKCHECK"));
  } finally {
    await serve.stop("SIGKILL");
  }
});

Deno.test("refusals: an unusable config exits 1 without the token; bad flags exit 2", async () => {
  const badType = await tempRig({ ACCESS_TOKEN: 123 });
  const broken = await tempRig('{"ACCESS_TOKEN": "sekrit-token-4711", "api": ');
  const credentials = await tempRig(null);
  await Deno.writeTextFile(join(credentials, "config"), '{"ACCESS_TOKEN": "sekrit-cred-0815",');
  try {
    const [typed, truncated, credential, flags] = await Promise.all([
      runCli(["serve", "--rigforge-home", badType, "--port", "0"]),
      runCli(["serve", "--rigforge-home", broken, "--port", "0"]),
      runCli(["serve", "--port", "0"], { env: { CREDENTIALS_DIRECTORY: credentials } }),
      runCli(["serve", "--bind", "rig.local"]),
    ]);
    for (const result of [typed, truncated, credential]) {
      assertEquals(result.code, 1, result.stderr);
      assertMatch(result.stderr, /^rigforge-api serve: config error: /);
      assert(!/sekrit|4711|0815/.test(result.stderr + result.stdout), result.stderr);
      assert(!result.stderr.includes("listening"), "refused before listening");
    }
    assert(credential.stderr.includes(join(credentials, "config")), credential.stderr);
    assertEquals(flags.code, 2);
    assertMatch(flags.stderr, /--bind must be an IPv4 or IPv6 address/);
  } finally {
    for (const dir of [badType, broken, credentials]) await Deno.remove(dir, { recursive: true });
  }
});
