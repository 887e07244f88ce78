/**
 * Cross-checks the SMBIOS decoder against the real `dmidecode` (apt package `dmidecode`): each
 * fixture table, and hand-built tables of every SMBIOS generation, are written as
 * `dmidecode --dump-bin` images and decoded by `dmidecode --from-dump FILE -t 17`; every field
 * dmidecode prints for a memory device must equal the decoder's. Fails (never skips) when
 * dmidecode is not installed.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { ROOTS_DIR } from "./_context.ts";
import { dumpBin, dw, END, struct, table, w } from "./_smbios.ts";
import {
  decodeMemoryDevice,
  decodeSmbiosTable,
  type MemoryDevice,
  SMBIOS_MEMORY_DEVICE,
} from "../src/probe/smbios.ts";

type Fields = Map<string, string>;

/** Runs dmidecode on an image; returns one field map per type 17 structure, in table order. */
async function dmidecode17(image: Uint8Array): Promise<Fields[]> {
  const dir = await Deno.makeTempDir({ prefix: "rigforge-dmidecode-" });
  try {
    const file = join(dir, "dump.bin");
    await Deno.writeFile(file, image);
    let output: Deno.CommandOutput | null = null;
    // /usr/sbin is not on every user's PATH.
    for (const program of ["dmidecode", "/usr/sbin/dmidecode", "/sbin/dmidecode"]) {
      try {
        output = await new Deno.Command(program, {
          args: ["--from-dump", file, "-t", "17"],
          env: { LC_ALL: "C" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    if (output === null) {
      throw new Error(
        "dmidecode is not installed: this cross-check needs it (apt-get install -y dmidecode)",
      );
    }
    const stderr = new TextDecoder().decode(output.stderr);
    assert(output.success, `dmidecode failed: ${stderr}`);
    return parseDmidecode(new TextDecoder().decode(output.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function parseDmidecode(text: string): Fields[] {
  const devices: Fields[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split("\n");
    const header = lines.findIndex((l) => /^Handle 0x[0-9A-F]+, DMI type 17,/.test(l));
    if (header === -1) continue;
    const fields: Fields = new Map();
    for (const line of lines.slice(header + 2)) {
      const m = /^\t([^\t:][^:]*): (.*)$/.exec(line);
      if (m) fields.set(m[1]!, m[2]!);
    }
    devices.push(fields);
  }
  return devices;
}

const UNSET = new Set(["Not Specified", "Unknown"]);

function text(value: string): string | null {
  const trimmed = value.trim();
  return UNSET.has(trimmed) ? null : trimmed;
}

function sizeMb(value: string): number | null {
  if (value === "No Module Installed" || value === "Unknown") return null;
  const m = /^(\d+) (kB|MB|GB|TB)$/.exec(value);
  assert(m, `unexpected Size: ${value}`);
  const factor = { kB: 1 / 1024, MB: 1, GB: 1024, TB: 1024 * 1024 }[m[2] as "kB"];
  return Number(m[1]) * factor;
}

function mts(value: string): number | null {
  if (value === "Unknown") return null;
  const m = /^(\d+) MT\/s$/.exec(value);
  assert(m, `unexpected speed: ${value}`);
  return Number(m[1]);
}

/** The decoder's fields that dmidecode printed, converted from dmidecode's text. */
function expected(fields: Fields): Partial<MemoryDevice> {
  const out: Partial<MemoryDevice> = {};
  const get = (key: string) => fields.get(key);
  const v = {
    locator: get("Locator"),
    bank: get("Bank Locator"),
    size: get("Size"),
    type: get("Type"),
    speed: get("Speed"),
    configured: get("Configured Memory Speed") ?? get("Configured Clock Speed"),
    manufacturer: get("Manufacturer"),
    part: get("Part Number"),
    rank: get("Rank"),
  };
  if (v.locator !== undefined) out.locator = text(v.locator);
  if (v.bank !== undefined) out.bank_locator = text(v.bank);
  if (v.size !== undefined) out.size_mb = sizeMb(v.size);
  if (v.type !== undefined) out.type = text(v.type);
  if (v.speed !== undefined) out.speed_mts = mts(v.speed);
  if (v.configured !== undefined) out.configured_mts = mts(v.configured);
  if (v.manufacturer !== undefined) out.manufacturer = text(v.manufacturer);
  if (v.part !== undefined) out.part_number = text(v.part);
  if (v.rank !== undefined) out.rank = v.rank === "Unknown" ? null : Number(v.rank);
  return out;
}

/** Asserts dmidecode and the decoder agree on every memory device of a table. */
async function crossCheck(what: string, version: [number, number], dmi: Uint8Array) {
  const ours = decodeSmbiosTable(dmi)
    .filter((s) => s.type === SMBIOS_MEMORY_DEVICE)
    .map((s) => decodeMemoryDevice(s));
  const theirs = await dmidecode17(dumpBin(version, dmi));
  assertEquals(theirs.length, ours.length, `${what}: device count`);
  assert(ours.length > 0, `${what}: no memory devices`);
  theirs.forEach((fields, i) => {
    const want = expected(fields);
    assert(Object.keys(want).includes("locator"), `${what} #${i}: dmidecode printed no Locator`);
    const device = ours[i];
    assert(device, `${what} #${i}: decoder returned null`);
    const got = Object.fromEntries(
      Object.keys(want).map((k) => [k, device[k as keyof MemoryDevice]]),
    );
    assertEquals(got, want, `${what} #${i} (${device.locator})`);
  });
  return theirs;
}

async function fixtureVersion(profile: string): Promise<[number, number]> {
  const entry = await Deno.readFile(
    join(ROOTS_DIR, profile, "sys/firmware/dmi/tables/smbios_entry_point"),
  );
  assertEquals(new TextDecoder().decode(entry.subarray(0, 5)), "_SM3_", `${profile} entry point`);
  return [entry[7]!, entry[8]!];
}

for (const profile of ["zen4", "epyc", "intel"]) {
  Deno.test(`decodeMemoryDevice() agrees with dmidecode on the ${profile} fixture`, async () => {
    const dmi = await Deno.readFile(join(ROOTS_DIR, profile, "sys/firmware/dmi/tables/DMI"));
    const theirs = await crossCheck(profile, await fixtureVersion(profile), dmi);
    // The comparison covered the fields the memory probe relies on.
    const populated = theirs.filter((f) => f.get("Size") !== "No Module Installed");
    assert(populated.length > 0);
    for (const key of ["Locator", "Bank Locator", "Size", "Speed", "Configured Memory Speed"]) {
      assert(populated.every((f) => f.has(key)), `${profile}: dmidecode printed no ${key}`);
    }
  });
}

Deno.test("decodeMemoryDevice() agrees with dmidecode across SMBIOS 2.1-3.3 layouts", async () => {
  const s = ["DIMM_A1", "P0 CHANNEL A", "Samsung", "M378A1K43CB2-CTD   ", "ChannelB-DIMM0"];
  const base = { 0x0c: w(8192), 0x10: [1], 0x11: [2], 0x12: [0x1a], 0x17: [3], 0x1a: [4] };
  const cases: [string, [number, number], number[][]][] = [
    ["2.1", [2, 1], [struct(17, 0x15, { ...base, 0x12: [0x13] }, s, 0x11)]],
    ["2.3", [2, 3], [
      struct(17, 0x1b, { ...base, 0x15: w(2666) }, s, 0x11),
      struct(17, 0x1b, { ...base, 0x0c: w(0x8000 | 512), 0x10: [5], 0x15: w(0) }, s, 0x12),
    ]],
    ["2.6", [2, 6], [struct(17, 0x1c, { ...base, 0x15: w(3200), 0x1b: [2] }, s, 0x11)]],
    ["2.8", [2, 8], [
      struct(
        17,
        0x28,
        {
          ...base,
          0x0c: w(0x7fff),
          0x1c: dw(131072),
          0x15: w(3200),
          0x1b: [4],
          0x20: w(2933),
        },
        s,
        0x11,
      ),
      struct(17, 0x28, { ...base, 0x0c: w(0), 0x12: [0x02], 0x15: w(0), 0x20: w(0) }, s, 0x12),
      struct(17, 0x28, { ...base, 0x0c: w(0xffff), 0x11: [0], 0x17: [0] }, s, 0x13),
    ]],
    ["3.2", [3, 2], [struct(17, 0x54, { ...base, 0x15: w(0xffff), 0x20: w(3600) }, s, 0x11)]],
    ["3.3", [3, 3], [
      struct(
        17,
        0x5c,
        {
          ...base,
          0x12: [0x22],
          0x15: w(0xffff),
          0x1b: [1],
          0x20: w(0xffff),
          0x54: dw(8800),
          0x58: dw(8400),
        },
        s,
        0x11,
      ),
      struct(17, 0x5c, { ...base, 0x12: [0x23], 0x15: w(6400), 0x20: w(0xffff) }, s, 0x12),
    ]],
  ];
  for (const [what, version, devices] of cases) {
    await crossCheck(what, version, table(...devices, END));
  }
});
