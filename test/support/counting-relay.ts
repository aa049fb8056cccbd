/**
 * An HTTP relay in front of SeaweedFS that records every request it forwards (method, path, Range), so the
 * benchmark can say how many upstream requests one client request costs. Headers, Host included, pass
 * unchanged, so the proxy's SigV4 signature still verifies upstream. With a forgery set, it plays the
 * dishonest provider: the answer SeaweedFS gave is replaced by what the forgery makes of it.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';

export type SeenRequest = {
  method: string;
  path: string;
  range: string | undefined;
  /** `x-amz-content-sha256`: which payload form (signed, unsigned, aws-chunked) the client used. */
  payload: string | undefined;
};

export type RelayedAnswer = { status: number; headers: IncomingHttpHeaders; body: Buffer };
/** Another answer for a request (undefined: the real one), from the real answer, read whole. */
export type Forgery = (asked: SeenRequest, answer: RelayedAnswer) => RelayedAnswer | undefined;

export interface CountingRelay {
  readonly endpoint: string;
  /** From now on answers pass through `forgery` (undefined: honest again). */
  forge(forgery: Forgery | undefined): void;
  /** What was forwarded since the last `reset()`. */
  seen(): SeenRequest[];
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingRelay(upstream: string): Promise<CountingRelay> {
  const target = new URL(upstream);
  let seen: SeenRequest[] = [];
  let forgery: Forgery | undefined;
  const server: Server = createServer((req, res) => {
    const range = req.headers.range;
    const payload = req.headers['x-amz-content-sha256'];
    const asked: SeenRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      range: Array.isArray(range) ? range[0] : range,
      payload: Array.isArray(payload) ? payload[0] : payload,
    };
    seen.push(asked);
    const forge = forgery;
    const forwarded = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (forge === undefined) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const real = {
            status: answer.statusCode ?? 502,
            headers: answer.headers,
            body: Buffer.concat(chunks),
          };
          const given = forge(asked, real) ?? real;
          const headers = { ...given.headers, 'content-length': String(given.body.length) };
          delete headers['transfer-encoding'];
          res.writeHead(given.status, headers);
          res.end(req.method === 'HEAD' ? undefined : given.body);
        });
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    forge(next) {
      forgery = next;
    },
    seen: () => [...seen],
    reset() {
      seen = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
