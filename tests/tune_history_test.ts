/**
 * Golden tests of `rigforge-api tune-history`: the real CLI against every fixture rig, `--json`
 * compared with tests/fixtures/golden/<profile>.tune-history.json (regenerate with
 * UPDATE_GOLDEN=1), the human text against the JSON, and the pure report builder on odd input.
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  renderTuneHistory,
  type TuneHistoryReport,
  tuneHistoryReport,
} from "../src/cli/tune_history.ts";
import type { ServiceRecord } from "../src/probe/service.ts";
import type { TuneRecord } from "../src/probe/tune.ts";
import { unknownAutotune } from "../src/probe/autotune.ts";
import { assertGolden, FIXED_MTIME, prepareRig, PROFILES, run } from "./_golden.ts";

const FIXED_ISO = FIXED_MTIME.toISOString().replace(".000Z", "Z");

/** Every profile's report, filled by the profile tests (they run first, in order). */
const seen: TuneHistoryReport[] = [];

function assertHumanMatches(text: string, report: TuneHistoryReport): void {
  if (report.applied === null) assert(text.includes("Applied knobs: none yet"), text);
  else {
    for (const [knob, value] of Object.entries(report.applied.knobs)) {
      const line = `    • ${knob}=${value}\n`;
      assertEquals(text.includes(line), value !== null, `${knob}: ${text}`);
    }
  }
  if (report.last_run === null) assert(text.includes("Last full tune: none recorded yet."), text);
  else {
    assert(text.includes(`Last full tune (${report.last_run.finished_at}): `), text);
    assert(text.includes(`${report.last_run.candidates_tried} candidate(s) tried`), text);
  }
  const at = report.autotune;
  if (!at.enabled) assert(text.includes("Periodic autotune: off."), text);
  else {
    const state = at.active ? "active" : "inactive";
    assert(text.includes(`Periodic autotune: enabled (${state}).`), text);
    if (at.next !== null) assert(text.includes(`next run: ${at.next}`), text);
    for (const d of at.recent ?? []) assert(text.includes(`      ${d.time}  ${d.text}`), d.text);
  }
}

for (const profile of PROFILES) {
  Deno.test(`tune-history --json and the human history on the ${profile} rig`, async () => {
    const rig = await prepareRig(profile);
    try {
      const args = ["--root", rig.root, "--rigforge-home", rig.home];
      const [json, human] = await Promise.all([
        run(["tune-history", "--json", ...args]),
        run(["tune-history", ...args]),
      ]);
      assertEquals(json.code, 0, json.stderr);
      const report = JSON.parse(json.stdout) as TuneHistoryReport;
      seen.push(report);
      assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(report.generated_at), report.generated_at);
      if (report.last_run !== null) assertEquals(report.last_run.finished_at, FIXED_ISO);
      const { generated_at: _volatile, ...stable } = report;
      await assertGolden(`${profile}.tune-history.json`, stable);

      assertEquals(human.code, 0, human.stderr);
      assertHumanMatches(human.stdout, report);
      if (report.last_run !== null) {
        assert(human.stdout.includes(`full search log: ${rig.home}/data/worker/`), human.stdout);
      }
    } finally {
      await rig.cleanup();
    }
  });
}

Deno.test("the fixture rigs cover the history's cases", () => {
  assertEquals(seen.length, PROFILES.length, "run the whole file: the profile tests fill `seen`");
  const outcomes = new Set(seen.flatMap((r) => r.autotune.recent ?? []).map((d) => d.outcome));
  for (const outcome of ["baseline", "measured", "applied", "kept", "skipped"]) {
    assert(outcomes.has(outcome as never), `no fixture decision with outcome ${outcome}`);
  }
  assert(seen.some((r) => r.applied === null), "a rig without applied knobs");
  assert(seen.some((r) => !r.autotune.enabled), "a rig without autotune");
  assert(seen.some((r) => (r.last_run?.throttled_count ?? 0) > 0), "a tune with throttled results");
});

const AUTOTUNE_OFF: TuneRecord["autotune"] = unknownAutotune();

Deno.test("tuneHistoryReport: a failed tune probe still gives a document", () => {
  const report = tuneHistoryReport(null, null, Date.UTC(2026, 0, 15, 12, 0, 0));
  assertEquals(report, {
    generated_at: "2026-01-15T12:00:00Z",
    applied: null,
    last_run: null,
    autotune: AUTOTUNE_OFF,
    reasons: { applied: "unreadable", last_run: "unreadable" },
  });
  const text = renderTuneHistory(report, null);
  assert(text.includes("Applied knobs: none yet") && text.includes("Periodic autotune: off."));
  assert(!text.includes("full search log"), text);
});

Deno.test("tuneHistoryReport: the timer's is-active state fills an unknown active", () => {
  const tune: TuneRecord = {
    applied: null,
    last_run: null,
    autotune: { ...AUTOTUNE_OFF, enabled: true, schedule: "monthly" },
    reasons: {},
  };
  const service = { autotune_timer: "inactive" } as ServiceRecord;
  const report = tuneHistoryReport(tune, service, 0);
  assertEquals(report.autotune.active, false);
  const text = renderTuneHistory(report, "/opt/rigforge/data/worker");
  assert(text.includes("Periodic autotune: enabled (inactive)."), text);
  assert(text.includes("recent decisions: none in the journal"), text);
  const known = tuneHistoryReport(
    { ...tune, autotune: { ...tune.autotune, active: true } },
    service,
    0,
  );
  assertEquals(known.autotune.active, true); // systemctl show wins over is-active
});
