import { createHash } from 'node:crypto';
import { isInboundIntegrityHeader, verifyBodyChecksums } from '../s3/checksum.ts';
import type { PassthroughRow } from '../s3/operations.ts';
import { translateConditions, upstreamDeleteConditions } from './etag.ts';
import type { Exchange } from './exchange.ts';
import { forwardableRequestHeaders } from './headers.ts';
import { passthroughRequestBody } from './passthrough-body.ts';
import { relayCheckedResponse } from './passthrough-response.ts';
import { relayResponse } from './relay.ts';

/**
 * Every row the operations table marks passthrough: forwarded re-signed, its body checked against the
 * row first; an object-level read's answer is checked against the row before it is relayed.
 */
export async function passthrough(exchange: Exchange, row: PassthroughRow): Promise<void> {
  const { req, s3, deps } = exchange;
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: false });
  translateConditions(headers);
  const body = await passthroughRequestBody(exchange, row, headers);
  if (row.operation === 'DeleteObjects' && body.body !== undefined)
    body.body = withDeleteConditions(body.body, headers);
  const response = await deps.upstream.send({
    method: req.method ?? 'GET',
    bucket: s3.bucket,
    key: s3.key,
    query: s3.query,
    headers,
    ...body,
  });
  if (row.response === undefined) await relayResponse(exchange, response);
  else await relayCheckedResponse(exchange, response, row.operation, row.response);
}

/**
 * DeleteObjects with `<ETag>` conditions in the form clients know: the body is checked against the client's
 * digests, rewritten with the upstream's ETags, and sent with a Content-MD5 of its own.
 */
function withDeleteConditions(body: Buffer, headers: Record<string, string>): Buffer {
  const mapped = upstreamDeleteConditions(body);
  if (mapped === undefined) return body;
  verifyBodyChecksums(headers, body);
  for (const name of Object.keys(headers)) if (isInboundIntegrityHeader(name)) delete headers[name];
  headers['content-md5'] = createHash('md5').update(mapped).digest('base64');
  return mapped;
}
