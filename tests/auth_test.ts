import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createHmac } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildAuth, checkAuth, deriveReadBearer } from "../src/http/auth.ts";
import { validateConfig } from "../src/rigforge/config.ts";

const XMRIG = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "xmrig");

function config(raw: Record<string, unknown>) {
  return validateConfig(raw, "/test/config.json");
}

/** Status of a captured XMRig response (`HTTP/1.1 403 FORBIDDEN` → 403). */
function capturedStatus(file: string): number {
  const line = Deno.readTextFileSync(join(XMRIG, file)).split("\r\n")[0] ?? "";
  return Number(line.split(" ")[1]);
}

const STATUS = { ok: 200, missing: 401, wrong: 403 } as const;

// What each auth-*.http capture sent as Authorization values (run A, token `rig-01`): header
// names are case-insensitive on the wire and arrive lower-cased; a leading space after the
// colon is stripped by the parser, the value is passed as the parser delivered it.
const VARIANTS: [file: string, values: string[] | undefined][] = [
  ["auth-bearer-ok.http", ["Bearer rig-01"]],
  ["auth-header-name-lowercase.http", ["Bearer rig-01"]],
  ["auth-header-name-uppercase.http", ["Bearer rig-01"]],
  ["auth-no-space-after-colon.http", ["Bearer rig-01"]],
  ["auth-extra-space-after-colon.http", ["   Bearer rig-01"]],
  ["auth-scheme-lowercase.http", ["bearer rig-01"]],
  ["auth-scheme-uppercase.http", ["BEARER rig-01"]],
  ["auth-token-uppercase.http", ["Bearer RIG-01"]],
  ["auth-token-only-no-scheme.http", ["rig-01"]],
  ["auth-basic-scheme.http", ["Basic cmlnLTAxOg=="]],
  ["auth-scheme-two-spaces.http", ["Bearer  rig-01"]],
  ["auth-scheme-tab.http", ["Bearer\trig-01"]],
  ["auth-trailing-space.http", ["Bearer rig-01 "]],
  ["auth-token-prefix-only.http", ["Bearer rig-0"]],
  ["auth-token-with-suffix.http", ["Bearer rig-01x"]],
  ["auth-bearer-empty-token.http", ["Bearer "]],
  ["auth-empty-header.http", [""]],
  ["auth-dup-wrong-then-right.http", ["Bearer wrong-token", "Bearer rig-01"]],
  ["auth-dup-right-then-wrong.http", ["Bearer rig-01", "Bearer wrong-token"]],
  ["auth-query-param.http", undefined],
];

Deno.test("checkAuth answers every captured XMRig auth variant with XMRig's status", async () => {
  const auth = await buildAuth(config({ ACCESS_TOKEN: "rig-01" }));
  const captures = [...Deno.readDirSync(XMRIG)].map((e) => e.name).filter((n) =>
    n.startsWith("auth-")
  );
  assertEquals(captures.sort(), VARIANTS.map(([file]) => file).sort(), "a capture is untested");
  for (const [file, values] of VARIANTS) {
    assertEquals(STATUS[checkAuth(auth, values)], capturedStatus(file), file);
  }
  assertEquals(checkAuth(auth, []), "missing");
});

Deno.test("derived read bearer matches an independent HMAC-SHA256 and is accepted", async () => {
  const token = "A".repeat(20) + "b.c_d:e@f+g-h0123";
  assert(token.length >= 32);
  const expected = createHmac("sha256", token).update("rigforge:api-read:v1").digest("hex");
  assertEquals(await deriveReadBearer(token), expected);
  const auth = await buildAuth(config({ ACCESS_TOKEN: token }));
  assertEquals(auth.accepted, 2);
  assertEquals(checkAuth(auth, [`Bearer ${expected}`]), "ok");
  assertEquals(checkAuth(auth, [`Bearer ${token}`]), "ok");
  assertEquals(checkAuth(auth, [`Bearer ${expected.toUpperCase()}`]), "wrong");
  assertEquals(checkAuth(auth, [expected]), "wrong");
});

Deno.test("tokens shorter than 32 characters get no derived bearer", async () => {
  const token = "x".repeat(31);
  const derived = createHmac("sha256", token).update("rigforge:api-read:v1").digest("hex");
  const auth = await buildAuth(config({ ACCESS_TOKEN: token }));
  assertEquals(auth.accepted, 1);
  assertEquals(checkAuth(auth, [`Bearer ${derived}`]), "wrong");
  assertEquals(checkAuth(auth, [`Bearer ${token}`]), "ok");
});

Deno.test("ACCESS_TOKENS values and their derived bearers are accepted", async () => {
  const long = "n".repeat(40);
  const auth = await buildAuth(config({
    ACCESS_TOKEN: "master-token",
    ACCESS_TOKENS: { pithead: long, laptop: "short-one" },
  }));
  const derived = createHmac("sha256", long).update("rigforge:api-read:v1").digest("hex");
  for (const ok of ["master-token", long, "short-one", derived]) {
    assertEquals(checkAuth(auth, [`Bearer ${ok}`]), "ok", ok);
  }
  assertEquals(checkAuth(auth, ["Bearer pithead"]), "wrong", "a token's name is not a token");
  assertEquals(auth.accepted, 4);
});

Deno.test("named tokens alone still close the API (never fail open)", async () => {
  const auth = await buildAuth(config({ ACCESS_TOKENS: { pithead: "only-named" } }));
  assert(!auth.open);
  assertEquals(checkAuth(auth, undefined), "missing");
  assertEquals(checkAuth(auth, ["Bearer only-named"]), "ok");
});

Deno.test("no token configured: open, any header ignored", async () => {
  for (
    const cfg of [null, config({}), config({ ACCESS_TOKEN: "" }), config({ ACCESS_TOKEN: null })]
  ) {
    const auth = await buildAuth(cfg);
    assert(auth.open);
    assertEquals(checkAuth(auth, undefined), "ok");
    assertEquals(checkAuth(auth, ["Bearer anything"]), "ok");
  }
});

Deno.test("the Auth record shows no secret when inspected or serialized", async () => {
  const token = "s3cret-token-value-that-is-long-enough";
  const derived = await deriveReadBearer(token);
  const auth = await buildAuth(
    config({ ACCESS_TOKEN: token, ACCESS_TOKENS: { a: "named-secret" } }),
  );
  for (const text of [Deno.inspect(auth, { depth: 10, showHidden: true }), JSON.stringify(auth)]) {
    for (const secret of [token, derived, "named-secret"]) assert(!text.includes(secret), text);
  }
});

Deno.test("an Auth not built by buildAuth accepts nothing", () => {
  const forged = { open: false, accepted: 1 };
  assertEquals(checkAuth(forged, ["Bearer x"]), "wrong");
});
