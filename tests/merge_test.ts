import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import {
  healthBody,
  rigforgeBlock,
  snapshotInfo,
  spliceTopLevel,
  summaryBody,
  tuneBody,
} from "../src/merge.ts";
import { maskSecrets } from "../src/lib/secrets.ts";
import type { Snapshot } from "../src/snapshot.ts";
import { parsePin } from "../src/probe/provenance.ts";
import type { XmrigReply } from "../src/xmrig.ts";
import { FIXTURE_NOW_MS } from "./_context.ts";
import { parseLossless, without } from "./_lossless.ts";
import { fixtureSnapshot, XMRIG_DIR, xmrigBody } from "./_snapshot.ts";

const SUMMARIES = [...Deno.readDirSync(XMRIG_DIR)]
  .map((e) => e.name)
  .filter((n) => /^(summary|api-json).*\.json$/.test(n))
  .sort();
const ENTRIES: [string, string][] = [
  ["generated_at", '"2026-01-15T12:00:00Z"'],
  ["rigforge", '{\n    "a": 1\n}'],
];
const NOW = FIXTURE_NOW_MS + 5000;
const zen4 = await fixtureSnapshot("zen4");
const PIN = parsePin(
  await Deno.readTextFile(join(XMRIG_DIR, "../rigforge/zen4/rigforge.sh")),
);

// --- spliceTopLevel -------------------------------------------------------------------------

Deno.test("splice keeps every byte XMRig sent up to its last value, for every capture", () => {
  assert(SUMMARIES.length >= 6, "captures present");
  for (const name of SUMMARIES) {
    const body = xmrigBody(name);
    const spliced = spliceTopLevel(body, ENTRIES)!;
    const lastValue = body.slice(0, body.trimEnd().length - 1).trimEnd();
    assert(spliced.startsWith(lastValue + ","), name);
    assertEquals(
      without(parseLossless(spliced), ["generated_at", "rigforge"]),
      parseLossless(body),
    );
    const parsed = JSON.parse(spliced);
    assertEquals(parsed.generated_at, "2026-01-15T12:00:00Z");
    assertEquals(parsed.rigforge, { a: 1 });
  }
});

Deno.test("splice keeps 2^64-1 exactly where JSON.parse would round it", () => {
  const body = xmrigBody("summary-v2-mining.json");
  assert(body.includes('"diff_current": 18446744073709551615'));
  const spliced = spliceTopLevel(body, ENTRIES)!;
  assert(spliced.includes('"diff_current": 18446744073709551615,'));
  const diff =
    (parseLossless(spliced) as { results: { diff_current: unknown } }).results.diff_current;
  assertEquals(diff, { $num: "18446744073709551615" });
  assert(!JSON.stringify(JSON.parse(body)).includes("18446744073709551615"), "JSON.parse rounds");
});

Deno.test("splice follows XMRig's 4-space layout and re-indents nested values", () => {
  const spliced = spliceTopLevel('{\n    "id": "x"\n}', ENTRIES);
  assertEquals(
    spliced,
    '{\n    "id": "x",\n    "generated_at": "2026-01-15T12:00:00Z",\n    "rigforge": {\n        "a": 1\n    }\n}',
  );
});

Deno.test("splice handles compact, empty, nested-last and trailing-whitespace objects", () => {
  assertEquals(spliceTopLevel('{"a":{"b":[1,{}]}}', [["k", "1"]]), '{"a":{"b":[1,{}]},"k":1}');
  assertEquals(spliceTopLevel("{}", [["k", "1"], ["j", "2"]]), '{"k":1,"j":2}');
  assertEquals(spliceTopLevel("  { \n }  \n", [["k", "1"]]), '  {"k":1}  \n');
  assertEquals(spliceTopLevel('{"a":1}\n', [["k", '"}"']]), '{"a":1,"k":"}"}\n');
  assertEquals(spliceTopLevel('{"s":"}"}', [["k", "1"]]), '{"s":"}","k":1}');
  assertEquals(spliceTopLevel('{"a":1}', []), '{"a":1}');
  assertEquals(spliceTopLevel('{"a":1}', [['we"ird', "1"]]), '{"a":1,"we\\"ird":1}');
});

Deno.test("splice refuses what is not an object", () => {
  for (const bad of ["", "   ", "[1]", "1", "}", '"{}"', "{"]) {
    assertEquals(spliceTopLevel(bad, ENTRIES), null, JSON.stringify(bad));
  }
});

Deno.test("a key XMRig might already have is overridden by the spliced one (last wins)", () => {
  const spliced = spliceTopLevel('{"rigforge": "theirs", "x": 1}', [["rigforge", '"ours"']])!;
  assertEquals(JSON.parse(spliced).rigforge, "ours");
});

// --- the rigforge block -----------------------------------------------------------------------

type Kind = "string" | "number" | "int" | "boolean" | "object" | "array";
type Shape = { [key: string]: Kind | `${Kind}?` | Shape };

/** RigForge v1.12.0's `rigforge` block: every key and its type (`?`: may be null in v1.12). */
const V112: Shape = {
  version: "string",
  xmrig_version: "string",
  xmrig_commit: "string",
  tune: {
    applied: "object?",
    target: "string?",
    last_best_hs: "number?",
    candidates_tried: "int?",
    autotune: { enabled: "boolean", target: "string?", schedule: "string?", next: "string?" },
  },
  power: { watts: "number?", hs_per_watt: "number?" },
  health: {
    service_active: "boolean",
    hugepages_total: "int?",
    hugepages_1g: "int?",
    governor: "string?",
    msr: "string",
    ram: { modules: "int", channels: "int", mts: "int", rated_mts: "int" },
    xmp: "boolean?",
    smt: "string?",
    firmware: { vendor: "string?", board: "string?" },
    clock_pct_of_boost: "int?",
    throttling: "boolean?",
  },
  watchdog: {
    mode: "string",
    thermal_hold: "boolean",
    max_temp_c: "int?",
    resumes_below_c: "int?",
    temp_c: "number?",
    strikes: "int",
  },
  config: "object",
  config_meta: {
    revision: "string",
    changed_at: "string?",
    source: "string?",
    last_change_id: "string?",
  },
};

function kindOf(value: unknown): Kind | "null" {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "number";
  return typeof value as Kind;
}

/** Paths where `block` breaks `shape`; `allNull`: every leaf may be null (no snapshot). */
function shapeErrors(block: unknown, shape: Shape, allNull: boolean, path = ""): string[] {
  const errors: string[] = [];
  const o = block as Record<string, unknown>;
  for (const [key, want] of Object.entries(shape)) {
    const at = path + key;
    if (!(key in o)) {
      errors.push(`${at}: missing`);
      continue;
    }
    if (typeof want === "object") {
      errors.push(...shapeErrors(o[key], want, allNull, `${at}.`));
      continue;
    }
    const kind = kindOf(o[key]);
    const base = want.replace("?", "");
    const ok = kind === base || (base === "number" && kind === "int") ||
      (kind === "null" && (want.endsWith("?") || allNull));
    if (!ok) errors.push(`${at}: ${kind}, want ${want}`);
  }
  return errors;
}

const mining: XmrigReply = { ok: true, text: xmrigBody("summary-v2-mining.json") };

Deno.test("a fresh snapshot gives every v1.12 key with v1.12's type, none of them null", () => {
  const block = rigforgeBlock(zen4, mining, NOW);
  const strict = JSON.parse(JSON.stringify(V112).replaceAll("?", ""));
  // Without a RAPL window (static fixture files) and with a tune log present, these may be null:
  const expectedNull = ["power.watts", "power.hs_per_watt"];
  const errors = shapeErrors(block, strict, false).filter((e) =>
    !expectedNull.some((p) => e.startsWith(`${p}: null`))
  );
  assertEquals(errors, []);
  assertEquals(block["version"], "1.17.2");
  assertEquals(block["xmrig_version"], "v6.26.0");
  const health = block["health"] as Record<string, unknown>;
  assertEquals(health["msr"], "ok", "the log says applied (verdict unverified) → v1.12 ok");
  assertEquals(health["governor"], "performance");
  assertEquals(health["hugepages_total"], 1280);
  assertEquals(health["ram"], {
    ...(health["ram"] as object),
    modules: 2,
    channels: 2,
    mts: 4800,
    rated_mts: 6000,
  });
  assertEquals(health["xmp"], false);
  assertEquals(
    (health["firmware"] as Record<string, unknown>)["board"],
    "ROG STRIX X670E-E GAMING WIFI",
  );
  assertEquals(block["xmrig_api"], "ok");
  assertEquals(block["xmrig_error"], null);
  assertEquals((block["snapshot"] as Record<string, unknown>)["status"], "fresh");
});

Deno.test("every key of the real v1.12 output is still there", () => {
  const anchor = JSON.parse(
    Deno.readTextFileSync(join(XMRIG_DIR, "..", "anchor", "summary.xmrig-reachable.json")),
  ).rigforge;
  const block = rigforgeBlock(zen4, mining, NOW);
  const missing = (a: Record<string, unknown>, b: Record<string, unknown>, at: string): string[] =>
    Object.keys(a).flatMap((k) => {
      if (!(k in b)) return [`${at}${k}`];
      const inner = a[k];
      const ours = b[k];
      return inner !== null && typeof inner === "object" && !Array.isArray(inner) &&
          k !== "config" &&
          k !== "applied"
        ? missing(inner as Record<string, unknown>, ours as Record<string, unknown>, `${at}${k}.`)
        : [];
    });
  assertEquals(missing(anchor, block, ""), []);
});

Deno.test("no snapshot: 200-able block, v1.12 keys present, snapshot-borne values null", () => {
  const block = rigforgeBlock(null, mining, NOW, { snapshotError: "absent" });
  assertEquals(shapeErrors(block, V112, true), []);
  const health = block["health"] as Record<string, unknown>;
  for (const key of ["hugepages_total", "governor", "msr", "service_active"]) {
    assertEquals(health[key], null, key);
  }
  assertEquals(block["version"], null);
  assertEquals(block["xmrig_version"], null, "the pin comes from the snapshot");
  const running = `v${JSON.parse(xmrigBody("summary-v2-mining.json")).version}`;
  assertEquals(block["xmrig_version_running"], running, "XMRig's own data is intact");
  assertEquals(block["xmrig_version_mismatch"], null);
  // Cannot tell for the pin's reason (no snapshot), not "no pin".
  const why = block["reasons"] as Record<string, unknown>;
  assertEquals(why["xmrig_version"], "not-running");
  assertEquals(why["xmrig_version_mismatch"], why["xmrig_version"]);
  assertEquals(block["snapshot"], {
    status: "missing",
    age_s: null,
    interval_s: null,
    stale_after_s: null,
    probe_ms: null,
    failed_probes: [],
    read_error: "absent",
  });
  const reasons = block["reasons"] as Record<string, string>;
  assertEquals(reasons["health.hugepages_total"], "not-running");
  assertEquals(reasons["power.watts"], "not-running");
});

Deno.test("staleness: older than 3 intervals is stale, its values are still served, labelled", () => {
  const at = (seconds: number) => FIXTURE_NOW_MS + seconds * 1000;
  assertEquals(snapshotInfo(zen4, at(45)).status, "fresh");
  assertEquals(snapshotInfo(zen4, at(46)).status, "stale");
  assertEquals(snapshotInfo(zen4, at(-46)).status, "stale", "dated in the future");
  assertEquals(snapshotInfo(zen4, at(46)).age_s, 46);
  const fresh = rigforgeBlock(zen4, mining, at(5));
  // Between 45 s (stale here) and Pithead's 60 s STALE_AFTER_S, and well beyond: same values.
  for (const seconds of [50, 300]) {
    const stale = rigforgeBlock(zen4, mining, at(seconds));
    for (const key of ["tune", "power", "health", "watchdog", "config", "config_meta", "control"]) {
      assertEquals(stale[key], fresh[key], `${key} at ${seconds} s`);
    }
    assertEquals(stale["reasons"], fresh["reasons"], "no value blanked");
    const info = stale["snapshot"] as Record<string, unknown>;
    assertEquals(info["status"], "stale");
    assertEquals(info["age_s"], seconds);
    assertEquals(info["stale_after_s"], zen4.interval_s * 3);
  }
  assertEquals(
    (fresh["health"] as Record<string, unknown>)["hugepages_total"],
    zen4.records.hugepages?.total,
  );
  const body = JSON.parse(
    summaryBody(mining, { read: { snapshot: zen4, error: null }, now: at(300) }),
  );
  assertEquals(
    body.generated_at,
    "2026-01-15T12:00:00Z",
    "the real (old) stamp, for Pithead to age",
  );
});

Deno.test("XMRig unreachable: generated_at + rigforge only, with the reason", () => {
  const down: XmrigReply = { ok: false, error: "connection refused" };
  const body = summaryBody(down, { read: { snapshot: zen4, error: null }, now: NOW });
  const parsed = JSON.parse(body);
  assertEquals(Object.keys(parsed), ["generated_at", "rigforge"]);
  assertEquals(parsed.generated_at, "2026-01-15T12:00:00Z");
  assertEquals(parsed.rigforge.xmrig_api, "unreachable");
  assertEquals(parsed.rigforge.xmrig_error, "connection refused");
  assertEquals(parsed.rigforge.xmrig_version, PIN.version, "v1.12: the pin, also when down");
  assertEquals(parsed.rigforge.xmrig_version_running, null);
  assertEquals(parsed.rigforge.reasons.xmrig_version_running, "not-running");
  assertEquals(parsed.rigforge.health.hugepages_total, 1280, "snapshot data still served");
  assertEquals(parsed.rigforge.power.hs_per_watt, null);
});

Deno.test("summary body: XMRig's value plus exactly generated_at and rigforge", () => {
  for (
    const name of ["summary-v1-mining.json", "api-json-v1-alias.json", "summary-v2-startup.json"]
  ) {
    const text = xmrigBody(name);
    const body = summaryBody({ ok: true, text }, {
      read: { snapshot: zen4, error: null },
      now: NOW,
    });
    const parsed = parseLossless(body) as Record<string, unknown>;
    assertEquals(Object.keys(parsed).slice(-2), ["generated_at", "rigforge"]);
    assertEquals(without(parsed as never, ["generated_at", "rigforge"]), parseLossless(text));
  }
});

Deno.test("hs_per_watt is the probe's 60 s pair, never live hashrate over an older power window", () => {
  const interval = {
    watts: 125,
    window_s: 15,
    source: "rapl-window",
    zones: [],
    uptime_s: 1,
    energy_j_total: 1,
    paired: null,
    history: [],
    reasons: { paired: "warming-up" },
  };
  const unpaired = rigforgeBlock(withRecord(zen4, "power", interval), mining, NOW);
  const power = unpaired["power"] as Record<string, unknown>;
  assertEquals(power["watts"], 125, "the interval's watts stay");
  assertEquals(power["window_s"], 15);
  assertEquals(power["hs_per_watt"], null, "no pair: no ratio from two moments");
  assertEquals(power["hs_window"], null);
  assertEquals((unpaired["reasons"] as Record<string, unknown>)["power.hs_per_watt"], "warming-up");
  const paired = {
    window_s: 60,
    hs_window: "60s",
    hashrate_hs: 10_800,
    watts: 90,
    hs_per_watt: 120,
    window_end_uptime_s: 1,
    window_end: "2026-01-15T11:59:50Z",
  };
  const both = rigforgeBlock(withRecord(zen4, "power", { ...interval, paired }), mining, NOW);
  const p = both["power"] as Record<string, unknown>;
  assertEquals(
    [p["watts"], p["hs_per_watt"], p["window_s"], p["hs_window"], p["hashrate_hs"]],
    [90, 120, 60, "60s", 10_800],
  );
  assertEquals(p["window_end"], paired.window_end);
});

function withRecord(snapshot: Snapshot, name: string, record: unknown): Snapshot {
  return { ...snapshot, records: { ...snapshot.records, [name]: record } } as Snapshot;
}

Deno.test("garbage inside records reads as null, never as a crash or a wrong type", () => {
  const garbage = {
    ...zen4,
    records: Object.fromEntries(
      Object.keys(zen4.records).map((k) => [k, {
        total: "1280",
        governors: [1, {}, "x".repeat(999)],
        verdict: 7,
        watts: "100",
        mode: "maybe",
        config: [1],
        dimms: "no",
        recent: { a: 1 },
        reasons: { total: "bogus" },
      }]),
    ),
  } as unknown as Snapshot;
  const block = rigforgeBlock(garbage, mining, NOW);
  assertEquals(shapeErrors(block, V112, true), []);
  const health = block["health"] as Record<string, unknown>;
  assertEquals(health["hugepages_total"], null);
  assertEquals(health["governor"], null);
  assertEquals(health["msr"], null);
  assertEquals(
    (block["reasons"] as Record<string, string>)["health.hugepages_total"],
    "unreadable",
  );
  JSON.parse(healthBody({ read: { snapshot: garbage, error: null }, now: NOW }));
  JSON.parse(tuneBody({ read: { snapshot: garbage, error: null }, now: NOW }));
});

Deno.test("watchdog: exactly {mode: disabled} when disabled, temperature from the thermal probe", () => {
  const disabled = withRecord(zen4, "watchdog", { ...zen4.records.watchdog, mode: "disabled" });
  assertEquals(rigforgeBlock(disabled, mining, NOW)["watchdog"], { mode: "disabled" });
  const enabled = rigforgeBlock(zen4, mining, NOW)["watchdog"] as Record<string, unknown>;
  assertEquals(enabled["mode"], "enabled");
  assertEquals(enabled["temp_c"], zen4.records.thermal?.package_c);
  assertEquals(enabled["max_temp_c"], 90);
  assertEquals(enabled["resumes_below_c"], 85);
});

Deno.test("control and control_history are always served (null and [] without an outcome)", () => {
  const block = rigforgeBlock(zen4, mining, NOW);
  const control = zen4.records.config_view?.control;
  assert(control, "the zen4 fixture has a control outcome");
  assertEquals((block["control"] as Record<string, unknown>)["change_id"], control.change_id);
  assertEquals(block["control_history"], [block["control"]]);
  const none = withRecord(zen4, "config_view", { ...zen4.records.config_view, control: null });
  const bare = rigforgeBlock(none, mining, NOW);
  assertEquals([bare["control"], bare["control_history"]], [null, []]);
  assertEquals((bare["reasons"] as Record<string, string>)["control"], "absent");
  const missing = rigforgeBlock(null, mining, NOW);
  assertEquals([missing["control"], missing["control_history"]], [null, []]);
  assertEquals((missing["reasons"] as Record<string, string>)["control"], "not-running");
});

Deno.test("maskSecrets masks credentials at any depth, keeps unset ones and the sentinel", () => {
  assertEquals(
    maskSecrets({
      pools: [{ pass: "hunter2", "tls-fingerprint": "ab", user: "u", password: "" }],
      nested: { api_secret: "s", token: null, already: { pass: { __secret__: true } } },
    }),
    {
      pools: [{
        pass: { __secret__: true },
        "tls-fingerprint": { __secret__: true },
        user: "u",
        password: "",
      }],
      nested: {
        api_secret: { __secret__: true },
        token: null,
        already: { pass: { __secret__: true } },
      },
    },
  );
});

Deno.test("/health and /tune bodies keep v1.12's key sets and add theirs", () => {
  const view = { read: { snapshot: zen4, error: null }, now: NOW };
  const health = JSON.parse(healthBody(view, { verdict: { issues: 0 } }));
  for (
    const key of [
      "clock_pct_of_boost",
      "firmware",
      "governor",
      "hugepages_1g",
      "hugepages_total",
      "msr",
      "ram",
      "service_active",
      "smt",
      "throttling",
      "watchdog",
      "xmp",
    ]
  ) assert(key in health, key);
  assertEquals(health.doctor, { verdict: { issues: 0 } });
  assertEquals(health.generated_at, "2026-01-15T12:00:00Z");
  const stale = JSON.parse(healthBody({ ...view, now: NOW + 3600_000 }, { verdict: {} }));
  assertEquals(stale.doctor, { verdict: {} }, "the verdict over the newest data, labelled");
  assertEquals(stale.snapshot.status, "stale");
  const missing = JSON.parse(
    healthBody({ read: { snapshot: null, error: "absent" }, now: NOW }, { verdict: {} }),
  );
  assertEquals(missing.doctor, null, "no verdict without a snapshot");
  const tune = JSON.parse(tuneBody(view));
  for (const key of ["applied", "autotune", "candidates_tried", "last_best_hs", "target"]) {
    assert(key in tune, key);
  }
  assertEquals(tune.target, "efficiency");
  assertEquals(tune.candidates_tried, 6);
  assert(Array.isArray(tune.autotune.recent) && tune.autotune.recent.length > 0, "decisions");
});
