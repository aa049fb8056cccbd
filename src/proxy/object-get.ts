import type { ServerResponse } from 'node:http';
import { type Readable, type Transform, Writable } from 'node:stream';
import type { PlainChecksum } from '../envelope/checksum.ts';
import { abandonBody, drainBody, type UpstreamResponse } from '../upstream/client.ts';
import { type Exchange, objectResource } from './exchange.ts';
import { HoldTailUntil } from './hold-tail.ts';
import {
  answerNotModified,
  encryptedObjectOf,
  firstString,
  partSizesFor,
  plaintextHeaders,
  plaintextRange,
  type ReadRequest,
  readRequest,
  unencryptedRefusal,
} from './object-read.ts';
import { relayResponse } from './relay.ts';
import type { EncryptedObject, PlainRange } from './stored-object.ts';

/**
 * GetObject: decrypts while streaming and releases only verified plaintext. The status line goes out with
 * the first plaintext released, and the last plaintext only once the whole read has verified: a failure
 * before the first byte is an S3 error, one after it cuts the body short of its Content-Length, so a
 * client never sees a response that looks complete but is not. A range or partNumber read first
 * authenticates the part sizes of a multipart object, so its bytes and its Content-Range are right.
 */
export async function getObject(exchange: Exchange): Promise<void> {
  const request = readRequest(exchange);
  if (request.rangeHeader !== undefined || request.partNumber !== undefined) {
    await getObjectRange(exchange, request);
    return;
  }
  const response = await send(exchange, request, {});
  if (response.status !== 200) return answerNonSuccess(exchange, response);
  // A whole-object read verifies every part header before it releases that part's bytes: the sizes as
  // located are enough to plan it, and a wrong one fails the stream (docs/FORMAT.md section 9.4).
  const object = await encryptedObjectOf(exchange, response, { sizes: 'located' }).catch((error: unknown) => {
    abandonBody(response.body);
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
  drainBody(head.body);
  if (head.status !== 200) {
    if (head.status === 304) return answerNonSuccess(exchange, head);
    // A HEAD error has no body; ask again with GET so the client gets the upstream's full S3 error.
    return answerNonSuccess(exchange, await send(exchange, request, { range: request.rangeHeader }, true));
  }
  const object = await encryptedObjectOf(exchange, head, { sizes: partSizesFor(request) });
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
    await answerNotModified(exchange, response);
    return;
  }
  await relayResponse(exchange, response);
}

async function serveUnencrypted(exchange: Exchange, response: UpstreamResponse): Promise<void> {
  const { deps } = exchange;
  if (deps.unencryptedObjects === 'refuse') {
    abandonBody(response.body);
    throw unencryptedRefusal(objectResource(exchange.s3));
  }
  deps.metrics.unencryptedObjectsServed.inc();
  exchange.log.warn(
    { bucket: exchange.s3.bucket, key: exchange.s3.key },
    'served an object stored without encryption',
  );
  await relayResponse(exchange, response);
}

/**
 * Upstream body → verifying reader → the last chunk held until the reader ended cleanly → the client.
 * Rejects with the reader's error (the caller answers it: an S3 error, or a cut body once the status
 * line is out); resolves when the response is done or the client went away.
 */
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
  let checksum: PlainChecksum | undefined;
  try {
    open = await object.open(range);
    // Opened on every GET, returned or not: a sealed checksum that does not open fails the read.
    checksum = await object.checksum().catch((error: unknown) => {
      open.destroy();
      throw error;
    });
  } catch (error) {
    abandonBody(upstreamBody);
    throw error;
  }
  const { status, headers } = plaintextHeaders(response, object, range, exchange, request, checksum);
  const held = new HoldTailUntil(() => {});
  const client = clientWriter(exchange, status, headers);
  upstreamBody.on('error', (error) => open.destroy(error));
  await new Promise<void>((resolve, reject) => {
    open.once('error', (error) => {
      open.unpipe(held);
      held.unpipe(client);
      abandonBody(upstreamBody);
      reject(error);
    });
    res.once('close', () => {
      if (!res.writableFinished) {
        abandonBody(upstreamBody);
        open.destroy();
      }
      resolve();
    });
    upstreamBody.pipe(open).pipe(held).pipe(client);
  });
}

/**
 * Writes plaintext to the client: the status line with the first chunk, and every chunk counted only
 * once it is handed to the response, so the request log's byte count is what the client was sent.
 */
function clientWriter(
  exchange: Exchange,
  status: number,
  headers: Record<string, string | string[]>,
): Writable {
  const res: ServerResponse = exchange.res;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!res.headersSent) res.writeHead(status, headers);
      // Writes made in one turn of the event loop leave as one writev instead of one syscall per segment.
      if (res.writableCorked === 0) {
        res.cork();
        setImmediate(() => res.uncork());
      }
      exchange.bytesOut += chunk.length;
      if (res.write(chunk)) callback();
      else res.once('drain', () => callback());
    },
    final(callback) {
      if (!res.headersSent) res.writeHead(status, headers);
      res.end();
      callback();
    },
  });
}
