/**
 * Shared test helper: a {@link ProbeContext} over a fixture machine root.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { replayRunner } from "../src/probe/command.ts";
import type { ProbeContext } from "../src/probe/types.ts";

/** The directory holding the fixture machine roots (`tests/fixtures/roots`). */
export const ROOTS_DIR: string = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "roots");

/** The fixed wall clock of fixture contexts: 2026-01-15T12:00:00Z, in ms since the epoch. */
export const FIXTURE_NOW_MS: number = Date.UTC(2026, 0, 15, 12, 0, 0);

/**
 * Builds a probe context over `tests/fixtures/roots/<profile>`: root privileges assumed
 * (`isRoot: true`), no RigForge install, commands replayed from `<root>/.commands`, a fixed
 * clock, no previous counters, and a sampling window of 0 ms whose sleep returns at once.
 *
 * @param profile the fixture root's directory name (`buildvm`, `zen4`, `epyc`, `intel`), or an
 *   absolute path to another machine root (e.g. a temporary copy)
 * @param overrides fields to replace (`isRoot: false` for the unprivileged view, `previous`,
 *   `sleep`, `rigforge`, `config`, ...)
 * @returns the context
 */
export function fixtureContext(
  profile: string,
  overrides: Partial<ProbeContext> = {},
): ProbeContext {
  const root = profile.startsWith("/") ? profile : join(ROOTS_DIR, profile);
  return {
    root,
    rigforge: null,
    config: null,
    isRoot: true,
    run: replayRunner(join(root, ".commands")),
    now: () => FIXTURE_NOW_MS,
    previous: null,
    sampleMs: 0,
    sleep: () => Promise.resolve(),
    ...overrides,
  };
}
