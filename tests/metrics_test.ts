/**
 * `/metrics`: the exposition writer, the metric set built from real probe snapshots of every
 * fixture machine, validated by Prometheus' own parsers (`promtool check metrics` for 0.0.4 and
 * promtool's OpenMetrics parser), the documented metric table, the PromQL examples, secrets, and
 * format negotiation through the real handler.
 *
 * @module
 */

import {
  deepEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { doctorSection } from "../src/checks.ts";
import { buildAuth } from "../src/http/auth.ts";
import { createHandler, type HandlerDeps } from "../src/http/handler.ts";
import type { HttpRequest } from "../src/http/types.ts";
import {
  advanceEnergy,
  EMPTY_ENERGY,
  type EnergyState,
  METRICS,
  metricsBody,
  type MetricsOptions,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
} from "../src/metrics.ts";
import {
  escapeLabelValue,
  familyName,
  formatValue,
  MAX_LABEL_VALUE,
  renderExposition,
} from "../src/metrics/exposition.ts";
import { locate } from "../src/rigforge/locate.ts";
import type { Snapshot } from "../src/snapshot.ts";
import type { XmrigReply } from "../src/xmrig.ts";
import { FIXTURE_NOW_MS } from "./_context.ts";
import { fixtureSnapshot, RIGFORGE_DIR, xmrigBody } from "./_snapshot.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const PROFILES = ["zen4", "epyc", "intel", "buildvm"] as const;
const NOW = FIXTURE_NOW_MS + 5000;
/** Prometheus 2.42's scrape `Accept` header. */
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," +
  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/** Package power the two-reading snapshots are built to show, W. */
const FIXTURE_WATTS = 150;

// ---------- helpers ----------

async function promtool(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  let child;
  try {
    child = new Deno.Command("promtool", {
      args,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    throw new Error(
      `promtool is required (Debian package "prometheus": apt-get install prometheus): ${error}`,
    );
  }
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** Validates a 0.0.4 body with `promtool check metrics` (parser plus lint). */
async function checkText(body: string, what: string): Promise<void> {
  const { code, out } = await promtool(["check", "metrics"], body);
  assertEquals({ code, out: out.trim() }, { code: 0, out: "" }, `${what}: promtool check metrics`);
}

/**
 * Validates an OpenMetrics body with Prometheus' OpenMetrics parser (promtool's backfill reads
 * OpenMetrics and needs a timestamp on every sample, so one is appended).
 */
async function checkOpenMetrics(body: string, what: string): Promise<void> {
  assert(body.endsWith("# EOF\n"), `${what}: ends with # EOF`);
  const stamped = body.split("\n").map((line) =>
    line === "" || line.startsWith("#") ? line : `${line} 1700000000`
  ).join("\n");
  const dir = await Deno.makeTempDir({ prefix: "metrics-om-" });
  try {
    await Deno.writeTextFile(join(dir, "in.om"), stamped);
    const { code, out } = await promtool([
      "tsdb",
      "create-blocks-from",
      "openmetrics",
      join(dir, "in.om"),
      join(dir, "out"),
    ]);
    assertEquals(code, 0, `${what}: promtool OpenMetrics parser: ${out}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sample lines → name, labels text, value. */
function samples(body: string): { name: string; labels: string; value: number }[] {
  return body.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    assert(m !== null, `sample line parses: ${line}`);
    return { name: m[1]!, labels: m[2] ?? "", value: Number(m[3]) };
  });
}

function value(body: string, name: string, labels = ""): number | undefined {
  return samples(body).find((s) => s.name === name && s.labels === labels)?.value;
}

function names(body: string): Set<string> {
  return new Set(samples(body).map((s) => s.name));
}

const reply = (file: string): XmrigReply => ({ ok: true, text: xmrigBody(file) });
const DOWN: XmrigReply = { ok: false, error: "connection refused" };
const XMRIG_STATES: [string, XmrigReply][] = [
  ["mining", reply("summary-v2-mining.json")],
  ["startup", reply("summary-v2-startup.json")],
  ["workers-started", reply("summary-v2-workers-started.json")],
  ["nopool", reply("summary-v2-nopool.json")],
  ["pool-lost-retrying", reply("summary-v2-pool-lost-retrying.json")],
  ["unreachable", DOWN],
];

/**
 * A snapshot of a profile with power measured: a first pass gives the counters, a second pass
 * is told the RAPL counters were FIXTURE_WATTS × 15 s lower 15 s earlier.
 */
async function measuredSnapshot(profile: string): Promise<Snapshot> {
  const first = await fixtureSnapshot(profile);
  const { uptime_s, energy_uj } = first.counters;
  const previous = {
    uptime_s: uptime_s - 15,
    cpu_times: null,
    energy_uj: energy_uj === null ? null : Object.fromEntries(
      Object.entries(energy_uj).map(([zone, uj]) => [zone, uj - FIXTURE_WATTS * 15e6]),
    ),
  };
  return await fixtureSnapshot(profile, { previous });
}

const SNAPSHOTS = new Map<string, Snapshot>();
for (const profile of PROFILES) SNAPSHOTS.set(profile, await measuredSnapshot(profile));

function options(snapshot: Snapshot | null, format: "text" | "openmetrics"): MetricsOptions {
  return {
    format,
    doctor: snapshot === null
      ? null
      : doctorSection(snapshot.records, { isRoot: true, linux: true }),
    energy: advanceEnergy(EMPTY_ENERGY, snapshot),
    requests: { "200": 12, "401": 1 },
    shed: { source: 3, global: 1, connections: 0 },
  };
}

/** Runs the checks a few at a time (promtool takes ~0.2 s to start on a busy 2-core machine). */
async function validateAll(checks: (() => Promise<void>)[], concurrency = 4): Promise<void> {
  const queue = [...checks];
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) await next();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * Builds both formats; queues the promtool checks of the text body, and of the OpenMetrics body
 * when `om` is set, into `checks`.
 */
function bothFormats(
  xmrig: XmrigReply,
  snapshot: Snapshot | null,
  now: number,
  what: string,
  checks: (() => Promise<void>)[] | null = null,
  om = true,
): { text: string; om: string } {
  const text = metricsBody(xmrig, snapshot, now, options(snapshot, "text"));
  const open = metricsBody(xmrig, snapshot, now, options(snapshot, "openmetrics"));
  assertEquals(text.contentType, TEXT_CONTENT_TYPE);
  assertEquals(open.contentType, OPENMETRICS_CONTENT_TYPE);
  assert(open.body.endsWith("# EOF\n") && !text.body.split("\n").includes("# EOF"));
  checks?.push(() => checkText(text.body, what));
  if (om) checks?.push(() => checkOpenMetrics(open.body, what));
  return { text: text.body, om: open.body };
}

/** Every body built in this file, for the name and secret sweeps. */
const BODIES: string[] = [];

// ---------- the exposition writer ----------

Deno.test("values: integers plain, NaN and infinities spelled as the formats want", () => {
  assertEquals(formatValue(3), "3");
  assertEquals(formatValue(-0), "0");
  assertEquals(formatValue(0.25), "0.25");
  assertEquals(formatValue(18446744073709552000), "18446744073709552000");
  assertEquals(formatValue(NaN), "NaN");
  assertEquals(formatValue(Infinity), "+Inf");
  assertEquals(formatValue(-Infinity), "-Inf");
});

Deno.test("label values: escaped, control characters dropped, length capped", () => {
  assertEquals(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assertEquals(escapeLabelValue("x\u0000\u001b[31my\r\t"), "x[31my");
  assertEquals(escapeLabelValue("é".repeat(300)), "é".repeat(MAX_LABEL_VALUE));
});

Deno.test("family names: counters need _total, info needs _info, a unit must be the suffix", () => {
  const fam = (name: string, kind: "gauge" | "counter" | "info", unit?: string) => ({
    name,
    kind,
    help: "h",
    samples: [],
    ...(unit === undefined ? {} : { unit }),
  });
  assertEquals(familyName(fam("a_joules_total", "counter", "joules")), "a_joules");
  assertEquals(familyName(fam("a_build_info", "info")), "a_build");
  assertThrows(() => familyName(fam("a_joules", "counter")), /_total/);
  assertThrows(() => familyName(fam("a_total", "gauge")), /must not end/);
  assertThrows(() => familyName(fam("a_build", "info")), /_info/);
  assertThrows(() => familyName(fam("a_seconds", "gauge", "bytes")), /unit/);
  assertThrows(() => familyName(fam("0bad", "gauge")), /bad metric name/);
  for (const m of METRICS) familyName({ ...m, samples: [] });
});

Deno.test("rendering: empty families omitted, negative counters dropped, # EOF only in OpenMetrics", () => {
  const families = [
    { name: "x_gauge", kind: "gauge" as const, help: "g", samples: [] },
    {
      name: "x_events_total",
      kind: "counter" as const,
      help: "c",
      samples: [{ labels: [], value: -1 }],
    },
    {
      name: "x_seconds",
      kind: "gauge" as const,
      help: 'a "quoted" \\ help',
      unit: "seconds",
      samples: [{ labels: [["k", 'v"1']] as [string, string][], value: 2 }],
    },
  ];
  assertEquals(
    renderExposition(families, "text"),
    '# HELP x_seconds a "quoted" \\\\ help\n# TYPE x_seconds gauge\nx_seconds{k="v\\"1"} 2\n',
  );
  assertEquals(
    renderExposition(families, "openmetrics"),
    '# TYPE x_seconds gauge\n# UNIT x_seconds seconds\n# HELP x_seconds a \\"quoted\\" \\\\ help\n' +
      'x_seconds{k="v\\"1"} 2\n# EOF\n',
  );
  assertEquals(renderExposition([], "openmetrics"), "# EOF\n");
});

Deno.test("negotiation: OpenMetrics only when asked for at least as strongly as text", () => {
  assertEquals(negotiateFormat(undefined), "text");
  assertEquals(negotiateFormat([]), "text");
  assertEquals(negotiateFormat(["*/*"]), "text");
  assertEquals(negotiateFormat([PROMETHEUS_ACCEPT]), "openmetrics");
  assertEquals(negotiateFormat(["application/openmetrics-text"]), "openmetrics");
  assertEquals(negotiateFormat(['Application/OpenMetrics-Text; version="1.0.0"']), "openmetrics");
  assertEquals(negotiateFormat(["text/plain", "application/openmetrics-text"]), "openmetrics");
  assertEquals(negotiateFormat(["application/openmetrics-text;version=0.0.1"]), "text");
  assertEquals(negotiateFormat(["application/openmetrics-text;q=0"]), "text");
  assertEquals(
    negotiateFormat(["application/openmetrics-text;q=0.5,text/plain;version=0.0.4"]),
    "text",
  );
  assertEquals(negotiateFormat(["application/openmetrics-text;q=banana"]), "text");
  assertEquals(negotiateFormat([";;;,,,=\u0000"]), "text");
});

// ---------- the monotonic energy counter ----------

function powerSnapshot(at: string, uptime: number, uj: number, range: number | null): Snapshot {
  const base = SNAPSHOTS.get("zen4")!;
  return {
    ...base,
    generated_at: at,
    records: {
      ...base.records,
      power: {
        ...base.records.power!,
        uptime_s: uptime,
        zones: [{
          id: "intel-rapl:0",
          name: "package-0",
          energy_uj: uj,
          max_energy_range_uj: range,
        }],
      },
    },
  };
}

Deno.test("energy counter: starts at the raw reading, adds deltas, corrects a wrap, never decreases", () => {
  const range = 65532610987;
  let state: EnergyState = EMPTY_ENERGY;
  state = advanceEnergy(state, powerSnapshot("2026-01-15T12:00:00Z", 1000, range - 2e6, range));
  assertEquals(state.zones["intel-rapl:0"]!.total_j, (range - 2e6) / 1e6);
  const before = state.zones["intel-rapl:0"]!.total_j;
  state = advanceEnergy(state, powerSnapshot("2026-01-15T12:00:15Z", 1015, 1e6, range));
  assert(Math.abs(state.zones["intel-rapl:0"]!.total_j - (before + 3)) < 1e-6, "wrap: +3 J");
  const same = advanceEnergy(state, powerSnapshot("2026-01-15T12:00:15Z", 1015, 9e9, range));
  assertEquals(same, state, "the same snapshot twice changes nothing");
  const rebooted = advanceEnergy(state, powerSnapshot("2026-01-15T12:01:00Z", 20, 5e5, range));
  assertEquals(rebooted.zones["intel-rapl:0"]!.total_j, state.zones["intel-rapl:0"]!.total_j);
  const unknown = advanceEnergy(
    EMPTY_ENERGY,
    powerSnapshot("2026-01-15T12:00:00Z", 100, 5e6, null),
  );
  const dropped = advanceEnergy(unknown, powerSnapshot("2026-01-15T12:00:15Z", 115, 1e6, null));
  assertEquals(dropped.zones["intel-rapl:0"]!.total_j, 5, "a decrease without a range adds 0");
  const grew = advanceEnergy(dropped, powerSnapshot("2026-01-15T12:00:30Z", 130, 3e6, null));
  assertEquals(grew.zones["intel-rapl:0"]!.total_j, 7, "then counting resumes from the new base");
  assertEquals(advanceEnergy(state, null), state);
});

// ---------- real snapshots of every fixture machine ----------

Deno.test("every profile × XMRig state passes promtool (0.0.4 and OpenMetrics)", async () => {
  const checks: (() => Promise<void>)[] = [];
  for (const profile of PROFILES) {
    for (const [state, xmrig] of XMRIG_STATES) {
      // OpenMetrics for every state on one profile and for two states on the others: the
      // writer is shared, the states differ in which series exist.
      const om = profile === "zen4" || state === "mining" || state === "unreachable";
      const what = `${profile}/${state}`;
      const { text, om: open } = bothFormats(xmrig, SNAPSHOTS.get(profile)!, NOW, what, checks, om);
      BODIES.push(text, open);
      assertEquals(value(text, "xmrig_up"), xmrig.ok ? 1 : 0);
      assertEquals(value(text, "rigforge_snapshot_fresh"), 1);
    }
  }
  await validateAll(checks);
});

Deno.test("snapshot missing or stale: promtool-clean; probe data absent, never 0", async () => {
  const checks: (() => Promise<void>)[] = [];
  for (const profile of PROFILES) {
    const snapshot = SNAPSHOTS.get(profile)!;
    const mining = reply("summary-v2-mining.json");
    const om = profile === "zen4";
    const missing = bothFormats(mining, null, NOW, `${profile}/snapshot missing`, checks, om);
    const stale = bothFormats(mining, snapshot, NOW + 3600_000, `${profile}/stale`, checks, om);
    const neither = bothFormats(DOWN, null, NOW, `${profile}/nothing at all`, checks, om);
    BODIES.push(missing.text, stale.text, neither.text, neither.om);
    for (const body of [missing.text, stale.text]) {
      assertEquals(value(body, "rigforge_snapshot_fresh"), 0);
      assertEquals(value(body, "xmrig_hashrate_hashes_per_second", '{window="10s"}'), 184.44);
      const probeData = [...names(body)].filter((n) =>
        n.startsWith("rigforge_") && !n.startsWith("rigforge_snapshot_") &&
        !n.startsWith("rigforge_probe_") && !n.startsWith("rigforge_api_") &&
        n !== "rigforge_build_info"
      );
      assertEquals(probeData, [], "no probe-derived series without a fresh snapshot");
    }
    assertEquals(value(missing.text, "rigforge_snapshot_age_seconds"), undefined);
    assertEquals(value(stale.text, "rigforge_snapshot_age_seconds"), 3605);
    assertEquals(
      [...names(neither.text)].filter((n) => n.startsWith("xmrig_")),
      ["xmrig_up"],
      "XMRig down: xmrig_up 0 and nothing else from XMRig",
    );
  }
  await validateAll(checks);
});

Deno.test("values come from the records and XMRig's reply, in base units", () => {
  const mining = reply("summary-v2-mining.json");
  const summary = JSON.parse(mining.ok ? mining.text : "{}");
  for (const profile of PROFILES) {
    const snapshot = SNAPSHOTS.get(profile)!;
    const { text } = bothFormats(mining, snapshot, NOW, profile);
    const r = snapshot.records;
    const hs10 = summary.hashrate.total[0] as number;
    assertEquals(value(text, "xmrig_hashrate_hashes_per_second", '{window="10s"}'), hs10);
    assertEquals(value(text, "xmrig_hashrate_hashes_per_second", '{window="15m"}'), undefined);
    assertEquals(value(text, "xmrig_pool_uptime_seconds"), summary.connection.uptime_ms / 1000);
    assertEquals(value(text, "xmrig_pool_ping_seconds"), undefined, "ping 0 = no share yet");
    assertEquals(value(text, "rigforge_snapshot_age_seconds"), 5);
    assertEquals(value(text, "rigforge_package_power_watts"), r.power?.watts ?? undefined);
    assertEquals(value(text, "rigforge_hugepages_configured"), r.hugepages?.total ?? undefined);
    assertEquals(value(text, "rigforge_cpu_busy_cpus"), r.cpu?.busy_cpus ?? undefined);
    assertEquals(
      value(text, "rigforge_cpu_core_throttles_total"),
      r.cpu?.throttle.core_throttle_count ?? undefined,
    );
    const doctor = doctorSection(r, { isRoot: true, linux: true });
    assertEquals(value(text, "rigforge_doctor_issues"), doctor.verdict.issues);
    assertEquals(value(text, "rigforge_doctor_warnings"), doctor.verdict.warnings);
    const watts = r.power?.watts ?? null;
    if (watts === null) {
      assert(r.power?.reasons["watts"] !== undefined, `${profile}: watts null has a reason`);
    } else {
      assert(Math.abs(watts - FIXTURE_WATTS) < 0.01, `${profile}: fixture watts ${watts}`);
    }
    // Efficiency only from the probe's 60 s pair (these snapshots have none: no XMRig probed).
    assertEquals(
      value(text, "rigforge_efficiency_hashes_per_joule"),
      r.power?.paired?.hs_per_watt ?? undefined,
    );
    assert(r.power === null || r.power.paired !== null || r.power.reasons["paired"] !== undefined);
    for (const zone of r.power?.zones ?? []) {
      assertEquals(
        value(text, "rigforge_package_energy_joules_total", `{zone="${zone.id}"}`),
        zone.energy_uj === null ? undefined : zone.energy_uj / 1e6,
      );
    }
    const pct = r.cpu?.clock_pct_of_boost ?? null;
    assertEquals(
      value(text, "rigforge_cpu_clock_boost_ratio"),
      pct === null ? undefined : pct / 100,
    );
    assertEquals(
      value(text, "rigforge_cpu_throttling"),
      pct === null ? undefined : pct < 75 ? 1 : 0,
    );
    for (const verdict of ["applied", "unverified", "not-applied", "failed"]) {
      assertEquals(
        value(text, "rigforge_msr_verdict", `{verdict="${verdict}"}`),
        r.msr === null ? undefined : r.msr.verdict === verdict ? 1 : 0,
        `${profile}: msr verdict ${verdict}`,
      );
    }
    assertEquals(
      value(text, "rigforge_watchdog_thermal_hold"),
      r.watchdog?.mode === "enabled" && r.watchdog.thermal_hold !== null
        ? Number(r.watchdog.thermal_hold)
        : undefined,
    );
  }
  // The profiles differ where the fixtures say they do.
  const intel = metricsBody(
    mining,
    SNAPSHOTS.get("intel")!,
    NOW,
    options(SNAPSHOTS.get("intel")!, "text"),
  );
  // intel is hybrid: its E-cores at full speed are below the P-cores' boost but at their own,
  // so the busy CPUs are not throttling and the ratio is the per-CPU mean.
  const intelPct = SNAPSHOTS.get("intel")!.records.cpu!.clock_pct_of_boost!;
  assertEquals(value(intel.body, "rigforge_cpu_throttling"), intelPct < 75 ? 1 : 0);
  assertEquals(value(intel.body, "rigforge_cpu_clock_boost_ratio"), intelPct / 100);
  // intel's XMRig log ends with "FAILED TO APPLY MSR MOD" after its last start banner.
  assertEquals(value(intel.body, "rigforge_msr_verdict", '{verdict="failed"}'), 1);
  const buildvm = metricsBody(
    mining,
    SNAPSHOTS.get("buildvm")!,
    NOW,
    options(SNAPSHOTS.get("buildvm")!, "text"),
  );
  assertEquals(value(buildvm.body, "rigforge_package_power_watts"), undefined, "no RAPL in the VM");
  assertEquals(value(buildvm.body, "rigforge_cpu_boost_frequency_hertz"), undefined, "no cpufreq");
});

Deno.test("XMRig states: windows without data, no pool, shares and huge pages", () => {
  const body = (file: string) => metricsBody(reply(file), null, NOW, { format: "text" }).body;
  const started = body("summary-v2-workers-started.json");
  assertEquals(
    samples(started).filter((s) => s.name === "xmrig_hashrate_hashes_per_second"),
    [],
    "[null, null, null]: no hashrate sample at all",
  );
  const startup = body("summary-v2-startup.json");
  assertEquals(value(startup, "xmrig_hashrate_hashes_per_second", '{window="10s"}'), 0);
  assertEquals(value(startup, "xmrig_hashrate_highest_hashes_per_second"), undefined);
  const nopool = body("summary-v2-nopool.json");
  assertEquals(value(nopool, "xmrig_pool_up"), 0);
  const lost = JSON.parse(xmrigBody("summary-v2-pool-lost-retrying.json"));
  const retrying = body("summary-v2-pool-lost-retrying.json");
  assertEquals(value(retrying, "xmrig_pool_failures_total"), lost.connection.failures);
  assertEquals(
    value(retrying, "xmrig_shares_total", '{result="accepted"}'),
    lost.results.shares_good,
  );
  assertEquals(
    value(retrying, "xmrig_shares_total", '{result="rejected"}'),
    lost.results.shares_total - lost.results.shares_good,
  );
  const nohuge = JSON.parse(xmrigBody("summary-v2-nohugepages.json"));
  const pages = body("summary-v2-nohugepages.json");
  assertEquals(value(pages, "xmrig_hugepages_allocated"), nohuge.hugepages[0]);
  assertEquals(value(pages, "xmrig_hugepages_requested"), nohuge.hugepages[1]);
});

Deno.test("hostile values: label text escaped, odd numbers dropped, still promtool-clean", async () => {
  const base = SNAPSHOTS.get("epyc")!;
  const evil = 'k10temp"} 1\nrigforge_fake{x="\\';
  const snapshot: Snapshot = {
    ...base,
    records: {
      ...base.records,
      thermal: {
        ...base.records.thermal!,
        source: evil,
        sensors: [
          { chip: evil, label: "Tctl", c: 60 },
          { chip: "k10temp", label: "Tctl", c: 61 },
          { chip: "k10temp", label: "Tctl", c: 62 },
        ],
      },
      provenance: {
        ...base.records.provenance!,
        rigforge_version: "1.0\n# EOF\n",
        xmrig_commit: "nothex",
      },
    },
  };
  const xmrig: XmrigReply = {
    ok: true,
    text: JSON.stringify({
      version: 'v"\n\\',
      hashrate: { total: ["1e3", "INFINITY", -5], highest: null },
      results: { hashes_total: -1, shares_good: 5, shares_total: 2 },
      hugepages: "yes",
      connection: { ip: 7, uptime_ms: "x", ping: -3 },
      paused: "no",
    }).replace('"INFINITY"', "1e999"),
  };
  const checks: (() => Promise<void>)[] = [];
  const { text, om } = bothFormats(xmrig, snapshot, NOW, "hostile", checks);
  await validateAll(checks);
  BODIES.push(text, om);
  assertEquals(names(text).has("rigforge_fake"), false);
  assertEquals(
    samples(text).filter((s) => s.name === "rigforge_hwmon_temperature_celsius").length,
    3,
    "repeated chip/sensor pairs are numbered, not duplicated",
  );
  assert(text.includes('chip="k10temp"') && text.includes('chip="k10temp_1"'));
  assertEquals(value(text, "xmrig_hashrate_hashes_per_second", '{window="15m"}'), -5);
  assertEquals(value(text, "xmrig_hashrate_hashes_per_second", '{window="10s"}'), undefined);
  assertEquals(value(text, "xmrig_hashes_total"), undefined, "negative counter dropped");
  assertEquals(
    value(text, "xmrig_shares_total", '{result="rejected"}'),
    undefined,
    "total below good: no rejected count",
  );
  assertEquals(text.includes("nothex"), false, "a commit that is not 40 hex is not a label");
});

Deno.test("no token or pool password in any output", async () => {
  const secrets = new Set<string>();
  for (const profile of PROFILES) {
    const path = join(RIGFORGE_DIR, profile, "config.json");
    const raw = await Deno.readTextFile(path).catch(() => "");
    for (const m of raw.matchAll(/"([^"]*LEAKCHECK[^"]*)"/g)) secrets.add(m[1]!);
    const { config } = await locate(join(RIGFORGE_DIR, profile));
    if (config?.accessToken) secrets.add(config.accessToken);
    for (const token of Object.values(config?.accessTokens ?? {})) secrets.add(token);
  }
  assert(secrets.size >= 4, "the fixtures carry distinctive secrets");
  assert(BODIES.length >= 48, "the sweep covers the bodies built above");
  for (const body of BODIES) {
    assertEquals(body.includes("LEAKCHECK"), false);
    for (const secret of secrets) assertEquals(body.includes(secret), false);
  }
});

// ---------- the documentation ----------

const DOC = await Deno.readTextFile(join(ROOT, "docs", "prometheus.md"));

function docTable(): Map<string, { type: string; unit: string; labels: string[] }> {
  const rows = new Map<string, { type: string; unit: string; labels: string[] }>();
  for (const line of DOC.split("\n")) {
    const m = /^\|\s*`([a-z0-9_:]+)`\s*\|\s*(\w+)\s*\|([^|]+)\|([^|]+)\|/.exec(line);
    if (m === null) continue;
    const labels = m[4]!.trim() === "—"
      ? []
      : [...m[4]!.matchAll(/`([a-z_]+)`/g)].map((l) => l[1]!);
    rows.set(m[1]!, { type: m[2]!, unit: m[3]!.trim(), labels });
  }
  return rows;
}

Deno.test("docs/prometheus.md lists exactly the metrics the code defines, with type, unit, labels", () => {
  const table = docTable();
  assertEquals([...table.keys()].sort(), METRICS.map((m) => m.name).sort());
  for (const m of METRICS) {
    assertEquals(table.get(m.name), { type: m.kind, unit: m.unit ?? "—", labels: [...m.labels] });
  }
});

Deno.test("every metric name served is documented, and each label set is the documented one", () => {
  const table = docTable();
  assert(BODIES.length > 0);
  for (const body of BODIES) {
    for (const s of samples(body)) {
      const doc = table.get(s.name);
      assert(doc !== undefined, `${s.name} is in docs/prometheus.md`);
      const labels = [...s.labels.matchAll(/([a-z_]+)="/g)].map((l) => l[1]!);
      assert(labels.every((l) => doc.labels.includes(l)), `${s.name} labels ${labels}`);
    }
  }
});

Deno.test("the PromQL examples in docs/prometheus.md pass promtool check rules", async () => {
  const examples = [...DOC.matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
  assert(examples.length >= 8, "the doc has its examples");
  const rules = "groups:\n  - name: doc_examples\n    rules:\n" +
    examples.map((expr, i) =>
      `      - record: doc:example_${i}\n        expr: ${
        JSON.stringify(expr.replace(/\s+/g, " "))
      }\n`
    ).join("");
  const dir = await Deno.makeTempDir({ prefix: "metrics-rules-" });
  try {
    await Deno.writeTextFile(join(dir, "rules.yml"), rules);
    const { code, out } = await promtool(["check", "rules", join(dir, "rules.yml")]);
    assertEquals(code, 0, out);
    assert(out.includes(`${examples.length} rules found`), out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------- through the real handler ----------

Deno.test("the handler serves /metrics: auth, negotiation, headers, request and shed counters", async () => {
  const { config } = await locate(join(RIGFORGE_DIR, "zen4"));
  const token = config!.accessToken!;
  const snapshot = SNAPSHOTS.get("zen4")!;
  let shed = { source: 7, global: 2, connections: 1 };
  const deps: HandlerDeps = {
    auth: await buildAuth(config),
    snapshot: () => ({ snapshot, error: null }),
    xmrig: () => Promise.resolve(reply("summary-v2-mining.json")),
    now: () => NOW,
    checks: (records) => doctorSection(records, { isRoot: true, linux: true }),
    shedCounts: () => shed,
  };
  const handler = createHandler(deps);
  const get = (headers: Record<string, string[]>, method = "GET"): Promise<HttpRequest> =>
    Promise.resolve({ method, url: "/metrics?x=1", headers, remoteAddress: "10.0.0.9" });
  const bearer = { authorization: [`Bearer ${token}`] };

  assertEquals((await handler(await get({}))).status, 401);
  assertEquals((await handler(await get({ authorization: ["Bearer nope"] }))).status, 403);
  assertEquals((await handler(await get(bearer, "POST"))).status, 405);

  const text = await handler(await get(bearer));
  assertEquals(text.status, 200);
  const header = (name: string) => text.headers.find(([n]) => n === name)?.[1];
  assertEquals(header("Content-Type"), TEXT_CONTENT_TYPE);
  assertEquals(header("Vary"), "Accept");
  assertEquals(text.headers.filter(([n]) => n === "Content-Type").length, 1);
  const body = new TextDecoder().decode(text.body);
  await checkText(body, "handler text");
  assertEquals(value(body, "rigforge_api_requests_total", '{code="401"}'), 1);
  assertEquals(value(body, "rigforge_api_requests_total", '{code="403"}'), 1);
  assertEquals(value(body, "rigforge_api_requests_total", '{code="405"}'), 1);
  assertEquals(value(body, "rigforge_api_requests_shed_total", '{reason="source"}'), 7);
  assertEquals(value(body, "rigforge_doctor_issues") !== undefined, true);

  shed = { source: 9, global: 2, connections: 1 };
  const om = await handler(await get({ ...bearer, accept: [PROMETHEUS_ACCEPT] }));
  assertEquals(om.headers.find(([n]) => n === "Content-Type")?.[1], OPENMETRICS_CONTENT_TYPE);
  const omBody = new TextDecoder().decode(om.body);
  await checkOpenMetrics(omBody, "handler OpenMetrics");
  assertEquals(value(omBody, "rigforge_api_requests_total", '{code="200"}'), 1);
  assertEquals(value(omBody, "rigforge_api_requests_shed_total", '{reason="source"}'), 9);
  BODIES.push(body, omBody);
  for (const secret of [token, ...Object.values(config!.accessTokens)]) {
    assertEquals(body.includes(secret) || omBody.includes(secret), false);
  }
});
