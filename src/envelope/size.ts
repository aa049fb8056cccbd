import {
  MAX_PART_NUMBER,
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

/** Stored bytes of the final sealed segment of a plaintext of `plainSize` bytes (16 for the empty one). */
export function finalSegmentStoredSize(plainSize: number): number {
  return ciphertextSize(plainSize) - (segmentCount(plainSize) - 1) * SEALED_SEGMENT_SIZE;
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
 * The largest P with C(P) <= cipherSize. C is strictly increasing, so this is exact: a possible stored
 * size gives its own plaintext size, an impossible one (a final segment of 1..16 bytes) the whole
 * segments before it.
 */
function largestPlaintextWithin(cipherSize: number): number {
  if (cipherSize >= MAX_CIPHERTEXT_SIZE) return MAX_PLAINTEXT_SIZE;
  const fullSegments = Math.floor(cipherSize / SEALED_SEGMENT_SIZE);
  const remainder = cipherSize - fullSegments * SEALED_SEGMENT_SIZE;
  return fullSegments * SEGMENT_SIZE + Math.max(0, remainder - TAG_SIZE);
}

/**
 * The largest part plaintext whose stored part fits in `maxStoredPartSize` bytes (S3 stores parts of
 * at most 5 GiB), so an UploadPart that would not fit can be refused before its body is read.
 */
export function maxPartPlaintextSize(maxStoredPartSize: number): number {
  if (!Number.isSafeInteger(maxStoredPartSize) || maxStoredPartSize < PART_HEADER_SIZE + TAG_SIZE) {
    throw new RangeError(
      `a stored part of at most ${maxStoredPartSize} bytes cannot hold a part header and one tag`,
    );
  }
  return largestPlaintextWithin(maxStoredPartSize - PART_HEADER_SIZE);
}

/**
 * The plaintext size a listing shows for a multipart object from what a listing has: the stored size
 * and the part count (the `-N` of its ETag). The stored size is 256 * N + sum of C(p_i); this returns
 * the largest P with C(P) <= storedSize - 256 * N. That is exact when every part but the last holds a
 * whole number of segments (the usual SDK part sizes: 5 MiB, 8 MiB, ...); otherwise each part boundary
 * inside a segment adds at most one tag that the rule counts as plaintext, so it is at most
 * 16 * (N - 1) bytes above the true size and never below it (docs/FORMAT.md section 9.6).
 */
export function multipartListingPlaintextSize(storedSize: number, partCount: number): number {
  if (!Number.isSafeInteger(partCount) || partCount < 1 || partCount > MAX_PART_NUMBER) {
    throw new EnvelopeError('SIZE_IMPOSSIBLE', `part count ${partCount} is not in 1..${MAX_PART_NUMBER}`);
  }
  const sealed = storedSize - PART_HEADER_SIZE * partCount;
  if (!Number.isSafeInteger(storedSize) || sealed < TAG_SIZE * partCount || sealed > MAX_CIPHERTEXT_SIZE) {
    throw new EnvelopeError(
      'SIZE_IMPOSSIBLE',
      `stored size ${storedSize} cannot hold ${partCount} part headers and their segments`,
    );
  }
  // One part is a single segment sequence, whose gaps in the size function are real; two or more
  // parts reach every size from 16 * N on.
  if (partCount === 1) return plaintextSize(sealed);
  return largestPlaintextWithin(sealed);
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
