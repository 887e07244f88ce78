/**
 * Flags every probing command shares (`--rigforge-home`, `--config`, `--root`) and building a
 * {@link ProbeContext} from them.
 *
 * @module
 */

import { join } from "node:path";
import { type PreviousCounters, type ProbeContext, replayRunner, runCommand } from "../probe.ts";
import { binaryDir, chooseHome, locate } from "../rigforge/locate.ts";
import { type Io, type OptionSpec, stringFlag } from "./args.ts";

/** The shared flags, for each command's parseArgs spec. */
export const LOCATION_OPTIONS: OptionSpec = {
  "rigforge-home": { type: "string" },
  config: { type: "string" },
  root: { type: "string" },
};

/** Help lines for the shared flags. */
export const LOCATION_HELP =
  `  --rigforge-home DIR   RigForge's directory (env RIGFORGE_HOME; default: the binary's
                        directory if it holds config.json or rigforge.sh, else /opt/rigforge)
  --config FILE         RigForge config to read (default: <rigforge-home>/config.json)
  --root DIR            read /proc, /sys, /dev, /etc/systemd and /run under DIR
                        (env RIGFORGE_API_ROOT; default /)`;

/** Options for {@link buildContext}. */
export interface ContextOptions {
  /** Counters from a previous pass (the `probe` command reads them from the old snapshot). */
  previous?: PreviousCounters | null;
  /** How long a first pass may sample rates, in ms. */
  sampleMs?: number;
  /** Config path used when `--config` is absent (e.g. a systemd credential). */
  defaultConfig?: string | null;
}

/**
 * Builds the probe context from parsed flags and the environment.
 *
 * @param values parsed flags
 * @param io output and environment
 * @param options previous counters and sampling
 * @returns the context
 * @throws {ConfigError} when the config exists but is unusable
 */
export async function buildContext(
  values: Record<string, string | boolean | undefined>,
  io: Io,
  options: ContextOptions = {},
): Promise<ProbeContext> {
  const root = stringFlag(values["root"], io, "RIGFORGE_API_ROOT", "/");
  const explicitHome = stringFlag(values["rigforge-home"], io, "RIGFORGE_HOME", "");
  const home = await chooseHome(explicitHome || null, binaryDir());
  const configFlag = typeof values["config"] === "string" ? values["config"] : undefined;
  const located = await locate(home, configFlag ?? options.defaultConfig ?? undefined);
  return {
    root,
    rigforge: located.paths,
    config: located.config,
    isRoot: Deno.uid() === 0,
    run: root === "/" ? runCommand : replayRunner(join(root, ".commands")),
    now: () => Date.now(),
    previous: options.previous ?? null,
    sampleMs: options.sampleMs ?? 250,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
