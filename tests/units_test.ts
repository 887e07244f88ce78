/**
 * The systemd units (`src/units.ts`) and the `install` / `uninstall` / `units` commands.
 *
 * Rendered units are checked by the host's real `systemd-analyze verify` (no warnings allowed);
 * install and uninstall run against real temporary unit directories. Only `systemctl` is
 * replaced, by a recorder, where a test needs the "systemd is running" path.
 */

import {
  deepEqual as assertEquals,
  doesNotMatch as assertNotMatch,
  match as assertMatch,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { dirname, join } from "node:path";
import { DEFAULT_SNAPSHOT_PATH } from "../src/snapshot.ts";
import { runInstall } from "../src/cli/install.ts";
import {
  type InstallEnv,
  parseSystemdVersion,
  type SystemctlResult,
} from "../src/cli/unit_install.ts";
import { runUninstall } from "../src/cli/uninstall.ts";
import { runUnits } from "../src/cli/units.ts";
import type { Io } from "../src/cli/args.ts";
import { UsageError } from "../src/cli/args.ts";
import { type Cidr, parseAllowList } from "../src/ip.ts";
import {
  execLine,
  ipScopeLines,
  listenLines,
  renderUnits,
  RUNTIME_DIR,
  UNIT_MARKER,
  UNIT_NAMES,
  type UnitOptions,
  validateUnitOptions,
} from "../src/units.ts";
import { runCli } from "./_cli.ts";

// ---------------------------------------------------------------- helpers

function cidrs(text: string): Cidr[] {
  const parsed = parseAllowList(text);
  if (!Array.isArray(parsed)) throw new Error(parsed.error);
  return parsed;
}

function baseOptions(overrides: Partial<UnitOptions> = {}): UnitOptions {
  return {
    binary: "/usr/local/bin/rigforge-api",
    port: 8081,
    bind: "0.0.0.0",
    allowFrom: [],
    rigforgeHome: "/opt/rigforge",
    configPath: "/opt/rigforge/config.json",
    idleExit: 120,
    rate: null,
    burst: null,
    globalRate: null,
    probeInterval: 15,
    ...overrides,
  };
}

function unitText(options: UnitOptions, name: string): string {
  const unit = renderUnits(options).find((u) => u.name === name);
  if (unit === undefined) throw new Error(`no ${name}`);
  return unit.text;
}

/** The value of every `Key=` line of a unit, in order. */
function values(text: string, key: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${key}=`)).map((l) =>
    l.slice(key.length + 1)
  );
}

/** A capturing Io. */
function captureIo(env: Record<string, string> = {}): Io & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    stdout(text: string) {
      io.out += text;
    },
    stderr(text: string) {
      io.err += text;
    },
    env(name: string) {
      return env[name];
    },
  };
  return io;
}

/** A temporary "rig": a world-readable binary, a RigForge home with config.json, a unit dir. */
interface Rig {
  dir: string;
  binary: string;
  home: string;
  config: string;
  unitDir: string;
  runtimeDir: string;
}

async function makeRig(config: Record<string, unknown> | null = {
  api: "enabled",
  ACCESS_TOKEN: "tok-UNITS-0123456789abcdef0123456789ab",
  api_allow_from: "192.168.1.10",
  pools: [{ url: "pool.lan:3333", user: "rig-01", pass: "pool-SECRET-pass" }],
}, binDirName = "bin"): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: "rf-units-" });
  await Deno.chmod(dir, 0o755); // the dynamic user must reach the binary
  const binDir = join(dir, binDirName);
  await Deno.mkdir(binDir, { recursive: true, mode: 0o755 });
  await Deno.chmod(binDir, 0o755);
  const binary = join(binDir, "rigforge-api");
  await Deno.writeTextFile(binary, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  await Deno.chmod(binary, 0o755);
  const home = join(dir, "rigforge");
  await Deno.mkdir(home);
  const configPath = join(home, "config.json");
  if (config !== null) {
    await Deno.writeTextFile(configPath, JSON.stringify(config), { mode: 0o600 });
  }
  const unitDir = join(dir, "units");
  await Deno.mkdir(unitDir);
  const runtimeDir = join(dir, "run-rigforge-api");
  return { dir, binary, home, config: configPath, unitDir, runtimeDir };
}

/** Every entry below dir: relative path → file content, or "-> target" for links, "/" for dirs. */
async function tree(dir: string, prefix = ""): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    const rel = prefix + entry.name;
    if (entry.isSymlink) out[rel] = `-> ${await Deno.readLink(path)}`;
    else if (entry.isDirectory) {
      out[`${rel}/`] = "/";
      Object.assign(out, await tree(path, `${rel}/`));
    } else out[rel] = await Deno.readTextFile(path);
  }
  return out;
}

/**
 * A recording stand-in for `systemctl` with just enough state for install's decisions:
 * `enable --now` makes the socket enabled and active, `stop`/`disable --now` undo that.
 */
function recordingSystemctl(version = 252) {
  const calls: string[] = [];
  const state = { active: false, enabled: false };
  const ok = (stdout = ""): SystemctlResult => ({ code: 0, stdout, stderr: "" });
  const systemctl = (args: readonly string[]): Promise<SystemctlResult> => {
    const line = args.join(" ");
    calls.push(line);
    if (line === "--version") {
      return Promise.resolve(ok(`systemd ${version} (${version}.1-1)\n+PAM\n`));
    }
    if (line === "is-active rigforge-api.socket") {
      return Promise.resolve({
        code: state.active ? 0 : 3,
        stdout: state.active ? "active\n" : "inactive\n",
        stderr: "",
      });
    }
    if (line === "is-enabled rigforge-api.socket") {
      return Promise.resolve({
        code: state.enabled ? 0 : 1,
        stdout: state.enabled ? "enabled\n" : "disabled\n",
        stderr: "",
      });
    }
    if (line === "enable --now rigforge-api.socket") {
      Object.assign(state, { active: true, enabled: true });
    }
    if (line === "disable --now rigforge-api.socket") {
      Object.assign(state, { active: false, enabled: false });
    }
    if (args[0] === "stop" && args.includes("rigforge-api.socket")) state.active = false;
    return Promise.resolve(ok());
  };
  /** Calls that change systemd's state (queries left out). */
  const changes = () => calls.filter((c) => !/^(--version|is-active|is-enabled)/.test(c));
  return { calls, changes, state, systemctl };
}

function envFor(rig: Rig, overrides: Partial<InstallEnv> = {}): InstallEnv {
  return {
    systemctl: () => Promise.reject(new Error("systemctl must not be called")),
    isRoot: true,
    os: "linux",
    systemdRunning: false,
    executable: null,
    runtimeDir: rig.runtimeDir,
    ...overrides,
  };
}

function installArgs(rig: Rig, ...extra: string[]): string[] {
  return ["--rigforge-home", rig.home, "--binary", rig.binary, "--unit-dir", rig.unitDir, ...extra];
}

/** Fails loudly when `systemd-analyze` (Debian's `systemd`, installed by `.ci/run`) is missing. */
function requireVerify(): void {
  if (!HAS_VERIFY) {
    throw new Error("systemd-analyze is missing: apt-get install systemd (see .ci/run)");
  }
}

const HAS_VERIFY = (() => {
  try {
    return new Deno.Command("systemd-analyze", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** Writes the units to a fresh directory and runs `systemd-analyze verify` on all of them. */
async function verify(
  units: { name: string; text: string }[],
): Promise<{ code: number; stderr: string }> {
  requireVerify();
  const dir = await Deno.makeTempDir({ prefix: "rf-verify-" });
  try {
    const paths: string[] = [];
    for (const unit of units) {
      const path = join(dir, unit.name);
      await Deno.writeTextFile(path, unit.text);
      paths.push(path);
    }
    const output = await new Deno.Command("systemd-analyze", {
      args: ["verify", "--man=no", "--generators=no", ...paths],
      stdout: "piped",
      stderr: "piped",
      env: { SYSTEMD_LOG_COLOR: "0", LC_ALL: "C" },
    }).output();
    return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------- rendering (pure)

Deno.test("listenLines() binds every address dual-stack for 0.0.0.0 and ::", () => {
  assertEquals(listenLines("0.0.0.0", 8081), ["ListenStream=8081", "BindIPv6Only=both"]);
  assertEquals(listenLines("::", 9000), ["ListenStream=9000", "BindIPv6Only=both"]);
  assertEquals(listenLines("0:0:0:0:0:0:0:0", 9000), ["ListenStream=9000", "BindIPv6Only=both"]);
});

Deno.test("listenLines() binds one address with FreeBind, IPv6 in brackets", () => {
  assertEquals(listenLines("192.168.1.5", 8081), ["ListenStream=192.168.1.5:8081", "FreeBind=yes"]);
  assertEquals(listenLines("FD00::5", 8081), ["ListenStream=[fd00::5]:8081", "FreeBind=yes"]);
  assertEquals(listenLines("::1", 8081), ["ListenStream=[::1]:8081", "FreeBind=yes"]);
});

Deno.test("ipScopeLines() allows loopback plus the list and denies the rest, or nothing", () => {
  assertEquals(ipScopeLines([]), []);
  const lines = ipScopeLines(cidrs("192.168.1.10, 10.0.0.0/8 fd00::/64 192.168.1.10"));
  assertEquals(lines.filter((l) => !l.startsWith("#")), [
    "IPAddressAllow=localhost 192.168.1.10 10.0.0.0/8 fd00::/64",
    "IPAddressDeny=any",
    "IPAccounting=yes",
  ]);
});

Deno.test("renderUnits() renders four marked units and scopes the socket only when asked", () => {
  const open = renderUnits(baseOptions());
  assertEquals(open.map((u) => u.name), [...UNIT_NAMES]);
  for (const unit of open) {
    assert(unit.text.startsWith(UNIT_MARKER), `${unit.name} starts with the marker`);
    assert(
      unit.text.endsWith("\n") && !unit.text.endsWith("\n\n"),
      `${unit.name} ends in one newline`,
    );
    assertNotMatch(unit.text, /\{\{|\}\}/, `${unit.name} has no placeholder left`);
  }
  const socket = unitText(baseOptions(), "rigforge-api.socket");
  assertEquals(values(socket, "IPAddressAllow"), []);
  assertEquals(values(socket, "IPAddressDeny"), []);
  assertEquals(values(socket, "Accept"), ["no"]);
  const scoped = unitText(baseOptions({ allowFrom: cidrs("192.168.1.10") }), "rigforge-api.socket");
  assertEquals(values(scoped, "IPAddressAllow"), ["localhost 192.168.1.10"]);
  assertEquals(values(scoped, "IPAddressDeny"), ["any"]);
});

Deno.test("renderUnits() ties the probe timer to the server and runs the server unprivileged", () => {
  const options = baseOptions({
    probeInterval: 20,
    idleExit: 300,
    rate: 2,
    burst: 5,
    globalRate: 40,
  });
  const timer = unitText(options, "rigforge-api-probe.timer");
  assertEquals(values(timer, "BindsTo"), ["rigforge-api.service"]);
  assertEquals(values(timer, "After"), ["rigforge-api.service"]);
  assertEquals(values(timer, "OnActiveSec"), ["0"]);
  assertEquals(values(timer, "OnUnitActiveSec"), ["20s"]);
  assertEquals(values(timer, "StartLimitIntervalSec"), ["0"]);
  assertEquals(values(timer, "AccuracySec"), ["1s"]);
  assertEquals(values(timer, "WantedBy"), [], "the timer must not run at idle");
  assertEquals(values(timer, "PartOf"), [], "PartOf= does not stop it on an idle exit");
  assertNotMatch(timer, /^\[Install\]/m);
  const service = unitText(options, "rigforge-api.service");
  assertEquals(values(service, "ExecStart"), [
    "/usr/local/bin/rigforge-api serve --idle-exit 300 --snapshot /run/rigforge-api/snapshot.json " +
    "--rate 2 --burst 5 --global-rate 40 --rigforge-home /opt/rigforge",
  ]);
  assertEquals(values(service, "Wants"), ["rigforge-api-probe.timer"]);
  assertEquals(values(service, "DynamicUser"), ["yes"]);
  assertEquals(values(service, "LoadCredential"), ["config:/opt/rigforge/config.json"]);
  assertEquals(values(service, "StartLimitIntervalSec"), ["0"]);
  assertEquals(values(service, "Restart"), ["on-failure"]);
  assertEquals(values(service, "CapabilityBoundingSet"), [""]);
  assertEquals(values(service, "ProtectHome"), ["yes"]);
  assertEquals(values(service, "MemoryDenyWriteExecute"), [], "V8's JIT needs W+X memory");
  const probe = unitText(options, "rigforge-api-probe.service");
  assertEquals(values(probe, "ExecStart"), [
    "/usr/local/bin/rigforge-api probe --interval 20 --out /run/rigforge-api/snapshot.json " +
    "--rigforge-home /opt/rigforge --config /opt/rigforge/config.json",
  ]);
  assertEquals(values(probe, "User"), [], "the probe runs as root");
  assertEquals(values(probe, "RuntimeDirectoryPreserve"), ["yes"]);
});

Deno.test("the snapshot path both commands get lies in the probe's RuntimeDirectory", () => {
  assertEquals(dirname(DEFAULT_SNAPSHOT_PATH), RUNTIME_DIR);
  const probe = unitText(baseOptions(), "rigforge-api-probe.service");
  assertEquals(values(probe, "RuntimeDirectory"), [RUNTIME_DIR.replace(/^\/run\//, "")]);
});

Deno.test("renderUnits() passes --idle-exit 0 (never exit) through", () => {
  const exec = values(unitText(baseOptions({ idleExit: 0 }), "rigforge-api.service"), "ExecStart");
  assertMatch(exec[0] ?? "", / serve --idle-exit 0 /);
});

Deno.test("units warns when the bound address family cannot reach allowed sources", async () => {
  const rig = await makeRig();
  try {
    const v4 = captureIo();
    const args = installArgs(rig, "--bind", "192.168.7.7", "--allow-from", "fd00::/64 10.0.0.1");
    assertEquals(await runUnits(args, v4, { executable: null }), 0);
    assertMatch(
      v4.err,
      /binds the IPv4 address 192\.168\.7\.7, so the allowed IPv6 source\(s\) fd00::\/64 can/,
    );
    const v6 = captureIo();
    const args6 = installArgs(rig, "--bind", "fd00::7", "--allow-from", "fd00::/64 10.0.0.1");
    assertEquals(await runUnits(args6, v6, { executable: null }), 0);
    assertMatch(v6.err, /IPv4 source\(s\) 10\.0\.0\.1 can never connect/);
    const dual = captureIo();
    const argsDual = installArgs(rig, "--bind", "::", "--allow-from", "fd00::/64 10.0.0.1");
    assertEquals(await runUnits(argsDual, dual, { executable: null }), 0);
    assertNotMatch(dual.err, /can never connect/);
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

Deno.test("renderUnits() leaves admission budgets to serve's defaults when unset", () => {
  const exec = values(unitText(baseOptions(), "rigforge-api.service"), "ExecStart")[0] ?? "";
  assertNotMatch(exec, /--rate|--burst|--global-rate/);
});

Deno.test("renderUnits() keeps a binary under /home visible with ProtectHome=read-only", () => {
  const text = unitText(
    baseOptions({ binary: "/home/miner/rigforge/rigforge-api" }),
    "rigforge-api.service",
  );
  assertEquals(values(text, "ProtectHome"), ["read-only"]);
  const byHome = unitText(baseOptions({ rigforgeHome: "/root/rigforge" }), "rigforge-api.service");
  assertEquals(values(byHome, "ProtectHome"), ["read-only"]);
  const homely = unitText(
    baseOptions({ binary: "/homework/rigforge-api" }),
    "rigforge-api.service",
  );
  assertEquals(values(homely, "ProtectHome"), ["yes"], "/homework is not /home");
});

Deno.test("execLine() quotes spaces and doubles % for systemd", () => {
  assertEquals(execLine(["/opt/a b/x", "serve", "--n", "5"]), `"/opt/a b/x" serve --n 5`);
  assertEquals(execLine(["/opt/100%/x"]), "/opt/100%%/x");
  assertEquals(execLine(["/opt/a b%/x"]), `"/opt/a b%%/x"`);
});

Deno.test("renderUnits() escapes % in the credential path", () => {
  const text = unitText(
    baseOptions({ configPath: "/opt/rig forge/100%.json" }),
    "rigforge-api.service",
  );
  assertEquals(values(text, "LoadCredential"), ["config:/opt/rig forge/100%%.json"]);
});

Deno.test("validateUnitOptions() refuses what systemd cannot express and bad values", () => {
  const cases: [Partial<UnitOptions>, RegExp][] = [
    [{ binary: "rigforge-api" }, /binary path .* must be absolute/],
    [{ binary: "/opt/x\n/rigforge-api" }, /control character/],
    [{ binary: '/opt/x"y/rigforge-api' }, /quote/],
    [{ configPath: "/opt/$HOME/config.json" }, /'\$'/],
    [{ rigforgeHome: "/opt/a\\b" }, /backslash/],
    [{ rigforgeHome: "/opt/../etc" }, /not normalised/],
    [{ rigforgeHome: "/opt/rigforge/" }, /not normalised/],
    [{ configPath: "/opt/c.json " }, /white space/],
    [{ port: 0 }, /port must be/],
    [{ port: 65536 }, /port must be/],
    [{ port: 8080 }, /8080/],
    [{ port: 80.5 }, /port must be/],
    [{ bind: "localhost" }, /bind address/],
    [{ bind: "fe80::1%eth0" }, /bind address/],
    [{ allowFrom: [{ family: 4, address: "300.1.1.1", prefix: 32 }] }, /allow-list entry/],
    [{ allowFrom: [{ family: 6, address: "fd00::", prefix: 129 }] }, /allow-list entry/],
    [{ idleExit: 1 }, /idle exit/],
    [{ idleExit: 86401 }, /idle exit/],
    [{ probeInterval: 4 }, /probe interval/],
    [{ rate: 0 }, /rate must be/],
    [{ rate: 1e-7 }, /rate must be .* at most 6 decimals/],
    [{ globalRate: Number.NaN }, /global rate must be/],
    [{ burst: 2.5 }, /burst must be a whole number/],
  ];
  for (const [override, expected] of cases) {
    const problem = validateUnitOptions(baseOptions(override));
    assert(problem !== null, `refused: ${JSON.stringify(override)}`);
    assertMatch(problem, expected);
    assertThrows(() => renderUnits(baseOptions(override)), RangeError);
  }
  assertEquals(validateUnitOptions(baseOptions()), null);
});

Deno.test("parseSystemdVersion() reads the major version", () => {
  assertEquals(parseSystemdVersion("systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT"), 252);
  assertEquals(parseSystemdVersion("garbage"), null);
});

// ---------------------------------------------------------------- systemd-analyze verify

const VERIFY_CASES: [string, (rig: Rig) => Partial<UnitOptions>][] = [
  ["defaults (every address, no scope)", () => ({})],
  [
    "IPv4 address with an allow-list",
    () => ({ bind: "192.168.1.5", allowFrom: cidrs("192.168.1.10 10.0.0.0/8") }),
  ],
  [
    "IPv6 address with a mixed allow-list",
    () => ({ bind: "fd00::5", allowFrom: cidrs("fd00::/64, 192.168.1.0/24") }),
  ],
  [
    "dual-stack :: with budgets and a long interval",
    () => ({
      bind: "::",
      rate: 0.5,
      burst: 3,
      globalRate: 25,
      probeInterval: 3600,
      idleExit: 86400,
    }),
  ],
];

for (const [label, override] of VERIFY_CASES) {
  Deno.test({
    name: `systemd-analyze verify accepts the units without a warning: ${label}`,
    fn: async () => {
      const rig = await makeRig();
      try {
        const units = renderUnits(
          baseOptions({
            binary: rig.binary,
            rigforgeHome: rig.home,
            configPath: rig.config,
            ...override(rig),
          }),
        );
        const result = await verify(units);
        assertEquals(result.stderr, "");
        assertEquals(result.code, 0);
      } finally {
        await Deno.remove(rig.dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "systemd-analyze verify resolves a quoted binary path with a space and a % sign",
  fn: async () => {
    const rig = await makeRig(undefined, "my bin 100%");
    try {
      const units = renderUnits(
        baseOptions({ binary: rig.binary, rigforgeHome: rig.home, configPath: rig.config }),
      );
      assertMatch(
        values(units[1]!.text, "ExecStart")[0] ?? "",
        /^"[^"]*my bin 100%%\/rigforge-api" serve/,
      );
      const result = await verify(units);
      assertEquals(result.stderr, "");
      // A doubled escape names a directory that does not exist ("100%%"): verify must notice.
      const broken = units.map((u) => ({ ...u, text: u.text.replaceAll("100%%", "100%%%%") }));
      assertMatch((await verify(broken)).stderr, /not executable|No such file/);
    } finally {
      await Deno.remove(rig.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "systemd-analyze verify reports an unknown key on stderr (the check can fail)",
  fn: async () => {
    const rig = await makeRig();
    try {
      const units = renderUnits(
        baseOptions({ binary: rig.binary, rigforgeHome: rig.home, configPath: rig.config }),
      );
      const bad = units.map((u) =>
        u.name === "rigforge-api.socket"
          ? { ...u, text: u.text.replace(/^Accept=no$/m, "Accept=no\nAcceptt=no") }
          : u
      );
      const result = await verify(bad);
      assertMatch(result.stderr, /Unknown key/);
    } finally {
      await Deno.remove(rig.dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------- install / uninstall (files)

Deno.test("install --unit-dir --no-start writes exactly the four units; a second run changes nothing", async () => {
  const rig = await makeRig();
  try {
    const io = captureIo();
    assertEquals(await runInstall(installArgs(rig, "--no-start"), io, envFor(rig)), 0, io.err);
    const written = await tree(rig.unitDir);
    assertEquals(Object.keys(written).sort(), [...UNIT_NAMES].sort());
    const expected = renderUnits(baseOptions({
      binary: rig.binary,
      rigforgeHome: rig.home,
      configPath: rig.config,
      allowFrom: cidrs("192.168.1.10"),
    }));
    for (const unit of expected) assertEquals(written[unit.name], unit.text, unit.name);
    for (const name of UNIT_NAMES) {
      assertEquals((await Deno.stat(join(rig.unitDir, name))).mode! & 0o777, 0o644, name);
    }
    assertEquals(io.out.match(/^new /gm)?.length, 4);
    assertMatch(io.out, /not started \(--no-start\)/);
    assertNotMatch(io.out + io.err, /tok-UNITS|pool-SECRET/, "no secret in the output");
    for (const text of Object.values(written)) assertNotMatch(text, /tok-UNITS|pool-SECRET/);

    const mtimes = await Promise.all(
      UNIT_NAMES.map(async (n) => (await Deno.stat(join(rig.unitDir, n))).mtime?.getTime()),
    );
    const again = captureIo();
    assertEquals(
      await runInstall(installArgs(rig, "--no-start"), again, envFor(rig)),
      0,
      again.err,
    );
    assertEquals(again.out.match(/^unchanged /gm)?.length, 4);
    assertEquals(await tree(rig.unitDir), written);
    const after = await Promise.all(
      UNIT_NAMES.map(async (n) => (await Deno.stat(join(rig.unitDir, n))).mtime?.getTime()),
    );
    assertEquals(after, mtimes, "unchanged files are not rewritten");
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

Deno.test("install takes port, bind and allow-list from config.json, flags override them", async () => {
  const rig = await makeRig({
    api: "enabled",
    api_port: 9181,
    api_bind: "::",
    api_allow_from: "10.1.0.0/16",
  });
  try {
    assertEquals(await runInstall(installArgs(rig, "--no-start"), captureIo(), envFor(rig)), 0);
    let socket = await Deno.readTextFile(join(rig.unitDir, "rigforge-api.socket"));
    assertEquals(values(socket, "ListenStream"), ["9181"]);
    assertEquals(values(socket, "IPAddressAllow"), ["localhost 10.1.0.0/16"]);
    const io = captureIo();
    const flags = [
      "--no-start",
      "--port",
      "9200",
      "--bind",
      "192.168.7.7",
      "--allow-from",
      "",
      "--idle-exit",
      "600",
    ];
    assertEquals(await runInstall(installArgs(rig, ...flags), io, envFor(rig)), 0, io.err);
    socket = await Deno.readTextFile(join(rig.unitDir, "rigforge-api.socket"));
    assertEquals(values(socket, "ListenStream"), ["192.168.7.7:9200"]);
    assertEquals(values(socket, "IPAddressAllow"), [], "--allow-from '' turns scoping off");
    assertMatch(io.out, /^changed +.*rigforge-api\.socket$/m);
    assertMatch(io.out, /^unchanged +.*rigforge-api-probe\.timer$/m);
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

Deno.test("uninstall --no-stop leaves the unit directory exactly as it was, foreign files included", async () => {
  const rig = await makeRig();
  try {
    await Deno.writeTextFile(
      join(rig.unitDir, "other.service"),
      "[Service]\nExecStart=/bin/true\n",
    );
    await Deno.mkdir(join(rig.unitDir, "sockets.target.wants"));
    await Deno.symlink(
      "/lib/systemd/system/other.socket",
      join(rig.unitDir, "sockets.target.wants", "other.socket"),
    );
    const before = await tree(rig.unitDir);
    assertEquals(await runInstall(installArgs(rig, "--no-start"), captureIo(), envFor(rig)), 0);
    // What `systemctl enable` would have added:
    await Deno.symlink(
      join(rig.unitDir, "rigforge-api.socket"),
      join(rig.unitDir, "sockets.target.wants", "rigforge-api.socket"),
    );
    const io = captureIo();
    assertEquals(
      await runUninstall(["--unit-dir", rig.unitDir, "--no-stop"], io, envFor(rig)),
      0,
      io.err,
    );
    assertEquals(await tree(rig.unitDir), before);
    assertEquals(io.out.match(/^removed /gm)?.length, 5);
    const twice = captureIo();
    assertEquals(
      await runUninstall(["--unit-dir", rig.unitDir, "--no-stop"], twice, envFor(rig)),
      0,
    );
    assertMatch(twice.out, /nothing to remove/);
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

Deno.test("install and uninstall take both --no-start and --no-stop: files only, no systemctl", async () => {
  for (const word of ["--no-start", "--no-stop"]) {
    const rig = await makeRig();
    try {
      // Not root, no systemd, and a systemctl that fails the test if called: only the
      // files-only flag (either spelling) with --unit-dir lets either command run here.
      const env = envFor(rig, { isRoot: false });
      const refused = captureIo();
      assertEquals(await runInstall(installArgs(rig), refused, env), 1, "without the flag");
      assertMatch(refused.err, /must run as root/);
      const io = captureIo();
      assertEquals(await runInstall(installArgs(rig, word), io, env), 0, `install ${word}`);
      assertEquals(Object.keys(await tree(rig.unitDir)).sort(), [...UNIT_NAMES].sort(), word);
      assertMatch(io.out, /not started/);

      const kept = captureIo();
      assertEquals(await runUninstall(["--unit-dir", rig.unitDir], kept, env), 1);
      assertEquals(Object.keys(await tree(rig.unitDir)).length, UNIT_NAMES.length);
      const un = captureIo();
      assertEquals(
        await runUninstall(["--unit-dir", rig.unitDir, word], un, env),
        0,
        `uninstall ${word}: ${un.err}`,
      );
      assertEquals(await tree(rig.unitDir), {}, `uninstall ${word} removed the units`);
    } finally {
      await Deno.remove(rig.dir, { recursive: true });
    }
  }
});

Deno.test("install and uninstall never touch a unit file rigforge-api did not write", async () => {
  const rig = await makeRig();
  try {
    const foreign = "[Unit]\nDescription=someone else's\n[Socket]\nListenStream=9999\n";
    await Deno.writeTextFile(join(rig.unitDir, "rigforge-api.socket"), foreign);
    const io = captureIo();
    await assertRejectsWith(
      runInstall(installArgs(rig, "--no-start"), io, envFor(rig)),
      /not written by rigforge-api/,
    );
    assertEquals(
      Object.keys(await tree(rig.unitDir)),
      ["rigforge-api.socket"],
      "nothing else written",
    );
    const un = captureIo();
    assertEquals(await runUninstall(["--unit-dir", rig.unitDir, "--no-stop"], un, envFor(rig)), 0);
    assertEquals(await Deno.readTextFile(join(rig.unitDir, "rigforge-api.socket")), foreign);
    assertMatch(un.err, /left .*rigforge-api\.socket alone/);
    assertEquals(
      await runInstall(installArgs(rig, "--no-start", "--force"), captureIo(), envFor(rig)),
      0,
    );
    assert(
      (await Deno.readTextFile(join(rig.unitDir, "rigforge-api.socket"))).startsWith(UNIT_MARKER),
    );
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

async function assertRejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assertMatch(error instanceof Error ? error.message : String(error), pattern);
    return;
  }
  throw new Error(`expected a rejection matching ${pattern}`);
}

// ---------------------------------------------------------------- refusals: nothing written

Deno.test("install refuses bad flags with a clear message and writes nothing", async () => {
  const rig = await makeRig();
  try {
    const cases: [string[], RegExp][] = [
      [
        ["--allow-from", "192.168.1.300"],
        /--allow-from: entry 1 of 1 is not an IPv4\/IPv6 address or CIDR/,
      ],
      [["--allow-from", "10.0.0.0/33"], /--allow-from: entry 1 of 1 is not/],
      [["--allow-from", "pithead.lan"], /--allow-from: entry 1 of 1 is not/],
      [["--port", "8080"], /8080 \(XMRig's own API port\)/],
      [["--port", "70000"], /--port must be a whole number 1-65535/],
      [["--port", "80a"], /--port must be a whole number 1-65535/],
      [["--bind", "localhost"], /bind address "localhost" is not an IPv4\/IPv6 address/],
      [["--idle-exit", "1"], /idle exit must be 0 \(never\) or a whole number of seconds 2-86400/],
      [["--idle-exit", "86401"], /--idle-exit must be a whole number 0-86400/],
      [["--rate=-1"], /--rate must be a number/],
      [["--burst", "many"], /--burst must be a whole number 1-1000000/],
      [["--burst", "2.5"], /--burst must be a whole number 1-1000000/],
      [["--rate", "0"], /--rate must be a number above 0 \(serve's 0 = unlimited is refused/],
      [["--global-rate", "0"], /--global-rate must be a number above 0/],
      [["--probe-interval", "1"], /--probe-interval must be a whole number 5-3600/],
      [["--bogus"], /unknown flag --bogus/],
    ];
    for (const [flags, expected] of cases) {
      await assertRejectsWith(
        (async () => {
          try {
            return await runInstall(
              installArgs(rig, "--no-start", ...flags),
              captureIo(),
              envFor(rig),
            );
          } catch (error) {
            assert(error instanceof UsageError, `${flags.join(" ")}: a usage error (exit 2)`);
            throw error;
          }
        })(),
        expected,
      );
      assertEquals(await tree(rig.unitDir), {}, `nothing written for ${flags.join(" ")}`);
    }
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

Deno.test("install refuses an unusable environment or config with exit 1 and writes nothing", async () => {
  const rig = await makeRig();
  const noConfig = await makeRig(null);
  const disabled = await makeRig({ api: "disabled" });
  // No "api" key at all: the opt-in is missing, so the API must not open on every address.
  const noKey = await makeRig({ ACCESS_TOKEN: "", pools: [{ url: "pool.lan:3333" }] });
  try {
    const cases: [Rig, string[], Partial<InstallEnv>, RegExp][] = [
      [rig, ["--no-start"], { os: "darwin" }, /Linux-only \(this is darwin\)/],
      [rig, [], { isRoot: false }, /must run as root/],
      [rig, [], {}, /systemd is not running here/],
      [noConfig, ["--no-start"], {}, /no RigForge config at .*status 243/],
      [disabled, ["--no-start"], {}, /says "api": "disabled".*set "api": "enabled"/],
      [noKey, ["--no-start"], {}, /has no "api" key.*opt-in: set "api": "enabled"/],
      [noKey, [], { systemdRunning: true }, /has no "api" key/],
      [
        rig,
        [],
        { systemdRunning: true, systemctl: recordingSystemctl(245).systemctl },
        /systemd 245 is too old/,
      ],
    ];
    for (const [r, flags, env, expected] of cases) {
      const io = captureIo();
      assertEquals(
        await runInstall(installArgs(r, ...flags), io, envFor(r, env)),
        1,
        flags.join(" "),
      );
      assertMatch(io.err, expected);
      assertEquals(await tree(r.unitDir), {}, `nothing written: ${expected}`);
    }
    // Without root, --unit-dir with --no-start is allowed (packaging), and --force overrides "disabled".
    assertEquals(
      await runInstall(installArgs(rig, "--no-start"), captureIo(), envFor(rig, { isRoot: false })),
      0,
    );
    assertEquals(
      await runInstall(
        installArgs(disabled, "--no-start", "--force"),
        captureIo(),
        envFor(disabled),
      ),
      0,
    );
  } finally {
    for (const r of [rig, noConfig, disabled, noKey]) await Deno.remove(r.dir, { recursive: true });
  }
});

Deno.test("install refuses a binary the unprivileged server could not run", async () => {
  const rig = await makeRig();
  try {
    await Deno.chmod(join(rig.dir, "bin"), 0o700);
    const io = captureIo();
    assertEquals(await runInstall(installArgs(rig, "--no-start"), io, envFor(rig)), 1);
    assertMatch(io.err, /bin is not searchable by other users \(mode 0700\)/);
    await Deno.chmod(join(rig.dir, "bin"), 0o755);
    await Deno.chmod(rig.binary, 0o750);
    const io2 = captureIo();
    assertEquals(await runInstall(installArgs(rig, "--no-start"), io2, envFor(rig)), 1);
    assertMatch(io2.err, /not readable and executable by other users \(mode 0750\)/);
    assertEquals(await tree(rig.unitDir), {});
    await Deno.remove(rig.binary);
    const io3 = captureIo();
    assertEquals(
      await runInstall(installArgs(rig, "--no-start"), io3, envFor(rig)),
      0,
      "packaging: binary not there yet",
    );
    assertMatch(io3.err, /does not exist yet/);
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

// ---------------------------------------------------------------- install / uninstall (systemctl)

Deno.test("install with systemd: reload, enable --now; again: nothing to do; new port: rebind", async () => {
  const rig = await makeRig();
  try {
    const sd = recordingSystemctl();
    const env = envFor(rig, { systemdRunning: true, systemctl: sd.systemctl });
    const io = captureIo();
    assertEquals(await runInstall(installArgs(rig), io, env), 0, io.err);
    assertEquals(sd.changes(), [
      "daemon-reload",
      "reset-failed rigforge-api.socket rigforge-api.service",
      "enable --now rigforge-api.socket",
    ]);
    assertMatch(
      io.out,
      /listening on port 8081 \(all addresses\); token: required; scope: loopback \+ 1 source/,
    );

    sd.calls.length = 0;
    const again = captureIo();
    assertEquals(await runInstall(installArgs(rig), again, env), 0);
    assertEquals(sd.changes(), [], "a second run changes nothing");
    assertMatch(again.out, /nothing to do/);

    sd.calls.length = 0;
    assertEquals(await runInstall(installArgs(rig, "--port", "9181"), captureIo(), env), 0);
    assertEquals(sd.changes(), [
      "daemon-reload",
      "stop rigforge-api.service rigforge-api.socket",
      "reset-failed rigforge-api.socket rigforge-api.service",
      "enable --now rigforge-api.socket",
    ]);

    sd.calls.length = 0;
    assertEquals(
      await runInstall(installArgs(rig, "--port", "9181", "--idle-exit", "300"), captureIo(), env),
      0,
    );
    assertEquals(sd.changes(), [
      "daemon-reload",
      "try-restart rigforge-api.service",
      "reset-failed rigforge-api.socket rigforge-api.service",
      "enable --now rigforge-api.socket",
    ], "a server change restarts a running server, the socket stays");

    sd.state.active = false; // e.g. the socket failed after a missing config
    sd.calls.length = 0;
    assertEquals(
      await runInstall(installArgs(rig, "--port", "9181", "--idle-exit", "300"), captureIo(), env),
      0,
    );
    assertEquals(sd.changes(), [
      "reset-failed rigforge-api.socket rigforge-api.service",
      "enable --now rigforge-api.socket",
    ], "re-running install revives a failed socket");
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

Deno.test("install's summary says whether a token is required, never the token", async () => {
  const named = await makeRig({ api: "enabled", ACCESS_TOKENS: { pithead: "named-SECRET-tok" } });
  const open = await makeRig({ api: "enabled" });
  try {
    for (const [rig, expected] of [[named, "required"], [open, "open"]] as const) {
      const sd = recordingSystemctl();
      const io = captureIo();
      const env = envFor(rig, { systemdRunning: true, systemctl: sd.systemctl });
      assertEquals(await runInstall(installArgs(rig), io, env), 0, io.err);
      assertMatch(io.out, new RegExp(`token: ${expected}; scope: unscoped`));
      assertNotMatch(io.out + io.err, /SECRET/);
    }
  } finally {
    for (const rig of [named, open]) await Deno.remove(rig.dir, { recursive: true });
  }
});

Deno.test("uninstall with systemd: disable, stop, remove, reload, and remove the snapshot dir", async () => {
  const rig = await makeRig();
  try {
    const sd = recordingSystemctl();
    const env = envFor(rig, { systemdRunning: true, systemctl: sd.systemctl });
    const before = await tree(rig.unitDir);
    assertEquals(await runInstall(installArgs(rig), captureIo(), env), 0);
    await Deno.mkdir(rig.runtimeDir);
    await Deno.writeTextFile(join(rig.runtimeDir, "snapshot.json"), "{}");
    sd.calls.length = 0;
    const io = captureIo();
    assertEquals(await runUninstall(["--unit-dir", rig.unitDir], io, env), 0, io.err);
    assertEquals(sd.changes(), [
      "disable --now rigforge-api.socket",
      `stop ${UNIT_NAMES.join(" ")}`,
      "daemon-reload",
      `reset-failed ${UNIT_NAMES.join(" ")}`,
    ]);
    assertEquals(await tree(rig.unitDir), before);
    assertEquals(await Deno.lstat(rig.runtimeDir).catch(() => null), null, "snapshot dir removed");
    assertMatch(io.out, /removed +.*run-rigforge-api/);
    const nowhere = captureIo();
    const missingDir = ["--unit-dir", join(rig.dir, "nowhere"), "--no-stop"];
    assertEquals(await runUninstall(missingDir, nowhere, env), 1);
    assertMatch(nowhere.err, /unit directory .*nowhere does not exist/);
    const noRoot = captureIo();
    assertEquals(
      await runUninstall(["--unit-dir", rig.unitDir], noRoot, envFor(rig, { isRoot: false })),
      1,
    );
    assertMatch(noRoot.err, /must run as root/);
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

// ---------------------------------------------------------------- units (print)

Deno.test("units prints what install would write, headed by each path", async () => {
  const rig = await makeRig();
  try {
    const io = captureIo();
    assertEquals(
      await runUnits(installArgs(rig, "--bind", "::"), io, { executable: null }),
      0,
      io.err,
    );
    const expected = renderUnits(baseOptions({
      binary: rig.binary,
      rigforgeHome: rig.home,
      configPath: rig.config,
      bind: "::",
      allowFrom: cidrs("192.168.1.10"),
    }));
    assertEquals(
      io.out,
      expected.map((u) => `# ${join(rig.unitDir, u.name)}\n${u.text}`).join("\n"),
    );
    assertEquals(await tree(rig.unitDir), {}, "units writes nothing");
    const missing = captureIo();
    assertEquals(
      await runUnits(
        ["--rigforge-home", join(rig.dir, "nowhere"), "--binary", rig.binary],
        missing,
        { executable: null },
      ),
      0,
    );
    assertMatch(missing.err, /no RigForge config .*install' would refuse/);
    assertEquals(values(missing.out, "ListenStream"), ["8081"]);
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

Deno.test("install without --binary under 'deno run' asks for it", async () => {
  const rig = await makeRig();
  try {
    const args = ["--rigforge-home", rig.home, "--unit-dir", rig.unitDir, "--no-start"];
    await assertRejectsWith(runInstall(args, captureIo(), envFor(rig)), /pass --binary PATH/);
    assertEquals(await tree(rig.unitDir), {});
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});

// ---------------------------------------------------------------- the real CLI process

Deno.test("CLI: install --no-start writes the units, a bad --allow-from exits 2 and writes nothing", async () => {
  const rig = await makeRig();
  try {
    const bad = await runCli([
      "install",
      ...installArgs(rig, "--no-start", "--allow-from", "10.0.0.1,nope"),
    ]);
    assertEquals(bad.code, 2);
    assertMatch(
      bad.stderr,
      /rigforge-api install: --allow-from: entry 2 of 2 is not an IPv4\/IPv6 address or CIDR/,
    );
    assertEquals(await tree(rig.unitDir), {});
    const good = await runCli(["install", ...installArgs(rig, "--no-start")]);
    assertEquals(good.code, 0, good.stderr);
    assertEquals(Object.keys(await tree(rig.unitDir)).sort(), [...UNIT_NAMES].sort());
    const help = await runCli(["install", "--help"]);
    assertEquals(help.code, 0);
    assertMatch(help.stdout, /USAGE:\n {2}rigforge-api install/);
  } finally {
    await Deno.remove(rig.dir, { recursive: true });
  }
});
