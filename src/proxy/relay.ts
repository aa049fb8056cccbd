import { S3Error } from '../s3/errors.ts';
import { abandonBody, drainBody, type UpstreamResponse } from '../upstream/client.ts';
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
    drainBody(response.body);
    exchange.res.end();
    return;
  }
  await relayBody(exchange, response);
}

/**
 * The upstream body to the client. A failure of the upstream body rejects, so the caller answers it the
 * one way (the body is cut short once the status line is out); a client that goes away stops the upstream.
 */
function relayBody(exchange: Exchange, response: UpstreamResponse): Promise<void> {
  const { res } = exchange;
  return new Promise<void>((resolve, reject) => {
    response.body.once('error', (error) => {
      response.body.unpipe(res);
      reject(error);
    });
    res.once('close', () => {
      if (!res.writableFinished) abandonBody(response.body);
      resolve();
    });
    response.body.pipe(res);
  });
}

/** Replies the proxy must read whole to rewrite (listings, part lists, copy results) are small; this bounds them. */
const MAX_XML_REPLY = 64 * 1024 * 1024;

export async function readUpstreamText(response: UpstreamResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += (chunk as Buffer).length;
    if (total > MAX_XML_REPLY) {
      abandonBody(response.body);
      throw new S3Error('InternalError', 'The upstream reply is larger than the proxy accepts.');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Answers 200 with an upstream XML reply the proxy rewrote (sizes, ETags, checksums), with its own length. */
export function answerXml(exchange: Exchange, response: UpstreamResponse, xml: string): void {
  const body = Buffer.from(xml, 'utf8');
  const headers = clientResponseHeaders(response.headers, { dropIntegrity: true });
  delete headers.etag;
  headers['content-type'] ??= 'application/xml';
  headers['content-length'] = String(body.length);
  headers['x-amz-request-id'] ??= exchange.id;
  exchange.res.writeHead(200, headers);
  exchange.res.end(body);
}
