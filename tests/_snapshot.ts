/**
 * Shared test helper: snapshots made by running the real probes over a fixture machine root
 * (`tests/fixtures/roots/<profile>`) with its RigForge home (`tests/fixtures/rigforge/<profile>`).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runProbes } from "../src/probe.ts";
import type { ProbeContext } from "../src/probe/types.ts";
import { locate } from "../src/rigforge/locate.ts";
import { buildSnapshot, type Snapshot } from "../src/snapshot.ts";
import { FIXTURE_NOW_MS, fixtureContext } from "./_context.ts";

/** `tests/fixtures/rigforge`: RigForge homes, one per machine profile. */
export const RIGFORGE_DIR: string = join(
  dirname(fileURLToPath(import.meta.url)),
  "fixtures",
  "rigforge",
);

/** `tests/fixtures/xmrig`: XMRig 6.26.0 captures. */
export const XMRIG_DIR: string = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "xmrig");

/**
 * Reads an XMRig capture's body exactly as XMRig sent it (the `.json` files add one newline).
 *
 * @param name e.g. `summary-v2-mining.json`
 * @returns the body text
 */
export function xmrigBody(name: string): string {
  const text = Deno.readTextFileSync(join(XMRIG_DIR, name));
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

/**
 * A probe context over a fixture machine root and its RigForge home.
 *
 * @param profile `zen4`, `epyc`, `intel`, `buildvm`
 * @param overrides context fields to replace
 * @returns the context
 */
export async function fixtureRigContext(
  profile: string,
  overrides: Partial<ProbeContext> = {},
): Promise<ProbeContext> {
  const located = await locate(join(RIGFORGE_DIR, profile));
  return fixtureContext(profile, { rigforge: located.paths, config: located.config, ...overrides });
}

/**
 * Runs every probe over a fixture and builds the snapshot, stamped at the fixture clock
 * (`FIXTURE_NOW_MS`, 2026-01-15T12:00:00Z) with a 15 s interval.
 *
 * @param profile the fixture profile
 * @param overrides context fields to replace
 * @returns the snapshot
 */
export async function fixtureSnapshot(
  profile: string,
  overrides: Partial<ProbeContext> = {},
): Promise<Snapshot> {
  const ctx = await fixtureRigContext(profile, overrides);
  const pass = await runProbes(ctx);
  return buildSnapshot(pass, ctx, { intervalS: 15, startedMs: FIXTURE_NOW_MS });
}
