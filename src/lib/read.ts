/**
 * The one home of bounded reads: reading a file, a stream or a child's output never takes more
 * than a cap, and a file handle is always closed. Callers turn "over the cap" into their own
 * reason (`unreadable`, `too large`).
 *
 * @module
 */

/** Anything read in chunks into a caller's buffer (`Deno.FsFile`). */
export interface ByteReader {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** The largest chunk read at once, in bytes. */
const CHUNK_BYTES = 65536;

/**
 * Reads until the end or until more than `maxBytes` arrived, whichever comes first.
 *
 * @param reader an open file
 * @param maxBytes the cap, in bytes
 * @returns the bytes read: at most `maxBytes + 1`, so a longer length means over the cap
 */
export async function readUpTo(reader: ByteReader, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (total <= maxBytes) {
    const buffer = new Uint8Array(Math.min(CHUNK_BYTES, maxBytes + 1 - total));
    const n = await reader.read(buffer);
    if (n === null) break;
    chunks.push(buffer.subarray(0, n));
    total += n;
  }
  return concatBytes(chunks);
}

/**
 * Fills `buffer` from `reader` until it is full or the reader ends.
 *
 * @param reader an open file (positioned where the read starts)
 * @param buffer where the bytes go
 * @returns how many bytes were read
 */
export async function readInto(reader: ByteReader, buffer: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await reader.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/**
 * Reads a whole stream (an HTTP body), cancelling it as soon as more than `maxBytes` arrived.
 *
 * @param stream the body
 * @param maxBytes the cap, in bytes
 * @returns the bytes, or `null` when the stream was longer than the cap
 */
export async function readStreamUpTo(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      // The rest is not wanted; a failing cancel leaves nothing behind to report.
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return concatBytes(chunks);
}

/**
 * Joins chunks into one array.
 *
 * @param chunks the pieces, in order
 * @returns their bytes, contiguous
 */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Closes a handle that may already be closed (a `finally` after a failed open or read). Only
 * "already closed" (`BadResource`) is expected; anything else is rethrown.
 *
 * @param handle the file, or `undefined` when it was never opened
 * @throws {Error} when closing fails for another reason
 */
export function closeQuietly(handle: { close(): void } | undefined): void {
  try {
    handle?.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}
