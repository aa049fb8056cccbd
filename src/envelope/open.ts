import { createDecipheriv } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AAD_V1, DEK_SIZE, NONCE_SIZE, SEALED_SEGMENT_SIZE, SEGMENT_SIZE, TAG_SIZE } from './constants.ts';
import { EnvelopeError } from './errors.ts';
import { segmentNonce } from './nonce.ts';
import { segmentCount, segmentPlainLength } from './size.ts';
import { fullWindow, planWindow, type SegmentWindow } from './window.ts';

export type OpenOptions = {
  dek: Buffer;
  nonce: Buffer;
  /** From the metadata; it fixes the segment count and so which segment carries the last flag. */
  plaintextSize: number;
  /** The stored bytes fed in are exactly window.cipherStart..cipherEndInclusive; the whole object if absent. */
  window?: SegmentWindow;
  /** AAD_V1 unless opening a multipart part (AAD_V1_PART). */
  aad?: Buffer;
};

/**
 * Sealed segments in, verified plaintext out. A segment's plaintext is released only after its tag
 * verified, and the last segment of the window only once the input has ended exactly where it should,
 * so that every failure leaves the reader with a prefix of whole, verified segments.
 */
export function createOpenStream(options: OpenOptions): Transform {
  return new OpenStream(options);
}

/** A window planned for another size would check the last flag on the wrong segment. */
function fitsPlaintext(window: SegmentWindow, plainSize: number): boolean {
  let expected: SegmentWindow;
  if (window.length === 0) {
    if (plainSize !== 0) return false;
    expected = fullWindow(0);
  } else {
    const start = window.firstSegment * SEGMENT_SIZE + window.skip;
    try {
      expected = planWindow(plainSize, start, start + window.length - 1);
    } catch {
      return false;
    }
  }
  const a = window;
  const b = expected;
  return (
    a.firstSegment === b.firstSegment &&
    a.lastSegment === b.lastSegment &&
    a.cipherStart === b.cipherStart &&
    a.cipherEndInclusive === b.cipherEndInclusive &&
    a.skip === b.skip &&
    a.length === b.length
  );
}

class OpenStream extends Transform {
  readonly #dek: Buffer;
  readonly #nonce: Buffer;
  readonly #aad: Buffer;
  readonly #plainSize: number;
  readonly #segmentCount: number;
  readonly #lastSegment: number;
  readonly #releaseStart: number;
  readonly #releaseEnd: number;
  readonly #expectedStored: number;
  readonly #buffer = Buffer.allocUnsafe(SEALED_SEGMENT_SIZE);
  #filled = 0;
  #segment: number;
  #sealedLength: number;
  #received = 0;
  #held: Buffer | undefined;

  constructor(options: OpenOptions) {
    super();
    if (options.dek.length !== DEK_SIZE) throw new RangeError(`DEK must be ${DEK_SIZE} bytes`);
    if (options.nonce.length !== NONCE_SIZE) throw new RangeError(`nonce must be ${NONCE_SIZE} bytes`);
    const plainSize = options.plaintextSize;
    this.#segmentCount = segmentCount(plainSize);
    const window = options.window ?? fullWindow(plainSize);
    if (!fitsPlaintext(window, plainSize)) {
      throw new RangeError(`segment window does not fit a ${plainSize}-byte plaintext`);
    }
    this.#dek = options.dek;
    this.#nonce = options.nonce;
    this.#aad = options.aad ?? AAD_V1;
    this.#plainSize = plainSize;
    this.#lastSegment = window.lastSegment;
    this.#releaseStart = window.firstSegment * SEGMENT_SIZE + window.skip;
    this.#releaseEnd = this.#releaseStart + window.length;
    this.#expectedStored = window.cipherEndInclusive - window.cipherStart + 1;
    this.#segment = window.firstSegment;
    this.#sealedLength = segmentPlainLength(plainSize, this.#segment) + TAG_SIZE;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      let offset = 0;
      while (offset < chunk.length) {
        if (this.#held !== undefined) {
          throw new EnvelopeError(
            'TRAILING_DATA',
            `stored data continues after the expected ${this.#expectedStored} bytes`,
          );
        }
        const need = this.#sealedLength - this.#filled;
        const available = chunk.length - offset;
        if (this.#filled === 0 && available >= need) {
          this.#received += need;
          this.#openSegment(chunk.subarray(offset, offset + need));
          offset += need;
          continue;
        }
        const take = Math.min(need, available);
        chunk.copy(this.#buffer, this.#filled, offset, offset + take);
        this.#filled += take;
        this.#received += take;
        offset += take;
        if (this.#filled === this.#sealedLength) {
          this.#openSegment(this.#buffer.subarray(0, this.#filled));
          this.#filled = 0;
        }
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.#held === undefined) {
      callback(
        new EnvelopeError(
          'TRUNCATED',
          `stored data ended after ${this.#received} of the expected ${this.#expectedStored} bytes`,
        ),
      );
      return;
    }
    if (this.#held.length > 0) this.push(this.#held);
    this.#held = undefined;
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#buffer.fill(0);
    this.#held = undefined;
    callback(error);
  }

  #openSegment(sealed: Buffer): void {
    const index = this.#segment;
    const bodyLength = sealed.length - TAG_SIZE;
    const decipher = createDecipheriv(
      'aes-256-gcm',
      this.#dek,
      segmentNonce(this.#nonce, index, index === this.#segmentCount - 1),
    );
    decipher.setAAD(this.#aad);
    decipher.setAuthTag(sealed.subarray(bodyLength));
    const plaintext = decipher.update(sealed.subarray(0, bodyLength));
    try {
      decipher.final();
    } catch {
      plaintext.fill(0);
      throw new EnvelopeError('SEGMENT_AUTH_FAILED', `segment ${index} failed authentication`);
    }
    const base = index * SEGMENT_SIZE;
    const released = plaintext.subarray(
      Math.max(0, this.#releaseStart - base),
      Math.min(bodyLength, this.#releaseEnd - base),
    );
    if (index === this.#lastSegment) {
      this.#held = released;
      return;
    }
    if (released.length > 0) this.push(released);
    this.#segment = index + 1;
    this.#sealedLength = segmentPlainLength(this.#plainSize, this.#segment) + TAG_SIZE;
  }
}
