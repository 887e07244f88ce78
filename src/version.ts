/**
 * The program's version, read from `deno.json` at build time.
 *
 * @module
 */

import meta from "../deno.json" with { type: "json" };

/** rigforge-api's own version (semver). */
export const VERSION: string = meta.version;

/**
 * The `--version` text: rigforge-api, Deno, V8 and TypeScript versions.
 *
 * @returns one line per component
 */
export function versionText(): string {
  return [
    `rigforge-api ${VERSION}`,
    `deno ${Deno.version.deno}`,
    `v8 ${Deno.version.v8}`,
    `typescript ${Deno.version.typescript}`,
  ].join("\n") + "\n";
}
