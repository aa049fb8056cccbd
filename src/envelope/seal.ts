import { createCipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AAD_V1, DEK_SIZE, NONCE_SIZE, SEGMENT_SIZE } from './constants.ts';
import { EnvelopeError } from './errors.ts';
import { segmentNonce } from './nonce.ts';
import { encodePartHeader, type PartHeader } from './part-header.ts';
import { segmentCount } from './size.ts';

export type SealOptions = {
  dek: Buffer;
  nonce: Buffer;
  /** When given, input of any other length fails with SIZE_MISMATCH, so a declared length never lies. */
  plaintextSize?: number;
  /** AAD_V1 unless sealing something else the same way (createPartSealStream uses the part header). */
  aad?: Buffer;
};

/** Plaintext in, sealed segments out; holds at most one segment of plaintext. */
export function createSealStream(options: SealOptions): Transform {
  return new SealStream(options);
}

export type PartSealOptions = { dek: Buffer; header: PartHeader };

/**
 * Exactly header.plaintextSize bytes of a part's plaintext in (else SIZE_MISMATCH); out the 256-byte
 * part header, then the part's segments sealed with that header as their AAD: partCiphertextSize(p)
 * bytes in all.
 */
export function createPartSealStream(options: PartSealOptions): Transform {
  const header = encodePartHeader(options.header);
  return new SealStream(
    {
      dek: options.dek,
      nonce: options.header.nonce,
      plaintextSize: options.header.plaintextSize,
      aad: header,
    },
    Buffer.from(header),
  );
}

class SealStream extends Transform {
  /**
   * A KeyObject made once per stream: creating a cipher from a KeyObject is about twice as fast as from a
   * Buffer, which Node turns into a key anew for every segment. Node keeps its own copy, freed with the object;
   * the caller still zeroes its Buffer.
   */
  readonly #dek: KeyObject;
  readonly #nonce: Buffer;
  readonly #aad: Buffer;
  readonly #expectedSize: number | undefined;
  // A full segment stays pending until more input proves it is not the last one.
  readonly #pending = Buffer.allocUnsafe(SEGMENT_SIZE);
  #filled = 0;
  #index = 0;
  #received = 0;
  // A part header: it goes out once the first input is accepted, so an input refused at once emits nothing.
  #prefix: Buffer | undefined;

  constructor(options: SealOptions, prefix?: Buffer) {
    super();
    this.#prefix = prefix;
    if (options.dek.length !== DEK_SIZE) throw new RangeError(`DEK must be ${DEK_SIZE} bytes`);
    if (options.nonce.length !== NONCE_SIZE) throw new RangeError(`nonce must be ${NONCE_SIZE} bytes`);
    if (options.plaintextSize !== undefined) segmentCount(options.plaintextSize);
    this.#dek = createSecretKey(options.dek);
    this.#nonce = options.nonce;
    this.#aad = options.aad ?? AAD_V1;
    this.#expectedSize = options.plaintextSize;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#received += chunk.length;
    if (this.#expectedSize !== undefined && this.#received > this.#expectedSize) {
      callback(
        new EnvelopeError(
          'SIZE_MISMATCH',
          `plaintext is longer than the declared ${this.#expectedSize} bytes`,
        ),
      );
      return;
    }
    try {
      this.#pushPrefix();
      let offset = 0;
      while (offset < chunk.length) {
        if (this.#filled === SEGMENT_SIZE) {
          this.#sealSegment(this.#pending, false);
          this.#filled = 0;
        }
        const available = chunk.length - offset;
        if (this.#filled === 0 && available > SEGMENT_SIZE) {
          // Bytes follow this segment inside the chunk, so it is not the last: seal it without a copy.
          this.#sealSegment(chunk.subarray(offset, offset + SEGMENT_SIZE), false);
          offset += SEGMENT_SIZE;
          continue;
        }
        const take = Math.min(SEGMENT_SIZE - this.#filled, available);
        chunk.copy(this.#pending, this.#filled, offset, offset + take);
        this.#filled += take;
        offset += take;
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.#expectedSize !== undefined && this.#received !== this.#expectedSize) {
      callback(
        new EnvelopeError(
          'SIZE_MISMATCH',
          `plaintext ended after ${this.#received} of the declared ${this.#expectedSize} bytes`,
        ),
      );
      return;
    }
    try {
      this.#pushPrefix();
      this.#sealSegment(this.#pending.subarray(0, this.#filled), true);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#pending.fill(0);
    callback(error);
  }

  #pushPrefix(): void {
    if (this.#prefix === undefined) return;
    this.push(this.#prefix);
    this.#prefix = undefined;
  }

  #sealSegment(plaintext: Buffer, last: boolean): void {
    const cipher = createCipheriv('aes-256-gcm', this.#dek, segmentNonce(this.#nonce, this.#index, last));
    cipher.setAAD(this.#aad);
    const body = cipher.update(plaintext);
    cipher.final();
    if (body.length > 0) this.push(body);
    this.push(cipher.getAuthTag());
    this.#index += 1;
  }
}
