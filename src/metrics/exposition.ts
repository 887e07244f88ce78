/**
 * The Prometheus wire formats `/metrics` speaks: the text exposition format 0.0.4 and
 * OpenMetrics 1.0.0, chosen from the request's `Accept` header. Pure: metric families in, text
 * out. What the families hold is decided in `src/metrics.ts`.
 *
 * Naming is checked here once, so a bad name is a bug caught by the tests rather than a scrape
 * that Prometheus rejects: a counter's name ends in `_total`, an info metric's in `_info`, and a
 * declared unit is the suffix of the family name (OpenMetrics' `# UNIT` rule).
 *
 * @module
 */

import { dropControl } from "../lib/text.ts";

/** Metric types used by rigforge-api. An `info` metric is written as a gauge of 1 in 0.0.4. */
export type MetricKind = "gauge" | "counter" | "info";

/** The two exposition formats. */
export type ExpositionFormat = "text" | "openmetrics";

/** `Content-Type` of the text exposition format 0.0.4. */
export const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** `Content-Type` of OpenMetrics 1.0.0. */
export const OPENMETRICS_CONTENT_TYPE =
  "application/openmetrics-text; version=1.0.0; charset=utf-8";

/** One sample: label pairs (name, value) and a value. */
export interface Sample {
  labels: readonly (readonly [string, string])[];
  value: number;
}

/** One metric family as written in the 0.0.4 text format. */
export interface MetricFamily {
  /** The sample name: ends in `_total` for counters and `_info` for info metrics. */
  name: string;
  kind: MetricKind;
  /** One line of help; constant text, never data. */
  help: string;
  /** Base unit (`seconds`, `watts`, `joules`, `celsius`, `bytes`, `ratio`, ...), if any. */
  unit?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Longest label value written; longer values are cut (label values come from files). */
export const MAX_LABEL_VALUE = 128;

/**
 * The OpenMetrics family name of a metric: the name without the `_total` (counter) or `_info`
 * (info) suffix.
 *
 * @param family the family
 * @returns the family name
 * @throws {Error} when the name breaks the conventions (a programming error)
 */
export function familyName(family: MetricFamily): string {
  const { name, kind, unit } = family;
  if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
  let base = name;
  if (kind === "counter") {
    if (!name.endsWith("_total")) throw new Error(`counter ${name} must end in _total`);
    base = name.slice(0, -"_total".length);
  } else if (kind === "info") {
    if (!name.endsWith("_info")) throw new Error(`info metric ${name} must end in _info`);
    base = name.slice(0, -"_info".length);
  } else if (name.endsWith("_total") || name.endsWith("_info")) {
    throw new Error(`gauge ${name} must not end in _total or _info`);
  }
  if (unit !== undefined && !base.endsWith(`_${unit}`)) {
    throw new Error(`metric ${name} must end in its unit ${unit}`);
  }
  return base;
}

/**
 * Formats a sample value: integers without a fraction, `NaN`, `+Inf` and `-Inf` as the formats
 * spell them.
 *
 * @param value the value
 * @returns its text
 */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Object.is(value, -0)) return "0";
  return String(value);
}

/**
 * Escapes a label value for both formats (`\` → `\\`, `"` → `\"`, line feed → `\n`), after
 * dropping other control characters and cutting it to {@link MAX_LABEL_VALUE} characters.
 *
 * @param value the raw value (from a file or XMRig's reply: untrusted)
 * @returns the escaped value, without the surrounding quotes
 */
export function escapeLabelValue(value: string): string {
  const clean = value.split("\n").map((line) => dropControl(line)).join("\n");
  return Array.from(clean).slice(0, MAX_LABEL_VALUE).join("")
    .replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(help: string, format: ExpositionFormat): string {
  const escaped = help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
  return format === "openmetrics" ? escaped.replace(/"/g, '\\"') : escaped;
}

function sampleLine(name: string, sample: Sample): string {
  if (sample.labels.length === 0) return `${name} ${formatValue(sample.value)}\n`;
  const pairs = sample.labels.map(([label, value]) => {
    if (!LABEL.test(label) || label.startsWith("__")) throw new Error(`bad label ${label}`);
    return `${label}="${escapeLabelValue(value)}"`;
  });
  return `${name}{${pairs.join(",")}} ${formatValue(sample.value)}\n`;
}

/**
 * Writes metric families in one format. Families without samples are left out entirely (a
 * missing value is omitted, never written as 0). Counter samples that are negative or `NaN`
 * are dropped: both formats forbid them.
 *
 * @param families the families, in output order
 * @param format `text` (0.0.4) or `openmetrics` (1.0.0, ends with `# EOF`)
 * @returns the exposition text, ending with a line feed
 */
export function renderExposition(
  families: readonly MetricFamily[],
  format: ExpositionFormat,
): string {
  const out: string[] = [];
  for (const family of families) {
    const base = familyName(family);
    const samples = family.kind === "counter"
      ? family.samples.filter((s) => s.value >= 0)
      : family.samples.filter((s) => family.kind !== "info" || s.value === 1);
    if (samples.length === 0) continue;
    if (format === "openmetrics") {
      out.push(`# TYPE ${base} ${family.kind}\n`);
      if (family.unit !== undefined) out.push(`# UNIT ${base} ${family.unit}\n`);
      out.push(`# HELP ${base} ${escapeHelp(family.help, format)}\n`);
    } else {
      out.push(`# HELP ${family.name} ${escapeHelp(family.help, format)}\n`);
      out.push(`# TYPE ${family.name} ${family.kind === "info" ? "gauge" : family.kind}\n`);
    }
    for (const sample of samples) out.push(sampleLine(family.name, sample));
  }
  if (format === "openmetrics") out.push("# EOF\n");
  return out.join("");
}

/**
 * Chooses the format from `Accept` header values: OpenMetrics when a media range names
 * `application/openmetrics-text` (version absent or `1.0.0`) with a quality above 0 and at least
 * that of any explicit `text/plain` range; the text format 0.0.4 otherwise (no header,
 * wildcards, or anything unparsable). Serving 0.0.4 is always acceptable to Prometheus.
 *
 * @param accept the `Accept` header values (each may hold several comma-separated ranges)
 * @returns the format to answer in
 */
export function negotiateFormat(accept: readonly string[] | undefined): ExpositionFormat {
  let openmetrics = 0;
  let text = 0;
  for (const range of (accept ?? []).join(",").split(",")) {
    const [type = "", ...params] = range.split(";").map((part) => part.trim());
    let q = 1;
    let version: string | null = null;
    for (const param of params) {
      const eq = param.indexOf("=");
      if (eq < 0) continue;
      const key = param.slice(0, eq).trim().toLowerCase();
      const value = param.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
      if (key === "q") {
        const parsed = Number(value);
        q = /^[01](\.\d{0,3})?$/.test(value) && parsed <= 1 ? parsed : 0;
      } else if (key === "version") version = value;
    }
    const media = type.toLowerCase();
    if (media === "application/openmetrics-text" && (version === null || version === "1.0.0")) {
      openmetrics = Math.max(openmetrics, q);
    } else if (media === "text/plain" && (version === null || version === "0.0.4")) {
      text = Math.max(text, q);
    }
  }
  return openmetrics > 0 && openmetrics >= text ? "openmetrics" : "text";
}

/**
 * The `Content-Type` for a format.
 *
 * @param format the format
 * @returns the header value
 */
export function contentTypeOf(format: ExpositionFormat): string {
  return format === "openmetrics" ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
}
