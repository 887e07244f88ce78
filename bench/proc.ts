/**
 * Process helpers of the bench scripts (`deno task bench`, `deno task rig-impact`): running a
 * command, reading `/proc/<pid>/stat` (clock ticks), child lists, helper servers that print
 * `ready <port>`, wrk runs and a timestamped log on stderr.
 *
 * @module
 */

import { REPO_ROOT } from "../tests/_cli.ts";
import { parseProcStat, parseWrk, type ProcStat, type WrkReport } from "./lib.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 on Linux x86-64). */
export const CLK_TCK: number = (() => {
  try {
    const out = new Deno.Command("getconf", { args: ["CLK_TCK"], stderr: "null" }).outputSync();
    return Number(decoder.decode(out.stdout).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * Runs a command to completion.
 *
 * @param command the program
 * @param args its arguments
 * @param env extra environment
 * @returns exit code, stdout and stderr
 */
export async function sh(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

const T0 = performance.now();

/**
 * One line on stderr, prefixed with the seconds since the script started.
 *
 * @param line the text
 */
export function log(line: string): void {
  const at = ((performance.now() - T0) / 1000).toFixed(0).padStart(3);
  Deno.stderr.writeSync(encoder.encode(`bench ${at}s: ${line}\n`));
}

/**
 * `/proc/<pid>/stat` of a process.
 *
 * @param pid the process
 * @returns its CPU ticks and fault counts
 */
export function stat(pid: number): ProcStat {
  return parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
}

/**
 * CPU seconds (user + system) a process spent between two readings.
 *
 * @param before the first reading
 * @param after the second
 * @returns seconds
 */
export function cpuSeconds(before: ProcStat, after: ProcStat): number {
  return (after.utime + after.stime - before.utime - before.stime) / CLK_TCK;
}

/**
 * Every child pid of a process, over all its threads (`/proc/<pid>/task/<tid>/children`).
 *
 * @param pid the process
 * @returns the child pids
 */
export function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`).trim();
    if (text !== "") kids.push(...text.split(/\s+/).map(Number));
  }
  return kids;
}

/** A child process that prints `ready <port>` on stdout when it listens. */
export interface Helper {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts a helper server that prints `ready <port>` on stdout once it listens.
 *
 * @param command the program
 * @param args its arguments
 * @returns its pid, port and a stop function
 */
export async function startHelper(command: string, args: string[]): Promise<Helper> {
  const child = new Deno.Command(command, {
    args,
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "null", // python's BrokenPipe tracebacks when wrk hangs up at the end of a run
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  const deadline = performance.now() + 30_000;
  while (!/ready (\d+)\n/.test(text)) {
    const timeout = new Promise<null>((r) => setTimeout(() => r(null), 1000));
    const chunk = await Promise.race([reader.read(), timeout]);
    if (chunk !== null && chunk.done) throw new Error(`${command} exited before it was ready`);
    if (chunk !== null) text += decoder.decode(chunk.value);
    if (performance.now() > deadline) throw new Error(`${command} did not get ready`);
  }
  void (async () => {
    while (!(await reader.read()).done) {
      // drain
    }
  })();
  const port = Number(/ready (\d+)\n/.exec(text)![1]);
  return {
    pid: child.pid,
    port,
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

/**
 * One wrk run (`-t1 --latency`) with a bearer token.
 *
 * @param url the URL
 * @param token the bearer token
 * @param connections concurrent connections
 * @param seconds the run's length
 * @param retry run once more when wrk's report is incomplete (default)
 * @returns wrk's figures
 */
export async function wrk(
  url: string,
  token: string,
  connections: number,
  seconds: number,
  retry = true,
): Promise<WrkReport> {
  const { code, stdout, stderr } = await sh("wrk", [
    "-t1",
    `-c${connections}`,
    `-d${Math.max(1, Math.round(seconds))}s`,
    "--latency",
    "-H",
    `Authorization: Bearer ${token}`,
    url,
  ]);
  if (code !== 0) throw new Error(`wrk failed: ${stderr.trim()}`);
  try {
    return parseWrk(stdout);
  } catch (error) {
    // wrk prints no latency table when no request completed (a server that stalled, e.g. a
    // full listen backlog on a loaded machine): say so with wrk's own words, then retry once.
    log(`wrk -c${connections} ${url}: ${String(error)}; wrk said: ${stdout.trim().slice(-400)}`);
    if (retry) return await wrk(url, token, connections, seconds, false);
    throw error;
  }
}

/**
 * One GET on 127.0.0.1 with a bearer token.
 *
 * @param port the port
 * @param token the bearer token
 * @param path the route
 * @returns the response
 */
export async function get(port: number, token: string, path: string): Promise<Response> {
  return await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
}

/**
 * Writes a generated Markdown page atomically (a temporary file in the same directory, then a
 * rename), formatted by `deno fmt` first (the repository's fmt check covers docs/).
 *
 * @param path the page
 * @param text its content
 */
export async function writeDocAtomic(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${Deno.pid}.md`;
  try {
    await Deno.writeTextFile(temp, text);
    const formatted = await sh(Deno.execPath(), ["fmt", "--quiet", temp]);
    if (formatted.code !== 0) throw new Error(`deno fmt ${temp}: ${formatted.stderr.trim()}`);
    await Deno.rename(temp, path);
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
}

/** The Debian package of each tool the bench scripts run. */
const TOOL_PACKAGES: Record<string, string> = {
  wrk: "wrk",
  strace: "strace",
  taskset: "util-linux",
  "systemd-socket-activate": "systemd",
  python3: "python3",
  npm: "npm",
  getconf: "libc-bin",
  tar: "tar",
};

/**
 * Fails with one clear message naming every missing tool and the Debian package that has it.
 *
 * @param tools the commands needed
 * @throws {Error} when any is not on PATH
 */
export async function requireTools(tools: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const tool of tools) {
    const found = await sh("sh", ["-c", `command -v ${tool}`]).catch(() => ({ code: 1 }));
    if (found.code !== 0) missing.push(`${tool} (apt-get install ${TOOL_PACKAGES[tool] ?? tool})`);
  }
  if (missing.length > 0) throw new Error(`missing tools: ${missing.join(", ")}`);
}
