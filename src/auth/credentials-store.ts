/**
 * The client credentials in force, reloaded when the file changes, without a restart. Kubernetes updates
 * a mounted Secret by writing a new timestamped directory and swapping the `..data` symlink, so the file's
 * own inode never changes: the store watches the directory (prompt where inotify works) and also compares
 * the content's hash every `reloadIntervalMs` (the guarantee, on any volume). A file that fails to parse
 * keeps the credentials in force and is reported once per distinct content.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  type ClientCredential,
  type ClientCredentials,
  CredentialsFileError,
  parseClientCredentials,
} from './client-credentials.ts';

export type CredentialsEvent =
  | { readonly type: 'loaded'; readonly keys: number; readonly initial: boolean }
  | { readonly type: 'failed'; readonly reason: string };

export type CredentialsStoreOptions = {
  readonly path: string;
  readonly reloadIntervalMs: number;
  readonly onEvent?: (event: CredentialsEvent) => void;
};

/** What the proxy asks of the credentials: the credential of an access key id, if it is listed. */
export interface ClientCredentialLookup {
  lookup(accessKeyId: string): ClientCredential | undefined;
}

export class ClientCredentialsStore implements ClientCredentialLookup {
  readonly #options: CredentialsStoreOptions;
  #credentials: ClientCredentials;
  #hash: string;
  /** The content hash (or the read error) last reported as failed, so that each failure is reported once. */
  #failed: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  #reloading: Promise<void> | undefined;
  #again = false;

  private constructor(options: CredentialsStoreOptions, credentials: ClientCredentials, hash: string) {
    this.#options = options;
    this.#credentials = credentials;
    this.#hash = hash;
  }

  /** Reads and parses the file once; throws CredentialsFileError (or the read error) when it is unusable. */
  static async open(options: CredentialsStoreOptions): Promise<ClientCredentialsStore> {
    const text = await readFile(options.path, 'utf8');
    const store = new ClientCredentialsStore(options, parseClientCredentials(text), hashOf(text));
    options.onEvent?.({ type: 'loaded', keys: store.size, initial: true });
    return store;
  }

  get size(): number {
    return this.#credentials.size;
  }

  lookup(accessKeyId: string): ClientCredential | undefined {
    return this.#credentials.get(accessKeyId);
  }

  /** Starts watching; the timers and the watcher do not keep the process alive. */
  start(): void {
    this.#timer = setInterval(() => void this.reload(), this.#options.reloadIntervalMs);
    this.#timer.unref();
    try {
      const file = basename(this.#options.path);
      this.#watcher = watch(dirname(this.#options.path), { persistent: false }, (_event, name) => {
        if (name === null || name === file || name === '..data' || name.startsWith('..')) void this.reload();
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // No inotify here (or no directory watch on this volume): the interval still reloads.
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#watcher?.close();
  }

  /** Re-reads the file now; concurrent calls share one read, and a change during a read triggers another. */
  reload(): Promise<void> {
    if (this.#reloading !== undefined) {
      this.#again = true;
      return this.#reloading;
    }
    this.#reloading = this.#reloadOnce().finally(() => {
      this.#reloading = undefined;
      if (this.#again) {
        this.#again = false;
        void this.reload();
      }
    });
    return this.#reloading;
  }

  async #reloadOnce(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#options.path, 'utf8');
    } catch (error) {
      // A Secret being swapped can vanish for an instant; the next check sees the new one.
      const reason = `cannot read ${this.#options.path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`;
      this.#fail(reason, reason);
      return;
    }
    const hash = hashOf(text);
    if (hash === this.#hash) {
      this.#failed = undefined;
      return;
    }
    if (hash === this.#failed) return;
    let credentials: ClientCredentials;
    try {
      credentials = parseClientCredentials(text);
    } catch (error) {
      const reason = error instanceof CredentialsFileError ? error.message : String(error);
      this.#fail(`${this.#options.path}: ${reason}`, hash);
      return;
    }
    this.#credentials = credentials;
    this.#hash = hash;
    this.#failed = undefined;
    this.#options.onEvent?.({ type: 'loaded', keys: credentials.size, initial: false });
  }

  #fail(reason: string, key: string): void {
    if (key === this.#failed) return;
    this.#failed = key;
    this.#options.onEvent?.({ type: 'failed', reason });
  }
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
