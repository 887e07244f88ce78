/**
 * rigforge-api: RigForge's read-only sister API for XMRig rigs.
 *
 * The only module that exits the process.
 *
 * @module
 */

import { runCli } from "./src/cli.ts";

if (import.meta.main) {
  const encoder = new TextEncoder();
  const code = await runCli(Deno.args, {
    stdout: (text) => writeAll(Deno.stdout, encoder.encode(text)),
    stderr: (text) => writeAll(Deno.stderr, encoder.encode(text)),
    env: (name) => Deno.env.get(name),
  });
  Deno.exit(code);
}

function writeAll(stream: typeof Deno.stdout, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += stream.writeSync(bytes.subarray(offset));
    } catch {
      return; // a closed pipe (e.g. `| head`) is not an error worth dying over
    }
  }
}
