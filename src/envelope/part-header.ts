import {
  MAX_PLAINTEXT_SIZE,
  MAX_WRAPPED_DEK_LENGTH,
  NONCE_SIZE,
  PART_HEADER_FIXED_SIZE,
  PART_HEADER_SIZE,
  PART_MAGIC,
} from './constants.ts';
import { EnvelopeError } from './errors.ts';
import { isValidWrappedDek } from './metadata.ts';

/** What each part of a multipart object carries in front of its sealed segments. */
export type PartHeader = { wrappedDek: string; nonce: Buffer; plaintextSize: number };

const SIZE_OFFSET = 8;
const NONCE_OFFSET = 16;
const DEK_LENGTH_OFFSET = 28;

/** magic || uint64_be plaintext size || nonce || uint16_be DEK length || wrapped DEK || zeros to 256. */
export function encodePartHeader(header: PartHeader): Buffer {
  if (!isValidWrappedDek(header.wrappedDek, MAX_WRAPPED_DEK_LENGTH)) {
    throw new EnvelopeError(
      'PART_HEADER_INVALID',
      `wrapped DEK must be 1..${MAX_WRAPPED_DEK_LENGTH} visible ASCII characters`,
    );
  }
  if (header.nonce.length !== NONCE_SIZE) {
    throw new EnvelopeError('PART_HEADER_INVALID', `part nonce must be ${NONCE_SIZE} bytes`);
  }
  const size = header.plaintextSize;
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_PLAINTEXT_SIZE) {
    throw new EnvelopeError('PART_HEADER_INVALID', `part plaintext size ${size} is out of range`);
  }
  const encoded = Buffer.alloc(PART_HEADER_SIZE);
  PART_MAGIC.copy(encoded, 0);
  encoded.writeBigUInt64BE(BigInt(size), SIZE_OFFSET);
  header.nonce.copy(encoded, NONCE_OFFSET);
  encoded.writeUInt16BE(header.wrappedDek.length, DEK_LENGTH_OFFSET);
  encoded.write(header.wrappedDek, PART_HEADER_FIXED_SIZE, 'ascii');
  return encoded;
}

/** Decodes the first PART_HEADER_SIZE bytes of `data`; anything not written by encodePartHeader fails. */
export function decodePartHeader(data: Buffer): PartHeader {
  if (data.length < PART_HEADER_SIZE) {
    throw new EnvelopeError('TRUNCATED', `part header needs ${PART_HEADER_SIZE} bytes, got ${data.length}`);
  }
  if (!data.subarray(0, PART_MAGIC.length).equals(PART_MAGIC)) {
    throw new EnvelopeError('PART_HEADER_INVALID', 'part header magic is not CTS3PRT1');
  }
  const size = data.readBigUInt64BE(SIZE_OFFSET);
  if (size > BigInt(MAX_PLAINTEXT_SIZE)) {
    throw new EnvelopeError('PART_HEADER_INVALID', `part plaintext size ${size} is out of range`);
  }
  const dekLength = data.readUInt16BE(DEK_LENGTH_OFFSET);
  if (dekLength < 1 || dekLength > MAX_WRAPPED_DEK_LENGTH) {
    throw new EnvelopeError('PART_HEADER_INVALID', `wrapped DEK length ${dekLength} is out of range`);
  }
  const dekEnd = PART_HEADER_FIXED_SIZE + dekLength;
  const wrappedDek = data.toString('latin1', PART_HEADER_FIXED_SIZE, dekEnd);
  if (!isValidWrappedDek(wrappedDek, MAX_WRAPPED_DEK_LENGTH)) {
    throw new EnvelopeError('PART_HEADER_INVALID', 'wrapped DEK holds bytes outside visible ASCII');
  }
  for (let i = dekEnd; i < PART_HEADER_SIZE; i++) {
    if (data[i] !== 0) throw new EnvelopeError('PART_HEADER_INVALID', 'part header padding is not zero');
  }
  return {
    wrappedDek,
    nonce: Buffer.from(data.subarray(NONCE_OFFSET, NONCE_OFFSET + NONCE_SIZE)),
    plaintextSize: Number(size),
  };
}
