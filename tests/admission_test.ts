/**
 * Admission control: the token buckets on a fake clock (pure), then on real sockets with real
 * source addresses (Linux routes all of 127.0.0.0/8 to lo, so a client bound to 127.0.0.2 is a
 * second source).
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  createAdmission,
  DEFAULT_ADMISSION,
  GLOBAL_RESERVE_SHARE,
  PREFIX_FACTOR,
  prefixKey,
  sourceKey,
} from "../src/http/admission.ts";
import { type ListenOptions, startServer } from "../src/http/listen.ts";
import type { HttpResponse } from "../src/http/types.ts";
import { get, rawRequest } from "./harness/serve_process.ts";
import { waitFor } from "./_wait.ts";

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function admitMany(admit: (address: string) => string, address: string, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (admit(address) === "ok") ok++;
  return ok;
}

Deno.test("defaults: 5/s per source, burst 20, 50/s global", () => {
  assertEquals(DEFAULT_ADMISSION, { rate: 5, burst: 20, globalRate: 50 });
});

Deno.test("per source: the burst passes, the rest is shed, and the budget refills", () => {
  const c = clock();
  const a = createAdmission({ rate: 5, burst: 20, globalRate: 0, now: c.now });
  assertEquals(admitMany(a.admit, "10.0.0.1", 30), 20);
  assertEquals(a.counts(), { source: 10, global: 0, connections: 0, slow: 0 });
  c.advance(1000);
  assertEquals(admitMany(a.admit, "10.0.0.1", 30), 5);
  c.advance(200);
  assertEquals(admitMany(a.admit, "10.0.0.1", 3), 1);
  c.advance(60_000);
  assertEquals(admitMany(a.admit, "10.0.0.1", 30), 20, "refills up to the burst, not beyond");
});

Deno.test("per source: a flooding source does not touch another source's budget", () => {
  const c = clock();
  const a = createAdmission({ rate: 5, burst: 20, globalRate: 0, now: c.now });
  admitMany(a.admit, "10.0.0.1", 1000);
  assertEquals(admitMany(a.admit, "10.0.0.2", 20), 20);
});

Deno.test("global bound holds with many sources, and counts as 'global'", () => {
  const c = clock();
  const a = createAdmission({ rate: 5, burst: 20, globalRate: 50, now: c.now });
  let admitted = 0;
  // 2 s of 1000 different sources, one connection each every 10 ms
  for (let step = 0; step < 200; step++) {
    for (let s = 0; s < 5; s++) {
      if (a.admit(`10.1.${step}.${s}`) === "ok") admitted++;
    }
    c.advance(10);
  }
  assert(admitted <= 50 + 50 * 2 + 1, `admitted ${admitted}`);
  assert(admitted >= 50 * 2 - 1, `admitted only ${admitted}`);
  assertEquals(a.counts().global, 1000 - admitted);
});

Deno.test("the global reserve keeps a quiet poller served while busy sources flood", () => {
  const c = clock();
  const a = createAdmission({ rate: 5, burst: 20, globalRate: 50, now: c.now });
  const flooders = Array.from({ length: 40 }, (_, i) => `10.2.0.${i}`);
  let pollerOk = 0;
  for (let ms = 0; ms < 10_000; ms += 10) {
    for (const f of flooders) a.admit(f); // each floods at 100/s
    if (ms % 1000 === 0 && a.admit("192.168.1.50") === "ok") pollerOk++;
    c.advance(10);
  }
  assertEquals(pollerOk, 10, "the 1/s poller got every request through");
  assert(a.counts().global > 0, "the flood did hit the global bound");
  assert(GLOBAL_RESERVE_SHARE > 0 && GLOBAL_RESERVE_SHARE < 1);
});

Deno.test("IPv6: a bucket per full address, and a bounded aggregate per /64 (issue 12 item 4)", () => {
  assertEquals(prefixKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assertEquals(prefixKey("2001:0db8:0001:0002:ffff:1:2:3"), "2001:db8:1:2::/64");
  assertEquals(prefixKey("192.168.1.5"), null);
  assertEquals(sourceKey("2001:db8:1:2::a"), "2001:db8:1:2::a");
  // one host at 10/s sheds only itself: a dashboard on another address of the /64 is served
  const c = clock();
  const a = createAdmission({ ...DEFAULT_ADMISSION, now: c.now });
  let dashboard = 0;
  let flooder = 0;
  for (let ms = 0; ms < 10_000; ms += 100) {
    if (a.admit("2001:db8:1:2::f1") === "ok") flooder++;
    if (ms % 1000 === 0 && a.admit("2001:db8:1:2::da5") === "ok") dashboard++;
    c.advance(100);
  }
  assertEquals(dashboard, 10, "the dashboard on the same /64 got every poll through");
  assert(flooder <= 20 + 5 * 10 + 1, `the flooder got ${flooder}`);
  // one host cycling through its /64's addresses is held to the /64's aggregate
  const b = createAdmission({ ...DEFAULT_ADMISSION, globalRate: 0, now: c.now });
  let cycled = 0;
  for (let i = 0; i < 1000; i++) {
    if (b.admit(`2001:db8:9:9::${(i + 1).toString(16)}`) === "ok") cycled++;
    c.advance(10); // 100/s over 10 s from 1,000 addresses
  }
  const bound = PREFIX_FACTOR * (DEFAULT_ADMISSION.burst + DEFAULT_ADMISSION.rate * 10);
  assert(cycled <= bound + 1, `the /64 got ${cycled} through (bound ${bound})`);
  assert(cycled >= bound - 5, `the /64 got only ${cycled}`);
  assertEquals(b.admit("2001:db8:9:a::1"), "ok", "another /64 is untouched");
});

Deno.test("a dashboard served before keeps being served while 120 light newcomers flood (item 5)", () => {
  const c = clock();
  const a = createAdmission({ ...DEFAULT_ADMISSION, now: c.now });
  const dash = "127.0.0.250";
  // the dashboard polls once a second for a minute before the flood
  for (let s = 0; s < 60; s++) {
    assertEquals(a.admit(dash), "ok");
    c.advance(1000);
  }
  // 120 loopback sources, each polling every 2 s (light by its own budget), 60/s in all;
  // the dashboard polls every second meanwhile, for two minutes
  const flood = Array.from({ length: 120 }, (_, i) => `127.0.0.${i + 1}`);
  let polls = 0;
  let served = 0;
  let newcomers = 0;
  for (let ms = 0; ms < 120_000; ms += 50) {
    // 3 flooders every 50 ms: each of the 120 once per 2 s
    for (let k = 0; k < 3; k++) {
      if (a.admit(flood[(ms / 50 * 3 + k) % 120]!) === "ok") newcomers++;
    }
    if (ms % 1000 === 0) {
      polls++;
      if (a.admit(dash) === "ok") served++;
    }
    c.advance(50);
  }
  assertEquals(served, polls, `the dashboard got ${served} of ${polls}`);
  assert(a.counts().global > 0, "the flood did hit the global bound");
  assert(newcomers >= 50 * 120 * 0.8, `newcomers still got ${newcomers} through`);
});

Deno.test("the bucket map stays bounded and forgets refilled sources", () => {
  const c = clock();
  const a = createAdmission({ rate: 5, burst: 20, globalRate: 0, maxSources: 1000, now: c.now });
  for (let i = 0; i < 10_000; i++) a.admit(`10.3.${i >> 8}.${i & 255}`);
  assert(a.sources() <= 1000, `${a.sources()} sources tracked`);
  c.advance(10_000); // every bucket has refilled
  a.admit("10.9.9.9");
  for (let i = 0; i < 1000; i++) a.admit(`10.4.${i >> 8}.${i & 255}`);
  assert(a.sources() <= 1000, `${a.sources()} sources tracked`);
});

Deno.test("rate 0 disables a bucket; bad budgets are refused", () => {
  const a = createAdmission({ rate: 0, burst: 1, globalRate: 0 });
  assertEquals(admitMany(a.admit, "10.0.0.1", 10_000), 10_000);
  assertEquals(a.sources(), 0);
  const g = createAdmission({ rate: 0, burst: 1, globalRate: 10, now: clock().now });
  assertEquals(admitMany(g.admit, "10.0.0.1", 100), 10);
  const bads = [
    { rate: -1, burst: 20, globalRate: 50 },
    { rate: Number.NaN, burst: 20, globalRate: 50 },
    { rate: 5, burst: 0, globalRate: 50 },
    { rate: 5, burst: 20, globalRate: Infinity },
  ];
  for (const bad of bads) {
    let threw = false;
    try {
      createAdmission(bad);
    } catch (error) {
      threw = error instanceof RangeError;
    }
    assert(threw, JSON.stringify(bad));
  }
});

const OK: HttpResponse = {
  status: 200,
  headers: [["Connection", "close"], ["Content-Type", "application/json"]],
  body: new TextEncoder().encode("{}"),
};

async function serverWith(
  budgets: { rate: number; burst: number; globalRate: number; now?: () => number },
  options: Partial<ListenOptions> = {},
) {
  const admission = createAdmission(budgets);
  const server = await startServer({
    target: { kind: "tcp", host: "127.0.0.1", port: 0 },
    handler: () => Promise.resolve(OK),
    idleExitMs: 0,
    admission,
    ...options,
  });
  return Object.assign(server, { admission });
}

const TOO_MANY = '{\n    "status": 429,\n    "error": "TOO_MANY_REQUESTS"\n}';

Deno.test("sockets: one source over budget is shed while a second source is served", async () => {
  // The buckets run on a fake clock: no token refills while the test runs, however slow the
  // machine; time passes only when the test advances it.
  const time = clock();
  const server = await serverWith({ rate: 1, burst: 3, globalRate: 0, now: time.now }, {
    limits: { shedHoldMs: 2000 },
  });
  try {
    const port = server.port!;
    let floodDone = false;
    const flood = Promise.all(
      Array.from({ length: 10 }, () => rawRequest(port, get("/"), { timeoutMs: 10_000 })),
    ).finally(() => (floodDone = true));
    await waitFor(
      "the flood's 7 connections over budget to be shed",
      () => server.shedCounts().source === 7,
    );
    const other = await rawRequest(port, get("/"), { localAddress: "127.0.0.2" });
    assertEquals(other.status, 200);
    assertEquals(floodDone, false, "the second source was served while the flood was held");
    const first = await flood;
    assertEquals(first.filter((r) => r.status === 200).length, 3);
    const shed = first.filter((r) => r.status !== 200);
    assertEquals(shed.length, 7);
    for (const reply of shed) {
      assertEquals(reply.status, 429);
      assert(reply.headers.includes("Retry-After: 1"), reply.text);
      assertEquals(reply.body, TOO_MANY);
      assertEquals(reply.end, "closed");
      assert(reply.ms >= 1950, `answered after ${reply.ms} ms (held 2000)`);
    }
    assertEquals(server.shedCounts(), { source: 7, global: 0, connections: 0, slow: 0 });
    // the budget refills: 1/s
    assertEquals((await rawRequest(port, get("/"))).status, 429, "still empty");
    time.advance(1000);
    assertEquals((await rawRequest(port, get("/"))).status, 200);
  } finally {
    await server.stop();
  }
});

Deno.test("sockets: the global bound holds with 40 sources", async () => {
  const server = await serverWith({ rate: 5, burst: 20, globalRate: 10, now: clock().now }, {
    limits: { shedHoldMs: 100 },
  });
  try {
    const port = server.port!;
    const replies = await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) => rawRequest(port, get("/"), { localAddress: `127.0.1.${i + 1}`, timeoutMs: 3000 }),
      ),
    );
    const ok = replies.filter((r) => r.status === 200).length;
    // global burst = max(global rate, per-source burst) = 20; the fake clock refills nothing.
    // Each of the 40 is a light newcomer: it may drain the bucket only down to the lower half of
    // the reserve, which is kept for sources served before the pressure began.
    const globalBurst = 20;
    const reserve = Math.max(1, Math.floor(globalBurst * GLOBAL_RESERVE_SHARE));
    assertEquals(ok, globalBurst - Math.floor(reserve / 2));
    assertEquals(replies.filter((r) => r.status === 429).length, 40 - ok);
    assertEquals(server.shedCounts().global, 40 - ok);
  } finally {
    await server.stop();
  }
});

Deno.test("sockets: past maxHeld, and in close mode, shed connections get no bytes", async () => {
  const server = await serverWith({ rate: 1, burst: 1, globalRate: 0, now: clock().now }, {
    limits: { shedHoldMs: 600, maxHeld: 2 },
  });
  const closing = await serverWith({ rate: 1, burst: 1, globalRate: 0, now: clock().now }, {
    limits: { shedHoldMs: 200 },
    shedMode: "close",
  });
  try {
    assertEquals((await rawRequest(server.port!, get("/"))).status, 200);
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => rawRequest(server.port!, get("/"), { timeoutMs: 3000 })),
    );
    const held = replies.filter((r) => r.status === 429);
    const cut = replies.filter((r) => r.status === null);
    assertEquals([held.length, cut.length], [2, 3]);
    for (const r of held) assert(r.ms >= 550, `${r.ms} ms`);
    // cut at once, not held: every cut connection ended before any held one was answered
    const cutLast = Math.max(...cut.map((r) => r.ms));
    assert(cutLast < Math.min(...held.map((r) => r.ms)), `cut after ${cutLast} ms`);

    assertEquals((await rawRequest(closing.port!, get("/"))).status, 200);
    const closed = await rawRequest(closing.port!, get("/"), { timeoutMs: 3000 });
    assertEquals(closed.text, "");
    assert(closed.ms >= 180, `${closed.ms} ms`);
  } finally {
    await server.stop();
    await closing.stop();
  }
});

Deno.test("sockets: no leak after 10k shed attempts", async () => {
  // server-side sockets of this port still open (ESTABLISHED 01 or CLOSE_WAIT 08) in
  // /proc/net/tcp: a leaked connection shows up there whatever other tests do meanwhile
  const openOnPort = (port: number): number =>
    Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1).filter((line) => {
      const [, local = "", , state = ""] = line.trim().split(/\s+/);
      return parseInt(local.split(":")[1] ?? "", 16) === port && (state === "01" || state === "08");
    }).length;
  const server = await serverWith({ rate: 1, burst: 1, globalRate: 0, now: clock().now }, {
    limits: { shedHoldMs: 0 },
    shedMode: "close",
  });
  try {
    const port = server.port!;
    assertEquals((await rawRequest(port, get("/"))).status, 200);
    let statuses = 0;
    for (let batch = 0; batch < 200; batch++) {
      const replies = await Promise.all(
        Array.from({ length: 50 }, () => rawRequest(port, get("/"), { timeoutMs: 3000 })),
      );
      statuses += replies.filter((r) => r.status !== null).length;
    }
    // the fake clock refills nothing: every attempt after the first is shed, without a byte
    assertEquals(statuses, 0, `${statuses} of 10k were answered`);
    assertEquals(server.shedCounts().source, 10_000, JSON.stringify(server.shedCounts()));
    await waitFor("the server to hold no connection", () => server.openConnections() === 0);
    await waitFor("no server-side socket left open", () => openOnPort(port) === 0);
    assertEquals(server.admission.sources(), 1);
  } finally {
    await server.stop();
  }
});
