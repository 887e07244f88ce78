/**
 * Shared test helper: a real Prometheus (Debian's `prometheus` package, `/usr/bin/prometheus`)
 * on an ephemeral port of 127.0.0.1, with its own scratch storage, and the few HTTP API calls
 * the tests make (`/api/v1/query`, `/api/v1/alerts`, `/api/v1/rules`).
 *
 * ```ts
 * const prometheus = await startPrometheus(configYaml);
 * const up = await prometheus.query('up{job="rigforge"}');
 * await prometheus.stop();
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { arr, type Obj, obj, str } from "../src/lib/json.ts";
import { freePort } from "./harness/serve_process.ts";

/** Where Debian installs Prometheus. */
export const PROMETHEUS = "/usr/bin/prometheus";

/** One sample of an instant-query answer: its labels and its value. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** One alert as `/api/v1/alerts` lists it. */
export interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** `pending` or `firing`. */
  state: string;
}

/** A running Prometheus. */
export interface PrometheusHandle {
  /** `http://127.0.0.1:<port>`. */
  readonly base: string;
  /**
   * Runs an instant query.
   *
   * @param promql the query
   * @returns the vector's samples
   * @throws {Error} when the answer is not a successful vector
   */
  query(promql: string): Promise<Sample[]>;
  /** @returns every pending and firing alert */
  alerts(): Promise<Alert[]>;
  /** @returns the `data` of `/api/v1/rules` (rule groups as Prometheus loaded them) */
  rules(): Promise<Obj>;
  /** @returns the last 2000 characters Prometheus wrote to stderr (after {@link stop}) */
  log(): Promise<string>;
  /** Sends SIGTERM, waits for the exit (SIGKILL after 5 s), removes the storage directory. */
  stop(): Promise<void>;
}

/**
 * Fails loudly when Prometheus is not installed: the tests that need it never skip.
 *
 * @throws {Error} naming the Debian package to install
 */
export async function requirePrometheus(): Promise<void> {
  try {
    await Deno.stat(PROMETHEUS);
  } catch {
    throw new Error(
      `${PROMETHEUS} is missing: install Debian's "prometheus" package (apt-get install prometheus)`,
    );
  }
}

async function apiData(url: string): Promise<Obj> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  const body = obj(await response.json());
  const data = obj(body?.["data"]);
  if (body?.["status"] !== "success" || data === null) {
    throw new Error(`${url}: ${JSON.stringify(body)}`);
  }
  return data;
}

/** A JSON object of string values (labels, annotations), or an error naming `what`. */
function strings(value: unknown, what: string): Record<string, string> {
  const o = obj(value);
  if (o === null) throw new Error(`${what}: not an object`);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(o)) {
    const text = str(v, 4096);
    if (text === null) throw new Error(`${what}.${key}: not a string`);
    out[key] = text;
  }
  return out;
}

/**
 * Starts Prometheus with a configuration file's text.
 *
 * @param config `prometheus.yml` as text (paths inside it must be absolute)
 * @returns the running server (its HTTP API may take a moment to answer: poll with `waitFor`)
 */
export async function startPrometheus(config: string): Promise<PrometheusHandle> {
  await requirePrometheus();
  const dir = await Deno.makeTempDir({ prefix: "rf-prometheus-" });
  await Deno.writeTextFile(join(dir, "prometheus.yml"), config);
  const port = freePort();
  const child = new Deno.Command(PROMETHEUS, {
    args: [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logs = new Response(child.stderr).text().catch((error) => `stderr unreadable: ${error}`);
  const base = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | null = null;
  const signal = (name: Deno.Signal): void => {
    try {
      child.kill(name);
    } catch (error) {
      // Already exited: nothing left to signal.
      if (!(error instanceof TypeError)) throw error;
    }
  };
  return {
    base,
    async query(promql) {
      const data = await apiData(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const result = arr(data["result"]);
      if (data["resultType"] !== "vector" || result === null) {
        throw new Error(`${promql}: not a vector`);
      }
      return result.map((item) => {
        const sample = obj(item);
        const value = arr(sample?.["value"]);
        const text = str(value?.[1], 64);
        if (text === null) throw new Error(`${promql}: a sample without a value`);
        return { metric: strings(sample?.["metric"], "metric"), value: Number(text) };
      });
    },
    async alerts() {
      const data = await apiData(`${base}/api/v1/alerts`);
      const list = arr(data["alerts"]);
      if (list === null) throw new Error("/api/v1/alerts: no alerts list");
      return list.map((item) => {
        const alert = obj(item);
        const state = str(alert?.["state"], 32);
        if (state === null) throw new Error("/api/v1/alerts: an alert without a state");
        return {
          labels: strings(alert?.["labels"], "labels"),
          annotations: strings(alert?.["annotations"], "annotations"),
          state,
        };
      });
    },
    rules() {
      return apiData(`${base}/api/v1/rules`);
    },
    log: async () => (await logs).slice(-2000),
    stop() {
      stopped ??= (async () => {
        signal("SIGTERM");
        const timer = setTimeout(() => signal("SIGKILL"), 5000);
        await child.status;
        clearTimeout(timer);
        await logs;
        await Deno.remove(dir, { recursive: true });
      })();
      return stopped;
    },
  };
}
