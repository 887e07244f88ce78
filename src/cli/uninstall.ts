/**
 * `rigforge-api uninstall`: stops and disables the units `install` wrote, removes those files
 * (only the ones carrying rigforge-api's marker line) and their enablement links, and removes
 * the snapshot directory `/run/rigforge-api`. Nothing else is touched: RigForge's config and
 * any foreign unit file stay.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { RUNTIME_DIR, SOCKET_UNIT, UNIT_MARKER, UNIT_NAMES } from "../units.ts";
import { type Command, type Io, type OptionSpec, parseCommandArgs } from "./args.ts";
import {
  DEFAULT_UNIT_DIR,
  FILES_ONLY_OPTIONS,
  filesOnly,
  type InstallEnv,
  mustSystemctl,
  readIfExists,
  realInstallEnv,
} from "./unit_install.ts";

const OPTIONS: OptionSpec = {
  "unit-dir": { type: "string" },
  ...FILES_ONLY_OPTIONS,
};

const HELP = `rigforge-api uninstall: stop and remove the sister API's systemd units

Stops and disables rigforge-api.socket, rigforge-api.service and the probe timer, deletes the
unit files 'rigforge-api install' wrote (only files carrying its "${UNIT_MARKER}" line)
and their enablement links, reloads systemd and removes ${RUNTIME_DIR}. RigForge's
config.json, the binary and any other unit file are left alone. Running it twice is harmless.

USAGE:
  rigforge-api uninstall [flags]

OPTIONS:
  --unit-dir DIR        where the units are (default ${DEFAULT_UNIT_DIR})
  --no-start            only delete the files: no systemctl, and ${RUNTIME_DIR} is kept
                        (for packaging; with --unit-dir it also runs without root); --no-stop
                        is accepted as the same flag
  -h, --help            show this help

EXAMPLES:
  rigforge-api uninstall
  rigforge-api uninstall --unit-dir ./pkg/lib/systemd/system --no-start
`;

/**
 * Runs `uninstall` against an environment.
 *
 * @param argv arguments after `uninstall`
 * @param io output
 * @param env machine facts and the systemctl runner
 * @returns the exit code
 */
export async function runUninstall(argv: string[], io: Io, env: InstallEnv): Promise<number> {
  const values = parseCommandArgs(argv, OPTIONS);
  const noStop = filesOnly(values);
  const unitDirFlag = typeof values["unit-dir"] === "string" ? values["unit-dir"] : undefined;
  const refusal = refusalOf(env, noStop, unitDirFlag !== undefined);
  if (refusal !== null) {
    io.stderr(`rigforge-api uninstall: ${refusal}\n`);
    return 1;
  }
  const unitDir = resolve(unitDirFlag ?? DEFAULT_UNIT_DIR);
  if (!(await Deno.stat(unitDir).catch(() => null))?.isDirectory) {
    io.stderr(`rigforge-api uninstall: the unit directory ${unitDir} does not exist\n`);
    return 1;
  }
  const ours: string[] = [];
  const foreign: string[] = [];
  for (const name of UNIT_NAMES) {
    const text = await readIfExists(join(unitDir, name));
    if (text === null) continue;
    if (text.startsWith(UNIT_MARKER)) ours.push(name);
    else {
      foreign.push(name);
      io.stderr(`rigforge-api uninstall: left ${join(unitDir, name)} alone: not ours\n`);
    }
  }
  const managed = UNIT_NAMES.filter((name) => !foreign.includes(name));
  if (!noStop) await stopUnits(env, managed);
  const links = await enablementLinks(unitDir, ours);
  for (const path of [...links, ...ours.map((name) => join(unitDir, name))]) {
    await Deno.remove(path);
    io.stdout(`removed   ${path}\n`);
  }
  if (noStop) {
    if (ours.length === 0) io.stdout(`nothing to remove in ${unitDir}\n`);
    return 0;
  }
  await mustSystemctl(env, ["daemon-reload"]);
  await env.systemctl(["reset-failed", ...managed]); // best effort: forget old failures
  if (await removeRuntimeDir(env.runtimeDir)) io.stdout(`removed   ${env.runtimeDir}\n`);
  io.stdout(ours.length === 0 ? "nothing was installed\n" : "rigforge-api units removed\n");
  return 0;
}

function refusalOf(env: InstallEnv, noStop: boolean, unitDirGiven: boolean): string | null {
  if (env.os !== "linux") return `there are no systemd units on ${env.os}`;
  if (!env.isRoot && !(noStop && unitDirGiven)) {
    return "must run as root (or pass --unit-dir DIR --no-start to only delete the unit files)";
  }
  if (!noStop && !env.systemdRunning) {
    return "systemd is not running here (no /run/systemd/system); pass --no-start to only " +
      "delete the unit files";
  }
  return null;
}

/**
 * Disables the socket (removing its `sockets.target.wants` link) and stops the units: the
 * socket first so no connection starts the server again, then the server (which stops the
 * timer bound to it) and a probe pass that may be running. Units that are not loaded are fine;
 * a unit whose file in the unit directory is not ours is never touched.
 */
async function stopUnits(env: InstallEnv, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  if (names.includes(SOCKET_UNIT)) await env.systemctl(["disable", "--now", SOCKET_UNIT]);
  const stop = await env.systemctl(["stop", ...names]);
  if (stop.code !== 0 && !/not loaded|does not exist|not found/i.test(stop.stderr)) {
    throw new Error(`systemctl stop: ${stop.stderr.trim().split("\n")[0] ?? "failed"}`);
  }
}

/**
 * Symbolic links in `<unitDir>/*.wants|*.requires` named after one of our units and pointing at
 * our file in the unit directory (what `systemctl enable` creates).
 *
 * @param unitDir the unit directory
 * @param ours our unit names found there
 * @returns link paths
 */
async function enablementLinks(unitDir: string, ours: string[]): Promise<string[]> {
  const links: string[] = [];
  for await (const entry of Deno.readDir(unitDir)) {
    if (!entry.isDirectory || !/\.(wants|requires)$/.test(entry.name)) continue;
    for (const name of ours) {
      const link = join(unitDir, entry.name, name);
      const target = await Deno.readLink(link).catch(() => null);
      if (target !== null && resolve(join(unitDir, entry.name), target) === join(unitDir, name)) {
        links.push(link);
      }
    }
  }
  return links;
}

/**
 * Removes the snapshot directory (a symbolic link there is only unlinked, never followed).
 *
 * @param dir the directory
 * @returns whether something was removed
 */
async function removeRuntimeDir(dir: string): Promise<boolean> {
  const info = await Deno.lstat(dir).catch(() => null);
  if (info === null) return false;
  await Deno.remove(dir, { recursive: info.isDirectory });
  return true;
}

/** The `uninstall` command. */
export const uninstallCommand: Command = {
  name: "uninstall",
  help: HELP,
  async run(argv: string[], io: Io): Promise<number> {
    return runUninstall(argv, io, await realInstallEnv());
  },
};
