import { readEnvelope } from '../envelope/metadata.ts';
import { S3Error } from '../s3/errors.ts';
import { contentRange, parseRange, resolveRange, unsatisfiableContentRange } from '../s3/range.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import { presentETag, upstreamETagCondition } from './etag.ts';
import { type Exchange, partNumberOf, queryValue } from './exchange.ts';
import { clientResponseHeaders, firstHeader, forwardableRequestHeaders } from './headers.ts';
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
    target?: { bucket: string; key: string; versionId: string | undefined };
  },
): Promise<EncryptedObject | undefined> {
  const envelope = readEnvelope(response.headers);
  if (envelope === undefined) return undefined;
  const target = options.target ?? {
    bucket: exchange.s3.bucket ?? '',
    key: exchange.s3.key ?? '',
    versionId: queryValue(exchange.s3, 'versionId'),
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

/** The whole stored size, from a 200's Content-Length or a 206's Content-Range. */
function storedSizeOf(response: UpstreamResponse): number {
  const range = firstString(response.headers['content-range']);
  const total = range === undefined ? undefined : /\/(\d+)$/.exec(range)?.[1];
  return Number(total ?? firstString(response.headers['content-length']) ?? Number.NaN);
}

/** Response headers for plaintext served from an encrypted object. */
export function plaintextHeaders(
  response: UpstreamResponse,
  object: EncryptedObject,
  range: PlainRange | undefined,
  exchange: Exchange,
  request: ReadRequest,
): { status: number; headers: Record<string, string | string[]> } {
  const headers = clientResponseHeaders(response.headers, { dropIntegrity: true, dropLengthAndRange: true });
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

/** A 304 carries the upstream ETag; show it the way the client knows it. */
export function notModifiedHeaders(
  response: UpstreamResponse,
  exchange: Exchange,
): Record<string, string | string[]> {
  const headers = clientResponseHeaders(response.headers, { dropIntegrity: true, dropLengthAndRange: true });
  const etag = firstString(response.headers.etag);
  const presented = presentETag(etag);
  const asked = firstHeader(exchange.req.headers, 'if-none-match') ?? '';
  if (etag !== undefined && presented !== undefined && asked.includes(presented.replaceAll('"', '')))
    headers.etag = presented;
  headers['x-amz-request-id'] ??= exchange.id;
  return headers;
}

export function firstString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
