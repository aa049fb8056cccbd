import {
  MAX_PLAINTEXT_SIZE,
  PART_HEADER_SIZE,
  SEALED_SEGMENT_SIZE,
  SEGMENT_SIZE,
  TAG_SIZE,
} from './constants.ts';
import { EnvelopeError } from './errors.ts';

/** The stored size of the largest allowed plaintext; every larger stored size is impossible. */
const MAX_CIPHERTEXT_SIZE = MAX_PLAINTEXT_SIZE + TAG_SIZE * (MAX_PLAINTEXT_SIZE / SEGMENT_SIZE);

function checkPlainSize(plainSize: number): void {
  if (!Number.isSafeInteger(plainSize) || plainSize < 0 || plainSize > MAX_PLAINTEXT_SIZE) {
    throw new EnvelopeError(
      'SIZE_IMPOSSIBLE',
      `plaintext size ${plainSize} is not an integer in 0..${MAX_PLAINTEXT_SIZE}`,
    );
  }
}

/** N = max(1, ceil(P / S)): an empty plaintext is one empty final segment. */
export function segmentCount(plainSize: number): number {
  checkPlainSize(plainSize);
  // S is a power of two, so the division is exact and ceil cannot be fooled by rounding.
  return plainSize === 0 ? 1 : Math.ceil(plainSize / SEGMENT_SIZE);
}

/** Plaintext bytes in segment `index` (0-based) of a plaintext of `plainSize` bytes. */
export function segmentPlainLength(plainSize: number, index: number): number {
  const count = segmentCount(plainSize);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`segment ${index} does not exist in a ${count}-segment plaintext`);
  }
  return index < count - 1 ? SEGMENT_SIZE : plainSize - (count - 1) * SEGMENT_SIZE;
}

/** C(P) = P + 16 * N: the stored body size of a single-part object. */
export function ciphertextSize(plainSize: number): number {
  return plainSize + TAG_SIZE * segmentCount(plainSize);
}

/**
 * The inverse of ciphertextSize. A stored size is impossible when it is below 16, when its last
 * sealed segment would hold 1..16 bytes (a tag with no plaintext, or less than a tag) unless the whole
 * body is the 16-byte empty object, or when it exceeds C(MAX_PLAINTEXT_SIZE).
 */
export function plaintextSize(cipherSize: number): number {
  if (!Number.isSafeInteger(cipherSize) || cipherSize < TAG_SIZE || cipherSize > MAX_CIPHERTEXT_SIZE) {
    throw new EnvelopeError(
      'SIZE_IMPOSSIBLE',
      `stored size ${cipherSize} is not an integer in ${TAG_SIZE}..${MAX_CIPHERTEXT_SIZE}`,
    );
  }
  if (cipherSize === TAG_SIZE) return 0;
  const fullSegments = Math.floor(cipherSize / SEALED_SEGMENT_SIZE);
  const remainder = cipherSize - fullSegments * SEALED_SEGMENT_SIZE;
  if (remainder >= 1 && remainder <= TAG_SIZE) {
    throw new EnvelopeError(
      'SIZE_IMPOSSIBLE',
      `stored size ${cipherSize} would end in a sealed segment of ${remainder} bytes`,
    );
  }
  const count = remainder === 0 ? fullSegments : fullSegments + 1;
  return cipherSize - TAG_SIZE * count;
}

/** The stored size of one multipart part: its fixed header, then its sealed segments. */
export function partCiphertextSize(plainSize: number): number {
  return PART_HEADER_SIZE + ciphertextSize(plainSize);
}

/** The inverse of partCiphertextSize, for part sizes that S3 reports (ListParts, GetObjectAttributes). */
export function partPlaintextSize(cipherSize: number): number {
  if (!Number.isSafeInteger(cipherSize) || cipherSize < PART_HEADER_SIZE + TAG_SIZE) {
    throw new EnvelopeError(
      'SIZE_IMPOSSIBLE',
      `stored part size ${cipherSize} is smaller than a part header and one tag`,
    );
  }
  return plaintextSize(cipherSize - PART_HEADER_SIZE);
}

/**
 * Checks the stored length S3 reports against the size in the metadata before any body byte is read,
 * so a mismatch is an error before the response starts rather than an abort in the middle.
 */
export function assertStoredSize(plainSize: number, storedSize: number): void {
  if (storedSize === ciphertextSize(plainSize)) return;
  // An impossible stored size says more about what happened than a bare mismatch.
  const storedPlain = plaintextSize(storedSize);
  throw new EnvelopeError(
    'SIZE_MISMATCH',
    `stored size ${storedSize} holds ${storedPlain} plaintext bytes but the metadata says ${plainSize}`,
  );
}
