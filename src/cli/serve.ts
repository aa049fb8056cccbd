import type { Logger } from 'pino';
import { CredentialsFileError } from '../auth/client-credentials.ts';
import { ClientCredentialsStore } from '../auth/credentials-store.ts';
import type { Config } from '../config/index.ts';
import { KeyServiceError } from '../kms/key-wrapper.ts';
import type { AuthEvent } from '../kms/vault-auth.ts';
import { createLogger } from '../log.ts';
import { createProxyHandler } from '../proxy/router.ts';
import { LayoutCache } from '../proxy/stored-object.ts';
import { REFUSAL_REASONS } from '../s3/sigv4/refusal.ts';
import { ClientGuard } from '../server/client-limits.ts';
import { createHealthServer } from '../server/health-server.ts';
import { createMetrics, type ProxyMetrics, vaultCallLabel } from '../server/metrics.ts';
import { createProxyServer, drain, listen } from '../server/proxy-server.ts';
import { drainBody } from '../upstream/client.ts';
import { createKeyServices, createUpstreamClient } from './wiring.ts';

/**
 * Wiring: configuration → Vault client → upstream client → servers; then waits for a signal and drains.
 * Resolves to the exit status: 0 after a drain, 2 when the client credentials file is unusable at start.
 */
export async function serve(config: Config, warnings: readonly string[] = []): Promise<number> {
  const logger = createLogger(config.logLevel);
  for (const warning of warnings) logger.warn({ warning }, 'configuration');
  const clients = new ClientGuard({
    idleTimeoutMs: config.clients.idleTimeoutMs,
    minBodyRate: config.clients.minBodyRate,
    maxRequests: config.clients.maxRequests,
    maxUploads: config.clients.maxUploads,
  });
  const metrics = createMetrics({ inFlight: () => clients.budget });
  let clientCredentials: ClientCredentialsStore | undefined;
  try {
    clientCredentials = await openClientCredentials(config, logger, metrics);
  } catch (error) {
    // As a configuration error: the proxy must not serve without the authentication it was asked for.
    process.stderr.write(`cloudtaser-s3-proxy: invalid configuration:\n  ${(error as Error).message}\n`);
    return 2;
  }

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
      onPoolEvent: (event, transit_key) => {
        if (event.type === 'size') metrics.keyPoolKeys.set({ transit_key }, event.keys);
        else if (event.type === 'refill') metrics.keyPoolRefills.inc({ outcome: event.outcome, transit_key });
        else if (event.type === 'discard')
          metrics.keyPoolDiscarded.inc({ reason: event.reason, transit_key }, event.keys);
        else metrics.dataKeysIssued.inc({ source: event.waited ? 'waited' : 'pool', transit_key });
      },
      onCacheLookup: (result, transit_key) => metrics.keyCacheLookups.inc({ result, transit_key }),
      onCacheSize: (entries, transit_key) => metrics.keyCacheEntries.set({ transit_key }, entries),
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
      clientCredentials,
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
      transitKeys: keys.refs.length,
      authMethod: config.vault.authMethod,
      clientAuthentication: clientCredentials === undefined ? 'off' : `${clientCredentials.size} access keys`,
    },
    'cloudtaser-s3-proxy listening',
  );
  clientCredentials?.start();
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
  clientCredentials?.close();
  await Promise.allSettled([upstream.close(), vault.close()]);
  health.close();
  health.closeAllConnections();
  logger.info('stopped');
  return 0;
}

/** The client credentials, when configured; after start, a bad new file keeps the credentials in force. */
async function openClientCredentials(
  config: Config,
  logger: Logger,
  metrics: ProxyMetrics,
): Promise<ClientCredentialsStore | undefined> {
  if (config.clientAuth === undefined) return undefined;
  for (const reason of REFUSAL_REASONS) metrics.clientAuthRefusals.inc({ reason }, 0);
  const path = config.clientAuth.credentialsFile;
  try {
    return await ClientCredentialsStore.open({
      path,
      reloadIntervalMs: config.clientAuth.reloadIntervalMs,
      onEvent: (event) => {
        if (event.type === 'loaded') {
          metrics.clientCredentialsKeys.set(event.keys);
          if (!event.initial) metrics.clientCredentialsReloads.inc({ outcome: 'ok' });
          logger.info({ keys: event.keys, file: path }, 'client credentials loaded');
        } else {
          metrics.clientCredentialsReloads.inc({ outcome: 'failed' });
          logger.error(
            { reason: event.reason },
            'client credentials not reloaded; the credentials in force stay',
          );
        }
      },
    });
  } catch (error) {
    const reason =
      error instanceof CredentialsFileError
        ? error.message
        : `cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
    throw new Error(`CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE ${path}: ${reason}`);
  }
}
