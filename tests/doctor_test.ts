/**
 * Golden tests of `rigforge-api doctor`: the real CLI against every fixture rig, `--json`
 * compared with tests/fixtures/golden/<profile>.doctor.json (regenerate with UPDATE_GOLDEN=1),
 * the human report's marks and summary, the exit code, the unprivileged view (run as `nobody`)
 * and that no fixture secret ever reaches stdout or stderr.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { ROOT_ONLY_CHECKS } from "../src/checks.ts";
import { MARKS } from "../src/cli/doctor.ts";
import {
  assertGolden,
  HOMES_DIR,
  makeWorldReadable,
  prepareRig,
  PROFILES,
  type Rig,
  run,
  runUnprivileged,
  SECRET_MARKER,
} from "./_golden.ts";

interface JsonCheck {
  id: string;
  status: string;
  title: string;
  detail: string;
  data: Record<string, unknown>;
}

interface DoctorJson {
  generated_at: string;
  rigforge_api_version: string;
  verdict: { issues: number; warnings: number };
  checks: JsonCheck[];
  health: Record<string, unknown>;
}

/** What each fixture rig was built to show: its counted issues. */
const EXPECTED_ISSUES: Record<string, string[]> = {
  buildvm: ["hugepages", "xmrig-api-restricted", "msr-module"], // this VM, a config only
  zen4: [],
  epyc: ["xmrig-binary", "msr-readback"],
  intel: [
    "service-active",
    "miner-user",
    "xmrig-api-restricted",
    "control-receiver",
    "msr-module",
    "msr-mod",
  ],
};

function doctorArgs(rig: Rig, json: boolean): string[] {
  return ["doctor", ...(json ? ["--json"] : []), "--root", rig.root, "--rigforge-home", rig.home];
}

function parseReport(stdout: string): DoctorJson {
  const report = JSON.parse(stdout) as DoctorJson;
  assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(report.generated_at), report.generated_at);
  return report;
}

/** The report without the fields that change from run to run (times, the pass's duration). */
function withoutVolatile(report: DoctorJson): unknown {
  const { generated_at: _time, ...stable } = report;
  const { generated_at: _healthTime, snapshot, ...health } = report.health;
  const { probe_ms: _duration, ...info } = snapshot as Record<string, unknown>;
  assertEquals(_healthTime, report.generated_at, "health is a snapshot of this pass");
  return { ...stable, health: { ...health, snapshot: info } };
}

/** The human report must say exactly what the JSON says, with the right marks. */
function assertHumanMatches(text: string, report: DoctorJson): void {
  const lines = text.trimEnd().split("\n");
  assert(lines[0]?.startsWith("rigforge-api doctor — RigForge "), lines[0]);
  const shown = report.checks.filter((c) => c.status !== "skipped");
  assertEquals(lines.length, shown.length + 2, "header + one line per shown check + summary");
  shown.forEach((c, i) => {
    const mark = MARKS[c.status as keyof typeof MARKS];
    const line = lines[i + 1] ?? "";
    assert(line.startsWith(`  ${mark} ${c.title}`), `${c.id}: ${line}`);
    assert(line.endsWith(`  ${c.detail}`), `${c.id}: ${line}`);
  });
  const summary = lines[lines.length - 1] ?? "";
  if (report.verdict.issues === 0) {
    assert(summary.startsWith("all critical checks passed"), summary);
  } else assert(summary.startsWith(`${report.verdict.issues} issue(s) found`), summary);
  if (report.verdict.warnings > 0) {
    assert(summary.includes(`${report.verdict.warnings} warning(s)`), summary);
  }
}

for (const profile of PROFILES) {
  Deno.test(`doctor --json and the human report on the ${profile} rig`, async () => {
    const rig = await prepareRig(profile);
    try {
      const [json, human] = await Promise.all([
        run(doctorArgs(rig, true)),
        run(doctorArgs(rig, false)),
      ]);
      const report = parseReport(json.stdout);
      const issues = report.checks.filter((c) => c.status === "issue").map((c) => c.id);
      assertEquals(issues, EXPECTED_ISSUES[profile]);
      assertEquals(report.verdict.issues, issues.length);
      assertEquals(json.code, issues.length > 0 ? 1 : 0, json.stderr);
      assertEquals((report.health["doctor"] as { verdict: unknown }).verdict, report.verdict);
      assert(!json.stdout.includes(rig.root) && !json.stdout.includes(rig.home), "no temp paths");
      await assertGolden(`${profile}.doctor.json`, withoutVolatile(report));

      assertEquals(human.code, json.code);
      assertHumanMatches(human.stdout, report);
      if (profile === "intel") {
        assert(human.stdout.includes("\n  ✗ MSR mod (XMRig log)"), human.stdout);
        assert(human.stdout.includes("\n  ! Thermal throttle events"), human.stdout);
      }
      if (profile === "zen4") assert(human.stdout.includes("\n  ✓ XMRig service"), human.stdout);
    } finally {
      await rig.cleanup();
    }
  });
}

Deno.test("doctor as an unprivileged user: root-only checks need root, never issues", async () => {
  const rig = await prepareRig("epyc");
  try {
    const asRoot = parseReport((await run(doctorArgs(rig, true))).stdout);
    await makeWorldReadable(rig.root);
    await makeWorldReadable(rig.home);
    const result = await runUnprivileged(doctorArgs(rig, true));
    const report = parseReport(result.stdout);
    const status = (r: DoctorJson, id: string) => r.checks.find((c) => c.id === id)?.status;
    for (const id of ROOT_ONLY_CHECKS) assertEquals(status(report, id), "needs-root", id);
    assertEquals(status(report, "power"), "needs-root");
    // Every other check judges the same without root.
    for (const c of asRoot.checks) {
      if (ROOT_ONLY_CHECKS.includes(c.id) || c.id === "power" || c.id === "firmware") continue;
      assertEquals(status(report, c.id), c.status, c.id);
    }
    const rootOnlyIssues = asRoot.checks.filter((c) =>
      c.status === "issue" && ROOT_ONLY_CHECKS.includes(c.id)
    ).length;
    assert(rootOnlyIssues > 0, "the epyc rig has a root-only issue (MSR read-back)");
    assertEquals(report.verdict.issues, asRoot.verdict.issues - rootOnlyIssues);
    assertEquals(result.code, report.verdict.issues > 0 ? 1 : 0, result.stderr);
    const human = await runUnprivileged(doctorArgs(rig, false));
    assert(human.stdout.includes(`  ${MARKS["needs-root"]} MSR register read-back`), human.stdout);
    assert(human.stdout.includes("need root: run with sudo"), human.stdout);
  } finally {
    await rig.cleanup();
  }
});

Deno.test("doctor's marks", () => {
  assertEquals(MARKS, { ok: "✓", warn: "!", info: "∙", issue: "✗", "needs-root": "?" });
});

Deno.test("the leak checks are not vacuous: the fixture configs hold marked secrets", async () => {
  for (const profile of ["zen4", "epyc", "intel"]) {
    const text = await Deno.readTextFile(join(HOMES_DIR, profile, "config.json"));
    assert(text.includes(SECRET_MARKER), `${profile}/config.json has no ${SECRET_MARKER} secret`);
  }
});

Deno.test("doctor: usage errors exit 2, help exits 0", async () => {
  const bad = await run(["doctor", "--jsn"]);
  assertEquals(bad.code, 2);
  assert(bad.stderr.includes("unknown flag --jsn"), bad.stderr);
  const help = await run(["doctor", "--help"]);
  assertEquals(help.code, 0);
  assert(help.stdout.includes("USAGE:") && help.stdout.includes("--json"), help.stdout);
});

Deno.test("doctor: an unusable config exits 1 with the message, no secret", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rigforge-doctor-config-" });
  try {
    await Deno.writeTextFile(
      join(dir, "config.json"),
      `{"ACCESS_TOKEN": "tok-${SECRET_MARKER}-x", "api_port": 8080}`,
    );
    const result = await run(["doctor", "--rigforge-home", dir, "--root", dir]);
    assertEquals(result.code, 1);
    assert(result.stderr.includes("config error"), result.stderr);
    assert(result.stderr.includes("api_port"), result.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
