/**
 * The admission webhook's HTTP layer: HTTPS for the API server (POST /mutate), plain HTTP for probes
 * and Prometheus. It decodes, calls the pure `reviewAdmission`, and encodes; nothing else decides.
 * The certificate and key are re-read when their files change, so cert-manager renewals need no restart.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { reviewAdmission } from './admission.ts';
import type { SidecarOptions } from './options.ts';

/** A pod with many containers and a large spec stays far below this; the API server caps requests at 3 MiB. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface WebhookServerOptions {
  readonly sidecar: SidecarOptions;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly logger: Logger;
  /** How often the certificate files are checked for changes. */
  readonly reloadIntervalMs?: number;
}

export interface WebhookServers {
  readonly https: HttpsServer;
  readonly health: Server;
  readonly registry: Registry;
  /** Re-reads the certificate and key now; resolves to whether a new pair was loaded. */
  reloadCertificate(): Promise<boolean>;
  /** Stops the reload timer; the caller closes the servers. */
  stop(): void;
}

interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

async function readKeyPair(certFile: string, keyFile: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  // Throws on a key that does not match the certificate, as happens for a moment while a Secret
  // volume is being updated; the caller keeps the previous pair then and tries again later.
  createSecureContext({ cert, key });
  return { cert, key };
}

function createWebhookMetrics(registry: Registry) {
  const prefix = 'cloudtaser_injector_';
  collectDefaultMetrics({ register: registry, prefix });
  return {
    admissions: new Counter({
      name: `${prefix}admissions_total`,
      help: 'Admission reviews answered, by outcome (injected, skipped, refused, ignored, invalid).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: `${prefix}admission_duration_seconds`,
      help: 'Time to answer an admission review.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    reloads: new Counter({
      name: `${prefix}tls_reloads_total`,
      help: 'Attempts to load a changed certificate and key, by result (loaded, failed).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    certificateExpiry: new Gauge({
      name: `${prefix}tls_certificate_expiry_timestamp_seconds`,
      help: 'notAfter of the serving certificate in use, as a Unix time.',
      registers: [registry],
    }),
  };
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** Loads the key pair (failing if it cannot) and returns both servers, not yet listening. */
export async function createWebhookServers(options: WebhookServerOptions): Promise<WebhookServers> {
  const { logger } = options;
  const registry = new Registry();
  const metrics = createWebhookMetrics(registry);
  let current = await readKeyPair(options.tlsCertFile, options.tlsKeyFile);
  const noteExpiry = (pair: KeyPair) => {
    const notAfter = Date.parse(new X509Certificate(pair.cert).validTo);
    if (Number.isFinite(notAfter)) metrics.certificateExpiry.set(notAfter / 1000);
  };
  noteExpiry(current);

  const https = createHttpsServer(
    { cert: current.cert, key: current.key, minVersion: 'TLSv1.2' },
    (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz' && req.method === 'GET') return reply(res, 200, 'ok\n');
      if (path !== '/mutate') return reply(res, 404, 'not found\n');
      if (req.method !== 'POST') return reply(res, 405, 'POST an AdmissionReview\n');
      const started = process.hrtime.bigint();
      readBody(req).then(
        (body) => {
          if (body === undefined) {
            metrics.admissions.inc({ outcome: 'invalid' });
            return reply(res, 413, 'request body too large\n');
          }
          let decoded: unknown;
          try {
            decoded = JSON.parse(body.toString('utf8'));
          } catch {
            metrics.admissions.inc({ outcome: 'invalid' });
            return reply(res, 400, 'the body is not JSON\n');
          }
          const result = reviewAdmission(decoded, options.sidecar);
          if (!result.ok) {
            metrics.admissions.inc({ outcome: 'invalid' });
            logger.warn({ error: result.error }, 'invalid admission review');
            return reply(res, 400, `${result.error}\n`);
          }
          metrics.admissions.inc({ outcome: result.outcome });
          metrics.duration.observe(Number(process.hrtime.bigint() - started) / 1e9);
          const pod = result.request.object as
            | { metadata?: { name?: string; generateName?: string } }
            | undefined;
          logger[result.outcome === 'refused' ? 'warn' : 'info'](
            {
              uid: result.request.uid,
              namespace: result.request.namespace,
              pod: pod?.metadata?.name || pod?.metadata?.generateName,
              dryRun: result.request.dryRun === true,
              outcome: result.outcome,
              detail: result.detail,
            },
            'admission',
          );
          reply(res, 200, JSON.stringify(result.review), 'application/json');
        },
        (error: unknown) => {
          logger.warn({ error: String(error) }, 'reading an admission request failed');
          if (!res.headersSent) reply(res, 400, 'unreadable request\n');
        },
      );
    },
  );

  // The pair that last failed to load, so that a bad pair is reported once, not at every check.
  let rejected: KeyPair | undefined;
  const reloadCertificate = async (): Promise<boolean> => {
    let next: KeyPair;
    try {
      const [cert, key] = await Promise.all([readFile(options.tlsCertFile), readFile(options.tlsKeyFile)]);
      if (cert.equals(current.cert) && key.equals(current.key)) return false;
      if (rejected !== undefined && cert.equals(rejected.cert) && key.equals(rejected.key)) return false;
      rejected = { cert, key };
      createSecureContext({ cert, key });
      next = { cert, key };
      rejected = undefined;
    } catch (error) {
      metrics.reloads.inc({ result: 'failed' });
      logger.warn(
        { error: error instanceof Error ? error.message : String(error) },
        'TLS key pair not reloaded',
      );
      return false;
    }
    https.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
    current = next;
    noteExpiry(next);
    metrics.reloads.inc({ result: 'loaded' });
    logger.info({ validTo: new X509Certificate(next.cert).validTo }, 'TLS key pair reloaded');
    return true;
  };
  // Polling, not fs.watch: a Secret volume swaps a symlinked directory, which inotify watches on the
  // files themselves do not see.
  const timer = setInterval(() => void reloadCertificate(), options.reloadIntervalMs ?? 10_000);
  timer.unref();

  const health = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/livez') return reply(res, 200, 'ok\n');
    if (path === '/readyz')
      return https.listening ? reply(res, 200, 'ok\n') : reply(res, 503, 'not listening\n');
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => reply(res, 200, text, registry.contentType),
        (error: unknown) => reply(res, 500, String(error)),
      );
      return;
    }
    reply(res, 404, 'not found\n');
  });

  return { https, health, registry, reloadCertificate, stop: () => clearInterval(timer) };
}
