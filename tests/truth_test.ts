/**
 * Issue 13: values that were false on real rig shapes. Each test alters a fixture rig to the
 * shape that reproduced the false value and derives the expected value from the fixture's raw
 * files (cpuinfo, /proc/stat, sysfs, xmrig.log, .commands), never from today's output.
 *
 * @module
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { evaluate, RIGFORGE_CHECKS } from "../src/checks.ts";
import { renderDoctor } from "../src/cli/doctor.ts";
import { rigforgeBlock } from "../src/merge.ts";
import { PRESET_REGISTERS } from "../src/probe/msr_registers.ts";
import { runProbes } from "../src/probe.ts";
import type { Obj } from "../src/lib/json.ts";
import { locate } from "../src/rigforge/locate.ts";
import { FIXTURE_NOW_MS, ROOTS_DIR } from "./_context.ts";
import { cleanupRoot, materialiseRoot, writeSparse } from "./_roots.ts";
import { fixtureRigContext, fixtureSnapshot, RIGFORGE_DIR } from "./_snapshot.ts";

const NOW = FIXTURE_NOW_MS + 5000;
const MINING = { ok: true as const, text: '{"hashrate":{"total":[1000,1000,1000]}}' };

/** A copy of a RigForge fixture home in a temporary directory. */
async function copyHome(profile: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "rigforge-home-" });
  const cp = await new Deno.Command("cp", {
    args: ["-a", join(RIGFORGE_DIR, profile) + "/.", dir],
  }).output();
  assert(cp.success, "cp of the fixture home");
  return dir;
}

const at = (o: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((v, k) => (v as Obj | null)?.[k] ?? null, o);

// --- item 1: the MSR read-back reference ------------------------------------------------------

Deno.test("item 1: a family 19h model 116 rig that applied ryzen_19h reads back as applied", async () => {
  const root = await materialiseRoot("zen4");
  const home = await copyHome("zen4");
  try {
    // The rig: cpuinfo model 116 (0x74), XMRig's log says ryzen_19h, the registers hold it,
    // and RigForge's own rule (models 96-127) wrote ryzen_19h_zen4 to .rigforge-msr-preset.
    const cpuinfo = join(root, "proc/cpuinfo");
    const original = await Deno.readTextFile(cpuinfo);
    await Deno.writeTextFile(cpuinfo, original.replace(/^model\t+: 97$/gm, "model\t\t: 116"));
    const log = join(home, "data/worker/xmrig.log");
    const text = await Deno.readTextFile(log);
    assert(text.includes('"ryzen_19h_zen4" preset'));
    await Deno.writeTextFile(log, text.replaceAll('"ryzen_19h_zen4" preset', '"ryzen_19h" preset'));
    await Deno.writeTextFile(join(home, "data/worker/.rigforge-msr-preset"), "ryzen_19h_zen4");
    const registers = PRESET_REGISTERS.ryzen_19h;
    writeSparse(join(root, "dev/cpu/0/msr"), registers.map((r) => [r.reg, r.value]));

    const ctx = await fixtureRigContext(root, {});
    const located = await locate(home);
    const pass = await runProbes(
      { ...ctx, rigforge: located.paths, config: located.config },
      ["msr", "cpu", "provenance", "config_view"],
    );
    const msr = pass.records.msr!;
    assertEquals(pass.records.cpu?.model, 116);
    assertEquals([msr.preset, msr.preset_source], ["ryzen_19h", "log"]);
    assertEquals(msr.cpu_preset, "ryzen_19h", "XMRig 6.26.0: zen4 only for models 0x61, 0x75");
    assertEquals(msr.rigforge_preset, "ryzen_19h_zen4");
    assertEquals(msr.presets_agree, false);
    assertEquals([msr.readback?.matched, msr.readback?.total], [
      registers.length,
      registers.length,
    ]);
    assertEquals(msr.verdict, "applied");

    const checks = evaluate(pass.records, { isRoot: true, linux: true }).checks;
    const byId = (id: string) => checks.find((c) => c.id === id)!;
    assertEquals(byId("msr-readback").status, "ok");
    assertEquals(byId("msr-preset").status, "warn", "the disagreement is reported");
    assert(byId("msr-preset").detail.includes("ryzen_19h_zen4"));
    assert(!checks.some((c) => c.status === "issue" && c.id.startsWith("msr")));

    // Without a log line naming a preset, XMRig's CPU rule is the reference.
    await Deno.writeTextFile(log, text.replaceAll(/^.*register values for.*$/gm, ""));
    const bare = await runProbes(
      { ...ctx, rigforge: located.paths, config: located.config },
      ["msr"],
    );
    assertEquals([bare.records.msr?.preset, bare.records.msr?.preset_source], ["ryzen_19h", "cpu"]);
    assertEquals(bare.records.msr?.verdict, "applied");
  } finally {
    await cleanupRoot(root);
    await Deno.remove(home, { recursive: true });
  }
});

// --- item 5: aggregates over the CPUs that mine ----------------------------------------------

/** CPUs whose since-boot busy share in /proc/stat is at least half (idle + iowait below it). */
async function busyCpus(root: string): Promise<string[]> {
  const stat = await Deno.readTextFile(join(root, "proc/stat"));
  return stat.split("\n").flatMap((line) => {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!m) return [];
    const n = m[2]!.trim().split(/\s+/).slice(0, 8).map(Number);
    const total = n.reduce((a, b) => a + b, 0);
    return (total - n[3]! - n[4]!) / total >= 0.5 ? [m[1]!] : [];
  });
}

Deno.test("item 5: health.governor is the mining CPUs' governor; all of them in the detail", async () => {
  const root = join(ROOTS_DIR, "epyc");
  const busy = await busyCpus(root);
  const governorOf = (cpu: string) =>
    Deno.readTextFile(join(root, `sys/devices/system/cpu/${cpu}/cpufreq/scaling_governor`))
      .then((t) => t.trim());
  const cpus = [...Deno.readDirSync(join(root, "sys/devices/system/cpu"))]
    .map((e) => e.name).filter((n) => /^cpu\d+$/.test(n));
  const busyGovs = [...new Set(await Promise.all(busy.map(governorOf)))].sort();
  const allGovs = [...new Set(await Promise.all(cpus.map(governorOf)))].sort();
  assert(
    busy.length > 0 && allGovs.length > busyGovs.length,
    "the fixture has idle schedutil CPUs",
  );
  const block = rigforgeBlock(await fixtureSnapshot("epyc"), MINING, NOW);
  assertEquals(at(block, "health.governor"), busyGovs.join(","));
  assertEquals(at(block, "health.cpu.governors"), allGovs);
  assertEquals(at(block, "health.cpu.busy_governors"), busyGovs);
});

Deno.test("item 5: with xmrig.service inactive, clock and throttling are null: miner-inactive", async () => {
  const commands = join(ROOTS_DIR, "intel", ".commands");
  const name = [...Deno.readDirSync(commands)].map((e) => e.name)
    .find((n) => n.startsWith("systemctl is-active xmrig.service"))!;
  const state = (await Deno.readTextFile(join(commands, name))).split("\n")[1];
  assert(state !== "active", `the intel fixture's xmrig.service is ${state}`);
  const block = rigforgeBlock(await fixtureSnapshot("intel"), MINING, NOW);
  assertEquals(at(block, "health.service_active"), false);
  assertEquals(at(block, "health.clock_pct_of_boost"), null);
  assertEquals(at(block, "health.throttling"), null);
  const reasons = block["reasons"] as Record<string, string>;
  assertEquals(reasons["health.clock_pct_of_boost"], "miner-inactive");
  assertEquals(reasons["health.throttling"], "miner-inactive");
});

// --- item 6: health.hugepages_pct -------------------------------------------------------------

/** The lowest `huge pages N%` since the log's last ` * ABOUT` banner. */
function hugepagesPctOf(log: string): number {
  const lines = log.split("\n");
  const start = lines.findLastIndex((l) => l.includes(" * ABOUT"));
  const pcts = lines.slice(start + 1).flatMap((l) => {
    const m = /(?:randomx\s+allocated|cpu\s+READY threads).*huge pages (\d+)%/.exec(l);
    return m ? [Number(m[1])] : [];
  });
  return Math.min(...pcts);
}

Deno.test("item 6: health.hugepages_pct is XMRig's own allocation % since its last start", async () => {
  const log = await Deno.readTextFile(join(RIGFORGE_DIR, "zen4/data/worker/xmrig.log"));
  const block = rigforgeBlock(await fixtureSnapshot("zen4"), MINING, NOW);
  assertEquals(at(block, "health.hugepages_pct"), hugepagesPctOf(log));

  const home = await copyHome("zen4");
  try {
    const path = join(home, "data/worker/xmrig.log");
    const low = log.replace(
      /huge pages 100% 1168\/1168(?![\s\S]*huge pages 100% 1168)/,
      "huge pages 94% 1100/1168",
    );
    assert(low !== log);
    await Deno.writeTextFile(path, low);
    const located = await locate(home);
    const snapshot = await fixtureSnapshot("zen4", {
      rigforge: located.paths,
      config: located.config,
    });
    const lowBlock = rigforgeBlock(snapshot, MINING, NOW);
    assertEquals(at(lowBlock, "health.hugepages_pct"), hugepagesPctOf(low));
    assert(hugepagesPctOf(low) < 100);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

// --- item 7: verdicts where nothing could be read ---------------------------------------------

Deno.test("item 7: in a VM epyc_nps1_suspect is null: virtual-machine", async () => {
  const cpuinfo = await Deno.readTextFile(join(ROOTS_DIR, "buildvm/proc/cpuinfo"));
  assert(/^flags\s*:.*\bhypervisor\b/m.test(cpuinfo), "buildvm is a VM");
  assert(/EPYC/.test(cpuinfo), "with an EPYC model name");
  const block = rigforgeBlock(await fixtureSnapshot("buildvm"), MINING, NOW);
  assertEquals(at(block, "health.numa.epyc_nps1_suspect"), null);
  assertEquals(
    (block["reasons"] as Record<string, string>)["health.numa.epyc_nps1_suspect"],
    "virtual-machine",
  );
});

Deno.test("item 7: without root doctor cannot tell the BIOS items, never 'no changes'", async () => {
  const snapshot = await fixtureSnapshot("zen4", { isRoot: false });
  assertEquals(snapshot.records.memory?.reasons["profile_enabled"], "needs-root");
  const checks = evaluate(snapshot.records, { isRoot: false, linux: true }).checks;
  const firmware = checks.find((c) => c.id === "firmware")!;
  assert(!firmware.detail.includes("no BIOS changes recommended"), firmware.detail);
  assert(firmware.detail.includes("cannot tell") && firmware.detail.includes("memory-profile"));
  const rooted = evaluate((await fixtureSnapshot("zen4")).records, { isRoot: true, linux: true });
  const line = rooted.checks.find((c) => c.id === "firmware")!.detail;
  assert(!line.includes("cannot tell"), line);
});

// --- item 11: doctor where RigForge is absent -------------------------------------------------

Deno.test("item 11: doctor without RigForge says where it looked and skips what needs it", async () => {
  const empty = await Deno.makeTempDir({ prefix: "rigforge-absent-" });
  try {
    const located = await locate(empty);
    assertEquals(located.config, null);
    const absent = await fixtureSnapshot("zen4", { rigforge: located.paths, config: null });
    const present = await fixtureSnapshot("zen4");
    const options = { isRoot: true, linux: true };
    const without = evaluate(absent.records, options);
    const withRf = evaluate(present.records, options);
    const text = renderDoctor(absent.records, without, empty);
    const first = text.split("\n")[0]!;
    assert(first.includes(empty) && first.includes("RigForge is not installed"), first);
    assert(!text.includes("no SHA-256 recorded"), "no tamper verdict without RigForge");
    assert(!text.includes("open and unscoped"), "no exposure verdict without RigForge");
    for (const c of without.checks) {
      if (RIGFORGE_CHECKS.includes(c.id)) {
        assertEquals(c.status, "skipped", c.id);
      } else {
        const same = withRf.checks.find((w) => w.id === c.id)!;
        // Machine checks judge the same machine either way (firmware lists BIOS items).
        assertEquals(c.status, same.status, c.id);
      }
    }
    assertEquals(without.verdict.issues, 0, "RigForge's absence is not counted");
    const report = renderDoctor(present.records, withRf, join(RIGFORGE_DIR, "zen4"));
    assert(!report.split("\n")[0]!.includes("not installed"));
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});
