/**
 * Request bodies of operations that carry no object data: small documents, read whole (within the
 * row's limit) and checked against what the operations table declares before anything goes upstream.
 * An upstream that does not know a sub-resource runs the plain object operation with the same body, so a
 * body that is not the declared document (a file, a form, plaintext) never leaves the proxy.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createAwsChunkedDecoder, parseDecodedContentLength, payloadMode } from '../s3/aws-chunked/index.ts';
import { documentProblem } from '../s3/documents.ts';
import { S3Error } from '../s3/errors.ts';
import type { PassthroughRow } from '../s3/operations.ts';
import { chunkSignaturesFor } from './client-body.ts';
import type { Exchange } from './exchange.ts';
import { firstHeader } from './headers.ts';

/** Bodies the proxy reads whole when no row says otherwise (CompleteMultipartUpload's part list). */
const MAX_BUFFERED_BODY = 8 * 1024 * 1024;

/**
 * The client's body for a passthrough row, checked, with the headers that describe it adjusted; `{}` when
 * there is none. Refused: a multipart form (an upstream's form-upload route stores the file in it), a
 * body on a row that takes none, a body over the row's limit, and anything but the declared document.
 */
export async function passthroughRequestBody(
  exchange: Exchange,
  row: PassthroughRow,
  headers: Record<string, string>,
): Promise<{ body?: Buffer }> {
  const { req } = exchange;
  const contentType = firstHeader(req.headers, 'content-type');
  if (contentType !== undefined && /^\s*multipart\//i.test(contentType)) {
    throw new S3Error(
      'NotImplemented',
      `${row.operation} with a ${contentType.split(';')[0]?.trim()} body is refused by the encryption proxy: an upstream's form-upload route would store the file in it unencrypted.`,
    );
  }
  const rule = row.body;
  if (rule.kind === 'object-data') throw new Error(`passthrough row ${row.operation} declares object data`);
  const limit = rule.kind === 'none' ? 0 : rule.maxBytes;
  const announced = announcedLength(exchange);
  if (announced === 0) return emptyBody(row);
  if (announced !== undefined && announced > limit) throw tooLarge(row, limit);
  const { body, trailers } = await bufferedRequestBody(exchange, limit, () => tooLarge(row, limit));
  if (body.length === 0) return emptyBody(row);
  if (rule.kind === 'none') throw tooLarge(row, 0);
  const problem = documentProblem(body, rule);
  if (problem !== undefined) {
    const expected =
      rule.kind === 'xml' ? `an XML document with root element <${rule.root}>` : 'a JSON policy';
    throw new S3Error(
      rule.kind === 'xml' ? 'MalformedXML' : 'MalformedPolicy',
      `${row.operation} takes ${expected} as its body, and ${problem}; the encryption proxy forwards nothing else.`,
    );
  }
  // The trailer's checksum becomes an ordinary header so that the upstream still verifies the body.
  for (const [name, value] of Object.entries(trailers))
    if (name.startsWith('x-amz-checksum-')) headers[name] = value;
  // Some S3-compatible stores (MinIO on DeleteObjects, Object Lock buckets) insist on Content-MD5 (COMPAT 21).
  headers['content-md5'] ??= createHash('md5').update(body).digest('base64');
  return { body };
}

/** The body length the request announces, undefined when it is only known once read (chunked transfer). */
function announcedLength(exchange: Exchange): number | undefined {
  const { req } = exchange;
  const mode = payloadMode(firstHeader(req.headers, 'x-amz-content-sha256'));
  if (mode.chunked) return parseDecodedContentLength(req.headers['x-amz-decoded-content-length']);
  const declared = firstHeader(req.headers, 'content-length');
  if (declared !== undefined) return Number(declared);
  return firstHeader(req.headers, 'transfer-encoding') === undefined ? 0 : undefined;
}

function emptyBody(row: PassthroughRow): { body?: Buffer } {
  const rule = row.body;
  if (rule.kind === 'xml' && !rule.optional) {
    throw new S3Error(
      'MalformedXML',
      `${row.operation} takes an XML document with root element <${rule.root}>.`,
    );
  }
  if (rule.kind === 'json' && !rule.optional) {
    throw new S3Error('MalformedPolicy', `${row.operation} takes a JSON policy as its body.`);
  }
  return {};
}

function tooLarge(row: PassthroughRow, limit: number): S3Error {
  return limit === 0
    ? new S3Error(
        'InvalidRequest',
        `${row.operation} takes no request body; the encryption proxy does not forward one.`,
      )
    : new S3Error('EntityTooLarge', `Request bodies of ${row.operation} are limited to ${limit} bytes.`);
}

/**
 * A small request body read whole, aws-chunked framing removed (and its chunk signatures verified, for an
 * authenticated client); the trailers it carried, if any. A hex `x-amz-content-sha256` is checked against
 * the body read, so that a signed hash is enforced before anything goes upstream.
 */
export async function bufferedRequestBody(
  exchange: Exchange,
  limit = MAX_BUFFERED_BODY,
  overLimit = () =>
    new S3Error('EntityTooLarge', `Request bodies of this operation are limited to ${limit} bytes.`),
): Promise<{ body: Buffer; trailers: Record<string, string> }> {
  const { req } = exchange;
  const contentSha256 = firstHeader(req.headers, 'x-amz-content-sha256');
  const mode = payloadMode(contentSha256);
  exchange.continueBody();
  if (!mode.chunked) {
    const body = await bounded(req, limit, overLimit);
    if (
      contentSha256 !== undefined &&
      /^[0-9a-f]{64}$/i.test(contentSha256) &&
      createHash('sha256').update(body).digest('hex') !== contentSha256.toLowerCase()
    ) {
      throw new S3Error('XAmzContentSHA256Mismatch');
    }
    return { body, trailers: {} };
  }
  const decodedLength = parseDecodedContentLength(req.headers['x-amz-decoded-content-length']);
  const signatures = chunkSignaturesFor(exchange, mode.signed);
  const decoder = createAwsChunkedDecoder({
    signed: mode.signed,
    trailer: mode.trailer,
    ...(decodedLength === undefined ? {} : { decodedContentLength: decodedLength }),
    ...(signatures === undefined ? {} : { signatures }),
  });
  req.on('error', (error) => decoder.destroy(error));
  const body = await bounded(req.pipe(decoder), limit, overLimit);
  return { body, trailers: Object.fromEntries(decoder.trailers) };
}

/**
 * The stream read whole, or `overLimit()` once it passes `limit`. Reading simply stops there: leaving a
 * `for await` early would destroy the request, and with it the connection the refusal must go out on.
 */
function bounded(stream: Readable, limit: number, overLimit: () => S3Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      // A client that goes away after the refusal must not raise an error nobody listens to.
      stream.on('error', () => undefined);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stop();
        stream.pause();
        reject(overLimit());
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
