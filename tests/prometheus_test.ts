/**
 * A real Prometheus (Debian's `prometheus` package, `/usr/bin/prometheus`) scrapes a running
 * `rigforge-api serve` every second, with a bearer token from a `credentials_file`, in front of
 * the XMRig stand-in; the test asks Prometheus' HTTP API whether the target is up, whether the
 * hashrate series arrived, and whether the OpenMetrics metadata (types, units) was understood.
 *
 * @module
 */

import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { locate } from "../src/rigforge/locate.ts";
import { type PrometheusHandle, startPrometheus } from "./_prometheus.ts";
import { startServe, writeFreshSnapshot } from "./_serve.ts";
import { RIGFORGE_DIR, xmrigBody } from "./_snapshot.ts";
import { startStandin } from "./_xmrig_standin.ts";
import { waitFor } from "./_wait.ts";

/** How long one wait may take before the test fails (a limit, not a speed claim). */
const LIMIT = { limitMs: 60_000, everyMs: 250 };

Deno.test({
  name: "a real Prometheus scrapes /metrics: up == 1, hashrate series, OpenMetrics metadata",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = join(RIGFORGE_DIR, "zen4");
    const { config } = await locate(home);
    const token = config!.accessToken!;
    const scrapeToken = Object.values(config!.accessTokens)[0]!;
    const xmrig = await startStandin({ token });
    const scratch = await Deno.makeTempDir({ prefix: "rf-prometheus-" });
    let serve: Awaited<ReturnType<typeof startServe>> | null = null;
    let prometheus: PrometheusHandle | null = null;
    try {
      const snapshot = join(scratch, "snapshot.json");
      await writeFreshSnapshot(snapshot, "zen4");
      serve = await startServe({
        homeFrom: home,
        snapshot,
        xmrig: xmrig.url,
        args: [],
      });
      await Deno.writeTextFile(join(scratch, "token"), scrapeToken);
      await Deno.chmod(join(scratch, "token"), 0o600);
      prometheus = await startPrometheus(
        [
          "global:",
          "  scrape_interval: 1s",
          "  scrape_timeout: 1s",
          "  evaluation_interval: 1s",
          "scrape_configs:",
          "  - job_name: rigforge",
          "    authorization:",
          "      type: Bearer",
          `      credentials_file: ${join(scratch, "token")}`,
          "    static_configs:",
          `      - targets: ["127.0.0.1:${serve.port}"]`,
          "",
        ].join("\n"),
      );
      const p = prometheus;

      // Two scrapes at least, both successful.
      await waitFor("two scrapes of the target", async () => {
        const count = await p.query('count_over_time(up{job="rigforge"}[1m])');
        return count.length === 1 && count[0]!.value >= 2 ? true : null;
      }, LIMIT);
      const up = await p.query('up{job="rigforge"}');
      assertEquals(up.map((s) => s.value), [1], "up == 1");
      const minUp = await p.query('min_over_time(up{job="rigforge"}[1m])');
      assertEquals(minUp[0]?.value, 1, "every scrape succeeded");

      // The hashrate series, with XMRig's value, labelled by window only (plus Prometheus' own).
      const expected = JSON.parse(xmrigBody("summary-v2-mining.json")).hashrate.total[0];
      const hashrate = await p.query('xmrig_hashrate_hashes_per_second{window="10s"}');
      assertEquals(hashrate.length, 1, "one 10 s hashrate series");
      assertEquals(hashrate[0]!.value, expected);
      assertEquals(
        Object.keys(hashrate[0]!.metric).sort(),
        ["__name__", "instance", "job", "window"],
      );

      // Prometheus negotiated OpenMetrics: the info type and the units reach its metadata.
      const metadata = await waitFor("metadata", async () => {
        const response = await fetch(`${p.base}/api/v1/metadata`, {
          signal: AbortSignal.timeout(2000),
        });
        const body = await response.json();
        return body.data?.["rigforge_build"] === undefined ? null : body.data;
      }, LIMIT);
      assertEquals(metadata["rigforge_build"][0].type, "info");
      assertEquals(metadata["xmrig_hashrate_hashes_per_second"][0].unit, "hashes_per_second");
      assertEquals(metadata["rigforge_package_energy_joules"][0].type, "counter");
      const info = await p.query("rigforge_build_info");
      assertEquals(info[0]?.metric["xmrig_version"], "6.26.0");

      // The scrapes reached XMRig through the 1 s cache, not once per series.
      assert(xmrig.count("/2/summary") >= 1);
    } catch (error) {
      await prometheus?.stop();
      const log = prometheus === null ? "" : await prometheus.log();
      prometheus = null;
      throw new Error(`${error instanceof Error ? error.message : error}\nprometheus: ${log}`);
    } finally {
      await prometheus?.stop();
      await serve?.stop();
      await xmrig.close();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});
