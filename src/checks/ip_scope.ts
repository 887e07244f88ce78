/**
 * Whether the sister API's allow-list (`api_allow_from` → `IPAddressAllow=`/`IPAddressDeny=` on
 * `rigforge-api.socket`) is really enforced. systemd enforces it with a BPF cgroup firewall; on a
 * kernel or in a container without one (cgroup v1 only, `bpf()` blocked by a seccomp filter) it
 * accepts the settings, warns once at boot for whichever unit asks first, and filters nothing.
 * The `service` probe reads the sound signal: the socket's IP accounting (same BPF program)
 * counts bytes only when the program is attached.
 *
 * @module
 */

import type { ProbeRecords } from "../probe.ts";
import { type Check, check, missingProbe, reasonOf, reasonText } from "./types.ts";

/**
 * The allow-list on the socket: enforced → ok; configured but not enforced → issue (every
 * source can connect although the config says otherwise); cannot tell (units from an older
 * install without `IPAccounting=yes`) or the config's list not installed → warn; no list at all,
 * or the socket not listening (the `sister-api` check reports that) → skipped.
 *
 * @param records the probe records (`exposure` for the config, `service` for the socket)
 * @returns the `api-ip-scope` check
 */
export function ipScopeCheck(records: ProbeRecords): Check {
  const id = "api-ip-scope";
  const title = "API allow-list enforced";
  const exposure = records.exposure;
  const service = records.service;
  if (exposure === null) return missingProbe(id, title, "exposure");
  if (service === null) return missingProbe(id, title, "service");
  const scope = service.api_ip_scope;
  const data = {
    allow_from: exposure.allow_from,
    configured: scope?.configured ?? null,
    enforced: scope?.enforced ?? null,
  };
  if (exposure.scoped !== true && scope?.configured !== true) {
    return check(id, "skipped", title, "no api_allow_from: nothing to enforce", data);
  }
  if (scope === null) {
    const reason = reasonOf(service.reasons, "api_ip_scope");
    const detail = reason === "not-running"
      ? "rigforge-api.socket is not listening"
      : `cannot tell: systemctl ${reasonText(reason)}`;
    return check(id, reason === "not-running" ? "skipped" : "info", title, detail, {
      ...data,
      reason,
    });
  }
  if (!scope.configured) {
    return check(
      id,
      "warn",
      title,
      "api_allow_from is set but the installed socket has no allow-list: run rigforge-api install",
      data,
    );
  }
  if (scope.enforced === true) {
    return check(id, "ok", title, "enforced by systemd's BPF cgroup firewall", data);
  }
  if (scope.enforced === false) {
    return check(
      id,
      "issue",
      title,
      "NOT enforced: systemd has no BPF cgroup firewall here (cgroup v1 only, or bpf() " +
        "blocked in a container), so every source can connect; see docs/operations.md",
      data,
    );
  }
  return check(
    id,
    "warn",
    title,
    "cannot tell whether it is enforced (the socket has no IPAccounting=yes): " +
      "run rigforge-api install",
    { ...data, reason: reasonOf(service.reasons, "api_ip_scope.enforced") },
  );
}
