/**
 * Admission control for `serve`: token buckets that decide, right after a connection is
 * accepted and before any byte of it is parsed, whether the rig spends anything on it.
 *
 * - **Per source** (default 5 connections/s, burst 20): keyed by the full normalised peer
 *   address, IPv6 included: every host of a LAN's one /64 has its own budget.
 * - **Per IPv6 /64, in all** (a second limit, {@link PREFIX_FACTOR} times the per-source
 *   budget): one host cycling through its /64's addresses (SLAAC privacy addresses) gets a
 *   fresh bucket per address but not a fresh /64.
 * - **Global** (default 50/s, burst = max(global rate, per-source burst)): bounds the total
 *   whatever the number of sources.
 * - **Reserve** (the last 20 % of the global bucket), in two tiers. A *light* source (its own
 *   bucket at least half full: not busy lately) may use the upper half of the reserve. A
 *   *senior* light source, one served before and first served at least {@link TENURE_MS} before
 *   the current pressure on the global bucket began, may use all of it and is not held to its
 *   /64's aggregate. So busy sources drain the global bucket only down to the reserve, many
 *   light newcomers only down to its lower half, and a dashboard that was polling before the
 *   flood keeps being served (tests/admission_test.ts, with 120 sources; bench/fairness.ts).
 *
 * With `Connection: close` on every response, one connection is one request, so a connection
 * budget is a request budget. A source is charged for every connection its own bucket admits,
 * even one a later limit sheds, so a flooder cannot stay "light".
 *
 * Every map is bounded: sources whose bucket has refilled are equivalent to absent and are
 * swept when a map reaches its cap; past that the oldest entries go (a flooder evicted that way
 * gets a fresh burst, which the global bucket still bounds). Seniority is forgotten
 * {@link FORGET_MS} after a source was last admitted.
 *
 * @module
 */

import { parseIPv6 } from "../ip.ts";

/** Why a connection was shed. */
export type ShedReason = "source" | "global" | "connections" | "slow";

/** Shed connections by reason, since the admission was created (monotonic counters). */
export type ShedCounts = Record<ShedReason, number>;

/** The budgets. A rate of 0 disables that bucket. */
export interface AdmissionOptions {
  /** Per-source refill, connections per second (0 = unlimited). */
  rate: number;
  /** Per-source bucket size: connections a quiet source may open at once. */
  burst: number;
  /** Global refill, connections per second (0 = unlimited). */
  globalRate: number;
  /** Most sources tracked at once (default 4096). */
  maxSources?: number;
  /** Monotonic clock in milliseconds (default `performance.now`). */
  now?: () => number;
}

/** The verdict for one connection. */
export type Verdict = "ok" | "source" | "global";

/** An admission controller (state in a closure). */
export interface Admission {
  /**
   * Decides on one accepted connection and counts a shed.
   *
   * @param address the normalised peer address (see `normaliseAddress` in `src/ip.ts`)
   * @returns `"ok"` or the reason it is shed
   */
  admit(address: string): Verdict;
  /**
   * Counts a connection shed for a reason decided elsewhere (the connection cap).
   *
   * @param reason why
   */
  noteShed(reason: ShedReason): void;
  /** @returns a copy of the shed counters, for `/metrics` */
  counts(): ShedCounts;
  /** @returns how many sources are tracked now */
  sources(): number;
}

/** Default budgets (also the `serve` flag defaults). */
export const DEFAULT_ADMISSION = { rate: 5, burst: 20, globalRate: 50 } as const;

/** Share of the global bucket kept for light sources (its lower half for senior ones). */
export const GLOBAL_RESERVE_SHARE = 0.2;
/** An IPv6 /64 may open this many times the per-source budget, in all. */
export const PREFIX_FACTOR = 4;
/** A source first served this long before pressure began is senior, ms. */
export const TENURE_MS = 10_000;
/** A source not admitted for this long is a newcomer again, ms. */
export const FORGET_MS = 600_000;

interface Seen {
  first: number;
  last: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

/**
 * The /64 of an IPv6 address (`2001:db8:1:2::/64`), the key of its aggregate bucket; `null`
 * for IPv4 and anything unparsable.
 *
 * @param address a normalised address
 * @returns the prefix key, or null
 */
export function prefixKey(address: string): string | null {
  if (!address.includes(":")) return null;
  const groups = parseIPv6(address);
  if (groups === null) return null;
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/**
 * The bucket key of a source: the normalised address itself, IPv6 included.
 *
 * @param address a normalised address
 * @returns the key
 */
export function sourceKey(address: string): string {
  return address;
}

/**
 * Creates an admission controller.
 *
 * @param options the budgets
 * @returns the controller
 * @throws {RangeError} for a negative or non-finite budget, or a burst below 1 with a rate set
 */
export function createAdmission(options: AdmissionOptions): Admission {
  const { rate, burst, globalRate } = options;
  for (const [name, value] of [["rate", rate], ["burst", burst], ["globalRate", globalRate]]) {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`admission: ${name} must be a finite number >= 0`);
    }
  }
  if (rate > 0 && burst < 1) throw new RangeError("admission: burst must be >= 1");
  const now = options.now ?? (() => performance.now());
  const maxSources = Math.max(16, options.maxSources ?? 4096);
  const globalBurst = Math.max(globalRate, burst, 1);
  const reserve = Math.max(1, Math.floor(globalBurst * GLOBAL_RESERVE_SHARE));
  // the global bucket's floor for each kind of source: busy, light newcomer, senior light
  const floors = { busy: reserve + 1, light: Math.floor(reserve / 2) + 1, senior: 1 };
  const buckets = new Map<string, Bucket>();
  const prefixes = new Map<string, Bucket>();
  const seen = new Map<string, Seen>();
  const global: Bucket = { tokens: globalBurst, last: now() };
  const shed: ShedCounts = { source: 0, global: 0, connections: 0, slow: 0 };
  let pressureSince: number | null = null;

  function refill(bucket: Bucket, perSecond: number, cap: number, t: number): void {
    const elapsed = t - bucket.last;
    if (elapsed > 0) {
      bucket.tokens = Math.min(cap, bucket.tokens + (elapsed * perSecond) / 1000);
      bucket.last = t;
    }
  }

  /** Drops refilled buckets (equivalent to absent), then the oldest, down to 90 % of the cap. */
  function sweep(map: Map<string, Bucket>, perSecond: number, cap: number, t: number): void {
    for (const [key, bucket] of map) {
      if (bucket.tokens + ((t - bucket.last) * perSecond) / 1000 >= cap) map.delete(key);
    }
    const target = Math.floor(maxSources * 0.9);
    for (const key of map.keys()) {
      if (map.size <= target) break;
      map.delete(key);
    }
  }

  /** The bucket of a key (fresh and full when absent). */
  function bucketOf(
    map: Map<string, Bucket>,
    key: string,
    perSecond: number,
    cap: number,
    t: number,
  ): Bucket {
    let bucket = map.get(key);
    if (bucket === undefined) {
      if (map.size >= maxSources) sweep(map, perSecond, cap, t);
      bucket = { tokens: cap, last: t };
      map.set(key, bucket);
    } else refill(bucket, perSecond, cap, t);
    return bucket;
  }

  /** Whether a source was served before and first served {@link TENURE_MS} before pressure. */
  function senior(address: string, t: number): boolean {
    const entry = seen.get(address);
    if (entry === undefined || t - entry.last > FORGET_MS) return false;
    return entry.first <= (pressureSince ?? t) - TENURE_MS;
  }

  /** Remembers an admitted source (most recent last, so the least recent is forgotten first). */
  function remember(address: string, t: number): void {
    const entry = seen.get(address);
    seen.delete(address);
    if (entry === undefined && seen.size >= maxSources) {
      for (const [key, old] of seen) if (t - old.last > FORGET_MS) seen.delete(key);
      const target = Math.floor(maxSources * 0.9);
      for (const key of seen.keys()) {
        if (seen.size <= target) break;
        seen.delete(key);
      }
    }
    seen.set(address, { first: entry?.first ?? t, last: t });
  }

  /** The verdict, before counting it. */
  function decide(address: string, t: number): Verdict {
    let light = true;
    if (rate > 0) {
      const own = bucketOf(buckets, sourceKey(address), rate, burst, t);
      if (own.tokens < 1) return "source";
      light = own.tokens >= burst / 2;
      own.tokens -= 1;
    }
    const trusted = light && senior(address, t);
    const prefix = rate > 0 ? prefixKey(address) : null;
    if (prefix !== null) {
      const cap = burst * PREFIX_FACTOR;
      const all = bucketOf(prefixes, prefix, rate * PREFIX_FACTOR, cap, t);
      if (all.tokens < 1 && !trusted) return "source";
      all.tokens = Math.max(0, all.tokens - 1);
    }
    if (globalRate === 0) return "ok";
    refill(global, globalRate, globalBurst, t);
    if (global.tokens >= globalBurst) pressureSince = null;
    // with no per-source budget there is no telling light from busy: one floor for all
    const floor = rate === 0 || trusted ? floors.senior : light ? floors.light : floors.busy;
    const enough = global.tokens >= floor;
    if (enough) global.tokens -= 1;
    if (global.tokens < floors.busy && pressureSince === null) pressureSince = t;
    return enough ? "ok" : "global";
  }

  return {
    admit(address: string): Verdict {
      const t = now();
      const verdict = decide(address, t);
      if (verdict === "ok") {
        if (globalRate > 0) remember(address, t); // seniority matters to the global bucket only
      } else shed[verdict]++;
      return verdict;
    },
    noteShed(reason: ShedReason): void {
      shed[reason]++;
    },
    counts: () => ({ ...shed }),
    sources: () => buckets.size,
  };
}
