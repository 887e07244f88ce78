/**
 * The command-line contract, through the real program with the compile task's flags: help on
 * stdout with exit 0, usage errors as one line on stderr plus a hint with exit 2, `--version`.
 */
import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { COMMANDS } from "../src/cli.ts";
import { VERSION } from "../src/version.ts";
import { runCli } from "./_cli.ts";

Deno.test("--version names rigforge-api, its source commit, Deno and V8", async () => {
  const r = await runCli(["--version"]);
  assertEquals(r.code, 0);
  assertMatch(r.stdout, new RegExp(`^rigforge-api ${VERSION.replaceAll(".", "\\.")}\\n`));
  // Run from source (deno run), no build's commit applies: it says so rather than guess.
  assertMatch(r.stdout, /^source unknown \(running from source, not a compiled build\)$/m);
  assertMatch(r.stdout, /^deno \d+\.\d+\.\d+$/m);
  assertMatch(r.stdout, /^v8 \d+/m);
  assertEquals(r.stderr, "");
});

Deno.test("--help lists every command on stdout, exit 0; no arguments is a usage error", async () => {
  const help = await runCli(["--help"]);
  assertEquals(help.code, 0);
  for (const command of COMMANDS) assertMatch(help.stdout, new RegExp(`^  ${command.name} `, "m"));
  const none = await runCli([]);
  assertEquals(none.code, 2);
  assertEquals(none.stdout, "");
  assertMatch(none.stderr, /USAGE:/);
});

Deno.test("every command has hand-written help: purpose, USAGE, OPTIONS, EXAMPLES", async () => {
  for (const entry of COMMANDS) {
    for (const flag of ["--help", "-h"]) {
      const r = await runCli([entry.name, flag]);
      assertEquals(r.code, 0, `${entry.name} ${flag}`);
      assertEquals(r.stderr, "", `${entry.name} ${flag}`);
      assertMatch(r.stdout, /^USAGE:$/m, entry.name);
      assertMatch(r.stdout, /^OPTIONS:$/m, entry.name);
      assertMatch(r.stdout, /^EXAMPLES:$/m, entry.name);
      assert(r.stdout.includes(`rigforge-api ${entry.name}`), entry.name);
    }
  }
});

Deno.test("unknown command or flag: one line on stderr, a usage hint, exit 2", async () => {
  const command = await runCli(["frobnicate"]);
  assertEquals(command.code, 2);
  assertEquals(command.stdout, "");
  assertEquals(
    command.stderr,
    "rigforge-api: unknown command frobnicate\nRun 'rigforge-api --help' for usage.\n",
  );
  const flag = await runCli(["doctor", "--frobnicate"]);
  assertEquals(flag.code, 2);
  assertEquals(
    flag.stderr,
    "rigforge-api doctor: unknown flag --frobnicate\n" +
      "Run 'rigforge-api doctor --help' for usage.\n",
  );
  const stray = await runCli(["tune-history", "extra"]);
  assertEquals(stray.code, 2);
  assertMatch(stray.stderr, /^rigforge-api tune-history: unexpected argument "extra"\n/);
  const value = await runCli(["serve", "--port"]);
  assertEquals(value.code, 2);
  assertMatch(value.stderr, /^rigforge-api serve: --port needs a value\n/);
  const range = await runCli(["serve", "--port", "70000"]);
  assertEquals(range.code, 2);
  assertMatch(range.stderr, /--port/);
});

Deno.test("an unparseable config: the file and position on stderr, exit 1, no secret", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/config.json`,
      '{\n  "ACCESS_TOKEN": "tok-LEAKCHECK-cli"\n  "api": "enabled"\n}\n',
    );
    const r = await runCli(["doctor", "--rigforge-home", dir]);
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /config\.json: invalid JSON at line 3, column 3/);
    assert(!r.stderr.includes("LEAKCHECK") && !r.stdout.includes("LEAKCHECK"));
    await Deno.writeTextFile(`${dir}/config.json`, '{"ACCESS_TOKEN": 0}');
    const typed = await runCli(["serve", "--rigforge-home", dir, "--port", "0"]);
    assertEquals(typed.code, 1);
    assertMatch(typed.stderr, /ACCESS_TOKEN must be a string or null/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
