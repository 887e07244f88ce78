/**
 * The named per-connection state of the listener and the pure rule that picks which
 * connection to close when the connection cap is reached (`listen.ts` holds the sockets).
 *
 * @module
 */

import type { HeadReader } from "./head_reader.ts";

/**
 * The state of one admitted connection: `reading` its head (evictable at the cap), `answering`
 * (the head is in hand: never evicted), `written` (answer sent, only drained).
 */
export interface ConnectionState {
  /** The normalised peer address: the source for the cap's eviction rule and the handler. */
  address: string;
  /** Clock reading at accept. */
  start: number;
  /** Clock reading of the last byte received. */
  last: number;
  /** Where the connection is. */
  phase: "reading" | "answering" | "written";
  /** While the handler runs: when it is out of time (clock reading), else 0. */
  answerBy: number;
  /** The request method, once the head is complete. */
  method: string;
  /** The head reader while `reading`, then null. */
  reader: HeadReader | null;
}

/**
 * The connection to close at the cap: among connections still `reading` their head, the one
 * quiet longest (oldest last byte), from the source holding the most connections, else from any
 * source. Never one whose complete head is in hand (`answering`, `written`). Connections
 * younger than `graceMs` go only when no older one is left: a fresh connection's request is
 * most likely already in the kernel's buffer, unread, and evicting it would reset a request that
 * was sent; among fresh ones the oldest goes first (it had the most time to send).
 *
 * @param bySource connections by source address
 * @param states the state of each connection
 * @param now the clock reading now, ms
 * @param graceMs connections younger than this are spared while an older one is left, ms
 * @returns the connection to close, or undefined when every connection has its head in hand
 */
export function pickEvictee<K>(
  bySource: ReadonlyMap<string, ReadonlySet<K>>,
  states: ReadonlyMap<K, ConnectionState>,
  now: number,
  graceMs: number,
): K | undefined {
  let largest: ReadonlySet<K> | undefined;
  for (const group of bySource.values()) {
    if (largest === undefined || group.size > largest.size) largest = group;
  }
  // the largest source pays first (its quiet readers, then its fresh ones), then anyone
  for (const group of [largest, states.keys()]) {
    if (group === undefined) continue;
    const list = [...group];
    const found = quietest(list, states, now, graceMs, false) ??
      quietest(list, states, now, graceMs, true);
    if (found !== undefined) return found;
  }
  return undefined;
}

function quietest<K>(
  group: Iterable<K>,
  states: ReadonlyMap<K, ConnectionState>,
  now: number,
  graceMs: number,
  fresh: boolean,
): K | undefined {
  let found: K | undefined;
  let since = Infinity;
  for (const key of group) {
    const conn = states.get(key);
    if (conn === undefined || conn.phase !== "reading") continue;
    if ((now - conn.start < graceMs) !== fresh) continue;
    const when = fresh ? conn.start : conn.last;
    if (when < since) {
      since = when;
      found = key;
    }
  }
  return found;
}
