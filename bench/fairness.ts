/**
 * Fairness of admission control under floods (issue 12, items 4-5), on the module with an
 * injected clock (no sockets, so the figures are exact and repeatable): how many of a
 * dashboard's polls are admitted while other sources flood within their own budgets. Every
 * scenario runs at the default budgets (5/s per source, burst 20, 50/s global). The dashboard
 * polls once a second for a minute before the flood ("served before"), except where noted.
 * docs/reliability.md quotes the output.
 *
 * Usage: deno run -A bench/fairness.ts [CHECKOUT]
 *   CHECKOUT  measure another checkout's `src/http/admission.ts` (e.g. an older commit
 *             unpacked with `git archive`), to compare; default this one
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The part of an admission controller the scenarios use. */
interface Admits {
  admit(address: string): string;
}
type Create = (options: {
  rate: number;
  burst: number;
  globalRate: number;
  now: () => number;
}) => Admits;

const repo = Deno.args[0] ?? join(dirname(fileURLToPath(import.meta.url)), "..");
const module: { createAdmission: Create } = await import(
  pathToFileURL(join(repo, "src/http/admission.ts")).href
);
const out = (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));

interface Scenario {
  name: string;
  /** The dashboard's address. */
  dashboard: string;
  /** Poll for a minute before the flood. */
  before: boolean;
  /** Flood sources and each one's period, ms. */
  sources: string[];
  periodMs: number;
  /** Length of the flood, s. */
  seconds: number;
}

function run(s: Scenario): { served: number; polls: number; flood: number; floodOk: number } {
  let t = 1_000_000;
  const a = module.createAdmission({ rate: 5, burst: 20, globalRate: 50, now: () => t });
  if (s.before) {
    for (let i = 0; i < 60; i++) {
      a.admit(s.dashboard);
      t += 1000;
    }
  }
  const step = 10;
  let served = 0;
  let polls = 0;
  let flood = 0;
  let floodOk = 0;
  for (let ms = 0; ms < s.seconds * 1000; ms += step) {
    // each source fires once per period, spread evenly over the period
    for (let i = 0; i < s.sources.length; i++) {
      const phase = Math.floor((i * s.periodMs) / s.sources.length / step) * step;
      if ((ms - phase) % s.periodMs === 0 && ms >= phase) {
        flood++;
        if (a.admit(s.sources[i]!) === "ok") floodOk++;
      }
    }
    if (ms % 1000 === 500) {
      polls++;
      if (a.admit(s.dashboard) === "ok") served++;
    }
    t += step;
  }
  return { served, polls, flood, floodOk };
}

const loopback = (n: number) => Array.from({ length: n }, (_, i) => `127.0.${i >> 8}.${i & 255}`);
const scenarios: Scenario[] = [
  {
    name: "IPv6: one host at 10/s, the dashboard on another address of the same /64",
    dashboard: "2001:db8:1:2::da5",
    before: true,
    sources: ["2001:db8:1:2::f1"],
    periodMs: 100,
    seconds: 10,
  },
  {
    name: "200 sources, one connection per 2 s each (100/s in all)",
    dashboard: "127.1.0.250",
    before: true,
    sources: loopback(200),
    periodMs: 2000,
    seconds: 60,
  },
  {
    name: "60 sources at 1/s each",
    dashboard: "127.1.0.250",
    before: true,
    sources: loopback(60),
    periodMs: 1000,
    seconds: 60,
  },
  {
    name: "120 loopback sources polling every 2 s",
    dashboard: "127.1.0.250",
    before: true,
    sources: loopback(120),
    periodMs: 2000,
    seconds: 120,
  },
  {
    name: "limit: 120 sources every 2 s, the dashboard starting with the flood",
    dashboard: "127.1.0.250",
    before: false,
    sources: loopback(120),
    periodMs: 2000,
    seconds: 120,
  },
];

out(`# fairness: ${repo === Deno.args[0] ? repo : "this checkout"}, deno ${Deno.version.deno}`);
for (const s of scenarios) {
  const r = run(s);
  out(
    `fairness: ${s.name}: dashboard ${r.served}/${r.polls} admitted; flood ${r.floodOk}/${r.flood} ` +
      `admitted`,
  );
}
