/**
 * `rigforge-api serve`: the read-only sister API. Unprivileged; wires the pieces together:
 * config and auth (once, at start), the snapshot cache, the XMRig client, the handler, the
 * listener (socket-activated or standalone), admission control, and the embedded prober for
 * machines without a probe timer.
 *
 * Embedded probing: when `serve` is not socket-activated and no producer keeps the snapshot
 * fresh (the file is missing, unreadable or older than 3 of its intervals at start;
 * `--embedded-probe auto`), it runs the probes itself every `--probe-interval` seconds, off the
 * request path, carrying the rate counters in memory. Socket-activated (under systemd) it never
 * does: the root probe timer feeds it. Requests get whichever snapshot is newer, the file's or
 * the embedded one.
 *
 * First contact after an idle exit: socket-activated with a stale or missing snapshot, requests
 * wait for the probe pass this activation started (`src/snapshot/hold.ts`), at most until
 * 600 ms after the process started; then they get the newest snapshot there is, labelled.
 *
 * @module
 */

import { join } from "node:path";
import { doctorSection } from "../checks.ts";
import { snapshotInfo } from "../merge.ts";
import {
  createSnapshotCache,
  DEFAULT_INTERVAL_S,
  DEFAULT_SNAPSHOT_PATH,
  readSnapshotFile,
} from "../snapshot.ts";
import { isIPv4, isIPv6 } from "../ip.ts";
import { createXmrigClient, xmrigOrigin } from "../xmrig.ts";
import { createHold, HOLD_DEADLINE_MS, needsHold, watchChanges } from "../snapshot.ts";
import { createAdmission, DEFAULT_ADMISSION } from "../http/admission.ts";
import { buildAuth } from "../http/auth.ts";
import { createHandler } from "../http/handler.ts";
import { errorResponse, STATUS_TEXT } from "../http/responses.ts";
import { type ListenTarget, socketActivation } from "../http/activation.ts";
import { type RunningServer, startServer } from "../http/listen.ts";
import {
  type Command,
  intFlag,
  type Io,
  numberFlag,
  parseCommandArgs,
  UsageError,
} from "./args.ts";
import { buildContext, LOCATION_HELP, LOCATION_OPTIONS } from "./context.ts";
import {
  decideEmbedded,
  EMBEDDED_SAMPLE_MS,
  type EmbeddedDecision,
  type EmbeddedMode,
  newerSnapshot,
  startEmbeddedProber,
} from "./embedded_probe.ts";
import { loopbackOrigin, withLoopbackHttp } from "../probe.ts";

/** Default `--xmrig`. */
export const DEFAULT_XMRIG = "http://127.0.0.1:8080";
/** Default `--bind` when the config has no `api_bind` and a token is required. */
export const DEFAULT_BIND = "0.0.0.0";
/** Where an open API listens unless `--bind` or `api_bind` says otherwise. */
export const LOOPBACK_BIND = "127.0.0.1";
/** Default `--port` when the config has no `api_port`. */
export const DEFAULT_PORT = 8081;
/** Default `--idle-exit`, seconds. */
export const DEFAULT_IDLE_EXIT_S = 120;

/** The parsed and validated `serve` flags. */
export interface ServeArgs {
  /** `--bind`, or `null` for the config's `api_bind` (else {@link bindFor}'s default). */
  bind: string | null;
  /** `--port`, or `null` for the config's `api_port` (else 8081); 0 = any free port. */
  port: number | null;
  /** XMRig's API origin. */
  xmrig: string;
  /** The snapshot file. */
  snapshot: string;
  /** Seconds without an open connection before a socket-activated server exits (0 = never). */
  idleExitS: number;
  /** Embedded probing. */
  embeddedProbe: EmbeddedMode;
  /** Embedded probe period, seconds. */
  probeIntervalS: number;
  /** Per-source admission rate, connections/s (0 = unlimited). */
  rate: number;
  /** Per-source burst. */
  burst: number;
  /** Global admission rate, connections/s (0 = unlimited). */
  globalRate: number;
  /** The shared location flags (`--rigforge-home`, `--config`, `--root`), for `buildContext`. */
  location: Record<string, string | boolean | undefined>;
}

const OPTIONS = {
  ...LOCATION_OPTIONS,
  bind: { type: "string" },
  port: { type: "string" },
  xmrig: { type: "string" },
  snapshot: { type: "string" },
  "idle-exit": { type: "string" },
  "embedded-probe": { type: "string" },
  "probe-interval": { type: "string" },
  rate: { type: "string" },
  burst: { type: "string" },
  "global-rate": { type: "string" },
} as const;

const CONFIG_HELP =
  `  --config FILE         RigForge config to read (default: $CREDENTIALS_DIRECTORY/config when
                        set, as under systemd's LoadCredential=, else <rigforge-home>/config.json)`;

const HELP =
  `rigforge-api serve: answer the read-only sister API (XMRig's summary plus RigForge's data)

USAGE:
  rigforge-api serve [flags]

OPTIONS:
  --bind ADDR               address to listen on when not socket-activated; "::" is dual-stack
                            (default: the config's api_bind, else ${DEFAULT_BIND} with a token
                            and ${LOOPBACK_BIND} without one)
  --port N                  port to listen on when not socket-activated; 0 = any free port
                            (default: the config's api_port, else ${DEFAULT_PORT})
  --xmrig URL               XMRig's HTTP API (default ${DEFAULT_XMRIG})
  --snapshot FILE           the snapshot 'probe' writes (default ${DEFAULT_SNAPSHOT_PATH})
  --idle-exit SECONDS       socket-activated only: exit after this long without an open
                            connection; systemd starts it again on the next one
                            (default ${DEFAULT_IDLE_EXIT_S}, 0 = never)
  --embedded-probe MODE     auto, on or off: probe in-process every --probe-interval instead of
                            relying on the probe timer; auto = when not socket-activated and the
                            snapshot is missing or older than 3 intervals at start (default auto)
  --probe-interval SECONDS  embedded probe period (default ${DEFAULT_INTERVAL_S})
  --rate N                  connections per second one source address may open (IPv6: one
                            /64) (default ${DEFAULT_ADMISSION.rate}, 0 = unlimited)
  --burst N                 connections one quiet source may open at once (default ${DEFAULT_ADMISSION.burst})
  --global-rate N           connections per second from all sources together
                            (default ${DEFAULT_ADMISSION.globalRate}, 0 = unlimited)
${LOCATION_HELP.replace(/ {2}--config FILE[^\n]*\n/, `${CONFIG_HELP}\n`)}
  -h, --help                show this help

Started by systemd (rigforge-api.socket, Accept=no) it serves the inherited socket (fd 3) and
ignores --bind/--port. Started by hand it listens on --bind/--port and never idle-exits.
A connection over budget is held unread for 1 s, then answered 429 with Retry-After: 1 (with
over 256 held, closed at once). Every response carries 'Connection: close'. The config is read
once at start: restart to pick up a new token. A config that exists but is unusable (bad JSON,
ACCESS_TOKEN not a string) is refused: exit 1.

EXAMPLES:
  rigforge-api serve
  rigforge-api serve --bind 127.0.0.1 --port 9081 --embedded-probe on
  rigforge-api serve --xmrig http://127.0.0.1:18080 --snapshot /tmp/snapshot.json
  systemd-socket-activate -l 127.0.0.1:8081 rigforge-api serve --idle-exit 30
`;

/**
 * Parses and validates the `serve` flags.
 *
 * @param argv the arguments after `serve`
 * @returns the typed flags
 * @throws {UsageError} on any mistake
 */
export function parseServeArgs(argv: string[]): ServeArgs {
  const values = parseCommandArgs(argv, OPTIONS);
  const bind = typeof values["bind"] === "string" ? values["bind"] : null;
  if (bind !== null && !isIPv4(bind) && !isIPv6(bind)) {
    throw new UsageError(`--bind must be an IPv4 or IPv6 address (e.g. 0.0.0.0, ::, 127.0.0.1)`);
  }
  const port = values["port"] === undefined
    ? null
    : intFlag(values["port"], "--port", 0, [0, 65535]);
  const xmrigText = typeof values["xmrig"] === "string" ? values["xmrig"] : DEFAULT_XMRIG;
  const xmrig = xmrigOrigin(xmrigText);
  if (xmrig === null) throw new UsageError("--xmrig must be an http:// or https:// URL");
  const mode = values["embedded-probe"] ?? "auto";
  if (mode !== "auto" && mode !== "on" && mode !== "off") {
    throw new UsageError("--embedded-probe must be auto, on or off");
  }
  const location: Record<string, string | boolean | undefined> = {};
  for (const key of Object.keys(LOCATION_OPTIONS)) location[key] = values[key];
  return {
    bind,
    port,
    xmrig,
    snapshot: typeof values["snapshot"] === "string" ? values["snapshot"] : DEFAULT_SNAPSHOT_PATH,
    idleExitS: numberFlag(values["idle-exit"], "--idle-exit", DEFAULT_IDLE_EXIT_S, [0, 86400]),
    embeddedProbe: mode,
    probeIntervalS: numberFlag(
      values["probe-interval"],
      "--probe-interval",
      DEFAULT_INTERVAL_S,
      [1, 86400],
    ),
    rate: numberFlag(values["rate"], "--rate", DEFAULT_ADMISSION.rate, [0, 1_000_000]),
    burst: intFlag(values["burst"], "--burst", DEFAULT_ADMISSION.burst, [1, 1_000_000]),
    globalRate: numberFlag(
      values["global-rate"],
      "--global-rate",
      DEFAULT_ADMISSION.globalRate,
      [0, 1_000_000],
    ),
    location,
  };
}

async function run(argv: string[], io: Io): Promise<number> {
  const startedMs = performance.now(); // ms since the runtime's time origin (process start)
  const args = parseServeArgs(argv);
  const activation = socketActivation(io.env, Deno.pid);
  const credentials = io.env("CREDENTIALS_DIRECTORY");
  const ctx = await buildContext(args.location, io, {
    defaultConfig: credentials ? join(credentials, "config") : null,
    sampleMs: EMBEDDED_SAMPLE_MS,
  }); // throws ConfigError for a config that exists but is unusable: refuse to start
  const config = ctx.config;
  const auth = await buildAuth(config);

  const initial = await readSnapshotFile(args.snapshot);
  const decision = decideEmbedded(
    args.embeddedProbe,
    activation !== null,
    initial.ok ? initial.snapshot : null,
    Date.now(),
  );
  // The embedded probe asks XMRig (for the 60 s power pair) only on loopback: the token goes
  // nowhere else.
  let lastError = -Infinity;
  const report = (message: string): void => {
    if (performance.now() - lastError < 60_000) return; // a bug, not a log stream
    lastError = performance.now();
    io.stderr(`rigforge-api serve: ${message}\n`);
  };
  const loopbackXmrig = loopbackOrigin(args.xmrig);
  const probeCtx = loopbackXmrig === null ? ctx : withLoopbackHttp({ ...ctx }, loopbackXmrig);
  const prober = decision.embedded
    ? startEmbeddedProber(probeCtx, args.probeIntervalS, report)
    : null;
  const cache = createSnapshotCache(args.snapshot);
  const log = (message: string): void => io.stderr(`rigforge-api serve: ${message}\n`);
  // Socket-activated with old or no data: the first requests wait for this activation's pass.
  const atStart = initial.ok ? initial.snapshot : null;
  const watch = needsHold(activation !== null, snapshotInfo(atStart, Date.now()).status)
    ? watchChanges(args.snapshot, log)
    : null;
  const hold = watch === null ? null : createHold({
    baseline: atStart,
    deadline: HOLD_DEADLINE_MS, // on performance.now(): ms since this process started
    now: () => performance.now(),
    read: () => readSnapshotFile(args.snapshot),
    changed: (ms) => watch.changed(ms),
    onError: log,
  });
  const held = hold?.wait().then((outcome) => {
    watch?.close();
    log(
      `first requests held until ${Math.round(performance.now())} ms after the process ` +
        `started (serve's code began at ${Math.round(startedMs)} ms) for the probe ` +
        `pass: ${outcome === "fresh" ? "its snapshot arrived" : "deadline, serving older data"}`,
    );
  });
  const linux = Deno.build.os === "linux";
  const admission = createAdmission({
    rate: args.rate,
    burst: args.burst,
    globalRate: args.globalRate,
  });
  const handler = createHandler({
    auth,
    snapshot: async () => {
      if (held !== undefined) await held;
      return newerSnapshot(await cache.read(), prober?.latest() ?? hold?.latest() ?? null);
    },
    xmrig: createXmrigClient({ base: args.xmrig, token: config?.accessToken ?? null }),
    now: () => Date.now(),
    checks: (records) => doctorSection(records, { isRoot: prober === null || ctx.isRoot, linux }),
    shedCounts: () => admission.counts(), // rigforge_api_requests_shed_total on /metrics
    report, // route and doctor failures, also counted on /metrics
  });

  const target: ListenTarget = activation ?? {
    kind: "tcp",
    host: bindFor(args.bind, config, auth.open),
    port: args.port ?? config?.apiPort ?? DEFAULT_PORT,
  };
  let server: RunningServer;
  try {
    if (prober !== null) await prober.first; // the first request already has this machine's data
    server = await startServer({
      target,
      handler,
      statusText: STATUS_TEXT,
      errorResponse,
      idleExitMs: activation === null ? 0 : args.idleExitS * 1000,
      admission,
      onError: report,
    });
  } catch (error) {
    prober?.stop();
    throw error;
  }
  io.stderr(startupLine(server, activation !== null, args, auth.open, prober !== null, decision));

  const stop = (): void => void server.stop();
  const signals = listenForSignals(stop);
  try {
    await server.closed;
  } finally {
    signals();
    prober?.stop();
    watch?.close();
  }
  return 0;
}

/**
 * Where standalone `serve` listens: `--bind`, else the config's own `api_bind`, else
 * {@link DEFAULT_BIND} when a token is required, and loopback (`127.0.0.1`, XMRig's own default
 * host) when the API is open: an open API never reaches the LAN unless someone said so.
 *
 * @param flag `--bind`, or null
 * @param config the validated config, or null (no file)
 * @param open whether no token is configured
 * @returns the address to listen on
 */
export function bindFor(
  flag: string | null,
  config: { apiBind: string; apiBindSet: boolean } | null,
  open: boolean,
): string {
  if (flag !== null) return flag;
  if (config !== null && config.apiBindSet) return config.apiBind;
  return open ? LOOPBACK_BIND : DEFAULT_BIND;
}

function startupLine(
  server: RunningServer,
  activated: boolean,
  args: ServeArgs,
  open: boolean,
  embedded: boolean,
  decision: EmbeddedDecision,
): string {
  const mode = activated
    ? `socket-activated, idle exit ${args.idleExitS > 0 ? `${args.idleExitS} s` : "never"}`
    : "standalone";
  const snapshot = embedded
    ? `embedded probe every ${args.probeIntervalS} s (${decision.why})`
    : args.snapshot;
  const admission = args.rate === 0 && args.globalRate === 0
    ? "unlimited"
    : `${args.rate || "unlimited"}/s per source (burst ${args.burst}), ${
      args.globalRate || "unlimited"
    }/s in all`;
  // an open API on loopback because nobody chose an address: say how to open it up
  const hint = !activated && open && args.bind === null && server.address.startsWith(LOOPBACK_BIND)
    ? "; no token, so loopback only: set ACCESS_TOKEN, or pass --bind 0.0.0.0 (or set api_bind) " +
      "to serve the LAN"
    : "";
  return `rigforge-api serve: listening on ${server.address} (${mode}), token: ${
    open ? "open" : "required"
  }, snapshot: ${snapshot}, admission: ${admission}${hint}\n`;
}

/** Stops gracefully on SIGTERM (systemd's stop) and SIGINT; returns the remover. */
function listenForSignals(stop: () => void): () => void {
  const added: Deno.Signal[] = [];
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    try {
      Deno.addSignalListener(signal, stop);
      added.push(signal);
    } catch {
      // not supported on this platform
    }
  }
  return () => {
    for (const signal of added) Deno.removeSignalListener(signal, stop);
  };
}

/** The `serve` command. */
export const serveCommand: Command = {
  name: "serve",
  help: HELP,
  run,
};
