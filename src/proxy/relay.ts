import { pipeline } from 'node:stream/promises';
import { S3Error } from '../s3/errors.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import type { Exchange } from './exchange.ts';
import { clientResponseHeaders } from './headers.ts';

/**
 * Streams an upstream response to the client as it is, apart from connection headers. A redirect is never
 * relayed: the client would follow it around the proxy and talk to the storage provider directly (COMPAT 20).
 */
export async function relayResponse(
  exchange: Exchange,
  response: UpstreamResponse,
  options: { dropIntegrity: boolean } = { dropIntegrity: false },
): Promise<void> {
  if (response.status >= 300 && response.status < 400 && response.status !== 304) {
    const detail = await response.body.text().catch(() => '');
    const code = /<Code>([^<]*)<\/Code>/.exec(detail)?.[1] ?? `HTTP ${response.status}`;
    throw new S3Error(
      'InternalError',
      `The upstream endpoint answered with a redirect (${code}); check CLOUDTASER_S3PROXY_S3_ENDPOINT and CLOUDTASER_S3PROXY_S3_REGION for this bucket.`,
    );
  }
  const headers = clientResponseHeaders(response.headers, options);
  const length = response.headers['content-length'];
  if (typeof length === 'string') headers['content-length'] = length;
  headers['x-amz-request-id'] ??= exchange.id;
  exchange.res.writeHead(response.status, headers);
  if (exchange.req.method === 'HEAD') {
    response.body.resume();
    exchange.res.end();
    return;
  }
  await pipeline(response.body, exchange.res);
}
