/**
 * `rigforge-api install`: renders the systemd units (see `src/units.ts`), writes the changed ones
 * atomically into the unit directory, and enables and starts `rigforge-api.socket`. Idempotent:
 * a second run with the same inputs writes nothing and calls no state-changing `systemctl`.
 *
 * The machinery it shares with `uninstall` and `units` is `unit_install.ts`.
 *
 * @module
 */

import { resolve } from "node:path";
import { renderUnits, SOCKET_UNIT } from "../units.ts";
import { type Command, type Io, parseCommandArgs } from "./args.ts";
import {
  binaryProblem,
  DEFAULT_UNIT_DIR,
  filesOnly,
  INSTALL_OPTIONS,
  type InstallEnv,
  MIN_SYSTEMD_VERSION,
  mustSystemctl,
  parseSystemdVersion,
  planUnits,
  realInstallEnv,
  type ResolvedUnits,
  resolveUnitOptions,
  UNIT_FLAGS_HELP,
  type UnitPlan,
  writeUnits,
} from "./unit_install.ts";

const HELP = `rigforge-api install: install and start the systemd units for the sister API

Writes rigforge-api.socket, rigforge-api.service, rigforge-api-probe.service and
rigforge-api-probe.timer, then enables and starts the socket. Nothing runs until the first
connection: the socket starts the unprivileged server, the server starts the probe timer, and
both stop again after --idle-exit seconds without a request. Defaults come from RigForge's
config.json. Running it again with the same inputs changes nothing; a changed port or address
rebinds the socket.

USAGE:
  rigforge-api install [flags]

OPTIONS:
${UNIT_FLAGS_HELP}
  --unit-dir DIR        where to write the units (default ${DEFAULT_UNIT_DIR})
  --no-start            only write the unit files: no systemctl at all (for packaging and
                        image builds; with --unit-dir it also runs without root); --no-stop
                        is accepted as the same flag
  --force               install without config.json's "api": "enabled" opt-in, and overwrite
                        unit files rigforge-api did not write
  -h, --help            show this help

REFUSES (exit 1, nothing written) when: not root; not Linux; systemd is not running (unless
--no-start); config.json is missing (the service loads it as a credential and would fail with
status 243); config.json lacks "api": "enabled" (unless --force). Bad flags exit 2.

EXAMPLES:
  install -m 0755 rigforge-api /usr/local/bin/ && rigforge-api install
  rigforge-api install --allow-from 192.168.1.10 --port 8081
  rigforge-api install --unit-dir ./pkg/lib/systemd/system --no-start --binary /usr/bin/rigforge-api
`;

/**
 * Runs `install` against an environment.
 *
 * @param argv arguments after `install`
 * @param io output
 * @param env machine facts and the systemctl runner
 * @returns the exit code
 */
export async function runInstall(argv: string[], io: Io, env: InstallEnv): Promise<number> {
  const values = parseCommandArgs(argv, INSTALL_OPTIONS);
  const noStart = filesOnly(values);
  const force = values["force"] === true;
  const unitDirFlag = typeof values["unit-dir"] === "string" ? values["unit-dir"] : undefined;
  const refusal = environmentRefusal(env, noStart, unitDirFlag !== undefined);
  if (refusal !== null) return refuse(io, refusal);
  const resolved = await resolveUnitOptions(values, io, env.executable);
  const unitDir = resolve(unitDirFlag ?? DEFAULT_UNIT_DIR);
  const problem = await installProblem(resolved, env, { unitDir, noStart, force });
  if (problem !== null) return refuse(io, problem);
  for (const warning of resolved.warnings) io.stderr(`rigforge-api install: warning: ${warning}\n`);
  if (await binaryProblem(resolved.options.binary) === "missing") {
    io.stderr(`rigforge-api install: warning: ${resolved.options.binary} does not exist yet\n`);
  }
  const plans = await planUnits(renderUnits(resolved.options), unitDir, force);
  await writeUnits(plans);
  for (const plan of plans) io.stdout(`${plan.change.padEnd(9)} ${plan.path}\n`);
  if (noStart) {
    io.stdout(
      "not started (--no-start); to start: systemctl daemon-reload && " +
        `systemctl enable --now ${SOCKET_UNIT}\n`,
    );
    return 0;
  }
  await activate(env, plans, io);
  io.stdout(summaryLine(resolved));
  return 0;
}

/**
 * Why the resolved install cannot go ahead, checked before anything is written: no config (the
 * credential would fail with status 243), no `"api": "enabled"` opt-in, no unit directory, a binary the
 * dynamic user cannot run (or, when starting, one that does not exist), an old systemd.
 */
async function installProblem(
  { options, config }: ResolvedUnits,
  env: InstallEnv,
  { unitDir, noStart, force }: { unitDir: string; noStart: boolean; force: boolean },
): Promise<string | null> {
  if (config === null) {
    return `no RigForge config at ${options.configPath}: the service loads it as a credential ` +
      "and would fail (status 243), closing the port. Run RigForge's setup, or pass --config FILE";
  }
  // The seed's opt-in: without `"api": "enabled"` the API would open on every address unasked.
  if (config.api !== "enabled" && !force) {
    const says = config.api === null ? 'has no "api" key' : `says "api": "${config.api}"`;
    return `${options.configPath} ${says}; the sister API is opt-in: set "api": "enabled" ` +
      "in it (or pass --force)";
  }
  if (!(await Deno.stat(unitDir).catch(() => null))?.isDirectory) {
    return `the unit directory ${unitDir} does not exist`;
  }
  const binary = await binaryProblem(options.binary);
  if (binary === "missing" && !noStart) return `the binary ${options.binary} does not exist`;
  if (binary !== null && binary !== "missing") {
    return `${binary}: the server runs as an unprivileged throwaway user and could not start ` +
      "it. Copy the binary somewhere world-readable, e.g. " +
      "install -m 0755 rigforge-api /usr/local/bin/";
  }
  if (noStart) return null;
  const version = parseSystemdVersion((await env.systemctl(["--version"])).stdout);
  if (version !== null && version < MIN_SYSTEMD_VERSION) {
    return `systemd ${version} is too old: the units need ${MIN_SYSTEMD_VERSION} or newer`;
  }
  return null;
}

function environmentRefusal(env: InstallEnv, noStart: boolean, unitDirGiven: boolean) {
  if (env.os !== "linux") {
    return `systemd units are Linux-only (this is ${env.os}); run 'rigforge-api serve' by hand ` +
      "(see docs/operations.md)";
  }
  if (!env.isRoot && !(noStart && unitDirGiven)) {
    return "must run as root (or pass --unit-dir DIR --no-start to only write the unit files)";
  }
  if (!noStart && !env.systemdRunning) {
    return "systemd is not running here (no /run/systemd/system); pass --no-start to only " +
      "write the unit files";
  }
  return null;
}

function refuse(io: Io, message: string): number {
  io.stderr(`rigforge-api install: ${message}\n`);
  return 1;
}

/**
 * Brings systemd in line with the written units: reload when anything changed; a changed socket
 * is stopped with its server and started again so it really rebinds; a changed server or probe
 * unit restarts a running server; then the socket is enabled and started.
 */
async function activate(env: InstallEnv, plans: UnitPlan[], io: Io): Promise<void> {
  const changed = plans.filter((plan) => plan.change !== "unchanged");
  const replaced = (name: string) =>
    plans.some((plan) => plan.unit.name === name && plan.change === "changed");
  const state = async (verb: string) =>
    (await env.systemctl([verb, SOCKET_UNIT])).stdout.trim().split("\n")[0] ?? "";
  if (
    changed.length === 0 && await state("is-active") === "active" &&
    await state("is-enabled") === "enabled"
  ) {
    io.stdout(`nothing to do: units unchanged, ${SOCKET_UNIT} enabled and listening\n`);
    return;
  }
  if (changed.length > 0) await mustSystemctl(env, ["daemon-reload"]);
  if (replaced(SOCKET_UNIT)) {
    // A running socket keeps its old address and port until it is stopped and started again.
    io.stdout(`rebinding: stopping rigforge-api.service and ${SOCKET_UNIT}\n`);
    await mustSystemctl(env, ["stop", "rigforge-api.service", SOCKET_UNIT]);
  } else if (replaced("rigforge-api.service") || replaced("rigforge-api-probe.timer")) {
    // Safe with Accept=no: connections wait in the socket's backlog during the restart.
    await mustSystemctl(env, ["try-restart", "rigforge-api.service"]);
  }
  // A socket closed by an earlier failure (e.g. a missing config) stays failed until reset.
  await env.systemctl(["reset-failed", SOCKET_UNIT, "rigforge-api.service"]);
  await mustSystemctl(env, ["enable", "--now", SOCKET_UNIT]);
  if (await state("is-active") !== "active") {
    throw new Error(
      `${SOCKET_UNIT} did not start; see 'systemctl status ${SOCKET_UNIT}' and ` +
        "'journalctl -u rigforge-api.socket'",
    );
  }
}

function summaryLine({ options, config }: ResolvedUnits): string {
  const where = options.bind === "0.0.0.0" || options.bind === "::"
    ? `port ${options.port} (all addresses)`
    : `${options.bind} port ${options.port}`;
  const tokens = config === null ? 0 : Object.keys(config.accessTokens).length +
    (config.accessToken === null ? 0 : 1);
  const token = tokens > 0 ? "required" : "open";
  const scope = options.allowFrom.length > 0
    ? `loopback + ${options.allowFrom.length} source(s)`
    : "unscoped";
  return `${SOCKET_UNIT} listening on ${where}; token: ${token}; scope: ${scope}\n`;
}

/** The `install` command. */
export const installCommand: Command = {
  name: "install",
  help: HELP,
  async run(argv: string[], io: Io): Promise<number> {
    return runInstall(argv, io, await realInstallEnv());
  },
};
