/**
 * What `probe` asks over loopback HTTP (issue 15 items 1, 3 and 5): RigForge's control receiver
 * (`GET /status`, doctor check 9) and XMRig's summary (running version, 15 min hashrate), with
 * real HTTP servers standing in for both. Expected values come from the fixture files served.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { fetchControlStatus, loopbackOrigin } from "../src/probe/loopback.ts";
import { rigforgeBlock, tuneSection } from "../src/merge/block.ts";
import { sourceOf } from "../src/merge/source.ts";
import { parsePin } from "../src/probe/provenance.ts";
import { metricsBody } from "../src/metrics.ts";
import { fetchXmrig } from "../src/xmrig.ts";
import { FIXTURE_NOW_MS, ROOTS_DIR } from "./_context.ts";
import { fixtureRigContext, fixtureSnapshot, XMRIG_DIR, xmrigBody } from "./_snapshot.ts";
import { controlReceiverProbe } from "../src/probe/control_receiver.ts";
import { locate } from "../src/rigforge/locate.ts";

const STATUS = await Deno.readTextFile(
  join(ROOTS_DIR, "zen4/var/lib/rigforge-control/status.json"),
);
const RIGFORGE = join(XMRIG_DIR, "../rigforge");
const CONFIG = await Deno.readTextFile(join(RIGFORGE, "zen4/config.json"));
const TOKEN = /"ACCESS_TOKEN": "([^"]+)"/.exec(CONFIG)![1]!;
const PIN = parsePin(await Deno.readTextFile(join(RIGFORGE, "zen4/rigforge.sh")));
const NOW = FIXTURE_NOW_MS + 5000;

/** A stand-in receiver: answers per `mode`, counts requests, records the bearer it saw. */
function receiver(mode: { status: number; body: string } | "hang") {
  const seen: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    seen.push(req.headers.get("authorization"));
    if (new URL(req.url).pathname !== "/status") return new Response("", { status: 404 });
    if (mode === "hang") await new Promise((r) => setTimeout(r, 2500));
    if (mode === "hang") return new Response("late");
    return new Response(mode.body, { status: mode.status });
  });
  return { server, seen, port: server.addr.port };
}

Deno.test("control receiver: 200 mirrors the last change, 503 answers, 401 and silence do not", async () => {
  const cases: [{ status: number; body: string } | "hang", boolean, string | null][] = [
    [{ status: 200, body: STATUS }, true, null],
    [{ status: 503, body: '{"status": "no change applied yet"}' }, true, null],
    [{ status: 401, body: '{"error": "unauthorized"}' }, false, "http 401"],
    ["hang", false, "timeout"],
  ];
  const expected = JSON.parse(STATUS);
  for (const [mode, answers, error] of cases) {
    const r = receiver(mode);
    try {
      const ctx = await fixtureRigContext("zen4", {
        controlStatus: (port) =>
          fetchControlStatus(`http://127.0.0.1:${r.port}`, TOKEN, 1000)
            .then((reply) => (assertEquals(port, 8082), reply)),
      });
      const record = await controlReceiverProbe.collect(ctx);
      assertEquals([record.answers, record.error], [answers, error], JSON.stringify(mode));
      assertEquals(r.seen, [`Bearer ${TOKEN}`], "the token goes to the receiver, once");
      assert(!JSON.stringify(record).includes(TOKEN), "never kept");
      if (mode !== "hang" && mode.status === 200) {
        assertEquals(record.last, {
          change_id: expected.change_id,
          status: expected.status,
          applied_at: expected.applied_at,
        });
      } else assertEquals(record.last, null);
      // Served read-only in the block.
      const snapshot = await fixtureSnapshot("zen4", {
        controlStatus: () => fetchControlStatus(`http://127.0.0.1:${r.port}`, TOKEN, 1000),
      });
      const block = rigforgeBlock(snapshot, null, NOW);
      const served = block["control_receiver"] as Record<string, unknown>;
      assertEquals(served["answers"], answers);
      assertEquals(served["last"], record.last);
      assert(!JSON.stringify(block).includes(TOKEN));
    } finally {
      await r.server.shutdown();
    }
  }
});

Deno.test("control disabled or no RigForge: nobody is asked, the block says null", async () => {
  let asked = 0;
  const ctx = await fixtureRigContext("epyc", {
    controlStatus: () => {
      asked++;
      return Promise.resolve({ error: "no answer" });
    },
  });
  const record = await controlReceiverProbe.collect(ctx);
  assertEquals([asked, record.enabled, record.answers], [0, false, null]);
  const snapshot = await fixtureSnapshot("epyc");
  assertEquals(rigforgeBlock(snapshot, null, NOW)["control_receiver"], null);
});

Deno.test("the probe sends RigForge's token to loopback only", () => {
  assertEquals(loopbackOrigin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  assertEquals(loopbackOrigin("http://[::1]:8080/x?y"), "http://[::1]:8080");
  assertEquals(loopbackOrigin("http://localhost:8080"), "http://localhost:8080");
  for (const bad of ["http://192.168.1.10:8080", "http://127.example:8080", "file:///x", "x"]) {
    assertEquals(loopbackOrigin(bad), null, bad);
  }
});

/** A stand-in XMRig serving one capture for `/2/summary` (token checked). */
function xmrig(body: string) {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      req.headers.get("authorization") === `Bearer ${TOKEN}`
        ? new Response(body)
        : new Response('{"status":401}', { status: 401 }),
  );
}

Deno.test("xmrig_version is RigForge's pin; the running version and a mismatch beside it", async () => {
  for (const version of ["6.26.0", "6.22.2"]) {
    const capture = xmrigBody("summary-v2-mining.json").replace(
      /"version": "[^"]+"/,
      `"version": "${version}"`,
    );
    const server = xmrig(capture);
    try {
      const url = `http://127.0.0.1:${server.addr.port}`;
      const snapshot = await fixtureSnapshot("zen4", {
        xmrigSummary: () => fetchXmrig(url, "/2/summary", TOKEN, { timeoutMs: 3000 }),
      });
      assertEquals(snapshot.records.xmrig_api?.version, version);
      const block = rigforgeBlock(snapshot, { ok: true, text: capture }, NOW);
      assertEquals(block["xmrig_version"], PIN.version);
      assertEquals(block["xmrig_version_running"], `v${version}`);
      assertEquals(block["xmrig_version_mismatch"], `v${version}` !== PIN.version);
      assertEquals(block["xmrig_build_matches_pin"], true);
    } finally {
      await server.shutdown();
    }
  }
});

Deno.test("vs_best: XMRig's 15 min average against the tune's best, in the block and /tune", async () => {
  // The epyc rig's last tune targets perf (its autotune is off, no power data).
  const tuneLog = JSON.parse(
    await Deno.readTextFile(join(RIGFORGE, "epyc/data/worker/rigforge-tune.json")),
  );
  assertEquals(tuneLog.target, "perf");
  const best: number = tuneLog.best.hashrate;
  const live = Math.round(best * 0.92 * 10) / 10;
  const capture = xmrigBody("summary-v2-mining.json").replace(
    /"total": \[[^\]]*\]/,
    `"total": [${live + 50}, ${live + 20}, ${live}]`,
  );
  const server = xmrig(capture);
  try {
    const url = `http://127.0.0.1:${server.addr.port}`;
    const snapshot = await fixtureSnapshot("epyc", {
      xmrigSummary: () => fetchXmrig(url, "/2/summary", TOKEN, { timeoutMs: 3000 }),
    });
    const gap = {
      basis: "hashrate",
      window: "15m",
      live,
      best,
      pct_of_best: Math.round(live / best * 1000) / 10,
      pct_below_best: Math.round((100 - Math.round(live / best * 1000) / 10) * 10) / 10,
    };
    assertEquals(gap.pct_below_best, 8, "the feature request's example");
    const block = rigforgeBlock(snapshot, { ok: true, text: capture }, NOW);
    assertEquals(
      (block["tune"] as Record<string, unknown>)["vs_best"],
      gap,
      JSON.stringify([block["reasons"], snapshot.records.xmrig_api]),
    );
    assertEquals(tuneSection(sourceOf(snapshot, NOW), "")["vs_best"], gap);
    const metrics = metricsBody({ ok: true, text: capture }, snapshot, NOW, { format: "text" });
    const line = metrics.body.split("\n")
      .find((l) => l.startsWith('rigforge_tune_performance_ratio{basis="hashrate"} '));
    assert(line !== undefined, "the gauge is there");
    assertEquals(Number(line.split(" ")[1]), live / best);
  } finally {
    await server.shutdown();
  }
  // XMRig down: cannot tell, with the reason.
  const down = await fixtureSnapshot("epyc", {
    xmrigSummary: () => Promise.resolve({ ok: false, error: "connection refused" }),
  });
  const block = rigforgeBlock(down, null, NOW);
  assertEquals((block["tune"] as Record<string, unknown>)["vs_best"], null);
  assertEquals((block["reasons"] as Record<string, unknown>)["tune.vs_best"], "not-running");
});

Deno.test("vs_best: a tune log whose best is 0 or negative is corrupt, not absent", async () => {
  for (const bad of [0, -5]) {
    const home = await Deno.makeTempDir();
    try {
      const src = join(RIGFORGE, "epyc");
      const copy = new Deno.Command("cp", { args: ["-a", `${src}/.`, home] });
      assertEquals((await copy.output()).code, 0);
      const path = join(home, "data/worker/rigforge-tune.json");
      const log = JSON.parse(await Deno.readTextFile(path));
      assertEquals(log.target, "perf");
      log.best.hashrate = bad;
      await Deno.writeTextFile(path, JSON.stringify(log));
      const located = await locate(home);
      const snapshot = await fixtureSnapshot("epyc", {
        rigforge: located.paths,
        config: located.config,
        xmrigSummary: () =>
          Promise.resolve({ ok: true, text: xmrigBody("summary-v2-mining.json") }),
      });
      const block = rigforgeBlock(snapshot, null, NOW);
      assertEquals((block["tune"] as Record<string, unknown>)["vs_best"], null);
      // A tune log is there; its best cannot be compared with.
      assertEquals((block["reasons"] as Record<string, unknown>)["tune.vs_best"], "corrupt");
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  }
});
