/**
 * Where `serve`'s memory goes, and what each lever does to it: for each variant, a fresh
 * socket-activated `serve` (or the bare runtime) is started, its RSS read idle (1 s after the
 * first `/2/summary`) and after LEVER_REQUESTS requests at 4 connections (wrk), split into
 * anonymous memory (V8's heap, malloc's arenas, stacks) and file-backed pages (the executable)
 * from `/proc/<pid>/smaps_rollup`, with the CPU per 1,000 requests at 4 connections.
 *
 * Variants: the runtime floor (`bench/floor_server.ts`: a bare `node:net` server, then the same
 * with `serve`'s module graph imported but not run), `serve` as shipped (the compile task's
 * flags and the unit's environment), and `serve` with one lever changed: glibc's arena count
 * (`MALLOC_ARENA_MAX`), V8's old space, `--single-threaded`, `--jitless`.
 *
 * Used by `deno task bench` (`bench/run.ts`); alone: `deno run -A bench/levers.ts` prints the
 * table (needs wrk, the real XMRig from `tests/_xmrig_real.ts`, systemd-socket-activate).
 * Environment: `BENCH_LEVER_REQUESTS` (default 100000).
 *
 * @module
 */

import { join } from "node:path";
import { COMPILE_FLAGS, REPO_ROOT } from "../tests/_cli.ts";
import { rssOf, startServe } from "../tests/_serve.ts";
import { fmt, parseSmapsRollup, type RssParts, table } from "./lib.ts";
import { cpuSeconds, get, log, startHelper, stat, wrk } from "./proc.ts";

/** Requests each variant serves before its "after" RSS is read. */
export const LEVER_REQUESTS: number = Number(Deno.env.get("BENCH_LEVER_REQUESTS") ?? "100000");

/** The environment `units/rigforge-api.service` gives `serve` (its `Environment=` lines). */
export function unitEnvironment(): Record<string, string> {
  const unit = Deno.readTextFileSync(join(REPO_ROOT, "units", "rigforge-api.service"));
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=([A-Z_]+)=(\S*)$/gm)) env[m[1]!] = m[2]!;
  return env;
}

/** One variant. */
export interface Lever {
  /** The row's name. */
  name: string;
  /**
   * `floor`: the bare server; `floor+modules`: with serve's modules; `floor+fetch`: and one
   * `fetch` of XMRig's API; `serve`.
   */
  kind: "floor" | "floor+modules" | "floor+fetch" | "serve";
  /** Environment on top of the unit's (serve; the floor gets none). */
  env?: Record<string, string>;
  /** V8 flags after the compile task's (a later flag wins). */
  v8Flags?: string[];
}

/** The variants, in table order. */
export const LEVERS: readonly Lever[] = [
  { name: "runtime floor: bare node:net server", kind: "floor" },
  { name: "floor + serve's modules loaded (not run)", kind: "floor+modules" },
  { name: "floor + modules + one fetch() of XMRig", kind: "floor+fetch" },
  { name: "serve as shipped", kind: "serve" },
  { name: "serve, MALLOC_ARENA_MAX=2", kind: "serve", env: { MALLOC_ARENA_MAX: "2" } },
  { name: "serve, MALLOC_ARENA_MAX=1", kind: "serve", env: { MALLOC_ARENA_MAX: "1" } },
  { name: "serve, --max-old-space-size=32", kind: "serve", v8Flags: ["--max-old-space-size=32"] },
  { name: "serve, --max-old-space-size=16", kind: "serve", v8Flags: ["--max-old-space-size=16"] },
  { name: "serve, --single-threaded", kind: "serve", v8Flags: ["--single-threaded"] },
  { name: "serve, --jitless", kind: "serve", v8Flags: ["--jitless"] },
];

/** What one variant measured. */
export interface LeverFigures {
  lever: Lever;
  idle: RssParts;
  after: RssParts;
  requests: number;
  cpuMsPer1kC4: number;
  rpsC4: number;
}

/** Where `serve` gets its XMRig and snapshot from. */
export interface LeverSetup {
  homeFrom: string;
  snapshot: string;
  xmrig: string;
  token: string;
  /** The route measured. */
  path: string;
  /** The body size the floor server answers with (the same as serve's). */
  bodyBytes: number;
}

function parts(pid: number): RssParts {
  return parseSmapsRollup(Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`));
}

/**
 * Measures one variant.
 *
 * @param lever the variant
 * @param setup serve's inputs
 * @returns its figures
 */
export async function measureLever(lever: Lever, setup: LeverSetup): Promise<LeverFigures> {
  let pid: number;
  let port: number;
  let stop: () => Promise<unknown>;
  if (lever.kind === "serve") {
    const env = { ...unitEnvironment(), ...lever.env };
    const serve = await startServe({
      homeFrom: setup.homeFrom,
      snapshot: setup.snapshot,
      xmrig: setup.xmrig,
      activation: "socket",
      args: ["--idle-exit", "0", "--rate", "0", "--global-rate", "0"],
      env,
      v8Flags: lever.v8Flags ?? [],
    });
    ({ pid, port } = serve);
    stop = () => serve.stop();
  } else {
    const args = ["run", ...COMPILE_FLAGS, join(REPO_ROOT, "bench", "floor_server.ts")];
    args.push(String(setup.bodyBytes));
    if (lever.kind !== "floor") args.push("--with-serve-modules");
    if (lever.kind === "floor+fetch") args.push("--fetch-once", `${setup.xmrig}/1/summary`);
    const helper = await startHelper(Deno.execPath(), args);
    ({ pid, port } = helper);
    stop = () => helper.stop();
  }
  try {
    const first = await get(port, setup.token, setup.path);
    await first.body?.cancel();
    if (first.status !== 200) throw new Error(`${lever.name}: answered ${first.status}`);
    await new Promise((r) => setTimeout(r, 1000));
    const idle = parts(pid);
    const url = `http://127.0.0.1:${port}${setup.path}`;
    const s0 = stat(pid);
    const c4 = await wrk(url, setup.token, 4, 3);
    const cpuMsPer1kC4 = (cpuSeconds(s0, stat(pid)) * 1e6) / Math.max(1, c4.requests);
    let requests = c4.requests;
    let rate = Math.max(c4.rps, 200);
    while (requests < LEVER_REQUESTS) {
      const seconds = Math.min(15, Math.max(1, Math.ceil((LEVER_REQUESTS - requests) / rate)));
      const chunk = await wrk(url, setup.token, 4, seconds);
      requests += chunk.requests;
      rate = Math.max(chunk.rps, 200);
    }
    const after = parts(pid);
    log(
      `lever "${lever.name}": idle ${fmt(idle.rssKiB / 1024)} MiB, after ${requests} requests ${
        fmt(after.rssKiB / 1024)
      } MiB, ${fmt(cpuMsPer1kC4)} CPU ms / 1k at c4`,
    );
    return { lever, idle, after, requests, cpuMsPer1kC4, rpsC4: c4.rps };
  } finally {
    if (rssOf(pid) !== null) await stop();
  }
}

/**
 * The levers' table.
 *
 * @param rows every variant's figures
 * @returns Markdown
 */
export function leverTable(rows: readonly LeverFigures[]): string {
  const mib = (kib: number) => fmt(kib / 1024);
  return table(
    [
      "variant",
      "RSS idle MiB (anon + file)",
      "RSS after MiB (anon + file)",
      "requests",
      "CPU ms / 1k req c4",
      "req/s c4",
    ],
    rows.map((r) => [
      r.lever.name,
      `${mib(r.idle.rssKiB)} (${mib(r.idle.anonKiB)} + ${mib(r.idle.fileKiB)})`,
      `${mib(r.after.rssKiB)} (${mib(r.after.anonKiB)} + ${mib(r.after.fileKiB)})`,
      fmt(r.requests, 0),
      fmt(r.cpuMsPer1kC4),
      fmt(r.rpsC4, 0),
    ]),
  );
}
