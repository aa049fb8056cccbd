import { SEALED_SEGMENT_SIZE, SEGMENT_SIZE } from './constants.ts';
import { ciphertextSize, segmentCount } from './size.ts';

/**
 * Which sealed segments a plaintext byte range needs, where they are in the stored body, and which of
 * their plaintext bytes to release.
 */
export type SegmentWindow = {
  firstSegment: number;
  lastSegment: number;
  /** First stored byte to fetch (inclusive). */
  cipherStart: number;
  /** Last stored byte to fetch (inclusive), ready for `Range: bytes=cipherStart-cipherEndInclusive`. */
  cipherEndInclusive: number;
  /** Plaintext bytes of firstSegment to drop before the requested range starts. */
  skip: number;
  /** Plaintext bytes to release in total. */
  length: number;
};

/**
 * Plans the stored byte range for the resolved plaintext range start..endInclusive
 * (0 <= start <= endInclusive < plainSize; parsing and resolving the Range header happen elsewhere).
 */
export function planWindow(plainSize: number, start: number, endInclusive: number): SegmentWindow {
  const count = segmentCount(plainSize);
  if (
    !Number.isSafeInteger(start) ||
    !Number.isSafeInteger(endInclusive) ||
    start < 0 ||
    start > endInclusive ||
    endInclusive >= plainSize
  ) {
    throw new RangeError(`plaintext range ${start}-${endInclusive} is not within 0..${plainSize - 1}`);
  }
  const firstSegment = Math.floor(start / SEGMENT_SIZE);
  const lastSegment = Math.floor(endInclusive / SEGMENT_SIZE);
  const storedEnd =
    lastSegment === count - 1 ? ciphertextSize(plainSize) : (lastSegment + 1) * SEALED_SEGMENT_SIZE;
  return {
    firstSegment,
    lastSegment,
    cipherStart: firstSegment * SEALED_SEGMENT_SIZE,
    cipherEndInclusive: storedEnd - 1,
    skip: start - firstSegment * SEGMENT_SIZE,
    length: endInclusive - start + 1,
  };
}

/** The window of a whole object, including the empty one (which a byte range cannot express). */
export function fullWindow(plainSize: number): SegmentWindow {
  const count = segmentCount(plainSize);
  return {
    firstSegment: 0,
    lastSegment: count - 1,
    cipherStart: 0,
    cipherEndInclusive: ciphertextSize(plainSize) - 1,
    skip: 0,
    length: plainSize,
  };
}
