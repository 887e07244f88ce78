/**
 * Data flows one way: probe → snapshot → merge → handler → transport. Every import specifier
 * of every file under `src/` (and `main.ts`) is read and checked against the layer table below
 * (the same table as README's module map): a file may import its own layer and the layers its
 * row names, nothing else. Files outside a folder reach it through its entry only, and no two
 * files import each other, directly or round a loop.
 *
 * @module
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));

/** One layer: the paths it owns (a folder ends with `/`) and the layers it may import. */
interface Layer {
  name: string;
  owns: string[];
  mayImport: string[];
}

/** Lowest first. Keep in step with README's module map. */
const LAYERS: Layer[] = [
  { name: "lib", owns: ["src/lib/", "src/ip.ts", "src/version.ts"], mayImport: [] },
  { name: "rigforge", owns: ["src/rigforge/"], mayImport: ["lib"] },
  // XMRig's local API client: the probe asks it on loopback (the 60 s power pair), merge reads it.
  { name: "xmrig", owns: ["src/xmrig.ts"], mayImport: ["lib"] },
  { name: "probe", owns: ["src/probe.ts", "src/probe/"], mayImport: ["lib", "rigforge", "xmrig"] },
  {
    name: "snapshot",
    owns: ["src/snapshot.ts", "src/snapshot/"],
    mayImport: ["lib", "rigforge", "xmrig", "probe"],
  },
  {
    name: "checks",
    owns: ["src/checks.ts", "src/checks/"],
    mayImport: ["lib", "rigforge", "xmrig", "probe"],
  },
  {
    name: "merge",
    owns: ["src/merge.ts", "src/merge/"],
    mayImport: ["lib", "rigforge", "probe", "xmrig", "snapshot", "checks"],
  },
  {
    name: "metrics",
    owns: ["src/metrics.ts", "src/metrics/"],
    mayImport: ["lib", "rigforge", "probe", "xmrig", "snapshot", "checks", "merge"],
  },
  { name: "wire", owns: ["src/http/types.ts", "src/http/responses.ts"], mayImport: ["lib"] },
  {
    name: "handler",
    owns: ["src/http/handler.ts", "src/http/auth.ts", "src/http/status_page.ts"],
    mayImport: ["lib", "rigforge", "probe", "xmrig", "snapshot", "merge", "metrics", "wire"],
  },
  // The transport takes the handler (and everything it answers with) as a value.
  {
    name: "transport",
    owns: [
      "src/http/listen.ts",
      "src/http/request_head.ts",
      "src/http/head_reader.ts",
      "src/http/admission.ts",
      "src/http/connections.ts",
      "src/http/activation.ts",
      "src/http/wire.ts",
    ],
    mayImport: ["lib", "wire"],
  },
  { name: "units", owns: ["src/units.ts"], mayImport: ["lib", "snapshot"] },
  {
    name: "cli",
    owns: ["src/cli.ts", "src/cli/"],
    mayImport: [
      "lib",
      "rigforge",
      "probe",
      "xmrig",
      "snapshot",
      "checks",
      "merge",
      "metrics",
      "wire",
      "handler",
      "transport",
      "units",
    ],
  },
  { name: "main", owns: ["main.ts"], mayImport: ["cli"] },
];

/**
 * A folder's entry: the sibling file `src/<folder>.ts`, the one file other folders import; the
 * files inside the folder are private to it. Folders without a sibling entry (`lib/`,
 * `rigforge/`, `http/`) are sets of independent public files.
 */
const ENTRIES: Record<string, string[]> = {
  "src/probe/": ["src/probe.ts"],
  "src/snapshot/": ["src/snapshot.ts"],
  "src/checks/": ["src/checks.ts"],
  "src/merge/": ["src/merge.ts"],
  "src/metrics/": ["src/metrics.ts"],
  "src/cli/": ["src/cli.ts"],
};

/** The layer owning a repository path, or `undefined`. */
function layerOf(path: string): Layer | undefined {
  return LAYERS.find((layer) =>
    layer.owns.some((own) => own.endsWith("/") ? path.startsWith(own) : path === own)
  );
}

/**
 * Every import specifier in TypeScript source: `import … from "x"`, `export … from "x"`,
 * `import "x"` and `import("x")`. Comments are stripped first so examples in JSDoc do not count.
 */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;"']*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) if (match[1] !== undefined) out.push(match[1]);
  }
  return out;
}

async function sourceFiles(): Promise<string[]> {
  const out = ["main.ts"];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) out.push(path);
    }
  }
  await walk("src");
  return out.sort();
}

/** Repository-relative file → repository-relative files it imports (local ones only). */
async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of await sourceFiles()) {
    const text = await Deno.readTextFile(join(ROOT, file));
    const targets = importSpecifiers(text)
      .filter((spec) => spec.startsWith("."))
      .map((spec) => relative(ROOT, join(ROOT, dirname(file), spec)))
      .filter((target) => target.endsWith(".ts"));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

const graph = await importGraph();

Deno.test("layers: the specifier reader sees every import form and skips comments", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type {`,
    `  B,`,
    `} from "../b.ts";`,
    `export { c } from './c.ts';`,
    `export * from "./d.ts";`,
    `import "./e.ts";`,
    `const f = await import("./f.ts");`,
    `// import { g } from "./g.ts";`,
    `/** import { h } from "./h.ts"; */`,
  ].join("\n");
  assertEquals(importSpecifiers(source).sort(), [
    "../b.ts",
    "./a.ts",
    "./c.ts",
    "./d.ts",
    "./e.ts",
    "./f.ts",
  ]);
});

Deno.test("layers: every source file belongs to exactly one layer", () => {
  assert(graph.size > 50, `only ${graph.size} files read`);
  const orphans = [...graph.keys()].filter((file) => layerOf(file) === undefined);
  assertEquals(orphans, []);
  for (const layer of LAYERS) {
    for (const name of layer.mayImport) {
      assert(LAYERS.some((l) => l.name === name), `${layer.name} names unknown layer ${name}`);
    }
  }
});

Deno.test("layers: no import goes the wrong way", () => {
  const wrong: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    for (const target of targets) {
      const to = layerOf(target);
      if (from === undefined || to === undefined) {
        // src/units.ts embeds the unit files; anything else outside src/ is a stray import.
        if (target.startsWith("src/") || target === "main.ts") wrong.push(`${file} -> ${target}`);
        continue;
      }
      if (from === to || from.mayImport.includes(to.name)) continue;
      wrong.push(`${file} -> ${target} (${from.name} may not import ${to.name})`);
    }
  }
  assertEquals(wrong, []);
});

Deno.test("layers: other folders reach a folder through its entry", () => {
  const deep: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      for (const [folder, entries] of Object.entries(ENTRIES)) {
        if (!target.startsWith(folder) || file.startsWith(folder)) continue;
        if (entries.includes(file)) continue; // the entry itself
        deep.push(`${file} -> ${target} (use ${entries.join(" or ")})`);
      }
    }
  }
  assertEquals(deep, []);
});

Deno.test("layers: no import cycle", () => {
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      const seen = state.get(target);
      if (seen === "open") {
        cycles.push([...stack.slice(stack.indexOf(target)), target].join(" -> "));
      } else if (seen === undefined && graph.has(target)) visit(target);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assertEquals(cycles, []);
});

Deno.test("layers: one entry convention: a sibling src/<folder>.ts, never a mod.ts", () => {
  const files = [...graph.keys()];
  assertEquals(files.filter((file) => file.endsWith("/mod.ts")), []);
  for (const folder of Object.keys(ENTRIES)) {
    assert(files.some((file) => file.startsWith(folder)), `${folder} exists`);
    assert(graph.has(`${folder.slice(0, -1)}.ts`), `${folder} has its sibling entry`);
  }
  // A folder with a sibling file of the same name has that file as its entry.
  const folders = new Set(files.map((file) => file.slice(0, file.lastIndexOf("/") + 1)));
  for (const folder of folders) {
    if (folder === "src/" || folder === "") continue;
    if (graph.has(`${folder.slice(0, -1)}.ts`)) assert(folder in ENTRIES, `${folder} entry listed`);
  }
});

/** Files sized to one job. */
Deno.test("layers: no file in src/ over 500 lines", async () => {
  const over: string[] = [];
  for (const file of graph.keys()) {
    const lines = (await Deno.readTextFile(join(ROOT, file))).split("\n").length;
    if (lines > 500) over.push(`${file}: ${lines} lines`);
  }
  assertEquals(over, []);
});

Deno.test("layers: outside data is decoded, never cast through unknown", async () => {
  const casts: string[] = [];
  for (const file of graph.keys()) {
    const text = await Deno.readTextFile(join(ROOT, file));
    text.split("\n").forEach((line, i) => {
      if (/\bas unknown as\b|<unknown>\s*\(/.test(line)) casts.push(`${file}:${i + 1}`);
    });
  }
  assertEquals(casts, []);
});
