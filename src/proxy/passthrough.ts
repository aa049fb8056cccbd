import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createAwsChunkedDecoder, payloadMode } from '../s3/aws-chunked/index.ts';
import { S3Error } from '../s3/errors.ts';
import { chunkSignaturesFor } from './client-body.ts';
import { translateConditions } from './etag.ts';
import type { Exchange } from './exchange.ts';
import { firstHeader, forwardableRequestHeaders } from './headers.ts';
import { relayResponse } from './relay.ts';

/** Bodies of operations that carry no object data (policies, tagging, delete lists, part lists) are small. */
const MAX_BUFFERED_BODY = 8 * 1024 * 1024;

/** Everything the operations table marks passthrough: forwarded unchanged, re-signed, streamed both ways. */
export async function passthrough(exchange: Exchange): Promise<void> {
  const { req, s3, deps } = exchange;
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: false });
  translateConditions(headers);
  const body = await requestBody(exchange, headers);
  const response = await deps.upstream.send({
    method: req.method ?? 'GET',
    bucket: s3.bucket,
    key: s3.key,
    query: s3.query,
    headers,
    ...body,
  });
  await relayResponse(exchange, response);
}

async function requestBody(
  exchange: Exchange,
  headers: Record<string, string>,
): Promise<{ body?: Readable | Buffer; contentLength?: number }> {
  const { req } = exchange;
  const mode = payloadMode(firstHeader(req.headers, 'x-amz-content-sha256'));
  const declared = firstHeader(req.headers, 'content-length');
  const chunkedTransfer = firstHeader(req.headers, 'transfer-encoding') !== undefined;
  if (!mode.chunked && declared === undefined && !chunkedTransfer) return {};
  // A body whose SHA-256 the client declared (and signed) is read whole, so that it is checked before it goes on.
  const declaresHash = /^[0-9a-f]{64}$/i.test(firstHeader(req.headers, 'x-amz-content-sha256') ?? '');
  if (!mode.chunked && !declaresHash && declared !== undefined && Number(declared) > MAX_BUFFERED_BODY) {
    exchange.continueBody();
    return { body: req, contentLength: Number(declared) };
  }
  const { body, trailers } = await bufferedRequestBody(exchange);
  // The trailer's checksum becomes an ordinary header so that the upstream still verifies the body.
  for (const [name, value] of Object.entries(trailers))
    if (name.startsWith('x-amz-checksum-')) headers[name] = value;
  // Some S3-compatible stores (MinIO on DeleteObjects, Object Lock buckets) insist on Content-MD5 (COMPAT 21).
  if (body.length > 0 && headers['content-md5'] === undefined) {
    headers['content-md5'] = createHash('md5').update(body).digest('base64');
  }
  return { body };
}

/**
 * A small request body read whole, aws-chunked framing removed (and its chunk signatures verified); the
 * trailers it carried, if any. A hex `x-amz-content-sha256` is checked against the body read.
 */
export async function bufferedRequestBody(
  exchange: Exchange,
): Promise<{ body: Buffer; trailers: Record<string, string> }> {
  const { req } = exchange;
  const contentSha256 = firstHeader(req.headers, 'x-amz-content-sha256');
  const mode = payloadMode(contentSha256);
  exchange.continueBody();
  if (!mode.chunked) {
    const body = await bounded(req);
    if (
      contentSha256 !== undefined &&
      /^[0-9a-f]{64}$/i.test(contentSha256) &&
      createHash('sha256').update(body).digest('hex') !== contentSha256.toLowerCase()
    ) {
      throw new S3Error('XAmzContentSHA256Mismatch');
    }
    return { body, trailers: {} };
  }
  const decodedLength = firstHeader(req.headers, 'x-amz-decoded-content-length');
  const signatures = chunkSignaturesFor(exchange, mode.signed);
  const decoder = createAwsChunkedDecoder({
    signed: mode.signed,
    trailer: mode.trailer,
    ...(decodedLength === undefined ? {} : { decodedContentLength: Number(decodedLength) }),
    ...(signatures === undefined ? {} : { signatures }),
  });
  req.on('error', (error) => decoder.destroy(error));
  const body = await bounded(req.pipe(decoder));
  return { body, trailers: Object.fromEntries(decoder.trailers) };
}

async function bounded(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_BUFFERED_BODY) {
      throw new S3Error('EntityTooLarge', 'Request bodies of this operation are limited to 8 MiB.');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
