import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes chunks on one behind, and the last one only once its input has ended and `check` passed: a
 * stream that fails, or a check that fails, leaves whatever reads from this short of its last chunk.
 * Uploads use it so that a failed checksum leaves the upstream request short of its Content-Length (reads
 * hold their last chunk back the same way, in the writer of src/proxy/object-get.ts).
 */
export class HoldTailUntil extends Transform {
  readonly #check: () => void | Promise<void>;
  #tail: Buffer | undefined;

  constructor(check: () => void | Promise<void>) {
    super();
    this.#check = check;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const previous = this.#tail;
    this.#tail = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    Promise.resolve()
      .then(this.#check)
      .then(
        () => callback(null, this.#tail),
        (error: unknown) => callback(error as Error),
      );
  }
}
