/**
 * Decode once, then trust: every probe record read back from a snapshot file is decoded into
 * its type or rejected with a reason. The fixture rigs' records (as the probes write them) must
 * decode unchanged; a record of the wrong shape must become a failed probe that `/health`
 * shows, never a crash that leaves `doctor` silently `null`.
 *
 * @module
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { doctorSection } from "../src/checks.ts";
import { buildAuth } from "../src/http/auth.ts";
import { createHandler } from "../src/http/handler.ts";
import { parseSnapshot, RECORD_NAMES, serializeSnapshot } from "../src/snapshot.ts";
import { FIXTURE_NOW_MS } from "./_context.ts";
import { fixtureSnapshot } from "./_snapshot.ts";

const PROFILES = ["zen4", "epyc", "intel", "buildvm"];

for (const profile of PROFILES) {
  for (const isRoot of [true, false]) {
    Deno.test(`decode: the ${profile} rig's records (root ${isRoot}) decode unchanged`, async () => {
      const snapshot = await fixtureSnapshot(profile, { isRoot });
      const text = serializeSnapshot(snapshot);
      const parsed = parseSnapshot(text);
      assert(parsed !== null, "the snapshot parses");
      // What the probes wrote, as the file holds it (JSON drops nothing the records hold).
      const written = JSON.parse(text);
      assertEquals(parsed.failures, written.failures, "no record rejected");
      assertEquals(parsed.records, written.records);
      const present = RECORD_NAMES.filter((name) => written.records[name] !== null);
      assert(present.length >= 10, `${profile}: only ${present.join(", ")} present`);
    });
  }
}

/** A fixture snapshot's text with one record field replaced. */
async function withField(record: string, field: string, value: unknown): Promise<string> {
  const written = JSON.parse(serializeSnapshot(await fixtureSnapshot("zen4")));
  written.records[record][field] = value;
  return JSON.stringify(written);
}

Deno.test("decode: a record of the wrong shape is rejected with the path, the rest kept", async () => {
  const parsed = parseSnapshot(await withField("cpu", "governors", "performance"));
  assert(parsed !== null, "one bad record does not reject the snapshot");
  assertEquals(parsed.records.cpu, null);
  assertEquals(parsed.failures.cpu?.reason, "corrupt");
  assert(parsed.failures.cpu?.message.includes("cpu.governors"), parsed.failures.cpu?.message);
  assert(parsed.records.memory !== null && parsed.records.power !== null, "others kept");

  const cases: [string, string, unknown][] = [
    ["cpu", "smt", { control: "on" }], // a missing nested field
    ["memory", "dimms", [{ locator: 7 }]],
    ["msr", "verdict", "maybe"], // outside the vocabulary
    ["power", "zones", [{ id: "intel-rapl:0", name: "package-0", energy_uj: "1" }]],
    ["hugepages", "reasons", { total: "broken" }], // not a null reason
    ["tune", "autotune", { enabled: "yes" }],
  ];
  for (const [record, field, value] of cases) {
    const bad = parseSnapshot(await withField(record, field, value));
    assert(bad !== null, `${record}.${field}`);
    assertEquals(bad.records[record as "cpu"], null, `${record}.${field} rejected`);
    assert(bad.failures[record as "cpu"]?.message.includes(`${record}.${field}`), record);
  }
});

Deno.test('decode: "governors": "performance" gives /health a doctor verdict and a failed cpu probe', async () => {
  const text = await withField("cpu", "governors", "performance");
  const snapshot = parseSnapshot(text);
  assert(snapshot !== null);
  const handler = createHandler({
    auth: await buildAuth(null),
    snapshot: () => ({ snapshot, error: null }),
    xmrig: () => Promise.resolve({ ok: false, error: "connection refused" }),
    now: () => FIXTURE_NOW_MS + 5000,
    checks: (records) => doctorSection(records, { isRoot: true, linux: true }),
  });
  const response = await handler({
    method: "GET",
    url: "/health",
    headers: { host: ["rig:8081"] },
    remoteAddress: "127.0.0.1",
  });
  assertEquals(response.status, 200);
  const body = JSON.parse(new TextDecoder().decode(response.body));
  assertEquals(body.snapshot.status, "fresh");
  assert(body.doctor !== null, "doctor ran over the decoded records");
  assert(body.snapshot.failed_probes.includes("cpu"), JSON.stringify(body.snapshot));
  assertEquals(body.reasons.governor, "corrupt");
  const governor = body.doctor.warnings.find((c: { id: string }) => c.id === "governor");
  assert(governor?.detail.startsWith("cannot tell"), JSON.stringify(body.doctor.warnings));
});
