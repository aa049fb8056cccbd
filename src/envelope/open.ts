import { Transform, type TransformCallback } from 'node:stream';
import { AAD_V1 } from './constants.ts';
import { EnvelopeError } from './errors.ts';
import { SegmentOpener } from './segment-opener.ts';
import type { SegmentWindow } from './window.ts';

export type OpenOptions = {
  dek: Buffer;
  nonce: Buffer;
  /** From the metadata; it fixes the segment count and so which segment carries the last flag. */
  plaintextSize: number;
  /** The stored bytes fed in are exactly window.cipherStart..cipherEndInclusive; the whole object if absent. */
  window?: SegmentWindow;
  /** AAD_V1 unless opening something else sealed the same way (tests of other AADs). */
  aad?: Buffer;
  /**
   * Stored bytes that come before the window and are dropped unread: a read that could not know where
   * the window starts (a suffix range) fetched this many more.
   */
  skip?: number;
};

/**
 * Sealed segments of a single-part object in, verified plaintext out. A segment's plaintext is
 * released only after its tag verified, and the last segment of the window only once the input has
 * ended exactly where it should, so that every failure leaves the reader with a prefix of whole,
 * verified segments.
 */
export function createOpenStream(options: OpenOptions): Transform {
  return new OpenStream(options);
}

class OpenStream extends Transform {
  readonly #opener: SegmentOpener;
  #skip: number;
  readonly #release = (plaintext: Buffer) => {
    this.push(plaintext);
  };

  constructor(options: OpenOptions) {
    super();
    this.#opener = new SegmentOpener({
      dek: options.dek,
      nonce: options.nonce,
      aad: options.aad ?? AAD_V1,
      plaintextSize: options.plaintextSize,
      window: options.window,
    });
    this.#skip = options.skip ?? 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const skipped = Math.min(this.#skip, chunk.length);
      this.#skip -= skipped;
      const used = this.#opener.write(chunk, skipped, this.#release);
      if (skipped + used < chunk.length) {
        throw new EnvelopeError(
          'TRAILING_DATA',
          `stored data continues after the expected ${this.#opener.storedLength} bytes`,
        );
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      const held = this.#opener.takeHeld();
      if (held.length > 0) this.push(held);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#opener.dispose();
    callback(error);
  }
}
