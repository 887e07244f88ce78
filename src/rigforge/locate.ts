/**
 * Locating RigForge: its home (`SCRIPT_DIR`) and the worker root derived from `HOME_DIR`,
 * following RigForge's own rules.
 *
 * @module
 */

import { dirname, join, normalize } from "node:path";
import { ConfigError, readConfig, type RigforgeConfig } from "./config.ts";

/** Where RigForge lives on this machine, as located by {@link locate}. */
export interface RigforgePaths {
  /** RigForge's checkout (`SCRIPT_DIR`): holds `config.json`, `VERSION`, `rigforge.sh`. */
  home: string;
  /** The worker root (`WORKER_ROOT`): holds `xmrig/`, `xmrig.log`, tune and watchdog files. */
  workerRoot: string;
  /** The config file that was read, or would have been read. */
  configPath: string;
}

/** The default RigForge home when neither a flag, the environment nor the binary's dir says. */
export const DEFAULT_HOME = "/opt/rigforge";

const SYSTEM_DIRS = new Set([
  "/",
  "/bin",
  "/boot",
  "/dev",
  "/etc",
  "/home",
  "/lib",
  "/lib32",
  "/lib64",
  "/media",
  "/mnt",
  "/opt",
  "/proc",
  "/root",
  "/run",
  "/sbin",
  "/srv",
  "/sys",
  "/tmp",
  "/usr",
  "/var",
]); // deno-fmt-ignore

/**
 * Chooses RigForge's home: the explicit value (flag or `RIGFORGE_HOME`), else the directory
 * of the running binary when it holds `config.json` or `rigforge.sh`, else `/opt/rigforge`.
 *
 * @param explicit `--rigforge-home` or `RIGFORGE_HOME`, if given
 * @param binaryDir directory of the running executable (compiled) or `null` under `deno run`
 * @returns the home directory
 */
export async function chooseHome(explicit: string | null, binaryDir: string | null): Promise<string> {
  if (explicit) return normalize(explicit);
  if (binaryDir !== null) {
    for (const marker of ["config.json", "rigforge.sh"]) {
      try {
        await Deno.stat(join(binaryDir, marker));
        return binaryDir;
      } catch {
        // not here
      }
    }
  }
  return DEFAULT_HOME;
}

/**
 * Derives the worker root from `HOME_DIR` (RigForge's rule): `DYNAMIC_HOME`, empty or unset →
 * `<home>/data/worker`; a safe absolute path → `<HOME_DIR>/worker`; system directories refused.
 *
 * @param home RigForge's home
 * @param homeDir `HOME_DIR` from the config
 * @param configPath for error messages
 * @returns the worker root
 * @throws {ConfigError} for an unsafe `HOME_DIR`
 */
export function workerRootOf(home: string, homeDir: string | null, configPath: string): string {
  if (homeDir === null || homeDir === "DYNAMIC_HOME") return join(home, "data", "worker");
  if (!/^\/[A-Za-z0-9._/-]*$/.test(homeDir) || homeDir.split("/").includes("..")) {
    throw new ConfigError(configPath, "HOME_DIR must be DYNAMIC_HOME or a plain absolute path");
  }
  const clean = normalize(homeDir).replace(/\/+$/, "") || "/";
  if (SYSTEM_DIRS.has(clean)) {
    throw new ConfigError(configPath, `HOME_DIR must not be the system directory ${clean}`);
  }
  return join(clean, "worker");
}

/** A located RigForge install and its config. */
export interface Located {
  paths: RigforgePaths;
  /** `null` when `config.json` does not exist. */
  config: RigforgeConfig | null;
}

/**
 * Locates RigForge and reads its config.
 *
 * @param home RigForge's home (see {@link chooseHome})
 * @param configPath the config file to read (default `<home>/config.json`; under systemd the
 *   credential `$CREDENTIALS_DIRECTORY/config`)
 * @returns paths and config
 * @throws {ConfigError} when the config exists but is unusable
 */
export async function locate(home: string, configPath?: string): Promise<Located> {
  const path = configPath ?? join(home, "config.json");
  const config = await readConfig(path);
  const workerRoot = workerRootOf(home, config?.homeDir ?? null, path);
  return { paths: { home, workerRoot, configPath: path }, config };
}

/**
 * The directory of the running executable when it is a compiled rigforge-api binary, else null
 * (under `deno run` the executable is Deno itself).
 *
 * @returns the directory or null
 */
export function binaryDir(): string | null {
  const exe = Deno.execPath();
  return /(^|\/)deno$/.test(exe) ? null : dirname(exe);
}
