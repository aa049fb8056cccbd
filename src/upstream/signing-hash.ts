import { createHash, createHmac, createSecretKey, type Hash, type Hmac, type KeyObject } from 'node:crypto';
import type { Checksum, SourceData } from '@smithy/types';

/**
 * SHA-256 and HMAC-SHA256 for @smithy/signature-v4, as @smithy/hash-node's `Hash` computes them, but with
 * a binary HMAC key turned into a KeyObject once. Node checks whether a key is a KeyObject or a CryptoKey
 * by trying to read its internal slots and catching the TypeError; for a Uint8Array key (the signer's
 * derived signing key, used for every request's signature) both checks throw, which cost about 60 µs of
 * CPU per signed request, more than the hashing. A KeyObject passes the first check at once; a string key
 * (the secret access key, which the signer hashes for its cache key) skips both.
 *
 * The signer keeps its derived keys in a cache of its own and hands the same Uint8Array back for as long
 * as a key is valid (one day, one region): the KeyObject is held for exactly as long as that array lives.
 */
export class SigningSha256 implements Checksum {
  readonly #key: string | KeyObject | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#key = secret === undefined ? undefined : hmacKey(secret);
    this.#hash = this.#fresh();
  }

  update(data: Uint8Array | string): void {
    this.#hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }

  reset(): void {
    this.#hash = this.#fresh();
  }

  #fresh(): Hash | Hmac {
    return this.#key === undefined ? createHash('sha256') : createHmac('sha256', this.#key);
  }
}

const keyObjects = new WeakMap<object, KeyObject>();

function hmacKey(secret: SourceData): string | KeyObject {
  if (typeof secret === 'string') return secret;
  let key = keyObjects.get(secret);
  if (key === undefined) {
    key = createSecretKey(
      ArrayBuffer.isView(secret)
        ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength)
        : new Uint8Array(secret),
    );
    keyObjects.set(secret, key);
  }
  return key;
}
