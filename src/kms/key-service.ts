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
  readonly #unwraps: UnwrapBatcher;

  constructor(options: KeyServiceOptions) {
    this.#transit = options.transit;
    this.#unwraps = new UnwrapBatcher((wrapped) => options.transit.unwrapKeys(wrapped));
    this.#auth = options.auth;
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
    return this.#pool === undefined ? this.#transit.newDataKey() : this.#pool.take();
  }

  unwrapKey(wrappedKey: string): Promise<Buffer> {
    return this.#cache === undefined ? this.#unwraps.unwrap(wrappedKey) : this.#cache.get(wrappedKey);
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
