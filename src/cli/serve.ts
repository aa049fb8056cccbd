import type { Config } from '../config/index.ts';
import { KeyServiceError } from '../kms/key-wrapper.ts';
import type { AuthEvent } from '../kms/vault-auth.ts';
import { createLogger } from '../log.ts';
import { createProxyHandler } from '../proxy/router.ts';
import { LayoutCache } from '../proxy/stored-object.ts';
import { ClientGuard } from '../server/client-limits.ts';
import { createHealthServer } from '../server/health-server.ts';
import { createMetrics, vaultCallLabel } from '../server/metrics.ts';
import { createProxyServer, drain, listen } from '../server/proxy-server.ts';
import { drainBody } from '../upstream/client.ts';
import { createKeyServices, createUpstreamClient } from './wiring.ts';

/** Wiring: configuration → Vault client → upstream client → servers; then waits for a signal and drains. */
export async function serve(config: Config, warnings: readonly string[] = []): Promise<void> {
  const logger = createLogger(config.logLevel);
  for (const warning of warnings) logger.warn({ warning }, 'configuration');
  const clients = new ClientGuard({
    idleTimeoutMs: config.clients.idleTimeoutMs,
    minBodyRate: config.clients.minBodyRate,
    maxRequests: config.clients.maxRequests,
    maxUploads: config.clients.maxUploads,
  });
  const metrics = createMetrics({ inFlight: () => clients.budget });

  // Auth events carry lease lengths and reasons, never tokens.
  const onAuthEvent = (event: AuthEvent) => {
    (event.type === 'login' ? metrics.vaultLogins : metrics.vaultRenewals).inc({ outcome: event.outcome });
    if (event.outcome === 'ok') logger.debug({ leaseSeconds: event.leaseSeconds }, `Vault ${event.type}`);
    else logger.warn({ reason: event.reason }, `Vault ${event.type} failed`);
  };
  const { vault, keys } = createKeyServices(
    config,
    {
      onVaultCall: ({ path, outcome, seconds }) => {
        const call = vaultCallLabel(path);
        metrics.vaultCalls.inc({ call, outcome });
        metrics.vaultDuration.observe({ call }, seconds);
      },
      onAuthEvent,
      onPoolEvent: (event) => {
        if (event.type === 'size') metrics.keyPoolKeys.set(event.keys);
        else if (event.type === 'refill') metrics.keyPoolRefills.inc({ outcome: event.outcome });
        else if (event.type === 'discard') metrics.keyPoolDiscarded.inc({ reason: event.reason }, event.keys);
        else metrics.dataKeysIssued.inc({ source: event.waited ? 'waited' : 'pool' });
      },
      onCacheLookup: (result) => metrics.keyCacheLookups.inc({ result }),
      onCacheSize: (entries) => metrics.keyCacheEntries.set(entries),
    },
    { keyTimeoutMs: config.keyTimeoutMs },
  );
  const upstream = createUpstreamClient(config);

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
      clients,
    }),
    { headerTimeoutMs: config.clients.headerTimeoutMs },
  );
  const health = createHealthServer({
    registry: metrics.registry,
    logger,
    isShuttingDown: () => shuttingDown,
    timeoutMs: config.readyTimeoutMs,
    checks: [
      // A Vault that lets the probe wait this long is not to be trusted with pooled keys until it answers.
      { name: 'vault', check: () => keys.checkReady(), onTimeout: () => vault.contact.trouble() },
      {
        name: 'upstream',
        check: async () => {
          const response = await upstream.send({ method: 'GET' });
          drainBody(response.body);
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
  clients.close();
  // After the drain no request needs a key: pooled and cached keys are zeroed before the process goes.
  keys.close();
  await Promise.allSettled([upstream.close(), vault.close()]);
  health.close();
  health.closeAllConnections();
  logger.info('stopped');
}
