/**
 * The CPU a trickled-head attack costs `serve` (issue 12, item 3): one source opens 5
 * connections a second (inside the default admission budget) and sends an 8 KiB request head
 * one byte per TCP segment (`TCP_NODELAY`, one write every 2 ms). Measures `serve`'s own CPU
 * (`/proc/<pid>/stat` utime + stime) over the attack, minus the same span with no client, and
 * prints the share of one core, the CPU per trickled connection and how many bytes each got to
 * send before `serve` cut it. docs/reliability.md quotes the output.
 *
 * Usage: deno run -A bench/trickle.ts [SECONDS] [CHECKOUT] [SEGMENT]
 *   SECONDS   length of the attack and of the idle baseline (default 20)
 *   CHECKOUT  run `serve` from another checkout of this repository (e.g. an older commit
 *             unpacked with `git archive`), to compare; default this one (`.` also means it)
 *   SEGMENT   bytes per segment (default 1); 40 keeps the average above the listener's
 *             32-byte floor, so the head is cut only at the 64-read cap (the costliest trickle)
 *
 * @module
 */

import { connect, createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseProcStat } from "./lib.ts";

const seconds = Number(Deno.args[0] ?? 20);
const HERE = join(dirname(fileURLToPath(import.meta.url)), "..");
const REPO = Deno.args[1] === undefined || Deno.args[1] === "." ? HERE : Deno.args[1];
const SEGMENT = Number(Deno.args[2] ?? 1);
const TICKS_PER_S = 100; // USER_HZ on Linux
const out = (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function cpuTicks(pid: number): number {
  const stat = parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
  return stat.utime + stat.stime;
}

const port = await freePort();
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    "--v8-flags=--max-semi-space-size=1,--max-old-space-size=64",
    join(REPO, "main.ts"),
    "serve",
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--snapshot",
    "/nonexistent/snapshot.json",
    "--embedded-probe",
    "off",
    "--xmrig",
    "http://127.0.0.1:9",
  ],
  env: { NO_COLOR: "1" },
  stdout: "null",
  stderr: "piped",
}).spawn();
const reader = child.stderr.getReader();
let started = "";
while (!started.includes("listening")) {
  const { value, done } = await reader.read();
  if (done) throw new Error(`serve did not start: ${started}`);
  started += new TextDecoder().decode(value);
}
void (async () => {
  while (!(await reader.read()).done) { /* drain */ }
})();

const head = `GET /health HTTP/1.1\r\nHost: rig\r\nX-Pad: ${"a".repeat(8150)}\r\n\r\n`;
const sentPerConnection: number[] = [];
const answers = new Map<string, number>();

function trickle(): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.setNoDelay(true);
    let sent = 0;
    let reply = "";
    let timer: ReturnType<typeof setInterval> | undefined;
    socket.on("data", (chunk: Uint8Array) => (reply += new TextDecoder().decode(chunk)));
    socket.on("error", () => {});
    socket.once("connect", () => {
      timer = setInterval(() => {
        if (sent >= head.length || socket.destroyed) return;
        socket.write(head.slice(sent, sent + SEGMENT));
        sent = Math.min(head.length, sent + SEGMENT);
      }, 2);
    });
    socket.once("close", () => {
      clearInterval(timer);
      sentPerConnection.push(sent);
      const status = /^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? "none";
      answers.set(status, (answers.get(status) ?? 0) + 1);
      resolve();
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
await sleep(2000); // start-up settles
const idle0 = cpuTicks(child.pid);
await sleep(seconds * 1000);
const idleTicks = cpuTicks(child.pid) - idle0;

const attack0 = cpuTicks(child.pid);
const running: Promise<void>[] = [];
const t0 = performance.now();
let opened = 0;
while (performance.now() - t0 < seconds * 1000) {
  running.push(trickle());
  opened++;
  await sleep(200); // 5 connections a second
}
await Promise.all(running);
const attackTicks = cpuTicks(child.pid) - attack0;
const attackMs = performance.now() - t0;
child.kill("SIGTERM");
await child.status;

const netMs = ((attackTicks - idleTicks * (attackMs / (seconds * 1000))) * 1000) / TICKS_PER_S;
const sorted = [...sentPerConnection].sort((a, b) => a - b);
out(`# trickle: ${new Date().toISOString()}, deno ${Deno.version.deno}, ${Deno.build.target}`);
out(
  `trickle: ${opened} connections at 5/s over ${(attackMs / 1000).toFixed(1)} s, each sending an ` +
    `${head.length}-byte head ${SEGMENT} byte(s) per segment; answers ${
      JSON.stringify(Object.fromEntries(answers))
    }; bytes sent before the cut: median ${sorted[sorted.length >> 1]}, max ${sorted.at(-1)}; ` +
    `serve CPU ${((attackTicks * 1000) / TICKS_PER_S).toFixed(0)} ms (idle baseline ${
      ((idleTicks * 1000) / TICKS_PER_S).toFixed(0)
    } ms over ${seconds} s) = ${(netMs / attackMs * 100).toFixed(2)} % of one core net, ${
      (netMs / opened).toFixed(2)
    } ms per trickled connection`,
);
