import { createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { DEK_SIZE, NONCE_SIZE, SEALED_SEGMENT_SIZE, SEGMENT_SIZE, TAG_SIZE } from './constants.ts';
import { EnvelopeError } from './errors.ts';
import { segmentNonce } from './nonce.ts';
import { segmentCount, segmentPlainLength } from './size.ts';
import { fullWindow, planWindow, type SegmentWindow } from './window.ts';

export type SegmentOpenerOptions = {
  dek: Buffer;
  /** The object nonce (single-part) or part nonce. */
  nonce: Buffer;
  /** AAD_V1 for a single-part object, the part's 256-byte header for a part. */
  aad: Buffer;
  /** Of the object or part; it fixes the segment count and so which segment carries the last flag. */
  plaintextSize: number;
  /** The stored bytes fed in are exactly window.cipherStart..cipherEndInclusive; all segments if absent. */
  window?: SegmentWindow;
};

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

/**
 * The one place sealed segments are opened, for single-part objects and multipart parts alike. It is
 * synchronous and knows nothing of streams: the caller feeds stored bytes, gets verified plaintext
 * through `release`, and decides what may follow the window (nothing for a single-part object, the
 * next part header inside a multipart object). The plaintext of the window's last segment is not
 * released but held, because only the caller knows when it is safe to let it go.
 */
export class SegmentOpener {
  /**
   * A KeyObject made once per stream: creating a cipher from a KeyObject is about twice as fast as from a
   * Buffer, which Node turns into a key anew for every segment. Node keeps its own copy, freed with the object;
   * the caller still zeroes its Buffer.
   */
  readonly #dek: KeyObject;
  readonly #nonce: Buffer;
  readonly #aad: Buffer;
  readonly #plainSize: number;
  readonly #segmentCount: number;
  readonly #lastSegment: number;
  readonly #releaseStart: number;
  readonly #releaseEnd: number;
  /** Stored bytes of the whole window. */
  readonly storedLength: number;
  // Allocated only when a segment arrives split across writes.
  #buffer: Buffer | undefined;
  #filled = 0;
  #segment: number;
  #sealedLength: number;
  #consumed = 0;
  #held: Buffer | undefined;
  #done = false;

  constructor(options: SegmentOpenerOptions) {
    if (options.dek.length !== DEK_SIZE) throw new RangeError(`DEK must be ${DEK_SIZE} bytes`);
    if (options.nonce.length !== NONCE_SIZE) throw new RangeError(`nonce must be ${NONCE_SIZE} bytes`);
    const plainSize = options.plaintextSize;
    this.#segmentCount = segmentCount(plainSize);
    const window = options.window ?? fullWindow(plainSize);
    if (!fitsPlaintext(window, plainSize)) {
      throw new RangeError(`segment window does not fit a ${plainSize}-byte plaintext`);
    }
    this.#dek = createSecretKey(options.dek);
    this.#nonce = options.nonce;
    this.#aad = options.aad;
    this.#plainSize = plainSize;
    this.#lastSegment = window.lastSegment;
    this.#releaseStart = window.firstSegment * SEGMENT_SIZE + window.skip;
    this.#releaseEnd = this.#releaseStart + window.length;
    this.storedLength = window.cipherEndInclusive - window.cipherStart + 1;
    this.#segment = window.firstSegment;
    this.#sealedLength = segmentPlainLength(plainSize, this.#segment) + TAG_SIZE;
  }

  /** Every segment of the window has been opened and verified. */
  get done(): boolean {
    return this.#done;
  }

  /** Stored bytes consumed so far. */
  get consumed(): number {
    return this.#consumed;
  }

  /**
   * Consumes stored bytes from `chunk[offset..]`, never past the end of the window, opening each segment
   * as soon as its bytes are complete. Returns how many bytes it consumed (less than offered only once
   * done). Throws SEGMENT_AUTH_FAILED on a tag that does not verify; nothing of that segment is released.
   */
  write(chunk: Buffer, offset: number, release: (plaintext: Buffer) => void): number {
    const start = offset;
    while (offset < chunk.length && !this.#done) {
      const need = this.#sealedLength - this.#filled;
      const available = chunk.length - offset;
      if (this.#filled === 0 && available >= need) {
        this.#consumed += need;
        this.#openSegment(chunk.subarray(offset, offset + need), release);
        offset += need;
        continue;
      }
      this.#buffer ??= Buffer.allocUnsafe(SEALED_SEGMENT_SIZE);
      const take = Math.min(need, available);
      chunk.copy(this.#buffer, this.#filled, offset, offset + take);
      this.#filled += take;
      this.#consumed += take;
      offset += take;
      if (this.#filled === this.#sealedLength) {
        this.#openSegment(this.#buffer.subarray(0, this.#filled), release);
        this.#filled = 0;
      }
    }
    return offset - start;
  }

  /** The verified plaintext of the window's last segment (within the window), once done; else TRUNCATED. */
  takeHeld(): Buffer {
    if (!this.#done || this.#held === undefined) {
      throw new EnvelopeError(
        'TRUNCATED',
        `stored data ended after ${this.#consumed} of the expected ${this.storedLength} bytes`,
      );
    }
    const held = this.#held;
    this.#held = undefined;
    return held;
  }

  /** Zeroes the partial segment it buffered; held plaintext is dropped. */
  dispose(): void {
    this.#buffer?.fill(0);
    this.#held = undefined;
  }

  #openSegment(sealed: Buffer, release: (plaintext: Buffer) => void): void {
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
      this.#done = true;
      return;
    }
    if (released.length > 0) release(released);
    this.#segment = index + 1;
    this.#sealedLength = segmentPlainLength(this.#plainSize, this.#segment) + TAG_SIZE;
  }
}
