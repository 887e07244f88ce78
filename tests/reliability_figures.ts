/**
 * Prints the figures docs/reliability.md quotes: runs the reliability tests (the hostile-input
 * corpus, slow clients, faults, auth and secrets, load; with `--soak` also the soak) and prints
 * each test's summary line, the pass/fail counts and the wall time of each file.
 *
 * ```sh
 * deno run -A tests/reliability_figures.ts          # the CI-size suite (about a minute)
 * deno run -A tests/reliability_figures.ts --soak   # plus the 100k soak (about two more)
 * ```
 *
 * Not a test file itself (no `_test` suffix): `deno task test` runs the same files.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const FILES = [
  "tests/hostile_http_test.ts",
  "tests/slow_clients_test.ts",
  "tests/faults_test.ts",
  "tests/secrets_test.ts",
  "tests/load_test.ts",
];
/** Summary lines the tests print (one per measurement). */
const SUMMARY =
  /^(hostile-http\[|slow-clients:|faults(-\w+)?:|constant-time:|leak-sweep:|load:|soak[ :(])/;

const soak = Deno.args.includes("--soak");
const files = soak ? [...FILES, "tests/soak_test.ts"] : FILES;
const out = (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));

out(`# reliability figures, ${new Date().toISOString()}, deno ${Deno.version.deno}`);
out(`# machine: ${Deno.build.target}, ${navigator.hardwareConcurrency} CPUs`);
let failedFiles = 0;
for (const file of files) {
  const started = performance.now();
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", file],
    cwd: REPO,
    env: { NO_COLOR: "1", ...(soak ? { SOAK: "1" } : {}) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const text = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
  const counts = /(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(text);
  out(
    `\n## ${file}: ${counts?.[1] ?? "?"}, ${counts?.[2] ?? "?"} passed, ` +
      `${counts?.[3] ?? "?"} failed, ${seconds} s`,
  );
  for (const line of text.split("\n")) {
    if (SUMMARY.test(line) && !/ \.\.\.( |$)/.test(line)) out(line); // not deno's test lines
  }
  if (!result.success) {
    failedFiles++;
    for (const line of text.split("\n")) {
      if (/^(error|\s+at |.*FAILED)/.test(line)) out(`  ${line}`);
    }
  }
}
out(`\n# ${files.length - failedFiles}/${files.length} files passed`);
Deno.exit(failedFiles === 0 ? 0 : 1);
