/**
 * The client's signature was made for the proxy, not for the upstream, which gets a signature of the
 * proxy's own (R-S3-3). Presigned URLs carry it in the query string: SigV4 (`X-Amz-*`) and SigV2
 * (`AWSAccessKeyId`, `Signature`, `Expires`). They may also carry checksum parameters (aws-sdk-js v3
 * signs the CRC32 of an empty body into presigned PUT URLs); S3 ignores checksums in presigned URLs,
 * and upstream they would describe ciphertext they do not match, so they go too.
 */
const SIGV4_QUERY = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'x-amz-sdk-checksum-algorithm',
]);
const SIGV2_QUERY = new Set(['awsaccesskeyid', 'signature', 'expires']);

/** A presigned SigV4 URL's own parameters and the checksum parameters that come with them (any case). */
export function isSigV4QueryParameter(name: string): boolean {
  const lower = name.toLowerCase();
  return SIGV4_QUERY.has(lower) || lower.startsWith('x-amz-checksum-');
}

export function withoutClientAuthQuery(query: ReadonlyArray<readonly [string, string]>): [string, string][] {
  const presignedV2 = query.some(([name]) => name === 'AWSAccessKeyId');
  return query
    .filter(([name]) => !isSigV4QueryParameter(name) && !(presignedV2 && SIGV2_QUERY.has(name.toLowerCase())))
    .map(([name, value]) => [name, value]);
}
