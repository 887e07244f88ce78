/**
 * Checks on the miner: its service and user, the binary's integrity, XMRig's HTTP API, and the
 * MSR mod (RigForge doctor checks 1, 4, 5, 6, 7, 10, 11, 11a, 16).
 *
 * @module
 */

import type { ProbeRecords } from "../probe.ts";
import { HUGEPAGES_LOG_OK_PCT } from "../rigforge/thresholds.ts";
import { type Check, check, missingProbe, reasonOf, reasonText, unknownCheck } from "./types.ts";

/**
 * Whether a RigForge install was found: its VERSION file or its config was read.
 *
 * @param records the probe records
 * @returns true when either is known
 */
export function rigforgeFound(records: ProbeRecords): boolean {
  const version = records.provenance?.rigforge_version ?? null;
  return version !== null || (records.config_view?.config ?? null) !== null;
}

/**
 * Check 1: `xmrig.service` is active; anything else is a counted issue.
 *
 * @param records the probe records
 * @returns the `service-active` check
 */
export function serviceActiveCheck(records: ProbeRecords): Check {
  const id = "service-active";
  const title = "XMRig service";
  const service = records.service;
  if (service === null) return missingProbe(id, title, "service");
  const data = { state: service.xmrig, systemd: service.systemd };
  if (service.xmrig_active === true) return check(id, "ok", title, "xmrig.service is active", data);
  if (service.xmrig_active === false) {
    return check(id, "issue", title, `xmrig.service is ${service.xmrig}`, data);
  }
  const reason = reasonOf(service.reasons, "xmrig");
  return check(id, "warn", title, `cannot tell: systemctl ${reasonText(reason)}`, {
    ...data,
    reason,
  });
}

/**
 * Check 4: with `miner_user` configured, `xmrig.service` must run as that user; a different
 * `User=` is a counted issue. An empty `User=` cannot be compared (RigForge stays silent).
 *
 * @param records the probe records
 * @returns the `miner-user` check
 */
export function minerUserCheck(records: ProbeRecords): Check {
  const id = "miner-user";
  const title = "Unprivileged miner";
  const service = records.service;
  if (service === null) return missingProbe(id, title, "service");
  const user = service.miner_user;
  if (user === null) return check(id, "skipped", title, "miner_user not set", {});
  const data = { configured: user.configured, actual: user.actual };
  if (user.actual === null) {
    const reason = reasonOf(service.reasons, "miner_user.actual");
    return check(id, "info", title, `cannot compare: xmrig.service User= ${reasonText(reason)}`, {
      ...data,
      reason,
    });
  }
  if (user.actual === user.configured) {
    return check(id, "ok", title, `xmrig.service runs as ${user.actual}`, data);
  }
  return check(
    id,
    "issue",
    title,
    `xmrig.service runs as ${user.actual}, miner_user is ${user.configured}: run apply`,
    data,
  );
}

/**
 * Check 6: the SHA-256 of `xmrig/build/xmrig` against `xmrig/.rigforge-sha256` recorded at
 * build time. A difference (or a missing binary with a record) is a counted issue; no record is
 * `info`.
 *
 * @param records the probe records
 * @returns the `xmrig-binary` check
 */
export function binaryCheck(records: ProbeRecords): Check {
  const id = "xmrig-binary";
  const title = "XMRig binary";
  const prov = records.provenance;
  if (prov === null) return missingProbe(id, title, "provenance");
  const data = {
    sha256_recorded: prov.xmrig_sha256_recorded,
    sha256_actual: prov.xmrig_sha256_actual,
    matches: prov.binary_matches,
    commit: prov.xmrig_commit,
  };
  if (prov.binary_matches === true) {
    return check(id, "ok", title, "SHA-256 matches the build record", data);
  }
  if (prov.binary_matches === false) {
    return check(id, "issue", title, "SHA-256 differs from the build record: rebuild", data);
  }
  if (prov.xmrig_sha256_recorded === null) {
    const reason = reasonOf(prov.reasons, "xmrig_sha256_recorded");
    return check(id, "info", title, "no SHA-256 recorded at build time", { ...data, reason });
  }
  const reason = reasonOf(prov.reasons, "xmrig_sha256_actual");
  if (reason === "absent") {
    return check(id, "issue", title, "binary missing (a SHA-256 was recorded): rebuild", {
      ...data,
      reason,
    });
  }
  return unknownCheck(id, title, reason, "warn", data);
}

/**
 * Check 7: XMRig's own HTTP API must be `restricted` (read-only); otherwise, or when its config
 * cannot be read, a counted issue. Unreadable for lack of root is `needs-root` (RigForge
 * reported a false issue on `miner_user` rigs, whose build config is 0600).
 *
 * @param records the probe records
 * @returns the `xmrig-api-restricted` check
 */
export function restrictedCheck(records: ProbeRecords): Check {
  const id = "xmrig-api-restricted";
  const title = "XMRig HTTP API read-only";
  const prov = records.provenance;
  if (prov === null) return missingProbe(id, title, "provenance");
  const http = prov.xmrig_http;
  if (http === null) {
    const reason = reasonOf(prov.reasons, "xmrig_http");
    if (reason === "absent" && !rigforgeFound(records)) {
      return check(id, "skipped", title, "no RigForge install found", { reason });
    }
    if (reason === "absent") {
      return check(id, "issue", title, "no XMRig config (xmrig/build/config.json): not built?", {
        reason,
      });
    }
    return unknownCheck(id, title, reason, "issue");
  }
  const data = {
    enabled: http.enabled,
    host: http.host,
    port: http.port,
    restricted: http.restricted,
    token_set: http.token_set,
  };
  if (http.enabled === false) return check(id, "ok", title, "XMRig's HTTP API is off", data);
  if (http.restricted === true) {
    return check(id, "ok", title, `restricted on ${http.host ?? "?"}:${http.port ?? "?"}`, data);
  }
  return check(
    id,
    "issue",
    title,
    "http.restricted is not true: XMRig accepts config writes",
    data,
  );
}

/**
 * Check 10: the `msr` kernel module (`/sys/module/msr`); missing is a counted issue (XMRig
 * cannot apply the MSR mod; with Secure Boot on, the module may be refused).
 *
 * @param records the probe records
 * @returns the `msr-module` check
 */
export function msrModuleCheck(records: ProbeRecords): Check {
  const id = "msr-module";
  const title = "msr kernel module";
  const msr = records.msr;
  if (msr === null) return missingProbe(id, title, "msr");
  const data = { module_loaded: msr.module_loaded };
  if (msr.module_loaded === true) return check(id, "ok", title, "loaded", data);
  if (msr.module_loaded === false) {
    return check(
      id,
      "issue",
      title,
      "not loaded: modprobe msr (disable Secure Boot if refused)",
      data,
    );
  }
  return unknownCheck(id, title, reasonOf(msr.reasons, "module_loaded"), "warn", data);
}

/**
 * Check 11: the MSR mod as XMRig's log reports it since its last start (RigForge read the whole
 * appended log and missed XMRig's real failure lines). Applied → ok; failed → a counted issue;
 * no MSR line → skipped.
 *
 * @param records the probe records
 * @returns the `msr-mod` check
 */
export function msrModCheck(records: ProbeRecords): Check {
  const id = "msr-mod";
  const title = "MSR mod (XMRig log)";
  const msr = records.msr;
  if (msr === null) return missingProbe(id, title, "msr");
  const log = msr.log;
  if (log === null) {
    const reason = reasonOf(msr.reasons, "log");
    return check(id, "skipped", title, `no XMRig log: ${reasonText(reason)}`, { reason });
  }
  const data = { status: log.status, preset: log.preset, line: log.line };
  if (log.status === "applied") {
    return check(id, "ok", title, `preset ${log.preset ?? "?"} applied since the last start`, data);
  }
  if (log.status === "failed") {
    return check(id, "issue", title, `failed since the last start: ${log.line ?? "?"}`, data);
  }
  return check(id, "skipped", title, "no MSR line since XMRig's last start", data);
}

/**
 * Check 11a (and 5 for `miner_user` rigs): the preset's registers read back from
 * `/dev/cpu/0/msr` (root only: `needs-root` otherwise, never an issue). All match → ok; a
 * mismatch → a counted issue when the mod is expected (the log says applied, or `miner_user`
 * means RigForge applies it as root), else a warning; some unreadable → a warning.
 *
 * @param records the probe records
 * @returns the `msr-readback` check
 */
export function msrReadbackCheck(records: ProbeRecords): Check {
  const id = "msr-readback";
  const title = "MSR register read-back";
  const msr = records.msr;
  if (msr === null) return missingProbe(id, title, "msr");
  if (msr.preset === null || msr.preset === "none") {
    return check(id, "skipped", title, "no MSR preset for this CPU", { preset: msr.preset });
  }
  const rb = msr.readback;
  if (rb === null) {
    const reason = reasonOf(msr.reasons, "readback");
    if (reason === "absent" || reason === "unsupported") {
      return check(id, "skipped", title, "no /dev/cpu/0/msr to read (see the msr module check)", {
        preset: msr.preset,
        reason,
      });
    }
    return unknownCheck(id, title, reason, "warn", { preset: msr.preset });
  }
  const data = {
    preset: msr.preset,
    preset_source: msr.preset_source,
    matched: rb.matched,
    total: rb.total,
    unreadable: rb.unreadable,
    mismatched: rb.registers.filter((r) => r.match === false).map((r) => r.register),
  };
  if (data.mismatched.length > 0) {
    const expected = msr.log?.status === "applied" ||
      (records.service?.miner_user ?? null) !== null;
    return check(
      id,
      expected ? "issue" : "warn",
      title,
      `${data.mismatched.length} of ${rb.total} register(s) differ from ${msr.preset}: ` +
        data.mismatched.join(", "),
      data,
    );
  }
  if (rb.unreadable > 0) {
    return check(id, "warn", title, `${rb.unreadable} of ${rb.total} register(s) unreadable`, data);
  }
  return check(id, "ok", title, `${msr.preset} verified (${rb.matched}/${rb.total})`, data);
}

/**
 * Check 5's preset, compared: the preset XMRig's log says it applied since its last start, the
 * one XMRig 6.26.0's rule picks for this CPU (`/proc/cpuinfo`), and RigForge's root-side
 * `.rigforge-msr-preset`. Any two that differ → a warning naming all three (not a counted
 * issue: the read-back check judges the registers); fewer than two known → skipped.
 *
 * @param records the probe records
 * @returns the `msr-preset` check
 */
export function msrPresetCheck(records: ProbeRecords): Check {
  const id = "msr-preset";
  const title = "MSR preset (log, CPU rule, RigForge)";
  const msr = records.msr;
  if (msr === null) return missingProbe(id, title, "msr");
  const data = {
    log: msr.log?.preset ?? null,
    cpu: msr.cpu_preset,
    rigforge: msr.rigforge_preset,
    agree: msr.presets_agree,
  };
  const named = `XMRig's log ${data.log ?? "-"}, CPU rule ${data.cpu ?? "-"}, ` +
    `RigForge's .rigforge-msr-preset ${data.rigforge ?? "-"}`;
  if (msr.presets_agree === null) {
    return check(id, "skipped", title, `fewer than two presets known: ${named}`, data);
  }
  if (msr.presets_agree) return check(id, "ok", title, `all name ${msr.preset}`, data);
  return check(id, "warn", title, `presets disagree: ${named}`, data);
}

/**
 * Check 16: XMRig's huge-pages allocation as its log reports it since its last start. RigForge
 * grepped the whole appended log, so an old 100 % line passed forever; the `xmrig_log` probe
 * keeps only the lines since the last start banner. Below 100 % is a warning, not an issue
 * (RigForge's rule); no line since the start is skipped.
 *
 * @param records the probe records
 * @returns the `xmrig-hugepages-log` check
 */
export function hugepagesLogCheck(records: ProbeRecords): Check {
  const id = "xmrig-hugepages-log";
  const title = "XMRig huge pages (log)";
  const log = records.xmrig_log;
  if (log === null) return missingProbe(id, title, "xmrig_log");
  const lines = [log.dataset, log.threads].filter((l) => l !== null);
  if (lines.length === 0) {
    const reason = log.reasons["dataset"] ?? "absent";
    const detail = reason === "not-running"
      ? "no huge-pages line since XMRig's last start"
      : "cannot tell: XMRig's last start is not in its log (no log, or rotated)";
    return check(id, "skipped", title, detail, { reason });
  }
  const data = { dataset: log.dataset, threads: log.threads };
  const low = lines.find((l) => l.pct < HUGEPAGES_LOG_OK_PCT);
  if (low !== undefined) {
    const detail =
      `below ${HUGEPAGES_LOG_OK_PCT} % since XMRig's last start: ${low.allocated}/${low.total} pages huge`;
    return check(id, "warn", title, detail, data);
  }
  return check(id, "ok", title, `${HUGEPAGES_LOG_OK_PCT} % since XMRig's last start`, data);
}
