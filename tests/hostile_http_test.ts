/**
 * The malformed-HTTP corpus (issue 6, item 1): well over 200 generated hostile requests sent
 * over raw sockets to a real `serve` process (standalone, then socket-activated), each checked
 * for a well-formed XMRig-style answer with the documented status (or, where documented, a
 * clean close), each followed by a good request that must still get its 200. The server runs
 * in a fresh empty working directory with a fresh empty `TMPDIR`; afterwards both must still
 * be empty and the snapshot directory unchanged (nothing is ever written to disk), stderr must
 * hold only the start-up line, and the process must exit 0 on SIGTERM.
 *
 * Admission control is off (`--rate 0 --global-rate 0`): with it on, most of the corpus would be
 * shed by a close right after accept, which would prove nothing about the parser.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { dirname, join } from "node:path";
import { type Case, corpus, request, runCase } from "./_corpus.ts";
import { exchange, get, parseResponse } from "./_rawhttp.ts";
import {
  listTree,
  requireSocketActivate,
  type ServeHandle,
  startServe,
  writeFreshSnapshot,
} from "./_serve.ts";
import { RIGFORGE_DIR } from "./_snapshot.ts";
import { startStandin } from "./_xmrig_standin.ts";
import { waitFor } from "./_wait.ts";

const TOKEN = "tok-HOSTILE-5c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f";
const AUTH = `Authorization: Bearer ${TOKEN}`;
const POOL_PASS = "pass-HOSTILE-pool-secret";

interface CorpusRun {
  tried: number;
  failures: string[];
  byStatus: Record<string, number>;
  goodMaxMs: number;
  ms: number;
}

/** Runs the whole corpus against one server, a good request after each case. */
async function runCorpus(serve: ServeHandle, cases: Case[]): Promise<CorpusRun> {
  const started = performance.now();
  const failures: string[] = [];
  const byStatus: Record<string, number> = {};
  let goodMaxMs = 0;
  for (const c of cases) {
    const outcome = await runCase(serve.port, c, [TOKEN, POOL_PASS]);
    const key = outcome.status === null ? "close" : String(outcome.status);
    byStatus[key] = (byStatus[key] ?? 0) + 1;
    if (!outcome.ok) failures.push(`[${c.family}] ${c.name}: ${outcome.detail}`);
    if (VERBOSE) {
      // deno-lint-ignore no-console
      console.log(`  [${c.family}] ${c.name}: ${outcome.ok ? "ok" : "FAIL"} ${outcome.detail}`);
    }
    try {
      const after = await get(serve.port, "/health", [AUTH], { timeoutMs: 2000 });
      if (after.response.status !== 200) throw new Error(`status ${after.response.status}`);
      goodMaxMs = Math.max(goodMaxMs, after.ms);
    } catch (error) {
      failures.push(`[${c.family}] ${c.name}: the next good request failed: ${error}`);
    }
  }
  return { tried: cases.length, failures, byStatus, goodMaxMs, ms: performance.now() - started };
}

const CASES = corpus(TOKEN);
/** HOSTILE_VERBOSE=1 prints every case's answer (for docs/reliability.md). */
const VERBOSE = Deno.env.get("HOSTILE_VERBOSE") === "1";

/** A request with the good headers (Host and the bearer) unless `headers` replaces them. */
function req(line: string, headers: string[] = ["Host: rig", AUTH], body = ""): string {
  return request(line, headers, body);
}

Deno.test("the corpus has at least 200 distinct cases in every family the issue names", () => {
  assert(CASES.length >= 200, `only ${CASES.length} cases`);
  const names = CASES.map((c) => `${c.family}/${c.name}`);
  assertEquals(new Set(names).size, names.length, "case names are unique");
  for (
    const family of [
      "request line",
      "version",
      "huge headers",
      "duplicate headers",
      "header injection",
      "paths",
      "NUL bytes",
      "invalid UTF-8",
      "bodies",
      "chunked",
      "pipelined",
      "HTTP/1.0",
      "HTTP/2",
      "TLS",
    ]
  ) {
    assert(CASES.some((c) => c.family === family), `family ${family}`);
  }
});

Deno.test("runCase() fails a server that answers wrongly, late or not at all", async () => {
  // The judge itself must be able to fail: a fake server that answers 200 with HTML, one that
  // sends two responses, one that never answers.
  const fakes: [string, (conn: Deno.Conn) => Promise<void>][] = [
    ["html", async (conn) => {
      await conn.write(new TextEncoder().encode(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: x\r\nContent-Length: 2\r\n\r\nno",
      ));
    }],
    ["two responses", async (conn) => {
      const one = `HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}`;
      await conn.write(new TextEncoder().encode(one + one));
    }],
    // the fake's behaviour under test: it accepts and says nothing for 3 s
    ["silent", () => new Promise((resolve) => setTimeout(resolve, 3000))],
  ];
  for (const [name, behave] of fakes) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const serving = (async () => {
      const conn = await listener.accept();
      await behave(conn).catch(() => {});
      try {
        conn.close();
      } catch {
        // closed by the client
      }
    })();
    const outcome = await runCase(port, {
      family: "self-test",
      name,
      send: [req("GET /health HTTP/1.1")],
      expect: [400, 200],
    }, []);
    assert(!outcome.ok, `${name} must fail: ${outcome.detail}`);
    await serving;
    listener.close();
  }
});

async function corpusAgainst(activation: "standalone" | "socket"): Promise<void> {
  const xmrig = await startStandin({ token: TOKEN });
  const run = await Deno.makeTempDir({ prefix: "rf-hostile-run-" });
  const snapshotPath = join(run, "rigforge-api", "snapshot.json");
  await writeFreshSnapshot(snapshotPath, "zen4");
  const before = listTree(dirname(snapshotPath));
  const serve = await startServe({
    activation,
    homeFrom: join(RIGFORGE_DIR, "zen4"),
    config: {
      api: "enabled",
      ACCESS_TOKEN: TOKEN,
      pools: [{ url: "pool.lan:3333", user: "rig-hostile", pass: POOL_PASS }],
    },
    snapshot: snapshotPath,
    xmrig: xmrig.url,
    args: ["--rate", "0", "--global-rate", "0"],
  });
  const startupLines = serve.stderr().split("\n").filter((l) => l !== "").length;
  let stopped = false;
  try {
    const result = await runCorpus(serve, CASES);
    // deno-lint-ignore no-console
    console.log(
      `hostile-http[${activation}]: ${result.tried} cases, ${result.failures.length} failures, ` +
        `statuses ${JSON.stringify(result.byStatus)}, good request after each: max ` +
        `${Math.round(result.goodMaxMs)} ms, ${Math.round(result.ms)} ms in all`,
    );
    assertEquals(result.failures, [], result.failures.join("\n"));
    assert(serve.rssKiB() !== null, "the server is still running");
    assertEquals(listTree(join(serve.dir, "cwd")), [], "nothing written to the working directory");
    assertEquals(listTree(join(serve.dir, "tmp")), [], "nothing written to TMPDIR");
    assertEquals(listTree(dirname(snapshotPath)), before, "the snapshot directory is unchanged");
    const { code, stderr } = await serve.stop();
    stopped = true;
    assertEquals(code, 0, stderr);
    const lines = stderr.split("\n").filter((l) => l !== "");
    assertEquals(lines.length, startupLines, `stderr holds only the start-up lines:\n${stderr}`);
    for (const secret of [TOKEN, POOL_PASS]) assert(!stderr.includes(secret), "secret in stderr");
  } finally {
    if (!stopped) await serve.stop();
    await xmrig.close();
    await Deno.remove(run, { recursive: true });
  }
}

Deno.test("hostile corpus: standalone serve answers every case well and stays up", async () => {
  await corpusAgainst("standalone");
});

Deno.test("hostile corpus: socket-activated serve (fd 3) answers every case the same way", () => {
  requireSocketActivate();
  return corpusAgainst("socket");
});

Deno.test("a client that half-closes after its request still gets the whole answer", async () => {
  // `printf 'GET ...' | nc -N` and some HTTP/1.0 clients send FIN right after the request. The
  // answer must not be lost while the handler waits for XMRig (a cache miss) or the snapshot.
  const xmrig = await startStandin({ token: TOKEN, mode: "slow", delayMs: 50 });
  const serve = await startServe({
    config: { ACCESS_TOKEN: TOKEN },
    xmrig: xmrig.url,
    args: ["--rate", "0", "--global-rate", "0"],
  });
  await writeFreshSnapshot(serve.snapshot, "zen4");
  try {
    await waitFor("the snapshot to be seen", async () => {
      const { response } = await get(serve.port, "/health", [`Authorization: Bearer ${TOKEN}`]);
      return JSON.parse(new TextDecoder().decode(response.body)).snapshot?.status === "fresh";
    });
    const paths = ["/1/summary", "/2/summary", "/api.json", "/2/backends", "/health", "/tune"];
    const failures: string[] = [];
    // all at once, while XMRig (50 ms) and the snapshot's first look keep the handler waiting
    await Promise.all(paths.flatMap((path) =>
      ["1.1", "1.0"].map(async (version) => {
        const result = await exchange(serve.port, [req(`GET ${path} HTTP/${version}`)], {
          timeoutMs: 3000,
          halfClose: true,
        });
        const parsed = parseResponse(result.bytes);
        if (typeof parsed === "string" || parsed.status !== 200) {
          failures.push(
            `${path} HTTP/${version}: ${
              typeof parsed === "string" ? `${parsed} (${result.end})` : parsed.status
            }`,
          );
        }
      })
    ));
    assertEquals(failures, [], failures.join("\n"));
  } finally {
    await serve.stop();
    await xmrig.close();
  }
});
