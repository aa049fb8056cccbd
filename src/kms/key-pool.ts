import { type DataKey, KeyServiceError } from './key-wrapper.ts';
import { MAX_BATCH, type WrappedDataKey } from './transit.ts';

export type PoolEvent =
  | { type: 'refill'; outcome: 'ok' | 'failed'; keys: number }
  | { type: 'discard'; reason: 'expired' | 'rotated' | 'shutdown'; keys: number }
  | { type: 'issue'; waited: boolean }
  | { type: 'size'; keys: number };

export type DataKeyPoolOptions = {
  /** Most keys held; refills start when fewer than half are left. */
  capacity: number;
  /** Wraps `count` fresh random keys in one Transit call. */
  wrap: (count: number) => Promise<WrappedDataKey[]>;
  /** Whether Vault answered lately and nothing went wrong since (VaultContact). */
  contact: { healthy(withinMs: number): boolean; sinceAnswerMs(): number };
  /** A key is handed out without asking Vault only within this long of Vault's last answer. */
  trustWindowMs?: number;
  /** Keys older than this are dropped unused, bounding how long plaintext keys wait in memory. */
  maxAgeMs?: number;
  onEvent?: (event: PoolEvent) => void;
  now?: () => number;
};

export const DEFAULT_TRUST_WINDOW_MS = 10_000;
export const DEFAULT_MAX_AGE_MS = 300_000;

type Entry = { key: WrappedDataKey; at: number };

/**
 * Data keys wrapped ahead of time in batches (Transit `batch_input`), so that a write does not wait for a
 * Vault round trip and Vault sees one call per batch instead of one per object.
 *
 * - Each key leaves the pool exactly once: a DEK is never shared by two objects or parts.
 * - R-REL-1 (Vault down: writes get 503, store nothing): a pooled key is handed out only while Vault is
 *   known to be there: it answered within the trust window and no call or connection to it has failed
 *   since. Otherwise the write waits for a new batch, which proves Vault is back, or fails with it (503).
 * - Rotation: a batch wrapped under a newer Transit key version retires the pooled keys of older ones, so
 *   new objects move to the new version within one refill (at most the trust window under load).
 * - Shutdown: the keys are zeroed; unused wrapped keys protect nothing and are simply forgotten.
 */
export class DataKeyPool {
  readonly #capacity: number;
  readonly #wrap: DataKeyPoolOptions['wrap'];
  readonly #contact: DataKeyPoolOptions['contact'];
  readonly #trustWindowMs: number;
  readonly #maxAgeMs: number;
  readonly #onEvent: (event: PoolEvent) => void;
  readonly #now: () => number;
  #entries: Entry[] = [];
  #refilling: Promise<void> | undefined;
  #waiting = 0;
  #newestVersion = 0;
  #closed = false;

  constructor(options: DataKeyPoolOptions) {
    if (!(options.capacity >= 1)) throw new RangeError('a key pool holds at least one key');
    this.#capacity = options.capacity;
    this.#wrap = options.wrap;
    this.#contact = options.contact;
    this.#trustWindowMs = options.trustWindowMs ?? DEFAULT_TRUST_WINDOW_MS;
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.#onEvent = options.onEvent ?? (() => undefined);
    this.#now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Fills the pool in the background (at start-up); a failure is only counted: writes will retry. */
  prefill(): void {
    this.#refill().catch(() => undefined);
  }

  /**
   * A fresh data key for one object or part; the caller owns its plaintext. Once `signal` aborts (the
   * request gave up waiting), no key is taken for it: a batch it waited for stays in the pool.
   */
  async take(signal?: AbortSignal): Promise<DataKey> {
    let waited = false;
    for (;;) {
      if (this.#closed) throw new KeyServiceError('unavailable', 'the key pool is shut down');
      signal?.throwIfAborted();
      this.#dropExpired();
      // After a batch this write waited for, Vault has just answered, whatever a dropped connection says.
      if (this.#entries.length > 0 && (waited || this.#contact.healthy(this.#trustWindowMs))) {
        const entry = this.#entries.shift() as Entry;
        this.#onEvent({ type: 'issue', waited });
        this.#onEvent({ type: 'size', keys: this.#entries.length });
        this.#topUp();
        return { plaintext: entry.key.plaintext, wrapped: entry.key.wrapped };
      }
      // Empty, or Vault not heard from lately: this write waits for a batch, which also proves Vault is there.
      waited = true;
      this.#waiting++;
      try {
        await this.#refill();
      } finally {
        this.#waiting--;
      }
    }
  }

  /** Zeroes every pooled key; later takes fail. */
  close(): void {
    this.#closed = true;
    this.#discard(this.#entries, 'shutdown');
    this.#entries = [];
    this.#onEvent({ type: 'size', keys: 0 });
  }

  /** Refills early under steady use, so that neither an empty pool nor an old answer makes a write wait. */
  #topUp(): void {
    const low = this.#entries.length < this.#capacity / 2;
    const aging = this.#contact.sinceAnswerMs() > this.#trustWindowMs / 2;
    if (low || aging) this.prefill();
  }

  #refill(): Promise<void> {
    this.#refilling ??= this.#refillOnce().finally(() => {
      this.#refilling = undefined;
    });
    return this.#refilling;
  }

  async #refillOnce(): Promise<void> {
    const wanted = Math.min(MAX_BATCH, Math.max(1, this.#capacity - this.#entries.length + this.#waiting));
    let keys: WrappedDataKey[];
    try {
      keys = await this.#wrap(wanted);
    } catch (error) {
      this.#onEvent({ type: 'refill', outcome: 'failed', keys: wanted });
      throw error;
    }
    this.#onEvent({ type: 'refill', outcome: 'ok', keys: keys.length });
    if (this.#closed) {
      this.#discard(
        keys.map((key) => ({ key, at: 0 })),
        'shutdown',
      );
      return;
    }
    const newest = Math.max(...keys.map((key) => key.keyVersion));
    if (newest > this.#newestVersion) {
      this.#newestVersion = newest;
      const older = this.#entries.filter((entry) => entry.key.keyVersion < newest);
      if (older.length > 0) {
        this.#discard(older, 'rotated');
        this.#entries = this.#entries.filter((entry) => entry.key.keyVersion >= newest);
      }
    }
    const at = this.#now();
    for (const key of keys) this.#entries.push({ key, at });
    this.#onEvent({ type: 'size', keys: this.#entries.length });
  }

  #dropExpired(): void {
    const oldest = this.#now() - this.#maxAgeMs;
    if (this.#entries.length === 0 || (this.#entries[0] as Entry).at >= oldest) return;
    const expired = this.#entries.filter((entry) => entry.at < oldest);
    this.#entries = this.#entries.filter((entry) => entry.at >= oldest);
    this.#discard(expired, 'expired');
    this.#onEvent({ type: 'size', keys: this.#entries.length });
  }

  #discard(entries: Entry[], reason: 'expired' | 'rotated' | 'shutdown'): void {
    if (entries.length === 0) return;
    for (const entry of entries) entry.key.plaintext.fill(0);
    this.#onEvent({ type: 'discard', reason, keys: entries.length });
  }
}
