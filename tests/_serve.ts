/**
 * Shared test helper: runs the real `rigforge-api serve` (`main.ts`, with the compile task's
 * Deno flags: `SERVE_COMMAND` of `tests/harness/serve_process.ts`) as a child process,
 * standalone on an ephemeral port of 127.0.0.1 or socket-activated under
 * `systemd-socket-activate` (fd 3, `LISTEN_FDS`), in a fresh empty working directory with a
 * fresh empty `TMPDIR` (the harness's spawners run in the repository, which the "nothing is
 * written to disk" checks cannot use), and hands back its port, pid, RSS, stderr and a stop
 * function.
 *
 * ```ts
 * const serve = await startServe({ config: { ACCESS_TOKEN: "tok" }, args: ["--rate", "0"] });
 * // ... talk to 127.0.0.1:serve.port ...
 * const { code, stderr } = await serve.stop();
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { isoSeconds } from "../src/lib/time.ts";
import { serializeSnapshot, writeSnapshotAtomic } from "../src/snapshot.ts";
import { freePort, SERVE_COMMAND } from "./harness/serve_process.ts";
import { fixtureSnapshot } from "./_snapshot.ts";
import { waitFor } from "./_wait.ts";

/** Options for {@link startServe}. */
export interface ServeOptions {
  /**
   * RigForge's `config.json`: an object (written as JSON), a string (written verbatim, for
   * corrupt configs), or `null`/absent for none (the API is then open).
   */
  config?: unknown;
  /** Copy this RigForge home (e.g. `tests/fixtures/rigforge/zen4`) into the scratch home first. */
  homeFrom?: string;
  /** Snapshot file for `--snapshot` (default: `<dir>/run/snapshot.json`, not created). */
  snapshot?: string;
  /** XMRig's API for `--xmrig` (default: a port nothing listens on). */
  xmrig?: string;
  /** Further `serve` flags (e.g. `["--rate", "0", "--global-rate", "0"]`). */
  args?: readonly string[];
  /** `standalone` (default: `--bind 127.0.0.1 --port 0`) or `socket` (systemd-socket-activate). */
  activation?: "standalone" | "socket";
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Standalone without `--bind` (serve picks the address; it must still be 127.0.0.1). */
  omitBind?: boolean;
  /**
   * Extra V8 flags, merged into the compile task's `--v8-flags=` (e.g. `--max-old-space-size=32`
   * to prove that no heap grows without bound).
   */
  v8Flags?: readonly string[];
  /** The program's command line (default: `SERVE_COMMAND`; the compile test passes the binary). */
  command?: readonly string[];
  /** How long to wait for the startup line, ms (default 30 000: a cold `deno run`). */
  startTimeoutMs?: number;
}

/** A running `serve`. */
export interface ServeHandle {
  /** The TCP port it answers on (127.0.0.1). */
  readonly port: number;
  /** The serve process's pid (`deno run`; for `/proc/<pid>/status`). */
  readonly pid: number;
  /** The scratch directory: `cwd/` (its working directory), `tmp/` (its TMPDIR), `home/`. */
  readonly dir: string;
  /** The RigForge home it was given (`<dir>/home`); `config.json` lives there. */
  readonly home: string;
  /** The snapshot path it reads. */
  readonly snapshot: string;
  /** @returns everything it wrote to stderr so far */
  stderr(): string;
  /** @returns everything it wrote to stdout so far */
  stdout(): string;
  /** @returns its resident set size in KiB (`VmRSS`), or `null` once it has exited */
  rssKiB(): number | null;
  /** Resolves with the exit code when the process exits on its own (or is stopped). */
  readonly exited: Promise<number>;
  /**
   * Sends SIGTERM, waits for the exit (SIGKILL after 10 s) and removes the scratch directory
   * unless `keep` is set.
   *
   * @param keep leave the scratch directory for inspection
   * @returns the exit code and the full stderr
   */
  stop(keep?: boolean): Promise<{ code: number; stderr: string; stdout: string }>;
}

export { freePort };

/**
 * Fails the calling test loudly when `systemd-socket-activate` (Debian's `systemd` package, which
 * `.ci/run` installs) is missing: socket-activation tests never skip silently.
 */
export function requireSocketActivate(): void {
  if (!HAS_SOCKET_ACTIVATE) {
    throw new Error("systemd-socket-activate is missing: apt-get install systemd (see .ci/run)");
  }
}

/** Whether `systemd-socket-activate` is installed (socket activation tests need it). */
export const HAS_SOCKET_ACTIVATE: boolean = (() => {
  try {
    return new Deno.Command("systemd-socket-activate", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
})();

/**
 * Reads `VmRSS` of a process.
 *
 * @param pid the process
 * @returns KiB, or `null` when the process is gone
 */
export function rssOf(pid: number): number | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/**
 * Every entry under a directory, recursively, as `path size mtime ino` lines (sorted), to
 * compare before and after: nothing may appear, vanish or change.
 *
 * @param dir the directory
 * @returns the listing
 */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string, rel: string): void => {
    for (const entry of Deno.readDirSync(path)) {
      const full = join(path, entry.name);
      const name = rel === "" ? entry.name : `${rel}/${entry.name}`;
      const info = Deno.lstatSync(full);
      out.push(`${name} ${info.size} ${info.mtime?.getTime()} ${info.ino}`);
      if (info.isDirectory) walk(full, name);
    }
  };
  walk(dir, "");
  return out.sort();
}

/**
 * Starts `serve` and waits until it listens.
 *
 * @param options config, snapshot, XMRig, flags, activation mode
 * @returns the running server
 * @throws {Error} when it exits or stays silent before listening (with its stderr)
 */
export async function startServe(options: ServeOptions = {}): Promise<ServeHandle> {
  const dir = await Deno.makeTempDir({ prefix: "rf-serve-" });
  const cwd = join(dir, "cwd");
  const tmp = join(dir, "tmp");
  const home = join(dir, "home");
  for (const sub of [cwd, tmp, home, join(dir, "run")]) await Deno.mkdir(sub);
  if (options.homeFrom !== undefined) await copyTree(options.homeFrom, home);
  if (options.config !== undefined && options.config !== null) {
    const text = typeof options.config === "string"
      ? options.config
      : JSON.stringify(options.config, null, 2);
    await Deno.writeTextFile(join(home, "config.json"), text);
  }
  const snapshot = options.snapshot ?? join(dir, "run", "snapshot.json");
  const xmrig = options.xmrig ?? `http://127.0.0.1:${freePort()}`;
  const serveArgs = [
    "serve",
    "--rigforge-home",
    home,
    "--snapshot",
    snapshot,
    "--xmrig",
    xmrig,
    "--embedded-probe",
    "off",
    ...(options.args ?? []),
  ];
  const deno = withV8Flags(options.command ?? SERVE_COMMAND, options.v8Flags ?? []);
  const socket = options.activation === "socket";
  const port = socket ? freePort() : 0;
  const command = socket
    ? new Deno.Command("systemd-socket-activate", {
      args: ["-l", `127.0.0.1:${port}`, ...deno, ...serveArgs],
      cwd,
      env: childEnv(tmp, options.env),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
    : new Deno.Command(deno[0]!, {
      args: [
        ...deno.slice(1),
        ...serveArgs,
        ...(options.omitBind === true ? [] : ["--bind", "127.0.0.1"]),
        "--port",
        "0",
      ],
      cwd,
      env: childEnv(tmp, options.env),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  const child = command.spawn();
  const err = collect(child.stderr);
  const out = collect(child.stdout);
  const exited = child.status.then((status) => status.code);
  let alive = true;
  void exited.then(() => (alive = false));

  const limitMs = options.startTimeoutMs ?? 30_000;
  const waitForLine = async (pattern: RegExp): Promise<RegExpExecArray> => {
    const outcome = await waitFor(
      `serve to print ${pattern}`,
      () => pattern.exec(err.text()) ?? (alive ? null : "exited"),
      { limitMs },
    ).catch(() => "timeout" as const);
    if (typeof outcome !== "string") return outcome;
    const how = alive ? `timeout after ${limitMs} ms` : `exit ${await exited}`;
    if (alive) child.kill("SIGKILL");
    await exited;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`serve did not start (${how}):\n${err.text()}`);
  };
  if (socket) {
    // systemd-socket-activate execs serve only when the first connection arrives (as systemd
    // does for Accept=no): trigger it, and let that request wait in the backlog meanwhile.
    await waitForLine(/Listening on 127\.0\.0\.1:\d+ as 3/);
    const trigger = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await trigger.write(new TextEncoder().encode("GET /tune HTTP/1.1\r\nHost: rig\r\n\r\n"));
      const buffer = new Uint8Array(65536);
      while ((await trigger.read(buffer)) !== null) {
        // drain the first answer
      }
    } catch {
      // the startup line below decides
    } finally {
      trigger.close();
    }
  }
  const match = await waitForLine(/listening on (?:fd 3 \()?127\.0\.0\.1:(\d+)/);
  const bound = Number(match[1]);
  // Socket-activated, systemd-socket-activate execs the command itself: the pid is serve's.
  return {
    port: bound,
    pid: child.pid,
    dir,
    home,
    snapshot,
    stderr: err.text,
    stdout: out.text,
    rssKiB: () => (alive ? rssOf(child.pid) : null),
    exited,
    async stop(keep = false) {
      if (alive) {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, 10_000);
      const code = await exited;
      clearTimeout(timer);
      await Promise.all([err.done, out.done]);
      if (!keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
      return { code, stderr: err.text(), stdout: out.text() };
    },
  };
}

/**
 * Copies a directory tree (files, directories and symbolic links).
 *
 * @param from the source directory
 * @param to an existing target directory
 */
export async function copyTree(from: string, to: string): Promise<void> {
  for await (const entry of Deno.readDir(from)) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory) {
      await Deno.mkdir(target);
      await copyTree(source, target);
    } else if (entry.isSymlink) {
      await Deno.symlink(await Deno.readLink(source), target);
    } else {
      await Deno.copyFile(source, target);
    }
  }
}

/**
 * Writes a fresh snapshot of a fixture profile: the real probes over
 * `tests/fixtures/roots/<profile>` and `tests/fixtures/rigforge/<profile>`, stamped now (so
 * `serve` judges it fresh), written atomically like `probe` writes it.
 *
 * @param path the snapshot file
 * @param profile `zen4`, `epyc`, `intel`, `buildvm`
 * @returns the snapshot's text as written
 */
export async function writeFreshSnapshot(path: string, profile = "zen4"): Promise<string> {
  const snapshot = await fixtureSnapshot(profile);
  snapshot.generated_at = isoSeconds(Date.now());
  await writeSnapshotAtomic(path, snapshot);
  return serializeSnapshot(snapshot);
}

/**
 * A `deno run` command line with extra V8 flags merged into its `--v8-flags=` (added when it
 * has none).
 *
 * @param command the command line
 * @param extra V8 flags
 * @returns the new command line
 */
export function withV8Flags(command: readonly string[], extra: readonly string[]): string[] {
  if (extra.length === 0) return [...command];
  const at = command.findIndex((arg) => arg.startsWith("--v8-flags="));
  if (at < 0) {
    return [command[0]!, command[1]!, `--v8-flags=${extra.join(",")}`, ...command.slice(2)];
  }
  const out = [...command];
  out[at] = `${out[at]},${extra.join(",")}`;
  return out;
}

function childEnv(tmp: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    TMPDIR: tmp,
    TMP: tmp,
    TEMP: tmp,
    ...extra,
  };
}

function collect(stream: ReadableStream<Uint8Array>): { text: () => string; done: Promise<void> } {
  const decoder = new TextDecoder();
  let text = "";
  const done = (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })().catch(() => {});
  return { text: () => text, done };
}
