/**
 * A pure SMBIOS decoder (DMTF DSP0134), enough to read memory devices without `dmidecode`.
 *
 * The input is the structure table exactly as the kernel exposes it in
 * `/sys/firmware/dmi/tables/DMI` (root-only, mode 0400): a sequence of structures, each a
 * formatted area (`type`, `length`, `handle`, then `length - 4` bytes of fields) followed by
 * its string set (NUL-terminated strings ending with an empty string, i.e. a double NUL).
 * The table ends with a type 127 structure or at the end of the bytes.
 *
 * Fields are read only when the structure is long enough to hold them, so tables from
 * SMBIOS 2.1 through 3.7 all decode: a field that a shorter structure does not carry is `null`.
 *
 * @module
 */

/** The largest table accepted, in bytes (real tables are 2-64 KiB). */
export const MAX_TABLE_BYTES = 1024 * 1024;
/** The most structures decoded from one table. */
export const MAX_STRUCTURES = 16384;
/** Strings longer than this (characters) are cut. */
export const MAX_STRING_CHARS = 128;

/** The SMBIOS structure type of an end-of-table marker. */
export const SMBIOS_END_OF_TABLE = 127;
/** The SMBIOS structure type of a memory device (one DIMM slot). */
export const SMBIOS_MEMORY_DEVICE = 17;

/** One SMBIOS structure, undecoded beyond its header and strings. */
export interface SmbiosStructure {
  /** Structure type (0 BIOS, 1 system, 2 baseboard, 16 memory array, 17 memory device...). */
  type: number;
  /** Structure handle, unique within the table. */
  handle: number;
  /** Length of the formatted area in bytes, header included. */
  length: number;
  /** The formatted area, header included (`data[0]` is the type). */
  data: Uint8Array;
  /** The string set; string number `n` (1-based, as fields reference it) is `strings[n - 1]`. */
  strings: string[];
}

/** One memory device (SMBIOS type 17): a DIMM slot, populated or not. */
export interface MemoryDevice {
  /** Device Locator string: the slot's silkscreen name (`DIMM_A1`), or `null` when unset. */
  locator: string | null;
  /** Bank Locator string (`P0 CHANNEL A`, `BANK 0`), or `null` when unset. */
  bank_locator: string | null;
  /**
   * Module size in MiB (`Size`, or `Extended Size` when `Size` is 0x7FFF); `null` when no
   * module is installed or the size is unknown.
   */
  size_mb: number | null;
  /** Memory Type name (`DDR4`, `DDR5`, `LPDDR5`...), or `null` when unknown or unset. */
  type: string | null;
  /**
   * `Speed`: the module's rated (maximum capable) speed in MT/s; `Extended Speed` when
   * `Speed` is 0xFFFF. `null` when unknown.
   */
  speed_mts: number | null;
  /**
   * `Configured Memory Speed`: the speed the memory controller runs the module at, in MT/s
   * (SMBIOS 2.7+; `Extended Configured Memory Speed` when 0xFFFF, 3.3+). `null` when unknown.
   */
  configured_mts: number | null;
  /** Manufacturer string (trimmed), or `null`. */
  manufacturer: string | null;
  /** Part Number string (trimmed of the usual space padding), or `null`. */
  part_number: string | null;
  /** Rank (`Attributes` bits 3:0, SMBIOS 2.6+), or `null` when unknown. */
  rank: number | null;
}

/**
 * Splits an SMBIOS structure table into structures. Walks each formatted area and its string
 * set, stops at the type 127 end-of-table marker (not included) or at the end of the bytes.
 * Zero bytes after the last structure are accepted as padding.
 *
 * @param table the raw table (`/sys/firmware/dmi/tables/DMI`)
 * @returns the structures, in table order
 * @throws {SyntaxError} when the table is larger than {@link MAX_TABLE_BYTES}, holds more than
 *   {@link MAX_STRUCTURES} structures, or a structure is truncated or malformed (length < 4,
 *   formatted area or string set running past the end)
 */
export function decodeSmbiosTable(table: Uint8Array): SmbiosStructure[] {
  if (table.length > MAX_TABLE_BYTES) {
    throw new SyntaxError(`SMBIOS table too large: ${table.length} bytes`);
  }
  const structures: SmbiosStructure[] = [];
  let offset = 0;
  while (offset < table.length) {
    if (offset + 4 > table.length) {
      if (table.subarray(offset).every((b) => b === 0)) break;
      throw new SyntaxError(`SMBIOS structure header truncated at offset ${offset}`);
    }
    const type = table[offset]!;
    const length = table[offset + 1]!;
    const handle = table[offset + 2]! | (table[offset + 3]! << 8);
    if (length < 4) {
      if (type === 0 && length === 0 && table.subarray(offset).every((b) => b === 0)) break;
      throw new SyntaxError(`SMBIOS structure at offset ${offset} has length ${length} < 4`);
    }
    if (offset + length > table.length) {
      throw new SyntaxError(`SMBIOS structure at offset ${offset} runs past the table end`);
    }
    const { strings, end } = readStringSet(table, offset + length);
    if (type === SMBIOS_END_OF_TABLE) break;
    if (structures.length >= MAX_STRUCTURES) {
      throw new SyntaxError(`SMBIOS table holds more than ${MAX_STRUCTURES} structures`);
    }
    structures.push({
      type,
      handle,
      length,
      data: table.slice(offset, offset + length),
      strings,
    });
    offset = end;
  }
  return structures;
}

/** Reads a string set starting at `start`; returns the strings and the offset after it. */
function readStringSet(table: Uint8Array, start: number): { strings: string[]; end: number } {
  const strings: string[] = [];
  let offset = start;
  // An empty string set is two NUL bytes.
  if (table[offset] === 0) {
    if (offset + 1 >= table.length) {
      throw new SyntaxError(`SMBIOS string set at offset ${start} is not terminated`);
    }
    if (table[offset + 1] !== 0) {
      throw new SyntaxError(`SMBIOS string set at offset ${start} starts with an empty string`);
    }
    return { strings, end: offset + 2 };
  }
  while (true) {
    const nul = table.indexOf(0, offset);
    if (nul === -1) {
      throw new SyntaxError(`SMBIOS string set at offset ${start} is not terminated`);
    }
    strings.push(printable(table.subarray(offset, nul)));
    offset = nul + 1;
    if (offset >= table.length) {
      throw new SyntaxError(`SMBIOS string set at offset ${start} is not terminated`);
    }
    if (table[offset] === 0) return { strings, end: offset + 1 };
  }
}

/** Bytes to text the way dmidecode filters them: anything outside printable ASCII becomes `.`. */
function printable(bytes: Uint8Array): string {
  let out = "";
  const n = Math.min(bytes.length, MAX_STRING_CHARS);
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
  }
  return out;
}

/** SMBIOS 3.x memory type codes (type 17 offset 0x12) → names as dmidecode prints them. */
const MEMORY_TYPES: Record<number, string> = {
  0x01: "Other",
  0x03: "DRAM",
  0x04: "EDRAM",
  0x05: "VRAM",
  0x06: "SRAM",
  0x07: "RAM",
  0x08: "ROM",
  0x09: "Flash",
  0x0a: "EEPROM",
  0x0b: "FEPROM",
  0x0c: "EPROM",
  0x0d: "CDRAM",
  0x0e: "3DRAM",
  0x0f: "SDRAM",
  0x10: "SGRAM",
  0x11: "RDRAM",
  0x12: "DDR",
  0x13: "DDR2",
  0x14: "DDR2 FB-DIMM",
  0x18: "DDR3",
  0x19: "FBD2",
  0x1a: "DDR4",
  0x1b: "LPDDR",
  0x1c: "LPDDR2",
  0x1d: "LPDDR3",
  0x1e: "LPDDR4",
  0x1f: "Logical non-volatile device",
  0x20: "HBM",
  0x21: "HBM2",
  0x22: "DDR5",
  0x23: "LPDDR5",
  0x24: "HBM3",
};

function byteAt(s: SmbiosStructure, offset: number): number | null {
  return offset + 1 <= s.length ? s.data[offset]! : null;
}

function wordAt(s: SmbiosStructure, offset: number): number | null {
  return offset + 2 <= s.length ? s.data[offset]! | (s.data[offset + 1]! << 8) : null;
}

function dwordAt(s: SmbiosStructure, offset: number): number | null {
  if (offset + 4 > s.length) return null;
  const d = s.data;
  return (d[offset]! | (d[offset + 1]! << 8) | (d[offset + 2]! << 16)) + d[offset + 3]! * 2 ** 24;
}

/**
 * The string a field references (1-based string number at `offset`), trimmed; `null` for
 * string number 0, a number past the string set, a field the structure is too short to hold,
 * or a blank string.
 *
 * @param s the structure
 * @param offset offset of the string-number byte in the formatted area
 * @returns the string, or `null`
 */
export function structureString(s: SmbiosStructure, offset: number): string | null {
  const index = byteAt(s, offset);
  if (index === null || index === 0) return null;
  const value = s.strings[index - 1]?.trim();
  return value === undefined || value === "" ? null : value;
}

/** Size in MiB from the Size word (0x0C) and Extended Size dword (0x1C). */
function sizeMb(s: SmbiosStructure): number | null {
  const size = wordAt(s, 0x0c);
  if (size === null || size === 0 || size === 0xffff) return null;
  if (size === 0x7fff) {
    const extended = dwordAt(s, 0x1c);
    if (extended === null) return null;
    const mb = extended % 2 ** 31; // bits 30:0, MiB
    return mb === 0 ? null : mb;
  }
  // Bit 15 set: the unit is KiB instead of MiB.
  return size & 0x8000 ? (size & 0x7fff) / 1024 : size;
}

/** A speed from its word and (3.3+) extended dword: 0 unknown; 0xFFFF selects the extended. */
function speed(s: SmbiosStructure, wordOffset: number, extendedOffset: number): number | null {
  const word = wordAt(s, wordOffset);
  if (word === null || word === 0) return null;
  if (word !== 0xffff) return word;
  const extended = dwordAt(s, extendedOffset);
  if (extended === null) return null;
  const mts = extended % 2 ** 31; // bits 30:0, MT/s
  return mts === 0 ? null : mts;
}

/**
 * Decodes a memory device (SMBIOS type 17). Field offsets: Size 0x0C (2.1), Device Locator
 * 0x10, Bank Locator 0x11, Memory Type 0x12, Speed 0x15 (2.3), Manufacturer 0x17, Part Number
 * 0x1A, Attributes 0x1B (2.6), Extended Size 0x1C and Configured Memory Speed 0x20 (2.7),
 * Extended Speed 0x54 and Extended Configured Memory Speed 0x58 (3.3). Fields past the
 * structure's length are `null`.
 *
 * @param s a decoded structure
 * @returns the device, or `null` when `s` is not type 17 or is shorter than the 2.1 layout
 */
export function decodeMemoryDevice(s: SmbiosStructure): MemoryDevice | null {
  if (s.type !== SMBIOS_MEMORY_DEVICE || s.length < 0x15) return null;
  const typeCode = byteAt(s, 0x12);
  const attributes = byteAt(s, 0x1b);
  const rank = attributes === null ? 0 : attributes & 0x0f;
  return {
    locator: structureString(s, 0x10),
    bank_locator: structureString(s, 0x11),
    size_mb: sizeMb(s),
    type: typeCode === null ? null : MEMORY_TYPES[typeCode] ?? null,
    speed_mts: speed(s, 0x15, 0x54),
    configured_mts: speed(s, 0x20, 0x58),
    manufacturer: structureString(s, 0x17),
    part_number: structureString(s, 0x1a),
    rank: rank === 0 ? null : rank,
  };
}
