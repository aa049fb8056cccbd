/**
 * The SigV4 arithmetic (AWS "Create a string to sign", "Calculate the signature"): the signing key is
 * HMAC-SHA256 chained over date, region, service and `aws4_request`; a signature is the hex HMAC of a
 * string to sign under it. The constants are the outbound signer's (@smithy/signature-v4), the same
 * strings on both sides.
 */
import { createHash, createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { ALGORITHM_IDENTIFIER } from '@smithy/signature-v4';

export const SIGV4_ALGORITHM = ALGORITHM_IDENTIFIER;

/** `YYYYMMDD/region/service/aws4_request`. */
export type CredentialScope = {
  readonly date: string;
  readonly region: string;
  readonly service: string;
};

export function scopeString(scope: CredentialScope): string {
  return `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The chained keys are KeyObjects: Node tells a Buffer key from a KeyObject or CryptoKey by catching two
 * TypeErrors, which made each HMAC under a Buffer key cost tens of µs; a KeyObject (made from the bytes
 * without those checks) passes the first check at once. The chunk signatures of a body reuse the key.
 */
export function signingKey(secretAccessKey: string, scope: CredentialScope): KeyObject {
  const dateKey = createHmac('sha256', `AWS4${secretAccessKey}`).update(scope.date).digest();
  const regionKey = createHmac('sha256', createSecretKey(dateKey)).update(scope.region).digest();
  const serviceKey = createHmac('sha256', createSecretKey(regionKey)).update(scope.service).digest();
  return createSecretKey(createHmac('sha256', createSecretKey(serviceKey)).update('aws4_request').digest());
}

export function signString(key: KeyObject, stringToSign: string): string {
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

/** The string to sign of a request: algorithm, `x-amz-date`, scope and the hash of the canonical request. */
export function requestStringToSign(
  amzDate: string,
  scope: CredentialScope,
  canonicalRequest: string,
): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scopeString(scope)}\n${sha256Hex(canonicalRequest)}`;
}

/** Constant-time comparison of two hex signatures; any other shape is simply unequal. */
export function signaturesEqual(expected: string, provided: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(provided)) return false;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(provided, 'hex'));
}
