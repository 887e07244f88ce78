/**
 * Good requests lost to eviction at the connection cap (issue 12, item 6): a separate process
 * keeps 300 silent connections open against an in-process listener (admission off, cap 64),
 * reconnecting each one the listener closes, while a good client sends 150 requests from the
 * flood's own address (127.0.0.1) and 150 from another (127.0.0.2), one at a time. Prints how
 * many got no answer. docs/reliability.md quotes the output.
 *
 * Usage: deno run -A bench/eviction.ts [CHECKOUT]
 *   CHECKOUT  measure another checkout's `src/http/listen.ts` (e.g. an older commit unpacked
 *             with `git archive`); default this one
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { get, rawRequest, spawnSilentFlood } from "../tests/harness/serve_process.ts";

interface Server {
  port: number | null;
  shedCounts(): Record<string, number>;
  stop(): Promise<unknown>;
}
type Start = (options: {
  target: { kind: "tcp"; host: string; port: number };
  handler: () => Promise<{ status: number; headers: [string, string][]; body: Uint8Array }>;
  idleExitMs: number;
}) => Promise<Server>;

const repo = Deno.args[0] ?? join(dirname(fileURLToPath(import.meta.url)), "..");
const { startServer }: { startServer: Start } = await import(
  pathToFileURL(join(repo, "src/http/listen.ts")).href
);
const body = new TextEncoder().encode("{}");
const server = await startServer({
  target: { kind: "tcp", host: "127.0.0.1", port: 0 },
  handler: () => Promise.resolve({ status: 200, headers: [["Connection", "close"]], body }),
  idleExitMs: 0,
});
const port = server.port!;
const flooder = spawnSilentFlood(port);
while ((server.shedCounts()["connections"] ?? 0) < 50) await new Promise((r) => setTimeout(r, 20));
const lost = { "127.0.0.1": 0, "127.0.0.2": 0 };
for (let i = 0; i < 150; i++) {
  for (const source of ["127.0.0.1", "127.0.0.2"] as const) {
    const reply = await rawRequest(port, get("/"), { localAddress: source });
    if (reply.status !== 200) lost[source]++;
  }
}
flooder.kill("SIGKILL");
await flooder.status;
const evicted = server.shedCounts()["connections"];
await server.stop();
Deno.stdout.writeSync(
  new TextEncoder().encode(
    `eviction (${repo === Deno.args[0] ? repo : "this checkout"}): 300 silent connections ` +
      `churning, ${evicted} evicted; good requests without an answer: from the flood's address ` +
      `${lost["127.0.0.1"]}/150, from another ${lost["127.0.0.2"]}/150\n`,
  ),
);
