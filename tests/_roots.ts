/**
 * Shared test helper: a writable, complete copy of a fixture machine root.
 *
 * Some machine files cannot live in git as they are. `/dev/cpu/N/msr` is read at offsets equal
 * to the register number (AMD's are near 0xc0011020, about 3.2 GB), so the fixture stores the
 * registers as `dev/cpu/N/msr.json` (`{"0xc0011020": "0x0004400000000000", ...}`) and
 * {@link materialiseRoot} turns each into a sparse `dev/cpu/N/msr` image file: every value is
 * written as 8 little-endian bytes at `msrOffset(register, true)` (register × 8, because
 * adjacent registers would overlap at offset = register; the MSR probe reads a regular file
 * that way), and the JSON file is removed.
 *
 * @module
 */

import { closeSync, openSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve, sep } from "node:path";
import { msrOffset } from "../src/probe/msr_registers.ts";
import { ROOTS_DIR } from "./_context.ts";

const PREFIX = "rigforge-root-";

/**
 * Copies `tests/fixtures/roots/<profile>` into a fresh temporary directory and materialises
 * its `dev/cpu/N/msr.json` files as sparse `dev/cpu/N/msr` files. Symbolic links are copied as
 * links. Call {@link cleanupRoot} when done.
 *
 * @param profile a fixture root's directory name (`zen4`, `epyc`, ...) or an absolute path
 * @returns the absolute path of the copy
 * @throws {Deno.errors.NotFound} when the profile does not exist
 * @throws {SyntaxError} when an `msr.json` is not an object of hex register → hex value
 */
export async function materialiseRoot(profile: string): Promise<string> {
  const source = profile.startsWith("/") ? profile : join(ROOTS_DIR, profile);
  if (!(await Deno.stat(source)).isDirectory) {
    throw new Deno.errors.NotFound(`fixture root ${source} is not a directory`);
  }
  const target = await Deno.makeTempDir({ prefix: `${PREFIX}${basename(source)}-` });
  try {
    await copyTree(source, target);
    await materialiseMsr(target);
  } catch (error) {
    await Deno.remove(target, { recursive: true });
    throw error;
  }
  return target;
}

/**
 * Removes a copy made by {@link materialiseRoot}. Refuses any other path.
 *
 * @param path the path {@link materialiseRoot} returned
 * @throws {RangeError} when `path` is not a materialised root in the temporary directory
 */
export async function cleanupRoot(path: string): Promise<void> {
  const full = resolve(path);
  const inTmp = full.startsWith(resolve(Deno.env.get("TMPDIR") ?? tmpdir()) + sep) ||
    full.startsWith(resolve(tmpdir()) + sep);
  if (!inTmp || !basename(full).startsWith(PREFIX)) {
    throw new RangeError(`not a materialised fixture root: ${path}`);
  }
  await Deno.remove(full, { recursive: true });
}

async function copyTree(from: string, to: string): Promise<void> {
  for await (const entry of Deno.readDir(from)) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isSymlink) {
      await Deno.symlink(await Deno.readLink(src), dst);
    } else if (entry.isDirectory) {
      await Deno.mkdir(dst);
      await copyTree(src, dst);
    } else if (entry.isFile) {
      await Deno.copyFile(src, dst);
    }
  }
}

async function materialiseMsr(root: string): Promise<void> {
  const cpuDir = join(root, "dev", "cpu");
  let cpus: string[];
  try {
    cpus = [];
    for await (const entry of Deno.readDir(cpuDir)) {
      if (entry.isDirectory && /^\d+$/.test(entry.name)) cpus.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const cpu of cpus) {
    const json = join(cpuDir, cpu, "msr.json");
    let text: string;
    try {
      text = await Deno.readTextFile(json);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    writeSparse(join(cpuDir, cpu, "msr"), parseRegisters(text, json));
    await Deno.remove(json);
  }
}

function parseRegisters(text: string, where: string): [bigint, bigint][] {
  const raw: unknown = JSON.parse(text);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new SyntaxError(`${where}: expected an object of register → value`);
  }
  return Object.entries(raw).map(([reg, value]) => {
    if (!/^0x[0-9a-f]{1,8}$/i.test(reg) || typeof value !== "string") {
      throw new SyntaxError(`${where}: bad register ${reg}`);
    }
    if (!/^0x[0-9a-f]{1,16}$/i.test(value)) {
      throw new SyntaxError(`${where}: bad value for ${reg}: ${value}`);
    }
    return [BigInt(reg), BigInt(value)];
  });
}

/**
 * Writes an MSR image file: each value as 8 little-endian bytes at `msrOffset(register, true)`
 * (sparse), the way {@link materialiseRoot} turns `msr.json` into `dev/cpu/N/msr`.
 *
 * @param path the image file (replaced)
 * @param registers register → value pairs
 */
export function writeSparse(path: string, registers: [bigint, bigint][]): void {
  const fd = openSync(path, "w", 0o600);
  try {
    const buffer = new Uint8Array(8);
    const view = new DataView(buffer.buffer);
    for (const [reg, value] of registers) {
      view.setBigUint64(0, value, true);
      writeSync(fd, buffer, 0, 8, Number(msrOffset(reg, true)));
    }
  } finally {
    closeSync(fd);
  }
}
