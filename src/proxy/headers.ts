import type { IncomingHttpHeaders } from 'node:http';
import { isEnvelopeHeader } from '../envelope/metadata.ts';
import { contentEncodingWithoutAwsChunked } from '../s3/aws-chunked/index.ts';
import { isInboundIntegrityHeader } from '../s3/checksum.ts';

/** Hop-by-hop headers and the ones this proxy recomputes for the upstream connection. */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  'content-length',
]);

/** The client's signature was made for the proxy; the upstream request is signed anew (R-S3-3). */
const CLIENT_SIGNING_HEADERS = new Set([
  'authorization',
  'x-amz-date',
  'x-amz-content-sha256',
  'x-amz-security-token',
]);

/**
 * Request headers that change the shape of the upstream response body, which the proxy reads and
 * rewrites (ciphertext, listings, part lists): `x-amz-te: append-md5` makes S3 append an MD5 to a
 * GetObject body (the Java SDK v2 sends it); `accept-encoding` lets a store or CDN in front of it
 * compress what the proxy must parse. `te` is hop-by-hop and dropped above. See docs/SECURITY.md.
 */
const RESPONSE_SHAPING_HEADERS = new Set(['x-amz-te', 'accept-encoding']);

export type ForwardOptions = {
  /** Drop Content-MD5 and x-amz-checksum-*: true when the body is re-encoded on the way. */
  dropIntegrity: boolean;
};

/**
 * The client's request headers as they may go upstream: lower-case, single-valued, without signing or
 * connection headers. Envelope headers are never forwarded as given (R-ENC-6): copy tools send back what
 * HEAD showed them, envelope included, and the proxy writes its own wherever an object gets one.
 */
export function forwardableRequestHeaders(
  headers: IncomingHttpHeaders,
  options: ForwardOptions,
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || CONNECTION_HEADERS.has(name) || CLIENT_SIGNING_HEADERS.has(name)) continue;
    if (isEnvelopeHeader(name) || RESPONSE_SHAPING_HEADERS.has(name)) continue;
    if (name === 'x-amz-decoded-content-length' || name === 'x-amz-trailer') continue;
    if (options.dropIntegrity && isInboundIntegrityHeader(name)) continue;
    if (name === 'content-encoding') {
      const kept = contentEncodingWithoutAwsChunked(Array.isArray(value) ? value.join(',') : value);
      if (kept !== undefined) result[name] = kept;
      continue;
    }
    result[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return result;
}

const RESPONSE_CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'trailer',
  'upgrade',
]);

/**
 * Upstream response headers as they may go back to the client. For objects the proxy decrypts, the
 * upstream's checksums describe ciphertext, and SDKs validate any full-object checksum they see (COMPAT 8).
 */
export function clientResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  options: { dropIntegrity: boolean; dropLengthAndRange?: boolean },
): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || RESPONSE_CONNECTION_HEADERS.has(name)) continue;
    if (options.dropIntegrity && (name.startsWith('x-amz-checksum') || name === 'content-md5')) continue;
    if (options.dropLengthAndRange && (name === 'content-range' || name === 'x-amz-mp-parts-count')) continue;
    result[name] = value;
  }
  return result;
}

export function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
