/**
 * The `api-ip-scope` doctor check (`src/checks/ip_scope.ts`): whether the socket's allow-list is
 * enforced, judged from the `service` probe's reading of the socket's IP accounting (verified
 * against a real systemd in tests/systemd/run-it.sh, with and without BPF).
 */

import { deepEqual as assertEquals, equal, ok as assert } from "node:assert/strict";
import { ipScopeCheck } from "../src/checks/ip_scope.ts";
import type { ProbeRecords } from "../src/probe.ts";
import type { ExposureRecord } from "../src/probe/exposure.ts";
import type { ApiIpScope, ServiceRecord } from "../src/probe/service.ts";
import type { Reasons } from "../src/probe/types.ts";

function records(
  allowFrom: string[],
  scope: ApiIpScope | null,
  reasons: Reasons = {},
): ProbeRecords {
  const exposure: ExposureRecord = {
    api: "enabled",
    port: 8081,
    bind: "0.0.0.0",
    token_set: true,
    named_tokens: 0,
    allow_from: allowFrom,
    scoped: allowFrom.length > 0,
    control: false,
    token_public: false,
    reasons: {},
  };
  const service: ServiceRecord = {
    systemd: true,
    xmrig: "active",
    xmrig_active: true,
    api_socket: "active",
    api_service: "inactive",
    probe_timer: "inactive",
    autotune_timer: "inactive",
    control: "inactive",
    miner_user: null,
    api_ip_scope: scope,
    reasons: { miner_user: "absent", ...reasons },
  };
  return { exposure, service } as ProbeRecords;
}

Deno.test("api-ip-scope: enforced is ok, configured but not enforced is an issue", () => {
  const ok = ipScopeCheck(records(["192.168.1.0/24"], { configured: true, enforced: true }));
  equal(ok.id, "api-ip-scope");
  equal(ok.status, "ok");
  assertEquals(ok.data, { allow_from: ["192.168.1.0/24"], configured: true, enforced: true });
  const off = ipScopeCheck(records(["192.168.1.0/24"], { configured: true, enforced: false }));
  equal(off.status, "issue");
  assert(off.detail.includes("NOT enforced"), off.detail);
  assert(!off.detail.includes("\n"));
});

Deno.test("api-ip-scope: nothing configured, or the socket not listening, is skipped", () => {
  equal(ipScopeCheck(records([], { configured: false, enforced: null })).status, "skipped");
  const idle = ipScopeCheck(records(["10.0.0.0/8"], null, { api_ip_scope: "not-running" }));
  equal(idle.status, "skipped");
  equal(idle.data["reason"], "not-running");
});

Deno.test("api-ip-scope: what cannot be told is never ok", () => {
  const old = ipScopeCheck(
    records(["10.0.0.0/8"], { configured: true, enforced: null }, {
      "api_ip_scope.enforced": "unsupported",
    }),
  );
  equal(old.status, "warn");
  equal(old.data["reason"], "unsupported");
  const notInstalled = ipScopeCheck(records(["10.0.0.0/8"], { configured: false, enforced: null }));
  equal(notInstalled.status, "warn");
  assert(notInstalled.detail.includes("install"), notInstalled.detail);
  const noSystemctl = ipScopeCheck(records(["10.0.0.0/8"], null, { api_ip_scope: "timeout" }));
  equal(noSystemctl.status, "info");
  // The socket still filters after api_allow_from was removed from the config: still judged.
  equal(ipScopeCheck(records([], { configured: true, enforced: false })).status, "issue");
});

Deno.test("api-ip-scope: a missing probe is a warning naming it", () => {
  const none = { exposure: null, service: null } as unknown as ProbeRecords;
  equal(ipScopeCheck(none).status, "warn");
});
