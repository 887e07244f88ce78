/**
 * `deno task screenshot`: renders the status page in headless Chromium over the Zen 4 fixture rig
 * (fresh snapshot, RigForge home, XMRig stand-in replaying a real XMRig 6.26.0 summary), waits
 * until the page has refreshed three times (so the hashrate chart has a line), and writes
 * `docs/status-page.png` (shown in the README).
 *
 * @module
 */

import { join } from "node:path";
import { locate } from "../src/rigforge/locate.ts";
import { startBrowser } from "./_browser.ts";
import { startServe, writeFreshSnapshot } from "./_serve.ts";
import { RIGFORGE_DIR } from "./_snapshot.ts";
import { waitFor } from "./_wait.ts";
import { startStandin } from "./_xmrig_standin.ts";

const OUT = join(import.meta.dirname!, "..", "docs", "status-page.png");
const home = join(RIGFORGE_DIR, "zen4");
const { config } = await locate(home);
const token = config?.accessToken ?? "";

const xmrig = await startStandin();
const serve = await startServe({
  xmrig: xmrig.url,
  homeFrom: home,
  args: ["--rate", "0", "--global-rate", "0"],
});
const browser = await startBrowser();
try {
  await writeFreshSnapshot(serve.snapshot, "zen4");
  const page = await browser.open(
    `http://127.0.0.1:${serve.port}/#token=${encodeURIComponent(token)}`,
    { width: 1200, height: 780 },
  );
  await waitFor("three refreshes with XMRig reachable", async () => {
    await writeFreshSnapshot(serve.snapshot, "zen4");
    const points = await page.evaluate(
      `document.querySelector("#chart polyline")?.getAttribute("points").split(" ").length ?? 0`,
    );
    const xmrigText = await page.evaluate(`document.getElementById("xmrig").textContent`);
    return Number(points) >= 3 && String(xmrigText).endsWith("reachable");
  }, { limitMs: 120_000, everyMs: 1000 });
  await Deno.writeFile(OUT, await page.screenshot());
} finally {
  await browser.close();
  await serve.stop();
  await xmrig.close();
}
