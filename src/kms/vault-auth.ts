import { readFile } from 'node:fs/promises';

/** Supplies the Vault token to send; `invalidate` is called when Vault said the token is no good (403). */
export interface VaultAuth {
  token(): Promise<string>;
  invalidate(): void;
  readonly method: string;
}

export class StaticTokenAuth implements VaultAuth {
  readonly method = 'token';
  readonly #token: string;
  constructor(token: string) {
    this.#token = token;
  }
  async token(): Promise<string> {
    return this.#token;
  }
  invalidate(): void {
    // A static token cannot be refreshed; the next call fails again and says so.
  }
}

export type LoginFunction = (
  path: string,
  body: Record<string, unknown>,
) => Promise<{ clientToken: string; leaseDurationSeconds: number }>;

/**
 * Kubernetes auth: the service-account JWT is re-read at every login because the kubelet rotates it.
 * The token is cached until shortly before its lease ends or until Vault refuses it.
 */
export class KubernetesAuth implements VaultAuth {
  readonly method = 'kubernetes';
  readonly #role: string;
  readonly #mountPath: string;
  readonly #jwtPath: string;
  readonly #login: LoginFunction;
  #cached: { token: string; refreshAt: number } | undefined;
  #pending: Promise<string> | undefined;

  constructor(options: { role: string; mountPath: string; jwtPath: string; login: LoginFunction }) {
    this.#role = options.role;
    this.#mountPath = options.mountPath.replace(/^\/+|\/+$/g, '');
    this.#jwtPath = options.jwtPath;
    this.#login = options.login;
  }

  async token(): Promise<string> {
    if (this.#cached !== undefined && Date.now() < this.#cached.refreshAt) return this.#cached.token;
    this.#pending ??= this.#loginOnce().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  invalidate(): void {
    this.#cached = undefined;
  }

  async #loginOnce(): Promise<string> {
    const jwt = (await readFile(this.#jwtPath, 'utf8')).trim();
    const { clientToken, leaseDurationSeconds } = await this.#login(`auth/${this.#mountPath}/login`, {
      role: this.#role,
      jwt,
    });
    const lifetimeMs = leaseDurationSeconds > 0 ? leaseDurationSeconds * 1000 : 3_600_000;
    this.#cached = { token: clientToken, refreshAt: Date.now() + lifetimeMs * 0.8 };
    return clientToken;
  }
}
