/**
 * Hashrate and power over the same 60 s (issue 13 item 4): the probe pairs XMRig's 60 s
 * average with RAPL energy over the same 60 s, ending at the reading taken right after XMRig's
 * reply. Proven with a copy of the zen4 root whose counters and uptime advance pass by pass
 * (one zone wraps) and a stand-in XMRig whose 60 s hashrate moves with every request.
 */

import { deepEqual as assertEquals } from "node:assert/strict";
import { dirname, join } from "node:path";
import { probeCommand } from "../src/cli/probe.ts";
import { powerProbe } from "../src/probe/power.ts";
import { energyOver, hashrate60, pairPower } from "../src/probe/power_pair.ts";
import { parseXmrigSummary } from "../src/probe/xmrig_api.ts";
import { xmrigBody } from "./_snapshot.ts";
import { rigforgeBlock } from "../src/merge/block.ts";
import { buildSnapshot, countersOf } from "../src/snapshot.ts";
import { fetchXmrig } from "../src/xmrig.ts";
import type { PreviousCounters } from "../src/probe/types.ts";
import { FIXTURE_NOW_MS, fixtureContext, ROOTS_DIR } from "./_context.ts";

const ZONE = join(ROOTS_DIR, "zen4", "sys/class/powercap/intel-rapl:0");
const RANGE = Number((await Deno.readTextFile(join(ZONE, "max_energy_range_uj"))).trim());
const START_UJ = Number((await Deno.readTextFile(join(ZONE, "energy_uj"))).trim());
const START_UPTIME = Number(
  (await Deno.readTextFile(join(ROOTS_DIR, "zen4/proc/uptime"))).split(" ")[0],
);

Deno.test("energyOver interpolates the window's start and corrects a wrap per step", () => {
  const range = 1_000_000_000;
  const end = {
    uptime_s: 175,
    zones: { "z": { energy_uj: 50_000_000, max_energy_range_uj: range } },
  };
  const history = [
    { uptime_s: 100, energy_uj: { z: 900_000_000 } },
    { uptime_s: 110, energy_uj: { z: 950_000_000 } }, // window start (115) inside 110..130
    { uptime_s: 130, energy_uj: { z: 990_000_000 } },
    { uptime_s: 160, energy_uj: { z: 20_000_000 } }, // wrapped
  ];
  // Unwrapped: 950e6 at 110, 990e6 at 130 (2e6 µJ/s), 1020e6 at 160, 1050e6 at 175.
  const atStart = 950e6 + (990e6 - 950e6) * (115 - 110) / (130 - 110);
  assertEquals(energyOver(history, end, 60), (1050e6 - atStart) / 1e6);
  assertEquals(energyOver(history.slice(2), end, 60), "warming-up");
  const noRange = { ...end, zones: { z: { energy_uj: 50e6, max_energy_range_uj: null } } };
  assertEquals(energyOver(history, noRange, 60), "unreadable");
  const gap = [{ uptime_s: 10, energy_uj: { z: 1 } }];
  assertEquals(energyOver(gap, end, 60), "unreadable", "a 165 s step is not trusted");
  const pair = pairPower(1200, history, end);
  const watts = (1050e6 - atStart) / 1e6 / 60;
  assertEquals(pair, {
    window_s: 60,
    hs_window: "60s",
    hashrate_hs: 1200,
    watts: Math.round(watts * 100) / 100,
    hs_per_watt: Math.round(1200 / watts * 100) / 100,
    window_end_uptime_s: 175,
  });
  assertEquals(pairPower("not-running", history, end), "not-running");
});

Deno.test("the probe pairs a moving 60 s hashrate with energy over the same 60 s, across a wrap", async () => {
  // A copy of the zen4 root whose counter and uptime this test advances.
  const root = await Deno.makeTempDir();
  try {
    await copyTree(join(ROOTS_DIR, "zen4"), root);
    const zone = join(root, "sys/class/powercap/intel-rapl:0/energy_uj");
    // The stand-in XMRig: every request answers a higher 60 s average.
    let served = 0;
    const hashrates: number[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      if (req.headers.get("authorization") !== "Bearer tok-pair") {
        return new Response('{"status":401}', { status: 401 });
      }
      served += 1;
      const h60 = 10_000 + 37.5 * served;
      hashrates.push(h60);
      return new Response(JSON.stringify({ hashrate: { total: [h60 + 1, h60, null] } }));
    });
    const url = `http://127.0.0.1:${server.addr.port}`;
    // Package power per 15 s step, W; the counter starts 400 J below its wrap.
    const steps = [80, 95, 110, 125, 140, 155, 170];
    let uj = RANGE - 400e6;
    let uptime = START_UPTIME;
    const readings: { uptime: number; unwrapped: number }[] = [];
    let unwrapped = 0;
    let previous: PreviousCounters | null = null;
    let last: Awaited<ReturnType<typeof powerProbe.collect>> | null = null;
    for (let pass = 0; pass <= steps.length; pass++) {
      if (pass > 0) {
        const joules = steps[pass - 1]! * 15;
        uj = (uj + joules * 1e6) % RANGE;
        unwrapped += joules * 1e6;
        uptime += 15;
      }
      readings.push({ uptime, unwrapped });
      await Deno.writeTextFile(zone, `${uj}\n`);
      await Deno.writeTextFile(join(root, "proc/uptime"), `${uptime.toFixed(2)} 1.00\n`);
      const ctx = fixtureContext(root, {
        previous,
        now: () => FIXTURE_NOW_MS + pass * 15_000,
        xmrigSummary: () => fetchXmrig(url, "/2/summary", "tok-pair", { timeoutMs: 3000 }),
      });
      last = await powerProbe.collect(ctx);
      previous = countersOf({ power: last } as never);
      if (pass < 4) {
        assertEquals(last.paired, null, `pass ${pass}: no reading 60 s old yet`);
        assertEquals(last.reasons["paired"], "warming-up");
      } else {
        // Expected from the counters this test wrote: the last 60 s are the last 4 steps.
        const end = readings[pass]!;
        const begin = readings[pass - 4]!;
        const watts = (end.unwrapped - begin.unwrapped) / 1e6 / 60;
        const h60 = hashrates[pass]!;
        assertEquals(last.paired?.hashrate_hs, h60, `pass ${pass}: this pass's XMRig reply`);
        assertEquals(last.paired?.watts, Math.round(watts * 100) / 100);
        assertEquals(last.paired?.hs_per_watt, Math.round(h60 / watts * 100) / 100);
        assertEquals(last.paired?.window_end_uptime_s, end.uptime);
        assertEquals(
          last.paired?.window_end,
          new Date(FIXTURE_NOW_MS + pass * 15_000)
            .toISOString().replace(".000Z", "Z"),
        );
      }
    }
    assertEquals(uj < RANGE - 400e6, true, "the counter wrapped during the run");
    assertEquals(START_UJ > 0, true);
    // The served block carries the pair, its window and its end.
    const snapshot = buildSnapshot(
      { records: { power: last } as never, failures: {} },
      { now: () => FIXTURE_NOW_MS + steps.length * 15_000 },
      { intervalS: 15, startedMs: FIXTURE_NOW_MS },
    );
    const block = rigforgeBlock(snapshot, null, FIXTURE_NOW_MS + steps.length * 15_000);
    const power = block["power"] as Record<string, unknown>;
    assertEquals(power["hs_per_watt"], last!.paired!.hs_per_watt);
    assertEquals(power["watts"], last!.paired!.watts);
    assertEquals(power["window_s"], 60);
    assertEquals(power["hs_window"], "60s");
    assertEquals(power["window_end"], last!.paired!.window_end);
    // XMRig down: no pair, and no figure from another moment.
    const down = await powerProbe.collect(fixtureContext(root, {
      previous,
      xmrigSummary: () => Promise.resolve({ ok: false, error: "connection refused" }),
    }));
    assertEquals(down.paired, null);
    assertEquals(down.reasons["paired"], "not-running");
    await server.shutdown();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// The CLI reads RAPL counters only as root (as on a rig); elsewhere this one is reported ignored.
Deno.test({
  name: "probe passes carry the readings through the snapshot file and pair from them",
  ignore: Deno.uid() !== 0,
}, async () => {
  const root = await Deno.makeTempDir();
  const out = join(await Deno.makeTempDir(), "snapshot.json");
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(JSON.stringify({ version: "6.26.0", hashrate: { total: [9000, 8800, null] } })),
  );
  try {
    await copyTree(join(ROOTS_DIR, "zen4"), root);
    const zone = join(root, "sys/class/powercap/intel-rapl:0/energy_uj");
    const watts = 100;
    let uj = START_UJ;
    let uptime = START_UPTIME;
    const io = { stdout() {}, stderr() {}, env: () => undefined };
    const argv = ["--root", root, "--out", out, "--xmrig", `http://127.0.0.1:${server.addr.port}`];
    for (let pass = 0; pass < 6; pass++) {
      await Deno.writeTextFile(zone, `${uj}\n`);
      await Deno.writeTextFile(join(root, "proc/uptime"), `${uptime.toFixed(2)} 1.00\n`);
      assertEquals(await probeCommand.run(argv, io), 0);
      uj = (uj + watts * 15e6) % RANGE;
      uptime += 15;
    }
    const snapshot = JSON.parse(await Deno.readTextFile(out));
    const paired = snapshot.records.power.paired;
    assertEquals([paired?.watts, paired?.hashrate_hs], [watts, 8800]);
    assertEquals(paired?.hs_per_watt, 8800 / watts);
    assertEquals(snapshot.counters.energy_history.length, 6);
  } finally {
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(dirname(out), { recursive: true });
  }
});

async function copyTree(from: string, to: string): Promise<void> {
  for await (const entry of Deno.readDir(from)) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory) {
      await Deno.mkdir(target, { recursive: true });
      await copyTree(source, target);
    } else if (entry.isFile) {
      await Deno.copyFile(source, target);
    } else if (entry.isSymlink) {
      await Deno.symlink(await Deno.readLink(source), target);
    }
  }
}

Deno.test("a running XMRig whose 60 s window is still empty is warming up, not stopped", () => {
  // XMRig's own capture 10 s after start: hashrate.total = [10 s value, null, null].
  const text = xmrigBody("summary-v2-warmup.json");
  const total = (JSON.parse(text) as { hashrate: { total: (number | null)[] } }).hashrate.total;
  assertEquals(typeof total[0] === "number" && total[0] > 0 && total[1] === null, true);
  assertEquals(hashrate60({ ok: true, text }), "warming-up");
  // At start every window is 0.0: nothing hashed yet, still warming up (as the xmrig_api record
  // says for the same reply).
  const startup = xmrigBody("summary-v2-startup.json");
  assertEquals(hashrate60({ ok: true, text: startup }), "warming-up");
  assertEquals(
    parseXmrigSummary({ ok: true, text: startup }).reasons["hashrate.60s"],
    "warming-up",
  );
  // Unreachable: not running.
  assertEquals(hashrate60({ ok: false, error: "refused" }), "not-running");
});
