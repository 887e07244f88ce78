/**
 * `rigforge-api probe`: runs every probe once and writes the snapshot `serve` reads. Meant for
 * root, on a timer: it does all the slow and privileged work (RAPL, SMBIOS, MSR read-back,
 * systemctl) so the request path never does.
 *
 * Rates (package watts, per-CPU load) are deltas between this pass and the previous snapshot
 * at `--out` (its `counters`); without a usable previous snapshot (none, unreadable, or older
 * than 10 intervals) the probes sample for 1 s instead.
 *
 * @module
 */

import { loopbackOrigin, PROBE_XMRIG, withLoopbackHttp } from "../probe.ts";
import { type PreviousCounters, runProbes } from "../probe.ts";
import { parseTime } from "../lib/time.ts";
import {
  buildSnapshot,
  DEFAULT_INTERVAL_S,
  DEFAULT_SNAPSHOT_PATH,
  readSnapshotFile,
  serializeSnapshot,
  writeSnapshotAtomic,
} from "../snapshot.ts";
import { type Command, type Io, numberFlag, parseCommandArgs, UsageError } from "./args.ts";
import { buildContext, LOCATION_HELP, LOCATION_OPTIONS } from "./context.ts";

/** A previous snapshot older than this many intervals is not used for rates. */
export const PREVIOUS_MAX_INTERVALS = 10;
/** How long a pass without usable previous counters samples rates, in ms. */
export const FIRST_SAMPLE_MS = 1000;
const HELP = `rigforge-api probe: probe the machine once and write the snapshot that serve reads

USAGE:
  rigforge-api probe [--out FILE | --print] [--interval SECONDS] [location flags]

OPTIONS:
  --out FILE            write the snapshot here, atomically (mode 0644; the directory is
                        created when missing) (default ${DEFAULT_SNAPSHOT_PATH})
  --print               write the snapshot to stdout instead; the previous snapshot at
                        --out is still read for rates
  --interval SECONDS    how often the timer runs this, recorded in the snapshot: serve calls
                        a snapshot older than 3 intervals stale (default ${DEFAULT_INTERVAL_S})
  --xmrig URL           XMRig's API, loopback only: its 60 s hashrate is paired with package
                        power over the same 60 s (default ${PROBE_XMRIG})
${LOCATION_HELP}
  -h, --help            show this help

Run it as root: RAPL energy, SMBIOS tables and MSR read-back need root; without root those
fields are null with the reason "needs-root". Package watts are the energy used since the
previous snapshot (the timer interval); the first run, or one after a gap of more than
${PREVIOUS_MAX_INTERVALS} intervals, samples for 1 s instead. Exits 0 even when probes report nulls, 1
when the snapshot cannot be written.

EXAMPLES:
  sudo rigforge-api probe
  sudo rigforge-api probe --interval 30 --out /run/rigforge-api/snapshot.json
  rigforge-api probe --print --root tests/fixtures/roots/zen4
`;

const OPTIONS = {
  ...LOCATION_OPTIONS,
  out: { type: "string" },
  print: { type: "boolean" },
  interval: { type: "string" },
  xmrig: { type: "string" },
} as const;

/**
 * The counters of the snapshot at `path`, when it is usable for this pass's rates: readable,
 * valid, not from the future and at most {@link PREVIOUS_MAX_INTERVALS} intervals old.
 *
 * @param path the previous snapshot (`--out`)
 * @param now wall clock, ms since the epoch
 * @param intervalS the probe interval, seconds
 * @returns the counters, or `null` (a first pass)
 */
export async function previousCounters(
  path: string,
  now: number,
  intervalS: number,
): Promise<PreviousCounters | null> {
  const read = await readSnapshotFile(path);
  if (!read.ok) return null;
  const generated = parseTime(read.snapshot.generated_at);
  if (generated === null) return null;
  const age = now - generated;
  if (age < -1000 || age > PREVIOUS_MAX_INTERVALS * intervalS * 1000) return null;
  const counters = read.snapshot.counters;
  return counters.cpu_times === null && counters.energy_uj === null ? null : counters;
}

async function run(argv: string[], io: Io): Promise<number> {
  const values = parseCommandArgs(argv, OPTIONS);
  const interval = numberFlag(values["interval"], "--interval", DEFAULT_INTERVAL_S, [1, 86400]);
  const out = typeof values["out"] === "string" ? values["out"] : DEFAULT_SNAPSHOT_PATH;
  const previous = await previousCounters(out, Date.now(), interval);
  const xmrig = loopbackOrigin(typeof values["xmrig"] === "string" ? values["xmrig"] : PROBE_XMRIG);
  if (xmrig === null) throw new UsageError("--xmrig must be an http:// URL on a loopback address");
  const ctx = withLoopbackHttp(
    await buildContext(values, io, { previous, sampleMs: FIRST_SAMPLE_MS }),
    xmrig,
  );
  const started = ctx.now();
  const pass = await runProbes(ctx);
  const snapshot = buildSnapshot(pass, ctx, { intervalS: interval, startedMs: started });
  if (values["print"] === true) {
    io.stdout(serializeSnapshot(snapshot, true));
    return 0;
  }
  try {
    await writeSnapshotAtomic(out, snapshot);
  } catch (error) {
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
    io.stderr(`rigforge-api probe: cannot write the snapshot ${out}: ${why}\n`);
    return 1;
  }
  return 0;
}

/** The `probe` command. */
export const probeCommand: Command = {
  name: "probe",
  help: HELP,
  run,
};
