/**
 * Command-line plumbing shared by every subcommand: the {@link Command} shape, usage errors,
 * and a strict `node:util` parseArgs wrapper that turns its errors into {@link UsageError}.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** Output and environment, injected so commands are testable without a process. */
export interface Io {
  /** Writes to standard output (text is written as given; add the newline yourself). */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Reads an environment variable. */
  env(name: string): string | undefined;
}

/** One subcommand. */
export interface Command {
  /** The word on the command line. */
  name: string;
  /** The full hand-written help text. */
  help: string;
  /**
   * Runs the command.
   *
   * @param argv the arguments after the command name
   * @param io output and environment
   * @returns the exit code
   */
  run(argv: string[], io: Io): Promise<number>;
}

/** A mistake on the command line: reported on stderr with a usage hint, exit 2. */
export class UsageError extends Error {
  /**
   * @param message one line saying what is wrong
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Options accepted by {@link parseCommandArgs}: parseArgs options without `short` for `help`. */
export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses a subcommand's flags strictly: unknown flags, missing values and stray positionals
 * are {@link UsageError}s. `--help`/`-h` is always accepted.
 *
 * @param argv arguments after the command name
 * @param options the command's own flags
 * @returns parsed values (`help` included)
 * @throws {UsageError} on any mistake
 */
export function parseCommandArgs(
  argv: string[],
  options: OptionSpec,
): Record<string, string | boolean | undefined> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    return values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError(cleanParseError(error));
  }
}

function cleanParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = message.match(/Unknown option '([^']*)'/);
  if (unknown) return `unknown flag ${unknown[1]}`;
  const positional = message.match(/Unexpected argument '([^']*)'/);
  if (positional) return `unexpected argument ${JSON.stringify(positional[1])}`;
  const missing = message.match(/Option '([^']*?)(?: <value>)?' argument missing/);
  if (missing) return `${missing[1]?.split(",").pop()?.trim()} needs a value`;
  return message.split("\n")[0] ?? message;
}

/**
 * Parses a whole number flag within bounds.
 *
 * @param value the flag's text (or undefined for the default)
 * @param flag the flag name for messages
 * @param fallback the default
 * @param range inclusive bounds
 * @returns the number
 * @throws {UsageError} when it is not a whole number in range
 */
export function intFlag(
  value: string | boolean | undefined,
  flag: string,
  fallback: number,
  [min, max]: [number, number],
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !/^\d{1,9}$/.test(value)) {
    throw new UsageError(`${flag} must be a whole number ${min}-${max}`);
  }
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${flag} must be a whole number ${min}-${max}`);
  return n;
}

/**
 * Parses a non-negative decimal flag (seconds, rates) within bounds.
 *
 * @param value the flag's text
 * @param flag the flag name for messages
 * @param fallback the default
 * @param range inclusive bounds
 * @returns the number
 * @throws {UsageError} when invalid
 */
export function numberFlag(
  value: string | boolean | undefined,
  flag: string,
  fallback: number,
  [min, max]: [number, number],
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !/^\d{1,9}(\.\d{1,6})?$/.test(value)) {
    throw new UsageError(`${flag} must be a number ${min}-${max}`);
  }
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${flag} must be a number ${min}-${max}`);
  return n;
}

/**
 * Reads a string flag, falling back to an environment variable, then to a default.
 *
 * @param value the flag value
 * @param io for the environment
 * @param envName the environment variable
 * @param fallback the default
 * @returns the chosen value
 */
export function stringFlag(
  value: string | boolean | undefined,
  io: Io,
  envName: string | null,
  fallback: string,
): string {
  if (typeof value === "string") return value;
  const fromEnv = envName === null ? undefined : io.env(envName);
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : fallback;
}
