/**
 * The integration suite under a real systemd: runs `tests/systemd/run-it.sh` (a Debian rootfs
 * booted with systemd-nspawn, the real `rigforge-api install` inside, driven with curl), streams
 * its output, and fails with the harness's FAIL lines. Every assertion named in
 * {@link REQUIRED} must have passed, so an assertion removed from the harness fails here too.
 * Latencies are figures, not assertions (CI shares 2 cores): the harness prints them as
 * `FIGURE <name> <value>` lines, and this test repeats them together at the end of its output;
 * each of {@link FIGURES} must be printed with a number, whatever its value (also printed, when
 * serve held the first contact: `first-contact-hold-ms`).
 *
 * Needs root on Linux (it boots a container). As a non-root user, or off Linux, the test is
 * reported as ignored, with the reason in its name; as root it never skips: a machine that
 * cannot boot the container fails the test, saying why. Run alone: `bash tests/systemd/run-it.sh`.
 */

import { ok as assert } from "node:assert/strict";
import { fileURLToPath } from "node:url";

const HARNESS = fileURLToPath(new URL("./systemd/run-it.sh", import.meta.url));

/** The harness's time bound; a cold run (debootstrap) takes about 3 minutes. */
const TIMEOUT_MS = 600_000;

/**
 * Every assertion the harness makes, in its order (one or more per fact it proves): each must be
 * reported as passed, so an assertion dropped from the harness fails here.
 */
const REQUIRED = [
  "install-without-config-refused",
  "install-without-config-says-why",
  "install-without-config-writes-nothing",
  "install-exits-0",
  "socket-listening",
  "socket-enabled",
  "no-process-before-first-connection",
  "no-timer-before-first-connection",
  "no-probe-before-first-connection",
  "service-no-start-limit",
  "timer-no-start-limit",
  "timer-explicit-accuracy",
  "timer-bindsto-server",
  "timer-after-server",
  "server-wants-timer",
  "first-request-200",
  "first-request-started-one-server",
  "first-request-has-rigforge-block",
  "probe-timer-started-by-server",
  "token-required",
  "wrong-token-403",
  "service-dynamic-user-setting",
  "service-runs-as-dynamic-uid",
  "service-cannot-read-config-directly",
  "service-credentials-directory",
  "service-reads-token-from-credential",
  "credential-owned-by-service",
  "probe-timer-active-while-serving",
  "snapshot-fresh-after-first-probe",
  "snapshot-has-generated-at",
  "rigforge-block-fed-by-probe",
  "probe-ran-as-root",
  "no-secret-in-response",
  "no-secret-in-snapshot",
  "idle-exit-clean",
  "probe-timer-stops-with-server",
  "probe-timer-stops-after-server-exit",
  "no-probe-while-idle",
  "no-process-while-idle",
  "socket-still-listening-after-idle-exit",
  "first-contact-200",
  "first-contact-status-agrees-with-hold",
  "blocked-probe-200",
  "blocked-probe-labelled-stale",
  "blocked-probe-serves-the-old-values",
  "blocked-probe-hold-logged",
  "blocked-probe-hold-ended-at-deadline",
  "reactivation-answers",
  "timer-restarts-on-reactivation",
  "reactivation-burst-no-lost-connection",
  "burst-spanned-several-activations",
  "socket-not-failed-after-bursts",
  "served-after-bursts",
  "reinstall-idle-exit-2",
  "fast-idle-bursts-no-lost-connection",
  "fast-idle-bursts-many-activations",
  "fast-idle-socket-still-listening",
  "fast-idle-server-never-start-limited",
  "fast-idle-probe-not-start-limited",
  "served-after-fast-idle-bursts",
  "config-missing-status-243",
  "config-missing-request-times-out",
  "config-missing-journal-says-credentials",
  "config-missing-socket-not-failed",
  "config-missing-retries-paced",
  "config-restored-self-heals",
  "install-with-allow-list",
  "allowed-source-served",
  "loopback-always-allowed",
  "denied-source-dropped",
  "denied-source-does-not-activate",
  "bpf-accounting-signal-is-a-number",
  "doctor-reports-scope-enforced",
  "reinstall-new-port",
  "new-port-serves",
  "old-port-closed",
  "old-port-not-listening",
  "reinstall-same-is-noop",
  "socket-back-after-reboot",
  "nothing-runs-after-reboot",
  "served-after-reboot",
  "nobpf-socket-back",
  "nobpf-denied-source-not-dropped",
  "nobpf-accounting-signal-no-data",
  "doctor-reports-scope-not-enforced",
  "uninstall-exits-0",
  "uninstall-no-unit-files",
  "uninstall-no-loaded-units",
  "uninstall-no-process",
  "uninstall-no-runtime-dir",
  "uninstall-port-closed",
  "uninstall-keeps-config",
] as const;

/** The figures the harness prints (never gated on their value): seconds of curl's time, ms. */
const FIGURES = [
  "first-request-seconds",
  "timer-stop-lag-ms",
  "first-contact-seconds",
  "first-contact-pass-ended-ms",
  "blocked-probe-seconds",
  "blocked-probe-hold-ms",
] as const;

const isRoot = Deno.build.os === "linux" && Deno.uid() === 0;
const why = Deno.build.os !== "linux" ? "not Linux" : "not root";

Deno.test({
  name: isRoot
    ? "a real systemd runs the installed units as designed (tests/systemd/run-it.sh)"
    : `a real systemd runs the installed units as designed: IGNORED, ${why} (it boots a container)`,
  ignore: !isRoot,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const child = new Deno.Command("bash", {
      args: [HARNESS],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    }).spawn();
    const [stdout] = await Promise.all([
      stream(child.stdout, Deno.stdout),
      stream(child.stderr, Deno.stderr),
    ]);
    const status = await child.status;
    const lines = stdout.split("\n");
    const failed = lines.filter((line) => line.startsWith("FAIL "));
    const passed = new Set(
      lines.filter((line) => line.startsWith("PASS ")).map((line) => line.slice(5).trim()),
    );
    const missing = REQUIRED.filter((name) => !passed.has(name));
    const summary = lines.findLast((line) => /^\d+ passed, \d+ failed$/.test(line));
    const figures = new Map(
      lines.filter((line) => line.startsWith("FIGURE ")).map((line) => {
        const [name = "", value = ""] = line.slice(7).trim().split(/\s+/);
        return [name, value];
      }),
    );
    await writeAll(
      Deno.stdout,
      new TextEncoder().encode(
        "figures from the systemd suite (printed, not gated):\n" +
          [...figures].map(([name, value]) => `  FIGURE ${name} ${value}\n`).join(""),
      ),
    );
    assert(
      failed.length === 0,
      `the systemd integration suite failed:\n${failed.join("\n")}`,
    );
    assert(
      status.success && status.signal === null,
      `the harness exited with ${status.code}${status.signal ? ` (${status.signal})` : ""}` +
        (summary ? `; ${summary}` : "; no summary line (timed out or crashed?)"),
    );
    assert(missing.length === 0, `assertions that did not pass: ${missing.join(", ")}`);
    const unmeasured = FIGURES.filter((name) => !/^-?\d+(\.\d+)?$/.test(figures.get(name) ?? ""));
    assert(unmeasured.length === 0, `figures not printed as numbers: ${unmeasured.join(", ")}`);
  },
});

/** Copies a child's output to ours as it arrives and returns all of it as text. */
async function stream(from: ReadableStream<Uint8Array>, to: typeof Deno.stdout): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of from) {
    await writeAll(to, chunk);
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

async function writeAll(to: typeof Deno.stdout, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await to.write(bytes.subarray(done));
}
