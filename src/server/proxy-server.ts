import { createServer, type Server } from 'node:http';
import type { ProxyRequestHandler } from '../proxy/router.ts';

/**
 * The S3 listener. `Expect: 100-continue` is left to the handler, which answers it only once it wants the body.
 * Node bounds the headers (408 after `headerTimeoutMs`, checked often enough to be on time); bodies and
 * responses are watched by client-limits.ts, which counts only the client's turns. No bound on a whole
 * request: a large upload over a slow link may take hours while it keeps sending.
 */
export function createProxyServer(
  handler: ProxyRequestHandler,
  options: { headerTimeoutMs: number },
): Server {
  const server = createServer({
    keepAliveTimeout: 65_000,
    requestTimeout: 0,
    headersTimeout: options.headerTimeoutMs,
    connectionsCheckingInterval: Math.max(25, Math.min(1000, options.headerTimeoutMs / 10)),
    maxHeaderSize: 64 * 1024,
  });
  server.on('request', (req, res) => handler(req, res, false));
  server.on('checkContinue', (req, res) => handler(req, res, true));
  return server;
}

/** An address without a host binds every interface. */
export function listen(
  server: Server,
  address: { host?: string | undefined; port: number },
): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const bound = server.address();
      resolve(
        typeof bound === 'object' && bound !== null
          ? { host: bound.address, port: bound.port }
          : { host: address.host ?? '', port: address.port },
      );
    });
  });
}

/**
 * Graceful stop: no new connections, idle keep-alive connections closed, in-flight requests given until
 * the grace period ends, then whatever is left is cut.
 *
 * A connection whose request finishes during the drain would stay open for the keep-alive timeout (65 s),
 * keeping the process, and the pod's termination, waiting until the grace period ends. So the keep-alive
 * timeout drops to nothing: Node applies it once a response has been handed to the operating system, and
 * then closes the connection. (Polling `closeIdleConnections()` instead would cut responses whose last
 * bytes are still being written: it counts a response as done as soon as `end()` is called.)
 */
export async function drain(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.keepAliveTimeout = 1;
  server.keepAliveTimeoutBuffer = 0;
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
}
