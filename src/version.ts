/**
 * The program's version, read from `deno.json` at build time, and the source commit the
 * compiled binary was built from.
 *
 * @module
 */

import meta from "../deno.json" with { type: "json" };

/** rigforge-api's own version (semver). */
export const VERSION: string = meta.version;

/**
 * Where `deno task compile` writes the source commit (relative to the repository root). The
 * compile task embeds it with `--include`; the binary reads it back from its embedded files.
 */
export const SOURCE_COMMIT_FILE = "dist/source-commit.txt";

const COMMIT_URL = new URL(`../${SOURCE_COMMIT_FILE}`, import.meta.url);

/**
 * Decodes the source-commit file: one line, a 40-hex git commit (with `-dirty` when the
 * working tree had uncommitted changes) or `unknown` (built outside a git checkout).
 *
 * @param text the file's contents
 * @returns the commit text, or `null` when the file holds anything else
 */
export function parseSourceCommit(text: string): string | null {
  const line = text.trim();
  return /^(?:[0-9a-f]{40}(?:-dirty)?|unknown)$/.test(line) ? line : null;
}

/**
 * The source commit for `--version`. Only a compiled binary carries one; under `deno run` the
 * working tree may differ from any build, so it says so.
 *
 * @param compiled whether this process is the compiled binary (not `deno run`)
 * @param read reads the embedded file (injected for tests)
 * @returns the commit, or `unknown (<why>)`
 */
export function sourceCommit(
  compiled: boolean,
  read: (url: URL) => string = (url) => Deno.readTextFileSync(url),
): string {
  if (!compiled) return "unknown (running from source, not a compiled build)";
  let text: string;
  try {
    text = read(COMMIT_URL);
  } catch (error) {
    const why = error instanceof Error ? error.name : String(error);
    return `unknown (cannot read the embedded ${SOURCE_COMMIT_FILE}: ${why})`;
  }
  return parseSourceCommit(text) ?? `unknown (the embedded ${SOURCE_COMMIT_FILE} is not a commit)`;
}

/**
 * The `--version` text: rigforge-api's version, the source commit it was built from, and the
 * Deno, V8 and TypeScript versions.
 *
 * @param commit the source commit line ({@link sourceCommit} for this process)
 * @returns one line per component
 */
export function versionText(commit: string): string {
  return [
    `rigforge-api ${VERSION}`,
    `source ${commit}`,
    `deno ${Deno.version.deno}`,
    `v8 ${Deno.version.v8}`,
    `typescript ${Deno.version.typescript}`,
  ].join("\n") + "\n";
}
