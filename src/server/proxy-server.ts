import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyRequestHandler } from '../proxy/router.ts';

/**
 * Bytes a response buffers before write() asks the handler to wait (and a request body before its socket
 * pauses). Node's default, 64 KiB, is one segment of plaintext: every segment written would wait for the
 * socket to drain before the next one is opened, and leave in a write of its own.
 */
const STREAM_HIGH_WATER_MARK = 256 * 1024;

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
    highWaterMark: STREAM_HIGH_WATER_MARK,
  });
  const answering = new WeakMap<Duplex, Pending>();
  const handle = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    const pending = { req, res };
    answering.set(req.socket, pending);
    res.once('close', () => {
      if (answering.get(req.socket) === pending) answering.delete(req.socket);
    });
    handler(req, res, expectsContinue);
  };
  server.on('request', (req, res) => handle(req, res, false));
  server.on('checkContinue', (req, res) => handle(req, res, true));
  // An empty `Expect:` asks for nothing; S3 (and Go's server, SeaweedFS's) ignore it, Node answers 417.
  server.on('checkExpectation', (req, res) => {
    if (String(req.headers.expect ?? '').trim() === '') handle(req, res, false);
    else res.writeHead(417, { connection: 'close' }).end();
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
    onClientError(error, socket, answering.get(socket)),
  );
  return server;
}

type Pending = { req: IncomingMessage; res: ServerResponse };

/** Node's own answers to what cannot be parsed as a request (its default `clientError` behaviour). */
const PARSE_ERROR_ANSWERS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

/**
 * Bytes the parser cannot read as a request. When they follow a request that is still being answered (a
 * body longer than its Content-Length: the rest is read as the next request), that request is answered
 * first, as S3 does (the client's checksum then fails: 400 BadDigest), and the connection closes after
 * it. Otherwise Node's own answer: a bare status line, and the connection closed.
 */
function onClientError(error: NodeJS.ErrnoException, socket: Duplex, pending: Pending | undefined): void {
  // Only bytes after a request received whole: a request cut off in its body is ended as Node ends it.
  const afterRequest = error.code?.startsWith('HPE_') === true && pending?.req.complete === true;
  if (afterRequest && pending !== undefined && !pending.res.writableFinished) {
    const { res } = pending;
    if (closingAfter.has(res)) return;
    closingAfter.add(res);
    if (!res.headersSent) res.setHeader('connection', 'close');
    res.once('finish', () => socket.end());
    return;
  }
  if (socket.writableEnded) return;
  const answer = PARSE_ERROR_ANSWERS[error.code ?? ''] ?? '400 Bad Request';
  if (socket.writable) socket.write(`HTTP/1.1 ${answer}\r\nConnection: close\r\n\r\n`);
  socket.destroy(error);
}

/** Responses after which the connection closes: what followed them on it was not a request. */
const closingAfter = new WeakSet<ServerResponse>();

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
