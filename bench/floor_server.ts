/**
 * The runtime floor for `bench/levers.ts`: a bare `node:net` server answering every connection
 * with one constant `Connection: close` response of BYTES bytes, with nothing of `serve` in it;
 * with `--with-serve-modules`, `serve`'s whole module graph is imported first (loaded, not run),
 * which isolates what loading the code costs; with `--fetch-once URL` as well, one `fetch` of URL
 * is made first (what serve's XMRig client, which uses `fetch`, adds by existing). Prints
 * `ready <port>` once listening.
 *
 * Usage: `deno run -A bench/floor_server.ts BYTES [--with-serve-modules] [--fetch-once URL]`
 *
 * @module
 */

import net from "node:net";

const bytes = Number(Deno.args[0] ?? "15000");
if (Deno.args.includes("--with-serve-modules")) await import("../src/cli/serve.ts");
const fetchAt = Deno.args.indexOf("--fetch-once");
if (fetchAt >= 0) await (await fetch(Deno.args[fetchAt + 1]!)).arrayBuffer();
const body = "x".repeat(Number.isSafeInteger(bytes) && bytes > 0 ? bytes : 15000);
const answer = new TextEncoder().encode(
  "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " + body.length +
    "\r\nContent-Type: application/json\r\n\r\n" + body,
);
const server = net.createServer((socket) => {
  socket.once("data", () => socket.end(answer));
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  Deno.stdout.writeSync(new TextEncoder().encode(`ready ${port}\n`));
});
