import { randomBytes } from 'node:crypto';
import { DEK_SIZE } from '../envelope/constants.ts';
import { type DataKey, KeyServiceError, type KeyWrapper, wrappedKeyVersion } from './key-wrapper.ts';
import type { VaultClient } from './vault-client.ts';

/** A data key fresh from Transit, with the version of the Transit key that wrapped it. */
export type WrappedDataKey = DataKey & { readonly keyVersion: number };

/** Most keys wrapped in one Transit call: keeps each request well inside Vault's JSON limits. */
export const MAX_BATCH = 256;

/**
 * Wraps data keys with a Transit key: `<mount>/encrypt/<key>` (single or `batch_input`) and
 * `<mount>/decrypt/<key>`, nothing else, so the seed's two-line policy is enough. Every call goes to
 * Vault; key-service.ts puts the pool and the cache in front of it.
 */
export class TransitKeyWrapper implements KeyWrapper {
  readonly #vault: VaultClient;
  readonly #encryptPath: string;
  readonly #decryptPath: string;

  constructor(vault: VaultClient, options: { mount: string; key: string }) {
    this.#vault = vault;
    const mount = options.mount.replace(/^\/+|\/+$/g, '');
    const key = encodeURIComponent(options.key);
    this.#encryptPath = `${mount}/encrypt/${key}`;
    this.#decryptPath = `${mount}/decrypt/${key}`;
  }

  /** `count` fresh random data keys (at most MAX_BATCH), wrapped in one Transit call. */
  async wrapNewKeys(count: number): Promise<WrappedDataKey[]> {
    if (!(count >= 1 && count <= MAX_BATCH)) throw new RangeError(`batch of ${count} keys`);
    const plaintexts = Array.from({ length: count }, () => randomBytes(DEK_SIZE));
    try {
      const data = await this.#vault.write(this.#encryptPath, {
        batch_input: plaintexts.map((key) => ({ plaintext: key.toString('base64') })),
      });
      const results = data.batch_results;
      if (!Array.isArray(results) || results.length !== count)
        throw new KeyServiceError('unavailable', `Vault ${this.#encryptPath}: reply without batch_results`);
      return results.map((result: { ciphertext?: unknown; key_version?: unknown; error?: unknown }, i) => {
        if (typeof result?.ciphertext !== 'string')
          throw new KeyServiceError(
            'unavailable',
            `Vault ${this.#encryptPath}: batch item failed: ${String(result?.error ?? 'no ciphertext')}`,
          );
        const keyVersion =
          typeof result.key_version === 'number' ? result.key_version : wrappedKeyVersion(result.ciphertext);
        return {
          plaintext: plaintexts[i] as Buffer,
          wrapped: result.ciphertext,
          keyVersion: keyVersion ?? 0,
        };
      });
    } catch (error) {
      for (const key of plaintexts) key.fill(0);
      throw error;
    }
  }

  async newDataKey(): Promise<DataKey> {
    const [key] = await this.wrapNewKeys(1);
    return key as WrappedDataKey;
  }

  async unwrapKey(wrappedKey: string): Promise<Buffer> {
    let data: Record<string, unknown>;
    try {
      data = await this.#vault.write(this.#decryptPath, { ciphertext: wrappedKey });
    } catch (error) {
      if (error instanceof KeyServiceError && error.kind === 'rejected' && /too old/i.test(error.message)) {
        const keyVersion = wrappedKeyVersion(wrappedKey);
        throw new KeyServiceError(
          'retired',
          `the data key is wrapped under version ${keyVersion ?? '?'} of the Transit key, which is below its min_decryption_version`,
          { cause: error, keyVersion },
        );
      }
      throw error;
    }
    if (typeof data.plaintext !== 'string')
      throw new KeyServiceError('rejected', `Vault ${this.#decryptPath}: reply without plaintext`);
    const key = Buffer.from(data.plaintext, 'base64');
    if (key.length !== DEK_SIZE) {
      key.fill(0);
      throw new KeyServiceError(
        'rejected',
        `Vault ${this.#decryptPath}: the unwrapped key is not ${DEK_SIZE} bytes`,
      );
    }
    return key;
  }

  async checkReady(): Promise<void> {
    const [probe] = await this.wrapNewKeys(1);
    if (probe === undefined) throw new KeyServiceError('unavailable', 'Transit returned no key');
    const unwrapped = await this.unwrapKey(probe.wrapped);
    const same = unwrapped.equals(probe.plaintext);
    unwrapped.fill(0);
    probe.plaintext.fill(0);
    if (!same) throw new KeyServiceError('rejected', 'Transit round trip returned a different key');
  }
}
