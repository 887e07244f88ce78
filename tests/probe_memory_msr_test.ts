/**
 * Tests of the SMBIOS decoder, the memory probe and the MSR probe: inline bytes and log text for
 * the pure parts, materialised fixture roots (`tests/_roots.ts`) for the probes.
 */

import {
  deepEqual as assertEquals,
  ok as assert,
  rejects as assertRejects,
  throws as assertThrows,
} from "node:assert/strict";
import { join } from "node:path";
import { fixtureContext, ROOTS_DIR } from "./_context.ts";
import { cleanupRoot, materialiseRoot } from "./_roots.ts";
import { parseCpuinfo } from "../src/probe/cpu.ts";
import {
  channelLetter,
  countChannels,
  memoryProbe,
  type MemoryRecord,
  summariseMemory,
} from "../src/probe/memory.ts";
import { msrProbe, type MsrRecord, msrVerdict } from "../src/probe/msr.ts";
import {
  checkRegister,
  hex64,
  type MsrReadback,
  PRESET_REGISTERS,
  presetFor,
} from "../src/probe/msr_registers.ts";
import { type MsrLogStatus, parseMsrLog } from "../src/probe/msr_log.ts";
import { readTail } from "../src/probe/log_tail.ts";
import {
  decodeMemoryDevice,
  decodeSmbiosTable,
  MAX_TABLE_BYTES,
  type MemoryDevice,
  type SmbiosStructure,
} from "../src/probe/smbios.ts";
import type { ProbeContext } from "../src/probe/types.ts";
import { dw, END, struct, table, w } from "./_smbios.ts";

const RIGFORGE_DIR = join(ROOTS_DIR, "..", "rigforge");

// ---------------------------------------------------------------------------------------------
// SMBIOS bytes come from tests/_smbios.ts: explicit offsets, not an encoder.

/** Decodes a one-structure table and returns the structure. */
function only(bytes: number[]): SmbiosStructure {
  const structures = decodeSmbiosTable(table(bytes, END));
  assertEquals(structures.length, 1);
  return structures[0]!;
}

// ---------------------------------------------------------------------------------------------
// decodeSmbiosTable

Deno.test("decodeSmbiosTable() splits structures and their string sets", () => {
  const bios = struct(0, 0x1a, { 4: [1], 5: [2], 8: [3] }, ["AMI", "2613", "06/25/2024"], 0);
  const empty = struct(32, 0x0b, {}, [], 0x33);
  const structures = decodeSmbiosTable(table(bios, empty, END));
  assertEquals(structures.map((s) => [s.type, s.handle, s.length]), [[0, 0, 0x1a], [32, 0x33, 11]]);
  assertEquals(structures[0]!.strings, ["AMI", "2613", "06/25/2024"]);
  assertEquals(structures[1]!.strings, []);
  assertEquals(structures[0]!.data.length, 0x1a);
});

Deno.test("decodeSmbiosTable() stops at type 127 and ignores what follows", () => {
  const dimm = struct(17, 0x15, { 0x10: [1] }, ["DIMM_A1"]);
  const structures = decodeSmbiosTable(table(dimm, END, [0xde, 0xad, 0xbe]));
  assertEquals(structures.length, 1);
});

Deno.test("decodeSmbiosTable() accepts a table without an end marker and with zero padding", () => {
  const dimm = struct(17, 0x15, {}, ["DIMM_A1"]);
  assertEquals(decodeSmbiosTable(table(dimm)).length, 1);
  assertEquals(decodeSmbiosTable(table(dimm, [0, 0, 0])).length, 1);
  assertEquals(decodeSmbiosTable(table(dimm, [0, 0, 0, 0, 0, 0])).length, 1);
  assertEquals(decodeSmbiosTable(new Uint8Array()).length, 0);
});

Deno.test("decodeSmbiosTable() throws SyntaxError on truncated or malformed tables", () => {
  const dimm = struct(17, 0x15, {}, ["DIMM_A1"]);
  const cases: [string, Uint8Array][] = [
    ["a partial header", table(dimm, [17, 0x15])],
    ["length below 4", table([17, 3, 0, 0, 0, 0])],
    ["a formatted area past the end", table(dimm.slice(0, 0x10))],
    ["an unterminated string", table(dimm.slice(0, 0x15 + 3))],
    ["a string set missing its final NUL", table(dimm.slice(0, -1))],
    ["an empty set with one NUL", table(struct(32, 0x0b, {}).slice(0, -1))],
    ["an empty first string", table([32, 4, 0, 0, 0, 65, 0, 0])],
    ["an oversized table", new Uint8Array(MAX_TABLE_BYTES + 1)],
  ];
  for (const [what, bytes] of cases) {
    assertThrows(() => decodeSmbiosTable(bytes), SyntaxError, what);
  }
});

Deno.test("decodeSmbiosTable() replaces non-printable bytes in strings", () => {
  const s = only([17, 0x15, 0, 0, ...new Array(0x11).fill(0), 0x41, 0x07, 0xff, 0x42, 0, 0]);
  assertEquals(s.strings, ["A..B"]);
});

// ---------------------------------------------------------------------------------------------
// decodeMemoryDevice

Deno.test("decodeMemoryDevice() reads an SMBIOS 2.1 device (no speed, no rank)", () => {
  const d = decodeMemoryDevice(
    only(struct(17, 0x15, { 0x0c: w(4096), 0x10: [1], 0x11: [2], 0x12: [0x18] }, [
      "DIMM0",
      "BANK 0",
    ])),
  );
  assertEquals(d, {
    locator: "DIMM0",
    bank_locator: "BANK 0",
    size_mb: 4096,
    type: "DDR3",
    speed_mts: null,
    configured_mts: null,
    manufacturer: null,
    part_number: null,
    rank: null,
  });
});

Deno.test("decodeMemoryDevice() reads 2.3 speed and strings, trims padding, 2.6 rank", () => {
  const strings = ["DIMM_A1", "P0 CHANNEL A", "Kingston", "KF436C18BB/16    "];
  const fields = {
    0x0c: w(16384),
    0x10: [1],
    0x11: [2],
    0x12: [0x1a],
    0x15: w(3600),
    0x17: [3],
    0x1a: [4],
    0x1b: [2],
  };
  const v23 = decodeMemoryDevice(only(struct(17, 0x1b, fields, strings)))!;
  assertEquals([v23.speed_mts, v23.manufacturer, v23.part_number, v23.rank], [
    3600,
    "Kingston",
    "KF436C18BB/16",
    null,
  ]);
  const v26 = decodeMemoryDevice(only(struct(17, 0x1c, fields, strings)))!;
  assertEquals(v26.rank, 2);
  assertEquals(v26.configured_mts, null);
});

Deno.test("decodeMemoryDevice() handles 2.7 extended size and configured speed", () => {
  const d = decodeMemoryDevice(
    only(struct(17, 0x22, { 0x0c: w(0x7fff), 0x1c: dw(65536), 0x15: w(3200), 0x20: w(2933) })),
  )!;
  assertEquals([d.size_mb, d.speed_mts, d.configured_mts], [65536, 3200, 2933]);
  // 0x7FFF without room for the extended size field: unknown.
  assertEquals(decodeMemoryDevice(only(struct(17, 0x1c, { 0x0c: w(0x7fff) })))!.size_mb, null);
});

Deno.test("decodeMemoryDevice() handles 3.3 extended speeds (0xFFFF) and their absence", () => {
  const fields = { 0x0c: w(0x7fff), 0x1c: dw(32768), 0x15: w(0xffff), 0x20: w(0xffff) };
  const v33 = decodeMemoryDevice(
    only(struct(17, 0x5c, { ...fields, 0x54: dw(70000), 0x58: dw(0x80000000 + 68000) })),
  )!;
  assertEquals([v33.speed_mts, v33.configured_mts], [70000, 68000]);
  const v32 = decodeMemoryDevice(only(struct(17, 0x54, fields)))!;
  assertEquals([v32.speed_mts, v32.configured_mts], [null, null]);
  const zeroExt = decodeMemoryDevice(only(struct(17, 0x5c, fields)))!;
  assertEquals([zeroExt.speed_mts, zeroExt.configured_mts], [null, null]);
});

Deno.test("decodeMemoryDevice() sizes: empty slot, unknown, KiB granularity", () => {
  const size = (word: number) =>
    decodeMemoryDevice(only(struct(17, 0x22, { 0x0c: w(word) })))!.size_mb;
  assertEquals(size(0), null);
  assertEquals(size(0xffff), null);
  assertEquals(size(0x8000 | 512), 0.5);
  assertEquals(size(8192), 8192);
});

Deno.test("decodeMemoryDevice() strings: unset, out of range, blank", () => {
  const d = decodeMemoryDevice(
    only(struct(17, 0x1b, { 0x10: [0], 0x11: [9], 0x17: [1], 0x1a: [2] }, ["   ", "X"])),
  )!;
  assertEquals([d.locator, d.bank_locator, d.manufacturer, d.part_number], [null, null, null, "X"]);
});

Deno.test("decodeMemoryDevice() rejects other types and too-short structures", () => {
  assertEquals(decodeMemoryDevice(only(struct(16, 0x17, {}))), null);
  assertEquals(decodeMemoryDevice(only(struct(17, 0x14, {}))), null);
  assertEquals(decodeMemoryDevice(only(struct(17, 0x15, { 0x12: [0x02] })))!.type, null);
  assertEquals(decodeMemoryDevice(only(struct(17, 0x15, { 0x12: [0x22] })))!.type, "DDR5");
});

// ---------------------------------------------------------------------------------------------
// Channels and the summary

function dimm(locator: string | null, bank: string | null, extra: Partial<MemoryDevice> = {}) {
  return {
    locator,
    bank_locator: bank,
    size_mb: 16384,
    type: "DDR4",
    speed_mts: 3200,
    configured_mts: 3200,
    manufacturer: null,
    part_number: null,
    rank: null,
    ...extra,
  };
}

Deno.test("channelLetter() finds the channel letter in slot names", () => {
  const cases: [string, string | null][] = [
    ["DIMM_A1", "A"],
    ["DIMM_B2", "B"],
    ["DIMMC1", "C"],
    ["DIMM_P0_C0", "C"],
    ["P1-DIMMH1", "H"],
    ["A1", "A"],
    ["ChannelA-DIMM0", "A"],
    ["Controller1-ChannelB-DIMM1", "B"],
    ["P0 CHANNEL D", "D"],
    ["DIMM0", null],
    ["DIMM 0", null],
    ["Bottom-Slot 1(left)", null],
    ["", null],
  ];
  for (const [locator, letter] of cases) assertEquals(channelLetter(locator), letter, locator);
});

Deno.test("countChannels() applies RigForge's rule on common board layouts", () => {
  const cases: [string, MemoryDevice[], number | null][] = [
    ["AM5, A2+B2", [dimm("DIMM_A2", "P0 CHANNEL A"), dimm("DIMM_B2", "P0 CHANNEL B")], 2],
    ["one DIMM", [dimm("DIMM_A2", "P0 CHANNEL A")], 1],
    ["same channel twice", [dimm("DIMM_A1", "P0 CHANNEL A"), dimm("DIMM_A2", "P0 CHANNEL A")], 1],
    ["AM4 numbered slots", [dimm("DIMM 0", "P0 CHANNEL A"), dimm("DIMM 1", "P0 CHANNEL B")], 2],
    [
      "Intel BANK n slot numbers",
      ["A1", "A2", "B1", "B2"].map((s, i) => dimm(`DIMM_${s}`, `BANK ${i}`)),
      2,
    ],
    ["Intel ChannelX", [dimm("ChannelA-DIMM0", "BANK 0"), dimm("ChannelB-DIMM0", "BANK 2")], 2],
    [
      "laptop: only BANK n tells",
      [dimm("Bottom-Slot 1(left)", "BANK 0"), dimm("Bottom-Slot 2(right)", "BANK 2")],
      2,
    ],
    [
      "EPYC, 8 channels",
      "ABCDEFGH".split("").map((c, i) => dimm(`DIMM${c}1`, `P0_Node0_Channel${i}_Dimm0`)),
      8,
    ],
    ["nothing to go on", [dimm(null, null), dimm("DIMM0", null)], null],
    ["no DIMMs", [], null],
  ];
  for (const [what, dimms, expected] of cases) assertEquals(countChannels(dimms), expected, what);
});

Deno.test("summariseMemory() counts populated DIMMs, min configured, max rated, XMP verdict", () => {
  const empty = dimm("DIMM_A1", "P0 CHANNEL A", { size_mb: null, speed_mts: null });
  const off = summariseMemory([
    empty,
    dimm("DIMM_A2", "P0 CHANNEL A", { speed_mts: 6000, configured_mts: 4800 }),
    dimm("DIMM_B2", "P0 CHANNEL B", { speed_mts: 5600, configured_mts: 5200 }),
  ]);
  assertEquals(
    [off.modules, off.channels, off.configured_mts, off.rated_mts, off.profile_enabled],
    [2, 2, 4800, 6000, false],
  );
  assertEquals(off.dimms?.map((d) => d.locator), ["DIMM_A2", "DIMM_B2"]);
  assertEquals(off.reasons["dimms.0.manufacturer"], "absent");

  const on = summariseMemory([dimm("DIMM_A1", null, { speed_mts: 3600, configured_mts: 3600 })]);
  assertEquals(on.profile_enabled, true);
  const faster = summariseMemory([dimm("A1", null, { speed_mts: 2133, configured_mts: 3200 })]);
  assertEquals(faster.profile_enabled, true);

  const unknown = summariseMemory([dimm("DIMM_A1", null, { configured_mts: null })]);
  assertEquals([unknown.configured_mts, unknown.rated_mts, unknown.profile_enabled], [
    null,
    3200,
    null,
  ]);
  assertEquals(unknown.reasons["configured_mts"], "absent");
  assertEquals(unknown.reasons["profile_enabled"], "absent");

  const none = summariseMemory([]);
  assertEquals(none.modules, null);
  assertEquals(none.reasons["modules"], "absent");
  const allEmpty = summariseMemory([empty]);
  assertEquals([allEmpty.modules, allEmpty.channels, allEmpty.rated_mts], [0, null, null]);
});

// ---------------------------------------------------------------------------------------------
// Memory probe on fixture roots

async function memory(profile: string, overrides: Partial<ProbeContext> = {}) {
  return await memoryProbe.collect(fixtureContext(profile, overrides));
}

function layout(r: MemoryRecord) {
  return [r.modules, r.channels, r.configured_mts, r.rated_mts, r.profile_enabled];
}

Deno.test("memoryProbe reads the zen4 table: 2 x 32 GB DDR5 6000 at 4800, EXPO off", async () => {
  const r = await memory("zen4");
  assertEquals(layout(r), [2, 2, 4800, 6000, false]);
  assertEquals(r.dimms?.map((d) => [d.locator, d.bank_locator, d.size_mb, d.type]), [
    ["DIMM_A2", "P0 CHANNEL A", 32768, "DDR5"],
    ["DIMM_B2", "P0 CHANNEL B", 32768, "DDR5"],
  ]);
  assertEquals(r.reasons["modules"], undefined);
});

Deno.test("memoryProbe reads the epyc and intel tables", async () => {
  const epyc = await memory("epyc");
  assertEquals(layout(epyc), [8, 8, 3200, 3200, true]);
  assertEquals(
    new Set(epyc.dimms?.map((d) => `${d.size_mb} ${d.type} ${d.rank}`)),
    new Set([
      "65536 DDR4 2",
    ]),
  );
  const intel = await memory("intel");
  assertEquals(layout(intel), [4, 2, 3600, 3600, true]);
  assertEquals(intel.dimms?.map((d) => d.locator), ["DIMM_A1", "DIMM_A2", "DIMM_B1", "DIMM_B2"]);
});

Deno.test("memoryProbe: no SMBIOS table (buildvm) → absent; not root → needs-root", async () => {
  const vm = await memory("buildvm");
  assertEquals(layout(vm), [null, null, null, null, null]);
  assertEquals(vm.dimms, null);
  assertEquals(vm.reasons["modules"], "absent");
  assertEquals((await memory("buildvm", { isRoot: false })).reasons["channels"], "absent");

  const user = await memory("zen4", { isRoot: false });
  assertEquals(layout(user), [null, null, null, null, null]);
  for (const key of ["modules", "channels", "configured_mts", "rated_mts", "profile_enabled"]) {
    assertEquals(user.reasons[key], "needs-root", key);
  }
});

Deno.test("memoryProbe: a truncated table → corrupt, never a throw", async () => {
  const root = await materialiseRoot("zen4");
  try {
    const path = join(root, "sys/firmware/dmi/tables/DMI");
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 40));
    const r = await memoryProbe.collect(fixtureContext(root));
    assertEquals(r.modules, null);
    assertEquals(r.reasons["modules"], "corrupt");
    await Deno.writeFile(path, new Uint8Array(0));
    assertEquals((await memoryProbe.collect(fixtureContext(root))).reasons["modules"], "absent");
  } finally {
    await cleanupRoot(root);
  }
});

// ---------------------------------------------------------------------------------------------
// Presets

Deno.test("presetFor() maps vendor/family/model like XMRig", () => {
  const amd = (family: number | null, model: number | null) =>
    presetFor({ vendor: "AuthenticAMD", family, model });
  assertEquals(amd(23, 113), "ryzen_17h");
  // XMRig 6.26.0 BasicCpuInfo.cpp, case 0x19: zen4 only for models 0x61 and 0x75.
  assertEquals(amd(25, 0x61), "ryzen_19h_zen4");
  assertEquals(amd(25, 0x75), "ryzen_19h_zen4");
  assertEquals(amd(25, 96), "ryzen_19h");
  assertEquals(amd(25, 116), "ryzen_19h", "RigForge's 96-127 range would say zen4");
  assertEquals(amd(25, 127), "ryzen_19h");
  assertEquals(amd(25, 95), "ryzen_19h");
  assertEquals(amd(25, 128), "ryzen_19h");
  assertEquals(amd(25, 1), "ryzen_19h");
  assertEquals(amd(25, 33), "ryzen_19h");
  assertEquals(amd(26, 68), "ryzen_1Ah_zen5");
  assertEquals(amd(21, 2), "none");
  assertEquals(amd(null, 1), null);
  assertEquals(amd(25, null), null);
  assertEquals(amd(23, null), "ryzen_17h");
  assertEquals(presetFor({ vendor: "GenuineIntel", family: 6, model: 183 }), "intel");
  assertEquals(presetFor({ vendor: "HygonGenuine", family: 24, model: 1 }), "none");
  assertEquals(presetFor({ vendor: null, family: 25, model: 97 }), null);
});

Deno.test("presetFor() on the fixture /proc/cpuinfo files", async () => {
  const preset = async (profile: string) =>
    presetFor(parseCpuinfo(await Deno.readTextFile(join(ROOTS_DIR, profile, "proc/cpuinfo"))));
  assertEquals(await preset("zen4"), "ryzen_19h_zen4");
  assertEquals(await preset("intel"), "intel");
  assertEquals(await preset("epyc"), "ryzen_19h");
});

Deno.test("PRESET_REGISTERS holds the contract's register table", () => {
  const rows = (preset: keyof typeof PRESET_REGISTERS) =>
    PRESET_REGISTERS[preset].map((r) => checkRegister(r, null)).map((c) =>
      `${c.register} ${c.expected} ${c.mask}`
    );
  const zen4 = [
    "0xc0011020 0x0004400000000000 0xffffffffffffffff",
    "0xc0011021 0x0004000000000040 0xffffffffffffffdf",
    "0xc0011022 0x8680000401570000 0xffffffffffffffff",
    "0xc001102b 0x000000002040cc10 0xffffffffffffffff",
  ];
  assertEquals(rows("ryzen_19h_zen4"), zen4);
  assertEquals(rows("ryzen_1Ah_zen5"), zen4);
  assertEquals(rows("ryzen_19h"), [
    "0xc0011020 0x0004480000000000 0xffffffffffffffff",
    "0xc0011021 0x001c000200000040 0xffffffffffffffdf",
    "0xc0011022 0xc000000401570000 0xffffffffffffffff",
    "0xc001102b 0x000000002000cc10 0xffffffffffffffff",
  ]);
  assertEquals(rows("ryzen_17h"), [
    "0xc0011020 0x0000000000000000 0xffffffffffffffff",
    "0xc0011021 0x0000000000000040 0xffffffffffffffdf",
    "0xc0011022 0x0000000001510000 0xffffffffffffffff",
    "0xc001102b 0x000000002000cc16 0xffffffffffffffff",
  ]);
  assertEquals(rows("intel"), ["0x000001a4 0x000000000000000f 0xffffffffffffffff"]);
  assertEquals(rows("none"), []);
});

Deno.test("checkRegister() compares under the mask; hex64() pads to 16 digits", () => {
  const [, r21] = PRESET_REGISTERS.ryzen_19h_zen4;
  assertEquals(checkRegister(r21!, 0x0004000000000060n).match, true); // bit 5 is masked out
  assertEquals(checkRegister(r21!, 0x0004000000000041n).match, false);
  assertEquals(checkRegister(r21!, 0x0004000000000060n).actual, "0x0004000000000060");
  assertEquals(checkRegister(r21!, null), {
    register: "0xc0011021",
    expected: "0x0004000000000040",
    mask: "0xffffffffffffffdf",
    actual: null,
    match: null,
  });
  assertEquals(hex64(0n), "0x0000000000000000");
  assertEquals(hex64(0xffffffffffffffffn), "0xffffffffffffffff");
  assertEquals(hex64(-1n), "0xffffffffffffffff");
});

// ---------------------------------------------------------------------------------------------
// The log

const TS = "[2026-01-15 11:02:07.517]  ";
const BANNER = `${TS} * ABOUT        XMRig/6.26.0 gcc/12.2.0 (built for Linux x86-64, 64 bit)`;
const OK = (p: string) =>
  `${TS}msr      register values for "${p}" preset have been set successfully (1 ms)`;
const NOT_AVAILABLE = `${TS}msr      msr kernel module is not available`;
const FAILED = `${TS}msr      FAILED TO APPLY MSR MOD, HASHRATE WILL BE LOW`;
const CANNOT_SET = `${TS}msr      cannot set MSR 0xc0011020 to 0x0004400000000000`;
const CANNOT_READ = `${TS}msr      cannot read MSR 0x000001a4`;
const HUGE = `${TS}randomx  allocated 2336 MB (2080+256) huge pages 100% 1168/1168 +JIT (57 ms)`;

Deno.test("parseMsrLog() decides on the last MSR line after the last start banner", () => {
  const cases: [string, string[], MsrLogStatus["status"], string | null, string | null][] = [
    ["empty log", [], "none", null, null],
    ["no MSR line", [BANNER, HUGE], "none", null, null],
    ["success", [BANNER, OK("ryzen_19h_zen4"), HUGE], "applied", "ryzen_19h_zen4", OK("x")],
    ["module missing", [BANNER, NOT_AVAILABLE], "failed", null, NOT_AVAILABLE],
    ["failed", [BANNER, NOT_AVAILABLE, FAILED, HUGE], "failed", null, FAILED],
    ["cannot set", [BANNER, CANNOT_SET], "failed", null, CANNOT_SET],
    ["cannot read", [BANNER, CANNOT_READ], "failed", null, CANNOT_READ],
    ["success, then failure", [BANNER, OK("intel"), CANNOT_SET], "failed", null, CANNOT_SET],
    ["failure, then success", [BANNER, CANNOT_SET, OK("intel")], "applied", "intel", OK("x")],
    ["old success, restart, nothing yet", [BANNER, OK("intel"), BANNER, HUGE], "none", null, null],
    ["old success, restart, failure", [OK("intel"), BANNER, FAILED], "failed", null, FAILED],
    [
      "old failure, restart, success",
      [FAILED, BANNER, OK("ryzen_19h")],
      "applied",
      "ryzen_19h",
      "",
    ],
    ["no banner at all (tail)", [HUGE, OK("ryzen_17h")], "applied", "ryzen_17h", OK("x")],
  ];
  for (const [what, lines, status, preset, line] of cases) {
    const r = parseMsrLog(lines.join("\n") + "\n");
    assertEquals([r.status, r.preset], [status, preset], what);
    if (line === null) assertEquals(r.line, null, what);
    else if (line.includes("register values")) assert(r.line?.includes(`"${preset}"`), what);
    else if (line !== "") assertEquals(r.line, line.trim(), what);
  }
});

Deno.test("parseMsrLog() ignores ANSI colours, CRLF, look-alikes; clips long lines", () => {
  const coloured = [
    "\x1b[1;32m * \x1b[0m\x1b[1;37mABOUT        \x1b[0m\x1b[1;36mXMRig/6.26.0\x1b[0m",
    OK("intel"),
    "\x1b[1;30m[2026-01-15]\x1b[0m \x1b[44m msr     \x1b[0m \x1b[1;31mFAILED TO APPLY MSR MOD\x1b[0m",
  ];
  assertEquals(parseMsrLog(coloured.join("\n")).status, "failed");
  assertEquals(
    parseMsrLog([OK("intel"), "\x1b[1;32m * \x1b[1;37mABOUT"].join("\n")).status,
    "none",
  );

  const crlf = parseMsrLog(`${BANNER}\r\n${OK("ryzen_19h")}\r\n`);
  assertEquals([crlf.status, crlf.preset], ["applied", "ryzen_19h"]);
  assert(!crlf.line?.endsWith("\r"));

  const lookalike = `${TS}msr      register values for "intel" preset could not be verified`;
  assertEquals(parseMsrLog(lookalike).status, "none");
  const hostile = `${TS}msr      register values for "${
    "x".repeat(500)
  }" preset have been set successfully`;
  assertEquals(parseMsrLog(hostile).status, "none");

  const bell = parseMsrLog(`${CANNOT_SET}\x07\x1b]0;title\x07`);
  assertEquals(bell.line, `${CANNOT_SET.trim()}..]0;title.`);

  const long = `${FAILED} ${"y".repeat(400)}`;
  const clipped = parseMsrLog(long);
  assertEquals(clipped.line?.length, 200);
  assert(clipped.line?.startsWith("[2026-01-15"));
});

Deno.test("readTail() reads only the end of a large log, from a line start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "xmrig.log");
    const filler = `${TS}miner    speed 10s/60s/15m 19204.7 19188.1 n/a H/s max 19260.9 H/s\n`;
    const head = `${BANNER}\n${OK("ryzen_19h_zen4")}\n`;
    const body = filler.repeat(Math.ceil((1.5 * 1024 * 1024) / filler.length));
    await Deno.writeTextFile(path, `${head}${body}${BANNER}\n${FAILED}\n`);
    const tail = await readTail(path, 1024 * 1024, true);
    assert(tail.ok);
    assert(tail.value.length <= 1024 * 1024);
    assert(tail.value.startsWith(TS), "the partial first line is dropped");
    assert(!tail.value.includes("register values"), "the head is not read");
    assertEquals(parseMsrLog(tail.value).status, "failed");
    const small = await readTail(path, 1 << 30, true);
    assert(small.ok && small.value.startsWith(BANNER));
    assertEquals(await readTail(join(dir, "missing.log"), 1024, true), {
      ok: false,
      reason: "absent",
    });
    assertEquals(await readTail(dir, 1024, true), { ok: false, reason: "unreadable" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Verdicts

Deno.test("msrVerdict() lets the registers win, then the log", () => {
  const [r20, r21] = PRESET_REGISTERS.ryzen_19h_zen4;
  const readback = (...actual: (bigint | null)[]): MsrReadback => {
    const registers = actual.map((a, i) => checkRegister(i === 0 ? r20! : r21!, a));
    return {
      registers,
      matched: registers.filter((r) => r.match === true).length,
      total: registers.length,
      unreadable: registers.filter((r) => r.match === null).length,
    };
  };
  const all = readback(r20!.value, r21!.value);
  const bad = readback(r20!.value, 0n);
  const partial = readback(r20!.value, null);
  const none = readback(null, null);
  const applied: MsrLogStatus = { status: "applied", preset: "ryzen_19h_zen4", line: "x" };
  const failed: MsrLogStatus = { status: "failed", preset: null, line: "x" };
  const quiet: MsrLogStatus = { status: "none", preset: null, line: null };
  const cases: [MsrLogStatus | null, MsrReadback | null, string][] = [
    [applied, all, "applied"],
    [failed, all, "applied"],
    [null, all, "applied"],
    [applied, bad, "failed"],
    [quiet, bad, "failed"],
    [applied, partial, "unverified"],
    [failed, partial, "failed"],
    [quiet, none, "not-applied"],
    [applied, null, "unverified"],
    [failed, null, "failed"],
    [quiet, null, "not-applied"],
    [null, null, "not-applied"],
  ];
  for (const [log, rb, verdict] of cases) {
    assertEquals(msrVerdict(log, rb), verdict, `${log?.status} ${rb?.matched}/${rb?.total}`);
  }
});

// ---------------------------------------------------------------------------------------------
// MSR probe on materialised roots

function rigforge(profile: string): ProbeContext["rigforge"] {
  const home = join(RIGFORGE_DIR, profile);
  return { home, workerRoot: join(home, "data", "worker"), configPath: join(home, "config.json") };
}

async function withRoot<T>(profile: string, fn: (root: string) => Promise<T>): Promise<T> {
  const root = await materialiseRoot(profile);
  try {
    return await fn(root);
  } finally {
    await cleanupRoot(root);
  }
}

async function msr(root: string, profile: string, overrides: Partial<ProbeContext> = {}) {
  return await msrProbe.collect(
    fixtureContext(root, { rigforge: rigforge(profile), ...overrides }),
  );
}

function mismatches(r: MsrRecord): string[] {
  return r.readback?.registers.filter((x) => x.match === false).map((x) => x.register) ?? [];
}

Deno.test("materialiseRoot() writes msr.json as a sparse msr file", async () => {
  await withRoot("zen4", async (root) => {
    const json = JSON.parse(
      await Deno.readTextFile(join(ROOTS_DIR, "zen4/dev/cpu/0/msr.json")),
    ) as Record<string, string>;
    const path = join(root, "dev/cpu/0/msr");
    const info = await Deno.stat(path);
    assert(info.size > 0xc0011020 * 8, "the file reaches the highest register");
    assert((info.blocks ?? 0) * 512 < 1024 * 1024, "the file is sparse");
    const file = await Deno.open(path);
    try {
      for (const [reg, value] of Object.entries(json)) {
        const bytes = new Uint8Array(8);
        await file.seek(Number(BigInt(reg) * 8n), Deno.SeekMode.Start);
        assertEquals(await file.read(bytes), 8);
        assertEquals(hex64(new DataView(bytes.buffer).getBigUint64(0, true)), value);
      }
    } finally {
      file.close();
    }
    await Deno.stat(join(root, "sys/firmware/dmi/tables/DMI"));
    await assertRejects(() => Deno.stat(join(root, "dev/cpu/0/msr.json")));
  });
});

Deno.test("cleanupRoot() refuses paths it did not make", async () => {
  await assertRejects(() => cleanupRoot(ROOTS_DIR), RangeError);
  await assertRejects(() => cleanupRoot("/tmp"), RangeError);
});

Deno.test("msrProbe zen4: ryzen_19h_zen4 applied per the log and all registers", async () => {
  await withRoot("zen4", async (root) => {
    const r = await msr(root, "zen4");
    assertEquals([r.module_loaded, r.preset, r.verdict], [true, "ryzen_19h_zen4", "applied"]);
    assertEquals([r.log?.status, r.log?.preset], ["applied", "ryzen_19h_zen4"]);
    assertEquals([r.readback?.matched, r.readback?.total, r.readback?.unreadable], [4, 4, 0]);
    // 0xc0011021 reads bit 5 set; the mask ignores it.
    assertEquals(r.readback?.registers[1]?.actual, "0x0004000000000060");
    assertEquals([r.preset_source, r.cpu_preset, r.presets_agree], ["log", "ryzen_19h_zen4", true]);
    assertEquals(
      r.reasons,
      { rigforge_preset: "absent" },
      "no .rigforge-msr-preset in the fixture",
    );
  });
});

Deno.test("msrProbe epyc: log says applied, one register differs → failed", async () => {
  await withRoot("epyc", async (root) => {
    const r = await msr(root, "epyc");
    assertEquals([r.preset, r.log?.status, r.verdict], ["ryzen_19h", "applied", "failed"]);
    // No /sys/module/msr (a built-in driver), but the device node is there.
    assertEquals(r.module_loaded, true);
    assertEquals([r.readback?.matched, r.readback?.total], [3, 4]);
    assertEquals(mismatches(r), ["0xc0011022"]);
  });
});

Deno.test("msrProbe intel: success before the restart, module missing after → failed", async () => {
  await withRoot("intel", async (root) => {
    const r = await msr(root, "intel");
    assertEquals([r.preset, r.log?.status], ["intel", "failed"]);
    assert(r.log?.line?.includes("FAILED TO APPLY MSR MOD"));
    assertEquals(r.readback, null);
    assertEquals(r.reasons["readback"], "absent");
    assertEquals(r.verdict, "failed");
    const log = await Deno.readTextFile(join(rigforge("intel")!.workerRoot, "xmrig.log"));
    assert(log.includes('"intel" preset have been set successfully'), "fixture has the old line");
    assert(log.includes("msr kernel module is not available"));
  });
});

Deno.test("msrProbe module_loaded: /sys/module/msr or the device node", async () => {
  await withRoot("zen4", async (root) => {
    assertEquals((await msr(root, "zen4")).module_loaded, true);
    await Deno.remove(join(root, "dev/cpu/0/msr"));
    assertEquals((await msr(root, "zen4")).module_loaded, true, "/sys/module/msr alone");
    await Deno.remove(join(root, "sys/module/msr"), { recursive: true });
    await Deno.mkdir(join(root, "sys/module/fuse"), { recursive: true });
    const none = await msr(root, "zen4");
    assertEquals([none.module_loaded, none.readback], [false, null]);
    assertEquals(none.reasons["readback"], "absent");
    assertEquals(none.verdict, "unverified");
    await Deno.remove(join(root, "sys/module"), { recursive: true });
    const unknown = await msr(root, "zen4");
    assertEquals([unknown.module_loaded, unknown.reasons["module_loaded"]], [null, "unsupported"]);
  });
});

Deno.test("msrProbe buildvm: no msr driver, no log → not-applied", async () => {
  const r = await msrProbe.collect(fixtureContext("buildvm"));
  assertEquals([r.module_loaded, r.log, r.readback, r.verdict], [false, null, null, "not-applied"]);
  assertEquals([r.reasons["log"], r.reasons["readback"]], ["absent", "absent"]);
});

Deno.test("msrProbe not root: registers not read (needs-root), the log still counts", async () => {
  await withRoot("zen4", async (root) => {
    const r = await msr(root, "zen4", { isRoot: false });
    assertEquals(r.readback, null);
    assertEquals(r.reasons["readback"], "needs-root");
    assertEquals(r.verdict, "unverified");
  });
  await withRoot("epyc", async (root) => {
    const r = await msr(root, "epyc", { isRoot: false });
    assertEquals([r.reasons["readback"], r.verdict], ["needs-root", "unverified"]);
  });
});

Deno.test("msrProbe: unreadable registers are counted, not mismatches", async () => {
  await withRoot("zen4", async (root) => {
    // Cut the image just after 0xc0011021: 0xc0011022 and 0xc001102b read short.
    await Deno.truncate(join(root, "dev/cpu/0/msr"), 0xc0011022 * 8);
    const r = await msr(root, "zen4");
    assertEquals([r.readback?.matched, r.readback?.unreadable, r.readback?.total], [2, 2, 4]);
    assertEquals(r.readback?.registers[2]?.match, null);
    assertEquals(r.reasons["readback.registers.2.actual"], "unreadable");
    assertEquals(r.verdict, "unverified");
  });
});

Deno.test("msrProbe: hostile inputs give reasons, not throws or hangs", async () => {
  await withRoot("zen4", async (root) => {
    // cpuinfo garbage: the preset falls back to the one XMRig logged.
    await Deno.writeTextFile(join(root, "proc/cpuinfo"), "garbage without colons\n");
    const r = await msr(root, "zen4");
    assertEquals([r.preset, r.verdict], ["ryzen_19h_zen4", "applied"]);
    // No cpuinfo, no log preset: unknown preset, no read-back.
    await Deno.remove(join(root, "proc/cpuinfo"));
    const bare = await msrProbe.collect(fixtureContext(root));
    assertEquals([bare.preset, bare.readback], [null, null]);
    assertEquals([bare.reasons["preset"], bare.reasons["readback"]], ["absent", "absent"]);
    // The msr device is a directory; the log is a FIFO.
    await Deno.remove(join(root, "dev/cpu/0/msr"));
    await Deno.mkdir(join(root, "dev/cpu/0/msr"));
    const worker = join(root, "worker");
    await Deno.mkdir(worker);
    const fifo = await new Deno.Command("mkfifo", { args: [join(worker, "xmrig.log")] }).output();
    assert(fifo.success);
    const odd = await msrProbe.collect(fixtureContext(root, {
      rigforge: { home: root, workerRoot: worker, configPath: join(root, "config.json") },
    }));
    assertEquals([odd.log, odd.readback], [null, null]);
    assertEquals([odd.reasons["log"], odd.reasons["readback"]], ["unreadable", "absent"]);
  });
});

Deno.test("parseHugepagesLog keeps only the lines since XMRig's last start", async () => {
  const { parseHugepagesLog } = await import("../src/probe/xmrig_log.ts");
  const old = "[t]  randomx  allocated 2336 MB (2080+256) huge pages 100% 1168/1168 +JIT (57 ms)\n";
  const banner = "[t]  * ABOUT        XMRig/6.26.0 gcc/12.2.0\n";
  const now = "[t]  randomx  allocated 2336 MB (2080+256) huge pages 50% 584/1168 +JIT (57 ms)\n" +
    "[t]  cpu      READY threads 16/16 (16) huge pages 100% 16/16 memory 32768 KB (8 ms)\n";
  const parsed = parseHugepagesLog(old + banner + now);
  if (parsed.dataset?.pct !== 50 || parsed.dataset.allocated !== 584) throw new Error("dataset");
  if (parsed.threads?.pct !== 100 || parsed.threads.total !== 16) throw new Error("threads");
  const none = parseHugepagesLog(old + banner);
  if (none.dataset !== null || none.threads !== null) throw new Error("old lines counted");
  const bogus = parseHugepagesLog("[t]  randomx  allocated 1 MB huge pages 900% 9/1\n");
  if (bogus.dataset !== null) throw new Error("impossible values accepted");
});

Deno.test("xmrig_log: a rotated log without this start's banner cannot tell, it does not say not-running", async () => {
  const { collectXmrigLog } = await import("../src/probe/xmrig_log.ts");
  const worker = await Deno.makeTempDir();
  try {
    // The zen4 log's lines after its last start banner, minus the huge-pages lines: what a log
    // rotated (copytruncate) after XMRig's start holds. XMRig is running and hashing.
    const zen4 = await Deno.readTextFile(
      join(ROOTS_DIR, "../rigforge/zen4/data/worker/xmrig.log"),
    );
    const lines = zen4.split("\n");
    const last = lines.findLastIndex((l) => l.includes(" * ABOUT"));
    const after = lines.slice(last + 1);
    assert(after.some((l) => /huge pages \d+%/.test(l)), "the fixture has this start's lines");
    const rotated = after.filter((l) => !/huge pages \d+%/.test(l) && !l.includes(" * "));
    assert(rotated.some((l) => l.includes("miner    speed")), "XMRig is hashing");
    const ctx = (text: string) => {
      Deno.writeTextFileSync(join(worker, "xmrig.log"), text);
      return fixtureContext("zen4", {
        rigforge: { home: worker, workerRoot: worker, configPath: join(worker, "config.json") },
      });
    };
    const cut = await collectXmrigLog(ctx(rotated.join("\n")));
    assertEquals([cut.dataset, cut.threads], [null, null]);
    assertEquals(cut.reasons, { dataset: "absent", threads: "absent" });
    // With this start's banner and no huge-pages line yet: XMRig has not got that far.
    const banner = lines[last]!;
    const starting = await collectXmrigLog(ctx(`${banner}\n`));
    assertEquals(starting.reasons, { dataset: "not-running", threads: "not-running" });
  } finally {
    await Deno.remove(worker, { recursive: true });
  }
});
