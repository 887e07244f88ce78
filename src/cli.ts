/**
 * The command-line entry: dispatches to a subcommand and maps failures to exit codes.
 * Nothing here exits; `main.ts` does.
 *
 * @module
 */

import { ConfigError } from "./rigforge/config.ts";
import { binaryDir } from "./rigforge/locate.ts";
import { sourceCommit, versionText } from "./version.ts";
import { type Command, type Io, UsageError } from "./cli/args.ts";
/** A subcommand as the registry knows it: loaded only when it runs. */
export interface CommandEntry {
  /** The word on the command line. */
  name: string;
  /** One line for the top-level help. */
  summary: string;
  /** Loads the command's module (so `serve` starts without loading `install` or the probes). */
  load: () => Promise<Command>;
}

/** Every subcommand, in the order the help lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "serve",
    summary: "answer the read-only sister API (socket-activated by systemd, or on --port)",
    load: async () => (await import("./cli/serve.ts")).serveCommand,
  },
  {
    name: "probe",
    summary: "probe the machine once and write the snapshot serve reads (run as root)",
    load: async () => (await import("./cli/probe.ts")).probeCommand,
  },
  {
    name: "doctor",
    summary: "check this rig (RigForge's doctor checks and more); --json for machines",
    load: async () => (await import("./cli/doctor.ts")).doctorCommand,
  },
  {
    name: "tune-history",
    summary: "what RigForge's tune and autotune chose, when and why; --json for machines",
    load: async () => (await import("./cli/tune_history.ts")).tuneHistoryCommand,
  },
  {
    name: "install",
    summary: "install and start the systemd socket, server and probe units",
    load: async () => (await import("./cli/install.ts")).installCommand,
  },
  {
    name: "uninstall",
    summary: "stop and remove the systemd units and the snapshot directory",
    load: async () => (await import("./cli/uninstall.ts")).uninstallCommand,
  },
  {
    name: "units",
    summary: "print the systemd units install would write, without installing",
    load: async () => (await import("./cli/units.ts")).unitsCommand,
  },
];

/**
 * The top-level help.
 *
 * @returns the text
 */
export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `rigforge-api: RigForge's read-only sister API for XMRig rigs, and its probes

USAGE:
  rigforge-api <command> [flags]
  rigforge-api --version
  rigforge-api <command> --help

COMMANDS:
${lines.join("\n")}

Run 'rigforge-api <command> --help' for a command's flags.
`;
}

/**
 * Runs the program.
 *
 * @param args command-line arguments (without the program name)
 * @param io output and environment
 * @returns the exit code: 0 ok, 1 failure (or doctor found issues), 2 usage error
 */
export async function runCli(args: string[], io: Io): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    if (first === undefined) {
      io.stderr(topHelp());
      return 2;
    }
    io.stdout(topHelp());
    return 0;
  }
  if (first === "--version" || first === "-V") {
    io.stdout(versionText(sourceCommit(binaryDir() !== null)));
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === first);
  if (entry === undefined) {
    const what = first.startsWith("-") ? `unknown flag ${first}` : `unknown command ${first}`;
    io.stderr(`rigforge-api: ${what}\nRun 'rigforge-api --help' for usage.\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(
        `rigforge-api ${command.name}: ${error.message}\n` +
          `Run 'rigforge-api ${command.name} --help' for usage.\n`,
      );
      return 2;
    }
    if (error instanceof ConfigError) {
      io.stderr(`rigforge-api ${command.name}: config error: ${error.message}\n`);
      return 1;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`rigforge-api ${command.name}: ${message}\n`);
    return 1;
  }
}
