/**
 * Shared test helper: SMBIOS bytes built by hand, with explicit offsets (so the decoder is not
 * checked against an encoder sharing its assumptions), and `dmidecode --dump-bin` images.
 *
 * @module
 */

/**
 * One SMBIOS structure: a zeroed formatted area of `length` bytes (header filled in) with
 * `fields` poked in at their offsets (bytes past `length` are dropped: an older layout does
 * not carry those fields), then the string set.
 *
 * @param type structure type
 * @param length formatted area length, header included
 * @param fields offset → bytes
 * @param strings the string set (ASCII)
 * @param handle structure handle
 * @returns the bytes
 */
export function struct(
  type: number,
  length: number,
  fields: Record<number, number[]>,
  strings: string[] = [],
  handle = 0x1234,
): number[] {
  const area = new Array<number>(length).fill(0);
  area[0] = type;
  area[1] = length;
  area[2] = handle & 0xff;
  area[3] = handle >> 8;
  for (const [offset, bytes] of Object.entries(fields)) {
    bytes.forEach((b, i) => {
      if (Number(offset) + i < length) area[Number(offset) + i] = b;
    });
  }
  const set = strings.length === 0
    ? [0, 0]
    : [...strings.flatMap((s) => [...s].map((c) => c.charCodeAt(0)).concat(0)), 0];
  return [...area, ...set];
}

/**
 * A little-endian WORD.
 *
 * @param n the value
 * @returns two bytes
 */
export function w(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff];
}

/**
 * A little-endian DWORD.
 *
 * @param n the value (0 to 2^32 - 1)
 * @returns four bytes
 */
export function dw(n: number): number[] {
  return [...w(n & 0xffff), ...w(Math.floor(n / 0x10000))];
}

/** The end-of-table structure (type 127). */
export const END: number[] = struct(127, 4, {}, [], 0xfeff);

/**
 * Concatenates structures into a table.
 *
 * @param parts structures
 * @returns the table
 */
export function table(...parts: number[][]): Uint8Array {
  return new Uint8Array(parts.flat());
}

function checksum(bytes: number[], at: number, from = 0, to = bytes.length): void {
  bytes[at] = 0;
  const sum = bytes.slice(from, to).reduce((a, b) => a + b, 0);
  bytes[at] = (0x100 - (sum & 0xff)) & 0xff;
}

/**
 * A `dmidecode --dump-bin` image: the entry point at offset 0, rewritten to say the table is
 * at offset 0x20, and the table at 0x20. SMBIOS 3 versions get a 64-bit `_SM3_` entry point;
 * 2.x versions a 32-bit `_SM_`/`_DMI_` one.
 *
 * @param version [major, minor]
 * @param dmi the structure table
 * @returns the image
 */
export function dumpBin(version: [number, number], dmi: Uint8Array): Uint8Array {
  const [major, minor] = version;
  let entry: number[];
  if (major >= 3) {
    entry = [..."_SM3_"].map((c) => c.charCodeAt(0));
    entry.push(0, 0x18, major, minor, 0, 0x01, 0, ...dw(dmi.length), ...dw(0x20), ...dw(0));
    checksum(entry, 5);
  } else {
    const count = countStructures(dmi);
    entry = [..."_SM_"].map((c) => c.charCodeAt(0));
    entry.push(0, 0x1f, major, minor, ...w(0x100), 0, 0, 0, 0, 0, 0);
    entry.push(...[..."_DMI_"].map((c) => c.charCodeAt(0)), 0);
    entry.push(...w(dmi.length), ...dw(0x20), ...w(count), (major << 4) | minor);
    checksum(entry, 0x15, 0x10, 0x1f);
    checksum(entry, 4, 0, 0x1f);
  }
  const out = new Uint8Array(0x20 + dmi.length);
  out.set(entry, 0);
  out.set(dmi, 0x20);
  return out;
}

function countStructures(dmi: Uint8Array): number {
  let count = 0;
  let offset = 0;
  while (offset + 4 <= dmi.length) {
    count++;
    let i = offset + dmi[offset + 1]!;
    while (i + 1 < dmi.length && (dmi[i] !== 0 || dmi[i + 1] !== 0)) i++;
    offset = i + 2;
  }
  return count;
}
