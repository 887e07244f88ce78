// The status page's script, inlined into `status_page.html` by `status_page.ts` at start-up and
// allowed by the page's Content-Security-Policy through its sha256 hash. It reads `/2/summary`
// and `/health` from the page's own origin every 10 s and renders every value with
// `textContent` (never as HTML): XMRig's strings and RigForge's files are outside input.
// The token lives in sessionStorage (typed once, or taken from `#token=...`, which is then
// removed from the address bar); it is sent only as `Authorization: Bearer`.

const REFRESH_MS = 10_000;
const MAX_BACKOFF_MS = 300_000;
const CHART_POINTS = 360;
const TOKEN_KEY = "rigforge-api-token";

/**
 * A hashrate as text: H/s below 10 000, kH/s, MH/s above.
 *
 * @param {unknown} value hashes per second, or null
 * @returns {string}
 */
export function formatHashrate(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  if (value >= 1e7) return `${(value / 1e6).toFixed(2)} MH/s`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(2)} kH/s`;
  return `${value.toFixed(1)} H/s`;
}

/**
 * A duration in seconds as `3d 4h`, `4h 12m`, `12m 5s`, `5s`.
 *
 * @param {unknown} seconds
 * @returns {string}
 */
export function formatDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/**
 * The snapshot's freshness as one plain sentence and a colour class.
 *
 * @param {unknown} snapshot `rigforge.snapshot` of `/2/summary` (or `/health`'s `snapshot`)
 * @returns {{ text: string, tone: string }}
 */
export function freshnessLine(snapshot) {
  const s = isObject(snapshot) ? snapshot : {};
  const age = typeof s.age_s === "number" ? `${formatDuration(s.age_s)} old` : "age unknown";
  if (s.status === "fresh") {
    const every = typeof s.interval_s === "number" ? `, probed every ${s.interval_s} s` : "";
    return { text: `Rig data is fresh: snapshot ${age}${every}.`, tone: "ok" };
  }
  if (s.status === "stale") {
    const limit = typeof s.stale_after_s === "number" ? ` (stale after ${s.stale_after_s} s)` : "";
    return {
      text: `Rig data is STALE: snapshot ${age}${limit}. Health, power and tune values may be ` +
        "out of date; doctor cannot tell.",
      tone: "warn",
    };
  }
  if (s.status === "missing") {
    const why = typeof s.read_error === "string" ? ` (${s.read_error})` : "";
    return {
      text: `Rig data is MISSING: no snapshot could be read${why}. Health, power and tune ` +
        "values cannot be told.",
      tone: "bad",
    };
  }
  return { text: "Rig data: cannot tell how fresh it is.", tone: "unknown" };
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} value
 * @param {string} path dotted path
 * @returns {unknown}
 */
function pick(value, path) {
  let at = value;
  for (const key of path.split(".")) {
    if (Array.isArray(at) && /^\d+$/.test(key)) at = at[Number(key)];
    else if (isObject(at)) at = at[key];
    else return undefined;
  }
  return at;
}

/**
 * Text for a value that may be null: the value, or "cannot tell" with the served reason.
 *
 * @param {unknown} value
 * @param {(v: unknown) => string} format
 * @param {unknown} reason
 * @returns {string}
 */
function orReason(value, format, reason) {
  if (!absent(value)) return format(value);
  return typeof reason === "string" ? `cannot tell (${reason})` : "cannot tell";
}

/**
 * @param {unknown} v
 * @returns {v is null | undefined}
 */
function absent(v) {
  return v === null || v === undefined;
}

/** @param {unknown} v */
function text(v) {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : "—";
}

/**
 * The page's browser side. Not run outside a browser (tests import the helpers above).
 */
function start() {
  const $ = (/** @type {string} */ id) => {
    const node = document.getElementById(id);
    if (node === null) throw new Error(`status page: #${id} missing`);
    return node;
  };
  const set = (/** @type {string} */ id, /** @type {string} */ value, tone = "") => {
    const node = $(id);
    node.textContent = value;
    if (tone !== "") node.className = tone;
  };
  /** @type {number[]} */
  const seen = [];
  let delay = REFRESH_MS;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  const fragment = /^#token=(.+)$/.exec(location.hash);
  if (fragment !== null) {
    try {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(fragment[1] ?? ""));
    } catch {
      // storage refused (private mode): the prompt asks again
    }
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = () => {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  };

  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($("token"));
    try {
      sessionStorage.setItem(TOKEN_KEY, input.value);
    } catch {
      // kept for this load only below
    }
    input.value = "";
    schedule(0);
  });

  /** @param {string} path */
  async function get(path) {
    const bearer = token();
    const headers = bearer === null || bearer === "" ? {} : { Authorization: `Bearer ${bearer}` };
    const response = await fetch(path, { headers, cache: "no-store" });
    const body = response.ok ? await response.json() : null;
    return { status: response.status, retryAfter: response.headers.get("Retry-After"), body };
  }

  /** @param {number} ms */
  function schedule(ms) {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }

  async function refresh() {
    let summary, health;
    try {
      [summary, health] = await Promise.all([get("/2/summary"), get("/health")]);
    } catch (error) {
      const what = error instanceof SyntaxError
        ? "answered something that is not JSON"
        : "unreachable";
      set("updated", `API ${what} at ${new Date().toLocaleTimeString()}; retrying`, "bad");
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      return schedule(delay);
    }
    const statuses = [summary.status, health.status];
    if (statuses.includes(401) || statuses.includes(403)) {
      $("auth").hidden = false;
      $("main").hidden = true;
      set(
        "auth-why",
        statuses.includes(403)
          ? "The token was refused (403). Type the rig's access token."
          : "This API needs a token (401). Type the rig's access token.",
      );
      set("fresh", "Waiting for a token.", "unknown");
      return;
    }
    if (statuses.includes(429)) {
      const hint = Number(summary.retryAfter ?? health.retryAfter);
      delay = Math.min(
        Math.max(delay * 2, Number.isFinite(hint) ? hint * 1000 : 0),
        MAX_BACKOFF_MS,
      );
      set("updated", `Busy (429): next try in ${Math.round(delay / 1000)} s`, "warn");
      return schedule(delay);
    }
    delay = REFRESH_MS;
    $("auth").hidden = true;
    $("main").hidden = false;
    if (summary.body === null || health.body === null) {
      set("updated", `API answered ${statuses.join(" / ")}; retrying`, "bad");
      return schedule(delay);
    }
    render(summary.body, health.body);
    set("updated", `Updated ${new Date().toLocaleTimeString()}`, "dim");
    schedule(delay);
  }

  /**
   * @param {unknown} summary `/2/summary`
   * @param {unknown} health `/health`
   */
  function render(summary, health) {
    const rf = pick(summary, "rigforge");
    const reasons = pick(rf, "reasons");
    const why = (/** @type {string} */ key) => isObject(reasons) ? reasons[key] : undefined;
    const fresh = freshnessLine(pick(rf, "snapshot"));
    set("fresh", fresh.text, fresh.tone);

    const worker = pick(summary, "worker_id");
    set("rig", typeof worker === "string" && worker !== "" ? worker : "RigForge rig");
    document.title = `${text(worker)} · RigForge`;
    const reachable = pick(rf, "xmrig_api") === "ok";
    set(
      "xmrig",
      reachable
        ? `XMRig ${text(pick(summary, "version"))} reachable`
        : `XMRig unreachable: ${text(pick(rf, "xmrig_error"))}`,
      `pill ${reachable ? "ok" : "bad"}`,
    );

    const total = pick(summary, "hashrate.total");
    const rates = Array.isArray(total) ? total : [];
    set("hr-10s", formatHashrate(rates[0]));
    set("hr-60s", formatHashrate(rates[1]));
    set("hr-15m", formatHashrate(rates[2]));
    set("hr-max", formatHashrate(pick(summary, "hashrate.highest")));
    if (typeof rates[0] === "number") {
      seen.push(rates[0]);
      if (seen.length > CHART_POINTS) seen.shift();
    }
    chart();
    const gaps = rates.length < 3 || rates.slice(0, 3).some((v) => typeof v !== "number");
    set(
      "chart-note",
      (seen.length === 0
        ? "10 s hashrate since this page opened: no sample yet"
        : `10 s hashrate since this page opened: ${seen.length} samples, ` +
          `min ${formatHashrate(Math.min(...seen))}, max ${formatHashrate(Math.max(...seen))}`) +
        (gaps ? ". — : XMRig has no figure for that window yet." : "."),
      "dim",
    );

    set("pool", reachable ? text(pick(summary, "connection.pool")) : "—");
    const good = pick(summary, "results.shares_good");
    const all = pick(summary, "results.shares_total");
    set("shares", reachable ? `${text(good)} good of ${text(all)}` : "—");
    set("rejected", reachable ? text(pick(summary, "connection.rejected")) : "—");
    set("uptime", reachable ? formatDuration(pick(summary, "uptime")) : "—");
    set("algo", reachable ? text(pick(summary, "algo")) : "—");

    const watts = pick(rf, "power.watts");
    set("watts", orReason(watts, (v) => `${text(v)} W`, why("power.watts")));
    const hpw = pick(rf, "power.hs_per_watt");
    set("hpw", orReason(hpw, (v) => `${text(v)} H/s per W`, why("power.hs_per_watt")));
    // The server's comparison (rigforge.tune.vs_best): the window the tune measured, stated.
    const gap = pick(rf, "tune.vs_best");
    const pct = pick(gap, "pct_of_best");
    const basis = pick(gap, "basis");
    set(
      "best-pct",
      typeof pct === "number"
        ? `${pct.toFixed(1)} % of ${
          basis === "hs_per_watt"
            ? `${text(pick(gap, "best"))} H/s per W`
            : formatHashrate(pick(gap, "best"))
        } (${text(pick(gap, "window"))} ${basis === "hs_per_watt" ? "H/s per W" : "hashrate"})`
        : orReason(null, text, why("tune.vs_best") ?? "no tune run recorded"),
    );
    set("tune-target", orReason(pick(rf, "tune.target"), text, why("tune.target")));
    const enabled = pick(rf, "tune.autotune.enabled");
    const next = pick(rf, "tune.autotune.next");
    set(
      "tune-next",
      enabled === false ? "autotune off" : orReason(
        next,
        (v) => `${text(v)} (${text(pick(rf, "tune.autotune.schedule"))})`,
        why("tune.autotune.next"),
      ),
    );

    set("cpu", text(pick(summary, "cpu.brand") ?? pick(health, "cpu.model_name")));
    const vendor = pick(health, "firmware.vendor");
    const board = pick(health, "firmware.board");
    set(
      "board",
      absent(vendor) && absent(board)
        ? orReason(null, text, why("health.firmware.board"))
        : `${text(vendor)} ${text(board)}`,
    );
    const bios = pick(health, "firmware.bios_version");
    set(
      "firmware",
      absent(bios)
        ? orReason(null, text, why("health.firmware.bios_version"))
        : `BIOS ${text(bios)} (${text(pick(health, "firmware.bios_date"))})`,
    );
    const mts = pick(health, "ram.mts");
    const rated = pick(health, "ram.rated_mts");
    set(
      "ram",
      `${text(pick(health, "ram.modules"))} modules, ${text(pick(health, "ram.channels"))} ` +
        `channels, ${text(mts)} of ${text(rated)} MT/s`,
    );
    const xmp = pick(health, "xmp");
    set("xmp", xmp === true ? "on" : xmp === false ? "off" : "cannot tell");
    const temp = pick(health, "watchdog.temp_c");
    set("temp", orReason(temp, (v) => `${text(v)} °C`, why("watchdog.temp_c")));

    doctor(pick(health, "doctor"), pick(health, "snapshot.status"));
  }

  /**
   * @param {unknown} verdict `/health`'s `doctor`
   * @param {unknown} status the snapshot's status
   */
  function doctor(verdict, status) {
    const list = $("checks");
    list.replaceChildren();
    if (!isObject(verdict)) {
      set("verdict", "cannot tell", "pill unknown");
      const item = document.createElement("li");
      item.className = "unknown";
      item.textContent = status === "fresh"
        ? "Doctor's verdict is not available from this server."
        : "Doctor cannot tell: the snapshot is not fresh.";
      list.append(item);
      return;
    }
    const issues = Array.isArray(verdict.issues) ? verdict.issues : [];
    const warnings = Array.isArray(verdict.warnings) ? verdict.warnings : [];
    const needsRoot = Array.isArray(verdict.needs_root) ? verdict.needs_root : [];
    set(
      "verdict",
      `${issues.length} issues, ${warnings.length} warnings`,
      `pill ${issues.length > 0 ? "issue" : warnings.length > 0 ? "warn" : "ok"}`,
    );
    const add = (/** @type {unknown} */ check, /** @type {string} */ tone) => {
      const item = document.createElement("li");
      item.className = "check";
      item.dataset.verdict = tone;
      item.dataset.id = text(pick(check, "id"));
      const label = document.createElement("span");
      label.className = `pill ${tone}`;
      label.textContent = tone;
      const title = document.createElement("b");
      title.textContent = ` ${text(pick(check, "title"))}`;
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = text(pick(check, "detail"));
      item.append(label, title, detail);
      list.append(item);
    };
    for (const check of issues) add(check, "issue");
    for (const check of warnings) add(check, "warn");
    for (const id of needsRoot) {
      add({ id, title: String(id), detail: "needs root to decide" }, "unknown");
    }
    if (issues.length + warnings.length + needsRoot.length === 0) {
      const item = document.createElement("li");
      item.className = "ok";
      item.textContent = "Every check passed.";
      list.append(item);
    }
  }

  function chart() {
    const svg = $("chart");
    const ns = "http://www.w3.org/2000/svg";
    svg.replaceChildren();
    if (seen.length === 0) return;
    const max = Math.max(...seen) * 1.1 || 1;
    const x = (/** @type {number} */ i) => seen.length === 1 ? 300 : (600 * i) / (seen.length - 1);
    const y = (/** @type {number} */ v) => 76 - (72 * v) / max;
    if (seen.length === 1) {
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", String(x(0)));
      dot.setAttribute("cy", String(y(seen[0] ?? 0)));
      dot.setAttribute("r", "3");
      svg.append(dot);
      return;
    }
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute(
      "points",
      seen.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
    );
    svg.append(line);
  }

  schedule(0);
}

if (typeof document !== "undefined") start();
