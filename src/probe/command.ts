/**
 * The one place probes start external programs (`systemctl`, `journalctl`), bounded in time
 * and output. Probes receive it through the context so tests can replay recorded output.
 *
 * @module
 */

import { concatBytes } from "../lib/read.ts";
import type { CommandResult, CommandRunner } from "./types.ts";

/**
 * Runs a command for real, with a time bound (default 2 s) and an output cap (default 1 MiB).
 * Standard input is closed, standard error discarded. Never throws.
 *
 * @param command program name, looked up on PATH
 * @param args its arguments
 * @param options bounds
 * @returns exit code and output, or a failure reason
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; maxBytes?: number } = {},
): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      env: { LC_ALL: "C", SYSTEMD_PAGER: "", SYSTEMD_COLORS: "0" },
    }).spawn();
  } catch (error) {
    const failure = error instanceof Deno.errors.NotFound ? "absent" : "unreadable";
    return { code: null, stdout: "", failure };
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of child.stdout) {
      if (total < maxBytes) chunks.push(chunk.subarray(0, maxBytes - total));
      total += chunk.length;
    }
    const status = await child.status;
    const result: CommandResult = {
      code: timedOut ? null : status.code,
      stdout: new TextDecoder().decode(concatBytes(chunks)),
      failure: timedOut ? "timeout" : null,
    };
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A runner that replays recorded output from a fixture directory: the command line
 * `systemctl is-active xmrig.service` is looked up as the file
 * `<dir>/systemctl is-active xmrig.service` holding `<exit code>\n<stdout>`. A missing file
 * answers like a missing program. Used for fixture machine roots (`--root`), where running the
 * host's own `systemctl` would describe the wrong machine.
 *
 * @param dir the directory of recorded commands (`<root>/.commands`)
 * @returns a runner
 */
export function replayRunner(dir: string): CommandRunner {
  return async (command: string, args: readonly string[]): Promise<CommandResult> => {
    const name = [command, ...args].join(" ").replaceAll("/", "%2F");
    try {
      const text = await Deno.readTextFile(`${dir}/${name}`);
      const newline = text.indexOf("\n");
      const code = Number(newline === -1 ? text : text.slice(0, newline));
      return {
        code: Number.isInteger(code) ? code : 1,
        stdout: newline === -1 ? "" : text.slice(newline + 1),
        failure: null,
      };
    } catch {
      return { code: null, stdout: "", failure: "absent" };
    }
  };
}
