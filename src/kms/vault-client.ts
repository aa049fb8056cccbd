import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { KeyServiceError } from './key-wrapper.ts';
import type { VaultAuth } from './vault-auth.ts';

export type VaultClientOptions = {
  addr: string;
  namespace?: string | undefined;
  caCertPath?: string | undefined;
  skipVerify: boolean;
  timeoutMs: number;
  maxRetries: number;
  /** Observes every HTTP call to Vault, for metrics. */
  onCall?: (call: {
    path: string;
    outcome: 'ok' | 'denied' | 'rejected' | 'unavailable';
    seconds: number;
  }) => void;
};

type VaultReply = {
  status: number;
  body: { data?: Record<string, unknown>; auth?: Record<string, unknown>; errors?: string[] };
};

/** A minimal Vault HTTP client: JSON over a pooled connection, bounded retries with jitter for transient faults. */
export class VaultClient {
  readonly #options: VaultClientOptions;
  readonly #agent: Agent;
  readonly #base: string;
  #auth: VaultAuth | undefined;

  constructor(options: VaultClientOptions) {
    this.#options = options;
    this.#base = options.addr.replace(/\/+$/, '');
    const ca = options.caCertPath === undefined ? undefined : readFileSync(options.caCertPath, 'utf8');
    this.#agent = new Agent({
      connections: 32,
      connect: { rejectUnauthorized: !options.skipVerify, ...(ca === undefined ? {} : { ca }) },
    });
  }

  useAuth(auth: VaultAuth): void {
    this.#auth = auth;
  }

  /** An authenticated write (POST). On 403 the token is dropped and the call is tried once more with a fresh one. */
  async write(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const auth = this.#auth;
    if (auth === undefined) throw new Error('VaultClient used before an auth method was set');
    let reply = await this.#withRetries(path, async () => this.#post(path, body, await auth.token()));
    if (reply.status === 403) {
      auth.invalidate();
      reply = await this.#withRetries(path, async () => this.#post(path, body, await auth.token()));
    }
    return this.#dataOrThrow(path, reply);
  }

  /** An unauthenticated login call; returns the client token and its lease. */
  async login(
    path: string,
    body: Record<string, unknown>,
  ): Promise<{ clientToken: string; leaseDurationSeconds: number }> {
    const reply = await this.#withRetries(path, async () => this.#post(path, body, undefined));
    if (reply.status !== 200 || typeof reply.body.auth?.client_token !== 'string') {
      throw this.#errorFor(path, reply);
    }
    return {
      clientToken: reply.body.auth.client_token,
      leaseDurationSeconds: Number(reply.body.auth.lease_duration ?? 0),
    };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  #dataOrThrow(path: string, reply: VaultReply): Record<string, unknown> {
    if (reply.status >= 200 && reply.status < 300 && reply.body.data !== undefined) return reply.body.data;
    throw this.#errorFor(path, reply);
  }

  #errorFor(path: string, reply: VaultReply): KeyServiceError {
    const detail = (reply.body.errors ?? []).join('; ') || `HTTP ${reply.status}`;
    const message = `Vault ${path}: ${detail}`;
    if (reply.status === 403) return new KeyServiceError('denied', message);
    if (reply.status === 400 || reply.status === 404) return new KeyServiceError('rejected', message);
    return new KeyServiceError('unavailable', message);
  }

  async #withRetries(path: string, call: () => Promise<VaultReply>): Promise<VaultReply> {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let outcome: 'ok' | 'denied' | 'rejected' | 'unavailable' = 'unavailable';
      try {
        const reply = await call();
        outcome =
          reply.status < 300
            ? 'ok'
            : reply.status === 403
              ? 'denied'
              : reply.status < 500 && reply.status !== 429
                ? 'rejected'
                : 'unavailable';
        if (outcome !== 'unavailable' || attempt >= this.#options.maxRetries) return reply;
      } catch (error) {
        if (error instanceof KeyServiceError && error.kind !== 'unavailable') throw error;
        if (attempt >= this.#options.maxRetries) {
          throw new KeyServiceError('unavailable', `Vault ${path}: ${describe(error)}`, { cause: error });
        }
      } finally {
        this.#options.onCall?.({ path, outcome, seconds: (performance.now() - started) / 1000 });
      }
      // Full jitter keeps a fleet of sidecars from retrying in lockstep after a Vault hiccup.
      await sleep(Math.random() * Math.min(2000, 100 * 2 ** attempt));
    }
  }

  async #post(path: string, body: Record<string, unknown>, token: string | undefined): Promise<VaultReply> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== undefined) headers['x-vault-token'] = token;
    if (this.#options.namespace) headers['x-vault-namespace'] = this.#options.namespace;
    const response = await this.#agent.request({
      origin: this.#base,
      path: `/v1/${path}`,
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      headersTimeout: this.#options.timeoutMs,
      bodyTimeout: this.#options.timeoutMs,
      signal: AbortSignal.timeout(this.#options.timeoutMs),
    });
    const text = await response.body.text();
    let parsed: VaultReply['body'] = {};
    if (text !== '') {
      try {
        parsed = JSON.parse(text) as VaultReply['body'];
      } catch {
        parsed = { errors: [`unexpected non-JSON reply (HTTP ${response.statusCode})`] };
      }
    }
    return { status: response.statusCode, body: parsed };
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} ${error.message}` : error.message;
  }
  return String(error);
}
