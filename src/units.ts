/**
 * Renders the systemd units in `units/` (embedded in the binary as text imports) from validated
 * options: the socket (`ListenStream=` from bind and port, `IPAddressAllow=` from the allow-list),
 * the unprivileged socket-activated server, and the root probe service with its timer bound to
 * the server's lifetime. Pure: no file system, no systemd.
 *
 * @module
 */

import { normalize } from "node:path";
import { type Cidr, formatCidr, isIPv4, isIPv6, parseIPv6 } from "./ip.ts";
import { DEFAULT_SNAPSHOT_PATH } from "./snapshot.ts";
import probeServiceTemplate from "../units/rigforge-api-probe.service" with { type: "text" };
import probeTimerTemplate from "../units/rigforge-api-probe.timer" with { type: "text" };
import serviceTemplate from "../units/rigforge-api.service" with { type: "text" };
import socketTemplate from "../units/rigforge-api.socket" with { type: "text" };

/** The first line of every unit rigforge-api writes; `uninstall` removes only files carrying it. */
export const UNIT_MARKER = "# Managed by rigforge-api";

/** The unit names, in the order they are written (and listed by `units`). */
export const UNIT_NAMES = [
  "rigforge-api.socket",
  "rigforge-api.service",
  "rigforge-api-probe.service",
  "rigforge-api-probe.timer",
] as const;

/** The unit `install` enables and starts; it pulls in the rest. */
export const SOCKET_UNIT = "rigforge-api.socket";

/** The directory the probe writes its snapshot into (`RuntimeDirectory=rigforge-api`). */
export const RUNTIME_DIR = "/run/rigforge-api";

/** The smallest idle exit, in seconds: keeps activations far below the socket's trigger limit. */
export const MIN_IDLE_EXIT_S = 2;

/** Options for {@link renderUnits}. */
export interface UnitOptions {
  /** Absolute path of the rigforge-api executable the units run. */
  binary: string;
  /** TCP port to listen on (1-65535, never XMRig's 8080). */
  port: number;
  /** Address to listen on; `0.0.0.0` or `::` mean every address, IPv4 and IPv6. */
  bind: string;
  /** Sources allowed besides loopback; empty means no IP scoping. */
  allowFrom: Cidr[];
  /** Absolute path of RigForge's directory. */
  rigforgeHome: string;
  /** Absolute path of RigForge's `config.json` (loaded as the `config` credential). */
  configPath: string;
  /**
   * Seconds without a request before the server exits ({@link MIN_IDLE_EXIT_S}-86400), or 0 for
   * never (the server and its probe timer then run from the first connection on).
   */
  idleExit: number;
  /**
   * Per-source admission budget in connections (= requests) per second, or `null` for serve's
   * default. Never 0 (serve's "unlimited"): the unprivileged server runs at `Nice=0`, which is
   * safe for the miner only with a bound on requests per second.
   */
  rate: number | null;
  /** Per-source burst (whole connections), or `null` for serve's default. */
  burst: number | null;
  /** Budget for all sources together in connections per second, or `null` for serve's default. */
  globalRate: number | null;
  /** Seconds between probe passes while the server runs (5-3600). */
  probeInterval: number;
}

/** One rendered unit file. */
export interface RenderedUnit {
  /** File name, e.g. `rigforge-api.socket`. */
  name: string;
  /** Full file content, ending in a newline. */
  text: string;
}

const TEMPLATES: Record<(typeof UNIT_NAMES)[number], string> = {
  "rigforge-api.socket": socketTemplate,
  "rigforge-api.service": serviceTemplate,
  "rigforge-api-probe.service": probeServiceTemplate,
  "rigforge-api-probe.timer": probeTimerTemplate,
};

/** Directories `ProtectHome=yes` hides from the server. */
const HOME_DIRS = ["/home", "/root", "/run/user"];

/**
 * Checks options before rendering: paths systemd can express, a usable port and address, sane
 * timings and budgets.
 *
 * @param options the options
 * @returns `null` when valid, else one line naming the first problem
 */
export function validateUnitOptions(options: UnitOptions): string | null {
  return pathsProblem(options) ?? networkProblem(options) ?? timingProblem(options);
}

/**
 * Renders the four units.
 *
 * @param options validated options (see {@link validateUnitOptions})
 * @returns the units in {@link UNIT_NAMES} order
 * @throws {RangeError} when the options are invalid
 */
export function renderUnits(options: UnitOptions): RenderedUnit[] {
  const problem = validateUnitOptions(options);
  if (problem !== null) throw new RangeError(`Cannot render units: ${problem}`);
  const values: Record<string, string> = {
    listen: listenLines(options.bind, options.port).join("\n"),
    listen_summary: listenSummary(options.bind, options.port),
    ip_scope: ipScopeLines(options.allowFrom).join("\n"),
    serve_command: execLine(serveArgs(options)),
    probe_command: execLine(probeArgs(options)),
    config_credential: specifierEscape(options.configPath),
    protect_home: `ProtectHome=${needsHomeVisible(options) ? "read-only" : "yes"}`,
    probe_interval: String(options.probeInterval),
  };
  return UNIT_NAMES.map((name) => ({ name, text: fill(TEMPLATES[name], values, name) }));
}

/**
 * The server's command line (before unit-file quoting): `serve --idle-exit N`, the snapshot the
 * probe writes, the admission budgets that are set, and `--rigforge-home`. The config comes
 * from the credential (serve's default when `$CREDENTIALS_DIRECTORY` is set).
 *
 * @param options the options
 * @returns argv, the binary first
 */
export function serveArgs(options: UnitOptions): string[] {
  const args = [options.binary, "serve", "--idle-exit", String(options.idleExit)];
  args.push("--snapshot", DEFAULT_SNAPSHOT_PATH);
  if (options.rate !== null) args.push("--rate", String(options.rate));
  if (options.burst !== null) args.push("--burst", String(options.burst));
  if (options.globalRate !== null) args.push("--global-rate", String(options.globalRate));
  args.push("--rigforge-home", options.rigforgeHome);
  return args;
}

/**
 * The probe's command line (before unit-file quoting): one pass reading RigForge's files as
 * root, stamped with the timer's interval (the server judges staleness from it).
 *
 * @param options the options
 * @returns argv, the binary first
 */
export function probeArgs(options: UnitOptions): string[] {
  return [
    options.binary,
    "probe",
    "--interval",
    String(options.probeInterval),
    "--out",
    DEFAULT_SNAPSHOT_PATH,
    "--rigforge-home",
    options.rigforgeHome,
    "--config",
    options.configPath,
  ];
}

/**
 * `ListenStream=` lines: every address (`0.0.0.0` or `::`) is one dual-stack socket on the
 * port (systemd falls back to IPv4 when IPv6 is off); a specific address binds only that one,
 * with `FreeBind=` so the socket starts even before DHCP has assigned the address.
 *
 * @param bind the address
 * @param port the port
 * @returns unit lines
 */
export function listenLines(bind: string, port: number): string[] {
  if (isWildcard(bind)) return [`ListenStream=${port}`, "BindIPv6Only=both"];
  const address = isIPv6(bind) ? `[${bind.toLowerCase()}]` : bind;
  return [`ListenStream=${address}:${port}`, "FreeBind=yes"];
}

/**
 * `IPAddressAllow=`/`IPAddressDeny=` lines: nothing when the list is empty; otherwise loopback
 * (`localhost`: 127.0.0.0/8 and ::1) plus the list, and everything else denied. Enforced by
 * systemd's BPF cgroup firewall: denied clients' SYNs are dropped (they time out). Without that
 * firewall (cgroup v1 only, `bpf()` blocked in a container) systemd accepts the lines and filters
 * nothing, so `IPAccounting=yes` comes along: the same BPF program counts bytes, and
 * `IPIngressBytes` reads `[no data]` exactly when it is not attached (`doctor` reports it).
 *
 * @param allowFrom the sources
 * @returns unit lines
 */
export function ipScopeLines(allowFrom: readonly Cidr[]): string[] {
  if (allowFrom.length === 0) return [];
  const sources = [...new Set(allowFrom.map(formatCidr))];
  return [
    "# Only loopback and api_allow_from may connect; denied clients time out (SYN dropped).",
    `IPAddressAllow=localhost ${sources.join(" ")}`,
    "IPAddressDeny=any",
    "# Proof that the filter is attached: IPIngressBytes is a count, not [no data] (doctor).",
    "IPAccounting=yes",
  ];
}

/**
 * Quotes a command line for `ExecStart=`: words with characters outside a plain set (a space)
 * are double-quoted and `%` becomes `%%` (systemd expands specifiers in the whole line, the
 * executable's path included). Words never hold quotes, backslashes, control characters or `$`
 * (refused by {@link validateUnitOptions}: systemd expands `$` in arguments but not in the
 * executable's path, so no single escape works for both).
 *
 * @param argv the words
 * @returns the `ExecStart=` value
 */
export function execLine(argv: readonly string[]): string {
  return argv.map((word) => {
    const escaped = specifierEscape(word);
    return /^[A-Za-z0-9_\/.:,+=@%-]+$/.test(word) ? escaped : `"${escaped}"`;
  }).join(" ");
}

function specifierEscape(text: string): string {
  return text.replaceAll("%", "%%");
}

function pathsProblem(options: UnitOptions): string | null {
  const paths: [string, string][] = [
    ["the binary path", options.binary],
    ["the RigForge home", options.rigforgeHome],
    ["the config path", options.configPath],
  ];
  for (const [what, path] of paths) {
    const problem = pathProblem(path);
    if (problem !== null) return `${what} ${JSON.stringify(path.slice(0, 200))} ${problem}`;
  }
  return null;
}

function pathProblem(path: string): string | null {
  if (!path.startsWith("/")) return "must be absolute";
  if (path.length > 1024) return "is too long";
  if ([...path].some((c) => c < " " || c === "\x7f")) return "holds a control character";
  if (/["'\\$]/.test(path)) {
    return "holds a quote, a backslash or '$', which unit files cannot carry simply";
  }
  if (path !== path.trim()) return "starts or ends with white space";
  if (normalize(path) !== path || (path.length > 1 && path.endsWith("/"))) {
    return "is not normalised (no '.', '..', '//' or trailing '/')";
  }
  return null;
}

function networkProblem(options: UnitOptions): string | null {
  const { port, bind } = options;
  if (!wholeIn(port, 1, 65535)) return "the port must be a whole number 1-65535";
  if (port === 8080) return "the port must not be 8080 (XMRig's own API port)";
  if (!isIPv4(bind) && !isIPv6(bind)) {
    return `the bind address ${JSON.stringify(bind.slice(0, 64))} is not an IPv4/IPv6 address`;
  }
  for (const cidr of options.allowFrom) {
    const valid = cidr.family === 4 ? isIPv4(cidr.address) : isIPv6(cidr.address);
    if (!valid || !wholeIn(cidr.prefix, 0, cidr.family === 4 ? 32 : 128)) {
      return `the allow-list entry ${JSON.stringify(String(cidr.address).slice(0, 64))} is invalid`;
    }
  }
  return null;
}

function timingProblem(options: UnitOptions): string | null {
  if (options.idleExit !== 0 && !wholeIn(options.idleExit, MIN_IDLE_EXIT_S, 86400)) {
    return `the idle exit must be 0 (never) or a whole number of seconds ${MIN_IDLE_EXIT_S}-86400`;
  }
  if (!wholeIn(options.probeInterval, 5, 3600)) {
    return "the probe interval must be a whole number of seconds 5-3600";
  }
  const rates: [string, number | null][] = [
    ["rate", options.rate],
    ["global rate", options.globalRate],
  ];
  for (const [what, value] of rates) {
    // serve reads at most 6 decimals; String() must not turn to exponent notation either
    if (value !== null && !(value > 0 && value <= 1e6 && /^\d+(\.\d{1,6})?$/.test(String(value)))) {
      return `the ${what} must be a number above 0 and up to 1000000, at most 6 decimals`;
    }
  }
  if (options.burst !== null && !wholeIn(options.burst, 1, 1_000_000)) {
    return "the burst must be a whole number 1-1000000";
  }
  return null;
}

function wholeIn(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}

function isWildcard(bind: string): boolean {
  return bind === "0.0.0.0" || (parseIPv6(bind)?.every((group) => group === 0) ?? false);
}

function listenSummary(bind: string, port: number): string {
  return isWildcard(bind) ? `port ${port}, all addresses` : `${bind} port ${port}`;
}

function needsHomeVisible(options: UnitOptions): boolean {
  return [options.binary, options.rigforgeHome].some((path) =>
    HOME_DIRS.some((dir) => path === dir || path.startsWith(`${dir}/`))
  );
}

function fill(template: string, values: Record<string, string>, name: string): string {
  const lines: string[] = [];
  for (const line of template.split("\n")) {
    const filled = line.replaceAll(/\{\{([a-z_]+)\}\}/g, (_, key: string) => {
      const value = values[key];
      if (value === undefined) throw new Error(`Cannot render ${name}: unknown placeholder ${key}`);
      return value;
    });
    if (filled === "" && line !== "") continue; // a placeholder line that expanded to nothing
    lines.push(filled);
  }
  return lines.join("\n").replace(/\n*$/, "\n");
}
