import { LRUCache } from 'lru-cache';

export type UnwrapCacheOptions = {
  /** Most unwrapped keys held. */
  maxEntries: number;
  /** How long an unwrapped key is kept after Vault gave it, however often it is used. */
  ttlMs: number;
  unwrap: (wrappedKey: string) => Promise<Buffer>;
  /** `hit`: no Vault call for this read (cached, or joined a call already under way); `miss`: one call. */
  onLookup?: (result: 'hit' | 'miss') => void;
  onSize?: (entries: number) => void;
  /** Milliseconds on a monotonic clock (tests pass their own). */
  now?: () => number;
};

/**
 * Unwrapped data keys by wrapped key, so that reading the same object again costs no Vault round trip:
 * bounded (least recently used go first), expiring (TTL from the unwrap, not refreshed by use, so that a
 * revoked policy or a raised min_decryption_version takes effect within the TTL), and single-flight
 * (concurrent reads of one object make one Vault call).
 *
 * Callers get their own copy, which they zero; the cache zeroes its copy when the key leaves it (evicted,
 * expired, cleared). Buffers are what Node lets us zero: the base64 strings of Vault's JSON reply are
 * immutable and left to the garbage collector.
 */
export class UnwrapCache {
  readonly #cache: LRUCache<string, Buffer>;
  readonly #inflight = new Map<string, Promise<Buffer>>();
  readonly #options: UnwrapCacheOptions;
  readonly #purge: NodeJS.Timeout;

  constructor(options: UnwrapCacheOptions) {
    this.#options = options;
    this.#cache = new LRUCache<string, Buffer>({
      max: options.maxEntries,
      ttl: options.ttlMs,
      updateAgeOnGet: false,
      allowStale: false,
      dispose: (key) => key.fill(0),
      ...(options.now === undefined ? {} : { perf: { now: options.now }, ttlResolution: 0 }),
    });
    // Expired keys are dropped when looked up; this also zeroes those nobody asks for again.
    this.#purge = setInterval(
      () => {
        if (this.#cache.purgeStale()) this.#options.onSize?.(this.#cache.size);
      },
      Math.max(1_000, Math.min(60_000, options.ttlMs / 4)),
    );
    this.#purge.unref();
  }

  get size(): number {
    return this.#cache.size;
  }

  async get(wrappedKey: string): Promise<Buffer> {
    const cached = this.#cache.get(wrappedKey);
    if (cached !== undefined) {
      this.#options.onLookup?.('hit');
      return Buffer.from(cached);
    }
    let pending = this.#inflight.get(wrappedKey);
    this.#options.onLookup?.(pending === undefined ? 'miss' : 'hit');
    if (pending === undefined) {
      pending = this.#options.unwrap(wrappedKey).then((fresh) => {
        this.#cache.set(wrappedKey, Buffer.from(fresh));
        this.#options.onSize?.(this.#cache.size);
        // Every reader waiting on this call copies it in the microtasks that follow; then it is zeroed.
        setImmediate(() => fresh.fill(0));
        return fresh;
      });
      const settled = pending.finally(() => this.#inflight.delete(wrappedKey));
      settled.catch(() => undefined);
      this.#inflight.set(wrappedKey, pending);
    }
    return Buffer.from(await pending);
  }

  /** Zeroes and drops every key (shutdown). */
  clear(): void {
    clearInterval(this.#purge);
    this.#cache.clear();
    this.#options.onSize?.(0);
  }
}
