import { UnwrapCache } from './key-cache.ts';
import { DataKeyPool, type PoolEvent } from './key-pool.ts';
import { type DataKey, KeyServiceError, type KeyWrapper } from './key-wrapper.ts';
import type { TransitKeyWrapper } from './transit.ts';
import { UnwrapBatcher } from './unwrap-batch.ts';
import type { VaultAuth } from './vault-auth.ts';
import type { VaultContact } from './vault-client.ts';

export type KeyServiceOptions = {
  transit: TransitKeyWrapper;
  auth: VaultAuth;
  contact: VaultContact;
  /** Data keys wrapped ahead of time; 0: every write wraps its own key in its own Vault call. */
  poolSize: number;
  /**
   * Longest a request waits for a key (CLOUDTASER_S3PROXY_KEY_TIMEOUT); then it fails as `unavailable`,
   * and Vault counts as in trouble, so pooled keys wait for its next answer. Default: no bound.
   */
  keyTimeoutMs?: number;
  cache: { enabled: boolean; maxEntries: number; ttlMs: number };
  onPoolEvent?: (event: PoolEvent) => void;
  onCacheLookup?: (result: 'hit' | 'miss') => void;
  onCacheSize?: (entries: number) => void;
};

/**
 * The KeyWrapper the proxy uses: Transit behind a pool of pre-wrapped data keys (writes) and a cache of
 * unwrapped ones (reads), so that Vault load grows with objects, not with requests (R-KMS-2).
 * Why and what it means when Vault is down: docs/decisions/0004-vault-keys-off-hot-path.md.
 */
export class VaultKeyService implements KeyWrapper {
  readonly #transit: TransitKeyWrapper;
  readonly #auth: VaultAuth;
  readonly #pool: DataKeyPool | undefined;
  readonly #cache: UnwrapCache | undefined;
  readonly #contact: VaultContact;
  readonly #keyTimeoutMs: number;
  readonly #unwraps: UnwrapBatcher;

  constructor(options: KeyServiceOptions) {
    this.#transit = options.transit;
    this.#unwraps = new UnwrapBatcher((wrapped) => options.transit.unwrapKeys(wrapped));
    this.#auth = options.auth;
    this.#contact = options.contact;
    this.#keyTimeoutMs = options.keyTimeoutMs ?? Number.POSITIVE_INFINITY;
    this.#pool =
      options.poolSize > 0
        ? new DataKeyPool({
            capacity: options.poolSize,
            wrap: (count) => options.transit.wrapNewKeys(count),
            contact: options.contact,
            ...(options.onPoolEvent === undefined ? {} : { onEvent: options.onPoolEvent }),
          })
        : undefined;
    this.#cache =
      options.cache.enabled && options.cache.maxEntries > 0
        ? new UnwrapCache({
            maxEntries: options.cache.maxEntries,
            ttlMs: options.cache.ttlMs,
            unwrap: (wrapped) => this.#unwraps.unwrap(wrapped),
            ...(options.onCacheLookup === undefined ? {} : { onLookup: options.onCacheLookup }),
            ...(options.onCacheSize === undefined ? {} : { onSize: options.onCacheSize }),
          })
        : undefined;
  }

  /** Starts filling the pool; failures only show in metrics and /readyz, writes retry on their own. */
  start(): void {
    this.#pool?.prefill();
  }

  newDataKey(): Promise<DataKey> {
    return this.#bounded(
      (signal) => (this.#pool === undefined ? this.#transit.newDataKey() : this.#pool.take(signal)),
      'a data key',
      (late) => late.plaintext.fill(0),
    );
  }

  unwrapKey(wrappedKey: string): Promise<Buffer> {
    return this.#bounded(
      () => (this.#cache === undefined ? this.#unwraps.unwrap(wrappedKey) : this.#cache.get(wrappedKey)),
      'the unwrapped data key',
      (late) => late.fill(0),
    );
  }

  /**
   * `work`, or an `unavailable` failure once the key timeout has passed. The Vault calls go on (others may
   * be waiting for the same batch or unwrap); the signal tells the pool not to take a key for this request
   * any more, and a key that still arrives for nobody is zeroed.
   */
  #bounded<T>(
    work: (signal: AbortSignal) => Promise<T>,
    what: string,
    discard: (late: T) => void,
  ): Promise<T> {
    const abandon = new AbortController();
    if (!Number.isFinite(this.#keyTimeoutMs)) return work(abandon.signal);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A Vault that lets a request wait this long is not to be trusted with pooled keys until it answers.
        this.#contact.trouble();
        const error = new KeyServiceError(
          'unavailable',
          `no ${what} from Vault within ${this.#keyTimeoutMs} ms (CLOUDTASER_S3PROXY_KEY_TIMEOUT)`,
        );
        abandon.abort(error);
        reject(error);
      }, this.#keyTimeoutMs);
      work(abandon.signal).then(
        (value) => {
          clearTimeout(timer);
          if (abandon.signal.aborted) discard(value);
          else resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (!abandon.signal.aborted) reject(error);
        },
      );
    });
  }

  /** Authenticated (a login if needed), then a real Transit round trip: what /readyz reports. */
  async checkReady(): Promise<void> {
    try {
      await this.#auth.token();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new KeyServiceError(
        error instanceof KeyServiceError ? error.kind : 'unavailable',
        `not authenticated (${this.#auth.method}): ${message}`,
        { cause: error },
      );
    }
    await this.#transit.checkReady();
  }

  /** Zeroes pooled and cached keys and stops renewing the token (shutdown, after the drain). */
  close(): void {
    this.#pool?.close();
    this.#cache?.clear();
    this.#auth.close();
  }
}
