import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export type ReadinessCheck = {
  name: string;
  check: () => Promise<void>;
  /** Called once when a run of `check` outlasts the readiness timeout (it goes on in the background). */
  onTimeout?: () => void;
};

type Run = { startedAt: number; result: Promise<string | undefined>; timedOut: boolean };

/**
 * /healthz (the process serves), /readyz (Vault usable and upstream reachable, cached briefly so that
 * probes do not become load) and /metrics. Binds where the kubelet can reach it and serves no data.
 *
 * A check that does not answer within `timeoutMs` makes /readyz answer 503 then. At most one run of each
 * check is under way: probes join it, and once it has outlasted the timeout they answer 503 at once
 * instead of starting another behind it, so that a silent Vault never piles up probes or calls.
 */
export function createHealthServer(options: {
  checks: ReadinessCheck[];
  registry: Registry;
  logger: Logger;
  isShuttingDown: () => boolean;
  timeoutMs: number;
  cacheMs?: number;
}): Server {
  const cacheMs = options.cacheMs ?? 2000;
  const { timeoutMs } = options;
  let cached: { at: number; failures: string[] } | undefined;
  const runs = new Map<ReadinessCheck, Run>();

  const runOf = (check: ReadinessCheck): Run => {
    const running = runs.get(check);
    if (running !== undefined) return running;
    const run: Run = {
      startedAt: performance.now(),
      timedOut: false,
      result: check.check().then(
        () => undefined,
        (error: unknown) => `${check.name}: ${error instanceof Error ? error.message : String(error)}`,
      ),
    };
    runs.set(check, run);
    void run.result.finally(() => runs.delete(check));
    return run;
  };

  const outcome = async (check: ReadinessCheck): Promise<string | undefined> => {
    const run = runOf(check);
    const remaining = run.startedAt + timeoutMs - performance.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => {
          if (!run.timedOut) {
            run.timedOut = true;
            check.onTimeout?.();
          }
          const seconds = ((performance.now() - run.startedAt) / 1000).toFixed(1);
          resolve(`${check.name}: no answer within ${timeoutMs} ms (the check has been waiting ${seconds}s)`);
        },
        Math.max(0, remaining),
      );
    });
    try {
      return await Promise.race([run.result, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  const readiness = async (): Promise<string[]> => {
    if (cached !== undefined && performance.now() - cached.at < cacheMs) return cached.failures;
    const results = await Promise.all(options.checks.map(outcome));
    const failures = results.filter((r): r is string => r !== undefined);
    cached = { at: performance.now(), failures };
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
