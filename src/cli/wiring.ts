import type { Config } from '../config/index.ts';
import { TransitKeyMap, transitKeyRef } from '../config/transit-keys.ts';
import type { PoolEvent } from '../kms/key-pool.ts';
import { KeyRing } from '../kms/key-ring.ts';
import { VaultKeyService } from '../kms/key-service.ts';
import { TransitKeyWrapper } from '../kms/transit.ts';
import { type AuthEvent, KubernetesAuth, StaticTokenAuth, type VaultAuth } from '../kms/vault-auth.ts';
import { VaultClient, type VaultClientOptions } from '../kms/vault-client.ts';
import { UpstreamClient } from '../upstream/client.ts';

/** Observers for metrics and logs; the command-line tools pass none. */
export type KeyServiceHooks = {
  onVaultCall?: VaultClientOptions['onCall'];
  onAuthEvent?: (event: AuthEvent) => void;
  /** `transitKey`: the key's recorded name (`<mount>/<key>`), bounded by the mapping: the metrics label. */
  onPoolEvent?: (event: PoolEvent, transitKey: string) => void;
  onCacheLookup?: (result: 'hit' | 'miss', transitKey: string) => void;
  onCacheSize?: (entries: number, transitKey: string) => void;
};

export type KeyServices = {
  vault: VaultClient;
  auth: VaultAuth;
  /** Direct Transit calls (rewrap, newest key version) of the default key, that the pool and the cache do not cover. */
  transit: TransitKeyWrapper;
  /** The same for every configured key, by recorded name (`<mount>/<key>`). */
  transits: ReadonlyMap<string, TransitKeyWrapper>;
  /**
   * Per Transit key of the mapping, pooled data keys for writes and cached unwrapped keys for reads, and the
   * choice of key per bucket and prefix: what the proxy and the tools use.
   */
  keys: KeyRing;
};

/**
 * Configuration → Vault client, auth method, Transit and the key service. The proxy and the
 * command-line tools (decrypt, rewrap, encrypt-existing) build them here, so both read the same
 * environment variables the same way.
 */
export function createKeyServices(
  config: Config,
  hooks: KeyServiceHooks = {},
  /**
   * The proxy bounds each S3 request's wait for a key (CLOUDTASER_S3PROXY_KEY_TIMEOUT); the tools wait as
   * long as Vault's own timeout and retries take, rather than fail an object a client would have retried.
   */
  options: { keyTimeoutMs?: number } = {},
): KeyServices {
  const vault = new VaultClient({
    addr: config.vault.addr,
    namespace: config.vault.namespace,
    caCertPath: config.vault.caCertPath,
    skipVerify: config.vault.skipVerify,
    timeoutMs: config.vault.timeoutMs,
    maxRetries: config.vault.maxRetries,
    onCall: hooks.onVaultCall,
  });
  const auth =
    config.vault.authMethod === 'token'
      ? new StaticTokenAuth(config.vault.token ?? '', {
          lookup: (token) => vault.lookupSelf(token),
          renew: (token) => vault.renewSelf(token),
          onEvent: hooks.onAuthEvent,
        })
      : new KubernetesAuth({
          role: config.vault.authRole ?? '',
          mountPath: config.vault.authMountPath,
          jwtPath: config.vault.authTokenPath,
          login: (path, body) => vault.login(path, body),
          renew: (token) => vault.renewSelf(token),
          onEvent: hooks.onAuthEvent,
        });
  vault.useAuth(auth);
  const transits = new Map<string, TransitKeyWrapper>();
  const keys = new KeyRing(new TransitKeyMap(config.transit, config.transitKeys), (name) => {
    const ref = transitKeyRef(name);
    const transit = new TransitKeyWrapper(vault, name);
    transits.set(ref, transit);
    const { onPoolEvent, onCacheLookup, onCacheSize } = hooks;
    return new VaultKeyService({
      transit,
      auth,
      contact: vault.contact,
      poolSize: config.keys.poolSize,
      ...(options.keyTimeoutMs === undefined ? {} : { keyTimeoutMs: options.keyTimeoutMs }),
      cache: config.keys.cache,
      onPoolEvent: onPoolEvent && ((event) => onPoolEvent(event, ref)),
      onCacheLookup: onCacheLookup && ((result) => onCacheLookup(result, ref)),
      onCacheSize: onCacheSize && ((entries) => onCacheSize(entries, ref)),
    });
  });
  const transit = transits.get(transitKeyRef(config.transit)) as TransitKeyWrapper;
  return { vault, auth, transit, transits, keys };
}

/** The SigV4-signing client to the real S3 endpoint, with the AWS credential chain. */
export function createUpstreamClient(config: Config): UpstreamClient {
  return new UpstreamClient({
    endpoint: {
      protocol: config.s3.endpoint.protocol,
      hostname: config.s3.endpoint.host,
      port: config.s3.endpoint.port,
      basePath: config.s3.endpoint.basePath,
    },
    region: config.s3.region,
    addressing: config.s3.addressing,
  });
}
