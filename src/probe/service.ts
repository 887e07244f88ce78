/**
 * The systemd units around the miner: XMRig's service, rigforge-api's socket, service and probe
 * timer, and RigForge's autotune timer, from ONE `systemctl is-active` call (plus one
 * `systemctl show -p User --value xmrig.service` when `miner_user` is configured, and one
 * `systemctl show rigforge-api.socket -p IPAddressDeny -p IPAccounting -p IPIngressBytes` while
 * the socket is active: whether its allow-list is really enforced).
 *
 * @module
 */

import type { CommandResult, Probe, ProbeContext, Reasons } from "./types.ts";

/** The units asked about, in the order `systemctl is-active` answers (one state per line). */
export const SERVICE_UNITS = [
  "xmrig.service",
  "rigforge-api.socket",
  "rigforge-api.service",
  "rigforge-api-probe.timer",
  "rigforge-autotune.timer",
  "rigforge-control.service",
] as const;

/** The record keys for {@link SERVICE_UNITS}, in the same order. */
const STATE_KEYS = [
  "xmrig",
  "api_socket",
  "api_service",
  "probe_timer",
  "autotune_timer",
  "control",
] as const;

/** The configured miner user against the `User=` of the running `xmrig.service`. */
export interface MinerUser {
  /** `miner_user` from RigForge's config. */
  configured: string;
  /** `systemctl show -p User --value xmrig.service`; `null` when the unit sets no `User=`. */
  actual: string | null;
}

/**
 * The API socket's IP allow-list as the running systemd applies it. `IPAddressAllow=`/`Deny=`
 * need systemd's BPF cgroup firewall (cgroup v2 or the hybrid layout, a kernel with cgroup BPF,
 * and `bpf()` allowed: containers often block it). Without it systemd accepts the settings and
 * filters nothing. The sound signal is IP accounting, which the same BPF program does: with
 * `IPAccounting=yes` (set next to the allow-list by `install`) `IPIngressBytes` is a byte count
 * when the program is attached and `[no data]` when it is not.
 */
export interface ApiIpScope {
  /** Whether the socket carries an `IPAddressDeny=` (an allow-list is installed). */
  configured: boolean;
  /**
   * Whether the BPF firewall is attached to the socket, so the allow-list is enforced; `null`
   * when nothing is configured (`absent`) or the socket has no `IPAccounting=yes`
   * (`unsupported`: units from an older install; re-run install).
   */
  enforced: boolean | null;
}

/** The `service` probe's record. */
export interface ServiceRecord {
  /** Whether `systemctl` ran and answered a unit state for every unit asked about. */
  systemd: boolean;
  /** `xmrig.service` state as `systemctl is-active` prints it (`active`, `inactive`, `failed`…). */
  xmrig: string | null;
  /** `xmrig === "active"`; `null` when the state is unknown. */
  xmrig_active: boolean | null;
  /** `rigforge-api.socket` state. */
  api_socket: string | null;
  /** `rigforge-api.service` state (`inactive` is normal between polls: it exits when idle). */
  api_service: string | null;
  /** `rigforge-api-probe.timer` state. */
  probe_timer: string | null;
  /** `rigforge-autotune.timer` state (`inactive` also when the unit does not exist). */
  autotune_timer: string | null;
  /** `rigforge-control.service` state: RigForge's writable control receiver (:8082). */
  control: string | null;
  /** Present only when `miner_user` is configured. */
  miner_user: MinerUser | null;
  /** The socket's allow-list and whether it is enforced; `not-running` while the socket is not active. */
  api_ip_scope: ApiIpScope | null;
  /** Why each `null` field is `null`. */
  reasons: Reasons;
}

const STATE = /^[a-z][a-z-]{0,31}$/;
const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

/**
 * Parses `systemctl is-active U1 U2 …` output: one state per line, in argument order.
 *
 * @param stdout the command's output
 * @param count how many units were asked about
 * @returns one state (or `null` for a garbled line) per unit, or `null` when the output does
 *   not hold exactly `count` lines (systemctl could not reach systemd: it prints nothing)
 */
export function parseIsActive(stdout: string, count: number): (string | null)[] | null {
  const lines = stdout.split("\n").map((l) => l.trim());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length !== count) return null;
  return lines.map((line) => (STATE.test(line) ? line : null));
}

/**
 * Parses `systemctl show -p User --value <unit>` output.
 *
 * @param stdout the command's output
 * @returns the user name, `null` for an empty value, or `"corrupt"` for something that is not a
 *   user name
 */
export function parseUserValue(stdout: string): string | null | "corrupt" {
  const value = stdout.trim();
  if (value === "") return null;
  return USER.test(value) ? value : "corrupt";
}

/** The properties asked for by {@link collectService} about the API socket's allow-list. */
export const IP_SCOPE_PROPERTIES = ["IPAddressDeny", "IPAccounting", "IPIngressBytes"] as const;

/**
 * Parses `systemctl show rigforge-api.socket -p IPAddressDeny -p IPAccounting -p
 * IPIngressBytes` output (`Key=value` lines, in systemd's order, not the arguments').
 * `IPIngressBytes` is a byte count, or `[no data]` when no BPF accounting program is attached.
 *
 * @param stdout the command's output
 * @returns the scope, or `"corrupt"` when a property is missing or malformed
 */
export function parseIpScope(stdout: string): ApiIpScope | "corrupt" {
  const props = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const deny = props.get("IPAddressDeny");
  const accounting = props.get("IPAccounting");
  const bytes = props.get("IPIngressBytes");
  if (deny === undefined || accounting === undefined || bytes === undefined) return "corrupt";
  if (accounting !== "yes" && accounting !== "no") return "corrupt";
  const counted = /^\d{1,20}$/.test(bytes);
  if (!counted && bytes !== "[no data]") return "corrupt";
  const configured = deny !== "";
  return { configured, enforced: configured && accounting === "yes" ? counted : null };
}

/** Maps a command that did not run cleanly to a null reason. */
function commandFailure(result: CommandResult): "absent" | "timeout" | "unreadable" {
  if (result.failure === "timeout") return "timeout";
  if (result.failure === "absent") return "absent";
  return "unreadable";
}

async function minerUserOf(
  ctx: ProbeContext,
  reasons: Reasons,
): Promise<MinerUser | null> {
  const configured = ctx.config?.minerUser ?? null;
  if (configured === null) {
    reasons["miner_user"] = "absent";
    return null;
  }
  const result = await ctx.run("systemctl", ["show", "-p", "User", "--value", "xmrig.service"], {
    timeoutMs: 2000,
    maxBytes: 4096,
  });
  if (result.failure !== null || result.code !== 0) {
    reasons["miner_user.actual"] = result.failure !== null ? commandFailure(result) : "unsupported";
    return { configured, actual: null };
  }
  const actual = parseUserValue(result.stdout);
  if (actual === "corrupt") {
    reasons["miner_user.actual"] = "corrupt";
    return { configured, actual: null };
  }
  if (actual === null) reasons["miner_user.actual"] = "absent";
  return { configured, actual };
}

async function ipScopeOf(
  ctx: ProbeContext,
  socket: string | null,
  reasons: Reasons,
): Promise<ApiIpScope | null> {
  if (socket !== "active") {
    reasons["api_ip_scope"] = socket === null ? "corrupt" : "not-running";
    return null;
  }
  const props = IP_SCOPE_PROPERTIES.flatMap((p) => ["-p", p]);
  const result = await ctx.run("systemctl", ["show", "rigforge-api.socket", ...props], {
    timeoutMs: 2000,
    maxBytes: 4096,
  });
  if (result.failure !== null || result.code !== 0) {
    reasons["api_ip_scope"] = result.failure !== null ? commandFailure(result) : "unsupported";
    return null;
  }
  const scope = parseIpScope(result.stdout);
  if (scope === "corrupt") {
    reasons["api_ip_scope"] = "corrupt";
    return null;
  }
  if (scope.enforced === null) {
    reasons["api_ip_scope.enforced"] = scope.configured ? "unsupported" : "absent";
  }
  return scope;
}

/**
 * Collects unit states with `systemctl is-active` (one bounded call), when `miner_user` is
 * configured the `User=` of `xmrig.service`, and while the API socket is active whether its
 * allow-list is enforced (see {@link ApiIpScope}). Off Linux, or without `systemctl`, or when
 * systemctl cannot reach systemd (a container or VM without systemd as PID 1), every state is
 * `null` with reason `unsupported`/`absent`/`timeout`.
 *
 * @param ctx the probe context (`run` executes systemctl; the replay runner serves fixtures)
 * @returns the record
 */
export async function collectService(ctx: ProbeContext): Promise<ServiceRecord> {
  const reasons: Reasons = {};
  const record: ServiceRecord = {
    systemd: false,
    xmrig: null,
    xmrig_active: null,
    api_socket: null,
    api_service: null,
    probe_timer: null,
    autotune_timer: null,
    control: null,
    miner_user: null,
    api_ip_scope: null,
    reasons,
  };
  const fail = (reason: Reasons[string]): ServiceRecord => {
    for (const key of [...STATE_KEYS, "xmrig_active", "miner_user", "api_ip_scope"]) {
      reasons[key] = reason;
    }
    return record;
  };
  if (ctx.root === "/" && Deno.build.os !== "linux") return fail("unsupported");
  const result = await ctx.run("systemctl", ["is-active", ...SERVICE_UNITS], {
    timeoutMs: 2000,
    maxBytes: 4096,
  });
  if (result.failure !== null) return fail(commandFailure(result));
  // is-active exits 0 when at least one unit is active and 3 otherwise; both answer per unit.
  const states = parseIsActive(result.stdout, SERVICE_UNITS.length);
  if (states === null) return fail("unsupported");
  record.systemd = true;
  STATE_KEYS.forEach((key, i) => {
    const state = states[i] ?? null;
    record[key] = state;
    if (state === null) reasons[key] = "corrupt";
  });
  record.xmrig_active = record.xmrig === null ? null : record.xmrig === "active";
  if (record.xmrig_active === null) reasons["xmrig_active"] = "corrupt";
  record.miner_user = await minerUserOf(ctx, reasons);
  record.api_ip_scope = await ipScopeOf(ctx, record.api_socket, reasons);
  return record;
}

/** The `service` probe: systemd unit states and the miner's `User=`. */
export const serviceProbe: Probe<ServiceRecord> = {
  name: "service",
  collect: collectService,
};
