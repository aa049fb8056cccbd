import { KeyServiceError } from './key-wrapper.ts';
import { MAX_BATCH, type UnwrapResult } from './transit.ts';

/**
 * Unwrap requests made in the same turn of the event loop go to Transit together, as one batch call of
 * up to MAX_BATCH keys: reading a multipart object asks for the keys of up to KEY_WINDOW parts at once,
 * and so do concurrent reads of different objects. A request made alone waits one turn and goes alone.
 */
export class UnwrapBatcher {
  readonly #unwrapMany: (wrappedKeys: readonly string[]) => Promise<UnwrapResult[]>;
  #waiting: Array<{ wrapped: string; resolve: (key: Buffer) => void; reject: (error: unknown) => void }> = [];

  constructor(unwrapMany: (wrappedKeys: readonly string[]) => Promise<UnwrapResult[]>) {
    this.#unwrapMany = unwrapMany;
  }

  unwrap(wrappedKey: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.#waiting.length === 0) setImmediate(() => this.#flush());
      this.#waiting.push({ wrapped: wrappedKey, resolve, reject });
    });
  }

  #flush(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (let start = 0; start < waiting.length; start += MAX_BATCH) {
      const batch = waiting.slice(start, start + MAX_BATCH);
      this.#unwrapMany(batch.map((request) => request.wrapped)).then(
        (results) => {
          for (const [i, request] of batch.entries()) {
            const result = results[i];
            if (result === undefined)
              request.reject(
                new KeyServiceError('unavailable', 'Transit returned fewer keys than asked for'),
              );
            else if (result.ok) request.resolve(result.key);
            else request.reject(result.error);
          }
        },
        (error: unknown) => {
          for (const request of batch) request.reject(error);
        },
      );
    }
  }
}
