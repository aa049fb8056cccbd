import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, errors as undiciErrors } from 'undici';
import { KeyServiceError } from './key-wrapper.ts';
import type { VaultAuth } from './vault-auth.ts';

export type VaultCallOutcome = 'ok' | 'denied' | 'rejected' | 'unavailable';

export type VaultClientOptions = {
  addr: string;
  namespace?: string | undefined;
  caCertPath?: string | undefined;
  skipVerify: boolean;
  timeoutMs: number;
  maxRetries: number;
  /** Observes every HTTP call to Vault (each retry too), for metrics. */
  onCall?: (call: { path: string; outcome: VaultCallOutcome; seconds: number }) => void;
};

/** A Vault token and its lease as Vault reported it: `leaseSeconds` 0 means it does not expire. */
export type TokenGrant = { token: string; leaseSeconds: number; renewable: boolean };

type VaultReply = {
  status: number;
  body: { data?: Record<string, unknown>; auth?: Record<string, unknown>; errors?: string[] };
};

/**
 * What the client has lately seen of Vault: the last answer, and the last sign of trouble (a call that got
 * no usable answer, a refusal, or a connection Vault or the network closed under us). Writes that would
 * use a data key wrapped earlier ask this whether Vault is known to be there right now (see key-pool.ts).
 */
export class VaultContact {
  #lastAnswerAt = Number.NEGATIVE_INFINITY;
  #lastTroubleAt = Number.NEGATIVE_INFINITY;
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  answered(): void {
    this.#lastAnswerAt = this.#now();
  }

  trouble(): void {
    this.#lastTroubleAt = this.#now();
  }

  /** True when Vault's last word was an answer, given less than `withinMs` ago, and nothing went wrong since. */
  healthy(withinMs: number): boolean {
    return this.#lastAnswerAt > this.#lastTroubleAt && this.#now() - this.#lastAnswerAt <= withinMs;
  }

  /** Milliseconds since Vault last answered (Infinity if never). */
  sinceAnswerMs(): number {
    return this.#now() - this.#lastAnswerAt;
  }
}

/** A minimal Vault HTTP client: JSON over a pooled connection, bounded retries with jitter for transient faults. */
export class VaultClient {
  readonly #options: VaultClientOptions;
  readonly #agent: Agent;
  readonly #base: string;
  readonly contact = new VaultContact();
  #auth: VaultAuth | undefined;
  #closing = false;

  constructor(options: VaultClientOptions) {
    this.#options = options;
    this.#base = options.addr.replace(/\/+$/, '');
    const ca = options.caCertPath === undefined ? undefined : readFileSync(options.caCertPath, 'utf8');
    this.#agent = new Agent({
      connections: 32,
      // Idle connections are kept a while: a new TLS handshake per batch would cost more than the batch.
      keepAliveTimeout: 30_000,
      connect: {
        rejectUnauthorized: !options.skipVerify,
        timeout: options.timeoutMs,
        ...(ca === undefined ? {} : { ca }),
      },
    });
    // A connection that Vault or the network dropped (not one we let go idle) is news that Vault may be
    // gone: until it answers again, nothing is to rely on it having been there a moment ago.
    this.#agent.on('disconnect', (_origin, _targets, error) => {
      if (!this.#closing && !(error instanceof undiciErrors.InformationalError)) this.contact.trouble();
    });
  }

  useAuth(auth: VaultAuth): void {
    this.#auth = auth;
  }

  /**
   * An authenticated write (POST). On 403 the auth method may replace the token (an expired or revoked one);
   * then the call is tried once more with the new one.
   */
  write(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.#authenticated('POST', path, body);
  }

  /** An authenticated read (GET), with the same token replacement on 403 as `write`. */
  read(path: string): Promise<Record<string, unknown>> {
    return this.#authenticated('GET', path, undefined);
  }

  async #authenticated(
    method: 'GET' | 'POST',
    path: string,
    body: Record<string, unknown> | undefined,
  ): Promise<Record<string, unknown>> {
    const auth = this.#auth;
    if (auth === undefined) throw new Error('VaultClient used before an auth method was set');
    let token = await auth.token();
    let reply = await this.#withRetries(path, () => this.#send(method, path, body, token));
    if (reply.status === 403 && auth.invalidate(token)) {
      token = await auth.token();
      reply = await this.#withRetries(path, () => this.#send(method, path, body, token));
    }
    return this.#dataOrThrow(path, reply);
  }

  /** An unauthenticated login call (`auth/<mount>/login`). */
  async login(path: string, body: Record<string, unknown>): Promise<TokenGrant> {
    const reply = await this.#withRetries(path, () => this.#send('POST', path, body, undefined));
    return this.#grantOrThrow(path, reply);
  }

  /** Extends `token`'s lease (`auth/token/renew-self`); Vault caps it at the token's max TTL. */
  async renewSelf(token: string): Promise<TokenGrant> {
    const path = 'auth/token/renew-self';
    const reply = await this.#withRetries(path, () => this.#send('POST', path, {}, token));
    return this.#grantOrThrow(path, reply);
  }

  /** What Vault knows of `token` (`auth/token/lookup-self`): its remaining TTL and whether it renews. */
  async lookupSelf(token: string): Promise<TokenGrant> {
    const path = 'auth/token/lookup-self';
    const reply = await this.#withRetries(path, () => this.#send('GET', path, undefined, token));
    const data = this.#dataOrThrow(path, reply);
    return { token, leaseSeconds: Number(data.ttl ?? 0), renewable: data.renewable === true };
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#agent.close();
  }

  #grantOrThrow(path: string, reply: VaultReply): TokenGrant {
    const auth = reply.body.auth;
    if (reply.status !== 200 || typeof auth?.client_token !== 'string') throw this.#errorFor(path, reply);
    return {
      token: auth.client_token,
      leaseSeconds: Number(auth.lease_duration ?? 0),
      renewable: auth.renewable === true,
    };
  }

  #dataOrThrow(path: string, reply: VaultReply): Record<string, unknown> {
    if (reply.status >= 200 && reply.status < 300 && reply.body.data !== undefined) return reply.body.data;
    throw this.#errorFor(path, reply);
  }

  #errorFor(path: string, reply: VaultReply): KeyServiceError {
    const detail = (reply.body.errors ?? []).join('; ') || `HTTP ${reply.status}`;
    const message = `Vault ${path}: ${detail}`;
    // Vault answers a sealed or standby-without-leader state with 503, overload with 429: all transient.
    if (reply.status === 403) return new KeyServiceError('denied', message);
    if (reply.status >= 400 && reply.status < 500 && reply.status !== 429 && reply.status !== 412)
      return new KeyServiceError('rejected', message);
    return new KeyServiceError('unavailable', message);
  }

  async #withRetries(path: string, call: () => Promise<VaultReply>): Promise<VaultReply> {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let outcome: VaultCallOutcome = 'unavailable';
      try {
        const reply = await call();
        outcome = outcomeOf(reply.status);
        if (outcome !== 'unavailable' || attempt >= this.#options.maxRetries) return reply;
      } catch (error) {
        if (attempt >= this.#options.maxRetries) {
          throw new KeyServiceError('unavailable', `Vault ${path}: ${describe(error)}`, { cause: error });
        }
      } finally {
        if (outcome === 'ok' || outcome === 'rejected') this.contact.answered();
        else this.contact.trouble();
        this.#options.onCall?.({ path, outcome, seconds: (performance.now() - started) / 1000 });
      }
      // Full jitter keeps a fleet of sidecars from retrying in lockstep after a Vault hiccup.
      await sleep(Math.random() * Math.min(2000, 100 * 2 ** attempt));
    }
  }

  async #send(
    method: 'GET' | 'POST',
    path: string,
    body: Record<string, unknown> | undefined,
    token: string | undefined,
  ): Promise<VaultReply> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token !== undefined) headers['x-vault-token'] = token;
    if (this.#options.namespace) headers['x-vault-namespace'] = this.#options.namespace;
    const response = await this.#agent.request({
      origin: this.#base,
      path: `/v1/${path}`,
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
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

export function outcomeOf(status: number): VaultCallOutcome {
  if (status < 300) return 'ok';
  if (status === 403) return 'denied';
  if (status < 500 && status !== 429 && status !== 412) return 'rejected';
  return 'unavailable';
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} ${error.message}` : error.message;
  }
  return String(error);
}
