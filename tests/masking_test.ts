/**
 * Issue 12, trust: the one masking rule (`src/lib/secrets.ts`) on every credential shape, the
 * snapshot file masked as it is written, and an open API kept on loopback unless told otherwise.
 * The leak sweep over every route and output is in secrets_test.ts.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { bindFor } from "../src/cli/serve.ts";
import { maskSecrets, urlPasswords } from "../src/lib/secrets.ts";
import { validateConfig } from "../src/rigforge/config.ts";
import { serializeSnapshot, writeSnapshotAtomic } from "../src/snapshot.ts";
import { startServe } from "./_serve.ts";
import { fixtureSnapshot } from "./_snapshot.ts";
import { waitFor } from "./_wait.ts";

// ---- the one masking rule ----

Deno.test("maskSecrets: every credential shape becomes the sentinel, whole; the rest stays", () => {
  const S = { __secret__: true };
  const input = {
    pools: [
      { url: "stratum+tcp://w1:hunter2@pool.lan:3333", user: "w1", pass: "p" },
      { url: "stratum+ssl://w2@pool.lan:443", user: "w2", pass: "", "tls-fingerprint": null },
      { url: "w3:pa/ss@pool.lan:3333", user: "w3" },
    ],
    deep: [[{ a: { b: { Password: 12345, apiKey: "k", privateKey: { pem: "x" } } } }]],
    access_tokens: { grafana: "t" },
    "access-token": ["t1", "t2"],
    client_secret: { nested: "s" },
    token_set: true,
    named_tokens: 2,
    tokens: ["t3"],
    already: { pass: { __secret__: true } },
    text: "connected to stratum+tcp://w:pw@pool:1 ok",
    comment: "the-master-token",
    user: "the-master-token",
  };
  const out = maskSecrets(input, ["the-master-token"]);
  assertEquals(out, {
    pools: [
      { url: S, user: "w1", pass: S },
      { url: "stratum+ssl://w2@pool.lan:443", user: "w2", pass: "", "tls-fingerprint": null },
      { url: S, user: "w3" },
    ],
    deep: [[{ a: { b: { Password: S, apiKey: S, privateKey: S } } }]],
    access_tokens: S,
    "access-token": S,
    client_secret: S,
    token_set: true,
    named_tokens: 2,
    tokens: S,
    already: { pass: S },
    text: S,
    comment: S,
    user: "the-master-token",
  });
  // hostile nesting is withheld, not walked without end
  let nested: unknown = "leaf";
  for (let i = 0; i < 200; i++) nested = { n: nested };
  assert(JSON.stringify(maskSecrets(nested)).includes("__secret__"));
  assert(!JSON.stringify(maskSecrets(nested)).includes("leaf"));
});

Deno.test("maskSecrets: compound key names, userinfo in free text, a token inside a string or equal to a number", () => {
  const S = { __secret__: true };
  const out = maskSecrets({
    pools: [{
      url: "stratum+tcp://pool.rig-3333.example:3333",
      user: "w1",
      rpcpassword: "pw-ATK-1",
      accesstoken: "pw-ATK-2",
      apitoken: "pw-ATK-3",
      privkey: "pw-ATK-4",
      authorization: "Bearer pw-ATK-5",
      cookie: "sid=pw-ATK-6",
      note: "connect with w1:pw-ATK-7@pool.lan:3333 please",
      path: "w1:pw-ATK-8@pool.lan/sub",
      "rig-id": 987654,
      label: "rig 987654 east",
    }],
    named_tokens: 2,
    passwords_seen: 3,
    comment: "the time is 12:30, mail me@host",
  }, ["987654"]);
  assertEquals(out, {
    pools: [{
      url: "stratum+tcp://pool.rig-3333.example:3333",
      user: "w1",
      rpcpassword: S,
      accesstoken: S,
      apitoken: S,
      privkey: S,
      authorization: S,
      cookie: S,
      note: S,
      path: S,
      "rig-id": S,
      label: S,
    }],
    named_tokens: 2,
    passwords_seen: 3,
    comment: "the time is 12:30, mail me@host",
  });
  // a token that is part of a pool URL: the URL is withheld, the user (Pithead's name mode) not
  const part = maskSecrets({ url: "stratum+tcp://tok-in-url.example:3333", user: "tok-in-url" }, [
    "tok-in-url",
  ]);
  assertEquals(part, { url: S, user: "tok-in-url" });
});

Deno.test("the userinfo checks stay linear: a 1 MiB hostile string is judged at once, not in minutes", async () => {
  // quadratic backtracking would take tens of minutes on these; linear, milliseconds. A child
  // process so a hang is seen (and killed) instead of stalling the test runner.
  const code = `
    import { hasUrlPassword, maskSecrets, urlPasswords } from ${
    JSON.stringify(new URL("../src/lib/secrets.ts", import.meta.url).href)
  };
    const n = 1 << 20;
    for (const s of ["a".repeat(n), "a://".repeat(n / 4), "a://b:".repeat(n / 6), "a".repeat(n) + ":"]) {
      if (hasUrlPassword(s) || urlPasswords(s).length > 0) throw new Error("no password here");
      maskSecrets({ s });
    }
    if (!hasUrlPassword("a".repeat(n) + " u:p@h")) throw new Error("missed");
    console.log("done");
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let status: Deno.CommandStatus | null = null;
  child.status.then((s) => status = s);
  try {
    await waitFor("the masking child finished", () => status, { limitMs: 60_000 });
  } finally {
    if (status === null) child.kill("SIGKILL");
  }
  const output = await child.output();
  const out = new TextDecoder().decode(output.stdout);
  assertEquals([status!.code, out.trim()], [0, "done"], new TextDecoder().decode(output.stderr));
  assertEquals(urlPasswords("stratum+tcp://u:p@ss@h:1 and w:pw2@pool:3333"), ["p@ss", "pw2"]);
  assertEquals(urlPasswords("stratum+ssl://w2@pool.lan:443 http://h/x?a=b:c@d"), ["c"]);
});

Deno.test("the snapshot file is masked as it is written (a nested password never reaches it)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rf-snapmask-" });
  try {
    const snapshot = await fixtureSnapshot("zen4");
    // a record as a faulty probe might make it (a shape no probe should ever produce)
    Reflect.set(snapshot.records, "config_view", {
      config: {
        pools: [{ url: "stratum+tcp://u:pw-SNAPLEAK@h:1", extra: [{ password: "pw-SNAPLEAK-2" }] }],
      },
    });
    const file = join(dir, "snapshot.json");
    await writeSnapshotAtomic(file, snapshot);
    const text = await Deno.readTextFile(file);
    assert(!text.includes("SNAPLEAK"), "a credential was written to the snapshot");
    assert(text.includes('"__secret__":true'));
    assert(!serializeSnapshot(snapshot, true).includes("SNAPLEAK"), "probe --print");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- an open API stays on loopback unless told otherwise (item 9) ----

Deno.test("standalone serve with no token binds 127.0.0.1 and says how to open it", async () => {
  // the README's first command: no RigForge config, no --bind
  const serve = await startServe({ omitBind: true });
  try {
    const line = serve.stderr();
    assertMatch(line, /listening on 127\.0\.0\.1:\d+ \(standalone\), token: open/);
    assertMatch(line, /loopback only: set ACCESS_TOKEN, or pass --bind 0\.0\.0\.0/);
  } finally {
    await serve.stop();
  }
  const tokenConfig = { apiBind: "0.0.0.0", apiBindSet: false };
  assertEquals(bindFor(null, null, true), "127.0.0.1", "no config, no token");
  assertEquals(bindFor(null, tokenConfig, true), "127.0.0.1", "config without token or bind");
  assertEquals(bindFor(null, tokenConfig, false), "0.0.0.0", "a token: the LAN, as before");
  assertEquals(bindFor("0.0.0.0", null, true), "0.0.0.0", "--bind wins");
  assertEquals(bindFor(null, { apiBind: "::", apiBindSet: true }, true), "::", "api_bind wins");
  assertEquals(validateConfig({}, "c.json").apiBindSet, false);
  assertEquals(validateConfig({ api_bind: "0.0.0.0" }, "c.json").apiBindSet, true);
});
