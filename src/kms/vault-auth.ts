import { readFile } from 'node:fs/promises';
import { KeyServiceError } from './key-wrapper.ts';
import type { TokenGrant } from './vault-client.ts';

/** Supplies the Vault token to send, and keeps it alive (renewal, login again) in the background. */
export interface VaultAuth {
  readonly method: string;
  /** A token believed valid; logs in first when there is none. Throws a KeyServiceError when it cannot. */
  token(): Promise<string>;
  /**
   * Vault refused `token` (403). True when another token will be tried, so that the caller may retry once;
   * false when there is nothing better (a static token, or a token so fresh that the refusal must be policy).
   */
  invalidate(token: string): boolean;
  /** Stops the background timers. */
  close(): void;
}

export type AuthEvent = {
  type: 'login' | 'renewal';
  outcome: 'ok' | 'failed';
  /** The lease Vault granted (ok) or the reason (failed); never the token. */
  leaseSeconds?: number;
  reason?: string;
};

export type TokenPlan = { action: 'renew' | 'login' | 'none'; delayMs: number };

/**
 * When to act on a token. Like Vault's own agent, renew at about two thirds of the lease, with jitter so
 * that a fleet of sidecars started together does not renew together. A lease that renewal no longer
 * extends (`capped`: the max TTL is near) is replaced by logging in again before it runs out.
 */
export function planTokenRefresh(
  lease: { leaseSeconds: number; renewable: boolean; capped: boolean },
  canLogin: boolean,
  random: () => number = Math.random,
): TokenPlan {
  if (!(lease.leaseSeconds > 0)) return { action: 'none', delayMs: 0 };
  const delayMs = lease.leaseSeconds * 1000 * (0.6 + 0.1 * random());
  if (lease.renewable && !lease.capped) return { action: 'renew', delayMs };
  if (canLogin) return { action: 'login', delayMs };
  return { action: 'none', delayMs: 0 };
}

/** Full jitter, growing from 0.5 s to 30 s: failed logins and renewals back off instead of hammering Vault. */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 500 * 2 ** Math.max(0, failures - 1));
  return ceiling * (0.5 + 0.5 * random());
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A refusal of a token younger than this is taken for a policy problem, not for an expired token. */
const FRESH_TOKEN_MS = 2_000;

/**
 * A token that can be replaced by logging in is not sent in the last second of its lease (the last quarter
 * of a shorter one): Vault's TTLs are whole seconds, and a request sent just before expiry can arrive
 * after it. A refresh timer that fires late under load is enough for that.
 */
function usableUntil(askedAt: number, leaseSeconds: number, canLogin: boolean): number {
  if (!(leaseSeconds > 0)) return Number.POSITIVE_INFINITY;
  const margin = canLogin ? Math.min(1_000, leaseSeconds * 250) : 0;
  return askedAt + leaseSeconds * 1000 - margin;
}

type Current = {
  token: string;
  grantedAt: number;
  /** Infinity for a token without expiry. */
  expiresAt: number;
  /** Until when requests are sent with it (`usableUntil`). */
  usableUntil: number;
  /** The lease the token got when it was issued; renewals returning less have reached the max TTL. */
  issuedLeaseSeconds: number;
  renewable: boolean;
};

type TokenKeeperOptions = {
  method: string;
  /** Logs in (kubernetes) or looks the static token up (token); the grant's lease drives renewal. */
  obtain: () => Promise<TokenGrant>;
  renew: (token: string) => Promise<TokenGrant>;
  /** Whether `obtain` gives a new token (login) or describes the same one (static token). */
  canLogin: boolean;
  onEvent?: ((event: AuthEvent) => void) | undefined;
  now?: () => number;
  random?: () => number;
};

/**
 * Keeps one Vault token alive: renews it before its lease ends, logs in again when renewal stops
 * extending it (max TTL), when it expired or when Vault refused it. Logins are single-flight and back off
 * after failures; the previous token is used until its replacement arrives.
 */
class TokenKeeper implements VaultAuth {
  readonly method: string;
  readonly #options: TokenKeeperOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  #current: Current | undefined;
  #pending: Promise<string> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #lastError: KeyServiceError | undefined;
  #retryAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(options: TokenKeeperOptions) {
    this.method = options.method;
    this.#options = options;
    this.#now = options.now ?? (() => Date.now());
    this.#random = options.random ?? Math.random;
  }

  async token(): Promise<string> {
    const current = this.#current;
    if (current !== undefined && this.#now() < current.usableUntil) return current.token;
    if (this.#pending === undefined && this.#now() < this.#retryAt && this.#lastError !== undefined)
      throw this.#lastError;
    return this.#obtainOnce();
  }

  invalidate(token: string): boolean {
    if (!this.#options.canLogin) return false;
    const current = this.#current;
    if (current === undefined || current.token !== token) return true;
    if (this.#now() - current.grantedAt < FRESH_TOKEN_MS) return false;
    this.#current = undefined;
    return true;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #obtainOnce(): Promise<string> {
    this.#pending ??= this.#obtain().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #obtain(): Promise<string> {
    try {
      // The lease runs from when Vault granted it, which is before its answer arrived here.
      const asked = this.#now();
      const grant = await this.#options.obtain();
      this.#current = {
        token: grant.token,
        grantedAt: this.#now(),
        expiresAt: grant.leaseSeconds > 0 ? asked + grant.leaseSeconds * 1000 : Number.POSITIVE_INFINITY,
        usableUntil: usableUntil(asked, grant.leaseSeconds, this.#options.canLogin),
        issuedLeaseSeconds: grant.leaseSeconds,
        renewable: grant.renewable,
      };
      this.#failures = 0;
      this.#lastError = undefined;
      this.#options.onEvent?.({ type: 'login', outcome: 'ok', leaseSeconds: grant.leaseSeconds });
      this.#schedule(
        planTokenRefresh(
          { leaseSeconds: grant.leaseSeconds, renewable: grant.renewable, capped: false },
          this.#options.canLogin,
          this.#random,
        ),
      );
      return grant.token;
    } catch (error) {
      const failure = asKeyError(error, `Vault ${this.method} auth`);
      this.#failures++;
      this.#lastError = failure;
      this.#retryAt = this.#now() + retryDelayMs(this.#failures, this.#random);
      this.#options.onEvent?.({ type: 'login', outcome: 'failed', reason: failure.message });
      // Logged in still: keep the old token while it lasts, and try again before it ends.
      if (this.#current !== undefined && this.#now() < this.#current.expiresAt) {
        this.#schedule({ action: 'login', delayMs: this.#retryAt - this.#now() });
      }
      throw failure;
    }
  }

  async #renew(): Promise<void> {
    const current = this.#current;
    if (current === undefined) return;
    try {
      const asked = this.#now();
      const grant = await this.#options.renew(current.token);
      if (this.#current !== current) return;
      current.expiresAt =
        grant.leaseSeconds > 0 ? asked + grant.leaseSeconds * 1000 : Number.POSITIVE_INFINITY;
      current.usableUntil = usableUntil(asked, grant.leaseSeconds, this.#options.canLogin);
      current.renewable = grant.renewable;
      this.#failures = 0;
      this.#options.onEvent?.({ type: 'renewal', outcome: 'ok', leaseSeconds: grant.leaseSeconds });
      this.#schedule(
        planTokenRefresh(
          {
            leaseSeconds: grant.leaseSeconds,
            renewable: grant.renewable,
            capped: grant.leaseSeconds < current.issuedLeaseSeconds,
          },
          this.#options.canLogin,
          this.#random,
        ),
      );
    } catch (error) {
      const failure = asKeyError(error, 'Vault token renewal');
      this.#options.onEvent?.({ type: 'renewal', outcome: 'failed', reason: failure.message });
      if (this.#current !== current) return;
      this.#failures++;
      const remaining = current.expiresAt - this.#now();
      if (failure.kind === 'denied' || remaining <= 0) {
        // Revoked or expired: renewing cannot help, only a new login can.
        if (this.#options.canLogin) {
          this.#current = undefined;
          this.#schedule({ action: 'login', delayMs: 0 });
        }
        return;
      }
      this.#schedule({
        action: 'renew',
        delayMs: Math.min(retryDelayMs(this.#failures, this.#random), remaining / 2),
      });
    }
  }

  #schedule(plan: TokenPlan): void {
    clearTimeout(this.#timer);
    if (this.#closed || plan.action === 'none') return;
    this.#timer = setTimeout(
      () => {
        if (plan.action === 'renew') void this.#renew();
        else this.#obtainOnce().catch(() => undefined); // recorded, reported and rescheduled by #obtain
      },
      // Node fires longer timers at once; renewing a month-long token after 24 days instead is harmless.
      Math.min(MAX_TIMER_MS, Math.max(0, plan.delayMs)),
    );
    // Timers alone must not keep a stopping process alive.
    this.#timer.unref();
  }
}

function asKeyError(error: unknown, context: string): KeyServiceError {
  if (error instanceof KeyServiceError) return error;
  return new KeyServiceError('unavailable', `${context}: ${error instanceof Error ? error.message : error}`, {
    cause: error,
  });
}

/**
 * VAULT_TOKEN. It cannot be replaced, but a renewable one is renewed before its lease ends (the lease is
 * learnt with lookup-self, which OpenBao's `default` policy allows; without it the token is used as is).
 */
export class StaticTokenAuth implements VaultAuth {
  readonly method = 'token';
  readonly #token: string;
  readonly #keeper: TokenKeeper | undefined;
  #lookupRefused = false;

  constructor(
    token: string,
    options?: {
      lookup: (token: string) => Promise<TokenGrant>;
      renew: (token: string) => Promise<TokenGrant>;
      onEvent?: (event: AuthEvent) => void;
    },
  ) {
    this.#token = token;
    this.#keeper =
      options === undefined
        ? undefined
        : new TokenKeeper({
            method: 'token',
            canLogin: false,
            obtain: () => options.lookup(token),
            renew: options.renew,
            onEvent: (event) => {
              // A lookup is not a login: only renewals are worth reporting for a static token.
              if (event.type === 'renewal') options.onEvent?.(event);
            },
          });
  }

  async token(): Promise<string> {
    // Only to learn the lease for renewal (retried while Vault is unreachable, given up when the token may
    // not look itself up): the token is used whatever the lookup says.
    if (this.#keeper !== undefined && !this.#lookupRefused) {
      this.#keeper.token().catch((error: unknown) => {
        if (error instanceof KeyServiceError && error.kind !== 'unavailable') this.#lookupRefused = true;
      });
    }
    return this.#token;
  }

  invalidate(): boolean {
    return false;
  }

  close(): void {
    this.#keeper?.close();
  }
}

/**
 * Kubernetes auth: the service-account JWT is re-read at every login because the kubelet rotates it.
 * Works with Vault's `kubernetes` method and with a `jwt` method mounted in its place.
 */
export class KubernetesAuth implements VaultAuth {
  readonly method = 'kubernetes';
  readonly #keeper: TokenKeeper;

  constructor(options: {
    role: string;
    mountPath: string;
    jwtPath: string;
    login: (path: string, body: Record<string, unknown>) => Promise<TokenGrant>;
    renew: (token: string) => Promise<TokenGrant>;
    onEvent?: ((event: AuthEvent) => void) | undefined;
    now?: () => number;
    random?: () => number;
  }) {
    const mountPath = options.mountPath.replace(/^\/+|\/+$/g, '');
    const path = `auth/${mountPath}/login`;
    this.#keeper = new TokenKeeper({
      method: 'kubernetes',
      canLogin: true,
      renew: options.renew,
      onEvent: options.onEvent,
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(options.random === undefined ? {} : { random: options.random }),
      obtain: async () => {
        let jwt: string;
        try {
          jwt = (await readFile(options.jwtPath, 'utf8')).trim();
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          throw new KeyServiceError(
            'unavailable',
            `cannot read the service-account token VAULT_AUTH_TOKEN_PATH=${options.jwtPath} (${code ?? error})`,
            { cause: error },
          );
        }
        try {
          return await options.login(path, { role: options.role, jwt });
        } catch (error) {
          // A refused login is a permission problem of this proxy, whatever status Vault chose for it.
          if (error instanceof KeyServiceError && error.kind === 'rejected')
            throw new KeyServiceError('denied', `login as role ${options.role}: ${error.message}`, {
              cause: error,
            });
          throw error;
        }
      },
    });
  }

  token(): Promise<string> {
    return this.#keeper.token();
  }

  invalidate(token: string): boolean {
    return this.#keeper.invalidate(token);
  }

  close(): void {
    this.#keeper.close();
  }
}
