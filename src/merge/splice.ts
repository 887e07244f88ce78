/**
 * Byte-exact splicing of extra top-level keys into XMRig's JSON text.
 *
 * XMRig's summaries carry unsigned 64-bit integers (`results.diff_current`,
 * `connection.diff`: 18446744073709551615 in benchmark mode) that `JSON.parse` rounds to
 * 18446744073709552000, so the body is never re-serialized: the new keys are inserted as text
 * before the closing `}` of the top-level object and every byte XMRig sent before its last value
 * is kept.
 *
 * @module
 */

/** A key and its value as JSON text, to be appended to a top-level object. */
export type SpliceEntry = [key: string, jsonText: string];

/**
 * Appends `entries` as the last members of the top-level JSON object in `objectText`, keeping
 * every byte up to the end of the object's last member. The indentation of the new members
 * follows the object's own: XMRig pretty-prints with 4 spaces, so the new keys line up; a
 * compact object gets compact members. `{}` (with any inner whitespace) becomes an object with
 * just the new members.
 *
 * Duplicate keys: XMRig never emits `rigforge` or `generated_at`. Should some future or foreign
 * body carry one, the spliced key comes last and wins in every mainstream parser (`JSON.parse`,
 * Python's `json`, jq all keep the last occurrence); the text is not rewritten to remove it.
 *
 * The caller guarantees `objectText` is a JSON object (the XMRig client only returns bodies that
 * `JSON.parse` accepts as one); anything else returns `null`.
 *
 * @example
 * ```ts
 * spliceTopLevel('{\n    "a": 18446744073709551615\n}', [["b", "1"]]);
 * // '{\n    "a": 18446744073709551615,\n    "b": 1\n}'
 * ```
 *
 * @param objectText the JSON text of an object
 * @param entries keys (plain strings, JSON-escaped here) and their values as JSON text
 * @returns the spliced text, or `null` when `objectText` does not end with `}`
 */
export function spliceTopLevel(objectText: string, entries: readonly SpliceEntry[]): string | null {
  const close = lastNonSpace(objectText, objectText.length - 1);
  if (close < 0 || objectText[close] !== "}") return null;
  const open = firstNonSpace(objectText);
  if (open < 0 || objectText[open] !== "{" || open >= close) return null;
  if (entries.length === 0) return objectText;
  const lastValueEnd = lastNonSpace(objectText, close - 1);
  const empty = lastValueEnd === open;
  const indent = memberIndent(objectText, open, close);
  const separator = indent === null ? "" : `\n${indent}`;
  const colon = indent === null ? ":" : ": ";
  const members = entries.map(([key, json]) =>
    `${separator}${JSON.stringify(key)}${colon}${reindent(json, indent)}`
  );
  const head = objectText.slice(0, lastValueEnd + 1);
  const closing = indent === null ? "}" : `\n${outerIndent(objectText, close)}}`;
  return `${head}${empty ? "" : ","}${members.join(",")}${closing}${objectText.slice(close + 1)}`;
}

function isSpace(char: string | undefined): boolean {
  return char === " " || char === "\n" || char === "\r" || char === "\t";
}

function firstNonSpace(text: string): number {
  for (let i = 0; i < text.length; i++) if (!isSpace(text[i])) return i;
  return -1;
}

function lastNonSpace(text: string, from: number): number {
  for (let i = from; i >= 0; i--) if (!isSpace(text[i])) return i;
  return -1;
}

/**
 * The whitespace in front of each member when the object is pretty-printed (`"    "` for
 * XMRig), or `null` when it is compact (no line break before the first member) or empty.
 */
function memberIndent(text: string, open: number, close: number): string | null {
  const first = firstNonSpace(text.slice(open + 1, close));
  if (first < 0) return null;
  const gap = text.slice(open + 1, open + 1 + first);
  const newline = gap.lastIndexOf("\n");
  return newline < 0 ? null : gap.slice(newline + 1);
}

/** The whitespace in front of the closing brace on its own line (XMRig: none). */
function outerIndent(text: string, close: number): string {
  const lineStart = text.lastIndexOf("\n", close - 1) + 1;
  const before = text.slice(lineStart, close);
  return /^[ \t]*$/.test(before) ? before : "";
}

/** Indents every line after the first of a multi-line JSON value by `indent`. */
function reindent(json: string, indent: string | null): string {
  return indent === null || !json.includes("\n") ? json : json.replaceAll("\n", `\n${indent}`);
}
