/**
 * Live test against the real XMRig (6.16.0, `tests/_xmrig_real.ts`): `serve` in front of XMRig
 * running its offline benchmark (so the hashrate is live and `results.diff_current` /
 * `connection.diff` carry 2^64-1), through a recording TCP relay that keeps every byte XMRig
 * sent. The test checks that `serve`'s `/2/summary` is one of those XMRig bodies byte for byte
 * with `generated_at` and `rigforge` appended, and that every path of the `rigforge` block has
 * the type `docs/api.md` documents for it (and that nothing in it is undocumented).
 *
 * Where the npm registry cannot be reached to fetch XMRig, the test is registered as ignored
 * with the reason in its name (and on stderr); a wrong hash fails the file.
 *
 * @module
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { locate } from "../src/rigforge/locate.ts";
import { REPO_ROOT } from "./_cli.ts";
import { type Lossless, parseLossless } from "./_lossless.ts";
import { startServe, writeFreshSnapshot } from "./_serve.ts";
import { RIGFORGE_DIR } from "./_snapshot.ts";
import { waitFor } from "./_wait.ts";
import { realXmrigBinary, startRealXmrig } from "./_xmrig_real.ts";

const NAME = "serve in front of the real XMRig (--bench): XMRig's bytes verbatim, rigforge types";
const binary = await realXmrigBinary();

/** A TCP relay to `upstreamPort` that records every byte the upstream sends, per connection. */
function recordingRelay(upstreamPort: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const replies: Uint8Array[][] = [];
  const pumps: Promise<void>[] = [];
  const pump = async (from: Deno.Conn, to: Deno.Conn, record: Uint8Array[] | null) => {
    const buffer = new Uint8Array(65536);
    try {
      for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
        record?.push(buffer.slice(0, n));
        await to.write(buffer.subarray(0, n));
      }
    } catch {
      // one side hung up first: the other side's pump ends the exchange
    } finally {
      try {
        to.closeWrite();
      } catch {
        // already closed
      }
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
      const record: Uint8Array[] = [];
      replies.push(record);
      pumps.push(
        Promise.all([pump(client, upstream, null), pump(upstream, client, record)]).then(() => {
          client.close();
          upstream.close();
        }),
      );
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    /** @returns each recorded reply as text */
    replies: () => replies.map((chunks) => new TextDecoder().decode(concat(chunks))),
    async close() {
      listener.close();
      await accepting.catch(() => {});
      await Promise.all(pumps);
    },
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) (out.set(c, at), at += c.length);
  return out;
}

/** Documented type words of docs/api.md's `rigforge` tables. */
type TypeWord = "string" | "number" | "int" | "bool" | "object" | "null" | `${string}[]`;

/**
 * The `rigforge` block's documented paths and types, read from docs/api.md's section "The
 * `rigforge` block, field by field": `path` (relative to `rigforge`; `generated_at` is at the top
 * level of the body) → the allowed type words.
 */
function documentedTypes(): Map<string, TypeWord[]> {
  const doc = Deno.readTextFileSync(join(REPO_ROOT, "docs", "api.md"));
  const start = doc.indexOf("## The `rigforge` block, field by field");
  const end = doc.indexOf("\n## ", start + 1);
  assert(start >= 0 && end > start, "docs/api.md has the rigforge field section");
  const types = new Map<string, TypeWord[]>();
  for (const line of doc.slice(start, end).split("\n")) {
    if (!line.startsWith("| `")) continue;
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim().replaceAll("\\|", "|"));
    const pathCell = cells[1]!;
    const typeCell = cells[2]!;
    if (!/^(string|number|int|bool|object|null)\b/.test(typeCell)) continue; // not a type table
    const paths: string[] = [];
    for (const m of pathCell.matchAll(/`([^`]+)`/g)) {
      const p = m[1]!;
      paths.push(p.startsWith(".") ? paths[0]!.replace(/\.[^.]+$/, p) : p);
    }
    // `int, string | null` for two paths: one type each, the trailing `| null` for both
    const perPath = typeCell.split(",").map((t) => t.trim());
    const nullable = / \| null$/.test(typeCell);
    paths.forEach((p, i) => {
      const words = (perPath.length === paths.length ? perPath[i]! : typeCell)
        .split("|").map((w) => w.trim());
      if (nullable && !words.includes("null")) words.push("null");
      for (const w of words) {
        if (!/^(string|number|int|bool|object|null)(\[\])?$/.test(w)) {
          throw new Error(`docs/api.md: unknown type ${JSON.stringify(w)} for ${p}`);
        }
      }
      types.set(p, words as TypeWord[]);
    });
  }
  return types;
}

function typeOk(value: Lossless, word: TypeWord): boolean {
  if (word.endsWith("[]")) {
    return Array.isArray(value) && value.every((v) => typeOk(v, word.slice(0, -2) as TypeWord));
  }
  const isNum = value !== null && typeof value === "object" && "$num" in value &&
    typeof value.$num === "string";
  switch (word) {
    case "null":
      return value === null;
    case "string":
      return typeof value === "string";
    case "bool":
      return typeof value === "boolean";
    case "number":
      return isNum;
    case "int":
      return isNum && /^-?\d+$/.test((value as { $num: string }).$num);
    case "object":
      return asObject(value) !== null;
  }
  return false;
}

/** A JSON object of the lossless tree (not a number, not an array), or `null`. */
function asObject(value: Lossless | undefined): { [key: string]: Lossless } | null {
  if (value === null || value === undefined || typeof value !== "object") return null;
  if (Array.isArray(value) || ("$num" in value && typeof value.$num === "string")) return null;
  return value as { [key: string]: Lossless };
}

/** Every mismatch between the block and the documentation, as readable lines. */
function typeProblems(block: Lossless, docs: Map<string, TypeWord[]>): string[] {
  const problems: string[] = [];
  const walk = (value: Lossless, path: string) => {
    const words = docs.get(path);
    if (words !== undefined) {
      if (!words.some((w) => typeOk(value, w))) {
        problems.push(`${path}: ${JSON.stringify(value)} is not ${words.join(" | ")}`);
      }
      if (!words.includes("object") || path === "reasons") return; // opaque beyond this
    }
    const object = asObject(value);
    const below = [...docs.keys()].some((p) => p.startsWith(`${path}.`));
    if (object !== null && (path === "" || below)) {
      for (const [key, child] of Object.entries(object)) {
        walk(child, path === "" ? key : `${path}.${key}`);
      }
    } else if (words === undefined) {
      problems.push(`${path}: not documented in docs/api.md`);
    }
  };
  walk(block, "");
  for (const [path, words] of docs) {
    if (path === "generated_at" || path.startsWith("control") || path.startsWith("watchdog.")) {
      continue; // beside the block / present only with a control outcome or an enabled watchdog
    }
    const value = path.split(".").reduce<Lossless | undefined>(
      (v, k) => asObject(v)?.[k],
      block,
    );
    if (value === undefined && !words.includes("null")) problems.push(`${path}: missing`);
  }
  return problems;
}

if (!binary.ok) {
  Deno.stderr.writeSync(new TextEncoder().encode(`xmrig_real_test: skipped: ${binary.skip}\n`));
  Deno.test({ name: `${NAME} (skipped: ${binary.skip})`, ignore: true, fn() {} });
} else {
  const path = binary.path;
  Deno.test(NAME, async () => {
    const homeFrom = join(RIGFORGE_DIR, "zen4");
    const token = (await locate(homeFrom)).config?.accessToken;
    assert(token, "the zen4 fixture has an ACCESS_TOKEN (serve sends it to XMRig)");
    const xmrig = await startRealXmrig(path, { token, mode: "bench", randomx: "light" });
    const relay = recordingRelay(xmrig.port);
    const scratch = await Deno.makeTempDir({ prefix: "rf-xmrig-live-" });
    const snapshot = join(scratch, "snapshot.json");
    await writeFreshSnapshot(snapshot, "zen4");
    const serve = await startServe({
      homeFrom,
      snapshot,
      xmrig: `http://127.0.0.1:${relay.port}`,
      args: ["--rate", "0", "--global-rate", "0", "--embedded-probe", "off"],
    });
    try {
      // XMRig's 10 s hashrate appears once its benchmark has hashed for 10 s.
      const body = await waitFor("a live hashrate in serve's /2/summary", async () => {
        const reply = await fetch(`http://127.0.0.1:${serve.port}/2/summary`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const text = await reply.text();
        if (reply.status !== 200) throw new Error(`status ${reply.status}: ${text.slice(0, 200)}`);
        const rate = /"total": \[([\d.]+|null),/.exec(text)?.[1];
        return rate !== undefined && rate !== "null" && Number(rate) > 0 ? text : null;
      }, { limitMs: 45_000, everyMs: 500 });

      // serve's body is one of XMRig's bodies up to its closing "\n}", then its own two keys.
      const bodies = relay.replies()
        .filter((r) => r.startsWith("HTTP/1.1 200 OK\r\n"))
        .map((r) => r.slice(r.indexOf("\r\n\r\n") + 4));
      assert(bodies.length > 0, "serve fetched XMRig through the relay");
      const source = bodies.find((b) =>
        b.endsWith("\n}") && body.startsWith(`${b.slice(0, -2)},\n    "generated_at": `)
      );
      assert(source !== undefined, `serve's body does not start with any of XMRig's bodies`);
      const parsed = parseLossless(body) as Record<string, Lossless>;
      const xmrigOnly = parseLossless(source) as Record<string, Lossless>;
      assertEquals(Object.keys(parsed), [...Object.keys(xmrigOnly), "generated_at", "rigforge"]);
      for (const key of Object.keys(xmrigOnly)) assertEquals(parsed[key], xmrigOnly[key]);
      // the live 64-bit fields, digit for digit
      const results = parsed["results"] as Record<string, Lossless>;
      const connection = parsed["connection"] as Record<string, Lossless>;
      assertEquals(results["diff_current"], { $num: "18446744073709551615" });
      assertEquals(connection["diff"], { $num: "18446744073709551615" });
      assertEquals(connection["pool"], "benchmark:3333");

      // every rigforge path has its documented type, nothing is undocumented
      const docs = documentedTypes();
      assert(docs.size > 50, `docs/api.md lists ${docs.size} rigforge paths`);
      const block = parsed["rigforge"]!;
      assertEquals(typeProblems(block, docs), []);
      assert(typeOk(parsed["generated_at"]!, "string"), "generated_at is a string");
      // and the live values went where they belong
      const rig = block as Record<string, Lossless>;
      assertEquals(rig["xmrig_api"], "ok");
      // the running XMRig's own report, beside RigForge's pin (the fixture home pins another
      // release than the 6.16.0 running here, so the mismatch must show)
      assertEquals(rig["xmrig_version_running"], `v${(xmrigOnly["version"] as string)}`);
      const pinned = /^XMRIG_VERSION="?(?:\$\{XMRIG_VERSION:-)?(v?[0-9][^}"\s]*)/m.exec(
        await Deno.readTextFile(join(homeFrom, "rigforge.sh")),
      )?.[1];
      assert(pinned !== undefined, "the fixture home pins a release");
      assertEquals(rig["xmrig_version"], pinned.startsWith("v") ? pinned : `v${pinned}`);
      assertEquals(
        rig["xmrig_version_mismatch"],
        rig["xmrig_version"] !== rig["xmrig_version_running"],
      );
      assert(!body.includes(token), "the token is not in the body");
    } finally {
      const stopped = await serve.stop();
      await relay.close();
      await xmrig.stop();
      await Deno.remove(scratch, { recursive: true });
      assertEquals(stopped.code, 0, stopped.stderr);
    }
  });
}
