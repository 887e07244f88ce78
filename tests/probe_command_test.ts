import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { previousCounters } from "../src/cli/probe.ts";
import { parseSnapshot, serializeSnapshot, type Snapshot } from "../src/snapshot.ts";
import { COMPILE_FLAGS, compileFlags, runCli } from "./_cli.ts";
import { ROOTS_DIR } from "./_context.ts";
import { fixtureSnapshot, RIGFORGE_DIR } from "./_snapshot.ts";

const ZEN4 = ["--root", join(ROOTS_DIR, "zen4"), "--rigforge-home", join(RIGFORGE_DIR, "zen4")];
const RAPL = "sys/class/powercap/intel-rapl:0/energy_uj";
const isRoot = Deno.uid() === 0;
const zen4 = await fixtureSnapshot("zen4");

function noSecrets(...texts: string[]): void {
  for (const text of texts) assert(!text.includes("LEAKCHECK"), "a fixture secret leaked");
}

Deno.test("COMPILE_FLAGS are the compile task's runtime flags", () => {
  assertEquals(
    compileFlags("deno compile -A --v8-flags=--max-semi-space-size=1 --output dist/x main.ts"),
    ["-A", "--v8-flags=--max-semi-space-size=1"],
  );
  assertEquals(
    compileFlags(
      "deno check main.ts && deno run build/x.ts && deno compile --no-check -A " +
        "--v8-flags=--max-old-space-size=64 --include dist/c.txt --output dist/x main.ts",
    ),
    ["-A", "--v8-flags=--max-old-space-size=64"],
  );
  assert(COMPILE_FLAGS.includes("-A"));
  assert(!COMPILE_FLAGS.some((f) => f.startsWith("--output") || f.endsWith(".ts")));
});

Deno.test("probe --print writes a valid snapshot to stdout and no secret", async () => {
  const result = await runCli(["probe", "--print", "--interval", "30", ...ZEN4]);
  assertEquals(result.code, 0, result.stderr);
  const snapshot = parseSnapshot(result.stdout);
  assert(snapshot !== null, "stdout is a snapshot");
  assertEquals(snapshot.interval_s, 30);
  assertEquals(snapshot.records.hugepages?.total, 1280);
  assertEquals(snapshot.records.provenance?.rigforge_version, "1.17.2");
  assert(Date.now() - Date.parse(snapshot.generated_at) < 60_000, "stamped now");
  noSecrets(result.stdout, result.stderr);
});

Deno.test("probe --help is hand-written help on stdout; a bad flag is a usage error", async () => {
  const [help, bad, zero] = await Promise.all([
    runCli(["probe", "--help"]),
    runCli(["probe", "--intervall", "5"]),
    runCli(["probe", "--interval", "0", ...ZEN4]),
  ]);
  assertEquals(help.code, 0);
  for (
    const part of [
      "USAGE:",
      "OPTIONS:",
      "EXAMPLES:",
      "--out FILE",
      "--interval SECONDS",
      "(default 15)",
    ]
  ) {
    assert(help.stdout.includes(part), part);
  }
  assertEquals(bad.code, 2);
  assert(bad.stderr.includes("unknown flag --intervall"), bad.stderr);
  assertEquals(zero.code, 2);
});

Deno.test("probe writes the snapshot file (0644) and exits 1 when it cannot", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = join(dir, "new", "snapshot.json");
    const ok = await runCli(["probe", "--out", out, ...ZEN4]);
    assertEquals([ok.code, ok.stdout], [0, ""], ok.stderr);
    assertEquals((await Deno.stat(out)).mode! & 0o777, 0o644);
    assert(parseSnapshot(await Deno.readTextFile(out)) !== null);
    noSecrets(await Deno.readTextFile(out));
    await Deno.writeTextFile(join(dir, "blocker"), "");
    const failed = await runCli(["probe", "--out", join(dir, "blocker", "snapshot.json"), ...ZEN4]);
    assertEquals(failed.code, 1);
    assert(failed.stderr.includes("cannot write the snapshot"), failed.stderr);
    noSecrets(failed.stdout, failed.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A writable copy of the zen4 root whose RAPL counter and uptime the test moves. */
async function movingRoot(): Promise<
  { root: string; set(energyUj: number, uptimeS: number): Promise<void> }
> {
  const root = await Deno.makeTempDir();
  const copy = await new Deno.Command("cp", { args: ["-a", `${join(ROOTS_DIR, "zen4")}/.`, root] })
    .output();
  assertEquals(copy.code, 0);
  return {
    root,
    async set(energyUj, uptimeS) {
      await Deno.writeTextFile(join(root, RAPL), `${energyUj}\n`);
      await Deno.writeTextFile(join(root, "proc/uptime"), `${uptimeS.toFixed(2)} 100.00\n`);
    },
  };
}

async function probeInto(root: string, out: string, extra: string[] = []): Promise<Snapshot> {
  const args = [
    "probe",
    "--out",
    out,
    "--root",
    root,
    "--rigforge-home",
    join(RIGFORGE_DIR, "zen4"),
  ];
  const result = await runCli([...args, ...extra]);
  assertEquals(result.code, 0, result.stderr);
  const snapshot = parseSnapshot(await Deno.readTextFile(out));
  assert(snapshot !== null);
  return snapshot;
}

Deno.test({
  name: "watts are the RAPL delta since the previous snapshot, across a counter wrap",
  ignore: !isRoot, // energy_uj is read only as root
  async fn() {
    const max = 65532610987; // the fixture's max_energy_range_uj
    const machine = await movingRoot();
    const out = join(machine.root, "run", "snapshot.json");
    try {
      await machine.set(64_000_000_000, 1000);
      const first = await probeInto(machine.root, out);
      assertEquals(first.counters.energy_uj, { "intel-rapl:0": 64_000_000_000 });
      assertEquals(first.counters.uptime_s, 1000);
      assert(first.records.power?.source !== "rapl-window", "nothing to delta against yet");

      await machine.set(65_500_000_000, 1015); // 1.5 kJ in 15 s
      const second = await probeInto(machine.root, out);
      assertEquals(second.records.power?.watts, 100);
      assertEquals(second.records.power?.window_s, 15);
      assertEquals(second.records.power?.source, "rapl-window");

      await machine.set(65_500_000_000 + 1_800_000_000 - max, 1030); // 1.8 kJ in 15 s, wrapped
      const third = await probeInto(machine.root, out);
      assertEquals(third.records.power?.watts, 120);
      assertEquals(third.records.power?.source, "rapl-window");

      // --print reads --out for the window but leaves it alone.
      await machine.set(65_500_000_000 + 1_800_000_000 - max + 900_000_000, 1045);
      const before = await Deno.readTextFile(out);
      const printed = await runCli(["probe", "--print", "--out", out, "--root", machine.root]);
      assertEquals(parseSnapshot(printed.stdout)?.records.power?.watts, 60);
      assertEquals(await Deno.readTextFile(out), before);
    } finally {
      await Deno.remove(machine.root, { recursive: true });
    }
  },
});

Deno.test("the previous snapshot feeds rates only when valid and at most 10 intervals old", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "snapshot.json");
  const now = Date.parse("2026-01-15T12:00:00Z");
  const counters = { uptime_s: 1000, cpu_times: null, energy_uj: { "intel-rapl:0": 5 } };
  const write = (generatedAt: string, extra: Record<string, unknown> = {}) =>
    Deno.writeTextFile(
      path,
      serializeSnapshot({ ...zen4, generated_at: generatedAt, counters, ...extra }),
    );
  try {
    assertEquals(await previousCounters(path, now, 15), null, "absent");
    await write("2026-01-15T11:57:30Z"); // 150 s = 10 intervals
    // A snapshot written before energy readings were kept decodes with no history.
    assertEquals(await previousCounters(path, now, 15), { ...counters, energy_history: null });
    assertEquals(await previousCounters(path, now, 14), null, "older than 10 × 14 s");
    await write("2026-01-15T11:57:29Z");
    assertEquals(await previousCounters(path, now, 15), null, "151 s");
    await write("2026-01-15T12:00:05Z");
    assertEquals(await previousCounters(path, now, 15), null, "from the future");
    await write("2026-01-15T11:59:45Z", {
      counters: { uptime_s: 0, cpu_times: null, energy_uj: null },
    });
    assertEquals(await previousCounters(path, now, 15), null, "nothing to delta against");
    await Deno.writeTextFile(path, "{torn");
    assertEquals(await previousCounters(path, now, 15), null, "garbage");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
