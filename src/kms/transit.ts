import { randomBytes } from 'node:crypto';
import { KeyServiceError, type KeyWrapper } from './key-wrapper.ts';
import type { VaultClient } from './vault-client.ts';

/** Wraps data keys with a Transit key: `<mount>/encrypt/<key>` and `<mount>/decrypt/<key>`, nothing else. */
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

  async wrapKey(dataKey: Buffer): Promise<string> {
    const data = await this.#vault.write(this.#encryptPath, { plaintext: dataKey.toString('base64') });
    if (typeof data.ciphertext !== 'string')
      throw new KeyServiceError('unavailable', `Vault ${this.#encryptPath}: reply without ciphertext`);
    return data.ciphertext;
  }

  async unwrapKey(wrappedKey: string): Promise<Buffer> {
    const data = await this.#vault.write(this.#decryptPath, { ciphertext: wrappedKey });
    if (typeof data.plaintext !== 'string')
      throw new KeyServiceError('rejected', `Vault ${this.#decryptPath}: reply without plaintext`);
    return Buffer.from(data.plaintext, 'base64');
  }

  async checkReady(): Promise<void> {
    const probe = randomBytes(32);
    const unwrapped = await this.unwrapKey(await this.wrapKey(probe));
    if (!unwrapped.equals(probe))
      throw new KeyServiceError('rejected', 'Transit round trip returned a different key');
  }
}
