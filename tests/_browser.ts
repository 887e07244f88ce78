/**
 * Shared test helper: a real headless Chromium (Debian's `chromium`, installed by `.ci/run`)
 * driven over the DevTools protocol, so a test can open a page and poll its rendered DOM (the
 * same serialization as `chromium --dump-dom`) with `waitFor` until the page's scripts have
 * done their work. A fresh `--user-data-dir` per browser; no network services of its own.
 *
 * ```ts
 * const browser = await startBrowser();
 * const page = await browser.open("http://127.0.0.1:8081/");
 * const dom = await waitFor("hashrate shown", async () => {
 *   const html = await page.dom();
 *   return html.includes("H/s") ? html : null;
 * });
 * await browser.close();
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { waitFor } from "./_wait.ts";

/** Chromium's binary. */
export const CHROMIUM = "/usr/bin/chromium";

/** The flags every test browser runs with (headless, no sandbox as root, nothing phoning home). */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-extensions",
  "--disable-default-apps",
  "--mute-audio",
];

/** One open tab. */
export interface BrowserPage {
  /** @returns the page's current DOM as HTML (`document.documentElement.outerHTML`) */
  dom(): Promise<string>;
  /**
   * Evaluates an expression in the page and returns its JSON-serializable value.
   *
   * @param expression JavaScript, awaited if it is a promise
   */
  evaluate(expression: string): Promise<unknown>;
  /** @returns every request the page sent so far (preflights included), in order */
  requests(): { method: string; url: string; type: string }[];
  /**
   * A PNG screenshot of the page at its current size.
   *
   * @returns the PNG bytes
   */
  screenshot(): Promise<Uint8Array>;
}

/** A running browser. */
export interface Browser {
  /**
   * Opens a new tab at a URL.
   *
   * @param url the address
   * @param size the viewport in CSS pixels (default 1200×900)
   */
  open(url: string, size?: { width: number; height: number }): Promise<BrowserPage>;
  /** Closes the browser and removes its profile directory. */
  close(): Promise<void>;
}

/**
 * Fails the calling test loudly when Chromium is missing: browser tests never skip silently.
 */
export function requireChromium(): void {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (see .ci/run)`);
  }
}

/**
 * One-shot `chromium --dump-dom`: loads a URL in a fresh profile, lets the page's scripts run
 * for `budgetMs` of virtual time (network waits do not count against it), and returns the DOM
 * as Chromium serializes it. For pages whose first render is deterministic; poll with
 * {@link startBrowser} when a later refresh may be needed.
 *
 * @param url the address
 * @param budgetMs virtual time for the page's scripts (default 5000: one 10 s refresh cycle)
 * @returns the serialized DOM
 */
export async function dumpDom(url: string, budgetMs = 5000): Promise<string> {
  requireChromium();
  const profile = await Deno.makeTempDir({ prefix: "rf-chromium-" });
  try {
    const out = await new Deno.Command(CHROMIUM, {
      args: [
        ...CHROMIUM_FLAGS,
        `--user-data-dir=${profile}`,
        `--virtual-time-budget=${budgetMs}`,
        "--dump-dom",
        url,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    if (!out.success) {
      throw new Error(`chromium --dump-dom failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return new TextDecoder().decode(out.stdout);
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/**
 * Starts headless Chromium with a fresh profile and connects to its DevTools endpoint.
 *
 * @returns the browser
 */
export async function startBrowser(): Promise<Browser> {
  requireChromium();
  const profile = await Deno.makeTempDir({ prefix: "rf-chromium-" });
  const child = new Deno.Command(CHROMIUM, {
    args: [
      ...CHROMIUM_FLAGS,
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let alive = true;
  const exited = child.status.then(() => (alive = false));
  const cleanup = async (): Promise<void> => {
    if (alive) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    await exited;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };
  let socket: WebSocket;
  try {
    const endpoint = await waitFor("Chromium's DevTools endpoint", () => {
      if (!alive) throw new Error("chromium exited before its DevTools endpoint was up");
      const [port, path] = Deno.readTextFileSync(join(profile, "DevToolsActivePort")).split("\n");
      return port && path ? `ws://127.0.0.1:${port}${path}` : null;
    }, { limitMs: 60_000 });
    socket = new WebSocket(endpoint);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error("DevTools websocket failed"));
    });
  } catch (error) {
    await cleanup();
    throw error;
  }

  let next = 1;
  const pending = new Map<
    number,
    { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  const events: { method: string; sessionId: string; params: Record<string, unknown> }[] = [];
  socket.onmessage = (event) => {
    const message = record(JSON.parse(String(event.data)));
    const id = message["id"];
    if (typeof message["method"] === "string") {
      events.push({
        method: message["method"],
        sessionId: String(message["sessionId"] ?? ""),
        params: record(message["params"]),
      });
    }
    const waiter = typeof id === "number" ? pending.get(id) : undefined;
    if (waiter === undefined || typeof id !== "number") return;
    pending.delete(id);
    if (message["error"] !== undefined) {
      waiter.reject(new Error(`DevTools: ${JSON.stringify(message["error"])}`));
    } else waiter.resolve(record(message["result"]));
  };
  socket.onclose = () => {
    for (const waiter of pending.values()) waiter.reject(new Error("DevTools connection closed"));
    pending.clear();
  };
  const send = (
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> => {
    const id = next++;
    socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  };

  return {
    async open(url, size = { width: 1200, height: 900 }) {
      const target = await send("Target.createTarget", { url: "about:blank" });
      const attached = await send("Target.attachToTarget", {
        targetId: target["targetId"],
        flatten: true,
      });
      const session = String(attached["sessionId"]);
      await send("Emulation.setDeviceMetricsOverride", {
        ...size,
        deviceScaleFactor: 1,
        mobile: false,
      }, session);
      await send("Network.enable", {}, session);
      await send("Page.navigate", { url }, session);
      const evaluate = async (expression: string): Promise<unknown> => {
        const out = await send(
          "Runtime.evaluate",
          { expression, returnByValue: true, awaitPromise: true },
          session,
        );
        return record(out["result"])["value"];
      };
      return {
        evaluate,
        dom: async () => String(await evaluate("document.documentElement.outerHTML")),
        requests: () =>
          events.filter((e) => e.sessionId === session && e.method === "Network.requestWillBeSent")
            .map((e) => {
              const request = record(e.params["request"]);
              return {
                method: String(request["method"]),
                url: String(request["url"]),
                type: String(e.params["type"] ?? ""),
              };
            }),
        async screenshot() {
          const shot = await send("Page.captureScreenshot", { format: "png" }, session);
          const binary = atob(String(shot["data"]));
          return Uint8Array.from(binary, (c) => c.charCodeAt(0));
        },
      };
    },
    async close() {
      try {
        socket.close();
      } catch {
        // already closed
      }
      await cleanup();
    },
  };
}

/** A JSON value as an object (anything else: an empty one). */
function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? Object.fromEntries(Object.entries(value))
    : {};
}
