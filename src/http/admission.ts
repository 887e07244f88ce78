/**
 * Admission control for `serve`: token buckets that decide, right after a connection is
 * accepted and before any byte of it is parsed, whether the rig spends anything on it.
 *
 * - **Per source** (default 5 connections/s, burst 20): keyed by the normalised peer address;
 *   IPv6 peers are keyed by their /64, because one LAN host can use any address of its /64
 *   (SLAAC privacy addresses) and would otherwise get a fresh bucket per address.
 * - **Global** (default 50/s, burst = max(global rate, per-source burst)): bounds the total
 *   whatever the number of sources.
 * - **Reserve**: the last 20 % of the global bucket is kept for *light* sources (those whose own
 *   bucket is at least half full, i.e. that have not been busy lately). A flood from one or many
 *   busy sources therefore drains the global bucket only down to the reserve, and a dashboard
 *   polling every few seconds from another address is still admitted.
 *
 * With `Connection: close` on every response, one connection is one request, so a connection
 * budget is a request budget. A source is charged for every connection its own bucket admits,
 * even one the global bucket then sheds, so a flooder cannot stay "light".
 *
 * The bucket map is bounded: sources whose bucket has refilled are equivalent to absent and are
 * swept when the map reaches its cap; past that the oldest entries go (a flooder evicted that
 * way gets a fresh burst, which the global bucket still bounds).
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

/** Share of the global bucket kept for light sources. */
export const GLOBAL_RESERVE_SHARE = 0.2;

interface Bucket {
  tokens: number;
  last: number;
}

/**
 * The bucket key of an address: the address itself for IPv4 (and anything unparsable), the
 * /64 prefix for IPv6 (`2001:db8:1:2::/64`).
 *
 * @param address a normalised address
 * @returns the key
 */
export function sourceKey(address: string): string {
  if (!address.includes(":")) return address;
  const groups = parseIPv6(address);
  if (groups === null) return address;
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
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
  const buckets = new Map<string, Bucket>();
  const global: Bucket = { tokens: globalBurst, last: now() };
  const shed: ShedCounts = { source: 0, global: 0, connections: 0, slow: 0 };

  function refill(bucket: Bucket, perSecond: number, cap: number, t: number): void {
    const elapsed = t - bucket.last;
    if (elapsed > 0) {
      bucket.tokens = Math.min(cap, bucket.tokens + (elapsed * perSecond) / 1000);
      bucket.last = t;
    }
  }

  function sweep(t: number): void {
    for (const [key, bucket] of buckets) {
      if (bucket.tokens + ((t - bucket.last) * rate) / 1000 >= burst) buckets.delete(key);
    }
    const target = Math.floor(maxSources * 0.9);
    for (const key of buckets.keys()) {
      if (buckets.size <= target) break;
      buckets.delete(key);
    }
  }

  /** Charges the source; returns whether it was light before, or null when over budget. */
  function chargeSource(address: string, t: number): boolean | null {
    if (rate === 0) return true;
    const key = sourceKey(address);
    let bucket = buckets.get(key);
    if (bucket === undefined) {
      if (buckets.size >= maxSources) sweep(t);
      bucket = { tokens: burst, last: t };
      buckets.set(key, bucket);
    } else {
      refill(bucket, rate, burst, t);
    }
    if (bucket.tokens < 1) return null;
    const light = bucket.tokens >= burst / 2;
    bucket.tokens -= 1;
    return light;
  }

  return {
    admit(address: string): Verdict {
      const t = now();
      const light = chargeSource(address, t);
      if (light === null) {
        shed.source++;
        return "source";
      }
      if (globalRate === 0) return "ok";
      refill(global, globalRate, globalBurst, t);
      if (global.tokens < (light ? 1 : reserve + 1)) {
        shed.global++;
        return "global";
      }
      global.tokens -= 1;
      return "ok";
    },
    noteShed(reason: ShedReason): void {
      shed[reason]++;
    },
    counts: () => ({ ...shed }),
    sources: () => buckets.size,
  };
}
