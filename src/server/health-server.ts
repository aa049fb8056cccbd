import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export type ReadinessCheck = { name: string; check: () => Promise<void> };

/**
 * /healthz (the process serves), /readyz (Vault usable and upstream reachable, cached briefly so that
 * probes do not become load) and /metrics. Binds where the kubelet can reach it and serves no data.
 */
export function createHealthServer(options: {
  checks: ReadinessCheck[];
  registry: Registry;
  logger: Logger;
  isShuttingDown: () => boolean;
  cacheMs?: number;
}): Server {
  const cacheMs = options.cacheMs ?? 2000;
  let cached: { at: number; failures: string[] } | undefined;
  let pending: Promise<string[]> | undefined;

  const readiness = async (): Promise<string[]> => {
    if (cached !== undefined && Date.now() - cached.at < cacheMs) return cached.failures;
    pending ??= Promise.all(
      options.checks.map(async ({ name, check }) => {
        try {
          await check();
          return undefined;
        } catch (error) {
          return `${name}: ${error instanceof Error ? error.message : String(error)}`;
        }
      }),
    )
      .then((results) => results.filter((r): r is string => r !== undefined))
      .finally(() => {
        pending = undefined;
      });
    const failures = await pending;
    cached = { at: Date.now(), failures };
    return failures;
  };

  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(body);
    };
    if (path === '/healthz' || path === '/livez') return reply(200, 'ok\n');
    if (path === '/readyz') {
      if (options.isShuttingDown()) return reply(503, 'shutting down\n');
      readiness().then(
        (failures) => {
          if (failures.length === 0) return reply(200, 'ok\n');
          options.logger.warn({ failures }, 'not ready');
          reply(503, `${failures.join('\n')}\n`);
        },
        (error: unknown) => reply(503, `${String(error)}\n`),
      );
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => reply(200, text, options.registry.contentType),
        (error: unknown) => reply(500, String(error)),
      );
      return;
    }
    reply(404, 'not found\n');
  });
}
