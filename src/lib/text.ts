/**
 * The one home of control-character cleaning for text from outside (kernel strings in `/sys`
 * and `/proc`, XMRig's and RigForge's logs, RigForge's status files, label values): nothing we
 * serve or print may carry a terminal escape or a control character.
 *
 * @module
 */

/**
 * Every control character: C0 (U+0000–U+001F, tab and line feed included), DEL (U+007F) and C1
 * (U+0080–U+009F, where U+009B is a one-character CSI).
 */
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// deno-lint-ignore no-control-regex
const CONTROL_RUN = /[\u0000-\u001f\u007f-\u009f]+/g;

/**
 * ANSI/ECMA-48 control sequences (CSI: `ESC [`, parameter bytes, intermediate bytes, a final
 * byte), as in colours `ESC[1;31m` and cursor codes `ESC[?25l`. Other escapes (OSC titles, two
 * character escapes) are left to {@link dropControl}, which removes their `ESC` and `BEL`.
 */
// deno-lint-ignore no-control-regex
const ANSI_CSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;

/**
 * Replaces every control character with `replacement`.
 *
 * @param text untrusted text
 * @param replacement what each control character becomes (default: nothing)
 * @returns the text without control characters
 */
export function dropControl(text: string, replacement = ""): string {
  return text.replace(CONTROL, replacement);
}

/**
 * Replaces every run of control characters with one `replacement` (free text such as a status
 * reason, where a line break reads as a space).
 *
 * @param text untrusted text
 * @param replacement what each run becomes (default: a space)
 * @returns the text without control characters
 */
export function collapseControl(text: string, replacement = " "): string {
  return text.replace(CONTROL_RUN, replacement);
}

/**
 * Removes whole ANSI control sequences (colours, cursor codes), leaving the text they decorate.
 * The `ESC` of any other escape stays, for {@link dropControl}.
 *
 * @param text untrusted text, such as a coloured log line
 * @returns the text without CSI sequences
 */
export function stripAnsi(text: string): string {
  return text.replace(ANSI_CSI, "");
}

/**
 * An internal error as one log line: its type and first line, control characters dropped, at
 * most 200 characters (no request or file data is added here; the caller names where it was).
 *
 * @param error what was thrown
 * @returns the line
 */
export function describeError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return dropControl(text.split("\n")[0] ?? "").slice(0, 200);
}
