/**
 * Checks on RigForge's own services: the API exposure posture, the control path, the watchdog,
 * autotune and the sister API itself (RigForge doctor checks 8 and 9, plus what `/health`
 * left out: the autotune timer's active state and the API's own socket and timer).
 *
 * @module
 */

import type { ProbeRecords } from "../probe.ts";
import { type Check, check, missingProbe, reasonOf, reasonText } from "./types.ts";

/**
 * Check 8: who can reach the sister API: a token and/or a firewall scope → ok; neither → info
 * ("open and unscoped — fine on a trusted LAN"). Never an issue. A token equal to a value the
 * API serves (`token_public`: a pool user or rig-id, Pithead's `name` mode) → warn. Token
 * values never appear.
 *
 * @param records the probe records
 * @returns the `api-exposure` check
 */
export function exposureCheck(records: ProbeRecords): Check {
  const id = "api-exposure";
  const title = "API exposure";
  const exp = records.exposure;
  if (exp === null) return missingProbe(id, title, "exposure");
  const data = {
    api: exp.api,
    bind: exp.bind,
    port: exp.port,
    token_set: exp.token_set,
    named_tokens: exp.named_tokens,
    allow_from: exp.allow_from,
    scoped: exp.scoped,
  };
  const limits = [
    exp.token_set === true ? "token" : null,
    exp.scoped === true ? `firewall scope ${(exp.allow_from ?? []).join(", ")}` : null,
  ].filter((l) => l !== null);
  if (exp.token_public === true) {
    return check(
      id,
      "warn",
      title,
      "a token equals a value the API serves (a pool user or rig-id, as in Pithead's name " +
        "mode): anyone who may read the feed can use it; named read tokens then protect nothing",
      { ...data, token_public: true },
    );
  }
  if (limits.length === 0) {
    return check(id, "info", title, "open and unscoped: fine on a trusted LAN", data);
  }
  return check(id, "ok", title, `limited (${limits.join(" + ")})`, data);
}

/**
 * Check 9: RigForge's control receiver. When `control` is enabled, `rigforge-control.service`
 * must be active and its `GET /status` on loopback must answer 200 or 503 (asked by `probe`
 * and `doctor` with RigForge's token; anything else is a counted issue, as in RigForge's
 * doctor; without an answer on record only the unit is judged); the last control outcome from
 * `status.json` is shown as context. Control disabled: the last outcome, if any, as info.
 *
 * @param records the probe records
 * @returns the `control-receiver` check
 */
export function controlCheck(records: ProbeRecords): Check {
  const id = "control-receiver";
  const title = "Control receiver";
  const view = records.config_view;
  if (view === null) return missingProbe(id, title, "config_view");
  const control = view.control;
  const enabled = records.exposure?.control ?? null;
  const state = records.service?.control ?? null;
  const last = control === null
    ? "no control status record"
    : `last change ${control.status ?? "?"}${
      control.applied_at === null ? "" : ` at ${control.applied_at}`
    }`;
  const data = {
    enabled,
    unit: state,
    status: control?.status ?? null,
    change_id: control?.change_id ?? null,
    applied_at: control?.applied_at ?? null,
  };
  const receiver = records.control_receiver;
  const asked = receiver?.answers ?? null;
  Object.assign(data, { http_status: receiver?.http_status ?? null, answers: asked });
  if (enabled === true) {
    if (state === "active" && asked === false) {
      const error = receiver?.error ?? "no answer";
      return check(id, "issue", title, `rigforge-control is active but /status: ${error}`, data);
    }
    if (state === "active") {
      const http = asked === true ? `, /status answered ${receiver?.http_status}` : "";
      return check(id, "ok", title, `active${http}; ${last}`, data);
    }
    if (state === null) {
      const why = reasonText(reasonOf(records.service?.reasons ?? {}, "control"));
      return check(id, "warn", title, `cannot tell: ${why}`, data);
    }
    return check(id, "issue", title, `control is enabled but rigforge-control is ${state}`, data);
  }
  if (control === null) {
    const reason = reasonOf(view.reasons, "control");
    return check(id, "skipped", title, "no control status record", { reason });
  }
  return check(id, "info", title, last, data);
}

/**
 * The watchdog: off → info (no restart of a stuck miner, no thermal cutoff); a pending strike
 * (the last health check failed) → warning; otherwise ok with its interval and cutoff.
 *
 * @param records the probe records
 * @returns the `watchdog` check
 */
export function watchdogCheck(records: ProbeRecords): Check {
  const id = "watchdog";
  const title = "Watchdog";
  const wd = records.watchdog;
  if (wd === null) return missingProbe(id, title, "watchdog");
  const data = {
    mode: wd.mode,
    interval_min: wd.interval_min,
    max_temp_c: wd.max_temp_c,
    resumes_below_c: wd.resumes_below_c,
    thermal_hold: wd.thermal_hold,
    strikes: wd.strikes,
  };
  if (wd.mode === null) {
    const reason = reasonOf(wd.reasons, "mode");
    return check(id, "skipped", title, "no RigForge config", { ...data, reason });
  }
  if (wd.mode !== "enabled") {
    return check(id, "info", title, "off: no restart of a stuck miner, no thermal cutoff", data);
  }
  const every = wd.interval_min === null ? "" : ` every ${wd.interval_min} min`;
  const cutoff = wd.max_temp_c === null
    ? "no thermal cutoff"
    : `cutoff ${wd.max_temp_c} °C, resumes below ${wd.resumes_below_c ?? wd.max_temp_c - 5} °C`;
  if (wd.strikes > 0) {
    return check(
      id,
      "warn",
      title,
      `${wd.strikes} strike(s): the last health check failed (restart at 2)`,
      data,
    );
  }
  return check(id, "ok", title, `enabled${every}, ${cutoff}`, data);
}

/**
 * Autotune: the timer's installed AND active state against the config (RigForge's API said
 * "enabled" when the unit file merely existed).
 *
 * @param records the probe records
 * @returns the `autotune` check
 */
export function autotuneCheck(records: ProbeRecords): Check {
  const id = "autotune";
  const title = "Periodic autotune";
  const tune = records.tune;
  if (tune === null) return missingProbe(id, title, "tune");
  const at = tune.autotune;
  const setting = records.config_view?.config?.autotune ?? null;
  const data = {
    setting,
    enabled: at.enabled,
    active: at.active,
    target: at.target,
    schedule: at.schedule,
    next: at.next,
    last_run: at.last_run,
  };
  if (!at.enabled) {
    if (setting !== null && setting !== "disabled") {
      return check(
        id,
        "warn",
        title,
        `config says ${setting} but no timer is installed: run apply`,
        data,
      );
    }
    return check(id, "info", title, "off", data);
  }
  if (at.active !== true) {
    const state = at.active === false ? "inactive" : "of unknown state";
    return check(id, "warn", title, `timer installed but ${state}`, data);
  }
  const next = at.next === null ? "" : `, next ${at.next}`;
  return check(
    id,
    "ok",
    title,
    `active, target ${at.target_setting ?? at.target ?? "?"}, ${at.schedule ?? "?"}${next}`,
    data,
  );
}

/**
 * The sister API itself: its socket must listen when the config enables the API (a failed or
 * inactive socket is a counted issue, like RigForge's control receiver); the probe timer must
 * run while the server runs.
 *
 * @param records the probe records
 * @returns the `sister-api` check
 */
export function sisterApiCheck(records: ProbeRecords): Check {
  const id = "sister-api";
  const title = "rigforge-api";
  const service = records.service;
  if (service === null) return missingProbe(id, title, "service");
  const setting = records.exposure?.api ?? null;
  const data = {
    api: setting,
    socket: service.api_socket,
    service: service.api_service,
    probe_timer: service.probe_timer,
  };
  if (service.api_socket === null) {
    const reason = reasonOf(service.reasons, "api_socket");
    return check(id, "skipped", title, `cannot tell: systemctl ${reasonText(reason)}`, {
      ...data,
      reason,
    });
  }
  if (service.api_socket !== "active") {
    if (setting === "enabled") {
      return check(
        id,
        "issue",
        title,
        `rigforge-api.socket is ${service.api_socket} though api is enabled: run install`,
        data,
      );
    }
    return check(id, "info", title, "not installed (api not enabled)", data);
  }
  if (service.api_service === "active" && service.probe_timer !== "active") {
    return check(
      id,
      "warn",
      title,
      `server active but the probe timer is ${service.probe_timer ?? "unknown"}: data goes stale`,
      data,
    );
  }
  const server = service.api_service === "active" ? "serving" : "idle (starts on demand)";
  return check(id, "ok", title, `socket listening, server ${server}`, data);
}
