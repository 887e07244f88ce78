/**
 * `deno task compile` as a new user runs it: from a cold `DENO_DIR`, in a tree holding only
 * what `deno info --json main.ts` lists (plus `deno.json`, `deno.lock` and the build step).
 *
 * Deno's runtime for compiled binaries (denort) is a download from dl.deno.land. Where it cannot
 * be fetched, the task must get past type-check, the source-commit step and module-graph
 * building and fail only at that download. Where a runtime is available (`DENORT_BIN`, or a
 * copy cached in the default `DENO_DIR`), the binary is built and a smoke suite runs against it
 * with no `deno` on `PATH`.
 *
 * @module
 */

import {
  deepEqual as assertEquals,
  doesNotMatch as assertNotMatch,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseSnapshot } from "../src/snapshot.ts";
import { parseSourceCommit, SOURCE_COMMIT_FILE, sourceCommit, VERSION } from "../src/version.ts";
import { REPO_ROOT } from "./_cli.ts";
import { ROOTS_DIR } from "./_context.ts";
import { startServe } from "./_serve.ts";
import { RIGFORGE_DIR } from "./_snapshot.ts";
import { startStandin } from "./_xmrig_standin.ts";

const TASK: string = JSON.parse(Deno.readTextFileSync(join(REPO_ROOT, "deno.json"))).tasks.compile;
const BUILD_STEP = "build/source_commit.ts";
const decoder = new TextDecoder();

/** What a child process did. */
interface Ran {
  code: number;
  stdout: string;
  /** stdout and stderr together. */
  out: string;
}

async function run(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  clearEnv = false,
): Promise<Ran> {
  const output = await new Deno.Command(command, {
    args,
    cwd,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...env },
    clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = decoder.decode(output.stdout);
  return { code: output.code, stdout, out: stdout + decoder.decode(output.stderr) };
}

/** The graph `deno info --json <entry>` reports: local files and the default `DENO_DIR`. */
async function denoInfo(entry: string): Promise<{ files: string[]; textImports: string[] }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(output.success, decoder.decode(output.stderr));
  const info: { modules: { specifier: string; kind: string; mediaType?: string }[] } = JSON
    .parse(decoder.decode(output.stdout));
  const local = info.modules.filter((m) => m.specifier.startsWith("file://"));
  return {
    files: local.map((m) => fileURLToPath(m.specifier)),
    // deno info lists `with { type: "text" }` imports as "external" file modules
    textImports: local.filter((m) => m.kind === "external").map((m) => fileURLToPath(m.specifier)),
  };
}

/** Every `with { type: "text" }` import written in the sources under `src/`, resolved. */
async function textImportsInSources(): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(path);
        for (const m of text.matchAll(/from\s+"([^"]+)"\s+with\s*\{\s*type:\s*"text"\s*\}/g)) {
          found.push(resolve(dirname(path), m[1]!));
        }
      }
    }
  };
  await walk(join(REPO_ROOT, "src"));
  return found.sort();
}

/** A denort Deno cached for this version: its zip and its path inside a `DENO_DIR`. */
function cachedRuntime(): { zip: string; inDenoDir: string } | null {
  const info = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .outputSync();
  const denoDir: unknown = JSON.parse(decoder.decode(info.stdout)).denoDir;
  if (typeof denoDir !== "string") return null;
  const inDenoDir = join(
    "dl",
    "release",
    `v${Deno.version.deno}`,
    `denort-${Deno.build.target}.zip`,
  );
  try {
    const zip = join(denoDir, inDenoDir);
    return Deno.statSync(zip).isFile ? { zip, inDenoDir } : null;
  } catch {
    return null; // not cached: the download is the only way, and it is tested to be the stop
  }
}

const DENORT_BIN = Deno.env.get("DENORT_BIN") ?? "";
const CACHED_RUNTIME = DENORT_BIN === "" ? cachedRuntime() : null;
const HAS_RUNTIME = DENORT_BIN !== "" || CACHED_RUNTIME !== null;

/** The result of one cold compile. */
interface Build {
  tree: string;
  denoDir: string;
  ran: Ran;
  binary: string;
}

/**
 * Runs `deno task compile`, cold, in a fresh tree holding only the graph's files.
 *
 * @param scratch an empty directory: the tree goes to `tree/`, the cold `DENO_DIR` next to it
 */
async function build(scratch: string): Promise<Build> {
  const tree = join(scratch, "tree");
  const denoDir = join(scratch, "deno-dir");
  const [main, step] = await Promise.all([denoInfo("main.ts"), denoInfo(BUILD_STEP)]);
  const files = new Set([
    ...main.files,
    ...step.files,
    join(REPO_ROOT, "deno.json"),
    join(REPO_ROOT, "deno.lock"),
    join(REPO_ROOT, ".gitignore"),
  ]);
  for (const file of files) {
    const rel = relative(REPO_ROOT, file);
    assert(!rel.startsWith(".."), `${file} is outside the repository`);
    await Deno.mkdir(dirname(join(tree, rel)), { recursive: true });
    await Deno.copyFile(file, join(tree, rel));
  }
  if (CACHED_RUNTIME !== null) {
    const target = join(denoDir, CACHED_RUNTIME.inDenoDir);
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.copyFile(CACHED_RUNTIME.zip, target);
  }
  const env: Record<string, string> = { DENO_DIR: denoDir };
  if (DENORT_BIN !== "") env.DENORT_BIN = DENORT_BIN;
  const ran = await run(Deno.execPath(), ["task", "compile"], tree, env);
  return { tree, denoDir, ran, binary: join(tree, "dist", "rigforge-api") };
}

Deno.test("the source commit: 40 hex (+ -dirty) or unknown; only a compiled binary claims one", () => {
  const sha = "0123456789abcdef0123456789abcdef01234567";
  assertEquals(parseSourceCommit(`${sha}\n`), sha);
  assertEquals(parseSourceCommit(`${sha}-dirty`), `${sha}-dirty`);
  assertEquals(parseSourceCommit("unknown\n"), "unknown");
  for (const bad of ["", sha.slice(1), `${sha}\nrm -rf /`, "\x1b[2Junknown", sha.toUpperCase()]) {
    assertEquals(parseSourceCommit(bad), null, JSON.stringify(bad));
  }
  assertMatch(sourceCommit(false, () => sha), /^unknown \(running from source/);
  assertEquals(sourceCommit(true, () => `${sha}\n`), sha);
  assertMatch(sourceCommit(true, () => "<html>"), /^unknown \(the embedded .* is not a commit\)$/);
  const missing = sourceCommit(true, () => {
    throw new Deno.errors.NotFound("no such file");
  });
  assertEquals(missing, `unknown (cannot read the embedded ${SOURCE_COMMIT_FILE}: NotFound)`);
});

Deno.test("deno task compile type-checks without the server's heap cap, then compiles --no-check with the tests' flags", () => {
  const steps = TASK.split("&&").map((step) => step.trim());
  assertMatch(steps[0]!, /^deno check main\.ts$/, "type-check first, uncapped");
  const compile = steps.filter((step) => step.startsWith("deno compile "));
  assertEquals(compile.length, 1);
  assertMatch(compile[0]!, /--no-check/);
  assertMatch(compile[0]!, new RegExp(`--include ${SOURCE_COMMIT_FILE.replaceAll(".", "\\.")}`));
  for (const step of steps.filter((s) => !s.startsWith("deno compile "))) {
    assertNotMatch(step, /max-old-space-size/, `${step}: the heap cap is the server's only`);
  }
});

Deno.test("deno info's graph holds every text import the sources make (the binary embeds the graph)", async () => {
  const { textImports } = await denoInfo("main.ts");
  const written = await textImportsInSources();
  assert(written.length > 0, "the unit templates are text imports");
  assertEquals([...new Set(textImports)].sort(), [...new Set(written)].sort());
});

Deno.test("deno task compile from a cold DENO_DIR, in a tree holding only the graph", async (t) => {
  const scratch = await Deno.makeTempDir({ prefix: "rf-compile-" });
  try {
    const built = await build(scratch);
    await t.step(
      "gets past type-check and graph building" +
        (HAS_RUNTIME ? " and builds the binary" : ", and fails only at the denort download"),
      () => compiledAsFarAsPossible(built),
    );
    await t.step(
      "the build step writes HEAD in a git checkout, -dirty with changes",
      () => sourceCommitInCheckout(built),
    );
    await t.step({
      name: "the binary, with no deno on PATH: --version, doctor, probe, units, serve, leaks" +
        (HAS_RUNTIME ? "" : " (ignored: no denort here; set DENORT_BIN or cache one)"),
      ignore: !HAS_RUNTIME,
      fn: () => smoke(built),
    });
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});

async function compiledAsFarAsPossible({ ran, tree }: Build): Promise<void> {
  assertNotMatch(ran.out, /out of memory|heap limit/i, ran.out);
  assertNotMatch(ran.out, /Module not found|Cannot find module|error: TS\d+|\bTS\d{4}\b/, ran.out);
  assertMatch(ran.out, /^Check main\.ts$/m, "the type-check ran");
  assertMatch(ran.out, /^source commit unknown \(not a git checkout/m, ran.out);
  assertEquals(await Deno.readTextFile(join(tree, SOURCE_COMMIT_FILE)), "unknown\n");
  // deno compile prints this once the module graph is built, before it sets up the runtime.
  assertMatch(ran.out, /^Compile main\.ts to dist\/rigforge-api$/m, ran.out);
  if (HAS_RUNTIME) {
    assertEquals(ran.code, 0, ran.out);
    return;
  }
  assert(ran.code !== 0, "without a runtime the compile cannot succeed");
  const errors = ran.out.split("\n").filter((line) => /^error:/.test(line));
  assertEquals(errors.length, 1, ran.out);
  assertMatch(errors[0]!, /^error: Writing deno compile executable/);
  assertMatch(ran.out, /Setting up base binary/);
  assertMatch(ran.out, new RegExp(`denort-${Deno.build.target}\\.zip`));
}

async function sourceCommitInCheckout({ tree, denoDir }: Build): Promise<void> {
  const git = (...args: string[]) =>
    run("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], tree, {});
  const step = () =>
    run(
      Deno.execPath(),
      ["run", "--allow-run=git", "--allow-read", "--allow-write=dist", BUILD_STEP],
      tree,
      { DENO_DIR: denoDir },
    );
  const probe = await git("--version").catch((error) => ({ code: -1, out: String(error) }));
  assertEquals(probe.code, 0, `git is needed to test the checkout case: ${probe.out}`);
  for (const args of [["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"]]) {
    const r = await git(...args);
    assertEquals(r.code, 0, r.out);
  }
  const head = (await git("rev-parse", "HEAD")).stdout.trim();
  assertMatch(head, /^[0-9a-f]{40}$/);
  const clean = await step();
  assertEquals(clean.code, 0, clean.out);
  assertEquals(await Deno.readTextFile(join(tree, SOURCE_COMMIT_FILE)), `${head}\n`);
  await Deno.writeTextFile(join(tree, "main.ts"), "\n", { append: true });
  const dirty = await step();
  assertEquals(dirty.code, 0, dirty.out);
  assertEquals(await Deno.readTextFile(join(tree, SOURCE_COMMIT_FILE)), `${head}-dirty\n`);
  const left = [...Deno.readDirSync(join(tree, "dist"))].map((e) => e.name);
  assert(!left.some((name) => name.includes(".tmp-")), `no temp file left: ${left}`);
}

/** The smoke suite against the built binary, with no `deno` on the binary's `PATH`. */
async function smoke({ binary, tree }: Build): Promise<void> {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter((dir) => {
    try {
      Deno.statSync(join(dir, "deno"));
      return false;
    } catch {
      return true; // no deno in this directory: keep it
    }
  }).join(":");
  const env = { PATH: path, HOME: tree };
  const cli = (...args: string[]) => run(binary, args, tree, env, true);
  const zen4 = ["--root", join(ROOTS_DIR, "zen4"), "--rigforge-home", join(RIGFORGE_DIR, "zen4")];

  const version = await cli("--version");
  assertEquals(version.code, 0, version.out);
  const commit = (await Deno.readTextFile(join(tree, SOURCE_COMMIT_FILE))).trim();
  assertEquals(version.stdout.split("\n").slice(0, 3), [
    `rigforge-api ${VERSION}`,
    `source ${commit}`,
    `deno ${Deno.version.deno}`,
  ]);

  const doctor = await cli("doctor", "--json", ...zen4);
  assert(doctor.code === 0 || doctor.code === 1, doctor.out);
  assertEquals(typeof JSON.parse(doctor.stdout), "object");

  const probe = await cli("probe", "--print", ...zen4);
  assertEquals(probe.code, 0, probe.out);
  assert(parseSnapshot(probe.stdout) !== null, "probe --print printed a snapshot");

  const units = await cli("units", "--rigforge-home", join(RIGFORGE_DIR, "zen4"));
  assertEquals(units.code, 0, units.out);
  assertMatch(units.stdout, new RegExp(`^ExecStart=${binary.replaceAll(".", "\\.")} serve`, "m"));

  const xmrig = await startStandin({});
  const serve = await startServe({
    activation: "socket",
    command: [binary],
    xmrig: xmrig.url,
    env: { PATH: path },
  });
  try {
    const response = await fetch(`http://127.0.0.1:${serve.port}/2/summary`);
    const body: unknown = await response.json();
    assertEquals(response.status, 200);
    assert(typeof body === "object" && body !== null && "rigforge" in body, "rigforge block");
  } finally {
    await serve.stop();
    await xmrig.close();
  }

  const sweep = await run(
    Deno.execPath(),
    ["test", "-A", "--filter", "leak sweep", join(REPO_ROOT, "tests", "secrets_test.ts")],
    REPO_ROOT,
    { PATH: path, RIGFORGE_API_BINARY: binary },
  );
  assertEquals(sweep.code, 0, sweep.out);
  assertMatch(sweep.out, /leak sweep: .* \.\.\. ok/);
}
