/**
 * `/2/backends` annotated (issue 15 item 4): XMRig's array keeps every byte, and the `cpu`
 * backend's object gains a `rigforge` key with the tuned thread layout and knobs. Expected
 * values come from the fixture rig's own files (`xmrig/build/config.json`,
 * `tune-overrides.json`) and the captures, never from today's output.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { arrayElements } from "../src/merge/backends.ts";
import { backendsBody } from "../src/merge.ts";
import { FIXTURE_NOW_MS } from "./_context.ts";
import { parseLossless } from "./_lossless.ts";
import { fixtureSnapshot, XMRIG_DIR, xmrigBody } from "./_snapshot.ts";
import { locate } from "../src/rigforge/locate.ts";

const CAPTURES = [
  "backends-v2.json",
  "backends-v2-startup.json",
  "backends-v2-warmup.json",
  "backends-v2-nopool.json",
  "backends-v2-nohugepages.json",
];
const WORKER = join(XMRIG_DIR, "../rigforge/zen4/data/worker");
const BUILT = JSON.parse(await Deno.readTextFile(join(WORKER, "xmrig/build/config.json")));
const OVERRIDES = JSON.parse(await Deno.readTextFile(join(WORKER, "tune-overrides.json")));
const zen4 = await fixtureSnapshot("zen4");
const view = { read: { snapshot: zen4, error: null }, now: FIXTURE_NOW_MS + 5000 };

/** The body with the spliced member taken out again (XMRig's 4-space layout, 8 inside). */
function unspliced(body: string, annotation: unknown): string {
  const member = `,\n        "rigforge": ${
    JSON.stringify(annotation, null, 4).replaceAll("\n", "\n        ")
  }`;
  assert(body.includes(member), "the member is where the splice puts it");
  return body.replace(member, "");
}

Deno.test("every capture: XMRig's bytes kept, rigforge spliced into the cpu object only", () => {
  for (const name of CAPTURES) {
    const capture = xmrigBody(name);
    const body = backendsBody({ ok: true, text: capture }, view);
    assert(body.status === 200);
    const parsed = parseLossless(body.text) as Record<string, unknown>[];
    const original = parseLossless(capture) as Record<string, unknown>[];
    assertEquals(parsed.length, original.length, name);
    const cpu = parsed.findIndex((b) => b["type"] === "cpu");
    assert(cpu >= 0, `${name}: has a cpu backend`);
    parsed.forEach((backend, i) => {
      if (i !== cpu) assertEquals(backend, original[i], `${name}: backend ${i} untouched`);
    });
    const { rigforge: _, ...rest } = parsed[cpu]!;
    assertEquals(rest, original[cpu], `${name}: cpu object keeps XMRig's members`);
    assertEquals(Object.keys(parsed[cpu]!).at(-1), "rigforge", "last member");
    const note = (JSON.parse(body.text) as Record<string, unknown>[])[cpu]!["rigforge"];
    assertEquals(unspliced(body.text, note), capture, name);
  }
});

Deno.test("the annotation is the tuned layout as built and the overrides as written", () => {
  const body = backendsBody({ ok: true, text: xmrigBody("backends-v2.json") }, view);
  assert(body.status === 200);
  const cpu = (JSON.parse(body.text) as Record<string, unknown>[])
    .find((b) => b["type"] === "cpu")!;
  const note = cpu["rigforge"] as Record<string, unknown>;
  assertEquals(note["rx"], BUILT.cpu.rx);
  assertEquals(
    note["threads_configured"],
    typeof BUILT.cpu.rx === "number" ? BUILT.cpu.rx : BUILT.cpu.rx.length,
  );
  assertEquals(note["auto_layout"], false);
  assertEquals(note["applied"], OVERRIDES);
  assertEquals(note["prefetch_mode"], BUILT.randomx.scratchpad_prefetch_mode);
  assertEquals((note["cpu"] as Record<string, unknown>)["yield"], BUILT.cpu.yield);
  assertEquals(
    (note["randomx"] as Record<string, unknown>)["1gb-pages"],
    BUILT.randomx["1gb-pages"],
  );
  // XMRig's running threads sit beside it, for the dashboard's comparison.
  assert(Array.isArray(cpu["threads"]));
});

Deno.test("no snapshot: the array still passes, the annotation says why it is empty", () => {
  const capture = xmrigBody("backends-v2.json");
  const none = { read: { snapshot: null, error: "absent" as const }, now: FIXTURE_NOW_MS };
  const body = backendsBody({ ok: true, text: capture }, none);
  assert(body.status === 200);
  const cpu = (JSON.parse(body.text) as Record<string, unknown>[])[0]!;
  const note = cpu["rigforge"] as Record<string, unknown>;
  assertEquals([note["rx"], note["applied"]], [null, null]);
  assertEquals((note["reasons"] as Record<string, unknown>)["layout"], "not-running");
  assertEquals(backendsBody({ ok: false, error: "timeout" }, none), { status: 503 });
});

Deno.test("arrayElements skips strings, nesting and escapes", () => {
  const text = ' [ {"a":"],\\"{"}, [1,[2]] ,"x,y", 3 ]';
  const spans = arrayElements(text).map(([s, e]) => text.slice(s, e));
  assertEquals(spans, ['{"a":"],\\"{"}', "[1,[2]]", '"x,y"', "3"]);
  assertEquals(arrayElements("[]"), []);
  // A compact cpu object gets a compact member.
  const compact = '[{"type":"cpu","threads":[]},{"type":"cuda"}]';
  const body = backendsBody({ ok: true, text: compact }, view);
  assert(body.status === 200);
  assert(body.text.startsWith('[{"type":"cpu","threads":[],"rigforge":{'));
  assert(body.text.endsWith('},{"type":"cuda"}]'));
});

Deno.test("cpu.rx in XMRig's object form or absent: null with why, automatic when absent", async () => {
  const capture = xmrigBody("backends-v2.json");
  const text = await Deno.readTextFile(join(WORKER, "xmrig/build/config.json"));
  const RX = /,\s*"rx": 32\b/;
  assert(RX.test(text), "the fixture's built config has a count");
  const cases = [
    // XMRig 6's object form ({"threads", "intensity", "affinity"}): not read here.
    { rx: ', "rx": {"threads": 8, "affinity": -1}', want: [null, null, null, "unsupported"] },
    // No cpu.rx at all: XMRig lays the threads out itself.
    { rx: "", want: [null, null, true, "absent"] },
  ];
  for (const { rx, want } of cases) {
    const home = await Deno.makeTempDir();
    try {
      const cp = new Deno.Command("cp", { args: ["-a", `${join(WORKER, "../..")}/.`, home] });
      assert((await cp.output()).success);
      const path = join(home, "data/worker/xmrig/build/config.json");
      await Deno.writeTextFile(path, text.replace(RX, rx));
      const located = await locate(home);
      const snapshot = await fixtureSnapshot("zen4", {
        rigforge: located.paths,
        config: located.config,
      });
      const at = { read: { snapshot, error: null }, now: FIXTURE_NOW_MS + 5000 };
      const body = backendsBody({ ok: true, text: capture }, at);
      assert(body.status === 200);
      const note = (JSON.parse(body.text) as Record<string, unknown>[])
        .find((b) => b["type"] === "cpu")!["rigforge"] as Record<string, unknown>;
      const reasons = note["reasons"] as Record<string, unknown>;
      assertEquals(
        [note["rx"], note["threads_configured"], note["auto_layout"], reasons["rx"]],
        want,
        rx,
      );
      assertEquals(reasons["threads_configured"], want[3]);
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  }
});
