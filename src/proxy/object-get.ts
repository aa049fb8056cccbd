import type { Readable } from 'node:stream';
import { EnvelopeError } from '../envelope/errors.ts';
import type { Envelope } from '../envelope/metadata.ts';
import { createOpenStream } from '../envelope/open.ts';
import { ciphertextSize } from '../envelope/size.ts';
import { planWindow } from '../envelope/window.ts';
import { S3Error } from '../s3/errors.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import { type Exchange, objectResource } from './exchange.ts';
import {
  envelopeOf,
  firstString,
  notModifiedHeaders,
  plaintextHeaders,
  plaintextRange,
  type ReadRequest,
  readRequest,
} from './object-read.ts';
import { relayResponse } from './relay.ts';

/**
 * GetObject: decrypts while streaming and releases only verified plaintext. The status line waits for the
 * first verified segment, so a tampered object usually fails with an S3 error; a failure later in the body
 * aborts the connection, so a client never sees a response that looks complete but is not.
 */
export async function getObject(exchange: Exchange): Promise<void> {
  const request = readRequest(exchange);
  const wantsPart = request.rangeHeader !== undefined || request.partNumber !== undefined;
  if (wantsPart) {
    await getObjectRange(exchange, request);
    return;
  }
  const response = await send(exchange, request, {});
  if (response.status !== 200) return answerNonSuccess(exchange, response);
  const envelope = envelopeOf(exchange, response);
  if (envelope === undefined) return serveUnencrypted(exchange, response);
  const stored = Number(firstString(response.headers['content-length']));
  if (stored !== ciphertextSize(envelope.plaintextSize)) {
    response.body.destroy();
    throw new EnvelopeError(
      'SIZE_MISMATCH',
      `stored length ${stored} does not match the envelope's plaintext size`,
    );
  }
  await streamPlaintext(exchange, response, envelope, undefined);
}

/**
 * A range needs the plaintext size before the ciphertext range can be chosen; the HEAD that supplies it
 * also pins the version: the GET that follows carries If-Match on the HEAD's ETag.
 */
async function getObjectRange(exchange: Exchange, request: ReadRequest): Promise<void> {
  const head = await exchange.deps.upstream.send({
    method: 'HEAD',
    bucket: exchange.s3.bucket,
    key: exchange.s3.key,
    query: request.query,
    headers: request.headers,
  });
  head.body.resume();
  if (head.status !== 200) {
    if (head.status === 304) return answerNonSuccess(exchange, head);
    // A HEAD error has no body; ask again with GET so the client gets the upstream's full S3 error.
    const response = await send(exchange, request, { range: request.rangeHeader });
    return answerNonSuccess(exchange, response);
  }
  const envelope = envelopeOf(exchange, head);
  if (envelope === undefined) {
    const response = await send(exchange, request, { range: request.rangeHeader }, true);
    if (response.status !== 200 && response.status !== 206) return answerNonSuccess(exchange, response);
    return serveUnencrypted(exchange, response);
  }
  const range = plaintextRange(request, envelope.plaintextSize, objectResource(exchange.s3));
  if (range === undefined) {
    const response = await send(exchange, request, { 'if-match': firstString(head.headers.etag) });
    if (response.status !== 200) return answerNonSuccess(exchange, response);
    await streamPlaintext(exchange, response, envelope, undefined);
    return;
  }
  const window = planWindow(envelope.plaintextSize, range.start, range.end);
  const response = await send(exchange, request, {
    range: `bytes=${window.cipherStart}-${window.cipherEndInclusive}`,
    'if-match': firstString(head.headers.etag),
  });
  if (response.status !== 206 && response.status !== 200) return answerNonSuccess(exchange, response);
  await streamPlaintext(exchange, response, envelope, { range, window });
}

async function send(
  exchange: Exchange,
  request: ReadRequest,
  extra: Record<string, string | undefined>,
  keepPartNumber = false,
): Promise<UpstreamResponse> {
  const headers = { ...request.headers };
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) headers[name] = value;
  return exchange.deps.upstream.send({
    method: 'GET',
    bucket: exchange.s3.bucket,
    key: exchange.s3.key,
    query: keepPartNumber ? exchange.s3.query : request.query,
    headers,
  });
}

async function answerNonSuccess(exchange: Exchange, response: UpstreamResponse): Promise<void> {
  if (response.status === 304) {
    response.body.resume();
    exchange.res.writeHead(304, notModifiedHeaders(response, exchange));
    exchange.res.end();
    return;
  }
  await relayResponse(exchange, response);
}

async function serveUnencrypted(exchange: Exchange, response: UpstreamResponse): Promise<void> {
  const { deps } = exchange;
  if (deps.unencryptedObjects === 'refuse') {
    response.body.destroy();
    throw new S3Error(
      'AccessDenied',
      'This object is not encrypted and CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS=refuse forbids serving it.',
      { resource: objectResource(exchange.s3) },
    );
  }
  deps.metrics.unencryptedObjectsServed.inc();
  exchange.log.warn(
    { bucket: exchange.s3.bucket, key: exchange.s3.key },
    'served an object stored without encryption',
  );
  await relayResponse(exchange, response);
}

async function streamPlaintext(
  exchange: Exchange,
  response: UpstreamResponse,
  envelope: Envelope,
  ranged: { range: { start: number; end: number }; window: ReturnType<typeof planWindow> } | undefined,
): Promise<void> {
  const { res } = exchange;
  let dek: Buffer;
  try {
    dek = await exchange.deps.keys.unwrapKey(envelope.wrappedDek);
  } catch (error) {
    response.body.destroy();
    throw error;
  }
  const open = createOpenStream({
    dek,
    nonce: envelope.nonce,
    plaintextSize: envelope.plaintextSize,
    ...(ranged === undefined ? {} : { window: ranged.window }),
  });
  const { status, headers } = plaintextHeaders(response, envelope.plaintextSize, ranged?.range, exchange);
  const upstreamBody: Readable = response.body;
  upstreamBody.on('error', (error) => open.destroy(error));
  upstreamBody.pipe(open);
  res.on('close', () => {
    if (!res.writableFinished) {
      upstreamBody.destroy();
      open.destroy();
    }
  });
  try {
    for await (const chunk of open) {
      if (!res.headersSent) res.writeHead(status, headers);
      exchange.bytesOut += (chunk as Buffer).length;
      if (!res.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      if (res.destroyed) return;
    }
  } finally {
    dek.fill(0);
  }
  if (!res.headersSent) res.writeHead(status, headers);
  res.end();
}
