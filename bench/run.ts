/**
 * `deno task bench`: what answering the sister API costs a rig, measured in one run on one
 * machine, side by side with two baselines:
 *
 * - **rigforge-api serve**, socket-activated under `systemd-socket-activate` (fd 3, Accept=no),
 *   run with the compile task's Deno flags and the unit's environment, in front of the real
 *   XMRig, serving a snapshot of the Zen 4 fixture rig with a token configured;
 * - **(a) python http.server**: `bench/baseline_python.py`, the architecture RigForge ships
 *   today (one persistent single-threaded standard-library server reading a pre-built file per
 *   request, `Connection: close`), serving the very body `serve` produced;
 * - **(b) the real XMRig's own API**: XMRig 6.16.0 (`tests/_xmrig_real.ts`), not mining, on
 *   127.0.0.1, answering the same route with the same token.
 *
 * For each: requests/s and p99 latency at 1, 4 and 50 connections (wrk), CPU per 1,000
 * requests (`/proc/<pid>/stat` utime+stime before/after), RSS idle and after 100k requests
 * (`VmRSS`). For `serve` alone: cold time-to-first-byte of a socket-activated start (median of
 * 10), CPU of one `probe` pass, child processes per request and per probe pass, issue 8's
 * bound (CPU of `serve` while 4 connections hammer it back to back, admission control on vs
 * off), and the memory levers of `bench/levers.ts`. Prints the tables and writes
 * `docs/benchmarks.md`. Needs wrk, python3, strace, systemd-socket-activate, npm (once, to
 * fetch XMRig). Environment: `BENCH_RUN_S` (wrk run length, default 3), `BENCH_HAMMER_S`
 * (hammer window, default 8; the issue's figure is 30), `BENCH_LEVER_REQUESTS` (default
 * 100000). The measurements are in `bench/measure.ts`, the report in `bench/report.ts`.
 *
 * @module
 */

import { join } from "node:path";
import { locate } from "../src/rigforge/locate.ts";
import { isoSeconds } from "../src/lib/time.ts";
import { writeSnapshotAtomic } from "../src/snapshot.ts";
import { COMPILE_FLAGS, REPO_ROOT } from "../tests/_cli.ts";
import { type ServeHandle, startServe } from "../tests/_serve.ts";
import { fixtureSnapshot, RIGFORGE_DIR } from "../tests/_snapshot.ts";
import { PYTHON } from "../tests/harness/serve_process.ts";
import { type RealXmrig, realXmrigBinary, startRealXmrig } from "../tests/_xmrig_real.ts";
import {
  LEVER_REQUESTS,
  type LeverFigures,
  LEVERS,
  measureLever,
  unitEnvironment,
} from "./levers.ts";
import { fmt, median, sectionOf } from "./lib.ts";
import {
  coldTtfb,
  HAMMER_S,
  hammerRun,
  measureServer,
  PATH,
  probeChildren,
  processCost,
} from "./measure.ts";
import { get, type Helper, log, requireTools, sh, startHelper, writeDocAtomic } from "./proc.ts";
import {
  PROBE_RUNS,
  type ProbeCpu,
  PROFILE,
  render,
  RIG_IMPACT_SECTION,
  TTFB_RUNS,
} from "./report.ts";

const encoder = new TextEncoder();

/** The machine and tool versions, for the report's header. */
async function machine(): Promise<Record<string, string>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const python = (await sh(PYTHON, ["--version"])).stdout.trim();
  const wrkVersion = (await sh("wrk", ["-v"])).stdout.split("\n")[0]?.trim() ?? "";
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    nproc: String(navigator.hardwareConcurrency),
    model,
    kernel: Deno.osRelease(),
    deno: `${Deno.version.deno} (v8 ${Deno.version.v8})`,
    flags: COMPILE_FLAGS.join(" "),
    unitEnv: Object.entries(unitEnvironment()).map(([k, v]) => `${k}=${v}`).join(" ") || "(none)",
    python,
    wrk: wrkVersion,
    load: (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" "),
  };
}

/** Runs every measurement, prints the tables and writes `docs/benchmarks.md`. */
export async function main(): Promise<void> {
  const began = performance.now();
  await requireTools(["wrk", "python3", "strace", "systemd-socket-activate"]);
  const info = await machine();
  log(`machine: ${info.nproc} × ${info.model}, kernel ${info.kernel}, deno ${info.deno}`);
  const homeFrom = join(RIGFORGE_DIR, PROFILE);
  const { config } = await locate(homeFrom);
  const token = config?.accessToken;
  if (!token) throw new Error(`the ${PROFILE} fixture config has no ACCESS_TOKEN`);
  const scratch = await Deno.makeTempDir({ prefix: "rf-bench-" });
  const helpers: Helper[] = [];
  let serve: ServeHandle | null = null;
  let real: RealXmrig | null = null;
  try {
    // A snapshot of the fixture rig that stays fresh for the whole run (interval 1 h).
    const snapshotPath = join(scratch, "snapshot.json");
    const snapshot = await fixtureSnapshot(PROFILE);
    snapshot.generated_at = isoSeconds(Date.now());
    snapshot.interval_s = 3600;
    await writeSnapshotAtomic(snapshotPath, snapshot);

    // The real XMRig, not mining (its pool is 127.0.0.1:9): the baseline and serve's source.
    const binary = await realXmrigBinary();
    if (!binary.ok) throw new Error(`the bench needs the real XMRig: ${binary.skip}`);
    const xmrigVersion = (await sh(binary.path, ["--version"])).stdout.split("\n")[0]!.trim();
    real = await startRealXmrig(binary.path, { token, mode: "idle" });
    const xmrig = real.url;
    const xmrigBody = new Uint8Array(await (await get(real.port, token, PATH)).arrayBuffer());
    serve = await startServe({
      homeFrom,
      snapshot: snapshotPath,
      xmrig,
      activation: "socket",
      args: ["--idle-exit", "0", "--rate", "0", "--global-rate", "0"],
      env: unitEnvironment(),
    });
    const body = new Uint8Array(await (await get(serve.port, token, PATH)).arrayBuffer());
    await Deno.writeFile(join(scratch, "summary.json"), body);
    const python = await startHelper(PYTHON, [
      "bench/baseline_python.py",
      "127.0.0.1",
      "0",
      join(scratch, "summary.json"),
      token,
    ]);
    helpers.push(python);

    const ours = await measureServer("rigforge-api serve", serve.pid, serve.port, token, true);
    const py = await measureServer("python http.server", python.pid, python.port, token, false);
    await python.stop();
    const xm = await measureServer("real XMRig API", real.pid, real.port, token, false);
    await serve.stop();
    serve = null;

    log("cold starts");
    const ttfbs: number[] = [];
    for (let i = 0; i < TTFB_RUNS; i++) {
      ttfbs.push(await coldTtfb(homeFrom, snapshotPath, xmrig, token));
    }

    log("probe passes");
    const here = [
      "probe",
      "--print",
      "--root",
      "/",
      "--rigforge-home",
      join(RIGFORGE_DIR, "buildvm"),
    ];
    const epyc = [
      "probe",
      "--print",
      "--root",
      join(REPO_ROOT, "tests", "fixtures", "roots", "epyc"),
      "--rigforge-home",
      join(RIGFORGE_DIR, "epyc"),
    ];
    const startup: number[] = [];
    const probeHere: number[] = [];
    const probeEpyc: number[] = [];
    let probeRss = 0;
    for (let i = 0; i < PROBE_RUNS; i++) {
      startup.push((await processCost(["--version"])).cpuS);
      const cost = await processCost(here);
      probeHere.push(cost.cpuS);
      probeRss = Math.max(probeRss, cost.rssKiB);
      probeEpyc.push((await processCost(epyc)).cpuS);
    }
    const probeKids = await probeChildren(here);
    const inProcess = async (root: string, home: string): Promise<ProbeCpu> => {
      const out = await sh(Deno.execPath(), [
        "run",
        "-A",
        join(REPO_ROOT, "bench", "probe_cpu.ts"),
        root,
        home,
      ]);
      return JSON.parse(out.stdout) as ProbeCpu;
    };
    const probeCpuHere = await inProcess("/", join(RIGFORGE_DIR, "buildvm"));
    const probeCpuEpyc = await inProcess(epyc[3]!, epyc[5]!);

    log(`hammer: 4 connections back to back for ${HAMMER_S} s`);
    const common = { homeFrom, snapshot: snapshotPath, xmrig, token };
    const hammers = [
      await hammerRun("admission on (defaults), 1 source", [], ["127.0.0.1"], common),
      await hammerRun(
        "admission on (defaults), 4 sources",
        [],
        ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"],
        common,
      ),
      await hammerRun(
        "admission off (--rate 0 --global-rate 0), 1 source",
        ["--rate", "0", "--global-rate", "0"],
        ["127.0.0.1"],
        common,
      ),
    ];
    log(`memory levers: ${LEVERS.length} variants, ${LEVER_REQUESTS} requests each`);
    const levers: LeverFigures[] = [];
    const setup = { ...common, path: PATH, bodyBytes: body.byteLength };
    for (const lever of LEVERS) levers.push(await measureLever(lever, setup));
    const report = render({
      info: {
        ...info,
        loadAfter: (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" "),
      },
      ours,
      py,
      xm,
      ttfbs,
      startupCpuS: median(startup),
      probeHereCpuS: median(probeHere),
      probeEpycCpuS: median(probeEpyc),
      probeRssKiB: probeRss,
      probeKids,
      probeCpuHere,
      probeCpuEpyc,
      hammers,
      levers,
      xmrigVersion,
      bodyBytes: body.byteLength,
      xmrigBodyBytes: xmrigBody.byteLength,
      totalS: (performance.now() - began) / 1000,
    });
    await Deno.stdout.write(encoder.encode(report.summary));
    // `deno task rig-impact` owns its sections of the page: carried over as they were.
    const doc = join(REPO_ROOT, "docs", "benchmarks.md");
    const old = await Deno.readTextFile(doc).catch(() => "");
    const impact = ["off", "on"]
      .map((mode) => sectionOf(old, `${RIG_IMPACT_SECTION}-admission-${mode}`))
      .filter((section) => section !== null);
    await writeDocAtomic(doc, [report.doc.trimEnd(), ...impact].join("\n\n") + "\n");
    log(`wrote docs/benchmarks.md (${fmt((performance.now() - began) / 1000, 0)} s in all)`);
  } finally {
    await serve?.stop();
    await real?.stop();
    for (const helper of helpers) await helper.stop().catch(() => {});
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
