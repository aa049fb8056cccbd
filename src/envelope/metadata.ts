import { isSealedChecksum, META_CHECKSUM } from './checksum.ts';
import {
  FORMAT_V1,
  FORMAT_V1_MULTIPART,
  MAX_PLAINTEXT_SIZE,
  META_DEK,
  META_FORMAT,
  META_NONCE,
  META_PREFIX,
  META_SIZE,
  META_TRANSIT_KEY,
  NONCE_SIZE,
} from './constants.ts';
import { EnvelopeError } from './errors.ts';

/**
 * The envelope of a single-part object: everything needed, besides the KEK, to open its body; and the
 * client's checksum of the plaintext, sealed (checksum.ts), when one was known before the body went up.
 */
export type Envelope = {
  format: 'v1';
  wrappedDek: string;
  nonce: Buffer;
  plaintextSize: number;
  checksum?: string;
  /** The Transit key that wrapped the data key, as recorded (`<mount>/<key>`); undefined: the default key. */
  transitKey?: string | undefined;
};
/** A multipart object: each part carries its own key material in its part header. */
export type MultipartEnvelope = { format: 'v1-multipart'; transitKey?: string | undefined };
export type StoredEnvelope = Envelope | MultipartEnvelope;

export type HeaderMap = Record<string, string | string[] | undefined>;

/** Generous for any Transit ciphertext of a 32-byte key, and well inside S3's 2 KB metadata limit. */
const MAX_METADATA_WRAPPED_DEK_LENGTH = 1024;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
const NONCE_BASE64 = /^[A-Za-z0-9+/]{16}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
/** A mount path (which may hold "/") and a key name, well inside S3's metadata limit. */
const MAX_TRANSIT_KEY_LENGTH = 256;

/** Names of the envelope: a client sending one would forge or corrupt it, so the proxy never forwards it. */
export function isEnvelopeHeader(name: string): boolean {
  return name.toLowerCase().startsWith(META_PREFIX);
}

export function isValidWrappedDek(wrappedDek: string, maxLength: number): boolean {
  return wrappedDek.length <= maxLength && VISIBLE_ASCII.test(wrappedDek);
}

export function envelopeToHeaders(envelope: Envelope): Record<string, string> {
  if (!isValidWrappedDek(envelope.wrappedDek, MAX_METADATA_WRAPPED_DEK_LENGTH)) {
    throw new EnvelopeError(
      'ENVELOPE_BAD_FIELD',
      `wrapped DEK must be 1..${MAX_METADATA_WRAPPED_DEK_LENGTH} visible ASCII characters`,
    );
  }
  if (envelope.nonce.length !== NONCE_SIZE) {
    throw new EnvelopeError('ENVELOPE_BAD_FIELD', `nonce must be ${NONCE_SIZE} bytes`);
  }
  const size = envelope.plaintextSize;
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_PLAINTEXT_SIZE) {
    throw new EnvelopeError('ENVELOPE_BAD_FIELD', `plaintext size ${size} is out of range`);
  }
  if (envelope.checksum !== undefined && !isSealedChecksum(envelope.checksum))
    throw new EnvelopeError('ENVELOPE_BAD_FIELD', 'the sealed checksum is malformed');
  return {
    [META_FORMAT]: FORMAT_V1,
    [META_DEK]: envelope.wrappedDek,
    [META_NONCE]: envelope.nonce.toString('base64'),
    [META_SIZE]: String(size),
    ...(envelope.checksum === undefined ? {} : { [META_CHECKSUM]: envelope.checksum }),
    ...transitKeyHeader(envelope.transitKey),
  };
}

/** `transitKey`: the key the upload's parts are wrapped with, recorded at CreateMultipartUpload. */
export function multipartEnvelopeHeaders(transitKey?: string): Record<string, string> {
  return { [META_FORMAT]: FORMAT_V1_MULTIPART, ...transitKeyHeader(transitKey) };
}

function transitKeyHeader(transitKey: string | undefined): Record<string, string> {
  if (transitKey === undefined) return {};
  if (!isValidWrappedDek(transitKey, MAX_TRANSIT_KEY_LENGTH))
    throw new EnvelopeError(
      'ENVELOPE_BAD_FIELD',
      `Transit key name must be 1..${MAX_TRANSIT_KEY_LENGTH} visible ASCII characters`,
    );
  return { [META_TRANSIT_KEY]: transitKey };
}

/** The recorded Transit key; a value that is present must be well-formed (it chooses the key to unwrap with). */
function readTransitKey(headers: EnvelopeHeaders): string | undefined {
  const value = headerValue(headers, META_TRANSIT_KEY);
  if (value !== undefined && !isValidWrappedDek(value, MAX_TRANSIT_KEY_LENGTH))
    throw new EnvelopeError(
      'ENVELOPE_BAD_FIELD',
      `${META_TRANSIT_KEY} must be 1..${MAX_TRANSIT_KEY_LENGTH} visible ASCII characters`,
    );
  return value;
}

/**
 * Reads the envelope from response headers (names in any case). Undefined means the object has no
 * envelope (written before the proxy); an envelope that is present but incomplete or malformed throws,
 * because serving such an object as plaintext would hand ciphertext to the client.
 */
export function readEnvelope(responseHeaders: HeaderMap): StoredEnvelope | undefined {
  const headers = envelopeHeaders(responseHeaders);
  const format = headerValue(headers, META_FORMAT);
  if (format === undefined) return undefined;
  if (format === FORMAT_V1_MULTIPART) {
    const transitKey = readTransitKey(headers);
    return transitKey === undefined
      ? { format: FORMAT_V1_MULTIPART }
      : { format: FORMAT_V1_MULTIPART, transitKey };
  }
  if (format !== FORMAT_V1) {
    throw new EnvelopeError('ENVELOPE_UNKNOWN_FORMAT', `unknown envelope format ${JSON.stringify(format)}`);
  }

  const wrappedDek = requiredValue(headers, META_DEK);
  if (!isValidWrappedDek(wrappedDek, MAX_METADATA_WRAPPED_DEK_LENGTH)) {
    throw new EnvelopeError(
      'ENVELOPE_BAD_FIELD',
      `${META_DEK} must be 1..${MAX_METADATA_WRAPPED_DEK_LENGTH} visible ASCII characters`,
    );
  }

  const nonceText = requiredValue(headers, META_NONCE);
  if (!NONCE_BASE64.test(nonceText)) {
    throw new EnvelopeError('ENVELOPE_BAD_FIELD', `${META_NONCE} must be 16 base64 characters (12 bytes)`);
  }
  const nonce = Buffer.from(nonceText, 'base64');

  const sizeText = requiredValue(headers, META_SIZE);
  const plaintextSize = Number(sizeText);
  if (!DECIMAL.test(sizeText) || plaintextSize > MAX_PLAINTEXT_SIZE) {
    throw new EnvelopeError(
      'ENVELOPE_BAD_FIELD',
      `${META_SIZE} must be a decimal integer in 0..${MAX_PLAINTEXT_SIZE} without leading zeros`,
    );
  }

  const checksum = headerValue(headers, META_CHECKSUM);
  if (checksum !== undefined && !isSealedChecksum(checksum))
    throw new EnvelopeError('ENVELOPE_BAD_FIELD', `${META_CHECKSUM} must be Base64 of a sealed checksum`);
  const transitKey = readTransitKey(headers);
  return {
    format: FORMAT_V1,
    wrappedDek,
    nonce,
    plaintextSize,
    ...(checksum === undefined ? {} : { checksum }),
    ...(transitKey === undefined ? {} : { transitKey }),
  };
}

function requiredValue(headers: EnvelopeHeaders, name: string): string {
  const value = headerValue(headers, name);
  if (value === undefined) throw new EnvelopeError('ENVELOPE_MISSING_FIELD', `${name} is missing`);
  return value;
}

/** The values of the envelope's headers (META_PREFIX), by lowercase name, every occurrence kept. */
type EnvelopeHeaders = Map<string, string[]>;

/**
 * One pass over the response's headers (a GET's carry a few dozen), so that each field below is a lookup
 * and not another pass lowercasing every name.
 */
function envelopeHeaders(headers: HeaderMap): EnvelopeHeaders {
  const found: EnvelopeHeaders = new Map();
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined || key.length <= META_PREFIX.length) continue;
    const name = key.toLowerCase();
    if (!name.startsWith(META_PREFIX)) continue;
    const values = found.get(name) ?? [];
    if (Array.isArray(value)) values.push(...value);
    else values.push(value);
    found.set(name, values);
  }
  return found;
}

/** One value for a lowercase name; a name present twice (any case, or as a list) is ambiguous. */
function headerValue(headers: EnvelopeHeaders, name: string): string | undefined {
  const found = headers.get(name);
  if (found === undefined) return undefined;
  if (found.length > 1) throw new EnvelopeError('ENVELOPE_BAD_FIELD', `${name} appears more than once`);
  return found[0];
}
