/**
 * The machine probes (hugepages, cpu, thermal, firmware, power): pure parsers on inline strings,
 * and each probe against the fixture machine roots (tests/fixtures/roots/<profile>) and against
 * small temporary roots built for one edge case.
 */

import {
  deepEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { join } from "node:path";
import { cpuProbe, type CpuRecord, parseCpuinfo } from "../src/probe/cpu.ts";
import {
  type CpuTimes,
  cpuUtilisation,
  parseProcStat,
  parseUptime,
} from "../src/probe/cpu_load.ts";
import { cleanDmiString, firmwareProbe } from "../src/probe/firmware.ts";
import { hugepagesProbe, parseMeminfo } from "../src/probe/hugepages.ts";
import { powerProbe, wattsBetween } from "../src/probe/power.ts";
import type { EnergyReading } from "../src/probe/types.ts";
import { choosePackage, parseMillidegrees, thermalProbe } from "../src/probe/thermal.ts";
import type { ProbeContext, Reasons } from "../src/probe/types.ts";
import { fixtureContext, ROOTS_DIR } from "./_context.ts";
import { cleanupRoot, materialiseRoot } from "./_roots.ts";

const PROFILES = ["buildvm", "zen4", "epyc", "intel"] as const;

// ---------------------------------------------------------------------------------------------
// Helpers

/** Every null leaf has a reason, and every reason names a null leaf. */
function assertReasonsMatchNulls(record: Record<string, unknown>): void {
  const nulls = new Set<string>();
  const walk = (value: unknown, path: string) => {
    if (value === null) nulls.add(path);
    else if (typeof value === "object" && path !== "counters.cpu_times") {
      for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
        walk(child, path ? `${path}.${key}` : key);
      }
    }
  };
  const { reasons, ...fields } = record as { reasons: Reasons };
  walk(fields, "");
  assertEquals([...nulls].sort(), Object.keys(reasons).sort());
}

/** A temporary machine root holding `files` (path → content); removed by the caller. */
async function tempRoot(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "rigforge-probe-" });
  for (const [path, content] of Object.entries(files)) {
    const file = join(root, path);
    await Deno.mkdir(join(file, ".."), { recursive: true });
    await Deno.writeTextFile(file, content);
  }
  return root;
}

/** Copies a fixture subtree into a temporary root (for probes whose files change mid-pass). */
async function copyInto(root: string, profile: string, path: string): Promise<void> {
  const from = join(ROOTS_DIR, profile, path);
  const to = join(root, path);
  const info = await Deno.stat(from);
  if (info.isFile) {
    await Deno.mkdir(join(to, ".."), { recursive: true });
    await Deno.copyFile(from, to);
    return;
  }
  for await (const entry of Deno.readDir(from)) {
    await copyInto(root, profile, join(path, entry.name));
  }
}

async function withTempRoot(
  files: Record<string, string>,
  body: (root: string) => Promise<void>,
): Promise<void> {
  const root = await tempRoot(files);
  try {
    await body(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Pure parsers

Deno.test("parseMeminfo reads kB and count values, keys with parentheses", () => {
  const values = parseMeminfo(
    "MemTotal:       24683620 kB\nActive(anon):       1556 kB\nHugePages_Total:     128\n" +
      "HardwareCorrupted:     0 kB\n",
  );
  assertEquals([...values], [
    ["MemTotal", 24683620],
    ["Active(anon)", 1556],
    ["HugePages_Total", 128],
    ["HardwareCorrupted", 0],
  ]);
  assertEquals(parseMeminfo("").size, 0);
});

Deno.test("parseMeminfo rejects malformed lines", () => {
  for (
    const bad of [
      "MemTotal 24683620 kB",
      "MemTotal: lots kB",
      "MemTotal: 12 MB",
      "MemTotal: -5 kB",
      "MemTotal:",
      ": 5",
      "MemTotal: 99999999999999999999 kB",
    ]
  ) {
    assertThrows(() => parseMeminfo(`HugePages_Total:       0\n${bad}\n`), SyntaxError, bad);
  }
});

Deno.test("parseCpuinfo takes the first processor's identity and counts processors", () => {
  const text = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 183\n" +
    "model name\t: 13th Gen Intel(R) Core(TM) i9-13900K\nflags\t\t: fpu vme pdpe1gb\n\n" +
    "processor\t: 1\nvendor_id\t: Other\ncpu family\t: 7\nmodel\t\t: 1\n" +
    "model name\t: second\nflags\t\t: fpu hypervisor\n\n";
  assertEquals(parseCpuinfo(text), {
    vendor: "GenuineIntel",
    model_name: "13th Gen Intel(R) Core(TM) i9-13900K",
    family: 6,
    model: 183,
    processors: 2,
    hypervisor: false,
  });
});

Deno.test("parseCpuinfo leaves missing fields null and strips control characters", () => {
  const parsed = parseCpuinfo("processor : 0\nmodel name : Evil\u001b[2J CPU\u0007\n");
  assertEquals(parsed, {
    vendor: null,
    model_name: "Evil[2J CPU",
    family: null,
    model: null,
    processors: 1,
    hypervisor: null,
  });
});

Deno.test("parseCpuinfo rejects malformed input", () => {
  assertThrows(() => parseCpuinfo(""), SyntaxError);
  assertThrows(() => parseCpuinfo("vendor_id : AuthenticAMD\n"), SyntaxError);
  assertThrows(() => parseCpuinfo("processor : 0\ngarbage without colon\n"), SyntaxError);
  assertThrows(() => parseCpuinfo("processor : 0\ncpu family : 0x19\n"), SyntaxError);
  assertThrows(() => parseCpuinfo("processor : 0\nmodel : -1\n"), SyntaxError);
});

Deno.test("parseProcStat keeps cpuN lines; guest time is not counted twice", () => {
  const times = parseProcStat(
    "cpu  300 0 100 1600 100 0 0 0 60 0\n" +
      "cpu0 100 0 50 800 50 0 0 0 30 0\n" +
      "cpu1 200 0 50 800 50 0 0 0 30 0\n" +
      "intr 181820 0 0\nctxt 367061\n",
  );
  assertEquals(times, { cpu0: [150, 1000], cpu1: [250, 1100] });
  // An old kernel with only user nice system idle.
  assertEquals(parseProcStat("cpu3 10 0 10 80\n"), { cpu3: [20, 100] });
});

Deno.test("parseProcStat rejects malformed per-CPU lines", () => {
  assertThrows(() => parseProcStat(""), SyntaxError);
  assertThrows(() => parseProcStat("cpu  1 2 3 4\nintr 5\n"), SyntaxError);
  assertThrows(() => parseProcStat("cpu0 1 2 3\n"), SyntaxError);
  assertThrows(() => parseProcStat("cpu0 1 2 x 4\n"), SyntaxError);
  assertThrows(() => parseProcStat("cpu0 1 2 -3 4\n"), SyntaxError);
  assertThrows(() => parseProcStat("cpu0 9999999999999999999 0 0 1\n"), SyntaxError);
});

Deno.test("parseUptime reads the first field", () => {
  assertEquals(parseUptime("1007.33 1901.59\n"), 1007.33);
  assertEquals(parseUptime("12"), 12);
  for (const bad of ["", "abc 1", "-1 2", "1e5 2", " \n"]) {
    assertThrows(() => parseUptime(bad), SyntaxError, bad);
  }
});

Deno.test("cpuUtilisation: window deltas, else since boot", () => {
  const earlier: CpuTimes = { cpu0: [100, 1000], cpu1: [900, 1000] };
  const later: CpuTimes = { cpu0: [190, 1100], cpu1: [905, 1100] };
  assertEquals(cpuUtilisation(earlier, later), {
    source: "window",
    busy: { cpu0: 0.9, cpu1: 0.05 },
  });
  // No counter moved: the cumulative counters decide (cpu1 was busy since boot).
  assertEquals(cpuUtilisation(earlier, earlier), {
    source: "since-boot",
    busy: { cpu0: 0.1, cpu1: 0.9 },
  });
  assertEquals(cpuUtilisation(null, { cpu0: [0, 0] }), { source: "since-boot", busy: { cpu0: 0 } });
});

Deno.test("parseMillidegrees rounds to one decimal", () => {
  assertEquals(parseMillidegrees("78250\n"), 78.3);
  assertEquals(parseMillidegrees("67125"), 67.1);
  assertEquals(parseMillidegrees("-5000\n"), -5);
  for (const bad of ["", "78.2", "hot", "1e5", "12345678901"]) {
    assertThrows(() => parseMillidegrees(bad), SyntaxError, bad);
  }
});

Deno.test("choosePackage follows the preference and takes the hottest socket", () => {
  const k10 = { chip: "k10temp", label: "Tctl", c: 80 };
  const zen = { chip: "zenpower", label: "Tdie", c: 70 };
  assertEquals(choosePackage([k10, zen]), { c: 70, source: "zenpower/Tdie" });
  assertEquals(choosePackage([k10, { chip: "k10temp", label: "Tdie", c: 60 }]), {
    c: 60,
    source: "k10temp/Tdie",
  });
  assertEquals(
    choosePackage([
      { chip: "coretemp", label: "Package id 0", c: 71 },
      { chip: "coretemp", label: "Core 0", c: 99 },
      { chip: "coretemp", label: "Package id 1", c: 74 },
    ]),
    { c: 74, source: "coretemp/Package id 1" },
  );
  assertEquals(choosePackage([{ chip: "nvme", label: "Composite", c: 40 }]), null);
});

Deno.test("cleanDmiString drops control characters and blank values", () => {
  assertEquals(cleanDmiString("ROG STRIX\u001b]0;pwned\u0007 X670E\n"), "ROG STRIX]0;pwned X670E");
  assertEquals(cleanDmiString("   \n"), null);
  assertEquals(cleanDmiString("x".repeat(500))?.length, 128);
});

Deno.test("wattsBetween: RigForge's verified sample", () => {
  const zone = (energy_uj: number) => ({
    "intel-rapl:0": { energy_uj, max_energy_range_uj: null },
  });
  assertEquals(
    wattsBetween({ uptime_s: 10, zones: zone(1000000) }, {
      uptime_s: 11.002,
      zones: zone(61000000),
    }),
    59.88,
  );
});

Deno.test("wattsBetween corrects a wrap per package, with that package's own range", () => {
  // Two sockets over 10 s: package 0 wraps (range 262143328850), package 1 does not.
  const earlier: EnergyReading = {
    uptime_s: 500,
    zones: {
      "intel-rapl:0": { energy_uj: 262_100_000_000, max_energy_range_uj: 262_143_328_850 },
      "intel-rapl:1": { energy_uj: 5_000_000_000, max_energy_range_uj: 65_532_610_987 },
    },
  };
  const later: EnergyReading = {
    uptime_s: 510,
    zones: {
      "intel-rapl:0": { energy_uj: 1_956_671_150, max_energy_range_uj: 262_143_328_850 },
      "intel-rapl:1": { energy_uj: 6_500_000_000, max_energy_range_uj: 65_532_610_987 },
    },
  };
  // Package 0: 43_328_850 + 1_956_671_150 = 2000 J; package 1: 1500 J; 3500 J / 10 s.
  assertEquals(wattsBetween(earlier, later), 350);
  // RigForge adds the sum of both ranges to the summed delta: 32_760 W here.
  const summed = (1_956_671_150 + 6_500_000_000 - 262_100_000_000 - 5_000_000_000) +
    262_143_328_850 + 65_532_610_987;
  assert(Math.abs(summed / 1e6 / 10 - 350) > 1000);
});

Deno.test("wattsBetween refuses what it cannot measure", () => {
  const at = (uptime_s: number, energy_uj: number, max: number | null = 1000): EnergyReading => ({
    uptime_s,
    zones: { "intel-rapl:0": { energy_uj, max_energy_range_uj: max } },
  });
  assertEquals(wattsBetween(at(10, 100), at(10, 200)), null, "zero window");
  assertEquals(wattsBetween(at(11, 100), at(10, 200)), null, "negative window");
  assertEquals(wattsBetween(at(10, 500, null), at(11, 100, null)), null, "backwards, no range");
  assertEquals(wattsBetween(at(10, 5000, 1000), at(11, 100, 1000)), null, "beyond one wrap");
  assertEquals(wattsBetween(at(10, 900), at(11, 100)), 0, "a wrap of 200 µJ");
  const other: EnergyReading = {
    uptime_s: 11,
    zones: { "intel-rapl:1": { energy_uj: 1, max_energy_range_uj: 1 } },
  };
  assertEquals(wattsBetween(at(10, 1), other), null, "a zone missing");
  assertEquals(wattsBetween({ uptime_s: 1, zones: {} }, { uptime_s: 2, zones: {} }), null);
});

// ---------------------------------------------------------------------------------------------
// Every probe on every profile: the reasons map names exactly the null fields.

for (const profile of PROFILES) {
  Deno.test(`${profile}: every null field has a reason and no reason lacks a null`, async () => {
    const ctx = fixtureContext(profile);
    for (const probe of [hugepagesProbe, cpuProbe, thermalProbe, firmwareProbe, powerProbe]) {
      const record = await probe.collect(ctx) as unknown as Record<string, unknown>;
      assertReasonsMatchNulls(record);
    }
    const unprivileged = fixtureContext(profile, { isRoot: false });
    assertReasonsMatchNulls(
      await powerProbe.collect(unprivileged) as unknown as Record<string, unknown>,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// hugepages

Deno.test("hugepages: zen4 has 2 MB and 1 GB pages reserved", async () => {
  const record = await hugepagesProbe.collect(fixtureContext("zen4"));
  assertEquals(record, {
    total: 1280,
    free: 52,
    reserved: 0,
    surplus: 0,
    size_kb: 2048,
    pages_1g: 3,
    free_1g: 0,
    mem_total_kb: 63963712,
    reasons: {},
  });
});

Deno.test("hugepages: epyc has the 1 GB directory but no 1 GB pages", async () => {
  const record = await hugepagesProbe.collect(fixtureContext("epyc"));
  assertEquals([record.total, record.free, record.pages_1g, record.free_1g], [2368, 168, 0, 0]);
  assertEquals(record.mem_total_kb, 527982316);
});

Deno.test("hugepages: the build VM reserves none and has no 1 GB pages", async () => {
  const record = await hugepagesProbe.collect(fixtureContext("buildvm"));
  assertEquals([record.total, record.free, record.size_kb], [0, 0, 2048]);
  assertEquals([record.pages_1g, record.free_1g], [null, null]);
  assertEquals(record.reasons, { pages_1g: "absent", free_1g: "absent" });
  assert(record.mem_total_kb !== null && record.mem_total_kb > 1_000_000);
});

Deno.test("hugepages: a corrupt or missing meminfo nulls its fields only", async () => {
  await withTempRoot({
    "proc/meminfo": "MemTotal: 100 kB\nthis is not meminfo\n",
    "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "2\n",
    "sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages": "many\n",
  }, async (root) => {
    const record = await hugepagesProbe.collect(fixtureContext(root));
    assertEquals([record.total, record.mem_total_kb, record.pages_1g], [null, null, 2]);
    assertEquals(record.reasons["total"], "corrupt");
    assertEquals(record.reasons["free_1g"], "corrupt");
  });
  await withTempRoot({ "proc/meminfo": "MemTotal:       1000 kB\n" }, async (root) => {
    const record = await hugepagesProbe.collect(fixtureContext(root));
    assertEquals(record.mem_total_kb, 1000);
    assertEquals(record.reasons["total"], "absent");
  });
  await withTempRoot({}, async (root) => {
    const record = await hugepagesProbe.collect(fixtureContext(root));
    assertEquals(record.reasons["total"], "absent");
    assertEquals(record.reasons["mem_total_kb"], "absent");
  });
});

// ---------------------------------------------------------------------------------------------
// cpu

/** A CPU's cpufreq attribute under a machine root, kHz; `null` when the CPU has none. */
async function freqAttr(root: string, cpu: string, name: string): Promise<number | null> {
  const path = join(root, "sys/devices/system/cpu", cpu, "cpufreq", name);
  try {
    return Number((await Deno.readTextFile(path)).trim());
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * The clock figures derived from a machine root's raw files: the busy CPUs (at least 50 % busy
 * since boot in `proc/stat`, unless given), their `scaling_cur_freq` and `cpuinfo_max_freq`,
 * and the highest `cpuinfo_max_freq` of all CPUs. `ownPct` is each busy CPU against its own
 * ceiling (the served figure); `highestPct` against the highest one (the old formula); `allPct`
 * every CPU against its own ceiling.
 */
async function rawClock(root: string, busyCpus?: readonly string[]) {
  const times = parseProcStat(await Deno.readTextFile(join(root, "proc/stat")));
  const util = cpuUtilisation(null, times);
  const busy = busyCpus ?? Object.keys(util.busy).filter((cpu) => util.busy[cpu]! >= 0.5);
  const maxes: number[] = [];
  const allRatios: number[] = [];
  for (const cpu of Object.keys(times)) {
    const max = await freqAttr(root, cpu, "cpuinfo_max_freq");
    const cur = await freqAttr(root, cpu, "scaling_cur_freq");
    if (max !== null) maxes.push(max);
    if (max !== null && cur !== null) allRatios.push(cur / max);
  }
  const boost = Math.max(...maxes);
  let curSum = 0;
  let ratioSum = 0;
  for (const cpu of busy) {
    const cur = await freqAttr(root, cpu, "scaling_cur_freq");
    const max = await freqAttr(root, cpu, "cpuinfo_max_freq");
    assert(cur !== null && max !== null, `${cpu} has cpufreq`);
    curSum += cur;
    ratioSum += cur / max;
  }
  const busyMean = Math.floor(curSum / busy.length);
  return {
    busy: busy.length,
    boost,
    busyMean,
    ownPct: Math.floor(ratioSum * 100 / busy.length),
    highestPct: Math.floor(busyMean * 100 / boost),
    allPct: Math.floor(allRatios.reduce((a, b) => a + b, 0) * 100 / allRatios.length),
  };
}

function clockView(r: CpuRecord) {
  return {
    governors: r.governors,
    cur_freq_khz_mean: r.cur_freq_khz_mean,
    cur_freq_khz_max: r.cur_freq_khz_max,
    boost_khz: r.boost_khz,
    busy_cpus: r.busy_cpus,
    busy_freq_khz_mean: r.busy_freq_khz_mean,
    clock_pct_of_boost: r.clock_pct_of_boost,
    load_source: r.load_source,
  };
}

Deno.test("cpu: zen4 mines on all 32 threads near 5 GHz", async () => {
  const r = await cpuProbe.collect(fixtureContext("zen4"));
  const raw = await rawClock(join(ROOTS_DIR, "zen4"));
  assertEquals([r.vendor, r.model_name, r.family, r.model], [
    "AuthenticAMD",
    "AMD Ryzen 9 7950X 16-Core Processor",
    25,
    97,
  ]);
  assertEquals([r.logical_cpus, r.hypervisor], [32, false]);
  assertEquals(clockView(r), {
    governors: ["performance"],
    cur_freq_khz_mean: 5000000,
    cur_freq_khz_max: 5050123,
    boost_khz: raw.boost,
    busy_cpus: raw.busy,
    busy_freq_khz_mean: raw.busyMean,
    clock_pct_of_boost: raw.ownPct,
    load_source: "since-boot",
  });
  assertEquals(r.load_window_s, 183745.31);
  assertEquals(r.throttle, { core_throttle_count: null, package_throttle_count: null });
  assertEquals(r.reasons["throttle.core_throttle_count"], "absent");
  assertEquals(r.smt, { control: "on", active: true });
  assertEquals([r.numa_nodes, r.epyc_nps1_suspect], [1, false]);
  assertEquals(r.counters.uptime_s, 183745.31);
  assertEquals(Object.keys(r.counters.cpu_times ?? {}).length, 32);
});

Deno.test("cpu: epyc judges the clock over the 64 busy CPUs, not the 64 idle ones", async () => {
  const r = await cpuProbe.collect(fixtureContext("epyc"));
  const raw = await rawClock(join(ROOTS_DIR, "epyc"));
  assertEquals([r.model_name, r.logical_cpus], ["AMD EPYC 7713 64-Core Processor", 128]);
  assertEquals(clockView(r), {
    governors: ["performance", "schedutil"],
    cur_freq_khz_mean: 2400000,
    cur_freq_khz_max: 3312500,
    boost_khz: raw.boost,
    busy_cpus: raw.busy,
    busy_freq_khz_mean: raw.busyMean,
    clock_pct_of_boost: raw.ownPct,
    load_source: "since-boot",
  });
  assertEquals(raw.busy, 64);
  assert(raw.ownPct >= 75, `busy CPUs at ${raw.ownPct} % of boost: the fixture is not throttling`);
  // RigForge's all-CPU average would report throttling (< 75).
  assert(Math.floor(r.cur_freq_khz_mean! * 100 / r.boost_khz!) < 75);
  assertEquals([r.numa_nodes, r.epyc_nps1_suspect], [1, true]);
  // The idle CPUs count in the all-CPU figure, each against its own ceiling.
  assertEquals(r.all_clock_pct_of_boost, raw.allPct);
  assert(raw.allPct < raw.ownPct);
});

Deno.test("cpu: intel counts throttling once per core and package", async () => {
  const r = await cpuProbe.collect(fixtureContext("intel"));
  const raw = await rawClock(join(ROOTS_DIR, "intel"));
  assertEquals([r.vendor, r.family, r.model, r.logical_cpus], ["GenuineIntel", 6, 183, 32]);
  assertEquals(clockView(r), {
    governors: ["powersave"],
    cur_freq_khz_mean: 3800000,
    cur_freq_khz_max: 4200000,
    boost_khz: raw.boost,
    busy_cpus: raw.busy,
    busy_freq_khz_mean: raw.busyMean,
    clock_pct_of_boost: raw.ownPct,
    load_source: "since-boot",
  });
  // P-cores 100..170 (both siblings report them), E-cores 20 each; one package at 2613.
  assertEquals(r.throttle, { core_throttle_count: 1400, package_throttle_count: 2613 });
  assertEquals(r.epyc_nps1_suspect, false);
});

Deno.test("cpu: hybrid intel judges each busy CPU against its own boost clock", async () => {
  const root = join(ROOTS_DIR, "intel");
  const r = await cpuProbe.collect(fixtureContext("intel"));
  const raw = await rawClock(root);
  // The fixture is hybrid: P- and E-cores have different ceilings.
  const ceilings = new Set<number>();
  for (let i = 0; i < raw.busy; i++) {
    ceilings.add((await freqAttr(root, `cpu${i}`, "cpuinfo_max_freq"))!);
  }
  assert(ceilings.size > 1, "the intel fixture has CPUs with different cpuinfo_max_freq");
  // Against the highest ceiling the E-cores at full speed would read as throttling (< 75);
  // against their own they do not.
  assert(raw.highestPct < 75 && raw.ownPct >= 75, JSON.stringify(raw));
  assertEquals(r.clock_pct_of_boost, raw.ownPct);
  assert(r.clock_pct_of_boost !== raw.highestPct);
  // boost_khz and busy_freq_khz_mean stay the highest ceiling and the plain mean.
  assertEquals([r.boost_khz, r.busy_freq_khz_mean], [raw.boost, raw.busyMean]);
  assertEquals(r.all_clock_pct_of_boost, raw.allPct);
});

/** Two busy CPUs with the given `scaling_cur_freq` / `cpuinfo_max_freq` (kHz). */
function twoBusyCpus(clocks: readonly [string, string][]): Record<string, string> {
  const files: Record<string, string> = {
    "proc/cpuinfo": "processor : 0\nprocessor : 1\n",
    "proc/stat": "cpu0 900 0 0 100 0 0 0 0 0 0\ncpu1 900 0 0 100 0 0 0 0 0 0\n",
    "proc/uptime": "100.00 99.80\n",
  };
  clocks.forEach(([cur, max], n) => {
    files[`sys/devices/system/cpu/cpu${n}/cpufreq/scaling_cur_freq`] = `${cur}\n`;
    files[`sys/devices/system/cpu/cpu${n}/cpufreq/cpuinfo_max_freq`] = `${max}\n`;
  });
  return files;
}

Deno.test("cpu: a busy CPU whose ceiling does not read makes clock_pct_of_boost cannot-tell", async () => {
  await withTempRoot(twoBusyCpus([["3000000", "4000000"], ["2000000", "0"]]), async (root) => {
    const r = await cpuProbe.collect(fixtureContext(root));
    assertEquals([r.busy_cpus, r.boost_khz, r.busy_freq_khz_mean], [2, 4000000, 2500000]);
    assertEquals(r.clock_pct_of_boost, null);
    assertEquals(r.reasons["clock_pct_of_boost"], "corrupt");
  });
});

Deno.test("cpu: each busy CPU is judged against its own ceiling (hybrid cores)", async () => {
  await withTempRoot(
    twoBusyCpus([["3000000", "4000000"], ["1500000", "2000000"]]),
    async (root) => {
      // (75 % + 75 %) / 2; against the highest ceiling it would be 56 %.
      const r = await cpuProbe.collect(fixtureContext(root));
      assertEquals(r.clock_pct_of_boost, 75);
    },
  );
});

Deno.test("cpu: the build VM has no cpufreq and no throttle counters", async () => {
  const r = await cpuProbe.collect(fixtureContext("buildvm"));
  assertEquals([r.vendor, r.logical_cpus, r.hypervisor], ["AuthenticAMD", 2, true]);
  for (const field of ["governors", "cur_freq_khz_mean", "boost_khz", "clock_pct_of_boost"]) {
    assertEquals(r.reasons[field], "unsupported", field);
  }
  assertEquals(r.busy_cpus, 0);
  assertEquals(r.reasons["throttle.package_throttle_count"], "absent");
  assertEquals(r.smt, { control: "notsupported", active: false });
  // "AMD EPYC" with one node in a VM: the host's NUMA setup is not visible, so no verdict.
  assertEquals([r.numa_nodes, r.epyc_nps1_suspect], [1, null]);
  assertEquals(r.reasons["epyc_nps1_suspect"], "virtual-machine");
});

Deno.test("cpu: a window from the previous pass's counters decides who is busy", async () => {
  const first = await cpuProbe.collect(fixtureContext("epyc"));
  const now = first.counters.cpu_times!;
  const uptime = first.counters.uptime_s!;
  // Over the last 10 s (1000 jiffies), only cpus 0-31 were busy.
  const cpu_times: CpuTimes = {};
  for (const [cpu, [busy, total]] of Object.entries(now)) {
    cpu_times[cpu] = [busy - (Number(cpu.slice(3)) < 32 ? 1000 : 0), total - 1000];
  }
  const previous = { uptime_s: uptime - 10, cpu_times, energy_uj: null };
  let slept = false;
  const r = await cpuProbe.collect(fixtureContext("epyc", {
    previous,
    sleep: () => {
      slept = true;
      return Promise.resolve();
    },
  }));
  assertEquals([r.load_source, r.load_window_s, r.busy_cpus], ["window", 10, 32]);
  const busy = Array.from({ length: 32 }, (_, i) => `cpu${i}`);
  const raw = await rawClock(join(ROOTS_DIR, "epyc"), busy);
  assertEquals([r.busy_freq_khz_mean, r.clock_pct_of_boost], [raw.busyMean, raw.ownPct]);
  assertEquals(slept, false, "a usable previous pass needs no sample");
});

Deno.test("cpu: unchanged or rebooted previous counters fall back", async () => {
  const first = await cpuProbe.collect(fixtureContext("intel"));
  const uptime = first.counters.uptime_s!;
  const unchanged = { uptime_s: uptime - 15, cpu_times: first.counters.cpu_times, energy_uj: null };
  const r1 = await cpuProbe.collect(fixtureContext("intel", { previous: unchanged }));
  assertEquals([r1.load_source, r1.busy_cpus], ["since-boot", 32]);
  // Counters from before a reboot are larger than now: sample instead of trusting them.
  const stale: CpuTimes = {};
  for (const [cpu, [busy, total]] of Object.entries(first.counters.cpu_times!)) {
    stale[cpu] = [busy * 2, total * 2];
  }
  let sleptMs = -1;
  const r2 = await cpuProbe.collect(fixtureContext("intel", {
    previous: { uptime_s: uptime * 2, cpu_times: stale, energy_uj: null },
    sampleMs: 250,
    sleep: (ms) => {
      sleptMs = ms;
      return Promise.resolve();
    },
  }));
  assertEquals(sleptMs, 250);
  const raw = await rawClock(join(ROOTS_DIR, "intel"));
  assertEquals([r2.load_source, r2.busy_cpus, r2.clock_pct_of_boost], [
    "since-boot",
    raw.busy,
    raw.ownPct,
  ]);
});

Deno.test("cpu: a first pass samples /proc/stat around ctx.sleep", async () => {
  const root = await Deno.makeTempDir({ prefix: "rigforge-probe-" });
  try {
    await copyInto(root, "epyc", "proc");
    await Deno.symlink(join(ROOTS_DIR, "epyc", "sys"), join(root, "sys"));
    const before = parseProcStat(await Deno.readTextFile(join(root, "proc/stat")));
    // During the sample the miner moved to cpus 64-127 (1 s = 100 jiffies each).
    const sleep = async (ms: number) => {
      assertEquals(ms, 1000);
      const lines = Object.entries(before).map(([cpu, [busy, total]], i) => {
        const [b, t] = [busy + (i >= 64 ? 95 : 2), total + 100];
        return `${cpu} ${b} 0 0 ${t - b} 0 0 0 0 0 0`;
      });
      await Deno.writeTextFile(join(root, "proc/stat"), `cpu  1 0 0 1\n${lines.join("\n")}\n`);
      const uptime = parseUptime(await Deno.readTextFile(join(root, "proc/uptime")));
      await Deno.writeTextFile(join(root, "proc/uptime"), `${(uptime + 1).toFixed(2)} 0.00\n`);
    };
    const r = await cpuProbe.collect(fixtureContext(root, { sampleMs: 1000, sleep }));
    assertEquals([r.load_source, r.load_window_s, r.busy_cpus], ["window", 1, 64]);
    const busy = Array.from({ length: 64 }, (_, i) => `cpu${i + 64}`);
    const raw = await rawClock(root, busy);
    assertEquals([r.busy_freq_khz_mean, r.clock_pct_of_boost], [raw.busyMean, raw.ownPct]);
    assertEquals(r.counters.cpu_times?.["cpu64"]?.[0], before["cpu64"]![0] + 95);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cpu: corrupt and missing files become reasons, not throws", async () => {
  await withTempRoot({
    "proc/cpuinfo": "this is not cpuinfo\n",
    "proc/stat": "cpu0 1 2\n",
    "proc/uptime": "soon\n",
    "sys/devices/system/cpu/smt/control": "on\n",
    "sys/devices/system/cpu/smt/active": "maybe\n",
    "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq": "fast\n",
    "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "4000000\n",
  }, async (root) => {
    const r = await cpuProbe.collect(fixtureContext(root));
    assertEquals(r.reasons["model_name"], "corrupt");
    assertEquals(r.reasons["busy_cpus"], "corrupt");
    assertEquals(r.reasons["counters.uptime_s"], "corrupt");
    assertEquals(r.reasons["cur_freq_khz_mean"], "corrupt");
    assertEquals(r.boost_khz, 4000000);
    assertEquals(r.reasons["governors"], "unsupported");
    assertEquals(r.smt, { control: "on", active: null });
    assertEquals(r.reasons["smt.active"], "corrupt");
    assertEquals(r.reasons["numa_nodes"], "absent");
    assertEquals(r.reasons["epyc_nps1_suspect"], "corrupt");
    assertReasonsMatchNulls(r as unknown as Record<string, unknown>);
  });
});

Deno.test("cpu: nobody busy means clock_pct_of_boost is not-running", async () => {
  const cpufreq = "sys/devices/system/cpu/cpu0/cpufreq";
  await withTempRoot({
    "proc/cpuinfo": "processor : 0\nmodel name : AMD EPYC 9554 64-Core Processor\n",
    "proc/stat": "cpu0 10 0 10 9980 0 0 0 0 0 0\n",
    "proc/uptime": "100.00 99.80\n",
    [`${cpufreq}/scaling_cur_freq`]: "1500000\n",
    [`${cpufreq}/cpuinfo_max_freq`]: "3762000\n",
    [`${cpufreq}/scaling_governor`]: "schedutil\n",
    "sys/devices/system/node/node0/cpulist": "0\n",
    "sys/devices/system/node/node1/cpulist": "1\n",
  }, async (root) => {
    const r = await cpuProbe.collect(fixtureContext(root));
    assertEquals([r.busy_cpus, r.busy_freq_khz_mean, r.clock_pct_of_boost], [0, null, null]);
    assertEquals(r.reasons["clock_pct_of_boost"], "not-running");
    assertEquals(r.cur_freq_khz_mean, 1500000);
    assertEquals([r.numa_nodes, r.epyc_nps1_suspect], [2, false]);
  });
});

// ---------------------------------------------------------------------------------------------
// thermal

Deno.test("thermal: each profile's package temperature and source", async () => {
  const expected = {
    zen4: { package_c: 78.3, source: "k10temp/Tctl", sensors: 8 },
    epyc: { package_c: 67.1, source: "k10temp/Tctl", sensors: 10 },
    intel: { package_c: 98, source: "coretemp/Package id 0", sensors: 27 },
    buildvm: { package_c: null, source: null, sensors: 0 },
  };
  for (const [profile, want] of Object.entries(expected)) {
    const r = await thermalProbe.collect(fixtureContext(profile));
    assertEquals(
      { package_c: r.package_c, source: r.source, sensors: r.sensors.length },
      want,
      profile,
    );
  }
});

Deno.test("thermal: sensors keep chip order; a label-less sensor is named by its file", async () => {
  const r = await thermalProbe.collect(fixtureContext("zen4"));
  assertEquals(r.sensors.map((s) => `${s.chip}/${s.label}=${s.c}`), [
    "nvme/Composite=38.9",
    "nvme/Sensor 1=38.9",
    "nvme/Sensor 2=44.9",
    "k10temp/Tctl=78.3",
    "k10temp/Tccd1=71.5",
    "k10temp/Tccd2=69.8",
    "amdgpu/edge=41",
    "acpitz/temp1=16.8",
  ]);
  // RigForge reads thermal_zone0 first: on this board an ACPI zone at 16.8 °C.
  const zone0 = await Deno.readTextFile(
    join(ROOTS_DIR, "zen4/sys/class/thermal/thermal_zone0/temp"),
  );
  assertEquals(parseMillidegrees(zone0), 16.8);
});

Deno.test("thermal: zenpower Tdie wins; thermal_zone0 is the last resort", async () => {
  await withTempRoot({
    "sys/class/hwmon/hwmon0/name": "k10temp\n",
    "sys/class/hwmon/hwmon0/temp1_label": "Tctl\n",
    "sys/class/hwmon/hwmon0/temp1_input": "80000\n",
    "sys/class/hwmon/hwmon10/name": "zenpower\n",
    "sys/class/hwmon/hwmon10/temp1_label": "Tdie\n",
    "sys/class/hwmon/hwmon10/temp1_input": "70000\n",
    "sys/class/thermal/thermal_zone0/temp": "45500\n",
  }, async (root) => {
    const r = await thermalProbe.collect(fixtureContext(root));
    assertEquals([r.package_c, r.source], [70, "zenpower/Tdie"]);
  });
  await withTempRoot({
    "sys/class/hwmon/hwmon0/name": "k10temp\n",
    "sys/class/hwmon/hwmon0/temp1_label": "Tctl\n",
    "sys/class/hwmon/hwmon0/temp1_input": "garbage\n",
    "sys/class/hwmon/hwmon1/temp1_input": "50000\n",
    "sys/class/thermal/thermal_zone0/temp": "45500\n",
  }, async (root) => {
    const r = await thermalProbe.collect(fixtureContext(root));
    assertEquals([r.package_c, r.source, r.sensors], [45.5, "thermal_zone0", []]);
  });
  await withTempRoot({ "sys/class/thermal/thermal_zone0/temp": "n/a\n" }, async (root) => {
    const r = await thermalProbe.collect(fixtureContext(root));
    assertEquals(r.reasons, { package_c: "corrupt", source: "corrupt" });
  });
});

// ---------------------------------------------------------------------------------------------
// firmware

Deno.test("firmware: board and BIOS per profile; none in the build VM", async () => {
  assertEquals(await firmwareProbe.collect(fixtureContext("zen4")), {
    board_vendor: "ASUSTeK COMPUTER INC.",
    board_name: "ROG STRIX X670E-E GAMING WIFI",
    bios_vendor: "American Megatrends International, LLC.",
    bios_version: "2613",
    bios_date: "06/25/2024",
    product_name: "System Product Name",
    sys_vendor: "ASUS",
    reasons: {},
  });
  const epyc = await firmwareProbe.collect(fixtureContext("epyc"));
  assertEquals([epyc.board_vendor, epyc.board_name], ["Supermicro", "H12SSL-i"]);
  const vm = await firmwareProbe.collect(fixtureContext("buildvm"));
  assertEquals(vm.board_name, null);
  assertEquals(Object.values(vm.reasons), Array(7).fill("absent"));
});

Deno.test("firmware: an empty DMI string is absent, escapes are stripped", async () => {
  await withTempRoot({
    "sys/class/dmi/id/board_vendor": "\n",
    "sys/class/dmi/id/board_name": "X570\u001b[31m AORUS\n",
  }, async (root) => {
    const r = await firmwareProbe.collect(fixtureContext(root));
    assertEquals([r.board_vendor, r.board_name], [null, "X570[31m AORUS"]);
    assertEquals(r.reasons["board_vendor"], "absent");
    assertEquals(r.reasons["bios_version"], "absent");
  });
});

// ---------------------------------------------------------------------------------------------
// power

const ZEN4_ENERGY = 41736204113;
const ZEN4_UPTIME = 183745.31;

Deno.test("power: zen4 watts from the previous pass's reading", async () => {
  const previous = {
    uptime_s: ZEN4_UPTIME - 10,
    cpu_times: null,
    energy_uj: { "intel-rapl:0": ZEN4_ENERGY - 1_500_000_000 },
  };
  let slept = false;
  const r = await powerProbe.collect(fixtureContext("zen4", {
    previous,
    sleep: () => {
      slept = true;
      return Promise.resolve();
    },
  }));
  assertEquals(r, {
    zones: [{
      id: "intel-rapl:0",
      name: "package-0",
      energy_uj: ZEN4_ENERGY,
      max_energy_range_uj: 65532610987,
    }],
    uptime_s: ZEN4_UPTIME,
    watts: 150,
    window_s: 10,
    source: "rapl-window",
    energy_j_total: 41736.204113,
    paired: null,
    history: [{ uptime_s: ZEN4_UPTIME, energy_uj: { "intel-rapl:0": ZEN4_ENERGY } }],
    reasons: { paired: "not-running" },
  });
  assertEquals(slept, false);
});

Deno.test("power: without root the counters are needs-root, the ranges still read", async () => {
  const r = await powerProbe.collect(fixtureContext("zen4", { isRoot: false }));
  assertEquals(r.zones, [{
    id: "intel-rapl:0",
    name: "package-0",
    energy_uj: null,
    max_energy_range_uj: 65532610987,
  }]);
  assertEquals([r.watts, r.energy_j_total, r.source], [null, null, null]);
  assertEquals(r.reasons, {
    "zones.0.energy_uj": "needs-root",
    watts: "needs-root",
    window_s: "needs-root",
    source: "needs-root",
    energy_j_total: "needs-root",
    paired: "needs-root",
  });
  assertEquals(r.uptime_s, ZEN4_UPTIME);
});

Deno.test("power: intel keeps package-0 only (no psys, subzones or mmio twin)", async () => {
  const r = await powerProbe.collect(fixtureContext("intel"));
  assertEquals(r.zones.map((z) => [z.id, z.name]), [["intel-rapl:0", "package-0"]]);
  // Static files over a zero-length sample: no watts, but the energy counter is reported.
  assertEquals([r.watts, r.source, r.reasons["watts"]], [null, null, "unreadable"]);
  assertEquals(r.energy_j_total, 172043.689014);
});

Deno.test("power: the build VM has no RAPL", async () => {
  const r = await powerProbe.collect(fixtureContext("buildvm"));
  assertEquals([r.zones, r.watts, r.reasons["watts"]], [[], null, "absent"]);
  assert(r.uptime_s !== null && r.uptime_s > 0);
});

Deno.test("power: a first pass samples across ctx.sleep, through a counter wrap", async () => {
  const root = await Deno.makeTempDir({ prefix: "rigforge-probe-" });
  try {
    await copyInto(root, "zen4", "sys/class/powercap");
    await copyInto(root, "zen4", "proc/uptime");
    const energy = join(root, "sys/class/powercap/intel-rapl:0/energy_uj");
    await Deno.writeTextFile(energy, `${65532610987 - 10_000_000}\n`);
    const sleep = async (ms: number) => {
      assertEquals(ms, 250);
      await Deno.writeTextFile(energy, "27500000\n");
      await Deno.writeTextFile(join(root, "proc/uptime"), `${ZEN4_UPTIME + 0.25} 1.00\n`);
    };
    // A previous pass from before a reboot (later uptime) is ignored.
    const previous = {
      uptime_s: ZEN4_UPTIME + 500,
      cpu_times: null,
      energy_uj: { "intel-rapl:0": 1 },
    };
    const r = await powerProbe.collect(fixtureContext(root, { sampleMs: 250, sleep, previous }));
    assertEquals([r.watts, r.window_s, r.source], [150, 0.25, "rapl-sample"]);
    assertEquals(r.zones[0]?.energy_uj, 27500000);
    assertEquals(r.energy_j_total, 27.5);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("power: corrupt counters and names are handled", async () => {
  await withTempRoot({
    "proc/uptime": "100.00 50.00\n",
    "sys/class/powercap/intel-rapl:0/name": "package-0\n",
    "sys/class/powercap/intel-rapl:0/energy_uj": "-1\n",
    "sys/class/powercap/intel-rapl:0/max_energy_range_uj": "65532610987\n",
    "sys/class/powercap/intel-rapl:1/name": "package-1\u001b\n",
    "sys/class/powercap/intel-rapl:1/energy_uj": "5\n",
  }, async (root) => {
    const r = await powerProbe.collect(fixtureContext(root));
    assertEquals(r.zones.map((z) => z.id), ["intel-rapl:0"]);
    assertEquals(r.reasons["zones.0.energy_uj"], "corrupt");
    assertEquals([r.watts, r.reasons["watts"]], [null, "corrupt"]);
    assertReasonsMatchNulls(r as unknown as Record<string, unknown>);
  });
});

// ---------------------------------------------------------------------------------------------
// A 128-CPU machine probed in one pass (its cost is a figure for the benches, not a test bound).

Deno.test("cpu: the 128-CPU epyc pass reads every CPU, twice in a row", async () => {
  const ctx: ProbeContext = fixtureContext("epyc");
  await cpuProbe.collect(ctx);
  const r = await cpuProbe.collect(ctx);
  assertEquals(r.busy_cpus, 64);
});

Deno.test("cpu: one CPU's unreadable cpufreq or throttle file is cannot-tell, not a partial all-clear", async () => {
  const root = await materialiseRoot("intel");
  try {
    const cpu = join(root, "sys/devices/system/cpu");
    // The fixture reads whole on every CPU: its governors and counts are known.
    const full = await cpuProbe.collect(fixtureContext(root));
    assertEquals(full.governors, ["powersave"]);
    // cpu17's governor and cpu20's core throttle count become directories (EISDIR on read):
    // the other 31 CPUs still read, but "every CPU" can no longer be told.
    for (
      const file of ["cpu17/cpufreq/scaling_governor", "cpu20/thermal_throttle/core_throttle_count"]
    ) {
      await Deno.remove(join(cpu, file));
      await Deno.mkdir(join(cpu, file));
    }
    const r = await cpuProbe.collect(fixtureContext(root));
    assertEquals([r.governors, r.busy_governors], [null, null]);
    assertEquals([r.reasons["governors"], r.reasons["busy_governors"]], [
      "unreadable",
      "unreadable",
    ]);
    assertEquals(r.throttle.core_throttle_count, null);
    assertEquals(r.reasons["throttle.core_throttle_count"], "unreadable");
    // The package count still reads on every CPU.
    assertEquals(r.throttle.package_throttle_count, full.throttle.package_throttle_count);
    // A CPU with no cpufreq directory at all (offline) is skipped, not a failure.
    await Deno.remove(join(cpu, "cpu17/cpufreq"), { recursive: true });
    const offline = await cpuProbe.collect(fixtureContext(root));
    assertEquals(offline.governors, ["powersave"]);
  } finally {
    await cleanupRoot(root);
  }
});
