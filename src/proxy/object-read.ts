import { type Envelope, readEnvelope } from '../envelope/metadata.ts';
import { S3Error } from '../s3/errors.ts';
import { contentRange, parseRange, resolveRange, unsatisfiableContentRange } from '../s3/range.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import { presentETag, upstreamETagCondition } from './etag.ts';
import { type Exchange, objectResource, queryValue } from './exchange.ts';
import { clientResponseHeaders, firstHeader, forwardableRequestHeaders } from './headers.ts';

/** What a GET or HEAD asked for, in plaintext coordinates, before the object's size is known. */
export type ReadRequest = {
  headers: Record<string, string>;
  query: [string, string][];
  rangeHeader: string | undefined;
  partNumber: number | undefined;
};

export function readRequest(exchange: Exchange): ReadRequest {
  const { req, s3 } = exchange;
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: false });
  for (const name of ['if-match', 'if-none-match']) {
    const value = headers[name];
    if (value !== undefined) headers[name] = upstreamETagCondition(value);
  }
  const rangeHeader = headers.range;
  delete headers.range;
  const partText = queryValue(s3, 'partNumber');
  let partNumber: number | undefined;
  if (partText !== undefined) {
    partNumber = Number(partText);
    if (!/^\d{1,5}$/.test(partText) || partNumber < 1 || partNumber > 10000) {
      throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive.');
    }
    if (rangeHeader !== undefined)
      throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter.');
  }
  return { headers, query: s3.query.filter(([name]) => name !== 'partNumber'), rangeHeader, partNumber };
}

/** The plaintext byte range to answer with: undefined for the whole object (200), or a 206 range. */
export function plaintextRange(
  request: ReadRequest,
  size: number,
  resource: string,
): { start: number; end: number } | undefined {
  if (request.partNumber !== undefined) {
    // A single-part object has exactly one part; S3 answers part 1 as a range over the whole object.
    if (request.partNumber !== 1)
      throw new S3Error('InvalidRange', 'The requested partnumber is not satisfiable', { resource });
    return size === 0 ? undefined : { start: 0, end: size - 1 };
  }
  const parsed = parseRange(request.rangeHeader);
  // S3 ignores a Range header it cannot parse and answers with the whole object.
  if (parsed === undefined || parsed === 'invalid') return undefined;
  const resolved = resolveRange(parsed, size);
  if (resolved === 'unsatisfiable') {
    throw new S3Error('InvalidRange', undefined, {
      resource,
      headers: { 'content-range': unsatisfiableContentRange(size) },
    });
  }
  return resolved === 'whole' ? undefined : resolved;
}

/** Reads the envelope; applies the policy for objects stored before the proxy (R-ENC-7). */
export function envelopeOf(exchange: Exchange, response: UpstreamResponse): Envelope | undefined {
  const envelope = readEnvelope(response.headers);
  if (envelope === undefined) return undefined;
  if (envelope.format !== 'v1') {
    throw new S3Error(
      'NotImplemented',
      'This object was stored as a multipart upload, which this proxy version cannot read yet.',
      {
        resource: objectResource(exchange.s3),
      },
    );
  }
  return envelope;
}

/** Response headers for plaintext served from an encrypted object. */
export function plaintextHeaders(
  response: UpstreamResponse,
  size: number,
  range: { start: number; end: number } | undefined,
  exchange: Exchange,
): { status: number; headers: Record<string, string | string[]> } {
  const headers = clientResponseHeaders(response.headers, { dropIntegrity: true, dropLengthAndRange: true });
  const etag = presentETag(firstString(response.headers.etag));
  if (etag !== undefined) headers.etag = etag;
  headers['accept-ranges'] = 'bytes';
  headers['x-amz-request-id'] ??= exchange.id;
  if (range === undefined) {
    headers['content-length'] = String(size);
    return { status: 200, headers };
  }
  headers['content-length'] = String(range.end - range.start + 1);
  headers['content-range'] = contentRange(range.start, range.end, size);
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
