/**
 * What `install`, `uninstall` and `units` share: the flag set, resolving the unit options from
 * flags plus RigForge's `config.json` (`api_port`, `api_bind`, `api_allow_from`), planning and
 * atomically writing the unit files, and the injectable `systemctl` runner.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { DEFAULT_ADMISSION } from "../http/admission.ts";
import { formatCidr, isIPv4, parseAllowList } from "../ip.ts";
import type { RigforgeConfig } from "../rigforge/config.ts";
import { binaryDir, chooseHome, locate } from "../rigforge/locate.ts";
import {
  MIN_IDLE_EXIT_S,
  type RenderedUnit,
  RUNTIME_DIR,
  UNIT_MARKER,
  type UnitOptions,
  validateUnitOptions,
} from "../units.ts";
import { intFlag, type Io, numberFlag, type OptionSpec, stringFlag, UsageError } from "./args.ts";

/** A cold start slower than this is worth a warning at install time (seconds). */
const COLD_START_WARNING_S = 60;

/** Where units go unless `--unit-dir` says otherwise. */
export const DEFAULT_UNIT_DIR = "/etc/systemd/system";

/** The oldest systemd with everything the units use (`LoadCredential=` arrived in 247). */
export const MIN_SYSTEMD_VERSION = 247;

/** What one `systemctl` call did. */
export interface SystemctlResult {
  /** Exit code, or `null` when it could not run or timed out. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `systemctl` with the given arguments. Injected so tests never touch the real manager. */
export type Systemctl = (args: readonly string[]) => Promise<SystemctlResult>;

/** The machine facts install and uninstall depend on, injected for tests. */
export interface InstallEnv {
  /** Runs `systemctl`. */
  systemctl: Systemctl;
  /** Whether the effective uid is 0. */
  isRoot: boolean;
  /** `Deno.build.os`. */
  os: string;
  /** Whether systemd is the running init (`/run/systemd/system` exists). */
  systemdRunning: boolean;
  /** This executable's absolute path, or `null` under `deno run` (the executable is Deno). */
  executable: string | null;
  /** The snapshot directory `uninstall` removes ({@link RUNTIME_DIR}; a temporary one in tests). */
  runtimeDir: string;
}

/**
 * The real `systemctl`: bounded to 60 s, no password prompts, output captured.
 *
 * @param args arguments after `systemctl`
 * @returns exit code and output; never throws
 */
export async function runSystemctl(args: readonly string[]): Promise<SystemctlResult> {
  try {
    const output = await new Deno.Command("systemctl", {
      args: ["--no-ask-password", ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { LC_ALL: "C", SYSTEMD_PAGER: "", SYSTEMD_COLORS: "0" },
      signal: AbortSignal.timeout(60_000),
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.signal === null ? output.code : null,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "systemctl not found" : String(error);
    return { code: null, stdout: "", stderr: why };
  }
}

/**
 * The real machine: `systemctl`, the effective uid, the OS, whether systemd runs, and this
 * executable (when it is the compiled rigforge-api rather than `deno`).
 *
 * @returns the environment
 */
export async function realInstallEnv(): Promise<InstallEnv> {
  let systemdRunning = false;
  try {
    systemdRunning = (await Deno.lstat("/run/systemd/system")).isDirectory;
  } catch {
    // not booted with systemd
  }
  return {
    systemctl: runSystemctl,
    isRoot: Deno.build.os !== "windows" && Deno.uid() === 0,
    os: Deno.build.os,
    systemdRunning,
    executable: binaryDir() === null ? null : Deno.execPath(),
    runtimeDir: RUNTIME_DIR,
  };
}

/**
 * The "files only, no systemctl" flags of `install` and `uninstall`. `--no-start` is the
 * documented spelling; `--no-stop` means the same in both commands, so a packaging script can
 * use one word for both steps.
 */
export const FILES_ONLY_OPTIONS: OptionSpec = {
  "no-start": { type: "boolean" },
  "no-stop": { type: "boolean" },
};

/**
 * Whether the command line asked for files only (no systemctl): `--no-start` or `--no-stop`.
 *
 * @param values parsed flags of `install` or `uninstall`
 * @returns true when either spelling was given
 */
export function filesOnly(values: Record<string, string | boolean | undefined>): boolean {
  return values["no-start"] === true || values["no-stop"] === true;
}

/** The flags of `install` (and of `units`, which accepts the same). */
export const INSTALL_OPTIONS: OptionSpec = {
  port: { type: "string" },
  bind: { type: "string" },
  "allow-from": { type: "string" },
  "rigforge-home": { type: "string" },
  config: { type: "string" },
  "unit-dir": { type: "string" },
  binary: { type: "string" },
  "idle-exit": { type: "string" },
  rate: { type: "string" },
  burst: { type: "string" },
  "global-rate": { type: "string" },
  "probe-interval": { type: "string" },
  ...FILES_ONLY_OPTIONS,
  force: { type: "boolean" },
};

/** Help lines for the flags `install` and `units` share. */
export const UNIT_FLAGS_HELP =
  `  --port N              port to listen on (default: api_port from config.json, else 8081)
  --bind ADDR           address to listen on; 0.0.0.0 or :: = every address, IPv4 and IPv6
                        (default: api_bind from config.json, else every address)
  --allow-from LIST     addresses/CIDRs allowed besides loopback, comma- or space-separated;
                        '' = no scoping (default: api_allow_from from config.json)
  --rigforge-home DIR   RigForge's directory (env RIGFORGE_HOME; default: the binary's
                        directory if it holds config.json or rigforge.sh, else /opt/rigforge)
  --config FILE         RigForge's config.json (default: <rigforge-home>/config.json)
  --binary PATH         the rigforge-api executable the units run (default: this executable)
  --idle-exit S         seconds without a request before the server exits (${MIN_IDLE_EXIT_S}-86400,
                        or 0: never; default 120)
  --rate N              requests per second one source may make (default: serve's, ${DEFAULT_ADMISSION.rate})
  --burst N             requests a quiet source may make at once (default: serve's, ${DEFAULT_ADMISSION.burst})
  --global-rate N       requests per second from all sources together (default: serve's, ${DEFAULT_ADMISSION.globalRate})
  --probe-interval S    seconds between probe passes while the server runs (5-3600; default 15)`;

/** Options resolved from flags and config, with what they came from. */
export interface ResolvedUnits {
  /** The options for {@link renderUnits}. */
  options: UnitOptions;
  /** The config read, or `null` when the file does not exist. */
  config: RigforgeConfig | null;
  /** Non-fatal remarks for the operator. */
  warnings: string[];
}

/**
 * Resolves unit options: flags first, then RigForge's `config.json`, then defaults.
 *
 * @param values parsed flags
 * @param io for `RIGFORGE_HOME`
 * @param executable this executable's path, or `null` under `deno run`
 * @returns options, config and warnings
 * @throws {UsageError} for a bad flag, or when the binary cannot be determined
 * @throws {ConfigError} when the config exists but is unusable
 */
export async function resolveUnitOptions(
  values: Record<string, string | boolean | undefined>,
  io: Io,
  executable: string | null,
): Promise<ResolvedUnits> {
  const explicitHome = stringFlag(values["rigforge-home"], io, "RIGFORGE_HOME", "");
  const home = resolve(await chooseHome(explicitHome || null, binaryDir()));
  const configFlag = typeof values["config"] === "string" ? values["config"] : undefined;
  const configPath = resolve(configFlag ?? join(home, "config.json"));
  const { config } = await locate(home, configPath);
  const warnings: string[] = [];
  const options: UnitOptions = {
    binary: binaryOf(values["binary"], executable),
    port: intFlag(values["port"], "--port", config?.apiPort ?? 8081, [1, 65535]),
    bind: typeof values["bind"] === "string" ? values["bind"] : config?.apiBind ?? "0.0.0.0",
    allowFrom: allowFromOf(values["allow-from"], config),
    rigforgeHome: home,
    configPath,
    idleExit: intFlag(values["idle-exit"], "--idle-exit", 120, [0, 86400]),
    rate: optionalNumber(values["rate"], "--rate"),
    burst: values["burst"] === undefined
      ? null
      : intFlag(values["burst"], "--burst", 0, [1, 1_000_000]),
    globalRate: optionalNumber(values["global-rate"], "--global-rate"),
    probeInterval: intFlag(values["probe-interval"], "--probe-interval", 15, [5, 3600]),
  };
  const problem = validateUnitOptions(options);
  if (problem !== null) throw new UsageError(problem);
  if (options.idleExit > 0 && options.idleExit < COLD_START_WARNING_S) {
    warnings.push(
      `--idle-exit ${options.idleExit} is below ${COLD_START_WARNING_S} s: a rig polled every 30 s ` +
        `(Pithead) then pays a server start per poll`,
    );
  }
  warnings.push(...scopeWarnings(options));
  return { options, config, warnings };
}

function binaryOf(value: string | boolean | undefined, executable: string | null): string {
  if (typeof value === "string") {
    if (value === "") throw new UsageError("--binary needs a path");
    return resolve(value);
  }
  if (executable === null) {
    throw new UsageError(
      "cannot tell which binary the units should run (this is 'deno run', not the compiled " +
        "rigforge-api): pass --binary PATH",
    );
  }
  return executable;
}

function allowFromOf(value: string | boolean | undefined, config: RigforgeConfig | null) {
  if (typeof value !== "string") return config?.apiAllowFrom ?? [];
  const parsed = parseAllowList(value);
  if (!Array.isArray(parsed)) throw new UsageError(`--allow-from: ${parsed.error}`);
  return parsed;
}

function optionalNumber(value: string | boolean | undefined, flag: string): number | null {
  if (value === undefined) return null;
  const n = numberFlag(value, flag, 0, [0, 1_000_000]);
  if (n <= 0) {
    throw new UsageError(
      `${flag} must be a number above 0 (serve's 0 = unlimited is refused: the server runs at ` +
        "Nice=0, which needs a request budget)",
    );
  }
  return n;
}

function scopeWarnings(options: UnitOptions): string[] {
  const { bind, allowFrom } = options;
  if (bind === "0.0.0.0" || bind === "::") return [];
  const family = isIPv4(bind) ? 4 : 6;
  const unreachable = allowFrom.filter((cidr) => cidr.family !== family).map(formatCidr);
  if (unreachable.length === 0) return [];
  return [
    `the socket binds the IPv${family} address ${bind}, so the allowed ` +
    `IPv${family === 4 ? 6 : 4} source(s) ${unreachable.join(" ")} can never connect`,
  ];
}

/** What happened to one unit file. */
export type UnitChange = "new" | "changed" | "unchanged";

/** One unit's planned write. */
export interface UnitPlan {
  unit: RenderedUnit;
  path: string;
  change: UnitChange;
}

/**
 * Compares rendered units with the files in the unit directory.
 *
 * @param units rendered units
 * @param unitDir the directory
 * @param force overwrite files that rigforge-api did not write
 * @returns one plan per unit
 * @throws {Error} when a file exists without rigforge-api's marker (and not `force`)
 */
export async function planUnits(
  units: RenderedUnit[],
  unitDir: string,
  force: boolean,
): Promise<UnitPlan[]> {
  const plans: UnitPlan[] = [];
  for (const unit of units) {
    const path = join(unitDir, unit.name);
    const old = await readIfExists(path);
    if (old !== null && !old.startsWith(UNIT_MARKER) && !force) {
      throw new Error(
        `${path} exists and was not written by rigforge-api; refusing to overwrite it ` +
          `(move it away, or pass --force)`,
      );
    }
    const change: UnitChange = old === null ? "new" : old === unit.text ? "unchanged" : "changed";
    plans.push({ unit, path, change });
  }
  return plans;
}

/**
 * Reads a file, or returns `null` when it does not exist.
 *
 * @param path the file
 * @returns its text, or null
 * @throws {Error} for other read errors
 */
export async function readIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new Error(`cannot read ${path}: ${error instanceof Error ? error.message : error}`);
  }
}

/**
 * Writes the changed units atomically: every temporary file first (`.<name>.tmp-<pid>` in the
 * same directory, mode 0644), then one rename each. A failure while writing the temporary files
 * leaves the directory as it was.
 *
 * @param plans the plans from {@link planUnits}
 */
export async function writeUnits(plans: UnitPlan[]): Promise<void> {
  const pending = plans.filter((plan) => plan.change !== "unchanged");
  const temps: [string, string][] = [];
  try {
    for (const plan of pending) {
      const temp = join(dirname(plan.path), `.${plan.unit.name}.tmp-${Deno.pid}`);
      temps.push([temp, plan.path]);
      await Deno.writeTextFile(temp, plan.unit.text, { mode: 0o644 });
      await Deno.chmod(temp, 0o644);
    }
  } catch (error) {
    for (const [temp] of temps) await Deno.remove(temp).catch(() => {});
    throw new Error(`cannot write units: ${error instanceof Error ? error.message : error}`);
  }
  for (const [temp, path] of temps) await Deno.rename(temp, path);
}

/**
 * Checks that the unprivileged server (a dynamic user: "others" in permission bits) can run
 * the binary: every directory on the path searchable by others, the file readable and
 * executable by others (a compiled Deno binary reads itself).
 *
 * @param binary the absolute path
 * @returns `null` when fine, `"missing"` when absent, else the problem
 */
export async function binaryProblem(binary: string): Promise<string | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(binary);
  } catch {
    return "missing";
  }
  if (!info.isFile) return `${binary} is not a regular file`;
  if (info.mode !== null && (info.mode & 0o005) !== 0o005) {
    return `${binary} is not readable and executable by other users (mode ${octal(info.mode)})`;
  }
  for (let dir = dirname(binary);; dir = dirname(dir)) {
    const mode = (await Deno.stat(dir).catch(() => null))?.mode ?? null;
    if (mode !== null && (mode & 0o001) === 0) {
      return `the directory ${dir} is not searchable by other users (mode ${octal(mode)})`;
    }
    if (dir === "/") return null;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/**
 * Runs one `systemctl` call and fails with its message when it fails.
 *
 * @param env the environment
 * @param args the arguments
 * @returns its result
 * @throws {Error} when it fails
 */
export async function mustSystemctl(env: InstallEnv, args: string[]): Promise<SystemctlResult> {
  const result = await env.systemctl(args);
  if (result.code !== 0) {
    const why = (result.stderr.trim() || result.stdout.trim() || "failed").split("\n")[0];
    throw new Error(`systemctl ${args.join(" ")}: ${why}`);
  }
  return result;
}

/**
 * The systemd version from `systemctl --version` (`systemd 252 (252.39-1~deb12u2)`).
 *
 * @param text the output
 * @returns the major version, or null
 */
export function parseSystemdVersion(text: string): number | null {
  const match = text.match(/^systemd (\d+)/);
  return match ? Number(match[1]) : null;
}
