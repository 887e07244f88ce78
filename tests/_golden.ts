/**
 * Shared helpers of the golden CLI tests (`doctor_test.ts`, `tune_history_test.ts`): a fixture
 * rig (machine root + RigForge home) copied to a temporary directory with fixed mtimes, golden
 * file comparison with `UPDATE_GOLDEN=1` to regenerate, and running the CLI as an unprivileged
 * user.
 *
 * @module
 */

import { deepEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { COMPILE_FLAGS, REPO_ROOT, runCli } from "./_cli.ts";
import { cleanupRoot, materialiseRoot } from "./_roots.ts";

/** The fixture profiles every golden test runs. */
export const PROFILES = ["buildvm", "zen4", "epyc", "intel"] as const;

/** The directory of golden files. */
export const GOLDEN_DIR: string = join(REPO_ROOT, "tests", "fixtures", "golden");

/** The RigForge fixture homes. */
export const HOMES_DIR: string = join(REPO_ROOT, "tests", "fixtures", "rigforge");

/**
 * The mtime given to every file of a copied RigForge home: git does not keep mtimes, and the
 * tune log's and the thermal-hold marker's times are their mtimes.
 */
export const FIXED_MTIME: Date = new Date("2026-01-14T22:05:00Z");

/** The distinctive marker in every fixture secret (tokens, pool passwords). */
export const SECRET_MARKER = "LEAKCHECK";

/** A fixture rig copied to temporary directories. */
export interface Rig {
  /** The machine root (`--root`), MSR files materialised. */
  root: string;
  /** The RigForge home (`--rigforge-home`), mtimes fixed. */
  home: string;
  /** Removes both copies. */
  cleanup(): Promise<void>;
}

/**
 * Copies a profile's machine root and RigForge home to temporary directories.
 *
 * @param profile the fixture profile
 * @returns the copies
 */
export async function prepareRig(profile: string): Promise<Rig> {
  const root = await materialiseRoot(profile);
  const home = await materialiseRoot(join(HOMES_DIR, profile));
  await walk(home, (path) => Deno.utime(path, FIXED_MTIME, FIXED_MTIME));
  return {
    root,
    home,
    cleanup: async () => {
      await cleanupRoot(root);
      await cleanupRoot(home);
    },
  };
}

/**
 * Applies `fn` to every file and directory below `dir` (and to `dir` itself last).
 *
 * @param dir the directory
 * @param fn what to do with each path
 */
export async function walk(dir: string, fn: (path: string) => Promise<void>): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) await walk(path, fn);
    else if (!entry.isSymlink) await fn(path);
  }
  await fn(dir);
}

/** One CLI run's outcome. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI (as `deno run` with the compile flags) and asserts that no fixture secret
 * appears in its output.
 *
 * @param args the CLI arguments
 * @returns the outcome
 */
export async function run(args: string[]): Promise<Run> {
  const result = await runCli(args, { env: { RIGFORGE_HOME: "", RIGFORGE_API_ROOT: "" } });
  assertNoSecret(result, args);
  return result;
}

/**
 * Asserts that neither stdout nor stderr holds a fixture secret.
 *
 * @param result the run
 * @param args for the message
 */
export function assertNoSecret(result: Run, args: string[]): void {
  for (const stream of ["stdout", "stderr"] as const) {
    if (result[stream].includes(SECRET_MARKER)) {
      throw new Error(`a fixture secret leaked to ${stream} of ${args.join(" ")}`);
    }
  }
}

/**
 * Compares a document with its golden file, or rewrites the golden file when the environment
 * variable `UPDATE_GOLDEN=1` is set.
 *
 * @param name the golden file's name (`zen4.doctor.json`)
 * @param actual the document, volatile fields already removed
 */
export async function assertGolden(name: string, actual: unknown): Promise<void> {
  const path = join(GOLDEN_DIR, name);
  const text = JSON.stringify(actual, null, 2) + "\n";
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.mkdir(GOLDEN_DIR, { recursive: true });
    await Deno.writeTextFile(path, text);
    return;
  }
  let expected: string;
  try {
    expected = await Deno.readTextFile(path);
  } catch {
    throw new Error(`golden file ${path} is missing: run the test with UPDATE_GOLDEN=1`);
  }
  assertEquals(JSON.parse(text), JSON.parse(expected), `${name} differs from its golden file`);
}

/**
 * Runs the CLI as the unprivileged user `nobody` (uid/gid 65534, via util-linux `setpriv`)
 * over copies readable by that user. Deno gets its own cache directory seeded with this
 * process's npm cache, so nothing is downloaded.
 *
 * @param args the CLI arguments (paths must be readable by `nobody`)
 * @returns the outcome
 */
export async function runUnprivileged(args: string[]): Promise<Run> {
  const denoDir = await Deno.makeTempDir({ prefix: "rigforge-nobody-deno-" });
  try {
    const info = JSON.parse(
      new TextDecoder().decode(
        (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
          .output()).stdout,
      ),
    );
    const npmCache = typeof info.npmCache === "string" ? info.npmCache : null;
    if (npmCache !== null) await copyDir(npmCache, join(denoDir, "npm"));
    await walk(denoDir, (path) => Deno.chmod(path, 0o777));
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command("setpriv", {
        args: [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          Deno.execPath(),
          "run",
          ...COMPILE_FLAGS,
          join(REPO_ROOT, "main.ts"),
          ...args,
        ],
        cwd: REPO_ROOT,
        clearEnv: true,
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          DENO_DIR: denoDir,
          HOME: denoDir,
          NO_COLOR: "1",
          DENO_NO_UPDATE_CHECK: "1",
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      throw new Error(`cannot run setpriv (util-linux) for the non-root view: ${error}`);
    }
    const decoder = new TextDecoder();
    const result = {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
    assertNoSecret(result, args);
    return result;
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
}

/**
 * Makes a tree readable (and its directories traversable) by every user.
 *
 * @param dir the directory
 */
export async function makeWorldReadable(dir: string): Promise<void> {
  await walk(dir, async (path) => {
    const info = await Deno.stat(path);
    await Deno.chmod(path, info.isDirectory ? 0o755 : 0o644);
  });
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory) await copyDir(src, dst);
    else if (entry.isFile) await Deno.copyFile(src, dst);
  }
}
