/**
 * Auth and secrets (issue 6, item 4):
 * - a token of the wrong type in the config makes `serve` refuse to start (never run open);
 * - the bearer comparison is constant-time: instrumented, it reads every byte of every
 *   accepted credential on every check, wherever the mismatch is; and a timing check (medians
 *   of many interleaved batches, generous bound) sees no difference between a wrong first byte
 *   and a wrong last byte, while the same check does catch an early-exit comparison;
 * - a leak sweep with distinctive secrets (token, named tokens, their derived bearers, pool
 *   passwords, the XMRig config's own token) over every route, method, credential and status,
 *   headers included, with XMRig up and down, and over everything `serve`, `probe`, `doctor`,
 *   `tune-history` and `units` print or write.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { ROUTES } from "../src/http/handler.ts";
import { buildAuth, checkAuth, deriveReadBearer } from "../src/http/auth.ts";
import { validateConfig } from "../src/rigforge/config.ts";
import { runCli } from "./_cli.ts";
import { ROOTS_DIR } from "./_context.ts";
import { exchange, get, latin1, median } from "./_rawhttp.ts";
import { copyTree, startServe } from "./_serve.ts";
import { RIGFORGE_DIR } from "./_snapshot.ts";
import { startStandin } from "./_xmrig_standin.ts";
import { waitFor } from "./_wait.ts";

// ---- 1. a token of the wrong type: refuse to start ----

Deno.test("serve refuses to start when a token has the wrong type or is blank (never runs open)", async () => {
  const cases: [string, string, RegExp][] = [
    ["number", '{"ACCESS_TOKEN": 123}', /ACCESS_TOKEN must be a string or null, not a number/],
    ["zero", '{"ACCESS_TOKEN": 0}', /ACCESS_TOKEN must be a string or null, not a number/],
    ["true", '{"ACCESS_TOKEN": true}', /not a boolean/],
    ["false", '{"ACCESS_TOKEN": false}', /not a boolean/],
    ["array", '{"ACCESS_TOKEN": ["tok-WRONGTYPE-1"]}', /not a array|not an array/],
    ["object", '{"ACCESS_TOKEN": {"t": "tok-WRONGTYPE-2"}}', /not a object|not an object/],
    [
      "named number",
      '{"ACCESS_TOKENS": {"grafana": 5}}',
      /ACCESS_TOKENS\.grafana must be a string/,
    ],
    ["named list", '{"ACCESS_TOKENS": ["tok-WRONGTYPE-3"]}', /ACCESS_TOKENS must be an object/],
    // issue 12 item 2: a blank token never opens the API
    ["blank", '{"ACCESS_TOKEN": "   "}', /ACCESS_TOKEN is blank \(only whitespace\)/],
    ["tab", '{"ACCESS_TOKEN": "\\t"}', /ACCESS_TOKEN is blank/],
    ["newlines", '{"ACCESS_TOKEN": "\\r\\n \\n"}', /ACCESS_TOKEN is blank/],
    ["named blank", '{"ACCESS_TOKENS": {"ro": " \\t "}}', /ACCESS_TOKENS\.ro is blank/],
    // issue 12 item 8: api_allow_from errors name the entry, never its value
    [
      "allow from",
      '{"ACCESS_TOKEN": "tok-ok-1", "api_allow_from": "10.0.0.1, tok-WRONGTYPE-4"}',
      /api_allow_from: entry 2 of 2 is not an IPv4\/IPv6 address or CIDR/,
    ],
    [
      "allow list",
      '{"api_allow_from": ["10.0.0.1", {"x": "tok-WRONGTYPE-5"}]}',
      /api_allow_from: entry 2 of 2 \(a object\)/,
    ],
  ];
  const dir = await Deno.makeTempDir({ prefix: "rf-wrongtype-" });
  try {
    const results = await Promise.all(cases.map(async ([name, text]) => {
      const file = join(dir, `${name.replaceAll(" ", "-")}.json`);
      await Deno.writeTextFile(file, text);
      return await runCli(["serve", "--config", file, "--bind", "127.0.0.1", "--port", "0"], {
        cwd: dir,
      });
    }));
    for (const [i, [name, , message]] of cases.entries()) {
      const result = results[i]!;
      assertEquals(result.code, 1, `${name}: ${result.stderr}`);
      assertMatch(result.stderr, /^rigforge-api serve: config error: /, name);
      assertMatch(result.stderr, message, name);
      assert(!result.stderr.includes("WRONGTYPE"), `${name}: the value is echoed`);
      assert(!/listening/.test(result.stderr), `${name}: it listened`);
      assertEquals(result.stdout, "");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- 2. constant-time comparison ----

/**
 * Times two calls in `rounds` interleaved batches (ABBA order, so drifting machine load hits
 * both alike).
 *
 * @returns the median ns per call of each, and the median of the per-round ratios b / a
 */
function timeTwo(
  a: () => void,
  b: () => void,
  rounds = 41,
  batch = 150,
): [number, number, number] {
  const ta: number[] = [];
  const tb: number[] = [];
  const run = (fn: () => void, into: number[]) => {
    const start = performance.now();
    for (let i = 0; i < batch; i++) fn();
    into.push(((performance.now() - start) * 1e6) / batch);
  };
  for (let i = 0; i < 5; i++) { // warm-up (JIT)
    run(a, []);
    run(b, []);
  }
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      run(a, ta);
      run(b, tb);
    } else {
      run(b, tb);
      run(a, ta);
    }
  }
  return [median(ta), median(tb), median(ta.map((t, i) => tb[i]! / t))];
}

Deno.test("timing: a wrong first byte and a wrong last byte cost the same (an early exit would not)", async () => {
  // A long token makes the per-byte work dominate the fixed costs (encoding, the regex).
  const token = "k".repeat(4096);
  const auth = await buildAuth(validateConfig({ ACCESS_TOKEN: token }, "test"));
  const wrongFirst = [`Bearer X${token.slice(1)}`];
  const wrongLast = [`Bearer ${token.slice(0, -1)}X`];
  const [first, last, ratio] = timeTwo(
    () => void checkAuth(auth, wrongFirst),
    () => void checkAuth(auth, wrongLast),
  );
  // Power: the per-call cost must be dominated by the byte loop (so an early exit at the first
  // byte would collapse the wrong-first time to the fixed costs, far outside the bound). The
  // same check with a 40-byte token measures those fixed costs.
  const shortToken = "k".repeat(40);
  const shortAuth = await buildAuth(validateConfig({ ACCESS_TOKEN: shortToken }, "test"));
  const shortFirst = [`Bearer X${shortToken.slice(1)}`];
  const [fixed] = timeTwo(
    () => void checkAuth(shortAuth, shortFirst),
    () => void checkAuth(shortAuth, shortFirst),
    21,
  );
  // deno-lint-ignore no-console
  console.log(
    `constant-time: checkAuth with a 4 KiB token: wrong first byte ${first.toFixed(0)} ns, ` +
      `wrong last byte ${last.toFixed(0)} ns (median ratio ${ratio.toFixed(2)}); a 40-byte token ` +
      `(fixed costs) ${fixed.toFixed(0)} ns`,
  );
  assert(ratio > 0.6 && ratio < 1.6, `checkAuth: wrong-last / wrong-first = ${ratio}`);
  assert(first / fixed > 5, `the byte loop does not dominate (${first} vs ${fixed} ns)`);
});

// The instrumented check runs after the timing one: proxies seen by the comparison would
// leave its optimised code deoptimised for the rest of the process.

/** One value auth.ts encoded while counting: the string and reads per index. */
interface Counted {
  input: string;
  counts: number[];
}

/**
 * Runs `body` with `TextEncoder.prototype.encode` returning, for strings that start with
 * `Bearer ` (the accepted values and the presented header, nothing else auth.ts encodes), a
 * proxy that counts reads of each index. WebCrypto (the derived bearers) gets real bytes.
 */
async function withCountingEncoder<T>(body: (encoded: Counted[]) => Promise<T>): Promise<T> {
  const original = TextEncoder.prototype.encode;
  const encoded: Counted[] = [];
  TextEncoder.prototype.encode = function (this: TextEncoder, input?: string): Uint8Array {
    const bytes = original.call(this, input);
    if (input === undefined || !input.startsWith("Bearer ")) return bytes;
    const counts: number[] = [];
    encoded.push({ input, counts });
    return new Proxy(bytes, {
      get(target, key) {
        if (typeof key === "string" && /^\d+$/.test(key)) {
          const i = Number(key);
          counts[i] = (counts[i] ?? 0) + 1;
        }
        return Reflect.get(target, key);
      },
    });
  } as typeof original;
  try {
    return await body(encoded);
  } finally {
    TextEncoder.prototype.encode = original;
  }
}

Deno.test("checkAuth reads every byte of every accepted credential, wherever the mismatch is", async () => {
  const master = "tok-CT-master-0123456789abcdef0123456789abcdef";
  const named = "tok-CT-named-fedcba9876543210fedcba98765432";
  const short = "tok-CT-short";
  await withCountingEncoder(async (encoded) => {
    const config = validateConfig(
      { ACCESS_TOKEN: master, ACCESS_TOKENS: { grafana: named, cron: short } },
      "test",
    );
    const auth = await buildAuth(config);
    const candidates = [...encoded];
    // master + derived, named + derived, short (too short to derive)
    assertEquals(candidates.length, 5, candidates.map((c) => c.input).join(", "));
    assertEquals(auth.accepted, 5);
    const width = Math.max(...candidates.map((c) => c.input.length));
    const derived = await deriveReadBearer(master);
    const presented: [string, string][] = [
      ["right", `Bearer ${master}`],
      ["right (derived)", `Bearer ${derived}`],
      ["right (short named)", `Bearer ${short}`],
      ["wrong first byte", `Bearer X${master.slice(1)}`],
      ["wrong last byte", `Bearer ${master.slice(0, -1)}X`],
      ["one byte", "Bearer x"],
      ["empty credential", "Bearer "],
      ["longer than every candidate", `Bearer ${"y".repeat(200)}`],
    ];
    for (const [name, header] of presented) {
      for (const candidate of candidates) candidate.counts.length = 0;
      const verdict = checkAuth(auth, [header]);
      assertEquals(verdict, name.startsWith("right") ? "ok" : "wrong", name);
      for (const { input, counts } of candidates) {
        // every real byte of every candidate read exactly once, match or not
        for (let i = 0; i < input.length; i++) {
          assertEquals(counts[i], 1, `${name}: byte ${i} of a ${input.length}-byte credential`);
        }
      }
      const mine = encoded.at(-1)!;
      assertEquals(mine.input, header, "the presented value was encoded last");
      for (let i = 0; i < Math.min(width, header.length); i++) {
        assertEquals(mine.counts[i], candidates.length, `${name}: presented byte ${i}`);
      }
    }
  });
});

// ---- 3. the leak sweep ----

const MASTER = "tok-LEAKSWEEP-master-7f3a9c2e5b1d4f6a8c0e2b4d6f8a1c3e";
const NAMED = "tok-LEAKSWEEP-named-grafana-0a1b2c3d4e5f60718293a4b5";
const NAMED_SHORT = "tok-LEAKSWEEP-cron";
const POOL_PASS = "pass-LEAKSWEEP-primary-pool";
const POOL_PASS_2 = "pass-LEAKSWEEP-backup-pool";
const FINGERPRINT = "fp-LEAKSWEEP-0f0e0d0c0b0a09080706050403020100";
const URL_PASS = "url-LEAKSWEEP/pw:x";

const SWEEP_CONFIG = {
  api: "enabled",
  ACCESS_TOKEN: MASTER,
  ACCESS_TOKENS: { grafana: NAMED, cron: NAMED_SHORT },
  pools: [
    { url: "pithead.lan:3333", user: "rig-sweep", pass: POOL_PASS, "tls-fingerprint": null },
    {
      url: "backup.example:443",
      user: "rig-sweep",
      pass: POOL_PASS_2,
      tls: true,
      "tls-fingerprint": FINGERPRINT,
    },
    {
      // issue 12: a URL userinfo password (with a `/` in it), a password key nested in arrays,
      // token-named keys at depth, and a token's value under an innocent key
      url: `stratum+tcp://rig-sweep:${URL_PASS}@pool.example:3333`,
      user: "rig-sweep",
      pass: null,
      extra: [{ deep: { password: "pw-LEAKSWEEP-nested" } }, { api_token: ["tk-LEAKSWEEP-a"] }],
      "rig-id": MASTER,
      notes: [NAMED, `socks5://rig:${URL_PASS}@proxy.lan:1080`],
    },
  ],
  autotune: "efficiency",
  watchdog: "enabled",
  max_temp_c: 90,
};

/** Every secret and the markers no output may carry in any form we can think of. */
async function secretsToFind(): Promise<string[]> {
  const derived = await Promise.all([MASTER, NAMED].map(deriveReadBearer));
  const b64 = [MASTER, NAMED, NAMED_SHORT, POOL_PASS].map((s) => btoa(s));
  return [
    "LEAKSWEEP",
    "leaksweep",
    "LEAKCHECK", // the fixture home's own secrets (its XMRig config's token and pool passwords)
    ...derived,
    ...derived.map((d) => d.slice(0, 16)),
    ...b64,
    "7f3a9c2e5b1d4f6a8c0e", // the master token's random part alone
  ];
}

function findLeaks(where: string, text: string, secrets: string[]): string[] {
  const lower = text.toLowerCase();
  return secrets.filter((s) => lower.includes(s.toLowerCase())).map((s) => `${where}: ${s}`);
}

Deno.test("leak sweep: no secret in any response (headers included) or any output", async () => {
  const secrets = await secretsToFind();
  const derivedMaster = await deriveReadBearer(MASTER);
  const derivedNamed = await deriveReadBearer(NAMED);
  const leaks: string[] = [];
  let exchanges = 0;
  const statuses = new Set<number>();
  const xmrig = await startStandin({ token: MASTER });
  const serve = await startServe({
    homeFrom: join(RIGFORGE_DIR, "zen4"),
    config: SWEEP_CONFIG,
    xmrig: xmrig.url,
    args: ["--rate", "0", "--global-rate", "0"],
  });
  const work = await Deno.makeTempDir({ prefix: "rf-sweep-" });
  try {
    // the snapshot serve reads is written by `probe` from the sweep's own config, so every
    // secret shape above reaches the API (and the file) the way it would on a rig
    const probed = await runCli([
      "probe",
      "--rigforge-home",
      serve.home,
      "--config",
      join(serve.home, "config.json"),
      "--root",
      join(ROOTS_DIR, "zen4"),
      "--out",
      serve.snapshot,
    ], { cwd: work });
    assertEquals(probed.code, 0, probed.stderr);
    const served = await Deno.readTextFile(serve.snapshot);
    leaks.push(...findLeaks("the served snapshot file", served, secrets));
    assert(served.includes('"rig-sweep"'), "the pool user (a worker name) is still there");
    // every route the handler knows (a new one is swept without editing this test), plus misses
    const routes = [
      ...ROUTES,
      "/",
      "/nope",
      "/1/config",
      "/2/config",
      `/health?access_token=${MASTER}`,
    ];
    const credentials: [string, string[]][] = [
      ["none", []],
      ["master", [`Authorization: Bearer ${MASTER}`]],
      ["named", [`Authorization: Bearer ${NAMED}`]],
      ["short named", [`Authorization: Bearer ${NAMED_SHORT}`]],
      ["derived", [`Authorization: Bearer ${derivedMaster}`]],
      ["derived named", [`Authorization: Bearer ${derivedNamed}`]],
      ["wrong", ["Authorization: Bearer tok-wrong"]],
      ["almost", [`Authorization: Bearer ${MASTER.slice(0, -1)}`]],
    ];
    const send = async (where: string, bytes: string | Uint8Array) => {
      const result = await exchange(serve.port, [bytes], { timeoutMs: 3000 });
      exchanges++;
      const text = new TextDecoder().decode(result.bytes);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (status !== null) statuses.add(Number(status[1]));
      else leaks.push(`${where}: no answer (${result.end})`);
      leaks.push(...findLeaks(where, text, secrets));
    };
    for (const phase of ["xmrig up", "xmrig down", "xmrig 500"] as const) {
      if (phase === "xmrig down") await xmrig.setMode("down");
      if (phase === "xmrig 500") await xmrig.setMode("500");
      // XMRig's replies are cached for 1 s: wait until the server reports the new state
      const word =
        { "xmrig up": null, "xmrig down": "connection refused", "xmrig 500": "http 500" }[
          phase
        ];
      await waitFor(`${phase}: the server to report it`, async () => {
        const { response } = await get(serve.port, "/2/summary", [
          `Authorization: Bearer ${MASTER}`,
        ]);
        const body = JSON.parse(new TextDecoder().decode(response.body));
        return body.rigforge?.xmrig_error === word;
      });
      for (const route of routes) {
        for (const [name, headers] of credentials) {
          for (const method of ["GET", "HEAD", "OPTIONS", "POST"]) {
            const accept = route === "/metrics" && method === "GET"
              ? ["Accept: application/openmetrics-text; version=1.0.0", "Accept: text/plain"]
              : [""];
            for (const a of accept) {
              const lines = [`${method} ${route} HTTP/1.1`, "Host: rig", ...headers];
              if (a !== "") lines.push(a);
              await send(`${phase} ${method} ${route} [${name}]`, lines.join("\r\n") + "\r\n\r\n");
            }
          }
        }
      }
    }
    // error statuses the listener makes: 400, 431, 405 with a body, 404 with a token in the path
    await send(
      "400",
      `GET /health HTTP/1.1\r\nHost: rig\r\nAuthorization: Bearer ${MASTER}\r\nX: a\rb\r\n\r\n`,
    );
    await send(
      "431",
      `GET /health HTTP/1.1\r\nHost: rig\r\nAuthorization: Bearer ${MASTER}\r\nX: ${
        "a".repeat(9000)
      }\r\n\r\n`,
    );
    await send(
      "405",
      `PUT /1/config HTTP/1.1\r\nHost: rig\r\nContent-Length: ${POOL_PASS.length}\r\n\r\n${POOL_PASS}`,
    );
    await send(
      "404",
      `GET /${MASTER} HTTP/1.1\r\nHost: rig\r\nAuthorization: Bearer ${MASTER}\r\n\r\n`,
    );
    await send("400 (bad bytes)", latin1(`GET /${MASTER}\u0000 HTTP/1.1\r\nHost: rig\r\n\r\n`));
    await send("CONNECT", `CONNECT ${MASTER}:443 HTTP/1.1\r\nHost: rig\r\n\r\n`);

    const stopped = await serve.stop(true);
    leaks.push(...findLeaks("serve stderr", stopped.stderr, secrets));
    leaks.push(...findLeaks("serve stdout", stopped.stdout, secrets));

    // probe, doctor, tune-history, units over the same home and config
    const home = join(work, "home");
    await Deno.mkdir(home);
    await copyTree(serve.home, home);
    const config = join(home, "config.json");
    const root = join(ROOTS_DIR, "zen4");
    const out = join(work, "run", "snapshot.json");
    const commands: string[][] = [
      ["probe", "--rigforge-home", home, "--config", config, "--root", root, "--out", out],
      ["probe", "--print", "--rigforge-home", home, "--config", config, "--root", root],
      ["doctor", "--rigforge-home", home, "--config", config, "--root", root],
      ["doctor", "--json", "--rigforge-home", home, "--config", config, "--root", root],
      ["tune-history", "--rigforge-home", home, "--config", config, "--root", root],
      ["tune-history", "--json", "--rigforge-home", home, "--config", config, "--root", root],
      [
        "units",
        "--rigforge-home",
        home,
        "--config",
        config,
        "--binary",
        "/opt/rigforge/rigforge-api",
      ],
    ];
    const results = await Promise.all(commands.map((args) => runCli(args, { cwd: work })));
    for (const [i, args] of commands.entries()) {
      const result = results[i]!;
      const name = args.slice(0, 2).join(" ");
      assert(
        result.code === 0 || (args[0] === "doctor" && result.code === 1),
        `${name}: ${result.stderr}`,
      );
      assert(result.stdout.length > 0 || args[0] === "probe", `${name} printed nothing`);
      leaks.push(...findLeaks(`${name} stdout`, result.stdout, secrets));
      leaks.push(...findLeaks(`${name} stderr`, result.stderr, secrets));
    }
    leaks.push(...findLeaks("the snapshot file", await Deno.readTextFile(out), secrets));
    const snapshotMode = (await Deno.stat(out)).mode! & 0o777;
    assertEquals(snapshotMode, 0o644, "the snapshot is world-readable: all the more reason");

    // deno-lint-ignore no-console
    console.log(
      `leak-sweep: ${exchanges} exchanges (statuses ${[...statuses].sort().join(", ")}), ` +
        `${commands.length} command runs, ${secrets.length} secret forms searched, ` +
        `${leaks.length} leaks`,
    );
    assertEquals(leaks, [], leaks.slice(0, 20).join("\n"));
    for (const status of [200, 401, 403, 404, 405, 400, 431, 503]) {
      assert(statuses.has(status), `the sweep saw no ${status}`);
    }
  } finally {
    await serve.stop();
    await xmrig.close();
    await Deno.remove(work, { recursive: true });
  }
});
