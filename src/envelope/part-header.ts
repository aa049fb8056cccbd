import { createHash } from 'node:crypto';
import {
  MAX_PART_NUMBER,
  MAX_PLAINTEXT_SIZE,
  MAX_WRAPPED_DEK_LENGTH,
  NONCE_SIZE,
  PART_HEADER_FIXED_SIZE,
  PART_HEADER_SIZE,
  PART_MAGIC,
  UPLOAD_BINDING_SIZE,
} from './constants.ts';
import { EnvelopeError } from './errors.ts';
import { isValidWrappedDek } from './metadata.ts';

/**
 * What each part of a multipart object carries in front of its sealed segments. The encoded header is
 * the AAD of every segment of the part, so each field is authenticated by every tag.
 */
export type PartHeader = {
  wrappedDek: string;
  nonce: Buffer;
  plaintextSize: number;
  /** The S3 part number (1..10000) the part was uploaded as; a reader requires the k-th part to carry k. */
  partNumber: number;
  /** uploadBinding(uploadId): ties the part to its multipart upload so parts of other uploads are refused. */
  uploadBinding: Buffer;
};

const SIZE_OFFSET = 8;
const NONCE_OFFSET = 16;
const PART_NUMBER_OFFSET = 28;
const BINDING_OFFSET = 32;
const DEK_LENGTH_OFFSET = 48;

/**
 * The first 16 bytes of SHA-256 over the UTF-8 upload id. S3 generates upload ids and they are the
 * only per-upload value a stateless UploadPart request knows.
 */
export function uploadBinding(uploadId: string): Buffer {
  if (uploadId.length === 0) throw new RangeError('upload id must not be empty');
  return createHash('sha256').update(uploadId, 'utf8').digest().subarray(0, UPLOAD_BINDING_SIZE);
}

function isPartNumber(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 1 && value <= MAX_PART_NUMBER;
}

/**
 * magic || uint64_be plaintext size || nonce || uint32_be part number || upload binding ||
 * uint16_be DEK length || wrapped DEK || zeros to 256.
 */
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
  if (!isPartNumber(header.partNumber)) {
    throw new EnvelopeError(
      'PART_HEADER_INVALID',
      `part number ${header.partNumber} is not in 1..${MAX_PART_NUMBER}`,
    );
  }
  if (header.uploadBinding.length !== UPLOAD_BINDING_SIZE) {
    throw new EnvelopeError('PART_HEADER_INVALID', `upload binding must be ${UPLOAD_BINDING_SIZE} bytes`);
  }
  const encoded = Buffer.alloc(PART_HEADER_SIZE);
  PART_MAGIC.copy(encoded, 0);
  encoded.writeBigUInt64BE(BigInt(size), SIZE_OFFSET);
  header.nonce.copy(encoded, NONCE_OFFSET);
  encoded.writeUInt32BE(header.partNumber, PART_NUMBER_OFFSET);
  header.uploadBinding.copy(encoded, BINDING_OFFSET);
  encoded.writeUInt16BE(header.wrappedDek.length, DEK_LENGTH_OFFSET);
  encoded.write(header.wrappedDek, PART_HEADER_FIXED_SIZE, 'ascii');
  return encoded;
}

/**
 * Decodes the first PART_HEADER_SIZE bytes of `data`; anything encodePartHeader would not have written
 * fails, so a decoded header re-encodes to exactly the bytes it came from.
 */
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
  const partNumber = data.readUInt32BE(PART_NUMBER_OFFSET);
  if (!isPartNumber(partNumber)) {
    throw new EnvelopeError(
      'PART_HEADER_INVALID',
      `part number ${partNumber} is not in 1..${MAX_PART_NUMBER}`,
    );
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
    partNumber,
    uploadBinding: Buffer.from(data.subarray(BINDING_OFFSET, BINDING_OFFSET + UPLOAD_BINDING_SIZE)),
  };
}
