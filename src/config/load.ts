/**
 * Reads the environment into one typed, frozen Config, reporting every problem at once (one line each,
 * naming the variable) so that an operator fixes a deployment in one round instead of one per restart.
 */
import { formatListenAddress, type HttpEndpoint, type ListenAddress } from './parse.ts';
import {
  type LogLevel,
  SETTING_PREFIX,
  SETTINGS,
  type Setting,
  type SettingId,
  type SettingValues,
  type UnencryptedObjectPolicy,
  type UpstreamAddressingMode,
  type VaultAuthMethod,
} from './settings.ts';
import type { TransitKeyEntry } from './transit-keys.ts';

export interface Config {
  readonly listen: ListenAddress;
  readonly health: ListenAddress;
  /** Inbound authentication: present when CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE is set. */
  readonly clientAuth?: { readonly credentialsFile: string; readonly reloadIntervalMs: number };
  readonly s3: {
    readonly endpoint: HttpEndpoint;
    readonly region: string;
    readonly addressing: UpstreamAddressingMode;
    readonly virtualHostDomains: readonly string[];
  };
  readonly vault: {
    readonly addr: string;
    /** Not enumerable, so that logging or serialising the config cannot print it. */
    readonly token?: string;
    readonly authMethod: VaultAuthMethod;
    readonly authRole?: string;
    readonly authMountPath: string;
    readonly authTokenPath: string;
    readonly namespace?: string;
    readonly caCertPath?: string;
    readonly skipVerify: boolean;
    readonly timeoutMs: number;
    readonly maxRetries: number;
  };
  /** Data keys wrapped ahead of time (0: none) and the cache of unwrapped keys. */
  readonly keys: {
    readonly poolSize: number;
    readonly cache: { readonly enabled: boolean; readonly maxEntries: number; readonly ttlMs: number };
  };
  /** The default Transit key: wraps everything CLOUDTASER_S3PROXY_TRANSIT_KEYS does not map. */
  readonly transit: { readonly mount: string; readonly key: string };
  /** Transit keys per bucket and prefix (empty: the default key everywhere); see src/config/transit-keys.ts. */
  readonly transitKeys: readonly TransitKeyEntry[];
  readonly maxObjectSize: number;
  readonly unencryptedObjects: UnencryptedObjectPolicy;
  readonly logLevel: LogLevel;
  readonly shutdownGraceMs: number;
  /** What a client may cost the proxy: timeouts while it sends or reads, and how many requests at once. */
  readonly clients: {
    readonly headerTimeoutMs: number;
    readonly idleTimeoutMs: number;
    /** Bytes per second; 0: no minimum. */
    readonly minBodyRate: number;
    readonly maxRequests: number;
    readonly maxUploads: number;
  };
  /** Longest an S3 request waits for a key from Vault. */
  readonly keyTimeoutMs: number;
  readonly readyTimeoutMs: number;
}

export type LoadConfigResult =
  | { ok: true; config: Config /** Not fatal, but worth a log line at start-up. */; warnings: string[] }
  | { ok: false; errors: string[] };

type Env = Readonly<Record<string, string | undefined>>;

const MAX_ECHOED_VALUE = 120;

function echo(raw: string): string {
  const shown = raw.length > MAX_ECHOED_VALUE ? `${raw.slice(0, MAX_ECHOED_VALUE)}…` : raw;
  return JSON.stringify(shown);
}

/** Kubernetes renders an unset optional value as an empty string, so blank means unset. */
function readRaw(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

function parseSetting(env: Env, spec: Setting<unknown>, errors: string[]): unknown {
  const raw = readRaw(env, spec.env);
  if (raw === undefined) {
    if (spec.presence === 'required') errors.push(`${spec.env} is required (${spec.purpose})`);
    if (spec.presence !== 'defaulted') return undefined;
    const parsedDefault = spec.parse(spec.default);
    if (!parsedDefault.ok) {
      throw new Error(`default of ${spec.env} does not parse: ${parsedDefault.expected}`);
    }
    return parsedDefault.value;
  }
  const parsed = spec.parse(raw);
  if (parsed.ok) return parsed.value;
  errors.push(
    spec.secret === true
      ? `${spec.env} must be ${parsed.expected}`
      : `${spec.env} must be ${parsed.expected}, got ${echo(raw)}`,
  );
  return undefined;
}

function listenersOverlap(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  return a.host === undefined || b.host === undefined || a.host === b.host;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

export function loadConfig(env: Env): LoadConfigResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const parsed: Partial<Record<SettingId, unknown>> = {};
  for (const id of Object.keys(SETTINGS) as SettingId[]) {
    parsed[id] = parseSetting(env, SETTINGS[id], errors);
  }
  // Every setting either parsed or added an error; the values are only read when there are no errors.
  const values = parsed as SettingValues;
  const rawAuthMethod = readRaw(env, SETTINGS.vaultAuthMethod.env);

  // An invalid VAULT_AUTH_METHOD parsed to undefined and has its own error; neither rule below applies then.
  if (values.vaultAuthMethod === 'token' && values.vaultToken === undefined) {
    errors.push('VAULT_TOKEN is required when VAULT_AUTH_METHOD=token');
  }
  if (values.vaultAuthMethod === 'kubernetes' && values.vaultAuthRole === undefined) {
    const hint =
      rawAuthMethod === undefined && values.vaultToken !== undefined
        ? ' (or set VAULT_AUTH_METHOD=token to log in with VAULT_TOKEN)'
        : '';
    errors.push(`VAULT_AUTH_ROLE is required when VAULT_AUTH_METHOD=kubernetes${hint}`);
  }
  if (
    values.maxUploads !== undefined &&
    values.maxRequests !== undefined &&
    values.maxUploads >= values.maxRequests
  ) {
    errors.push(
      `CLOUDTASER_S3PROXY_MAX_UPLOADS (${values.maxUploads}) must be below CLOUDTASER_S3PROXY_MAX_REQUESTS (${values.maxRequests}), so that uploads cannot take every request slot`,
    );
  }
  if (values.listenAddr !== undefined && values.healthAddr !== undefined) {
    if (listenersOverlap(values.listenAddr, values.healthAddr)) {
      errors.push(
        `CLOUDTASER_S3PROXY_HEALTH_ADDR must not overlap CLOUDTASER_S3PROXY_LISTEN_ADDR, both use ${formatListenAddress(values.healthAddr)} and ${formatListenAddress(values.listenAddr)}`,
      );
    }
  }
  if (errors.length > 0) return { ok: false, errors };

  const known = new Set(Object.values(SETTINGS).map((s) => s.env));
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith(SETTING_PREFIX) && !known.has(name)) {
      warnings.push(`${name} is not a setting of this proxy version and is ignored (misspelt?)`);
    }
  }
  if (values.listenAddr.host === undefined && values.clientCredentialsFile === undefined) {
    warnings.push(
      `CLOUDTASER_S3PROXY_LISTEN_ADDR=${formatListenAddress(values.listenAddr)} binds all interfaces: anything that can reach this pod can read decrypted objects (set CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE to require signed requests)`,
    );
  }
  if (values.vaultSkipVerify) {
    warnings.push("VAULT_SKIP_VERIFY is on: Vault's TLS certificate is not verified");
  }
  if (values.vaultAuthMethod === 'kubernetes' && values.vaultToken !== undefined) {
    warnings.push('VAULT_TOKEN is set but not used, because VAULT_AUTH_METHOD=kubernetes');
  }

  const vault = {
    addr: values.vaultAddr,
    authMethod: values.vaultAuthMethod,
    ...(values.vaultAuthRole === undefined ? {} : { authRole: values.vaultAuthRole }),
    authMountPath: values.vaultAuthMountPath,
    authTokenPath: values.vaultAuthTokenPath,
    ...(values.vaultNamespace === undefined ? {} : { namespace: values.vaultNamespace }),
    ...(values.vaultCaCert === undefined ? {} : { caCertPath: values.vaultCaCert }),
    skipVerify: values.vaultSkipVerify,
    timeoutMs: values.vaultClientTimeout,
    maxRetries: values.vaultMaxRetries,
  };
  if (values.vaultToken !== undefined) {
    Object.defineProperty(vault, 'token', { value: values.vaultToken, enumerable: false });
  }
  const config: Config = {
    listen: { ...values.listenAddr },
    health: { ...values.healthAddr },
    ...(values.clientCredentialsFile === undefined
      ? {}
      : {
          clientAuth: {
            credentialsFile: values.clientCredentialsFile,
            reloadIntervalMs: values.clientCredentialsReloadInterval,
          },
        }),
    s3: {
      endpoint: { ...values.s3Endpoint },
      region: values.s3Region,
      addressing: values.upstreamAddressing,
      virtualHostDomains: [...values.virtualHostDomains],
    },
    vault,
    transit: { mount: values.transitMount, key: values.transitKey },
    transitKeys: values.transitKeys ?? [],
    keys: {
      poolSize: values.keyPoolSize,
      cache: { enabled: values.keyCacheEnabled, maxEntries: values.keyCacheSize, ttlMs: values.keyCacheTtl },
    },
    maxObjectSize: values.maxObjectSize,
    unencryptedObjects: values.unencryptedObjects,
    logLevel: values.logLevel,
    shutdownGraceMs: values.shutdownGrace,
    clients: {
      headerTimeoutMs: values.clientHeaderTimeout,
      idleTimeoutMs: values.clientIdleTimeout,
      minBodyRate: values.clientMinBodyRate,
      maxRequests: values.maxRequests,
      maxUploads: values.maxUploads,
    },
    keyTimeoutMs: values.keyTimeout,
    readyTimeoutMs: values.readyTimeout,
  };
  return { ok: true, config: deepFreeze(config), warnings };
}
