/**
 * Shared test helper: the load scenario of `tests/load_test.ts` (CI size) and
 * `tests/soak_test.ts` (full size): a real `serve` with admission control off, a stand-in
 * XMRig, a snapshot rewritten by the real `probe` command every second, and N requests over C
 * concurrent connections (one request per connection, as the server closes every connection),
 * every answer checked. RSS is sampled after the first 1,000 requests and at the end.
 *
 * @module
 */

import { join } from "node:path";
import { runCli } from "./_cli.ts";
import { ROOTS_DIR } from "./_context.ts";
import { establishedOn, percentile, toBytes } from "./_rawhttp.ts";
import { type ServeHandle, startServe } from "./_serve.ts";
import { RIGFORGE_DIR } from "./_snapshot.ts";
import { waitFor } from "./_wait.ts";

/** A stand-in XMRig in its own process (in this one it would compete with the load for the CPU). */
async function standinProcess(token: string): Promise<{ url: string; stop(): Promise<void> }> {
  const module = new URL("./_xmrig_standin.ts", import.meta.url).href;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { startStandin } from ${JSON.stringify(module)};
       const s = await startStandin({ token: ${JSON.stringify(token)} });
       console.log("PORT " + s.port);`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/PORT \d+\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the XMRig stand-in did not start: ${text}`);
    text += value;
  }
  void (async () => {
    while (!(await reader.read()).done) {
      // drain
    }
  })();
  const port = Number(/PORT (\d+)/.exec(text)![1]);
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.status;
    },
  };
}

/** The token the scenario configures (distinctive, so a leak would be found). */
export const LOAD_TOKEN = "tok-LOAD-3e2d1c0b9a8f7e6d5c4b3a29180706f5";

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Requests in all. */
  requests: number;
  /** Concurrent connections. */
  connections: number;
  /** Run `probe --out <snapshot>` this often (the next one starts this long after the last ended), ms; 0: never. */
  probeEveryMs: number;
  /** Extra V8 flags for serve (the soak caps the old space to prove there is no leak). */
  v8Flags?: readonly string[];
  /** Extra work running beside the load (hostile clients in the soak), given the port. */
  beside?: (port: number, done: () => boolean) => Promise<void>;
  /**
   * Keep the load going past `requests` until the probe has rewritten the snapshot this many
   * times and two different snapshots were served (default 0: stop at `requests`). A fast
   * machine can finish the requests before a second probe pass; the condition is waited for,
   * not assumed from the wall clock.
   */
  minProbeRuns?: number;
}

/** What a load run measured. */
export interface LoadResult {
  requests: number;
  connections: number;
  /** Answers that were not a complete, well-formed 200 with the right body. */
  errors: number;
  /** The first few errors, described. */
  errorSamples: string[];
  /** Answers whose snapshot was unreadable (`read_error` set) or not fresh: a torn read. */
  tornReads: number;
  /**
   * Summaries answered with `xmrig_api: "unreachable"`, `xmrig_error: "timeout"`: the stand-in
   * missed serve's XMRig bound (a figure of the machine's load, not an error).
   */
  xmrigTimeouts: number;
  /** Summaries answered with XMRig's body (`xmrig_api: "ok"`). */
  xmrigOk: number;
  /** How many `probe` runs wrote the snapshot during the load, and how many failed. */
  probeRuns: number;
  probeFailures: number;
  /** Distinct snapshot stamps the answers carried (the probe's rewrites were seen). */
  stampsSeen: number;
  /** Wall time of the load, ms, and requests per second. */
  ms: number;
  perSecond: number;
  /** Latency percentiles, ms. */
  p50: number;
  p99: number;
  max: number;
  /** RSS of serve after the first 1,000 requests and after the last, KiB. */
  rssAfter1k: number;
  rssAfterAll: number;
  /** RSS samples (request count, KiB) along the way. */
  rssSamples: [number, number][];
  /** Whether serve was still running at the end; its exit code after SIGTERM. */
  alive: boolean;
  exitCode: number;
  /** serve's stderr lines beyond the start-up line. */
  extraStderr: string[];
}

const PATHS = ["/1/summary", "/2/summary", "/health", "/1/summary", "/tune", "/api.json"];

/**
 * Sends one request on a new connection and reads the answer to the close.
 *
 * @returns the raw bytes, or an error description
 */
async function once(port: number, request: Uint8Array): Promise<Uint8Array | string> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (error) {
    return `connect: ${error}`;
  }
  try {
    let offset = 0;
    while (offset < request.length) offset += await conn.write(request.subarray(offset));
    const parts: Uint8Array[] = [];
    let total = 0;
    const buffer = new Uint8Array(16384);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      parts.push(buffer.slice(0, n));
      total += n;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  } catch (error) {
    return `io: ${error}`;
  } finally {
    try {
      conn.close();
    } catch {
      // closed
    }
  }
}

const decoder = new TextDecoder();

/** Checks one answer; returns an error description, or the snapshot stamp and its state. */
function judge(
  path: string,
  bytes: Uint8Array,
): { error: string } | { stamp: string | null; torn: boolean; xmrig: "ok" | "timeout" | null } {
  const text = decoder.decode(bytes);
  const split = text.indexOf("\r\n\r\n");
  if (split < 0) return { error: `${path}: no head (${text.length} bytes)` };
  const head = text.slice(0, split);
  if (!head.startsWith("HTTP/1.1 200 OK\r\n")) {
    return { error: `${path}: ${head.split("\r\n")[0]}` };
  }
  const length = /\r\nContent-Length: (\d+)\r\n/.exec(head);
  const body = text.slice(split + 4);
  if (length === null || Number(length[1]) !== bytes.length - split - 4) {
    return {
      error: `${path}: Content-Length ${length?.[1]} for ${bytes.length - split - 4} bytes`,
    };
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body);
  } catch {
    return { error: `${path}: body is not JSON` };
  }
  const rigforge = json["rigforge"] as Record<string, unknown> | undefined;
  const snapshot =
    (path === "/health" || path === "/tune" ? json["snapshot"] : rigforge?.["snapshot"]) as
      | { status?: unknown; read_error?: unknown }
      | undefined;
  if (snapshot === undefined) return { error: `${path}: no snapshot block` };
  // A summary whose XMRig fetch missed serve's 250 ms bound is a correct answer (the documented
  // "unreachable"/"timeout" markers): on a starved machine the stand-in can be that slow. It is
  // counted as a figure; any other XMRig state is an error.
  let xmrig: "ok" | "timeout" | null = null;
  if (path !== "/health" && path !== "/tune") xmrig = "ok";
  if (xmrig !== null && rigforge?.["xmrig_api"] !== "ok") {
    if (rigforge?.["xmrig_api"] !== "unreachable" || rigforge?.["xmrig_error"] !== "timeout") {
      return {
        error: `${path}: xmrig_api ${rigforge?.["xmrig_api"]} (${rigforge?.["xmrig_error"]})`,
      };
    }
    xmrig = "timeout";
  }
  const torn = snapshot.read_error !== null || snapshot.status !== "fresh";
  const stamp = typeof json["generated_at"] === "string" ? json["generated_at"] : null;
  return { stamp, torn, xmrig };
}

/**
 * Runs the load scenario.
 *
 * @param options size, concurrency, probe period, extra work
 * @returns the measurements
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const xmrig = await standinProcess(LOAD_TOKEN);
  const serve: ServeHandle = await startServe({
    homeFrom: join(RIGFORGE_DIR, "zen4"),
    config: { api: "enabled", ACCESS_TOKEN: LOAD_TOKEN },
    xmrig: xmrig.url,
    args: ["--rate", "0", "--global-rate", "0"],
    v8Flags: options.v8Flags ?? [],
  });
  const startupLines = serve.stderr().split("\n").filter((l) => l !== "").length;
  const snapshotPath = serve.snapshot;
  const probeArgs = [
    "probe",
    "--root",
    join(ROOTS_DIR, "zen4"),
    "--rigforge-home",
    join(RIGFORGE_DIR, "zen4"),
    "--out",
    snapshotPath,
  ];
  // the first snapshot, before the load
  const first = await runCli(probeArgs, { cwd: serve.dir });
  if (first.code !== 0) throw new Error(`probe failed: ${first.stderr}`);

  let sent = 0;
  let finished = false;
  let errors = 0;
  let torn = 0;
  let xmrigTimeouts = 0;
  let xmrigOk = 0;
  const errorSamples: string[] = [];
  const stamps = new Set<string>();
  const latencies: number[] = [];
  let probeRuns = 0;
  let probeFailures = 0;
  let rssAfter1k = 0;
  const rssSamples: [number, number][] = [];
  const sampleEvery = Math.max(1000, Math.floor(options.requests / 10));
  let done = 0;

  const prober = (async () => {
    if (options.probeEveryMs <= 0) return;
    while (!finished) {
      // The probe's period is the scenario (RigForge's timer rewrites the snapshot on a
      // period), not a wait for some condition.
      await new Promise((resolve) => setTimeout(resolve, options.probeEveryMs));
      if (finished) break;
      const result = await runCli(probeArgs, { cwd: serve.dir });
      probeRuns++;
      if (result.code !== 0) probeFailures++;
    }
  })();
  const besides = options.beside?.(serve.port, () => finished) ?? Promise.resolve();

  const requests = PATHS.map((path) =>
    toBytes(`GET ${path} HTTP/1.1\r\nHost: rig\r\nAuthorization: Bearer ${LOAD_TOKEN}\r\n\r\n`)
  );
  const started = performance.now();
  const minProbeRuns = options.minProbeRuns ?? 0;
  // Past `requests`, the load goes on until the probe condition holds; the limit only stops a
  // broken probe from hanging the run (the caller's assertions then say what never happened).
  let extraUntil = Infinity;
  const more = () => {
    if (sent < options.requests) return true;
    if (probeRuns >= minProbeRuns && (minProbeRuns === 0 || stamps.size >= 2)) return false;
    if (extraUntil === Infinity) extraUntil = performance.now() + 120_000;
    return performance.now() < extraUntil;
  };
  const worker = async () => {
    while (more()) {
      const index = sent++;
      const which = index % PATHS.length;
      const t = performance.now();
      const answer = await once(serve.port, requests[which]!);
      latencies[index] = performance.now() - t;
      const verdict = typeof answer === "string"
        ? { error: `${PATHS[which]}: ${answer}` }
        : judge(PATHS[which]!, answer);
      if ("error" in verdict) {
        errors++;
        if (errorSamples.length < 10) errorSamples.push(verdict.error);
      } else {
        if (verdict.torn) torn++;
        if (verdict.xmrig === "timeout") xmrigTimeouts++;
        if (verdict.xmrig === "ok") xmrigOk++;
        if (verdict.stamp !== null) stamps.add(verdict.stamp);
      }
      done++;
      if (done === 1000) rssAfter1k = serve.rssKiB() ?? 0;
      if (done % sampleEvery === 0) rssSamples.push([done, serve.rssKiB() ?? 0]);
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const ms = performance.now() - started;
  finished = true;
  await prober;
  await besides;
  // The final reading once the server holds none of the load's connections any more.
  await waitFor(
    "the server to close the load's connections",
    () => establishedOn(serve.port) === 0,
    { limitMs: 30_000 },
  );
  const rssAfterAll = serve.rssKiB() ?? 0;
  const alive = serve.rssKiB() !== null;
  const stopped = await serve.stop();
  await xmrig.stop();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    requests: sent,
    connections: options.connections,
    errors,
    errorSamples,
    tornReads: torn,
    xmrigTimeouts,
    xmrigOk,
    probeRuns,
    probeFailures,
    stampsSeen: stamps.size,
    ms,
    perSecond: (sent / ms) * 1000,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? 0,
    rssAfter1k,
    rssAfterAll,
    rssSamples,
    alive,
    exitCode: stopped.code,
    extraStderr: stopped.stderr.split("\n").filter((l) => l !== "").slice(startupLines),
  };
}

/**
 * One summary line for the run, for the test output and docs/reliability.md.
 *
 * @param name the test
 * @param r the measurements
 * @returns the line
 */
export function loadSummary(name: string, r: LoadResult): string {
  const growth = r.rssAfterAll - r.rssAfter1k;
  return `${name}: ${r.requests} requests over ${r.connections} connections in ` +
    `${(r.ms / 1000).toFixed(1)} s (${Math.round(r.perSecond)}/s), ${r.errors} errors, ` +
    `${r.tornReads} torn snapshot reads, ${r.xmrigTimeouts} XMRig fetches past serve's bound, ` +
    `${r.probeRuns} probe runs (${r.probeFailures} failed), ` +
    `${r.stampsSeen} snapshot stamps seen; latency p50 ${r.p50.toFixed(1)} ms p99 ` +
    `${r.p99.toFixed(1)} ms max ${r.max.toFixed(1)} ms; RSS ${
      Math.round(r.rssAfter1k / 1024)
    } MiB ` +
    `after 1k → ${Math.round(r.rssAfterAll / 1024)} MiB after all (${growth >= 0 ? "+" : ""}` +
    `${(growth / 1024).toFixed(1)} MiB); samples ${
      r.rssSamples.map(([n, kib]) => `${n}:${Math.round(kib / 1024)}`).join(" ")
    }`;
}
