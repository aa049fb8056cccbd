/**
 * The provider's own encryption, which some users layer under the proxy's (docs/CLIENTS.md). Of its header
 * families, only SSE-C (a customer-provided key) has to travel with more requests than the client's own:
 * S3 stores nothing of that key, so every request that reads or writes the object's bytes must carry it,
 * and the proxy makes such requests of its own for one client request (the HEAD before a range, part
 * headers read to locate and authenticate parts, a copy source read, the parts of an upload of unknown
 * length). SSE-KMS and SSE-S3 are named once, when the object is written (PutObject,
 * CreateMultipartUpload, CopyObject); S3 refuses their headers on GET and HEAD (400) and UploadPart does
 * not take them, so the proxy adds them nowhere: they go upstream only on the client's own request.
 *
 * Each of the proxy's own upstream requests for a client request takes its encryption headers from here.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { firstHeader } from './headers.ts';

const SSE_C_HEADERS = [
  'x-amz-server-side-encryption-customer-algorithm',
  'x-amz-server-side-encryption-customer-key',
  'x-amz-server-side-encryption-customer-key-md5',
] as const;

const COPY_SOURCE_PREFIX = 'x-amz-copy-source-';

/**
 * The client's SSE-C key for the object the request names: every read the proxy makes of it (and every part
 * the proxy uploads to it) carries these, as S3 requires for an object stored under that key.
 */
export function objectKeyHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  return pick(headers, '');
}

/**
 * The SSE-C key of a copy source (`x-amz-copy-source-server-side-encryption-customer-*`), under the names
 * a plain read of the source takes: the proxy reads a copy source with HEAD and GET, not as a copy.
 */
export function copySourceKeyHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  return pick(headers, COPY_SOURCE_PREFIX);
}

function pick(headers: IncomingHttpHeaders, prefix: string): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of SSE_C_HEADERS) {
    const value = firstHeader(headers, prefix === '' ? name : name.replace('x-amz-', prefix));
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}
