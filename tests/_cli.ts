/**
 * Shared test helper: runs the real CLI (`main.ts`) in a child process with the same Deno
 * flags the compiled binary gets (read from `deno.json`'s `compile` task), so process-level
 * tests see what a deployed rig sees.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the directory holding `deno.json` and `main.ts`). */
export const REPO_ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The runtime flags of `deno.json`'s `compile` task (e.g. `-A`,
 * `--v8-flags=--max-semi-space-size=1`): every flag of its `deno compile` step except
 * `--output <file>`, `--include <file>`, the entry point and compile-only flags.
 */
export const COMPILE_FLAGS: readonly string[] = compileFlags(
  JSON.parse(Deno.readTextFileSync(join(REPO_ROOT, "deno.json"))).tasks.compile,
);

/**
 * Extracts the runtime flags from the compile task: the `deno compile ...` step of a task
 * that may chain steps with `&&` (`deno check main.ts && ... && deno compile ...`).
 *
 * @param task the task text, e.g. `deno compile -A --v8-flags=... --output dist/x main.ts`
 * @returns the flags to give `deno run`
 */
export function compileFlags(task: string): string[] {
  const steps = task.split("&&").map((step) => step.trim().split(/\s+/));
  const compile = steps.filter((words) => words[0] === "deno" && words[1] === "compile");
  if (compile.length !== 1) {
    throw new Error(`deno.json compile task has no single 'deno compile ...' step: ${task}`);
  }
  const words = compile[0]!;
  const flags: string[] = [];
  const compileOnly = new Set(["--output", "-o", "--target", "--icon", "--include", "--exclude"]);
  const noValue = new Set(["--no-terminal", "--no-check"]);
  for (let i = 2; i < words.length; i++) {
    const word = words[i]!;
    if (compileOnly.has(word)) {
      i++; // skip its value
      continue;
    }
    if ([...compileOnly].some((flag) => word.startsWith(`${flag}=`))) continue;
    if (noValue.has(word) || !word.startsWith("-")) continue; // entry point, compile-only
    flags.push(word);
  }
  return flags;
}

/**
 * The program's command line: `deno run <COMPILE_FLAGS> main.ts`, or, when the environment
 * names a compiled binary in `RIGFORGE_API_BINARY`, that binary (the compile test runs the leak
 * sweep against the built binary this way).
 */
export const CLI_COMMAND: readonly string[] = (() => {
  const binary = Deno.env.get("RIGFORGE_API_BINARY");
  if (binary !== undefined && binary !== "") return [binary];
  return [Deno.execPath(), "run", ...COMPILE_FLAGS, join(REPO_ROOT, "main.ts")];
})();

/** Options for {@link runCli}. */
export interface RunCliOptions {
  /** Extra environment variables (added to the inherited environment). */
  env?: Record<string, string>;
  /** Working directory (default: the repository root). */
  cwd?: string;
}

/** What the CLI did. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the program ({@link CLI_COMMAND}) with `args` and collects its output.
 *
 * @param args the CLI's arguments (`["probe", "--print", "--root", dir]`)
 * @param options environment and working directory
 * @returns exit code, stdout and stderr
 */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const output = await new Deno.Command(CLI_COMMAND[0]!, {
    args: [...CLI_COMMAND.slice(1), ...args],
    cwd: options.cwd ?? REPO_ROOT,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
