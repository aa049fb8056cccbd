import { MAX_PLAINTEXT_SIZE, SEALED_SEGMENT_SIZE, SEGMENT_SIZE, TAG_SIZE } from './constants.ts';
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

/** A plaintext range as a request names it, before the object's size is known. */
export type RequestedRange = { first: number; last: number | undefined } | { suffix: number };

/** Stored bytes to ask for: start..end inclusive (end undefined: to the end), or the last `suffix` bytes. */
export type StoredRequest = { start: number; end: number | undefined } | { suffix: number };

/** No object's plaintext reaches this, so positions from here on need no exact arithmetic. */
const SEGMENT_LIMIT = MAX_PLAINTEXT_SIZE / SEGMENT_SIZE;

/**
 * The stored bytes of a single-part object that hold a plaintext range, chosen before its plaintext
 * size is known. The layout depends on the size alone (docs/FORMAT.md) and S3 ends a range at the end of
 * the object, so the sealed segments holding plaintext first..last are the same for every size: exactly
 * the window planWindow gives once the size is known. The last n plaintext bytes begin fewer than
 * n + S bytes before the end, in a segment that starts within n + S - 1 plaintext bytes and their tags of
 * the stored end; a stored suffix that long holds them for every size, and the reader skips what comes
 * before the window.
 */
export function storedRequestFor(range: RequestedRange): StoredRequest {
  if ('suffix' in range) {
    const span = range.suffix + SEGMENT_SIZE - 1;
    return { suffix: Math.min(Number.MAX_SAFE_INTEGER, span + TAG_SIZE * Math.ceil(span / SEGMENT_SIZE)) };
  }
  const segmentOf = (position: number) => Math.min(Math.floor(position / SEGMENT_SIZE), SEGMENT_LIMIT);
  return {
    start: segmentOf(range.first) * SEALED_SEGMENT_SIZE,
    end: range.last === undefined ? undefined : (segmentOf(range.last) + 1) * SEALED_SEGMENT_SIZE - 1,
  };
}
