/**
 * The narrow interface between the proxy and whatever holds the key-encryption key. The proxy asks for a
 * fresh data key (random, already wrapped) for every object or part it writes, and for a stored wrapped
 * key to be unwrapped when it reads; the KEK itself never leaves the key service.
 */
export interface KeyWrapper {
  /**
   * A fresh random data key and its wrapped form, handed out exactly once: each object (and each multipart
   * part) gets its own. The caller owns `plaintext` and zeroes it when done with it.
   */
  newDataKey(): Promise<DataKey>;
  /** The data key inside `wrappedKey`. The caller owns the returned buffer and zeroes it when done. */
  unwrapKey(wrappedKey: string): Promise<Buffer>;
  /** Resolves when the key service is reachable, we are authenticated and the key can be used. */
  checkReady(): Promise<void>;
}

export type DataKey = { readonly plaintext: Buffer; readonly wrapped: string };

/**
 * Why a key operation failed, in the terms the S3 layer needs: `unavailable` is worth retrying (503),
 * `denied` is a permission problem (403), `rejected` means the key service refused this particular
 * wrapped key (wrong key, garbage): permanent. `retired` is a rejection because the key version that
 * wrapped it is below the Transit key's `min_decryption_version`: recoverable by an operator (lower the
 * minimum again), so it is reported as such, with the version.
 */
export type KeyErrorKind = 'unavailable' | 'denied' | 'rejected' | 'retired';

export class KeyServiceError extends Error {
  readonly kind: KeyErrorKind;
  /** For `retired`: the Transit key version that wrapped the data key. */
  readonly keyVersion: number | undefined;
  /** The Transit key (`<mount>/<key>`) the operation was for, when the proxy uses more than one. */
  readonly transitKey: string | undefined;
  /** Said to the S3 client as it is (a refusal of the proxy's own, with nothing from Vault in it). */
  readonly clientMessage: string | undefined;
  /** A `denied` of the proxy's own: the object's location does not accept the key it records (decision 0013). */
  readonly notAcceptedHere: boolean;
  constructor(
    kind: KeyErrorKind,
    message: string,
    options?: {
      cause?: unknown;
      keyVersion?: number | undefined;
      transitKey?: string | undefined;
      clientMessage?: string | undefined;
      notAcceptedHere?: boolean;
    },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeyServiceError';
    this.kind = kind;
    this.keyVersion = options?.keyVersion;
    this.transitKey = options?.transitKey;
    this.clientMessage = options?.clientMessage;
    this.notAcceptedHere = options?.notAcceptedHere ?? false;
  }
}

/** The Transit key version in a wrapped key (`vault:v3:…` → 3), or undefined for anything else. */
export function wrappedKeyVersion(wrappedKey: string): number | undefined {
  const match = /^vault:v(\d{1,9}):/.exec(wrappedKey);
  return match === null ? undefined : Number(match[1]);
}
