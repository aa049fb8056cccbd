/**
 * An HTTP relay in front of SeaweedFS that records every request it forwards (method, path, Range), so the
 * benchmark can say how many upstream requests one client request costs. Headers, Host included, pass
 * unchanged, so the proxy's SigV4 signature still verifies upstream.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';

export type SeenRequest = {
  method: string;
  path: string;
  range: string | undefined;
  /** `x-amz-content-sha256`: which payload form (signed, unsigned, aws-chunked) the client used. */
  payload: string | undefined;
};

export interface CountingRelay {
  readonly endpoint: string;
  /** What was forwarded since the last `reset()`. */
  seen(): SeenRequest[];
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingRelay(upstream: string): Promise<CountingRelay> {
  const target = new URL(upstream);
  let seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const range = req.headers.range;
    const payload = req.headers['x-amz-content-sha256'];
    seen.push({
      method: req.method ?? '',
      path: req.url ?? '',
      range: Array.isArray(range) ? range[0] : range,
      payload: Array.isArray(payload) ? payload[0] : payload,
    });
    const forwarded = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
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
