/**
 * `rigforge-api units`: prints the systemd units `install` would write, with the same flags and
 * defaults, without installing anything. Works on any OS and without root.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { renderUnits } from "../units.ts";
import { type Command, type Io, parseCommandArgs } from "./args.ts";
import {
  DEFAULT_UNIT_DIR,
  INSTALL_OPTIONS,
  type InstallEnv,
  realInstallEnv,
  resolveUnitOptions,
  UNIT_FLAGS_HELP,
} from "./unit_install.ts";

const HELP = `rigforge-api units: print the systemd units 'install' would write

Prints each unit as it would be written, headed by its path (like 'systemctl cat'). Takes the
same flags and defaults as 'install' (from RigForge's config.json) and changes nothing.

USAGE:
  rigforge-api units [flags]

OPTIONS:
${UNIT_FLAGS_HELP}
  --unit-dir DIR        the directory shown in the headers (default ${DEFAULT_UNIT_DIR})
  --no-start, --no-stop, --force
                        accepted for symmetry with 'install'; no effect here
  -h, --help            show this help

EXAMPLES:
  rigforge-api units
  rigforge-api units --bind :: --allow-from "192.168.1.0/24 fd00::/64" | less
`;

/**
 * Runs `units`.
 *
 * @param argv arguments after `units`
 * @param io output
 * @param env only `executable` is used (the default `--binary`)
 * @returns the exit code
 */
export async function runUnits(
  argv: string[],
  io: Io,
  env: Pick<InstallEnv, "executable">,
): Promise<number> {
  const values = parseCommandArgs(argv, INSTALL_OPTIONS);
  const resolved = await resolveUnitOptions(values, io, env.executable);
  const unitDir = resolve(
    typeof values["unit-dir"] === "string" ? values["unit-dir"] : DEFAULT_UNIT_DIR,
  );
  const warnings = [...resolved.warnings];
  if (resolved.config === null) {
    warnings.push(
      `no RigForge config at ${resolved.options.configPath}: defaults shown; 'install' ` +
        "would refuse",
    );
  } else if (resolved.config.api === "disabled") {
    warnings.push(`the config says "api": "disabled"; 'install' would refuse without --force`);
  }
  for (const warning of warnings) io.stderr(`rigforge-api units: warning: ${warning}\n`);
  const units = renderUnits(resolved.options);
  io.stdout(units.map((unit) => `# ${join(unitDir, unit.name)}\n${unit.text}`).join("\n"));
  return 0;
}

/** The `units` command. */
export const unitsCommand: Command = {
  name: "units",
  help: HELP,
  async run(argv: string[], io: Io): Promise<number> {
    return runUnits(argv, io, await realInstallEnv());
  },
};
