import type { Config } from '../config/index.ts';
import { VaultKeyService } from '../kms/key-service.ts';
import { KeyServiceError } from '../kms/key-wrapper.ts';
import { TransitKeyWrapper } from '../kms/transit.ts';
import { type AuthEvent, KubernetesAuth, StaticTokenAuth } from '../kms/vault-auth.ts';
import { VaultClient } from '../kms/vault-client.ts';
import { createLogger } from '../log.ts';
import { createProxyHandler } from '../proxy/router.ts';
import { LayoutCache } from '../proxy/stored-object.ts';
import { createHealthServer } from '../server/health-server.ts';
import { createMetrics, vaultCallLabel } from '../server/metrics.ts';
import { createProxyServer, drain, listen } from '../server/proxy-server.ts';
import { UpstreamClient } from '../upstream/client.ts';

/** Wiring: configuration → Vault client → upstream client → servers; then waits for a signal and drains. */
export async function serve(config: Config, warnings: readonly string[] = []): Promise<void> {
  const logger = createLogger(config.logLevel);
  for (const warning of warnings) logger.warn({ warning }, 'configuration');
  const metrics = createMetrics();

  const vault = new VaultClient({
    addr: config.vault.addr,
    namespace: config.vault.namespace,
    caCertPath: config.vault.caCertPath,
    skipVerify: config.vault.skipVerify,
    timeoutMs: config.vault.timeoutMs,
    maxRetries: config.vault.maxRetries,
    onCall: ({ path, outcome, seconds }) => {
      const call = vaultCallLabel(path);
      metrics.vaultCalls.inc({ call, outcome });
      metrics.vaultDuration.observe({ call }, seconds);
    },
  });
  // Auth events carry lease lengths and reasons, never tokens.
  const onAuthEvent = (event: AuthEvent) => {
    (event.type === 'login' ? metrics.vaultLogins : metrics.vaultRenewals).inc({ outcome: event.outcome });
    if (event.outcome === 'ok') logger.debug({ leaseSeconds: event.leaseSeconds }, `Vault ${event.type}`);
    else logger.warn({ reason: event.reason }, `Vault ${event.type} failed`);
  };
  const auth =
    config.vault.authMethod === 'token'
      ? new StaticTokenAuth(config.vault.token ?? '', {
          lookup: (token) => vault.lookupSelf(token),
          renew: (token) => vault.renewSelf(token),
          onEvent: onAuthEvent,
        })
      : new KubernetesAuth({
          role: config.vault.authRole ?? '',
          mountPath: config.vault.authMountPath,
          jwtPath: config.vault.authTokenPath,
          login: (path, body) => vault.login(path, body),
          renew: (token) => vault.renewSelf(token),
          onEvent: onAuthEvent,
        });
  vault.useAuth(auth);
  const keys = new VaultKeyService({
    transit: new TransitKeyWrapper(vault, config.transit),
    auth,
    contact: vault.contact,
    poolSize: config.keys.poolSize,
    cache: config.keys.cache,
    onPoolEvent: (event) => {
      if (event.type === 'size') metrics.keyPoolKeys.set(event.keys);
      else if (event.type === 'refill') metrics.keyPoolRefills.inc({ outcome: event.outcome });
      else if (event.type === 'discard') metrics.keyPoolDiscarded.inc({ reason: event.reason }, event.keys);
      else metrics.dataKeysIssued.inc({ source: event.waited ? 'waited' : 'pool' });
    },
    onCacheLookup: (result) => metrics.keyCacheLookups.inc({ result }),
    onCacheSize: (entries) => metrics.keyCacheEntries.set(entries),
  });
  const upstream = new UpstreamClient({
    endpoint: {
      protocol: config.s3.endpoint.protocol,
      hostname: config.s3.endpoint.host,
      port: config.s3.endpoint.port,
      basePath: config.s3.endpoint.basePath,
    },
    region: config.s3.region,
    addressing: config.s3.addressing,
    connections: config.upstreamConnections,
  });

  let shuttingDown = false;
  const proxy = createProxyServer(
    createProxyHandler({
      upstream,
      keys,
      layouts: new LayoutCache(),
      maxObjectSize: config.maxObjectSize,
      unencryptedObjects: config.unencryptedObjects,
      virtualHostDomains: [...config.s3.virtualHostDomains],
      logger,
      metrics,
    }),
  );
  const health = createHealthServer({
    registry: metrics.registry,
    logger,
    isShuttingDown: () => shuttingDown,
    checks: [
      { name: 'vault', check: () => keys.checkReady() },
      {
        name: 'upstream',
        check: async () => {
          const response = await upstream.send({ method: 'GET' });
          response.body.resume();
          if (response.status >= 500) throw new Error(`upstream answered HTTP ${response.status}`);
        },
      },
    ],
  });

  const proxyAddress = await listen(proxy, config.listen);
  const healthAddress = await listen(health, config.health);
  logger.info(
    {
      listen: proxyAddress,
      health: healthAddress,
      upstream: upstream.origin,
      region: config.s3.region,
      vault: config.vault.addr,
      transit: `${config.transit.mount}/${config.transit.key}`,
      authMethod: config.vault.authMethod,
    },
    'cloudtaser-s3-proxy listening',
  );
  keys.start();
  // Not fatal at start: the proxy serves what it can (cached keys later) and /readyz reports the problem.
  keys.checkReady().then(
    () => logger.info('Vault Transit key usable'),
    (error: unknown) =>
      logger.warn(
        { reason: error instanceof KeyServiceError ? error.message : String(error) },
        'Vault Transit key not usable yet',
      ),
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      if (shuttingDown) return;
      shuttingDown = true;
      logger.info({ signal, graceMs: config.shutdownGraceMs }, 'draining');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await drain(proxy, config.shutdownGraceMs);
  // After the drain no request needs a key: pooled and cached keys are zeroed before the process goes.
  keys.close();
  await Promise.allSettled([upstream.close(), vault.close()]);
  health.close();
  health.closeAllConnections();
  logger.info('stopped');
}
