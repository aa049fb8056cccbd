import type { Server } from 'node:net';
import type { ListenAddress } from '../config/index.ts';
import { loadInjectorOptions, renderInjectorSettings } from '../injector/options.ts';
import { createWebhookServers } from '../injector/webhook-server.ts';
import { createLogger } from '../log.ts';

export const WEBHOOK_USAGE = `Usage: cloudtaser-s3-proxy webhook

Runs the mutating admission webhook (AdmissionReview v1) that adds the S3 proxy sidecar to pods annotated
cloudtaser.io/s3-proxy: "true". HTTPS on CLOUDTASER_INJECTOR_LISTEN_ADDR (POST /mutate), health and
metrics on CLOUDTASER_INJECTOR_HEALTH_ADDR. See docs/DEPLOYMENT.md.
`;

function listen(server: Server, address: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const bound = server.address();
      resolve(typeof bound === 'object' && bound !== null ? `${bound.address}:${bound.port}` : String(bound));
    });
  });
}

/** `cloudtaser-s3-proxy webhook`: serves until SIGTERM or SIGINT, then finishes the reviews in flight. */
export async function webhook(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(WEBHOOK_USAGE + renderInjectorSettings(['Sidecar', 'Webhook']));
    return 0;
  }
  if (args.length > 0) {
    process.stderr.write(
      `cloudtaser-s3-proxy webhook: unexpected arguments: ${args.join(' ')}\n\n${WEBHOOK_USAGE}`,
    );
    return 2;
  }
  const loaded = loadInjectorOptions(env);
  if (!loaded.ok) {
    process.stderr.write(
      `cloudtaser-s3-proxy webhook: invalid configuration:\n${loaded.errors.map((e) => `  ${e}\n`).join('')}`,
    );
    return 2;
  }
  const logger = createLogger(loaded.webhook.logLevel);
  const servers = await createWebhookServers({
    sidecar: loaded.sidecar,
    tlsCertFile: loaded.webhook.tlsCertFile,
    tlsKeyFile: loaded.webhook.tlsKeyFile,
    reloadIntervalMs: loaded.webhook.tlsReloadIntervalMs,
    logger,
  });
  const httpsAddress = await listen(servers.https, loaded.webhook.listen);
  const healthAddress = await listen(servers.health, loaded.webhook.health);
  logger.info(
    {
      listen: httpsAddress,
      health: healthAddress,
      image: loaded.sidecar.image,
      mode: loaded.sidecar.mode,
    },
    'cloudtaser-s3-proxy injector listening',
  );
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'stopping');
  servers.stop();
  // Reviews take milliseconds; the API server retries nothing, so in-flight ones are let finish.
  await new Promise<void>((resolve) => {
    servers.https.close(() => resolve());
    servers.https.closeIdleConnections();
    setTimeout(() => servers.https.closeAllConnections(), 5000).unref();
  });
  servers.health.close();
  servers.health.closeAllConnections();
  logger.info('stopped');
  return 0;
}
