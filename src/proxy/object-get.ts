import { type Readable, Transform } from 'node:stream';
import { S3Error } from '../s3/errors.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import { type Exchange, objectResource } from './exchange.ts';
import {
  encryptedObjectOf,
  firstString,
  notModifiedHeaders,
  plaintextHeaders,
  plaintextRange,
  type ReadRequest,
  readRequest,
} from './object-read.ts';
import { relayResponse } from './relay.ts';
import type { EncryptedObject, PlainRange } from './stored-object.ts';

/**
 * GetObject: decrypts while streaming and releases only verified plaintext. The status line waits for the
 * first verified segment, so a tampered object usually fails with an S3 error; a failure later in the body
 * aborts the connection, so a client never sees a response that looks complete but is not.
 */
export async function getObject(exchange: Exchange): Promise<void> {
  const request = readRequest(exchange);
  if (request.rangeHeader !== undefined || request.partNumber !== undefined) {
    await getObjectRange(exchange, request);
    return;
  }
  const response = await send(exchange, request, {});
  if (response.status !== 200) return answerNonSuccess(exchange, response);
  const object = await encryptedObjectOf(exchange, response).catch((error: unknown) => {
    response.body.destroy();
    throw error;
  });
  if (object === undefined) return serveUnencrypted(exchange, response);
  await streamPlaintext(exchange, response, object, undefined, request);
}

/**
 * A range needs the plaintext size before the stored range can be chosen; the HEAD that supplies it also
 * pins the version: the GET that follows carries If-Match on the HEAD's ETag.
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
    return answerNonSuccess(exchange, await send(exchange, request, { range: request.rangeHeader }, true));
  }
  const object = await encryptedObjectOf(exchange, head);
  if (object === undefined) {
    const response = await send(exchange, request, { range: request.rangeHeader }, true);
    if (response.status !== 200 && response.status !== 206) return answerNonSuccess(exchange, response);
    return serveUnencrypted(exchange, response);
  }
  const range = plaintextRange(request, object, objectResource(exchange.s3));
  const stored = object.storedRange(range);
  const response = await send(exchange, request, {
    ...(range === undefined ? {} : { range: `bytes=${stored.start}-${stored.end}` }),
    'if-match': firstString(head.headers.etag),
  });
  if (response.status !== 206 && response.status !== 200) return answerNonSuccess(exchange, response);
  await streamPlaintext(exchange, response, object, range, request);
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
  object: EncryptedObject,
  range: PlainRange | undefined,
  request: ReadRequest,
): Promise<void> {
  const { res } = exchange;
  const upstreamBody: Readable = response.body;
  let open: Transform;
  try {
    open = await object.open(range);
  } catch (error) {
    // Destroying an unread undici body emits RequestAbortedError; unhandled, it would end the process.
    upstreamBody.on('error', () => undefined);
    upstreamBody.destroy();
    throw error;
  }
  const { status, headers } = plaintextHeaders(response, object, range, exchange, request);
  upstreamBody.on('error', (error) => open.destroy(error));
  upstreamBody.pipe(open);
  // The status line goes out with the first verified plaintext, so a failure before it is still an S3 error.
  const startResponse = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!res.headersSent) res.writeHead(status, headers);
      exchange.bytesOut += chunk.length;
      // Writes made in one turn of the event loop leave as one writev instead of one syscall per segment.
      if (res.writableCorked === 0) {
        res.cork();
        setImmediate(() => res.uncork());
      }
      callback(null, chunk);
    },
    flush(callback) {
      if (!res.headersSent) res.writeHead(status, headers);
      callback();
    },
  });
  await new Promise<void>((resolve, reject) => {
    open.once('error', (error) => {
      open.unpipe(startResponse);
      upstreamBody.destroy();
      reject(error);
    });
    res.once('close', () => {
      if (!res.writableFinished) {
        upstreamBody.destroy();
        open.destroy();
      }
      resolve();
    });
    open.pipe(startResponse).pipe(res);
  });
}
