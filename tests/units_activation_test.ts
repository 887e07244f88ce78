/**
 * Socket activation end to end: the `ExecStart=` command line of the rendered
 * `rigforge-api.service` (parsed out of the unit text the way systemd splits it, not typed
 * again here) runs under `systemd-socket-activate`, which hands it a listening socket on fd 3
 * as systemd does for `Accept=no`. The environment is the service's: `LISTEN_FDS`/`LISTEN_PID`
 * and `CREDENTIALS_DIRECTORY` holding the config credential. `--binary` is a small wrapper that
 * runs `deno run` with the compile task's flags (as the compiled binary would run).
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { parseAllowList } from "../src/ip.ts";
import { renderUnits, type UnitOptions } from "../src/units.ts";
import { COMPILE_FLAGS, REPO_ROOT } from "./_cli.ts";
import { requireSocketActivate } from "./_serve.ts";
import { waitFor } from "./_wait.ts";

const TOKEN = "tok-ACTIVATION-0123456789abcdef0123";

/**
 * Splits an `ExecStart=` value the way systemd does for the subset the renderer may produce:
 * words separated by spaces, double-quoted words, `%%` for a literal `%`. Anything else that
 * systemd would interpret (`$`, backslashes, single quotes, other specifiers, a prefix such as
 * `-` or `+`) fails the test instead of being guessed at.
 *
 * @param value the text after `ExecStart=`
 * @returns argv
 */
function splitExecStart(value: string): string[] {
  if (/[$\\']/.test(value) || /^[-@+!:]/.test(value)) {
    throw new Error(`ExecStart holds syntax this test does not model: ${value}`);
  }
  const words: string[] = [];
  for (const match of value.matchAll(/"([^"]*)"|(\S+)/g)) {
    const raw = match[1] ?? match[2] ?? "";
    if (/%[^%]/.test(raw.replaceAll("%%", ""))) throw new Error(`unexpected specifier in ${raw}`);
    words.push(raw.replaceAll("%%", "%"));
  }
  return words;
}

Deno.test("splitExecStart() unquotes and unescapes like systemd", () => {
  assertEquals(splitExecStart(`"/opt/a b/x%%" serve --n 5`), ["/opt/a b/x%", "serve", "--n", "5"]);
  let threw = false;
  try {
    splitExecStart("/bin/x $HOME");
  } catch {
    threw = true;
  }
  assert(threw, "$ is refused");
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Reads the stream until `pattern` shows up, then keeps draining it into `log` so the child
 * never blocks on a full pipe.
 *
 * @returns the drain's promise (settles when the stream ends)
 */
async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
  log: string[],
): Promise<{ drain: Promise<void> }> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  let buffered = "";
  while (!pattern.test(buffered)) {
    const { value, done } = await reader.read();
    if (done) {
      log.push(buffered);
      throw new Error(`the stream ended before ${pattern}: ${buffered}`);
    }
    buffered += decoder.decode(value, { stream: true });
  }
  log.push(buffered);
  const drain = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      log.push(decoder.decode(value, { stream: true }));
    }
  })();
  return { drain };
}

Deno.test({
  name:
    "the rendered ExecStart= serves /2/summary under systemd-socket-activate, then idle-exits 0",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    requireSocketActivate();
    const dir = await Deno.makeTempDir({ prefix: "rf-activate-" });
    let child: Deno.ChildProcess | null = null;
    let drain: Promise<void> = Promise.resolve();
    const stderrLog: string[] = [];
    try {
      await Deno.chmod(dir, 0o755);
      // The "binary": what a compiled rigforge-api does, via deno run with the compile flags.
      const binary = join(dir, "rigforge-api");
      const denoDir = Deno.env.get("DENO_DIR");
      await Deno.writeTextFile(
        binary,
        [
          "#!/bin/sh",
          ...(denoDir ? [`export DENO_DIR='${denoDir}'`] : []),
          "export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1",
          `exec '${Deno.execPath()}' run ${COMPILE_FLAGS.join(" ")} '${
            join(REPO_ROOT, "main.ts")
          }' "$@"`,
          "",
        ].join("\n"),
      );
      await Deno.chmod(binary, 0o755);
      // RigForge's home holds no config.json: the server must take it from the credential.
      const home = join(dir, "rigforge");
      await Deno.mkdir(home);
      const credentials = join(dir, "credentials");
      await Deno.mkdir(credentials);
      const config = {
        api: "enabled",
        ACCESS_TOKEN: TOKEN,
        pools: [{ url: "pool.lan:3333", user: "rig-act", pass: "pool-ACT-secret" }],
      };
      await Deno.writeTextFile(join(credentials, "config"), JSON.stringify(config), {
        mode: 0o400,
      });

      const port = freePort();
      const allowFrom = parseAllowList("127.0.0.1");
      if (!Array.isArray(allowFrom)) throw new Error(allowFrom.error);
      const options: UnitOptions = {
        binary,
        port,
        bind: "127.0.0.1",
        allowFrom,
        rigforgeHome: home,
        configPath: join(home, "config.json"),
        idleExit: 3,
        rate: null,
        burst: null,
        globalRate: null,
        probeInterval: 15,
      };
      const service = renderUnits(options).find((u) => u.name === "rigforge-api.service")!.text;
      const execLines = service.split("\n").filter((l) => l.startsWith("ExecStart="));
      assertEquals(execLines.length, 1);
      const argv = splitExecStart(execLines[0]!.slice("ExecStart=".length));
      assertEquals(argv[0], binary);
      assertEquals(argv[1], "serve");

      child = new Deno.Command("systemd-socket-activate", {
        args: [
          "-l",
          `127.0.0.1:${port}`,
          "-E",
          `CREDENTIALS_DIRECTORY=${credentials}`,
          ...argv,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      ({ drain } = await waitForLine(
        child.stderr,
        /Listening on 127\.0\.0\.1:\d+ as 3/,
        stderrLog,
      ));

      // The first connection starts the server (a cold `deno run`); it waits in the backlog.
      const url = `http://127.0.0.1:${port}/2/summary`;
      const unauthorised = await fetch(url, { signal: AbortSignal.timeout(30_000) }).catch(
        (error) => {
          throw new Error(`no answer (${error}); the server said:\n${stderrLog.join("")}`);
        },
      );
      await unauthorised.body?.cancel();
      assertEquals(unauthorised.status, 401, "the token came from the credential");
      const response = await fetch(url, {
        headers: { Authorization: `Bearer ${TOKEN}` },
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      assertEquals(response.status, 200, text.slice(0, 300));
      const body = JSON.parse(text);
      assert(body !== null && typeof body === "object" && !Array.isArray(body));
      assert("generated_at" in body, "generated_at is at the top level");
      assert(typeof body.rigforge === "object" && body.rigforge !== null, "a rigforge block");
      assert(!text.includes(TOKEN) && !text.includes("pool-ACT-secret"), "no secret served");

      // No request for --idle-exit seconds: the server exits 0 (a clean idle exit).
      let exit: Deno.CommandStatus | null = null;
      void child.status.then((status) => (exit = status));
      const status = await waitFor("the server to exit by itself after --idle-exit", () => exit, {
        limitMs: 20_000,
      });
      child = null;
      await drain;
      assertEquals(status.code, 0, stderrLog.join(""));
      assertMatch(stderrLog.join(""), /Execing /);
    } finally {
      if (child !== null) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
        await child.status;
      }
      await drain.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
