import { randomBytes } from 'node:crypto';
import { DEK_SIZE } from '../envelope/constants.ts';
import { type DataKey, KeyServiceError, type KeyWrapper, wrappedKeyVersion } from './key-wrapper.ts';
import type { VaultClient } from './vault-client.ts';

/** A data key fresh from Transit, with the version of the Transit key that wrapped it. */
export type WrappedDataKey = DataKey & { readonly keyVersion: number };

/** Most keys wrapped in one Transit call: keeps each request well inside Vault's JSON limits. */
export const MAX_BATCH = 256;

/** The outcome of rewrapping one wrapped key: the new wrapped key, or why Transit refused this one. */
export type RewrapResult =
  | { ok: true; wrapped: string; keyVersion: number }
  | { ok: false; error: KeyServiceError };

/** The outcome of unwrapping one key of a batch: the data key, or why Transit refused this one. */
export type UnwrapResult = { ok: true; key: Buffer } | { ok: false; error: KeyServiceError };

/** What Transit says about a key (`GET <mount>/keys/<key>`), as far as an audit of its data keys needs it. */
export type TransitKeyInfo = {
  type: string;
  latestVersion: number;
  /** Wrapped keys of a lower version are refused by `decrypt`. */
  minDecryptionVersion: number;
  /** Whether the key material itself may leave Vault (`exportable`, `allow_plaintext_backup`). */
  exportable: boolean;
  plaintextBackup: boolean;
};

/**
 * Wraps data keys with a Transit key: `<mount>/encrypt/<key>` and `<mount>/decrypt/<key>` (each single
 * or with `batch_input`), nothing else, so the seed's two-line policy is enough for the proxy. Every
 * call goes to Vault; key-service.ts puts the pool and the cache in front of it. The `rewrap` tool also
 * uses `<mount>/rewrap/<key>`, which needs one more line of policy, and the `audit` tool reads
 * `<mount>/keys/<key>` where it may (docs/OPERATIONS.md).
 */
export class TransitKeyWrapper implements KeyWrapper {
  readonly #vault: VaultClient;
  readonly #encryptPath: string;
  readonly #decryptPath: string;
  readonly #rewrapPath: string;
  readonly #keyPath: string;

  constructor(vault: VaultClient, options: { mount: string; key: string }) {
    this.#vault = vault;
    const mount = options.mount.replace(/^\/+|\/+$/g, '');
    const key = encodeURIComponent(options.key);
    this.#encryptPath = `${mount}/encrypt/${key}`;
    this.#decryptPath = `${mount}/decrypt/${key}`;
    this.#rewrapPath = `${mount}/rewrap/${key}`;
    this.#keyPath = `${mount}/keys/${key}`;
  }

  /**
   * The key's versions and policy (`GET <mount>/keys/<key>`). Needs `read` on that path, which the proxy's
   * policy does not grant; a token without it gets a KeyServiceError of kind `denied`.
   */
  async keyInfo(): Promise<TransitKeyInfo> {
    const data = await this.#vault.read(this.#keyPath);
    const latestVersion = data.latest_version;
    const minDecryptionVersion = data.min_decryption_version;
    if (typeof latestVersion !== 'number' || typeof minDecryptionVersion !== 'number')
      throw new KeyServiceError('unavailable', `Vault ${this.#keyPath}: reply without key versions`);
    return {
      type: String(data.type ?? ''),
      latestVersion,
      minDecryptionVersion,
      exportable: data.exportable === true,
      plaintextBackup: data.allow_plaintext_backup === true,
    };
  }

  /** `count` fresh random data keys (at most MAX_BATCH), wrapped in one Transit call. */
  async wrapNewKeys(count: number): Promise<WrappedDataKey[]> {
    if (!(count >= 1 && count <= MAX_BATCH)) throw new RangeError(`batch of ${count} keys`);
    return this.#wrap(Array.from({ length: count }, () => randomBytes(DEK_SIZE)));
  }

  /**
   * Wraps existing data keys under this Transit key (`rewrap` moving an object to the key the mapping now
   * gives its location). The returned plaintexts are copies the caller zeroes; `deks` stay the caller's.
   */
  async wrapDataKeys(deks: readonly Buffer[]): Promise<WrappedDataKey[]> {
    if (!(deks.length >= 1 && deks.length <= MAX_BATCH)) throw new RangeError(`batch of ${deks.length} keys`);
    return this.#wrap(deks.map((dek) => Buffer.from(dek)));
  }

  async #wrap(plaintexts: Buffer[]): Promise<WrappedDataKey[]> {
    const count = plaintexts.length;
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
    return this.#dataKey(data.plaintext);
  }

  /**
   * Unwraps up to MAX_BATCH keys in one Transit call (`<mount>/decrypt/<key>` with `batch_input`): a
   * multipart object has a data key per part. One result per input, in order: a key Transit refuses
   * fails alone. A failure of the whole call (Vault unreachable, permission denied) throws.
   */
  async unwrapKeys(wrappedKeys: readonly string[]): Promise<UnwrapResult[]> {
    if (wrappedKeys.length > MAX_BATCH) throw new RangeError(`batch of ${wrappedKeys.length} keys`);
    if (wrappedKeys.length <= 1) {
      const results: UnwrapResult[] = [];
      for (const wrapped of wrappedKeys) results.push(await this.#unwrapOne(wrapped));
      return results;
    }
    let data: Record<string, unknown>;
    try {
      data = await this.#vault.write(this.#decryptPath, {
        batch_input: wrappedKeys.map((ciphertext) => ({ ciphertext })),
      });
    } catch (error) {
      // Vault answers 400 when any item of a batch fails: asking one by one tells which keys and why.
      if (error instanceof KeyServiceError && error.kind === 'rejected') {
        return Promise.all(wrappedKeys.map((wrapped) => this.#unwrapOne(wrapped)));
      }
      throw error;
    }
    const results = data.batch_results;
    if (!Array.isArray(results) || results.length !== wrappedKeys.length)
      throw new KeyServiceError('unavailable', `Vault ${this.#decryptPath}: reply without batch_results`);
    const unwrapped = results.map((result: { plaintext?: unknown; error?: unknown }, i): UnwrapResult => {
      if (typeof result?.plaintext !== 'string' || result.plaintext === '')
        return {
          ok: false,
          error: this.#refusal(
            wrappedKeys[i] as string,
            `Vault ${this.#decryptPath}: ${String(result?.error ?? 'no plaintext')}`,
          ),
        };
      try {
        return { ok: true, key: this.#dataKey(result.plaintext) };
      } catch (error) {
        return { ok: false, error: error as KeyServiceError };
      }
    });
    return unwrapped;
  }

  async #unwrapOne(wrappedKey: string): Promise<UnwrapResult> {
    try {
      return { ok: true, key: await this.unwrapKey(wrappedKey) };
    } catch (error) {
      if (error instanceof KeyServiceError && (error.kind === 'rejected' || error.kind === 'retired'))
        return { ok: false, error };
      throw error;
    }
  }

  /** A data key from Transit's Base64 plaintext, which must be exactly DEK_SIZE bytes. */
  #dataKey(plaintext: string): Buffer {
    const key = Buffer.from(plaintext, 'base64');
    if (key.length !== DEK_SIZE) {
      key.fill(0);
      throw new KeyServiceError(
        'rejected',
        `Vault ${this.#decryptPath}: the unwrapped key is not ${DEK_SIZE} bytes`,
      );
    }
    return key;
  }

  /**
   * The newest version of the Transit key, learnt from wrapping one throwaway key: `encrypt` always
   * uses the newest version and the proxy's policy allows it, while reading the key's configuration
   * (`<mount>/keys/<key>`) would need another grant.
   */
  async newestKeyVersion(): Promise<number> {
    const [probe] = await this.wrapNewKeys(1);
    probe?.plaintext.fill(0);
    if (probe === undefined || !(probe.keyVersion > 0))
      throw new KeyServiceError('unavailable', `Vault ${this.#encryptPath}: reply without a key version`);
    return probe.keyVersion;
  }

  /**
   * Re-encrypts wrapped keys under the newest Transit key version without the data keys leaving Vault
   * (`<mount>/rewrap/<key>` with `batch_input`, at most MAX_BATCH per call). One result per input, in
   * order: a key Transit refuses (garbage, a version below min_decryption_version) fails alone. A failure
   * of the whole call (Vault unreachable, permission denied) throws.
   */
  async rewrap(wrappedKeys: readonly string[]): Promise<RewrapResult[]> {
    if (wrappedKeys.length === 0) return [];
    if (wrappedKeys.length > MAX_BATCH) throw new RangeError(`batch of ${wrappedKeys.length} keys`);
    let data: Record<string, unknown>;
    try {
      data = await this.#vault.write(this.#rewrapPath, {
        batch_input: wrappedKeys.map((ciphertext) => ({ ciphertext })),
      });
    } catch (error) {
      // Vault answers a batch whose every item failed with 400 and no per-item detail we could rely on:
      // asking one by one tells which keys are refused and why.
      if (error instanceof KeyServiceError && error.kind === 'rejected' && wrappedKeys.length > 1) {
        const results: RewrapResult[] = [];
        for (const wrapped of wrappedKeys) results.push(...(await this.rewrap([wrapped])));
        return results;
      }
      if (error instanceof KeyServiceError && error.kind === 'rejected') {
        return [{ ok: false, error: this.#refusal(wrappedKeys[0] as string, error.message, error) }];
      }
      throw error;
    }
    const results = data.batch_results;
    if (!Array.isArray(results) || results.length !== wrappedKeys.length)
      throw new KeyServiceError('unavailable', `Vault ${this.#rewrapPath}: reply without batch_results`);
    return results.map((result: { ciphertext?: unknown; key_version?: unknown; error?: unknown }, i) => {
      const input = wrappedKeys[i] as string;
      if (typeof result?.ciphertext !== 'string' || result.ciphertext === '')
        return {
          ok: false,
          error: this.#refusal(
            input,
            `Vault ${this.#rewrapPath}: ${String(result?.error ?? 'no ciphertext')}`,
          ),
        };
      const keyVersion =
        typeof result.key_version === 'number' ? result.key_version : wrappedKeyVersion(result.ciphertext);
      return { ok: true, wrapped: result.ciphertext, keyVersion: keyVersion ?? 0 };
    });
  }

  #refusal(wrappedKey: string, message: string, cause?: unknown): KeyServiceError {
    const keyVersion = wrappedKeyVersion(wrappedKey);
    if (/too old/i.test(message))
      return new KeyServiceError(
        'retired',
        `the data key is wrapped under version ${keyVersion ?? '?'} of the Transit key, which is below its min_decryption_version`,
        { cause, keyVersion },
      );
    return new KeyServiceError('rejected', message, { cause });
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
