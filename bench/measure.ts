/**
 * The measurements of `deno task bench` (`bench/run.ts`): wrk rows per server, cold starts,
 * probe passes, child processes and the admission-control hammer.
 *
 * @module
 */

import { join } from "node:path";
import { COMPILE_FLAGS, REPO_ROOT } from "../tests/_cli.ts";
import { freePort, rssOf, startServe } from "../tests/_serve.ts";
import { PYTHON } from "../tests/harness/serve_process.ts";
import { unitEnvironment } from "./levers.ts";
import { fmt, type WrkReport } from "./lib.ts";
import { childrenOf, cpuSeconds, get, log, sh, stat, wrk } from "./proc.ts";

/** wrk run length, seconds (`BENCH_RUN_S`, default 3). */
export const RUN_S: number = Number(Deno.env.get("BENCH_RUN_S") ?? "3");
/** The hammer window, seconds (`BENCH_HAMMER_S`, default 8; issue 8's figure is 30). */
export const HAMMER_S: number = Number(Deno.env.get("BENCH_HAMMER_S") ?? "8");
/** Requests before "RSS after load" is read (`BENCH_REQUESTS`, default 100000). */
export const TARGET_REQUESTS: number = Number(Deno.env.get("BENCH_REQUESTS") ?? "100000");
/** The body route every server is measured on. */
export const PATH = "/2/summary";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One server's figures under wrk. */
export interface ServerFigures {
  name: string;
  c1: WrkReport;
  c4: WrkReport;
  c50: WrkReport;
  cpuMsPer1kC1: number;
  cpuMsPer1kC4: number;
  cpuMsPer1kC50: number;
  rssIdleKiB: number | null;
  rssAfterKiB: number | null;
  requestsServed: number;
  /** Child-process evidence over the whole load (serve only). */
  children?: { before: number[]; after: number[]; cminflt: number; childCpuTicks: number };
}

/**
 * wrk at 1, 4 and 50 connections against one server, its CPU per 1,000 requests for each, its
 * RSS idle and after at least {@link TARGET_REQUESTS} requests.
 *
 * @param name the row's name
 * @param pid the server's pid (`/proc/<pid>/stat`, `VmRSS`)
 * @param port its port on 127.0.0.1
 * @param token the bearer token
 * @param watchChildren also collect child-process evidence (serve)
 * @returns the figures
 */
export async function measureServer(
  name: string,
  pid: number,
  port: number,
  token: string,
  watchChildren: boolean,
): Promise<ServerFigures> {
  const url = `http://127.0.0.1:${port}${PATH}`;
  log(`${name}: pid ${pid}, port ${port}`);
  const first = await get(port, token, PATH);
  await first.body?.cancel();
  if (first.status !== 200) throw new Error(`${name}: ${PATH} answered ${first.status}`);
  await new Promise((r) => setTimeout(r, 1000));
  const rssIdleKiB = rssOf(pid);
  const start = stat(pid);
  const childrenBefore = watchChildren ? childrenOf(pid) : [];
  let served = (await wrk(url, token, 1, 1)).requests; // warm-up, not reported

  let s0 = stat(pid);
  const c1 = await wrk(url, token, 1, RUN_S);
  let s1 = stat(pid);
  const cpuC1 = cpuSeconds(s0, s1);
  served += c1.requests;

  s0 = stat(pid);
  const c4 = await wrk(url, token, 4, RUN_S);
  s1 = stat(pid);
  const cpuC4 = cpuSeconds(s0, s1);
  served += c4.requests;

  s0 = stat(pid);
  const c50 = await wrk(url, token, 50, RUN_S);
  s1 = stat(pid);
  const cpuC50 = cpuSeconds(s0, s1);
  served += c50.requests;

  // Top up to TARGET_REQUESTS in short chunks, re-estimating the rate after each (a long
  // chunk sized from the short c50 run overshoots when the server speeds up).
  let rate = Math.max(c50.rps, 200);
  while (served < TARGET_REQUESTS) {
    const seconds = Math.min(15, Math.max(1, Math.ceil((TARGET_REQUESTS - served) / rate)));
    log(`${name}: ${served} requests so far, ${seconds} s more at 50 connections`);
    const chunk = await wrk(url, token, 50, seconds);
    served += chunk.requests;
    rate = Math.max(chunk.rps, 200);
  }
  const end = stat(pid);
  const figures: ServerFigures = {
    name,
    c1,
    c4,
    c50,
    cpuMsPer1kC1: (cpuC1 * 1e6) / Math.max(1, c1.requests),
    cpuMsPer1kC4: (cpuC4 * 1e6) / Math.max(1, c4.requests),
    cpuMsPer1kC50: (cpuC50 * 1e6) / Math.max(1, c50.requests),
    rssIdleKiB,
    rssAfterKiB: rssOf(pid),
    requestsServed: served,
  };
  if (watchChildren) {
    figures.children = {
      before: childrenBefore,
      after: childrenOf(pid),
      cminflt: end.cminflt - start.cminflt,
      childCpuTicks: end.cutime + end.cstime - start.cutime - start.cstime,
    };
  }
  log(
    `${name}: ${fmt(c1.rps, 0)} req/s at c1, ${fmt(c4.rps, 0)} at c4, ${
      fmt(c50.rps, 0)
    } at c50, ${served} served`,
  );
  return figures;
}

/**
 * Cold time to first byte of a socket-activated start (systemd-socket-activate execs on
 * connect).
 *
 * @param home the RigForge home
 * @param snapshot the snapshot file
 * @param xmrigUrl XMRig's API
 * @param token the bearer token
 * @returns milliseconds
 */
export async function coldTtfb(
  home: string,
  snapshot: string,
  xmrigUrl: string,
  token: string,
): Promise<number> {
  const port = freePort();
  const child = new Deno.Command("systemd-socket-activate", {
    args: [
      "-l",
      `127.0.0.1:${port}`,
      Deno.execPath(),
      "run",
      ...COMPILE_FLAGS,
      join(REPO_ROOT, "main.ts"),
      "serve",
      "--rigforge-home",
      home,
      "--snapshot",
      snapshot,
      "--xmrig",
      xmrigUrl,
      "--embedded-probe",
      "off",
      "--idle-exit",
      "0",
    ],
    cwd: REPO_ROOT,
    env: unitEnvironment(),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.getReader();
  let text = "";
  while (!/Listening on/.test(text)) {
    const chunk = await reader.read();
    if (chunk.done) throw new Error("systemd-socket-activate exited");
    text += decoder.decode(chunk.value);
  }
  void (async () => {
    while (!(await reader.read()).done) {
      // drain serve's startup line
    }
  })();
  const t0 = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    encoder.encode(`GET ${PATH} HTTP/1.1\r\nHost: rig\r\nAuthorization: Bearer ${token}\r\n\r\n`),
  );
  const buffer = new Uint8Array(65536);
  const n = await conn.read(buffer);
  const ttfb = performance.now() - t0;
  const status = n === null ? "" : decoder.decode(buffer.subarray(0, 12));
  while ((await conn.read(buffer)) !== null) {
    // drain the body
  }
  conn.close();
  child.kill("SIGTERM");
  await child.status;
  if (!status.startsWith("HTTP/1.1 200")) throw new Error(`cold start answered ${status}`);
  return ttfb;
}

/**
 * CPU (user+sys, s) and max RSS (KiB) of a whole `deno run ... main.ts <args>` process.
 *
 * @param args the CLI arguments
 * @returns CPU seconds and max RSS
 */
export async function processCost(args: string[]): Promise<{ cpuS: number; rssKiB: number }> {
  const { code, stderr } = await sh("/usr/bin/time", [
    "-f",
    "%U %S %M",
    Deno.execPath(),
    "run",
    ...COMPILE_FLAGS,
    join(REPO_ROOT, "main.ts"),
    ...args,
  ]);
  const m = /([\d.]+) ([\d.]+) (\d+)\s*$/.exec(stderr);
  if (code !== 0 || m === null) throw new Error(`main.ts ${args[0]} failed: ${stderr.slice(-300)}`);
  return { cpuS: Number(m[1]) + Number(m[2]), rssKiB: Number(m[3]) };
}

/**
 * Child processes a `probe` pass creates: under `strace -f -e trace=process`, the `clone`,
 * `clone3`, `fork` and `vfork` calls without `CLONE_THREAD` (threads are not processes).
 *
 * @param args the CLI arguments
 * @returns the count, or `null` when strace failed
 */
export async function probeChildren(args: string[]): Promise<number | null> {
  const out = await Deno.makeTempFile({ prefix: "bench-strace-" });
  try {
    const { code } = await sh("strace", [
      "-f",
      "-qq",
      "-e",
      "trace=process",
      "-e",
      "signal=none",
      "-o",
      out,
      Deno.execPath(),
      "run",
      ...COMPILE_FLAGS,
      join(REPO_ROOT, "main.ts"),
      ...args,
    ]);
    if (code !== 0) return null;
    return (await Deno.readTextFile(out)).split("\n")
      .filter((l) => /^\d+\s+(clone3?|fork|vfork)\(/.test(l) && !l.includes("CLONE_THREAD"))
      .length;
  } catch {
    return null;
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

/** What `bench/hammer.py` saw. */
export interface HammerCounts {
  attempts: number;
  status: Record<string, number>;
  closed: number;
  refused: number;
}

/** One hammer row. */
export interface HammerFigures {
  label: string;
  cpuPct: number;
  seconds: number;
  counts: HammerCounts;
}

/**
 * A fresh socket-activated `serve` hammered by 4 back-to-back connections (`bench/hammer.py`)
 * for {@link HAMMER_S} seconds: its CPU over the window and what the hammer saw.
 *
 * @param label the row's label
 * @param serveArgs further serve flags
 * @param sources source addresses the hammer binds
 * @param common home, snapshot, XMRig URL, token
 * @returns the row
 */
export async function hammerRun(
  label: string,
  serveArgs: string[],
  sources: string[],
  common: { homeFrom: string; snapshot: string; xmrig: string; token: string },
): Promise<HammerFigures> {
  const serve = await startServe({
    homeFrom: common.homeFrom,
    snapshot: common.snapshot,
    xmrig: common.xmrig,
    activation: "socket",
    args: ["--idle-exit", "0", ...serveArgs],
    env: unitEnvironment(),
  });
  try {
    await new Promise((r) => setTimeout(r, 500)); // settle after the start-up request
    const before = stat(serve.pid);
    const t0 = performance.now();
    const { code, stdout, stderr } = await sh(PYTHON, [
      join(REPO_ROOT, "bench", "hammer.py"),
      JSON.stringify({
        port: serve.port,
        path: PATH,
        token: common.token,
        seconds: HAMMER_S,
        connections: 4,
        sources,
      }),
    ]);
    const after = stat(serve.pid);
    const seconds = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`hammer failed: ${stderr.slice(-300)}`);
    const counts = JSON.parse(stdout) as HammerCounts;
    const cpuPct = (cpuSeconds(before, after) / seconds) * 100;
    log(`hammer ${label}: ${fmt(cpuPct)} % of one core, ${JSON.stringify(counts)}`);
    return { label, cpuPct, seconds, counts };
  } finally {
    await serve.stop();
  }
}
