/**
 * The client's full-object checksum of the plaintext, kept in the envelope of a single-part object, sealed
 * under a key derived from the object's DEK (docs/FORMAT.md section 7.1): in clear, a CRC of a small
 * plaintext would let the storage provider confirm guesses of it.
 */
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { DEK_SIZE, NONCE_SIZE, TAG_SIZE } from './constants.ts';
import { EnvelopeError } from './errors.ts';

export const META_CHECKSUM = 'x-amz-meta-cloudtaser-checksum';
/** HKDF info and AES-GCM AAD of the sealed checksum: never the AAD or key of any segment. */
export const CHECKSUM_LABEL = Buffer.from('cloudtaser-s3/v1/checksum', 'ascii');

/** The algorithms S3 returns as a full-object `x-amz-checksum-<algorithm>`, with their digest sizes. */
export const CHECKSUM_DIGEST_SIZES = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32,
  SHA512: 64,
  MD5: 16,
} as const;
export type StoredChecksumAlgorithm = keyof typeof CHECKSUM_DIGEST_SIZES;

/** A checksum as S3 shows it: the algorithm, and the digest in Base64 (CRCs big-endian). */
export type PlainChecksum = { algorithm: StoredChecksumAlgorithm; value: string };

/** The sealed field: Base64 of nonce, ciphertext and tag; the shortest text (a CRC32) makes it 42 bytes. */
const MIN_SEALED_BYTES = NONCE_SIZE + 'CRC32:'.length + 8 + TAG_SIZE;
const MAX_SEALED_LENGTH = 256;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function isStoredChecksumAlgorithm(name: string): name is StoredChecksumAlgorithm {
  return Object.hasOwn(CHECKSUM_DIGEST_SIZES, name);
}

/**
 * A KeyObject, as the segment ciphers use: Node checks a Buffer key by catching two TypeErrors, which
 * made each cipher here cost about 20 µs against 6 with a KeyObject. Node keeps the derived key's bytes
 * inside the object until it is collected; the HKDF output Buffer is zeroed at once.
 */
function checksumKey(dek: Buffer): KeyObject {
  if (dek.length !== DEK_SIZE) throw new EnvelopeError('ENVELOPE_BAD_FIELD', `DEK must be ${DEK_SIZE} bytes`);
  const derived = Buffer.from(hkdfSync('sha256', createSecretKey(dek), Buffer.alloc(0), CHECKSUM_LABEL, 32));
  const key = createSecretKey(derived);
  derived.fill(0);
  return key;
}

/** `ALGORITHM:digest`, the plaintext that is sealed; undefined when it is not a checksum of the table. */
function parseChecksumText(text: string): PlainChecksum | undefined {
  const colon = text.indexOf(':');
  const algorithm = text.slice(0, colon);
  const value = text.slice(colon + 1);
  if (colon < 0 || !isStoredChecksumAlgorithm(algorithm) || !BASE64.test(value)) return undefined;
  const digest = Buffer.from(value, 'base64');
  if (digest.length !== CHECKSUM_DIGEST_SIZES[algorithm] || digest.toString('base64') !== value)
    return undefined;
  return { algorithm, value };
}

/** The value of META_CHECKSUM for a checksum of the object whose DEK this is. */
export function sealChecksum(
  dek: Buffer,
  checksum: PlainChecksum,
  nonce: Buffer = randomBytes(NONCE_SIZE),
): string {
  const text = `${checksum.algorithm}:${checksum.value}`;
  if (parseChecksumText(text) === undefined)
    throw new EnvelopeError('ENVELOPE_BAD_FIELD', `not a ${checksum.algorithm} checksum`);
  const key = checksumKey(dek);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(CHECKSUM_LABEL);
  const sealed = Buffer.concat([nonce, cipher.update(text, 'ascii'), cipher.final(), cipher.getAuthTag()]);
  return sealed.toString('base64');
}

/** Whether a stored value has the shape of a sealed checksum (checked before any key is at hand). */
export function isSealedChecksum(value: string): boolean {
  if (value.length > MAX_SEALED_LENGTH || !BASE64.test(value)) return false;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length >= MIN_SEALED_BYTES && bytes.toString('base64') === value;
}

/** Opens META_CHECKSUM: CHECKSUM_AUTH_FAILED unless it was sealed under this DEK and left as it was. */
export function openChecksum(dek: Buffer, sealed: string): PlainChecksum {
  if (!isSealedChecksum(sealed))
    throw new EnvelopeError('ENVELOPE_BAD_FIELD', `${META_CHECKSUM} is not a sealed checksum`);
  const bytes = Buffer.from(sealed, 'base64');
  const key = checksumKey(dek);
  let text: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_SIZE));
    decipher.setAAD(CHECKSUM_LABEL);
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_SIZE));
    text = Buffer.concat([
      decipher.update(bytes.subarray(NONCE_SIZE, bytes.length - TAG_SIZE)),
      decipher.final(),
    ]).toString('latin1');
  } catch {
    throw new EnvelopeError('CHECKSUM_AUTH_FAILED', `${META_CHECKSUM} did not open under the object's key`);
  }
  const checksum = parseChecksumText(text);
  if (checksum === undefined)
    throw new EnvelopeError(
      'ENVELOPE_BAD_FIELD',
      `${META_CHECKSUM} does not hold a checksum of a known algorithm`,
    );
  return checksum;
}
