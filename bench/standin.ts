/**
 * The XMRig stand-in as its own process, for `deno task bench` (baseline b, and the XMRig that
 * `serve` fetches from): `tests/_xmrig_standin.ts` replaying a real XMRig 6.26.0's captured
 * bytes. Prints `ready <port>` on stdout once listening; runs until killed.
 *
 * Usage: `deno run -A bench/standin.ts [TOKEN]` (no token: requests are not checked).
 *
 * @module
 */

import { startStandin } from "../tests/_xmrig_standin.ts";

const standin = await startStandin({ token: Deno.args[0] ?? null });
await Deno.stdout.write(new TextEncoder().encode(`ready ${standin.port}\n`));
const stop = () => {
  standin.close().finally(() => Deno.exit(0));
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
