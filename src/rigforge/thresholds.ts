/**
 * Every threshold doctor judges by, in one place. The values are RigForge v1.12's, so a rig
 * judged by `rigforge.sh doctor` and by `rigforge-api doctor` gets the same verdict.
 *
 * @module
 */

/**
 * Effective clock below this percentage of the boost clock reads as throttling (RigForge's
 * `MIN_CLOCK_PCT`, checks 14 and `throttling`). Judged over the busy CPUs only.
 */
export const MIN_CLOCK_PCT = 75;

/** Configured RAM speed (MT/s) below this asks for XMP/EXPO (RigForge's `MIN_RAM_MTS`, 13b). */
export const MIN_RAM_MTS = 2666;

/** At most this many memory channels is "single-channel" (RigForge check 13: `channels <= 1`). */
export const SINGLE_CHANNEL_MAX = 1;

/** At least this many default-size huge pages must be reserved (check 2: `HugePages_Total > 0`). */
export const MIN_HUGEPAGES = 1;

/** At least this many 1 GiB pages makes the optional 1 GB check pass (check 3: `> 0`). */
export const MIN_HUGEPAGES_1G = 1;

/**
 * An EPYC with exactly this many NUMA nodes is suspected to run in NPS1 (check 15c); NPS4
 * gives RandomX a measurable gain. Zero nodes (no sysfs) is not suspect.
 */
export const NPS1_SUSPECT_NODES = 1;

/** XMRig's huge-pages allocation line must say this percentage (check 16: `huge pages 100%`). */
export const HUGEPAGES_LOG_OK_PCT = 100;

/** The governor doctor expects on every CPU (check 12). */
export const EXPECTED_GOVERNOR = "performance";

/** SMT control values that mean SMT is off (check 15b): RandomX wants both threads per core. */
export const SMT_OFF_VALUES: readonly string[] = ["off", "forceoff"];

/**
 * Live performance more than this many percent below the last tune's best is a doctor warning
 * (`tune_gap`; not counted as an issue). Under RigForge's efficiency target the comparison is
 * H/s per W. RigForge's autotune keeps a mode only when it wins by more than 1 %, so a few
 * percent is run-to-run and live-versus-bench noise; 5 % is a loss worth a look.
 */
export const MAX_PCT_BELOW_BEST = 5;
