import type { Readable, Transform } from 'node:stream';
import type { PlainChecksum } from '../envelope/checksum.ts';
import {
  EnvelopeError,
  FORMAT_V1,
  META_FORMAT,
  type StoredRequest,
  storedRequestFor,
} from '../envelope/index.ts';
import { type ParsedRange, parseRange } from '../s3/range.ts';
import { abandonBody, drainBody, type UpstreamResponse } from '../upstream/client.ts';
import { type Exchange, objectResource } from './exchange.ts';
import {
  answerNotModified,
  encryptedObjectOf,
  firstString,
  partSizesFor,
  plaintextHeaders,
  plaintextRange,
  type ReadRequest,
  readRequest,
  storedRangeOf,
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
  if (request.partNumber !== undefined) return getObjectAfterHead(exchange, request);
  const parsed = parseRange(request.rangeHeader);
  // S3 ignores a Range header it cannot parse and answers with the whole object.
  if (parsed !== undefined && parsed !== 'invalid') return getObjectRange(exchange, request, parsed);
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
 * A range of a single-part object costs one upstream GET: its stored layout depends on the plaintext
 * size alone, so the stored bytes are chosen before the size is known, and the answer's envelope and
 * Content-Range confirm them. An object of another layout (multipart, or stored without encryption)
 * answers that GET with the headers a HEAD would have given, and its read is planned from them; one
 * known to be multipart starts with a HEAD instead, so that no body is fetched only to be dropped.
 */
async function getObjectRange(exchange: Exchange, request: ReadRequest, parsed: ParsedRange): Promise<void> {
  if (exchange.deps.layouts.knowsMultipart(exchange.s3.bucket ?? '', exchange.s3.key ?? '')) {
    return getObjectAfterHead(exchange, request);
  }
  const planned = storedRequestFor(
    parsed.kind === 'suffix'
      ? { suffix: parsed.length }
      : { first: parsed.first, last: parsed.kind === 'bounded' ? parsed.last : undefined },
  );
  const response = await send(exchange, request, { range: storedRangeHeader(planned) });
  if (response.status === 206 && firstString(response.headers[META_FORMAT]) === FORMAT_V1) {
    return serveSinglePartRange(exchange, request, response, planned);
  }
  if (response.status !== 206 && response.status !== 200 && response.status !== 416) {
    return answerNonSuccess(exchange, response);
  }
  discardBody(response);
  // A range past the end of the stored bytes: only a HEAD tells the plaintext size the answer names.
  if (response.status === 416) return getObjectAfterHead(exchange, request);
  await getObjectAs(exchange, request, response);
}

/**
 * Reads a single-part range from the answer to the GET planned for it. The envelope's plaintext size,
 * the Content-Range total and the stored bytes the answer carries are the upstream's word: they must
 * be exactly what S3 answers to the planned request on an object of that size, and hold the window the
 * range needs; the segments themselves are then authenticated as they are opened.
 */
async function serveSinglePartRange(
  exchange: Exchange,
  request: ReadRequest,
  response: UpstreamResponse,
  planned: StoredRequest,
): Promise<void> {
  let object: EncryptedObject | undefined;
  let range: PlainRange | undefined;
  let skip: number;
  try {
    // The stored size is the Content-Range total, checked against the envelope's plaintext size.
    object = await encryptedObjectOf(exchange, response, { sizes: 'located' });
    if (object === undefined || object.partCount !== undefined) {
      throw new EnvelopeError('ENVELOPE_BAD_FIELD', 'a single-part envelope describes another layout');
    }
    range = plaintextRange(request, object, objectResource(exchange.s3));
    const needed = object.storedRange(range);
    const answered = answeredRange(planned, needed, response);
    skip = needed.start - answered.start;
  } catch (error) {
    abandonBody(response.body);
    throw error;
  }
  await streamPlaintext(exchange, response, object, range, request, skip);
}

/**
 * The stored bytes the answer carries, if they are the ones S3 answers to `planned` on an object of
 * the stored size the answer names (the envelope's, by now) and they end where the window `needed` ends.
 */
function answeredRange(planned: StoredRequest, needed: PlainRange, response: UpstreamResponse): PlainRange {
  const got = storedRangeOf(response);
  if (got !== undefined) {
    const last = got.size - 1;
    const start = 'suffix' in planned ? Math.max(0, got.size - planned.suffix) : planned.start;
    const end = 'suffix' in planned || planned.end === undefined ? last : Math.min(planned.end, last);
    if (got.start === start && got.end === end && start <= needed.start && end === needed.end) return got;
  }
  throw new EnvelopeError(
    'SIZE_MISMATCH',
    `the upstream answered stored bytes ${firstString(response.headers['content-range'])} where ${needed.start}-${needed.end} hold the range`,
  );
}

/**
 * A partNumber read, or a range that the planned GET could not answer: a HEAD supplies the plaintext size
 * and the layout, and pins the version for the GET that follows.
 */
async function getObjectAfterHead(exchange: Exchange, request: ReadRequest): Promise<void> {
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
  await getObjectAs(exchange, request, head);
}

/**
 * The range or part of the object `described` (a HEAD's answer, or a GET's whose body is gone) shows:
 * its stored bytes are fetched with If-Match on its ETag, so they come from that version.
 */
async function getObjectAs(
  exchange: Exchange,
  request: ReadRequest,
  described: UpstreamResponse,
): Promise<void> {
  const object = await encryptedObjectOf(exchange, described, { sizes: partSizesFor(request) });
  if (object === undefined) {
    const response = await send(exchange, request, { range: request.rangeHeader }, true);
    if (response.status !== 200 && response.status !== 206) return answerNonSuccess(exchange, response);
    return serveUnencrypted(exchange, response);
  }
  const range = plaintextRange(request, object, objectResource(exchange.s3));
  const stored = object.storedRange(range);
  const response = await send(exchange, request, {
    ...(range === undefined ? {} : { range: `bytes=${stored.start}-${stored.end}` }),
    'if-match': firstString(described.headers.etag),
  });
  if (response.status !== 206 && response.status !== 200) return answerNonSuccess(exchange, response);
  await streamPlaintext(exchange, response, object, range, request);
}

function storedRangeHeader(planned: StoredRequest): string {
  if ('suffix' in planned) return `bytes=-${planned.suffix}`;
  return `bytes=${planned.start}-${planned.end ?? ''}`;
}

/** Bodies of this size are read to their end, so that their connection is kept; larger ones are cut. */
const DISCARD_DRAIN_LIMIT = 1024 * 1024;

function discardBody(response: UpstreamResponse): void {
  const length = Number(firstString(response.headers['content-length']) ?? Number.NaN);
  if (length <= DISCARD_DRAIN_LIMIT) drainBody(response.body);
  else abandonBody(response.body);
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
 * Upstream body → verifying reader → the client, one chunk behind: the last chunk the reader released
 * goes out only once the reader has ended cleanly, so a read that fails anywhere never yields a
 * complete-looking response, and one that fails within its first chunk is an S3 error. Rejects with the
 * reader's error (the caller answers it: an S3 error, or a cut body once the status line is out);
 * resolves when the response is done or the client went away.
 */
async function streamPlaintext(
  exchange: Exchange,
  response: UpstreamResponse,
  object: EncryptedObject,
  range: PlainRange | undefined,
  request: ReadRequest,
  skip?: number,
): Promise<void> {
  const { res } = exchange;
  const upstreamBody: Readable = response.body;
  let open: Transform;
  let checksum: PlainChecksum | undefined;
  try {
    open = await object.open(range, skip);
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
  upstreamBody.on('error', (error) => open.destroy(error));
  await new Promise<void>((resolve, reject) => {
    const resume = () => open.resume();
    const uncork = () => res.uncork();
    let held: Buffer | undefined;
    // Each chunk is counted once it is handed to the response, so the request log's byte count is
    // what the client was sent.
    const writeToClient = (chunk: Buffer): void => {
      if (!res.headersSent) res.writeHead(status, headers);
      // Segments opened in one turn of the event loop leave in one writev instead of one write each.
      if (res.writableCorked === 0) {
        res.cork();
        setImmediate(uncork);
      }
      exchange.bytesOut += chunk.length;
      if (!res.write(chunk)) {
        open.pause();
        res.once('drain', resume);
      }
    };
    const release = (chunk: Buffer): void => {
      const previous = held;
      held = chunk;
      if (previous !== undefined) writeToClient(previous);
    };
    open.once('error', (error) => {
      open.off('data', release);
      held = undefined;
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
    open.on('data', release);
    open.once('end', () => {
      if (held !== undefined) writeToClient(held);
      if (!res.headersSent) res.writeHead(status, headers);
      res.end();
    });
    upstreamBody.pipe(open);
  });
}
