/**
 * `/2/backends` annotated: XMRig's JSON array passed through byte for byte, with one `rigforge`
 * key spliced into the `cpu` backend's object (the same text splice as the summaries':
 * `splice.ts`), carrying the thread layout and knobs RigForge's tune applied, so a dashboard
 * can set XMRig's per-thread hashrate (`threads[]`) beside the tuned layout.
 *
 * @module
 */

import type { XmrigReply } from "../xmrig.ts";
import { int, type Obj, obj } from "../lib/json.ts";
import { maskSecrets } from "../lib/secrets.ts";
import type { Source } from "./source.ts";
import { spliceTopLevel } from "./splice.ts";
import { reasonIn } from "./fields.ts";

/**
 * The byte ranges `[start, end)` of the elements of a top-level JSON array (strings and
 * nesting skipped). The caller guarantees `text` is a JSON array (`JSON.parse` accepted it).
 *
 * @param text the array's JSON text
 * @returns the element ranges, in order
 */
export function arrayElements(text: string): [number, number][] {
  const out: [number, number][] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  let last = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') {
        inString = false;
        last = i;
      }
      continue;
    }
    if (c === " " || c === "\n" || c === "\r" || c === "\t") continue;
    if (depth === 1 && (c === "," || c === "]")) {
      if (start >= 0) out.push([start, last + 1]);
      start = -1;
      if (c === "]") depth--;
      continue;
    }
    if (depth === 1 && start < 0) start = i;
    if (c === '"') inString = true;
    else if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
    last = i;
  }
  return out;
}

/**
 * The annotation for the `cpu` backend: the tuned thread layout and knobs as built
 * (`xmrig/build/config.json`, tune overrides merged in), and the overrides themselves
 * (`tune-overrides.json`), each `null` with a reason in `reasons` when unknown.
 *
 * @param src the snapshot source
 * @returns the annotation
 */
export function backendAnnotation(src: Source): Obj {
  const layout = src.get("layout", "provenance", "xmrig_layout", obj);
  const rx = layout?.["rx"];
  const threads = typeof rx === "number"
    ? (rx > 0 ? rx : null)
    : Array.isArray(rx)
    ? rx.length
    : null;
  // With a layout but no `rx` read: `absent` (no `cpu.rx`: XMRig lays threads out itself) or
  // `unsupported` (XMRig's object form, a list over 4096 entries), from the provenance record.
  const known = typeof rx === "number" || Array.isArray(rx);
  const why = layout === null || known
    ? null
    : reasonIn(src.record("provenance"), "xmrig_layout.rx") ?? "corrupt";
  const note = <T>(key: string, value: T | null) =>
    why === null ? value : src.log.note(key, value, why);
  return {
    rx: note("rx", known ? rx : null),
    threads_configured: note("threads_configured", threads),
    auto_layout: typeof rx === "number"
      ? rx < 0
      : Array.isArray(rx)
      ? false
      : why === "absent"
      ? true
      : note("auto_layout", null),
    cpu: obj(layout?.["cpu"]),
    randomx: obj(layout?.["randomx"]),
    applied: maskSecrets(src.get("applied", "tune", "applied.raw", obj)),
    prefetch_mode: int(obj(layout?.["randomx"])?.["scratchpad_prefetch_mode"]),
    snapshot: src.info.status,
    reasons: src.log.reasons,
  };
}

/**
 * The body of `/2/backends`: XMRig's array with `rigforge` spliced into the `cpu` object, every
 * other byte as XMRig sent it; 503 (XMRig's error form) when XMRig did not answer with an array.
 *
 * @param xmrig XMRig's `/2/backends` reply
 * @param annotation the `rigforge` value for the `cpu` backend
 * @returns status and body text (`text` only with 200)
 */
export function annotatedBackends(
  xmrig: XmrigReply,
  annotation: Obj,
): { status: 200; text: string } | { status: 503 } {
  if (!xmrig.ok) return { status: 503 };
  const text = xmrig.text;
  for (const [start, end] of arrayElements(text)) {
    const element = text.slice(start, end);
    if (!element.startsWith("{")) continue;
    let type: unknown;
    try {
      type = obj(JSON.parse(element))?.["type"];
    } catch {
      continue;
    }
    if (type !== "cpu") continue;
    // Pretty like XMRig (4 spaces; the splice indents it to the member's depth) or compact.
    const json = element.includes("\n")
      ? JSON.stringify(annotation, null, 4)
      : JSON.stringify(annotation);
    const spliced = spliceTopLevel(element, [["rigforge", json]]);
    if (spliced === null) break;
    return { status: 200, text: text.slice(0, start) + spliced + text.slice(end) };
  }
  return { status: 200, text };
}
