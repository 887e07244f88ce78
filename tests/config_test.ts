import {
  deepEqual as assertEquals,
  match as assertMatch,
  throws as assertThrows,
} from "node:assert/strict";
import { ConfigError, parseConfigText, validateConfig } from "../src/rigforge/config.ts";
import { workerRootOf } from "../src/rigforge/locate.ts";

const PATH = "/opt/rigforge/config.json";
const valid = (raw: Record<string, unknown>) => validateConfig(raw, PATH);
const refuses = (raw: Record<string, unknown>, pattern: RegExp) =>
  assertThrows(
    () => valid(raw),
    (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
  );

Deno.test("parseConfigText accepts comments and trailing commas", () => {
  const raw = parseConfigText('{\n // rig\n "api_port": 8081, /* x */ "pools": [],\n}', PATH);
  assertEquals(raw, { api_port: 8081, pools: [] });
});

Deno.test("parseConfigText names the file, line and column of a syntax error", () => {
  assertThrows(
    () => parseConfigText('{\n  "a": 1\n  "b": 2\n}', PATH),
    (e: unknown) =>
      e instanceof ConfigError && /config\.json: invalid JSON at line 3, column 3/.test(e.message),
  );
  assertThrows(() => parseConfigText("[1, 2]", PATH), /top level must be a JSON object/);
  assertThrows(() => parseConfigText("", PATH), /invalid JSON/);
});

Deno.test("defaults of an empty config", () => {
  const c = valid({});
  assertEquals(c.accessToken, null);
  assertEquals(c.apiPort, 8081);
  assertEquals(c.apiBind, "0.0.0.0");
  assertEquals(c.apiAllowFrom, []);
  assertEquals(c.autotune, "disabled");
  assertEquals(c.watchdog, "disabled");
  assertEquals(c.watchdogIntervalMin, 5);
  assertEquals(c.donation, 1);
  assertEquals(c.maxTempC, null);
  assertEquals(c.api, null);
});

Deno.test("ACCESS_TOKEN: string or null; any other type refuses (never fails open)", () => {
  assertEquals(valid({ ACCESS_TOKEN: "rig-01" }).accessToken, "rig-01");
  assertEquals(valid({ ACCESS_TOKEN: " rig-01 " }).accessToken, "rig-01");
  assertEquals(valid({ ACCESS_TOKEN: "" }).accessToken, null);
  assertEquals(valid({ ACCESS_TOKEN: null }).accessToken, null);
  for (const bad of [0, 123, false, true, [], {}]) {
    refuses({ ACCESS_TOKEN: bad }, /ACCESS_TOKEN must be a string or null/);
  }
  refuses({ ACCESS_TOKEN: "has space" }, /ACCESS_TOKEN may hold only/);
});

Deno.test("config errors never echo the token value", () => {
  const secret = "tok-LEAK\nCHECK";
  try {
    valid({ ACCESS_TOKEN: secret });
  } catch (e) {
    assertEquals(String(e).includes("LEAK"), false);
    return;
  }
  throw new Error("expected a ConfigError");
});

Deno.test("ACCESS_TOKENS: named tokens", () => {
  assertEquals(valid({ ACCESS_TOKENS: { pithead: "abc", ops: "" } }).accessTokens, {
    pithead: "abc",
  });
  refuses({ ACCESS_TOKENS: ["abc"] }, /ACCESS_TOKENS must be an object/);
  refuses({ ACCESS_TOKENS: { "bad name": "abc" } }, /names may hold only/);
  refuses({ ACCESS_TOKENS: { ok: 5 } }, /ACCESS_TOKENS\.ok must be a string/);
});

Deno.test("api keys: switch, port, bind, allow-from", () => {
  assertEquals(valid({ api: "on" }).api, "enabled");
  assertEquals(valid({ api: "off" }).api, "disabled");
  refuses({ api: "enabeld" }, /api must be "enabled" or "disabled"/);
  assertEquals(valid({ api_port: "9000" }).apiPort, 9000);
  refuses({ api_port: 8080 }, /not be 8080/);
  refuses({ api_port: 70000 }, /api_port must be a whole number 1-65535/);
  refuses({ api_port: "abc" }, /api_port/);
  assertEquals(valid({ api_bind: "::" }).apiBind, "::");
  refuses({ api_bind: "not an ip!" }, /api_bind/);
  refuses({ api_bind: "rig.lan" }, /api_bind/);
  assertEquals(
    valid({ api_allow_from: "192.168.1.10, fd00::/64" }).apiAllowFrom.map((c) => c.address),
    ["192.168.1.10", "fd00::"],
  );
  refuses({ api_allow_from: "192.168.1.0/33" }, /api_allow_from/);
  refuses({ api_allow_from: "1.2.3.4; nft flush ruleset" }, /api_allow_from/);
});

Deno.test("writable keys are canonicalised", () => {
  assertEquals(valid({ autotune: "perf" }).autotune, "performance");
  assertEquals(valid({ autotune: true }).autotune, "performance");
  assertEquals(valid({ autotune: "efficiency" }).autotune, "efficiency");
  refuses({ autotune: "fast" }, /autotune/);
  assertEquals(valid({ watchdog: "on" }).watchdog, "enabled");
  assertEquals(valid({ max_temp_c: "" }).maxTempC, null);
  assertEquals(valid({ max_temp_c: 90 }).maxTempC, 90);
  refuses({ max_temp_c: 120 }, /max_temp_c/);
  refuses({ DONATION: 101 }, /DONATION/);
  refuses({ pools: {} }, /pools must be an array/);
  refuses({ pools: ["x"] }, /pools\[0\] must be an object/);
});

Deno.test("unknown keys are listed, comment keys are not", () => {
  assertEquals(valid({ _docs: "x", api_prot: 1, pools: [] }).unknownKeys, ["api_prot"]);
});

Deno.test("worker root follows RigForge's HOME_DIR rules", () => {
  assertEquals(workerRootOf("/opt/rigforge", null, PATH), "/opt/rigforge/data/worker");
  assertEquals(workerRootOf("/opt/rigforge", "DYNAMIC_HOME", PATH), "/opt/rigforge/data/worker");
  assertEquals(workerRootOf("/opt/rigforge", "/srv/mining/", PATH), "/srv/mining/worker");
  for (const bad of ["/", "/etc", "/home", "/usr/", "/var", "/tmp"]) {
    assertThrows(() => workerRootOf("/opt/rigforge", bad, PATH), /system directory/);
  }
  for (const bad of ["relative/path", "/srv/../etc", "/srv/with space", "/srv/$(x)"]) {
    assertThrows(() => workerRootOf("/opt/rigforge", bad, PATH), /HOME_DIR must be/);
  }
  assertMatch(PATH, /config/);
});

Deno.test("a hostile, deeply nested config is a ConfigError, not a crash", () => {
  const deep = '{"a":' + "[".repeat(200_000) + "]".repeat(200_000) + "}";
  assertThrows(() => parseConfigText(deep, PATH), (e: unknown) => e instanceof ConfigError);
});
