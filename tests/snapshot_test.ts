import {
  deepEqual as assertEquals,
  ok as assert,
  rejects as assertRejects,
} from "node:assert/strict";
import { join } from "node:path";
import type { ProbeRecords } from "../src/probe.ts";
import { isoSeconds } from "../src/lib/time.ts";
import {
  buildSnapshot,
  countersOf,
  createSnapshotCache,
  parseSnapshot,
  readSnapshotFile,
  serializeSnapshot,
  type Snapshot,
  writeSnapshotAtomic,
} from "../src/snapshot.ts";
import { FIXTURE_NOW_MS } from "./_context.ts";
import { fixtureSnapshot } from "./_snapshot.ts";

const zen4 = await fixtureSnapshot("zen4");

Deno.test("buildSnapshot stamps the end of the pass in whole UTC seconds", () => {
  const pass = { records: zen4.records, failures: { msr: { reason: "timeout", message: "x" } } };
  const snapshot = buildSnapshot(pass as never, { now: () => FIXTURE_NOW_MS + 1234 }, {
    intervalS: 30,
    startedMs: FIXTURE_NOW_MS,
  });
  assertEquals(snapshot.schema, 1);
  assertEquals(snapshot.generated_at, "2026-01-15T12:00:01Z");
  assertEquals([snapshot.interval_s, snapshot.probe_ms], [30, 1234]);
  assertEquals(snapshot.failures, pass.failures);
  assertEquals(isoSeconds(Date.UTC(2026, 10, 24, 16, 59, 46, 999)), "2026-11-24T16:59:46Z");
});

Deno.test("a written snapshot parses back to the same record, compact or pretty", () => {
  assertEquals(parseSnapshot(serializeSnapshot(zen4)), zen4);
  assertEquals(parseSnapshot(serializeSnapshot(zen4, true)), zen4);
  assert(!serializeSnapshot(zen4).trimEnd().includes("\n"), "compact on disk");
});

Deno.test("parseSnapshot refuses anything that is not a schema-1 snapshot", () => {
  const good = JSON.parse(serializeSnapshot(zen4));
  const bad: [string, unknown][] = [
    ["not JSON", "{"],
    ["array", []],
    ["schema 2", { ...good, schema: 2 }],
    ["no stamp", { ...good, generated_at: undefined }],
    ["bad stamp", { ...good, generated_at: "yesterday" }],
    ["impossible date", { ...good, generated_at: "2026-13-45T99:00:00Z" }],
    ["zero interval", { ...good, interval_s: 0 }],
    ["string interval", { ...good, interval_s: "15" }],
    ["huge interval", { ...good, interval_s: 1e9 }],
    ["negative probe_ms", { ...good, probe_ms: -1 }],
    ["records array", { ...good, records: [] }],
    ["record a string", { ...good, records: { ...good.records, cpu: "hot" } }],
    ["no counters", { ...good, counters: null }],
    ["bad uptime", { ...good, counters: { ...good.counters, uptime_s: "1" } }],
  ];
  for (const [what, value] of bad) {
    assertEquals(
      parseSnapshot(typeof value === "string" ? value : JSON.stringify(value)),
      null,
      what,
    );
  }
  const text = serializeSnapshot(zen4);
  for (let cut = 0; cut < text.length - 2; cut += Math.ceil(text.length / 97)) {
    assertEquals(parseSnapshot(text.slice(0, cut)), null, `torn at ${cut}`);
  }
});

Deno.test("parseSnapshot drops bad counters and unknown records, and cannot be polluted", () => {
  const good = JSON.parse(serializeSnapshot(zen4));
  const odd = {
    ...good,
    records: { ...good.records, evil: { x: 1 }, cpu: undefined },
    failures: { msr: { reason: "timeout", message: "m".repeat(500) }, bogus: 1 },
    counters: { uptime_s: 5, cpu_times: { cpu0: [1] }, energy_uj: { "intel-rapl:0": "x" } },
  };
  const text = JSON.stringify(odd).replace(
    '"counters":{',
    '"counters":{"__proto__":{"polluted":1},',
  );
  const parsed = parseSnapshot(text)!;
  assert(!("evil" in parsed.records));
  assertEquals(parsed.records.cpu, null);
  assertEquals(parsed.counters, {
    uptime_s: 5,
    cpu_times: null,
    energy_uj: null,
    energy_history: null,
  });
  assertEquals(Object.keys(parsed.failures), ["msr"]);
  assertEquals(parsed.failures.msr?.message.length, 200);
  assertEquals(({} as Record<string, unknown>)["polluted"], undefined);
});

Deno.test("countersOf takes cpu jiffies and uptime from cpu, energy per zone id from power", () => {
  const counters = countersOf(zen4.records);
  const cpu = zen4.records.cpu!;
  const power = zen4.records.power!;
  assertEquals(counters.cpu_times, cpu.counters.cpu_times);
  assertEquals(counters.uptime_s, power.uptime_s);
  assertEquals(
    counters.energy_uj,
    Object.fromEntries(power.zones.map((z) => [z.id, z.energy_uj])),
  );
  assert(Object.keys(counters.energy_uj ?? {}).length > 0, "zen4 has RAPL");
  const partial = {
    ...zen4.records,
    power: {
      ...power,
      zones: [...power.zones, { id: "intel-rapl:1", name: "package-1", energy_uj: null }],
    },
  } as ProbeRecords;
  assertEquals(countersOf(partial).energy_uj, null, "a zone without a counter: no energy at all");
  assertEquals(countersOf(partial).uptime_s, cpu.counters.uptime_s);
  const none = { ...zen4.records, cpu: null, power: null } as ProbeRecords;
  assertEquals(countersOf(none), { uptime_s: 0, cpu_times: null, energy_uj: null });
});

Deno.test("writeSnapshotAtomic creates the directory 0755 and the file 0644, whatever the umask", async () => {
  const base = await Deno.makeTempDir();
  try {
    const path = join(base, "run", "rigforge-api", "snapshot.json");
    const source = join(base, "snapshot.src.json");
    await Deno.writeTextFile(source, serializeSnapshot(zen4));
    // umask is per process: write from a child under umask 077, not from this test process.
    const module = new URL("../src/snapshot.ts", import.meta.url).href;
    const code = `import { parseSnapshot, writeSnapshotAtomic } from ${JSON.stringify(module)};
      await writeSnapshotAtomic(Deno.args[1], parseSnapshot(Deno.readTextFileSync(Deno.args[0])));`;
    const child = await new Deno.Command("sh", {
      args: [
        "-c",
        'umask 077 && exec "$0" eval "$1" "$2" "$3"',
        Deno.execPath(),
        code,
        source,
        path,
      ],
      stdout: "null",
    }).output();
    assertEquals(child.code, 0, new TextDecoder().decode(child.stderr));
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o644);
    assertEquals((await Deno.stat(join(base, "run", "rigforge-api"))).mode! & 0o777, 0o755);
    assertEquals((await Deno.stat(join(base, "run"))).mode! & 0o777, 0o755);
    assertEquals(await readSnapshotFile(path), { ok: true, snapshot: zen4 });
    assertEquals([...Deno.readDirSync(join(base, "run", "rigforge-api"))].map((e) => e.name), [
      "snapshot.json",
    ]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("a reader never sees a partial snapshot while writes keep replacing it", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "snapshot.json");
  try {
    await writeSnapshotAtomic(path, zen4);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 40; i++) {
        const padded = { ...zen4, probe_ms: i, rigforge_api_version: "x".repeat(i * 997 % 60) };
        await writeSnapshotAtomic(path, padded as Snapshot);
      }
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const text = await Deno.readTextFile(path);
      assert(parseSnapshot(text) !== null, `partial read after ${reads} reads`);
      reads++;
    }
    await writer;
    assert(reads > 5, `only ${reads} reads`);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["snapshot.json"], "no temp files");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeSnapshotAtomic fails cleanly when the target cannot be written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "snapshot.json")); // a directory where the file should go
    await assertRejects(writeSnapshotAtomic(join(dir, "snapshot.json"), zen4));
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["snapshot.json"], "temp removed");
    await Deno.writeTextFile(join(dir, "file"), "");
    await assertRejects(writeSnapshotAtomic(join(dir, "file", "snapshot.json"), zen4));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the cache looks at most once a second and re-reads only on a real change", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "snapshot.json");
  let clock = 0;
  const cache = createSnapshotCache(path, { now: () => clock });
  try {
    assertEquals(await cache.read(), { snapshot: null, error: "absent" });
    await writeSnapshotAtomic(path, zen4);
    assertEquals((await cache.read()).snapshot, null, "no second look within 1 s");
    clock = 1000;
    assertEquals(await cache.read(), { snapshot: zen4, error: null });
    // Same size, same inode, mtime put back: not a change, so not re-read.
    const info = await Deno.stat(path);
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(
      path,
      text.replace('"probe_ms":', '"probe_ms":9').replace(/"probe_ms":9\d/, '"probe_ms":9'),
    );
    await Deno.utime(path, info.atime!, info.mtime!);
    clock = 2000;
    assertEquals((await cache.read()).snapshot?.probe_ms, zen4.probe_ms);
    // A new file (rename: new inode) is picked up on the next look.
    await writeSnapshotAtomic(path, { ...zen4, probe_ms: 4321 });
    clock = 3000;
    assertEquals((await cache.read()).snapshot?.probe_ms, 4321);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the cache keeps the last good snapshot over a garbage file, and says so", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "snapshot.json");
  let clock = 0;
  const cache = createSnapshotCache(path, { now: () => clock });
  try {
    await writeSnapshotAtomic(path, zen4);
    assertEquals(await cache.read(), { snapshot: zen4, error: null });
    await Deno.writeTextFile(path, serializeSnapshot(zen4).slice(0, 100)); // torn
    clock += 1000;
    assertEquals(await cache.read(), { snapshot: zen4, error: "corrupt" });
    await Deno.writeTextFile(path, "\u0000garbage");
    clock += 1000;
    assertEquals(await cache.read(), { snapshot: zen4, error: "corrupt" });
    await writeSnapshotAtomic(path, { ...zen4, probe_ms: 7 });
    clock += 1000;
    assertEquals(await cache.read(), { snapshot: { ...zen4, probe_ms: 7 }, error: null });
    await Deno.remove(path);
    clock += 1000;
    assertEquals(await cache.read(), { snapshot: null, error: "absent" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("concurrent readers share one look", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "snapshot.json");
  try {
    await writeSnapshotAtomic(path, zen4);
    const cache = createSnapshotCache(path);
    const reads = await Promise.all(Array.from({ length: 20 }, () => cache.read()));
    assert(reads.every((r) => r === reads[0]), "one shared answer");
    assertEquals(reads[0], { snapshot: zen4, error: null });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
