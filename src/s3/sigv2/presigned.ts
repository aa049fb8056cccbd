/**
 * Presigned URLs of Signature Version 2 (`?AWSAccessKeyId=…&Expires=…&Signature=…`), verified because boto3
 * makes them by default: botocore presigns S3 URLs with SigV2 "for backwards compatibility" unless the
 * client is configured with `signature_version='s3v4'` (its own documentation of generate_presigned_url).
 * The SigV2 Authorization header is still refused: no client here signs requests that way.
 * See docs/decisions/0010-inbound-authentication.md.
 *
 *     StringToSign = <method>\n<Content-MD5>\n<Content-Type>\n<Expires>\n<x-amz-* headers>\n…<resource>
 *     Signature    = Base64(HMAC-SHA1(secret, StringToSign))
 *
 * The resource is `/bucket/key` as sent (also for virtual-hosted requests), followed by the S3
 * sub-resources of the query, sorted. What SigV2 does not sign (other query parameters, other headers, the
 * body) is what S3 leaves unsigned too; the proxy's grants still apply to whatever the request names.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_PRESIGNED_TTL, UNSIGNED_PAYLOAD } from '@smithy/signature-v4';
import { headerValues, type RawHeaders } from '../sigv4/canonical.ts';
import { ClientRefusal } from '../sigv4/refusal.ts';

/** The query parameters SigV2 signs (botocore's list, which is S3's). */
const SUBRESOURCES = new Set([
  'accelerate',
  'acl',
  'analytics',
  'cors',
  'defaultObjectAcl',
  'delete',
  'intelligent-tiering',
  'inventory',
  'lifecycle',
  'location',
  'logging',
  'metrics',
  'notification',
  'object-lock',
  'partNumber',
  'policy',
  'replication',
  'requestPayment',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
  'restore',
  'select',
  'select-type',
  'storageClass',
  'tagging',
  'torrent',
  'uploadId',
  'uploads',
  'versionId',
  'versioning',
  'versions',
  'website',
]);

export type PresignedV2Request = {
  readonly method: string;
  readonly path: string;
  readonly rawQuery: string;
  readonly rawHeaders: RawHeaders;
  /** The bucket named by the Host of a virtual-hosted-style request: the signed resource starts with it. */
  readonly virtualHostBucket?: string | undefined;
};

export function isPresignedV2(rawQuery: string): boolean {
  return /(^|&)(AWSAccessKeyId|Signature)=/.test(rawQuery);
}

export function verifyPresignedV2(
  request: PresignedV2Request,
  lookup: (accessKeyId: string) => string | undefined,
  now: Date,
): { accessKeyId: string; payloadHash: string } {
  const pairs = request.rawQuery
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      return eq < 0
        ? ([part, undefined] as const)
        : ([part.slice(0, eq), decode(part.slice(eq + 1))] as const);
    });
  const query = (name: string) => pairs.find(([n]) => n === name)?.[1];
  const accessKeyId = query('AWSAccessKeyId');
  const signature = query('Signature');
  const expires = query('Expires');
  if (accessKeyId === undefined || signature === undefined || expires === undefined) {
    throw new ClientRefusal(
      'malformed',
      'AccessDenied',
      'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters',
    );
  }
  if (
    pairs.some(([name]) => name.toLowerCase() === 'x-amz-security-token') ||
    header(request, 'x-amz-security-token') !== undefined
  ) {
    throw new ClientRefusal(
      'session_token',
      'InvalidToken',
      'The provided token is malformed or otherwise invalid: this proxy issues no sessions.',
    );
  }
  const secret = lookup(accessKeyId);
  if (secret === undefined) {
    throw new ClientRefusal('unknown_key', 'InvalidAccessKeyId', undefined, {
      details: [['AWSAccessKeyId', accessKeyId]],
    });
  }
  if (!/^\d{1,12}$/.test(expires)) {
    throw new ClientRefusal('malformed', 'AccessDenied', 'Expires must be a number of seconds since 1970.');
  }
  const expiresMs = Number(expires) * 1000;
  if (now.getTime() > expiresMs) {
    throw new ClientRefusal('expired', 'AccessDenied', 'Request has expired', {
      details: [
        ['Expires', new Date(expiresMs).toISOString()],
        ['ServerTime', now.toISOString()],
      ],
    });
  }
  if (expiresMs - now.getTime() > MAX_PRESIGNED_TTL * 1000) {
    throw new ClientRefusal(
      'malformed',
      'AuthorizationQueryParametersError',
      `Expires must be less than a week (${MAX_PRESIGNED_TTL} seconds) in the future; this proxy does not accept longer-lived presigned URLs.`,
    );
  }

  const fromQuery = (name: string) => pairs.find(([n]) => n.toLowerCase() === name)?.[1];
  const amz = new Map<string, string[]>();
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = (request.rawHeaders[i] as string).toLowerCase();
    if (name.startsWith('x-amz-'))
      amz.set(name, [...(amz.get(name) ?? []), (request.rawHeaders[i + 1] as string).trim()]);
  }
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    if (lower.startsWith('x-amz-') && value !== undefined)
      amz.set(lower, [...(amz.get(lower) ?? []), value.trim()]);
  }
  const customHeaders = [...amz.keys()]
    .sort()
    .map((name) => `${name}:${(amz.get(name) ?? []).join(',')}\n`)
    .join('');
  const subresources = pairs
    .filter(([name]) => SUBRESOURCES.has(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => (value === undefined ? name : `${name}=${value}`));
  const resource =
    (request.virtualHostBucket === undefined ? '' : `/${request.virtualHostBucket}`) +
    request.path +
    (subresources.length === 0 ? '' : `?${subresources.join('&')}`);
  const stringToSign = [
    request.method,
    header(request, 'content-md5') ?? fromQuery('content-md5') ?? '',
    header(request, 'content-type') ?? fromQuery('content-type') ?? '',
    expires,
    `${customHeaders}${resource}`,
  ].join('\n');
  const expected = createHmac('sha1', secret).update(stringToSign, 'utf8').digest();
  const provided = Buffer.from(signature, 'base64');
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    throw new ClientRefusal('signature_mismatch', 'SignatureDoesNotMatch', undefined, {
      details: [
        ['AWSAccessKeyId', accessKeyId],
        ['StringToSign', stringToSign],
        ['SignatureProvided', signature],
      ],
    });
  }
  return { accessKeyId, payloadHash: UNSIGNED_PAYLOAD };
}

function header(request: PresignedV2Request, name: string): string | undefined {
  return headerValues(request.rawHeaders, name)[0];
}

/** Percent-decoding as botocore's signer unquotes (a `+` stays a `+`: base64 signatures contain it). */
function decode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ClientRefusal(
      'malformed',
      'AccessDenied',
      'A presigning query parameter is not valid URL encoding.',
    );
  }
}
