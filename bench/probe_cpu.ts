/**
 * CPU of the probe pass itself, inside one process: module loading, Deno's start-up and the
 * rate-sampling sleep excluded. Prints `{"first_ms": …, "warm_ms": …}`: the first pass (cold
 * JIT, as in each run of the `probe` command) and the median of the next four (as in `serve`'s
 * embedded prober).
 *
 * Usage: deno run -A bench/probe_cpu.ts ROOT RIGFORGE_HOME
 *
 * @module
 */

import process from "node:process";
import { buildContext } from "../src/cli/context.ts";
import { runProbes } from "../src/probe.ts";

const [root = "/", home = "/nonexistent"] = Deno.args;
const io = { stdout: () => {}, stderr: () => {}, env: (name: string) => Deno.env.get(name) };
const ctx = await buildContext({ root, "rigforge-home": home }, io, { sampleMs: 0 });
const cpuMs = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};
const passes: number[] = [];
for (let i = 0; i < 5; i++) {
  const before = cpuMs();
  await runProbes({ ...ctx, sampleMs: 0, sleep: () => Promise.resolve() });
  passes.push(cpuMs() - before);
}
const warm = passes.slice(1).sort((a, b) => a - b);
const result = { first_ms: passes[0], warm_ms: (warm[1]! + warm[2]!) / 2 };
await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(result) + "\n"));
