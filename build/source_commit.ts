/**
 * Build step of `deno task compile`: writes the source commit to `dist/source-commit.txt`
 * (atomically), which the compile step embeds with `--include` and `--version` prints.
 *
 * The commit is `git rev-parse HEAD` of this checkout, with `-dirty` when tracked files have
 * uncommitted changes; `unknown` when there is no git, or the tree is not a git checkout of its
 * own (e.g. unpacked from a tarball, even inside some other repository).
 *
 * Usage: `deno run --allow-run=git --allow-read --allow-write=dist build/source_commit.ts`
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseSourceCommit, SOURCE_COMMIT_FILE } from "../src/version.ts";

/** The repository root: the directory holding `deno.json` and this `build/` directory. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** What one git call printed, or why it gave nothing. */
type GitResult = { ok: true; out: string } | { ok: false; why: string };

async function git(args: string[]): Promise<GitResult> {
  try {
    const output = await new Deno.Command("git", {
      args: ["-C", ROOT, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    if (!output.success) {
      return { ok: false, why: decoder.decode(output.stderr).trim().split("\n")[0] ?? "" };
    }
    return { ok: true, out: decoder.decode(output.stdout).trim() };
  } catch (error) {
    return { ok: false, why: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Works out the commit line for this checkout.
 *
 * @returns the line and, when it is `unknown`, why
 */
async function commitLine(): Promise<{ line: string; why: string | null }> {
  const top = await git(["rev-parse", "--show-toplevel"]);
  if (!top.ok) return { line: "unknown", why: `not a git checkout (${top.why})` };
  if (resolve(top.out) !== ROOT) {
    return { line: "unknown", why: `the git checkout is ${top.out}, not this tree` };
  }
  const head = await git(["rev-parse", "HEAD"]);
  if (!head.ok) return { line: "unknown", why: `no commit (${head.why})` };
  const status = await git(["status", "--porcelain", "--untracked-files=no"]);
  if (!status.ok) return { line: "unknown", why: `git status failed (${status.why})` };
  const line = status.out === "" ? head.out : `${head.out}-dirty`;
  if (parseSourceCommit(line) !== line) {
    return { line: "unknown", why: `git printed an unexpected commit: ${JSON.stringify(line)}` };
  }
  return { line, why: null };
}

if (import.meta.main) {
  const { line, why } = await commitLine();
  const path = join(ROOT, SOURCE_COMMIT_FILE);
  await Deno.mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(temp, `${line}\n`);
  await Deno.rename(temp, path);
  const note = why === null ? "" : ` (${why})`;
  await Deno.stderr.write(new TextEncoder().encode(`source commit ${line}${note}\n`));
}
