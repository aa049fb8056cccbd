import { type TransitKeyMap, type TransitKeyName, transitKeyRef } from '../config/transit-keys.ts';
import { type DataKey, KeyServiceError, type KeyWrapper } from './key-wrapper.ts';

/** A key service for one Transit key; the proxy's (VaultKeyService) also has a pool to start and keys to zero. */
export type TransitKeyService = KeyWrapper & { start?(): void; close?(): void };

/** What reads and writes ask of the key ring: the key for a location, and whether a read may use one. */
export type KeyChoice = Pick<KeyRing, 'map' | 'forWrite' | 'forRead' | 'recordedKey' | 'forRecorded' | 'as'>;

/** The key for new data at one location, and the name the object records for it. */
export type WriteKeys = { readonly transitKey: string; readonly keys: KeyWrapper };

/**
 * The Transit keys of the proxy, one key service (pool, cache) per distinct key of the mapping, and the one
 * place that chooses among them: `forWrite` where a data key is generated and wrapped, `forRead` where one
 * is unwrapped. A read unwraps only with a key the object's location accepts; the key the object records
 * merely picks among those (docs/decisions/0013-transit-keys-per-bucket.md).
 */
export class KeyRing {
  readonly map: TransitKeyMap;
  readonly #services = new Map<string, { keys: KeyWrapper; service: TransitKeyService }>();

  constructor(map: TransitKeyMap, create: (name: TransitKeyName) => TransitKeyService) {
    this.map = map;
    for (const name of map.keys) {
      const ref = transitKeyRef(name);
      const service = create(name);
      this.#services.set(ref, { service, keys: named(service, ref) });
    }
  }

  /** Every configured key by its recorded name, the default first. */
  get refs(): string[] {
    return [...this.#services.keys()];
  }

  forWrite(bucket: string, objectKey: string): WriteKeys {
    const transitKey = transitKeyRef(this.map.writeKey(bucket, objectKey));
    return { transitKey, keys: this.#service(transitKey) };
  }

  /** Throws a `denied` KeyServiceError, before any Vault call, when the location does not accept the recorded key. */
  forRead(bucket: string, objectKey: string, recorded: string | undefined): KeyWrapper {
    const decision = this.map.readKey(bucket, objectKey, recorded);
    if (!decision.ok)
      throw new KeyServiceError('denied', `${bucket}/${objectKey}: ${decision.message}`, {
        transitKey: recorded,
        clientMessage: decision.message,
        notAcceptedHere: true,
      });
    return this.#service(transitKeyRef(decision.key));
  }

  /** The recorded name of the key an object at this location is read with; refused like `forRead`. */
  recordedKey(bucket: string, objectKey: string, recorded: string | undefined): string {
    this.forRead(bucket, objectKey, recorded);
    return recorded ?? transitKeyRef(this.map.defaultKey);
  }

  /**
   * The choice as made for `objectKey` of the same bucket, whatever key is asked about: encrypt-existing
   * writes and checks a temporary object under the key of the object it will replace.
   */
  as(objectKey: string): KeyChoice {
    return {
      map: this.map,
      forWrite: (bucket) => this.forWrite(bucket, objectKey),
      forRead: (bucket, _key, recorded) => this.forRead(bucket, objectKey, recorded),
      recordedKey: (bucket, _key, recorded) => this.recordedKey(bucket, objectKey, recorded),
      forRecorded: (recorded) => this.forRecorded(recorded),
      as: (other) => this.as(other),
    };
  }

  /**
   * The key an object records (undefined: the default), wherever it lies: for a saved file the operator hands
   * to `decrypt`, which has no bucket. An unknown key is refused like a read's.
   */
  forRecorded(recorded: string | undefined): KeyWrapper {
    const ref = recorded ?? transitKeyRef(this.map.defaultKey);
    const entry = this.#services.get(ref);
    if (entry === undefined)
      throw new KeyServiceError('denied', `Transit key ${ref} is not configured`, {
        transitKey: ref,
        clientMessage: `The object records Transit key ${ref}, which this proxy is not configured with; it is not unwrapped.`,
        notAcceptedHere: true,
      });
    return entry.keys;
  }

  /** Every configured key must work: a tenant whose key is gone is an outage of that tenant. */
  async checkReady(): Promise<void> {
    const failures = await Promise.all(
      [...this.#services.values()].map(({ keys }) =>
        keys.checkReady().then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    );
    const failed = failures.filter((error) => error !== undefined);
    if (failed.length === 0) return;
    const first = failed[0];
    throw new KeyServiceError(
      first instanceof KeyServiceError ? first.kind : 'unavailable',
      failed.map((error) => (error instanceof Error ? error.message : String(error))).join('; '),
      { cause: first },
    );
  }

  start(): void {
    for (const { service } of this.#services.values()) service.start?.();
  }

  close(): void {
    for (const { service } of this.#services.values()) service.close?.();
  }

  #service(ref: string): KeyWrapper {
    const entry = this.#services.get(ref);
    if (entry === undefined) throw new Error(`Transit key ${ref} is not in the key ring`);
    return entry.keys;
  }
}

/** A key service whose failures name its Transit key, so that a tenant's 403 says which key was refused. */
function named(service: KeyWrapper, ref: string): KeyWrapper {
  const annotate = (error: unknown): never => {
    if (!(error instanceof KeyServiceError) || error.transitKey !== undefined) throw error;
    throw new KeyServiceError(error.kind, `Transit key ${ref}: ${error.message}`, {
      cause: error,
      keyVersion: error.keyVersion,
      transitKey: ref,
    });
  };
  return {
    newDataKey: (): Promise<DataKey> => service.newDataKey().catch(annotate),
    unwrapKey: (wrapped: string): Promise<Buffer> => service.unwrapKey(wrapped).catch(annotate),
    checkReady: (): Promise<void> => service.checkReady().catch(annotate),
  };
}
