import type { PlainChecksum } from '../envelope/checksum.ts';
import { readEnvelope } from '../envelope/metadata.ts';
import { S3Error } from '../s3/errors.ts';
import { contentRange, parseRange, resolveRange, unsatisfiableContentRange } from '../s3/range.ts';
import { drainBody, type UpstreamResponse } from '../upstream/client.ts';
import { presentETag, upstreamETagCondition } from './etag.ts';
import { type Exchange, partNumberOf, queryValue } from './exchange.ts';
import { clientResponseHeaders, firstHeader, forwardableRequestHeaders } from './headers.ts';
import { objectKeyHeaders } from './server-side-encryption.ts';
import { type EncryptedObject, encryptedObject, type PartSizes, type PlainRange } from './stored-object.ts';

/** What a GET or HEAD asked for, in plaintext coordinates, before the object's size is known. */
export type ReadRequest = {
  headers: Record<string, string>;
  query: [string, string][];
  rangeHeader: string | undefined;
  partNumber: number | undefined;
};

export function readRequest(exchange: Exchange): ReadRequest {
  const { req, s3 } = exchange;
  // A read carries no body to check; request checksums and checksum mode would only describe ciphertext.
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  delete headers['x-amz-checksum-mode'];
  for (const name of ['if-match', 'if-none-match']) {
    const value = headers[name];
    if (value !== undefined) headers[name] = upstreamETagCondition(value);
  }
  const rangeHeader = headers.range;
  delete headers.range;
  const partNumber = partNumberOf(s3);
  if (partNumber !== undefined) {
    if (rangeHeader !== undefined) {
      throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter.');
    }
  }
  return { headers, query: s3.query.filter(([name]) => name !== 'partNumber'), rangeHeader, partNumber };
}

/** The plaintext byte range to answer with: undefined for the whole object (200), or a 206 range. */
export function plaintextRange(
  request: ReadRequest,
  object: EncryptedObject,
  resource: string,
): PlainRange | undefined {
  if (request.partNumber !== undefined) return object.partRange(request.partNumber, resource);
  const parsed = parseRange(request.rangeHeader);
  // S3 ignores a Range header it cannot parse and answers with the whole object.
  if (parsed === undefined || parsed === 'invalid') return undefined;
  const resolved = resolveRange(parsed, object.plainSize);
  if (resolved === 'unsatisfiable') {
    throw new S3Error('InvalidRange', undefined, {
      resource,
      headers: { 'content-range': unsatisfiableContentRange(object.plainSize) },
    });
  }
  return resolved === 'whole' ? undefined : resolved;
}

/**
 * The encrypted object behind an upstream GET or HEAD response, or undefined for an object stored without
 * the envelope (written before the proxy; R-ENC-7 decides what happens to it). `sizes`: whether a
 * multipart object's part sizes must be authenticated first (see PartSizes).
 */
export async function encryptedObjectOf(
  exchange: Exchange,
  response: UpstreamResponse,
  options: {
    sizes: PartSizes;
    /** Another object than the request's own (a copy source), and the headers that read it. */
    target?: {
      bucket: string;
      key: string;
      versionId: string | undefined;
      readHeaders: Record<string, string>;
    };
  },
): Promise<EncryptedObject | undefined> {
  const envelope = readEnvelope(response.headers);
  if (envelope === undefined) return undefined;
  const target = options.target ?? {
    bucket: exchange.s3.bucket ?? '',
    key: exchange.s3.key ?? '',
    versionId: queryValue(exchange.s3, 'versionId'),
    readHeaders: objectKeyHeaders(exchange.req.headers),
  };
  return encryptedObject(
    envelope,
    {
      ...target,
      etag: firstString(response.headers.etag) ?? '',
      versionId: firstString(response.headers['x-amz-version-id']) ?? target.versionId,
      storedSize: storedSizeOf(response),
    },
    exchange.deps,
    options.sizes,
  );
}

/**
 * With CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS=refuse the bytes of an object without the envelope reach no
 * client: not read, and not copied into another object to be read from there.
 */
export function unencryptedRefusal(resource: string): S3Error {
  return new S3Error(
    'AccessDenied',
    'This object is not encrypted and CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS=refuse forbids serving it.',
    { resource },
  );
}

/** A read answered as a range or a part reports sizes it has not read through: they must be authenticated. */
export function partSizesFor(request: ReadRequest): PartSizes {
  return request.rangeHeader === undefined && request.partNumber === undefined ? 'located' : 'authenticated';
}

/** The stored bytes a 206 carries (inclusive) and the whole stored size, from its Content-Range. */
export function storedRangeOf(response: UpstreamResponse): (PlainRange & { size: number }) | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(firstString(response.headers['content-range']) ?? '');
  if (match === null) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), size: Number(match[3]) };
}

/** The whole stored size, from a 200's Content-Length or a 206's Content-Range. */
function storedSizeOf(response: UpstreamResponse): number {
  const range = firstString(response.headers['content-range']);
  const total = range === undefined ? undefined : /\/(\d+)$/.exec(range)?.[1];
  return Number(total ?? firstString(response.headers['content-length']) ?? Number.NaN);
}

/**
 * Whether a read returns the object's checksum: with x-amz-checksum-mode: ENABLED, for the whole object
 * only. A range or a part would be validated by the SDK against a full-object checksum, and fail.
 */
export function returnsChecksum(exchange: Exchange, request: ReadRequest): boolean {
  const mode = firstHeader(exchange.req.headers, 'x-amz-checksum-mode');
  return (
    mode?.trim().toUpperCase() === 'ENABLED' &&
    request.rangeHeader === undefined &&
    request.partNumber === undefined
  );
}

/** Response headers for plaintext served from an encrypted object, with its checksum if the read returns it. */
export function plaintextHeaders(
  response: UpstreamResponse,
  object: EncryptedObject,
  range: PlainRange | undefined,
  exchange: Exchange,
  request: ReadRequest,
  checksum?: PlainChecksum,
): { status: number; headers: Record<string, string | string[]> } {
  const headers = clientResponseHeaders(response.headers, { dropIntegrity: true, dropLengthAndRange: true });
  if (checksum !== undefined && returnsChecksum(exchange, request)) {
    headers[`x-amz-checksum-${checksum.algorithm.toLowerCase()}`] = checksum.value;
    headers['x-amz-checksum-type'] = 'FULL_OBJECT';
  }
  const etag = presentETag(firstString(response.headers.etag));
  if (etag !== undefined) headers.etag = etag;
  headers['accept-ranges'] = 'bytes';
  headers['x-amz-request-id'] ??= exchange.id;
  if (request.partNumber !== undefined && object.partCount !== undefined)
    headers['x-amz-mp-parts-count'] = String(object.partCount);
  if (range === undefined) {
    headers['content-length'] = String(object.plainSize);
    return { status: 200, headers };
  }
  headers['content-length'] = String(range.end - range.start + 1);
  headers['content-range'] = contentRange(range.start, range.end, object.plainSize);
  return { status: 206, headers };
}

/**
 * Answers a 304 with the ETag a 200 would carry (docs/decisions/0002). An upstream 304 carries the stored
 * ETag but no metadata, so whether the object is one the proxy encrypted (its ETag shown in the proxy's
 * form) is known from the client's If-None-Match when that named the presented form, and otherwise from an
 * unconditional HEAD of the same version. Only an MD5-shaped ETag needs this: others are shown as they are.
 */
export async function answerNotModified(exchange: Exchange, response: UpstreamResponse): Promise<void> {
  drainBody(response.body);
  const headers = clientResponseHeaders(response.headers, { dropIntegrity: true, dropLengthAndRange: true });
  const etag = firstString(response.headers.etag);
  const presented = presentETag(etag);
  if (etag !== undefined && presented !== undefined && presented !== etag) {
    const asked = firstHeader(exchange.req.headers, 'if-none-match') ?? '';
    if (asked.includes(presented.replaceAll('"', '')) || (await storedWithEnvelope(exchange)))
      headers.etag = presented;
  }
  headers['x-amz-request-id'] ??= exchange.id;
  exchange.res.writeHead(304, headers);
  exchange.res.end();
}

/** Whether the version a read names carries the envelope, from a HEAD without the read's conditions. */
async function storedWithEnvelope(exchange: Exchange): Promise<boolean> {
  const { headers, query } = readRequest(exchange);
  for (const name of ['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'])
    delete headers[name];
  const head = await exchange.deps.upstream.send({
    method: 'HEAD',
    bucket: exchange.s3.bucket,
    key: exchange.s3.key,
    query,
    headers,
  });
  drainBody(head.body);
  if (head.status !== 200) return false;
  try {
    return readEnvelope(head.headers) !== undefined;
  } catch {
    // A malformed envelope is still an envelope: the object is not one stored before the proxy.
    return true;
  }
}

export function firstString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
