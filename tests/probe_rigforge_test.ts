/**
 * The RigForge-side probes (service, tune, watchdog, provenance, exposure, config_view): pure
 * parsers on tiny inline inputs, and each probe over the fixture RigForge homes
 * (`tests/fixtures/rigforge/<profile>`) and machine roots (`tests/fixtures/roots/<profile>`).
 */

import { deepEqual as assertEquals, equal, notEqual, ok as assert } from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { cp } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fixtureContext } from "./_context.ts";
import { replayRunner } from "../src/probe/command.ts";
import { validateConfig } from "../src/rigforge/config.ts";
import { locate } from "../src/rigforge/locate.ts";
import type { CommandRunner, ProbeContext, Reasons } from "../src/probe/types.ts";
import { parseIpScope, parseIsActive, parseUserValue, serviceProbe } from "../src/probe/service.ts";
import { tuneProbe } from "../src/probe/tune.ts";
import { JOURNAL_TTL_MS, parseDecision, parseJournalDecisions } from "../src/probe/autotune.ts";
import {
  parseEnvironment,
  parseSystemdTimestamp,
  parseTimerShow,
  parseUnitFile,
} from "../src/probe/systemd_unit.ts";
import { parseOverrides, parseTuneLog } from "../src/probe/tune_files.ts";
import { parseStrikes, watchdogProbe } from "../src/probe/watchdog.ts";
import {
  hashesComputedCount,
  parseCommit,
  parseSha256Record,
  parseVersion,
  parseXmrigHttp,
  provenanceProbe,
  sha256File,
} from "../src/probe/provenance.ts";
import { exposureOf, exposureProbe } from "../src/probe/exposure.ts";
import { configViewProbe, parseConfigMeta, parseControlStatus } from "../src/probe/config_view.ts";
import {
  canonicalJson,
  configRevision,
  jqNumber,
  writableConfig,
} from "../src/probe/config_canonical.ts";
import { maskSecrets } from "../src/lib/secrets.ts";

const HOMES = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "rigforge");
const PROFILES = ["zen4", "epyc", "intel", "buildvm"] as const;
const PROBES = [
  serviceProbe,
  tuneProbe,
  watchdogProbe,
  provenanceProbe,
  exposureProbe,
  configViewProbe,
] as const;

/** A fixture context with the profile's RigForge home located and its config read. */
async function rigContext(
  profile: string,
  overrides: Partial<ProbeContext> = {},
  home = join(HOMES, profile),
): Promise<ProbeContext> {
  const located = await locate(home);
  return fixtureContext(profile, { rigforge: located.paths, config: located.config, ...overrides });
}

/** Every probe's record for one context. */
async function allRecords(ctx: ProbeContext): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const probe of PROBES) {
    out[probe.name] = await (probe.collect as (c: ProbeContext) => Promise<unknown>)(ctx);
  }
  return out;
}

/** Dotted paths of every `null` leaf outside arrays and raw passthrough subtrees. */
function nullPaths(value: unknown, prefix = ""): string[] {
  if (value === null) return [prefix];
  if (typeof value !== "object" || Array.isArray(value)) return [];
  const out: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (key === "reasons" || key === "raw" || key === "pools") continue;
    out.push(...nullPaths(v, prefix === "" ? key : `${prefix}.${key}`));
  }
  return out;
}

function assertReasonsComplete(name: string, record: { reasons: Reasons }): void {
  for (const path of nullPaths(record)) {
    assert(path in record.reasons, `${name}: null field ${path} has no reason`);
  }
}

async function tempHome(profile: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "rigforge-home-" });
  await cp(join(HOMES, profile), dir, { recursive: true });
  return dir;
}

async function sha256Of(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

function ms(path: string): number {
  const mtime = Deno.statSync(path).mtime;
  if (mtime === null) throw new Error("no mtime");
  return mtime.getTime();
}

// ------------------------------------------------------------------------------------ service

Deno.test("parseIsActive: one state per unit, garbled lines null, wrong count null", () => {
  assertEquals(parseIsActive("active\ninactive\nfailed\n", 3), ["active", "inactive", "failed"]);
  assertEquals(parseIsActive("active\nACTIVE!\n", 2), ["active", null]);
  equal(parseIsActive("", 3), null);
  equal(parseIsActive("active\n", 3), null);
  equal(parseIsActive("a\nb\nc\nd\n", 3), null);
});

Deno.test("parseUserValue: user, empty, garbage", () => {
  equal(parseUserValue("xmrig\n"), "xmrig");
  equal(parseUserValue("\n"), null);
  equal(parseUserValue("x; rm -rf /\n"), "corrupt");
});

Deno.test("parseIpScope: enforced, not enforced, unscoped, no accounting, malformed", () => {
  const show = (deny: string, accounting: string, bytes: string) =>
    `IPIngressBytes=${bytes}\nIPAccounting=${accounting}\nIPAddressDeny=${deny}\n`;
  assertEquals(parseIpScope(show("::/0 0.0.0.0/0", "yes", "352")), {
    configured: true,
    enforced: true,
  });
  // systemd accepted the allow-list but has no BPF firewall (no cgroup v2, bpf() blocked).
  assertEquals(parseIpScope(show("::/0 0.0.0.0/0", "yes", "[no data]")), {
    configured: true,
    enforced: false,
  });
  assertEquals(parseIpScope(show("", "no", "[no data]")), { configured: false, enforced: null });
  assertEquals(parseIpScope(show("::/0 0.0.0.0/0", "no", "[no data]")), {
    configured: true,
    enforced: null,
  });
  equal(parseIpScope(""), "corrupt");
  equal(parseIpScope("IPAccounting=yes\nIPAddressDeny=any\n"), "corrupt");
  equal(parseIpScope(show("any", "maybe", "1")), "corrupt");
  equal(parseIpScope(show("any", "yes", "-1")), "corrupt");
  equal(parseIpScope(show("any", "yes", "12 bytes")), "corrupt");
});

Deno.test("service probe per profile", async () => {
  const zen4 = await serviceProbe.collect(await rigContext("zen4"));
  equal(zen4.systemd, true);
  equal(zen4.xmrig_active, true);
  equal(zen4.autotune_timer, "active");
  equal(zen4.miner_user, null);
  equal(zen4.reasons["miner_user"], "absent");
  assertEquals(zen4.api_ip_scope, { configured: true, enforced: true });

  const epyc = await serviceProbe.collect(await rigContext("epyc"));
  equal(epyc.api_socket, "active");
  equal(epyc.api_service, "inactive");
  assertEquals(epyc.miner_user, { configured: "xmrig", actual: "xmrig" });
  assertEquals(epyc.api_ip_scope, { configured: true, enforced: true });

  const intel = await serviceProbe.collect(await rigContext("intel"));
  equal(intel.xmrig, "inactive");
  equal(intel.xmrig_active, false);
  equal(intel.api_ip_scope, null); // unscoped rig, no recording of the socket's properties
  equal(intel.reasons["api_ip_scope"], "absent");
  assertEquals(intel.miner_user, { configured: "miner", actual: "xmrig" });

  // The build VM has systemctl but no systemd as PID 1: it answers nothing.
  const vm = await serviceProbe.collect(await rigContext("buildvm"));
  equal(vm.systemd, false);
  equal(vm.xmrig, null);
  equal(vm.reasons["xmrig"], "unsupported");
  equal(vm.reasons["autotune_timer"], "unsupported");
  equal(vm.reasons["api_ip_scope"], "unsupported");
});

Deno.test("service probe: no systemctl, or a hung one", async () => {
  const absent: CommandRunner = () =>
    Promise.resolve({ code: null, stdout: "", failure: "absent" });
  const none = await serviceProbe.collect(await rigContext("zen4", { run: absent }));
  equal(none.systemd, false);
  equal(none.reasons["xmrig"], "absent");
  const hung: CommandRunner = () => Promise.resolve({ code: null, stdout: "", failure: "timeout" });
  const slow = await serviceProbe.collect(await rigContext("zen4", { run: hung }));
  equal(slow.reasons["api_socket"], "timeout");
  equal(slow.reasons["api_ip_scope"], "timeout");
});

Deno.test("service probe: the scope question fails on its own, and asks nothing when idle", async () => {
  const asked: string[] = [];
  const states = (socket: string): CommandRunner => (command, args) => {
    asked.push([command, ...args].join(" "));
    if (args[0] === "is-active") {
      return Promise.resolve({
        code: 0,
        stdout: `active\n${socket}\n${"inactive\n".repeat(4)}`,
        failure: null,
      });
    }
    return Promise.resolve({ code: 1, stdout: "", failure: null });
  };
  const failing = await serviceProbe.collect(await rigContext("zen4", { run: states("active") }));
  equal(failing.api_socket, "active");
  equal(failing.api_ip_scope, null);
  equal(failing.reasons["api_ip_scope"], "unsupported");
  asked.length = 0;
  const failed = await serviceProbe.collect(await rigContext("zen4", { run: states("failed") }));
  equal(failed.reasons["api_ip_scope"], "not-running");
  assert(!asked.some((line) => line.includes("rigforge-api.socket -p")), asked.join("; "));
});

// --------------------------------------------------------------------------------------- tune

Deno.test("parseOverrides: knobs, missing knobs, wrong types, masking", () => {
  const parsed = parseOverrides(
    '{"randomx":{"scratchpad_prefetch_mode":2,"wrmsr":"yes"},"cpu":{"yield":false,"rx":[0,2,4]},' +
      '"pools":[{"pass":"hunter2-secret"}]}',
  );
  assert(parsed !== null);
  equal(parsed.value.knobs.prefetch_mode, 2);
  equal(parsed.value.knobs.yield, false);
  equal(parsed.value.knobs.threads, 3);
  equal(parsed.value.knobs.wrmsr, null);
  equal(parsed.reasons["knobs.wrmsr"], "corrupt");
  equal(parsed.reasons["knobs.priority"], "absent");
  assert(!JSON.stringify(parsed).includes("hunter2-secret"));
  assertEquals((parsed.value.raw["pools"] as unknown[])[0], { pass: { __secret__: true } });
  equal(
    parseOverrides('{"randomx":{"scratchpad_prefetch_mode":9}}')?.value.knobs.prefetch_mode,
    null,
  );
  equal(parseOverrides('{"cpu":{"rx":8}}')?.value.knobs.threads, 8);
  for (const bad of ["", "{", "[]", "null", '"x"', '{"cpu":{"rx":8}'] as const) {
    equal(parseOverrides(bad), null, bad);
  }
});

const TUNE_LOG = {
  best: { scratchpad_prefetch_mode: 2, yield: false, threads: 8, hashrate: 10812.4 },
  mode: "bench",
  target: "perf",
  search: "climb",
  seeds: ["auto", "guess"],
  iterations: 5,
  min_delta: 0.01,
  results: [
    { prefetch_mode: 1, yield: false, threads: 8, hashrate: 10702.1, hs_per_watt: 999.9 },
    { prefetch_mode: 2, yield: false, threads: 8, hashrate: 10812.4, hs_per_watt: 121.05 },
    { prefetch_mode: 2, yield: false, threads: 8, hashrate: 10811.0, throttled: true },
    { prefetch_mode: 3, yield: false, threads: 16, hugepages_capped: true, throttled: true },
    "garbage",
  ],
};

Deno.test("parseTuneLog: last run summary", () => {
  const mtime = Date.UTC(2026, 10, 24, 16, 59, 46, 731);
  const parsed = parseTuneLog(JSON.stringify(TUNE_LOG), mtime);
  assert(parsed !== null);
  const run = parsed.value;
  equal(run.finished_at, "2026-11-24T16:59:46Z");
  equal(run.finished_at_source, "mtime", "the file carries no time of its own");
  equal(run.target, "perf");
  equal(run.target_setting, "performance");
  equal(run.mode, "bench");
  equal(run.search, "climb");
  assertEquals(run.seeds, ["auto", "guess"]);
  equal(run.best?.prefetch_mode, 2);
  equal(run.best_hs, 10812.4);
  // matched by knobs (prefetch 2, yield false, threads 8), not the highest hs_per_watt
  equal(run.best_hs_per_watt, 121.05);
  equal(run.results_count, 5);
  equal(run.candidates_tried, 3);
  equal(run.throttled_count, 2);
  equal(run.hugepages_capped_count, 1);
  equal(parsed.reasons["best.priority"], "absent");
});

Deno.test("parseTuneLog: no matching result, odd fields, corrupt text", () => {
  const log = {
    ...TUNE_LOG,
    target: "fastest",
    seeds: "auto",
    results: [{ prefetch_mode: 0, hs_per_watt: 5 }],
  };
  const parsed = parseTuneLog(JSON.stringify(log), null);
  assert(parsed !== null);
  equal(parsed.value.best_hs_per_watt, null);
  equal(parsed.reasons["best_hs_per_watt"], "absent");
  equal(parsed.value.target, null);
  equal(parsed.reasons["target"], "corrupt");
  equal(parsed.reasons["target_setting"], "corrupt");
  equal(parsed.reasons["seeds"], "corrupt");
  equal(parsed.value.finished_at, null);
  equal(parsed.reasons["finished_at"], "absent");
  const noResults = parseTuneLog('{"results": {"a": 1}}', 0);
  equal(noResults?.value.candidates_tried, null);
  equal(noResults?.reasons["candidates_tried"], "corrupt");
  equal(noResults?.reasons["best"], "absent");
  for (const bad of ["", '{"best":', "[1]", "nul"]) equal(parseTuneLog(bad, 0), null);
});

Deno.test("parseUnitFile: comments, continuations, repeats, resets, odd spacing", () => {
  const unit = parseUnitFile(
    [
      "# rendered",
      "stray=outside a section",
      "[Timer]",
      "; a comment",
      "OnCalendar = monthly",
      "OnCalendar=weekly",
      "Persistent=true\r",
      "garbage line without equals",
      "[Service]",
      "Environment=A=1 \\",
      "# a comment inside the continuation",
      "  B=2",
      "ExecStart=/opt/rigforge/rigforge.sh \\",
      "    autotune",
      "[Timer]",
      "OnCalendar=",
      "OnCalendar=Sun *-*-01..07 03:00:00",
      "[Broken",
      "Key=ignored",
    ].join("\n"),
  );
  assertEquals(unit.get("Timer")?.get("OnCalendar"), ["Sun *-*-01..07 03:00:00"]);
  assertEquals(unit.get("Timer")?.get("Persistent"), ["true"]);
  assertEquals(unit.get("Service")?.get("Environment"), ["A=1  B=2"]);
  assertEquals(unit.get("Service")?.get("ExecStart"), ["/opt/rigforge/rigforge.sh  autotune"]);
  equal(unit.get("Broken"), undefined);
  equal([...unit.keys()].length, 2);
  equal(parseUnitFile("").size, 0);
  assertEquals(parseUnitFile("[A]\nK=\\").get("A")?.get("K"), []); // continuation at EOF
});

Deno.test("parseEnvironment: quoting, escapes, later wins", () => {
  const env = parseEnvironment([
    'AUTOTUNE_TARGET=perf "RIGFORGE_OPERATOR=a b"',
    "X='1 2' bogus 9BAD=1",
    "AUTOTUNE_TARGET=efficiency Y=a\\ b",
  ]);
  equal(env.get("AUTOTUNE_TARGET"), "efficiency");
  equal(env.get("RIGFORGE_OPERATOR"), "a b");
  equal(env.get("X"), "1 2");
  equal(env.get("Y"), "a b");
  equal(env.has("9BAD"), false);
});

const T = "1767225600377000"; // 2026-01-01T00:00:00.377Z in µs

Deno.test("parseDecision: every kind of autotune line", () => {
  const base = parseDecision(
    "\x1b[0;32m[INFO]\x1b[0m autotune: optimizing for efficiency (hashrate-per-watt); " +
      "live-sweeping prefetch modes [0 1 2 3] against the running miner; baseline mode=1 at " +
      "10741.3 H/s, 83.40 W, 128.79 H/s/W (median of 3).",
    T,
  );
  equal(base?.time, "2026-01-01T00:00:00Z");
  equal(base?.outcome, "baseline");
  equal(base?.mode, 1);
  equal(base?.hashrate, 10741.3);
  equal(base?.watts, 83.4);
  equal(base?.hs_per_watt, 128.79);
  assert(base?.text.startsWith("optimizing for efficiency"));
  const measured = parseDecision(
    "[INFO] autotune: prefetch_mode=2 measured 10790.1 H/s, 83.30 W, 129.53 H/s/W.",
    T,
  );
  assertEquals(measured, {
    time: "2026-01-01T00:00:00Z",
    text: "prefetch_mode=2 measured 10790.1 H/s, 83.30 W, 129.53 H/s/W.",
    outcome: "measured",
    mode: 2,
    hashrate: 10790.1,
    watts: 83.3,
    hs_per_watt: 129.53,
  });
  const applied = parseDecision(
    "[INFO] autotune: best is prefetch_mode=2 at 129.5300 H/s/W (vs 128.7926 baseline) — applying it.",
    T,
  );
  equal(applied?.outcome, "applied");
  equal(applied?.hs_per_watt, 129.53);
  const perf = parseDecision(
    "[INFO] autotune: best is prefetch_mode=3 at 10790.1 H/s (vs 10741.3 baseline) — applying it.",
    T,
  );
  equal(perf?.hashrate, 10790.1);
  equal(perf?.hs_per_watt, undefined);
  const kept = parseDecision(
    "[INFO] autotune: no mode beat the baseline by the margin — keeping prefetch_mode=1 (128.7926 H/s/W).",
    T,
  );
  equal(kept?.outcome, "kept");
  equal(kept?.mode, 1);
  const skipped = parseDecision(
    "\x1b[0;33m[WARN]\x1b[0m autotune: could not read a live hashrate from the API — is the miner running? Skipping.",
    T,
  );
  equal(skipped?.outcome, "skipped");
  equal(skipped?.text.includes("\x1b"), false);
  equal(parseDecision("[INFO] autotune: merged prefetch mode; restarting xmrig.", T), null);
  equal(parseDecision("Starting rigforge-autotune.service...", T), null);
  equal(parseDecision("prefetch_mode=2 measured 1 H/s.", T), null); // no autotune: prefix
  equal(parseDecision("[INFO] autotune: prefetch_mode=2 measured 1 H/s.", "yesterday"), null);
});

Deno.test("parseJournalDecisions: byte arrays, nulls, garbage, newest 20 kept", () => {
  const bytes = [
    ...new TextEncoder().encode("\x1b[32m[INFO]\x1b[0m autotune: prefetch_mode=0 measured 5 H/s."),
  ];
  const lines = [
    JSON.stringify({ __REALTIME_TIMESTAMP: T, MESSAGE: bytes }),
    JSON.stringify({ __REALTIME_TIMESTAMP: T, MESSAGE: null }),
    JSON.stringify({ __REALTIME_TIMESTAMP: T, MESSAGE: [300, 1] }),
    JSON.stringify({ MESSAGE: "[INFO] autotune: prefetch_mode=1 measured 6 H/s." }),
    "-- No entries --",
    "not json",
  ];
  for (let i = 0; i < 30; i++) {
    const us = String(Number(T) + i * 1_000_000);
    lines.push(JSON.stringify({
      __REALTIME_TIMESTAMP: us,
      MESSAGE: `[INFO] autotune: prefetch_mode=${i % 4} measured ${1000 + i} H/s.`,
    }));
  }
  lines.push('{"__REALTIME_TIMESTAMP":"1767225600377000","MESSAGE":"[INFO] autotune: pre'); // cut off
  const all = parseJournalDecisions(lines.join("\n"), 100);
  equal(all.length, 31);
  equal(all[0]?.mode, 0);
  equal(all[0]?.hashrate, 5);
  const recent = parseJournalDecisions(lines.join("\n"));
  equal(recent.length, 20);
  equal(recent[19]?.hashrate, 1029);
  equal(recent[0]?.hashrate, 1010);
});

Deno.test("parseTimerShow and parseSystemdTimestamp", () => {
  assertEquals(
    parseTimerShow(
      "NextElapseUSecRealtime=@1769904000\nLastTriggerUSec=@1767225600\nActiveState=active\n",
    ),
    { active_state: "active", next: "2026-02-01T00:00:00Z", last: "2026-01-01T00:00:00Z" },
  );
  assertEquals(
    parseTimerShow("ActiveState=inactive\nLastTriggerUSec=n/a\nNextElapseUSecRealtime=\n"),
    {
      active_state: "inactive",
      next: null,
      last: null,
    },
  );
  assertEquals(parseTimerShow("garbage"), { active_state: null, next: null, last: null });
  equal(parseSystemdTimestamp("Sat 2026-08-01 00:00:00 UTC"), "2026-08-01T00:00:00Z");
  equal(parseSystemdTimestamp("Sat 2026-08-01 00:00:00 CEST"), null);
  equal(parseSystemdTimestamp("@0"), null);
  equal(parseSystemdTimestamp("@99999999999999999999"), null);
});

Deno.test("tune probe: zen4 (efficiency autotune, applied and kept decisions)", async () => {
  const ctx = await rigContext("zen4");
  const rec = await tuneProbe.collect(ctx);
  const worker = join(HOMES, "zen4", "data", "worker");
  const overrides = JSON.parse(await Deno.readTextFile(join(worker, "tune-overrides.json")));
  assertEquals(rec.applied?.raw, overrides);
  equal(rec.applied?.knobs.prefetch_mode, overrides.randomx.scratchpad_prefetch_mode);
  equal(rec.applied?.knobs.threads, overrides.cpu.rx);
  equal(rec.reasons["applied.knobs.priority"], "absent");
  const log = JSON.parse(await Deno.readTextFile(join(worker, "rigforge-tune.json")));
  equal(rec.last_run?.best_hs, log.best.hashrate);
  equal(rec.last_run?.results_count, log.results.length);
  equal(
    rec.last_run?.finished_at,
    new Date(Math.floor(ms(join(worker, "rigforge-tune.json")) / 1000) * 1000).toISOString()
      .replace(".000Z", "Z"),
  );
  const winner = log.results.find((r: Record<string, unknown>) =>
    r["prefetch_mode"] === log.best.scratchpad_prefetch_mode && r["threads"] === log.best.threads
  );
  equal(rec.last_run?.best_hs_per_watt, winner.hs_per_watt);
  const at = rec.autotune;
  equal(at.enabled, true);
  equal(at.active, true);
  equal(at.target, "efficiency");
  equal(at.target_setting, "efficiency");
  equal(at.schedule, "monthly");
  equal(at.next, "2026-02-01T00:00:00Z");
  equal(at.last_run, "2026-01-01T00:00:00Z");
  const outcomes = at.recent?.map((d) => d.outcome);
  assertEquals(outcomes, [
    "baseline",
    "measured",
    "measured",
    "measured",
    "applied",
    "baseline",
    "measured",
    "measured",
    "measured",
    "kept",
  ]);
  assert(at.recent?.every((d) => !d.text.includes("\x1b") && !/\[INFO\]|autotune:/.test(d.text)));
  // newest last
  const times = at.recent?.map((d) => d.time) ?? [];
  assertEquals([...times].sort(), times);
});

Deno.test("tune probe: intel drop-in schedule and a skipped run; epyc and buildvm without autotune", async () => {
  const intel = await tuneProbe.collect(await rigContext("intel"));
  equal(intel.autotune.schedule, "Sun *-*-01..07 03:00:00");
  equal(intel.autotune.recent?.at(-1)?.outcome, "skipped");
  equal(intel.last_run?.mode, "live");
  equal(intel.last_run?.throttled_count, 1);

  const epyc = await tuneProbe.collect(await rigContext("epyc"));
  equal(epyc.autotune.enabled, false);
  equal(epyc.autotune.active, false);
  equal(epyc.autotune.recent, null);
  equal(epyc.reasons["autotune.schedule"], "absent");
  equal(epyc.last_run?.target_setting, "performance");
  equal(epyc.last_run?.best_hs_per_watt, null);
  equal(epyc.last_run?.hugepages_capped_count, 3);

  const vm = await tuneProbe.collect(await rigContext("buildvm"));
  equal(vm.applied, null);
  equal(vm.reasons["applied"], "absent");
  equal(vm.last_run, null);
  equal(vm.autotune.enabled, false);
});

Deno.test("tune probe: systemctl and journalctl failing", async () => {
  const failing: CommandRunner = () =>
    Promise.resolve({ code: null, stdout: "", failure: "timeout" });
  const rec = await tuneProbe.collect(await rigContext("zen4", { run: failing }));
  equal(rec.autotune.enabled, true);
  equal(rec.autotune.schedule, "monthly");
  equal(rec.autotune.active, null);
  equal(rec.reasons["autotune.active"], "timeout");
  equal(rec.reasons["autotune.recent"], "timeout");
});

Deno.test("tune probe: journal decisions reused while the last trigger is unchanged", async () => {
  const root = await Deno.makeTempDir({ prefix: "rigforge-root-journal-" });
  try {
    const source = join(HOMES, "..", "roots", "zen4");
    await cp(join(source, ".commands"), join(root, ".commands"), { recursive: true });
    await cp(join(source, "etc"), join(root, "etc"), { recursive: true });
    const replay = replayRunner(join(root, ".commands"));
    let journals = 0;
    const counting: CommandRunner = (command, args, options) => {
      if (command === "journalctl") journals++;
      return replay(command, args, options);
    };
    let now = Date.UTC(2026, 0, 15, 12);
    const ctx = await rigContext(root, { run: counting, now: () => now });
    const first = await tuneProbe.collect(ctx);
    const second = await tuneProbe.collect(ctx);
    equal(journals, 1);
    assertEquals(second.autotune.recent, first.autotune.recent);
    equal(second.autotune.recent?.length, 10);
    now += JOURNAL_TTL_MS;
    await tuneProbe.collect(ctx);
    equal(journals, 2);
    const show = join(
      root,
      ".commands",
      "systemctl show rigforge-autotune.timer -p ActiveState -p NextElapseUSecRealtime " +
        "-p LastTriggerUSec --timestamp=unix",
    );
    await Deno.writeTextFile(
      show,
      "0\nNextElapseUSecRealtime=@1772323200\nLastTriggerUSec=@1769904000\nActiveState=active\n",
    );
    const after = await tuneProbe.collect(ctx);
    equal(journals, 3);
    equal(after.autotune.last_run, "2026-02-01T00:00:00Z");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tune probe: a decision line echoing a config secret is redacted", async () => {
  const root = await Deno.makeTempDir({ prefix: "rigforge-root-journal-secret-" });
  try {
    const source = join(HOMES, "..", "roots", "zen4");
    await cp(join(source, ".commands"), join(root, ".commands"), { recursive: true });
    await cp(join(source, "etc"), join(root, "etc"), { recursive: true });
    const token = "tok-LEAKCHECK-9f2c1e7a5b3d4c6e8f0a1b2c3d4e5f60";
    await Deno.writeTextFile(
      join(
        root,
        ".commands",
        "journalctl -u rigforge-autotune.service -o json --output-fields=MESSAGE -n 500 " +
          "--no-pager",
      ),
      "0\n" + JSON.stringify({
        __REALTIME_TIMESTAMP: T,
        MESSAGE: `[WARN] autotune: could not read a live hashrate (Bearer ${token}). Skipping.`,
      }) + "\n",
    );
    const rec = await tuneProbe.collect(await rigContext(root, {}, join(HOMES, "zen4")));
    equal(rec.autotune.recent?.[0]?.outcome, "skipped");
    equal(
      rec.autotune.recent?.[0]?.text,
      "could not read a live hashrate (Bearer [redacted]). Skipping.",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// ----------------------------------------------------------------------------------- watchdog

Deno.test("parseStrikes", () => {
  equal(parseStrikes("1\n"), 1);
  equal(parseStrikes(" 0 "), 0);
  equal(parseStrikes("one"), null);
  equal(parseStrikes("-1"), null);
  equal(parseStrikes(""), null);
});

Deno.test("watchdog probe per profile", async () => {
  const zen4 = await watchdogProbe.collect(await rigContext("zen4"));
  assertEquals({ ...zen4, reasons: undefined }, {
    mode: "enabled",
    interval_min: 5,
    max_temp_c: 90,
    resumes_below_c: 85,
    thermal_hold: false,
    thermal_hold_since: null,
    thermal_hold_since_source: null,
    strikes: Number(await Deno.readTextFile(join(HOMES, "zen4/data/worker/watchdog.fails"))),
    reasons: undefined,
  });
  const intel = await watchdogProbe.collect(await rigContext("intel"));
  equal(intel.thermal_hold, true);
  equal(intel.max_temp_c, 95);
  equal(intel.resumes_below_c, 90);
  equal(intel.strikes, 0);
  assert(intel.thermal_hold_since !== null && !Number.isNaN(Date.parse(intel.thermal_hold_since)));
  // The marker is empty: its mtime is the only time there is, and the record says so.
  const marker = await Deno.stat(join(HOMES, "intel/data/worker/watchdog.thermal-hold"));
  equal(intel.thermal_hold_since, marker.mtime!.toISOString().replace(/\.\d{3}Z$/, "Z"));
  equal(intel.thermal_hold_since_source, "mtime");
  const epyc = await watchdogProbe.collect(await rigContext("epyc"));
  equal(epyc.mode, "disabled");
  equal(epyc.max_temp_c, null);
  equal(epyc.reasons["resumes_below_c"], "absent");
});

Deno.test("watchdog probe: garbled strikes count as 0 with reason corrupt", async () => {
  const home = await tempHome("zen4");
  try {
    await Deno.writeTextFile(join(home, "data/worker/watchdog.fails"), "2x\n");
    const rec = await watchdogProbe.collect(await rigContext("zen4", {}, home));
    equal(rec.strikes, 0);
    equal(rec.reasons["strikes"], "corrupt");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

// --------------------------------------------------------------------------------- provenance

Deno.test("provenance parsers", () => {
  equal(parseVersion("1.17.2\n"), "1.17.2");
  equal(parseVersion("1.17.2 extra"), null);
  equal(parseVersion(""), null);
  const commit = "B2CA72480C58D197E18C885D9FC1A0C8D517E60A";
  equal(parseCommit(commit + "\n"), commit.toLowerCase());
  equal(parseCommit(commit.slice(1)), null);
  equal(parseCommit(commit.replace("B", "g")), null);
  const hash = "ab".repeat(32);
  equal(parseSha256Record(`${hash}\n`), hash);
  equal(
    parseSha256Record(`${hash.toUpperCase()}  /opt/rigforge/data/worker/xmrig/build/xmrig\n`),
    hash,
  );
  equal(parseSha256Record("not a hash " + hash), null);
  equal(parseSha256Record(hash.slice(2)), null);
});

Deno.test("parseXmrigHttp: JSONC, token reduced to token_set, odd blocks", () => {
  const parsed = parseXmrigHttp(
    '{ // xmrig\n "http": {"enabled": true, "host": "::", "port": 8080, ' +
      '"access-token": "tok-SECRET-value", "restricted": false,},}',
  );
  assertEquals(parsed.value, {
    enabled: true,
    host: "::",
    port: 8080,
    restricted: false,
    token_set: true,
  });
  assert(!JSON.stringify(parsed).includes("tok-SECRET-value"));
  equal(parseXmrigHttp('{"http":{"access-token":null}}').value?.token_set, false);
  equal(parseXmrigHttp('{"http":{"access-token":""}}').value?.token_set, false);
  const odd = parseXmrigHttp('{"http":{"enabled":"yes","port":99999,"host":"a b"}}');
  assert(odd.value !== null && "reasons" in odd);
  equal(odd.reasons["enabled"], "corrupt");
  equal(odd.reasons["port"], "corrupt");
  equal(odd.reasons["host"], "corrupt");
  equal(odd.reasons["restricted"], "absent");
  assertEquals(parseXmrigHttp("{}"), { value: null, why: "absent" });
  assertEquals(parseXmrigHttp('{"http": 1}'), { value: null, why: "corrupt" });
  assertEquals(parseXmrigHttp('{"http": {'), { value: null, why: "corrupt" });
  assertEquals(parseXmrigHttp(""), { value: null, why: "corrupt" });
});

Deno.test("provenance probe: zen4 matches, epyc does not, buildvm has nothing", async () => {
  for (const profile of ["zen4", "epyc", "intel"]) {
    const xmrig = join(HOMES, profile, "data/worker/xmrig");
    const rec = await provenanceProbe.collect(await rigContext(profile));
    equal(rec.rigforge_version, (await Deno.readTextFile(join(HOMES, profile, "VERSION"))).trim());
    equal(rec.xmrig_commit, (await Deno.readTextFile(join(xmrig, ".rigforge-commit"))).trim());
    equal(rec.xmrig_sha256_actual, await sha256Of(join(xmrig, "build/xmrig")));
    equal(
      rec.xmrig_sha256_recorded,
      (await Deno.readTextFile(join(xmrig, ".rigforge-sha256"))).split(/\s+/)[0],
    );
    equal(rec.binary_matches, rec.xmrig_sha256_actual === rec.xmrig_sha256_recorded);
    equal(rec.binary_matches, profile !== "epyc", profile);
    equal(rec.xmrig_http?.port, 8080);
  }
  const intel = await provenanceProbe.collect(await rigContext("intel"));
  equal(intel.xmrig_http?.restricted, false);
  equal(intel.xmrig_http?.token_set, true);
  const epyc = await provenanceProbe.collect(await rigContext("epyc"));
  equal(epyc.xmrig_http?.token_set, false);
  const vm = await provenanceProbe.collect(await rigContext("buildvm"));
  equal(vm.rigforge_version, null);
  equal(vm.reasons["rigforge_version"], "absent");
  equal(vm.reasons["binary_matches"], "absent");
  equal(vm.reasons["xmrig_http"], "absent");
});

Deno.test("provenance probe: corrupt records, missing sha record", async () => {
  const home = await tempHome("zen4");
  try {
    const xmrig = join(home, "data/worker/xmrig");
    await Deno.writeTextFile(join(xmrig, ".rigforge-commit"), "v6.26.0\n");
    await Deno.remove(join(xmrig, ".rigforge-sha256"));
    await Deno.writeTextFile(join(xmrig, "build/config.json"), '{"http": {"enabled": tru');
    await Deno.writeTextFile(join(home, "VERSION"), "");
    const rec = await provenanceProbe.collect(await rigContext("zen4", {}, home));
    equal(rec.xmrig_commit, null);
    equal(rec.reasons["xmrig_commit"], "corrupt");
    equal(rec.xmrig_sha256_recorded, null);
    equal(rec.reasons["xmrig_sha256_recorded"], "absent");
    assert(rec.xmrig_sha256_actual !== null);
    equal(rec.binary_matches, null);
    equal(rec.reasons["binary_matches"], "absent");
    equal(rec.reasons["xmrig_http"], "corrupt");
    equal(rec.reasons["rigforge_version"], "corrupt");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("sha256File is memoised by size, mtime, ctime and inode", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rigforge-hash-" });
  try {
    const path = join(dir, "xmrig");
    await Deno.writeFile(path, new Uint8Array(3 * 1024 * 1024).fill(7));
    const before = hashesComputedCount();
    const first = await sha256File(path);
    const second = await sha256File(path);
    assert(first.ok && second.ok);
    equal(first.value, await sha256Of(path));
    equal(second.value, first.value);
    equal(hashesComputedCount(), before + 1);
    await Deno.writeFile(path, new Uint8Array(3 * 1024 * 1024).fill(8));
    const third = await sha256File(path);
    assert(third.ok);
    notEqual(third.value, first.value);
    equal(third.value, await sha256Of(path));
    equal(hashesComputedCount(), before + 2);
    const missing = await sha256File(join(dir, "nope"));
    assertEquals(missing, { ok: false, reason: "absent" });
    const notFile = await sha256File(dir);
    assertEquals(notFile, { ok: false, reason: "unreadable" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ----------------------------------------------------------------------------------- exposure

Deno.test("exposure probe per profile and without config", async () => {
  const zen4 = await exposureProbe.collect(await rigContext("zen4"));
  assertEquals(zen4, {
    api: "enabled",
    port: 8081,
    bind: "0.0.0.0",
    token_set: true,
    named_tokens: 1,
    allow_from: ["192.168.1.10"],
    scoped: true,
    control: true,
    token_public: false,
    reasons: {},
  });
  const epyc = await exposureProbe.collect(await rigContext("epyc"));
  equal(epyc.token_set, false);
  equal(epyc.bind, "::");
  assertEquals(epyc.allow_from, ["10.20.0.0/24"]);
  const intel = await exposureProbe.collect(await rigContext("intel"));
  equal(intel.scoped, false);
  const vm = await exposureProbe.collect(await rigContext("buildvm"));
  equal(vm.api, null);
  equal(vm.reasons["api"], "absent");
  const none = exposureOf(null);
  equal(none.token_set, null);
  equal(none.reasons["allow_from"], "absent");
});

// -------------------------------------------------------------------------------- config view

const CONFIG_PATH = "/opt/rigforge/config.json";
const BASE_RAW = {
  pools: [{ url: "pithead.lan:3333", user: "rig-01", pass: "stratum-secret" }],
  autotune: "perf",
  watchdog: "enabled",
  max_temp_c: 90,
  api_port: 8081,
};

Deno.test("maskSecrets: pass and tls-fingerprint at any depth; empty values stay", () => {
  const masked = maskSecrets({
    pools: [
      { url: "a:1", pass: "p1", "tls-fingerprint": null },
      { url: "b:1", pass: "", "tls-fingerprint": "ab".repeat(32), nested: { pass: 0 } },
    ],
    pass: ["x"],
  });
  assertEquals(masked, {
    pools: [
      { url: "a:1", pass: { __secret__: true }, "tls-fingerprint": null },
      {
        url: "b:1",
        pass: "",
        "tls-fingerprint": { __secret__: true },
        nested: { pass: { __secret__: true } },
      },
    ],
    pass: { __secret__: true },
  });
});

Deno.test("canonicalJson is jq -S . (jq 1.6) byte for byte", () => {
  // Expected texts produced by `jq -S .` 1.6 on the same input.
  equal(
    canonicalJson({ b: [], a: {}, Z: [1, { y: null, x: true }], é: "ü\x7f\x01", n: 1e20 }),
    '{\n  "Z": [\n    1,\n    {\n      "x": true,\n      "y": null\n    }\n  ],\n  "a": {},\n' +
      '  "b": [],\n  "n": 1e+20,\n  "é": "ü\\u007f\\u0001"\n}\n',
  );
  equal(canonicalJson({ "𝄞": 1, "ｚ": 2 }), '{\n  "ｚ": 2,\n  "𝄞": 1\n}\n');
  equal(canonicalJson([]), "[]\n");
  const numbers = [1000000, 1e17, 123456789012345678, 0.0001, 0.00001, 1.5e-7, 3.14159, -0, 1e300];
  assertEquals(numbers.map(jqNumber), [
    "1000000",
    "1e+17",
    "123456789012345680",
    "0.0001",
    "1e-05",
    "1.5e-07",
    "3.14159",
    "-0",
    "1e+300",
  ]);
});

Deno.test("configRevision: stable, alias-insensitive, bumped by a pass change only when writable", () => {
  const base = validateConfig(structuredClone(BASE_RAW), CONFIG_PATH);
  const rev = configRevision(base);
  assert(/^[0-9a-f]{16}$/.test(rev));
  equal(configRevision(validateConfig(structuredClone(BASE_RAW), CONFIG_PATH)), rev);
  equal(
    rev,
    createHash("sha256").update(canonicalJson(writableConfig(base))).digest("hex").slice(0, 16),
  );
  const aliased = { ...structuredClone(BASE_RAW), autotune: "performance", watchdog: "on" };
  equal(configRevision(validateConfig(aliased, CONFIG_PATH)), rev);
  const reordered = {
    ...structuredClone(BASE_RAW),
    pools: [{ pass: "stratum-secret", user: "rig-01", url: "pithead.lan:3333" }],
  };
  equal(configRevision(validateConfig(reordered, CONFIG_PATH)), rev);
  const notWritable = { ...structuredClone(BASE_RAW), api_port: 9999, ACCESS_TOKEN: "tok-x" };
  equal(configRevision(validateConfig(notWritable, CONFIG_PATH)), rev);
  const newPass = structuredClone(BASE_RAW);
  newPass.pools[0]!.pass = "stratum-secret-2";
  notEqual(configRevision(validateConfig(newPass, CONFIG_PATH)), rev);
  notEqual(configRevision(validateConfig({ ...BASE_RAW, max_temp_c: 85 }, CONFIG_PATH)), rev);
  notEqual(
    configRevision(validateConfig({ ...BASE_RAW, autotune: "efficiency" }, CONFIG_PATH)),
    rev,
  );
});

Deno.test("parseConfigMeta and parseControlStatus validate and redact", () => {
  const meta = parseConfigMeta(
    '{"revision":"7144eb0089250664","source":"control","last_change_id":"0123456789abcdef",' +
      '"changed_at":"2026-11-24T16:59:46Z"}',
  );
  equal(meta?.stamped, "7144eb0089250664");
  equal(meta?.source, "control");
  const odd = parseConfigMeta('{"source":"hacker","changed_at":"yesterday","last_change_id":null}');
  equal(odd?.source, null);
  equal(odd?.reasons["source"], "corrupt");
  equal(odd?.reasons["changed_at"], "corrupt");
  equal(odd?.reasons["last_change_id"], "absent");
  equal(odd?.reasons["revision"], "absent");
  equal(parseConfigMeta("{"), null);

  const status = parseControlStatus(
    JSON.stringify({
      status: "rejected",
      change_id: "0123456789abcdef",
      applied_at: "2026-07-12T14:03:11Z",
      reason: "pools[0].pass 'stratum-secret' rejected\n\x1b[31mbad",
    }),
    ["stratum-secret", "x"],
  );
  equal(status?.value.status, "rejected");
  equal(status?.value.reason, "pools[0].pass '[redacted]' rejected [31mbad");
  // a password the config does not hold (a rejected change's) is redacted from the text itself
  const foreign = parseControlStatus(
    JSON.stringify({
      status: "rejected",
      reason: "pool stratum+tcp://w:pw-NEW-1@pool.lan:3333 refused; also w2:pw-NEW-2@h",
    }),
    [],
  );
  equal(
    foreign?.value.reason,
    "pool stratum+tcp://w:[redacted]@pool.lan:3333 refused; also w2:[redacted]@h",
  );
  const weird = parseControlStatus('{"status":"pwned","change_id":"zz","reason":42}');
  equal(weird?.value.status, null);
  equal(weird?.reasons["status"], "corrupt");
  equal(weird?.reasons["change_id"], "corrupt");
  equal(weird?.reasons["reason"], "corrupt");
  equal(weird?.reasons["applied_at"], "absent");
  equal(parseControlStatus("[]"), null);
});

Deno.test("config_view probe: zen4 masked config, stamped meta, applied control", async () => {
  const ctx = await rigContext("zen4");
  const rec = await configViewProbe.collect(ctx);
  assert(ctx.config !== null);
  assertEquals(Object.keys(rec.config ?? {}), [
    "DONATION",
    "autotune",
    "max_temp_c",
    "pools",
    "watchdog",
    "watchdog_interval_min",
  ]);
  const pools = rec.config?.["pools"] as Record<string, unknown>[];
  assertEquals(pools[0]?.["pass"], { __secret__: true });
  equal(pools[0]?.["tls-fingerprint"], null);
  assertEquals(pools[1]?.["tls-fingerprint"], { __secret__: true });
  assertEquals(Object.keys(pools[0] ?? {}), Object.keys(pools[0] ?? {}).sort());
  equal(rec.config_meta?.revision, configRevision(ctx.config));
  const sidecar = JSON.parse(
    await Deno.readTextFile(join(HOMES, "zen4/.rigforge-config-meta.json")),
  );
  equal(rec.config_meta?.changed_at, sidecar.changed_at);
  equal(rec.config_meta?.last_change_id, sidecar.last_change_id);
  equal(rec.edited_since_stamp, sidecar.revision !== configRevision(ctx.config));
  equal(rec.edited_since_stamp, false);
  equal(rec.control?.status, "applied");
  equal(rec.control?.reason, null);
});

Deno.test("config_view probe: epyc edited by hand, intel rejected change, buildvm fresh", async () => {
  const epyc = await configViewProbe.collect(await rigContext("epyc"));
  equal(epyc.edited_since_stamp, true);
  equal(epyc.config_meta?.source, "local");
  equal(epyc.control, null);
  equal(epyc.reasons["control"], "absent");
  const intel = await configViewProbe.collect(await rigContext("intel"));
  equal(intel.control?.status, "rejected");
  assert(intel.control?.reason?.includes("max_temp_c"));
  equal(intel.config?.["DONATION"], 1);
  equal(intel.config?.["watchdog"], "enabled");
  const vm = await configViewProbe.collect(await rigContext("buildvm"));
  assertEquals(vm.config?.["pools"], [{ url: "pithead.lan:3333" }]);
  equal(vm.config_meta?.source, null);
  equal(vm.reasons["config_meta.source"], "absent");
  equal(vm.reasons["config.max_temp_c"], "absent");
});

// ----------------------------------------------------------------------- every probe, together

Deno.test("no secret appears in any record of any profile", async () => {
  const secrets: string[] = [];
  for (const profile of PROFILES) {
    const located = await locate(join(HOMES, profile));
    const c = located.config;
    if (c === null) continue;
    for (const token of [c.accessToken, ...Object.values(c.accessTokens)]) {
      if (token === null) continue;
      secrets.push(token, createHmac("sha256", token).update("rigforge:api-read:v1").digest("hex"));
    }
    for (const pool of c.pools) {
      for (const key of ["pass", "tls-fingerprint"]) {
        const v = pool[key];
        if (typeof v === "string" && v.length > 1) secrets.push(v);
      }
    }
  }
  assert(secrets.includes("tok-LEAKCHECK-9f2c1e7a5b3d4c6e8f0a1b2c3d4e5f60"));
  assert(secrets.includes("pass-LEAKCHECK-stratum"));
  assert(secrets.length >= 8);
  for (const profile of PROFILES) {
    const text = JSON.stringify(await allRecords(await rigContext(profile)));
    equal(text.includes("LEAKCHECK"), false, profile);
    for (const secret of secrets) equal(text.includes(secret), false, `${profile}: ${secret}`);
  }
});

Deno.test("a control reason echoing a secret is redacted", async () => {
  const root = await Deno.makeTempDir({ prefix: "rigforge-root-ctl-" });
  try {
    await Deno.mkdir(join(root, "var/lib/rigforge-control"), { recursive: true });
    await Deno.writeTextFile(
      join(root, "var/lib/rigforge-control/status.json"),
      JSON.stringify({
        status: "failed",
        change_id: "0123456789abcdef",
        reason: "xmrig refused pass pass-LEAKCHECK-stratum with token " +
          "tok-LEAKCHECK-9f2c1e7a5b3d4c6e8f0a1b2c3d4e5f60",
      }),
    );
    const rec = await configViewProbe.collect(await rigContext(root, {}, join(HOMES, "zen4")));
    equal(rec.control?.status, "failed");
    equal(rec.control?.reason, "xmrig refused pass [redacted] with token [redacted]");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("every null field names its reason, in every record of every profile", async () => {
  for (const profile of PROFILES) {
    const records = await allRecords(await rigContext(profile));
    for (const [name, record] of Object.entries(records)) {
      assertReasonsComplete(`${profile}/${name}`, record as { reasons: Reasons });
    }
  }
});

Deno.test("missing RigForge install and config: sensible nulls, no throw", async () => {
  const records = await allRecords(fixtureContext("zen4", { rigforge: null, config: null }));
  for (const [name, record] of Object.entries(records)) {
    assertReasonsComplete(`none/${name}`, record as { reasons: Reasons });
  }
  const tune = records["tune"] as Awaited<ReturnType<typeof tuneProbe.collect>>;
  equal(tune.applied, null);
  equal(tune.reasons["applied"], "absent");
  equal(tune.autotune.enabled, true); // the units are machine files, not RigForge's home
  const wd = records["watchdog"] as Awaited<ReturnType<typeof watchdogProbe.collect>>;
  equal(wd.mode, null);
  equal(wd.reasons["mode"], "absent");
  equal(wd.strikes, 0);
  const view = records["config_view"] as Awaited<ReturnType<typeof configViewProbe.collect>>;
  equal(view.config, null);
  equal(view.config_meta, null);
  equal(view.reasons["config"], "absent");
  equal(view.control?.status, "applied"); // the control record is a machine file
  const svc = records["service"] as Awaited<ReturnType<typeof serviceProbe.collect>>;
  equal(svc.miner_user, null);
  equal(svc.reasons["miner_user"], "absent");

  // A home that exists but holds no config.json.
  const empty = await Deno.makeTempDir({ prefix: "rigforge-home-empty-" });
  try {
    const recs = await allRecords(await rigContext("buildvm", {}, empty));
    for (const [name, record] of Object.entries(recs)) {
      assertReasonsComplete(`empty/${name}`, record as { reasons: Reasons });
    }
    equal((recs["provenance"] as { reasons: Reasons }).reasons["rigforge_version"], "absent");
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("corrupt tune files give null + corrupt, never a throw", async () => {
  const home = await tempHome("zen4");
  try {
    const worker = join(home, "data/worker");
    await Deno.writeTextFile(join(worker, "tune-overrides.json"), "");
    await Deno.writeTextFile(join(worker, "rigforge-tune.json"), '{"best": {"hashrate": 1');
    const rec = await tuneProbe.collect(await rigContext("zen4", {}, home));
    equal(rec.applied, null);
    equal(rec.reasons["applied"], "corrupt");
    equal(rec.last_run, null);
    equal(rec.reasons["last_run"], "corrupt");
    await Deno.remove(join(worker, "rigforge-tune.json"));
    await Deno.mkdir(join(worker, "rigforge-tune.json"));
    const dir = await tuneProbe.collect(await rigContext("zen4", {}, home));
    equal(dir.reasons["last_run"], "unreadable");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
