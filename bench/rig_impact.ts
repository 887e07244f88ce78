/**
 * `deno task rig-impact`: what a hammered `serve` costs the miner next to it. The real XMRig
 * (`tests/_xmrig_real.ts`) runs its offline benchmark pinned to CPU 0 (`taskset`); `serve`
 * (socket-activated, the unit's environment, in front of that XMRig) and a 4-connection hammer
 * (`bench/hammer.py`, back-to-back `GET /2/summary`) share CPU 1. Per repeat, three phases of
 * RIG_IMPACT_PHASE_S seconds: idle → hammered → idle, each ending with XMRig's own hashrate
 * average over the phase (its 60 s window from `/2/summary` `hashrate.total[1]`; the 10 s window
 * `[0]` when phases are shorter than 60 s). Reports each repeat, the median of each phase, the
 * run-to-run spread, and serve's own CPU share of one core while hammered (the structural
 * figure: on a shared VM the hashrate baseline alone moves by more than the effect). Writes the
 * "rig-impact-admission-off" (or "-on") section of `docs/benchmarks.md` (`deno task bench` keeps
 * both).
 *
 * Environment: `RIG_IMPACT_PHASE_S` (default 60), `RIG_IMPACT_REPEATS` (default 3),
 * `RIG_IMPACT_RANDOMX` (`fast`, default: the 2 GB dataset as on a rig; `light`: 256 MB),
 * `RIG_IMPACT_ADMISSION` (`off`, default: every hammer request is answered, the worst case;
 * `on`: the shipped budgets). Needs 2 CPUs, taskset, python3, systemd-socket-activate, npm once.
 *
 * @module
 */

import { join } from "node:path";
import { arr, num, obj } from "../src/lib/json.ts";
import { locate } from "../src/rigforge/locate.ts";
import { isoSeconds } from "../src/lib/time.ts";
import { writeSnapshotAtomic } from "../src/snapshot.ts";
import { REPO_ROOT } from "../tests/_cli.ts";
import { type ServeHandle, startServe } from "../tests/_serve.ts";
import { fixtureSnapshot, RIGFORGE_DIR } from "../tests/_snapshot.ts";
import { waitFor } from "../tests/_wait.ts";
import { PYTHON } from "../tests/harness/serve_process.ts";
import { type RealXmrig, realXmrigBinary, startRealXmrig } from "../tests/_xmrig_real.ts";
import { unitEnvironment } from "./levers.ts";
import { fmt, median, replaceSection, table } from "./lib.ts";
import { cpuSeconds, log, requireTools, sh, stat, writeDocAtomic } from "./proc.ts";
import { RIG_IMPACT_SECTION } from "./report.ts";

const PHASE_S = Number(Deno.env.get("RIG_IMPACT_PHASE_S") ?? "60");
const REPEATS = Number(Deno.env.get("RIG_IMPACT_REPEATS") ?? "3");
const RANDOMX = Deno.env.get("RIG_IMPACT_RANDOMX") === "light" ? "light" : "fast";
const ADMISSION = Deno.env.get("RIG_IMPACT_ADMISSION") === "on" ? "on" : "off";
/** `hashrate.total` index: 1 is XMRig's 60 s window, 0 its 10 s window. */
const WINDOW = PHASE_S >= 60 ? 1 : 0;
const PATH = "/2/summary";

/** One repeat: XMRig's hashrate (H/s) at the end of each phase, serve's CPU while hammered. */
interface Repeat {
  idleBefore: number;
  hammered: number;
  idleAfter: number;
  /** serve's utime+stime over the hammered phase, % of one core. */
  serveCpuPct: number;
  /** Responses the hammer got (any status) during the hammered phase. */
  answered: number;
}

async function hashrate(xmrig: RealXmrig, token: string): Promise<number> {
  const reply = await fetch(`${xmrig.url}${PATH}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body: unknown = await reply.json();
  const value = num(arr(obj(obj(body)?.["hashrate"])?.["total"])?.[WINDOW]);
  if (value === null) throw new Error(`XMRig's hashrate.total[${WINDOW}] is not a number`);
  return value;
}

async function idlePhase(xmrig: RealXmrig, token: string): Promise<number> {
  await new Promise((r) => setTimeout(r, PHASE_S * 1000));
  return await hashrate(xmrig, token);
}

async function hammeredPhase(
  xmrig: RealXmrig,
  serve: ServeHandle,
  token: string,
): Promise<{ hs: number; cpuPct: number; answered: number }> {
  const before = stat(serve.pid);
  const t0 = performance.now();
  const { code, stdout, stderr } = await sh("taskset", [
    "-c",
    "1",
    PYTHON,
    join(REPO_ROOT, "bench", "hammer.py"),
    JSON.stringify({
      port: serve.port,
      path: PATH,
      token,
      seconds: PHASE_S,
      connections: 4,
      sources: ["127.0.0.1"],
    }),
  ]);
  const hs = await hashrate(xmrig, token);
  const cpuPct = (cpuSeconds(before, stat(serve.pid)) / ((performance.now() - t0) / 1000)) * 100;
  if (code !== 0) throw new Error(`hammer failed: ${stderr.slice(-300)}`);
  const status = obj(obj(JSON.parse(stdout))?.["status"]) ?? {};
  const answered = Object.values(status).reduce((n: number, v) => n + (num(v) ?? 0), 0);
  return { hs, cpuPct, answered };
}

function spread(values: number[]): string {
  const m = median(values);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return `${fmt(lo, 1)}–${fmt(hi, 1)} (−${fmt(((m - lo) / m) * 100, 1)} % / +${
    fmt(((hi - m) / m) * 100, 1)
  } % of the median)`;
}

function report(repeats: Repeat[], info: Record<string, string>): string {
  const windowText = WINDOW === 1 ? "60 s" : "10 s";
  const rows = repeats.map((r, i) => [
    String(i + 1),
    fmt(r.idleBefore, 1),
    fmt(r.hammered, 1),
    fmt(r.idleAfter, 1),
    `${fmt((r.hammered / ((r.idleBefore + r.idleAfter) / 2) - 1) * 100, 1)} %`,
    fmt(r.serveCpuPct, 1),
    fmt(r.answered, 0),
  ]);
  const med = (pick: (r: Repeat) => number) => median(repeats.map(pick));
  const idle = repeats.flatMap((r) => [r.idleBefore, r.idleAfter]);
  const impacts = repeats.map((r) => (r.hammered / ((r.idleBefore + r.idleAfter) / 2) - 1) * 100);
  rows.push([
    "median",
    fmt(med((r) => r.idleBefore), 1),
    fmt(med((r) => r.hammered), 1),
    fmt(med((r) => r.idleAfter), 1),
    `${fmt(median(impacts), 1)} %`,
    fmt(med((r) => r.serveCpuPct), 1),
    fmt(med((r) => r.answered), 0),
  ]);
  return `## Rig impact: XMRig's hashrate while serve is hammered, admission ${ADMISSION}

Generated by \`deno task rig-impact\` (\`bench/rig_impact.ts\`) on ${info.date}: ${info.machine};
load average ${info.loadBefore} before, ${info.loadAfter} after (other work shares this machine).
${info.xmrig}, offline benchmark (\`--bench\`), RandomX ${RANDOMX} mode, 1 thread, pinned to CPU 0;
\`serve\` (socket-activated, the unit's environment, admission control ${ADMISSION}) and
\`bench/hammer.py\` (4 connections back to back on \`GET ${PATH}\`) pinned to CPU 1. Phases of
${PHASE_S} s: idle → hammered → idle, ${REPEATS} repeats; each figure is XMRig's own ${windowText}
hashrate average (\`hashrate.total[${WINDOW}]\`, H/s) read at the end of the phase. "impact" is
hammered / mean(idle before, idle after) − 1.

${
    table(
      [
        "repeat",
        "idle before H/s",
        "hammered H/s",
        "idle after H/s",
        "impact",
        "serve CPU, % of one core",
        "hammer answers",
      ],
      rows,
    )
  }
- Run-to-run spread of the idle hashrate alone: ${spread(idle)} H/s; of the impact: ${
    fmt(Math.min(...impacts), 1)
  } % to ${fmt(Math.max(...impacts), 1)} %. ${
    Math.max(...repeats.map((r) => r.hammered)) < Math.min(...idle)
      ? "Every hammered figure is below every idle figure: on this machine the effect is larger than its noise."
      : Math.min(...repeats.map((r) => r.hammered)) > Math.max(...idle)
      ? "Every hammered figure is above every idle figure: the machine's own drift, not serve, moved the hashrate."
      : "The hammered figures lie inside the idle spread: on this machine the effect is not distinguishable from its noise."
  }
${
    ADMISSION === "off"
      ? "- With admission off every hammer request is answered, so serve and the hammer keep CPU 1 busy; whatever else runs on the machine (the load average above) is then scheduled beside the miner on CPU 0. On a rig with spare cores and with admission on (the shipped default, `RIG_IMPACT_ADMISSION=on`) the hammer is shed instead.\n"
      : ""
  }- serve's own CPU while hammered: ${
    fmt(med((r) => r.serveCpuPct), 1)
  } % of one core (median), on the CPU the miner does not use: the structural figure, which does
  not depend on the neighbours' load.
`;
}

/** Runs the phases and writes the rig-impact section of docs/benchmarks.md. */
export async function main(): Promise<void> {
  if (navigator.hardwareConcurrency < 2) throw new Error("rig-impact needs 2 CPUs (0 and 1)");
  await requireTools(["taskset", "python3", "systemd-socket-activate"]);
  const binary = await realXmrigBinary();
  if (!binary.ok) throw new Error(`rig-impact needs the real XMRig: ${binary.skip}`);
  const homeFrom = join(RIGFORGE_DIR, "zen4");
  const token = (await locate(homeFrom)).config?.accessToken;
  if (!token) throw new Error("the zen4 fixture config has no ACCESS_TOKEN");
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const loadavg = async () => (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3);
  const info: Record<string, string> = {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    machine: `${navigator.hardwareConcurrency} × ${
      /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown"
    }, Linux ${Deno.osRelease()}, Deno ${Deno.version.deno}`,
    xmrig: (await sh(binary.path, ["--version"])).stdout.split("\n")[0]!.trim(),
    loadBefore: (await loadavg()).join(" "),
  };
  const scratch = await Deno.makeTempDir({ prefix: "rf-rig-impact-" });
  let xmrig: RealXmrig | null = null;
  let serve: ServeHandle | null = null;
  try {
    const snapshotPath = join(scratch, "snapshot.json");
    const snapshot = await fixtureSnapshot("zen4");
    snapshot.generated_at = isoSeconds(Date.now());
    snapshot.interval_s = 86400;
    await writeSnapshotAtomic(snapshotPath, snapshot);
    log(`XMRig: --bench, RandomX ${RANDOMX}, CPU 0`);
    xmrig = await startRealXmrig(binary.path, { token, mode: "bench", randomx: RANDOMX, cpu: 0 });
    const running = xmrig;
    await waitFor("XMRig to report a hashrate", async () => {
      const reply = await fetch(`${running.url}${PATH}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return /"total": \[\d/.test(await reply.text());
    }, { limitMs: 600_000, everyMs: 1000 });
    serve = await startServe({
      homeFrom,
      snapshot: snapshotPath,
      xmrig: xmrig.url,
      activation: "socket",
      args: [
        "--idle-exit",
        "0",
        ...(ADMISSION === "off" ? ["--rate", "0", "--global-rate", "0"] : []),
      ],
      env: unitEnvironment(),
    });
    const pinned = await sh("taskset", ["-a", "-p", "-c", "1", String(serve.pid)]);
    if (pinned.code !== 0) throw new Error(`taskset serve: ${pinned.stderr.trim()}`);
    const repeats: Repeat[] = [];
    for (let i = 0; i < REPEATS; i++) {
      log(`repeat ${i + 1}/${REPEATS}: idle ${PHASE_S} s`);
      const idleBefore = await idlePhase(xmrig, token);
      log(`repeat ${i + 1}: idle ${fmt(idleBefore)} H/s; hammered ${PHASE_S} s`);
      const hammered = await hammeredPhase(xmrig, serve, token);
      log(`repeat ${i + 1}: hammered ${fmt(hammered.hs)} H/s, serve ${fmt(hammered.cpuPct)} %`);
      const idleAfter = await idlePhase(xmrig, token);
      log(`repeat ${i + 1}: idle after ${fmt(idleAfter)} H/s`);
      repeats.push({
        idleBefore,
        hammered: hammered.hs,
        idleAfter,
        serveCpuPct: hammered.cpuPct,
        answered: hammered.answered,
      });
    }
    info.loadAfter = (await loadavg()).join(" ");
    const section = report(repeats, info);
    await Deno.stdout.write(new TextEncoder().encode(section));
    const doc = join(REPO_ROOT, "docs", "benchmarks.md");
    const old = await Deno.readTextFile(doc).catch(() => "# Benchmarks\n");
    await writeDocAtomic(
      doc,
      replaceSection(old, `${RIG_IMPACT_SECTION}-admission-${ADMISSION}`, section),
    );
    log("wrote the rig-impact section of docs/benchmarks.md");
  } finally {
    await serve?.stop();
    await xmrig?.stop();
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
