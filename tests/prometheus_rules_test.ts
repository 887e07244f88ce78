/**
 * The fleet alerting rules (`prometheus/rigforge-api.rules.yml`):
 * - both promtool gates: `promtool check rules` on the shipped file and `promtool test rules`
 *   on its unit tests (`prometheus/rigforge-api.rules.test.yml`, and `.history.test.yml` for
 *   the alerts that compare a rig with its last hours);
 * - the shape every alert must have (severity, summary and description naming the rig, a
 *   runbook pointing at `rigforge-api doctor`, a `for:` that rides out one missed scrape), that
 *   every metric the rules read is one `/metrics` serves, and that every alert is unit-tested
 *   firing and silent across a missed scrape;
 * - a real Prometheus loading the rules (with `for:` shortened in a temporary copy) over several
 *   running `serve` instances: a healthy rig, one whose XMRig log says the MSR mod failed, one
 *   whose XMRig is down, one whose snapshot is stale, and an address where nothing answers;
 *   `/api/v1/alerts` shows exactly the expected alerts.
 *
 * @module
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { MIN_CLOCK_PCT } from "../src/rigforge/thresholds.ts";
import { arr, type Obj, obj, str } from "../src/lib/json.ts";
import { METRICS } from "../src/metrics.ts";
import { locate } from "../src/rigforge/locate.ts";
import { isoSeconds } from "../src/lib/time.ts";
import { type Snapshot, writeSnapshotAtomic } from "../src/snapshot.ts";
import { startPrometheus } from "./_prometheus.ts";
import { copyTree, freePort, type ServeHandle, startServe } from "./_serve.ts";
import { fixtureSnapshot, RIGFORGE_DIR, xmrigBody } from "./_snapshot.ts";
import { waitFor } from "./_wait.ts";
import { startStandin } from "./_xmrig_standin.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RULES = join(ROOT, "prometheus", "rigforge-api.rules.yml");
/** promtool unit tests: stepping every 15 s, and every minute for the alerts needing hours. */
const RULE_TESTS = [
  join(ROOT, "prometheus", "rigforge-api.rules.test.yml"),
  join(ROOT, "prometheus", "rigforge-api.rules.history.test.yml"),
];
/** The scrape interval the shipped rules are written for (docs/prometheus.md's scrape config). */
const SCRAPE_S = 15;

// ---------- decoding the YAML ----------

interface AlertRule {
  alert: string;
  expr: string;
  forS: number;
  keepFiringForS: number | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface RecordRule {
  record: string;
  expr: string;
}

/** A Prometheus duration (`90s`, `2m`, `1h30m`) in seconds, or an error. */
function seconds(value: unknown, what: string): number {
  const text = str(value, 32);
  const parts = text === null ? null : [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  if (text === null || parts === null || parts.map((p) => p[0]).join("") !== text) {
    throw new Error(`${what}: not a duration: ${JSON.stringify(value)}`);
  }
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0);
}

function strings(value: unknown, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(obj(value) ?? {})) {
    const text = str(v, 4096);
    if (text === null) throw new Error(`${what}.${key}: not a string`);
    out[key] = text;
  }
  return out;
}

/** The rule objects of a rules file's groups. */
function ruleObjects(doc: unknown): Obj[] {
  const groups = arr(obj(doc)?.["groups"]);
  if (groups === null) throw new Error("rules file: no groups");
  return groups.flatMap((g) =>
    (arr(obj(g)?.["rules"]) ?? []).map((r) => {
      const rule = obj(r);
      if (rule === null) throw new Error("rules file: a rule that is not a mapping");
      return rule;
    })
  );
}

function decodeRules(text: string): { alerts: AlertRule[]; records: RecordRule[] } {
  const alerts: AlertRule[] = [];
  const records: RecordRule[] = [];
  for (const rule of ruleObjects(parse(text))) {
    const expr = str(rule["expr"], 4096);
    const record = str(rule["record"], 256);
    const alert = str(rule["alert"], 256);
    if (expr === null) throw new Error(`rule ${alert ?? record}: no expr`);
    if (record !== null) {
      records.push({ record, expr });
      continue;
    }
    if (alert === null) throw new Error("a rule that is neither an alert nor a record");
    alerts.push({
      alert,
      expr,
      forS: rule["for"] === undefined ? 0 : seconds(rule["for"], `${alert} for`),
      keepFiringForS: rule["keep_firing_for"] === undefined
        ? null
        : seconds(rule["keep_firing_for"], `${alert} keep_firing_for`),
      labels: strings(rule["labels"], `${alert} labels`),
      annotations: strings(rule["annotations"], `${alert} annotations`),
    });
  }
  return { alerts, records };
}

/**
 * The shipped rules with every `for:` and `keep_firing_for:` replaced (for a live test that
 * cannot wait minutes), as JSON (which Prometheus reads as YAML). Nothing else changes.
 */
function shortened(text: string, forS: number): string {
  const doc = parse(text);
  for (const rule of ruleObjects(doc)) {
    if (rule["for"] !== undefined) rule["for"] = `${forS}s`;
    if (rule["keep_firing_for"] !== undefined) rule["keep_firing_for"] = `${forS}s`;
  }
  return JSON.stringify(doc, null, 2);
}

const RULES_TEXT = await Deno.readTextFile(RULES);

// ---------- the promtool gates ----------

async function promtool(args: string[]): Promise<{ code: number; out: string }> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("promtool", { args, stdout: "piped", stderr: "piped" })
      .output();
  } catch (error) {
    throw new Error(
      `promtool is required (Debian package "prometheus": apt-get install prometheus): ${error}`,
    );
  }
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return { code: output.code, out: text };
}

Deno.test("promtool check rules: the shipped rules file is valid", async () => {
  const { alerts, records } = decodeRules(RULES_TEXT);
  const { code, out } = await promtool(["check", "rules", RULES]);
  assertEquals(code, 0, out);
  assert(out.includes(`SUCCESS: ${alerts.length + records.length} rules found`), out);
});

Deno.test("promtool test rules: every alert's unit tests pass", async () => {
  const { code, out } = await promtool(["test", "rules", ...RULE_TESTS]);
  assertEquals(code, 0, out);
  assertEquals(out.match(/^ {2}SUCCESS$/gm)?.length, RULE_TESTS.length, out);
});

// ---------- the shape of every alert ----------

Deno.test("every alert: severity, the rig named, a runbook at doctor, rides out a missed scrape", () => {
  const { alerts } = decodeRules(RULES_TEXT);
  // The list, one alert (or two) per item.
  assertEquals(alerts.map((a) => a.alert).sort(), [
    "RigforgeApiDown",
    "RigforgeCpuThrottling",
    "RigforgeEfficiencyDrop",
    "RigforgeHugePagesNotReserved",
    "RigforgeMsrModFailed",
    "RigforgeNoTargets",
    "RigforgeSnapshotStale",
    "RigforgeTemperatureNearLimit",
    "RigforgeThermalHold",
    "XmrigDown",
    "XmrigHashrateDrop",
    "XmrigHugePagesMissing",
  ]);
  for (const a of alerts) {
    assert(["warning", "critical"].includes(a.labels["severity"] ?? ""), `${a.alert} severity`);
    assertEquals(
      Object.keys(a.annotations).sort(),
      ["description", "runbook", "summary"],
      `${a.alert} annotations`,
    );
    // absent() has no instance to name: the whole job is missing.
    if (!a.expr.startsWith("absent(")) {
      for (const key of ["summary", "description"]) {
        assert(a.annotations[key]!.includes("{{ $labels.instance }}"), `${a.alert} ${key}`);
      }
    }
    assert(a.annotations["runbook"]!.includes("`rigforge-api doctor`"), `${a.alert} runbook`);
    // One missed scrape (an up of 0, every series stale once) must not fire anything: every
    // for: spans many scrapes, and a firing alert survives a gap of one scrape or more.
    assert(a.forS >= 8 * SCRAPE_S, `${a.alert} for: ${a.forS} s`);
    if (a.keepFiringForS !== null) {
      assert(a.keepFiringForS >= 2 * SCRAPE_S, `${a.alert} keep_firing_for`);
    }
  }
});

Deno.test("the rules read only metrics /metrics serves, and recorded series they define", () => {
  const { alerts, records } = decodeRules(RULES_TEXT);
  const served = new Set(METRICS.map((m) => m.name));
  const recorded = new Set(records.map((r) => r.record));
  for (
    const { expr, name } of [
      ...alerts.map((a) => ({ expr: a.expr, name: a.alert })),
      ...records.map((r) => ({ expr: r.expr, name: r.record })),
    ]
  ) {
    const used = [...expr.matchAll(/\b(?:xmrig|rigforge)_[a-z0-9_]+\b/g)].map((m) => m[0]);
    assert(used.length > 0 || /\bup\{/.test(expr), `${name} reads a metric`);
    for (const metric of used) assert(served.has(metric), `${name}: ${metric} is served`);
    for (const m of expr.matchAll(/\bjob:[a-z0-9_:]+/g)) {
      assert(recorded.has(m[0]), `${name}: ${m[0]} is recorded`);
    }
    // Label values the rules match on are ones /metrics writes.
    for (const m of expr.matchAll(/window="([^"]*)"/g)) {
      assert(["10s", "60s", "15m"].includes(m[1]!), `${name}: window ${m[1]}`);
    }
    for (const m of expr.matchAll(/verdict="([^"]*)"/g)) {
      assert(["applied", "unverified", "not-applied", "failed"].includes(m[1]!), name);
    }
  }
});

Deno.test("every alert is unit-tested firing and silent across a missed scrape; every record too", () => {
  const { alerts, records } = decodeRules(RULES_TEXT);
  const tests = RULE_TESTS.flatMap((file) =>
    arr(obj(parse(Deno.readTextFileSync(file)))?.["tests"]) ?? []
  );
  const fires = new Set<string>();
  const silentAcrossMiss = new Map<string, number>();
  const exprs = new Set<string>();
  for (const t of tests.map(obj)) {
    const name = str(t?.["name"], 256) ?? "";
    const missed = (arr(t?.["input_series"]) ?? []).some((s) => {
      const values = str(obj(s)?.["values"], 4096) ?? "";
      return /\bstale\b/.test(values) || /^up\{/.test(str(obj(s)?.["series"]) ?? "");
    });
    for (const c of (arr(t?.["alert_rule_test"]) ?? []).map(obj)) {
      const alert = str(c?.["alertname"], 256) ?? "";
      const expected = arr(c?.["exp_alerts"]) ?? [];
      if (expected.length > 0) fires.add(alert);
      else if (missed && name.includes("missed scrape")) {
        silentAcrossMiss.set(alert, (silentAcrossMiss.get(alert) ?? 0) + 1);
      }
    }
    for (const c of (arr(t?.["promql_expr_test"]) ?? []).map(obj)) {
      exprs.add(str(c?.["expr"], 4096) ?? "");
    }
  }
  for (const a of alerts) {
    assert(fires.has(a.alert), `${a.alert} has a test where it fires`);
    assert(
      (silentAcrossMiss.get(a.alert) ?? 0) >= 2,
      `${a.alert} is silent at two times around a missed scrape`,
    );
  }
  for (const r of records) assert(exprs.has(r.record), `${r.record} is tested`);
});

Deno.test("docs/prometheus.md explains every alert and every recorded series", async () => {
  const { alerts, records } = decodeRules(RULES_TEXT);
  const doc = await Deno.readTextFile(join(ROOT, "docs", "prometheus.md"));
  const alertRows = [...doc.matchAll(/^\| `([A-Z][A-Za-z]+)` +\| (critical|warning) +\|/gm)];
  assertEquals(
    alertRows.map((m) => `${m[1]} ${m[2]}`).sort(),
    alerts.map((a) => `${a.alert} ${a.labels["severity"]}`).sort(),
    "the alert table lists every alert with its severity",
  );
  for (const r of records) assert(doc.includes(`\`${r.record}\``), `${r.record} is documented`);
});

// ---------- a real Prometheus over running rigs ----------

/** The healthy fixture rig (tests/fixtures/rigforge/zen4 over tests/fixtures/roots/zen4). */
const PROFILE = "zen4";
const FOR_S = 3;

/**
 * The zen4 RigForge home as it was after XMRig's first start in its log: the lines before the
 * last start banner (` * ABOUT`), where XMRig failed to apply the MSR mod.
 */
async function msrFailedHome(scratch: string): Promise<string> {
  const home = join(scratch, "home-msr-failed");
  await Deno.mkdir(home);
  await copyTree(join(RIGFORGE_DIR, PROFILE), home);
  const { paths } = await locate(home);
  const log = join(paths.workerRoot, "xmrig.log");
  const lines = (await Deno.readTextFile(log)).split("\n");
  const lastStart = lines.findLastIndex((line) => line.includes(" * ABOUT"));
  assert(lastStart > 0, "the zen4 XMRig log has two starts");
  await Deno.writeTextFile(log, lines.slice(0, lastStart).join("\n") + "\n");
  return home;
}

async function snapshotOf(home: string, generatedMs: number): Promise<Snapshot> {
  const located = await locate(home);
  const snapshot = await fixtureSnapshot(PROFILE, {
    rigforge: located.paths,
    config: located.config,
  });
  snapshot.generated_at = isoSeconds(generatedMs);
  return snapshot;
}

Deno.test({
  name: "a real Prometheus with the rules over live rigs shows exactly the expected alerts",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = join(RIGFORGE_DIR, PROFILE);
    const { config } = await locate(home);
    const scrapeToken = Object.values(config!.accessTokens)[0]!;
    const xmrig = await startStandin({ token: config!.accessToken! });
    const scratch = await Deno.makeTempDir({ prefix: "rf-rules-" });
    const serves: ServeHandle[] = [];
    let prometheus: Awaited<ReturnType<typeof startPrometheus>> | null = null;
    let timer: ReturnType<typeof setInterval> | undefined = undefined;
    let probing: Promise<void> = Promise.resolve();
    let timerError: unknown = null;
    try {
      // The rigs' snapshots, from the real probes over the fixture.
      const now = Date.now();
      const healthy = await snapshotOf(home, now);
      const msrFailed = await snapshotOf(await msrFailedHome(scratch), now);
      const stale = await snapshotOf(home, now - 10 * 60_000);

      // What the fixtures say, which the expected alerts below rest on.
      const r = healthy.records;
      assert(r.msr !== null && r.msr.verdict !== "failed", "zen4: MSR mod not failed");
      assertEquals(msrFailed.records.msr?.verdict, "failed", "zen4's first start: MSR failed");
      const temp = r.thermal?.package_c ?? null;
      const limit = r.watchdog?.max_temp_c ?? null;
      assert(temp !== null && limit !== null && temp < limit - 5, `zen4: ${temp} °C / ${limit}`);
      assertEquals(r.watchdog?.thermal_hold, false, "zen4: no thermal hold");
      assert((r.cpu?.clock_pct_of_boost ?? 0) >= MIN_CLOCK_PCT, "zen4: clocks above threshold");
      assert((r.hugepages?.total ?? 0) > 0, "zen4: huge pages reserved");
      const pages = JSON.parse(xmrigBody("summary-v2-mining.json")).hugepages;
      assert(pages[0] >= pages[1], "the mining capture got all its huge pages");
      const staleAgeMs = now - Date.parse(stale.generated_at);
      assert(staleAgeMs > 3 * stale.interval_s * 1000, "stale: older than 3 probe intervals");

      const rigs: { name: string; snapshot: Snapshot; xmrig: boolean; alerts: string[] }[] = [
        { name: "healthy", snapshot: healthy, xmrig: true, alerts: [] },
        { name: "msr-failed", snapshot: msrFailed, xmrig: true, alerts: ["RigforgeMsrModFailed"] },
        { name: "xmrig-down", snapshot: healthy, xmrig: false, alerts: ["XmrigDown"] },
        { name: "stale", snapshot: stale, xmrig: true, alerts: ["RigforgeSnapshotStale"] },
      ];
      // The probe timer's part: rewrite the live rigs' snapshots, stamped now, every 5 s (the
      // real timer runs every 15 s), so they stay fresh however long a busy machine takes to
      // start everything. The stale rig keeps its old stamp.
      const path = (name: string) => join(scratch, `${name}.json`);
      const probeTimer = async () => {
        for (const rig of rigs) {
          if (rig.name === "stale") continue;
          await writeSnapshotAtomic(
            path(rig.name),
            { ...rig.snapshot, generated_at: isoSeconds(Date.now()) },
          );
        }
      };
      await writeSnapshotAtomic(path("stale"), stale);
      await probeTimer();
      timer = setInterval(() => {
        probing = probing.then(probeTimer).catch((error) => {
          timerError = error;
        });
      }, 5000);
      const started = await Promise.all(rigs.map(async (rig) => {
        const serve = await startServe({
          homeFrom: home,
          snapshot: path(rig.name),
          ...(rig.xmrig ? { xmrig: xmrig.url } : {}),
        });
        serves.push(serve);
        return { instance: `127.0.0.1:${serve.port}`, alerts: rig.alerts, name: rig.name };
      }));
      // A rig whose API does not answer at all.
      started.push({
        instance: `127.0.0.1:${freePort()}`,
        alerts: ["RigforgeApiDown"],
        name: "off",
      });

      const rulesFile = join(scratch, "rules.json");
      await Deno.writeTextFile(rulesFile, shortened(RULES_TEXT, FOR_S));
      const tokenFile = join(scratch, "token");
      await Deno.writeTextFile(tokenFile, scrapeToken, { mode: 0o600 });
      prometheus = await startPrometheus(
        [
          "global:",
          "  scrape_interval: 1s",
          "  scrape_timeout: 1s",
          "  evaluation_interval: 1s",
          `rule_files: [${JSON.stringify(rulesFile)}]`,
          "scrape_configs:",
          "  - job_name: rigforge",
          "    authorization:",
          "      type: Bearer",
          `      credentials_file: ${JSON.stringify(tokenFile)}`,
          "    static_configs:",
          `      - targets: ${JSON.stringify(started.map((s) => s.instance))}`,
          "",
        ].join("\n"),
      );
      const p = prometheus;

      // Every rule loaded and evaluates without error.
      const { alerts: shipped, records } = decodeRules(RULES_TEXT);
      const loaded = await waitFor("the rules loaded", async () => {
        const rules = (arr((await p.rules())["groups"]) ?? [])
          .flatMap((g) => arr(obj(g)?.["rules"]) ?? []).map(obj);
        const evaluated = rules.every((rule) => rule?.["health"] === "ok");
        return rules.length === shipped.length + records.length && evaluated ? rules : null;
      }, { limitMs: 30_000 });
      for (const rule of loaded) {
        const name = str(rule?.["name"], 256);
        const a = shipped.find((s) => s.alert === name);
        if (a !== undefined) {
          assertEquals(rule?.["duration"], FOR_S, `${name}: for: shortened`);
          assertEquals(rule?.["labels"], a.labels, `${name}: labels as shipped`);
          assertEquals(rule?.["annotations"], a.annotations, `${name}: annotations as shipped`);
        }
      }

      // Every target scraped at least twice.
      await waitFor("every target scraped twice", async () => {
        const counts = await p.query('count_over_time(up{job="rigforge"}[1m])');
        return counts.length === started.length && counts.every((c) => c.value >= 2);
      }, { limitMs: 30_000 });

      const expected = started.flatMap((rig) => rig.alerts.map((a) => `${a} ${rig.name}`)).sort();
      const nameOf = new Map(started.map((rig) => [rig.instance, rig.name]));
      const seen = async () =>
        (await p.alerts()).map((a) => ({
          key: `${a.labels["alertname"]} ${nameOf.get(a.labels["instance"] ?? "") ?? "?"}`,
          alert: a,
        })).sort((x, y) => x.key.localeCompare(y.key));
      const firing = await waitFor("the expected alerts firing", async () => {
        const now = await seen();
        const fired = now.filter((a) => a.alert.state === "firing").map((a) => a.key);
        return expected.every((key) => fired.includes(key)) ? now : null;
      }, { limitMs: 30_000 });
      assertEquals(timerError, null, "the snapshot writer kept writing");
      // Exactly those: nothing else firing or even pending (every rule had several evaluations
      // over the same scrapes by now: the alerts above spent FOR_S pending first).
      assertEquals(
        firing.map((a) => `${a.key} ${a.alert.state}`),
        expected.map((k) => `${k} firing`),
      );
      for (const { alert } of firing) {
        const instance = alert.labels["instance"]!;
        assert(
          alert.annotations["summary"]!.startsWith(`${instance}: `),
          alert.annotations["summary"],
        );
        assert(alert.annotations["runbook"]!.includes("rigforge-api doctor"));
      }
    } catch (error) {
      // Say what Prometheus saw: its alerts at the failure and its log.
      const alerts = await prometheus?.alerts().then(
        (list) => list.map((a) => `${a.labels["alertname"]} ${a.labels["instance"]} ${a.state}`),
        (e) => [`alerts unreadable: ${e}`],
      );
      const log = prometheus === null ? "" : (await prometheus.stop(), await prometheus.log());
      throw new Error(
        `${error instanceof Error ? error.stack : error}\nalerts: ${alerts}\nprometheus: ${log}`,
      );
    } finally {
      clearInterval(timer);
      await probing;
      await prometheus?.stop();
      await Promise.all(serves.map((s) => s.stop()));
      await xmrig.close();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});
