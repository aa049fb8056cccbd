/**
 * The narrow interface between the proxy and whatever holds the key-encryption key. The proxy only ever
 * asks for a data key to be wrapped or unwrapped; the KEK itself never leaves the key service.
 */
export interface KeyWrapper {
  wrapKey(dataKey: Buffer): Promise<string>;
  unwrapKey(wrappedKey: string): Promise<Buffer>;
  /** Resolves when the key service is reachable, we are authenticated and the key can be used. */
  checkReady(): Promise<void>;
}

/**
 * Why a key operation failed, in the terms the S3 layer needs: `unavailable` is worth retrying (503),
 * `denied` is a permission problem (403), `rejected` means the key service refused this particular
 * wrapped key (wrong key, a version below min_decryption_version, garbage): permanent.
 */
export type KeyErrorKind = 'unavailable' | 'denied' | 'rejected';

export class KeyServiceError extends Error {
  readonly kind: KeyErrorKind;
  constructor(kind: KeyErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeyServiceError';
    this.kind = kind;
  }
}
