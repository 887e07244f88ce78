/**
 * The one way tests wait: poll a condition until it holds or a generous limit passes.
 *
 * Tests assert behaviour, never wall-clock speed: CI shares two cores with other work, so a
 * fixed sleep is either too short (flaky) or too long (slow). Wait for the condition instead;
 * the limit only stops a broken run from hanging, and its failure names what never happened.
 *
 * @module
 */

/** Options for {@linkcode waitFor}. */
export interface WaitOptions {
  /** Give up after this many milliseconds (default 10 000). */
  limitMs?: number;
  /** Milliseconds between polls (default 20). */
  everyMs?: number;
}

/**
 * Polls `predicate` until it returns a value other than `false`, `null` or `undefined`, and
 * returns that value. A predicate that throws is polled again; the last error is reported if
 * the limit passes.
 *
 * @param what Names the condition in the failure message ("the probe ran twice").
 */
export async function waitFor<T>(
  what: string,
  predicate: () => T | false | null | undefined | Promise<T | false | null | undefined>,
  options: WaitOptions = {},
): Promise<T> {
  const limitMs = options.limitMs ?? 10_000;
  const everyMs = options.everyMs ?? 20;
  const deadline = performance.now() + limitMs;
  let lastError: unknown = undefined;
  for (;;) {
    try {
      const value = await predicate();
      if (value !== false && value !== null && value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() > deadline) {
      const cause = lastError === undefined ? "" : `: last error: ${String(lastError)}`;
      throw new Error(`timed out after ${limitMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
