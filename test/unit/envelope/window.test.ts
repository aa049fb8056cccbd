import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ciphertextSize,
  createOpenStream,
  EnvelopeError,
  fullWindow,
  planWindow,
  segmentCount,
  segmentPlainLength,
  storedRequestFor,
} from '../../../src/envelope/index.ts';
import { CHUNKINGS, open, pattern, S, seal } from './support.ts';

const dek = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex');
const nonce = Buffer.from('00112233445566778899aabb', 'hex');

function interestingOffsets(size: number): number[] {
  if (size <= 40) return Array.from({ length: size }, (_, i) => i);
  const candidates = [0, 1, S - 1, S, S + 1, 2 * S - 1, 2 * S, 2 * S + 1, 3 * S, size - 2, size - 1];
  return [...new Set(candidates.filter((offset) => offset >= 0 && offset < size))].sort((a, b) => a - b);
}

describe('planWindow', () => {
  it('fetches only the sealed segments covering the range', () => {
    const size = 10 * 2 ** 30;
    const middle = 5 * 2 ** 30 + 12345;
    const window = planWindow(size, middle, middle + 2 ** 20 - 1);
    assert.equal(window.firstSegment, Math.floor(middle / S));
    assert.equal(window.lastSegment, Math.floor((middle + 2 ** 20 - 1) / S));
    assert.equal(window.cipherEndInclusive - window.cipherStart + 1, 17 * (S + 16));
    assert.equal(window.skip, middle % S);
    assert.equal(window.length, 2 ** 20);
  });

  it('ends the fetch at the end of the stored object when the range reaches the last segment', () => {
    const window = planWindow(3 * S + 7, 3 * S + 6, 3 * S + 6);
    assert.deepEqual(window, {
      firstSegment: 3,
      lastSegment: 3,
      cipherStart: 3 * (S + 16),
      cipherEndInclusive: ciphertextSize(3 * S + 7) - 1,
      skip: 6,
      length: 1,
    });
  });

  it('describes the whole object, the empty one included, with fullWindow', () => {
    assert.deepEqual(fullWindow(0), {
      firstSegment: 0,
      lastSegment: 0,
      cipherStart: 0,
      cipherEndInclusive: 15,
      skip: 0,
      length: 0,
    });
    assert.deepEqual(fullWindow(2 * S + 1), planWindow(2 * S + 1, 0, 2 * S));
  });

  it('refuses ranges outside the plaintext', () => {
    assert.throws(() => planWindow(10, 5, 4), RangeError);
    assert.throws(() => planWindow(10, 0, 10), RangeError);
    assert.throws(() => planWindow(10, -1, 3), RangeError);
    assert.throws(() => planWindow(0, 0, 0), RangeError);
  });

  for (const size of [1, 2, 17, S - 1, S, S + 1, 2 * S, 3 * S + 7]) {
    it(`decrypts exactly the requested bytes for every range over interesting offsets of ${size} bytes`, async () => {
      const plaintext = pattern(size, 3);
      const sealed = await seal(plaintext, { dek, nonce });
      const offsets = interestingOffsets(size);
      for (const start of offsets) {
        for (const end of offsets) {
          if (end < start) continue;
          const window = planWindow(size, start, end);
          let sealedLength = 0;
          for (let i = window.firstSegment; i <= window.lastSegment; i++) {
            sealedLength += segmentPlainLength(size, i) + 16;
          }
          assert.equal(window.cipherEndInclusive - window.cipherStart + 1, sealedLength);
          assert.ok(window.lastSegment < segmentCount(size));
          const slice = sealed.subarray(window.cipherStart, window.cipherEndInclusive + 1);
          const opened = await open(slice, { dek, nonce, plaintextSize: size, window });
          assert.equal(opened.error, undefined, `range ${start}-${end}`);
          assert.ok(opened.output.equals(plaintext.subarray(start, end + 1)), `range ${start}-${end}`);
        }
      }
    });
  }

  it('decrypts a window the same way whatever the write sizes', async () => {
    const size = 3 * S + 7;
    const plaintext = pattern(size);
    const sealed = await seal(plaintext, { dek, nonce });
    const window = planWindow(size, S - 3, 2 * S + 5);
    const slice = sealed.subarray(window.cipherStart, window.cipherEndInclusive + 1);
    for (const [name, chunking] of Object.entries(CHUNKINGS)) {
      const opened = await open(slice, { dek, nonce, plaintextSize: size, window }, chunking(slice));
      assert.ok(opened.output.equals(plaintext.subarray(S - 3, 2 * S + 6)), name);
    }
  });
});

describe('createOpenStream with a window', () => {
  const size = 3 * S + 7;

  it('refuses a window planned for another plaintext size', () => {
    const window = planWindow(size + S, 0, 3 * S + 5);
    assert.throws(() => createOpenStream({ dek, nonce, plaintextSize: size, window }), RangeError);
    const planned = planWindow(size, S, S + 9);
    const widened = { ...planned, cipherEndInclusive: planned.cipherEndInclusive + 1 };
    assert.throws(() => createOpenStream({ dek, nonce, plaintextSize: size, window: widened }), RangeError);
  });

  it('reports TRAILING_DATA when more than the window arrives, without releasing its last segment', async () => {
    const plaintext = pattern(size);
    const sealed = await seal(plaintext, { dek, nonce });
    const window = planWindow(size, 0, 2 * S - 1);
    const tooMuch = sealed.subarray(0, window.cipherEndInclusive + 2);
    const opened = await open(tooMuch, { dek, nonce, plaintextSize: size, window });
    assert.ok(opened.error instanceof EnvelopeError && opened.error.code === 'TRAILING_DATA');
    assert.ok(opened.output.equals(plaintext.subarray(0, S)));
  });

  it('reports TRUNCATED when the window ends early', async () => {
    const plaintext = pattern(size);
    const sealed = await seal(plaintext, { dek, nonce });
    const window = planWindow(size, 10, 2 * S + 10);
    const short = sealed.subarray(window.cipherStart, window.cipherEndInclusive);
    const opened = await open(short, { dek, nonce, plaintextSize: size, window });
    assert.ok(opened.error instanceof EnvelopeError && opened.error.code === 'TRUNCATED');
    assert.ok(opened.output.equals(plaintext.subarray(10, 2 * S)));
  });
  it('drops the skipped stored bytes before the window, however the body is cut into chunks', async () => {
    const plaintext = pattern(size);
    const sealed = await seal(plaintext, { dek, nonce });
    const window = planWindow(size, 2 * S + 3, size - 1);
    const skip = S + 16 + 5;
    const body = sealed.subarray(window.cipherStart - skip);
    for (const [name, chunking] of Object.entries(CHUNKINGS)) {
      const opened = await open(body, { dek, nonce, plaintextSize: size, window, skip }, chunking(body));
      assert.equal(opened.error, undefined, name);
      assert.ok(opened.output.equals(plaintext.subarray(2 * S + 3)), name);
    }
  });
});

describe('storedRequestFor', () => {
  /** What S3 answers to a stored request on an object of `storedSize` bytes (undefined: 416). */
  function answer(request: ReturnType<typeof storedRequestFor>, storedSize: number) {
    if ('suffix' in request) return { start: Math.max(0, storedSize - request.suffix), end: storedSize - 1 };
    if (request.start >= storedSize) return undefined;
    return { start: request.start, end: Math.min(request.end ?? Number.POSITIVE_INFINITY, storedSize - 1) };
  }
  const sizes = [1, 2, S - 1, S, S + 1, 2 * S, 3 * S + 7, 5 * S - 1];

  it('asks for stored bytes that end where the window ends and start at or before it, for every size', () => {
    for (const size of sizes) {
      const stored = ciphertextSize(size);
      for (const first of interestingOffsets(size)) {
        for (const last of [...interestingOffsets(size).filter((o) => o >= first), undefined, size + 5 * S]) {
          const got = answer(storedRequestFor({ first, last }), stored);
          const window = planWindow(size, first, Math.min(last ?? size - 1, size - 1));
          assert.deepEqual(
            got,
            { start: window.cipherStart, end: window.cipherEndInclusive },
            `${size} ${first}-${last}`,
          );
        }
      }
      for (const suffix of [1, 2, S - 1, S, S + 1, 2 * S + 3, size - 1, size, size + 1, 10 * S]) {
        if (suffix <= 0) continue;
        const got = answer(storedRequestFor({ suffix }), stored);
        const window = planWindow(size, Math.max(0, size - suffix), size - 1);
        assert.ok(got !== undefined && got.start <= window.cipherStart, `${size} -${suffix}`);
        assert.equal(got.end, window.cipherEndInclusive, `${size} -${suffix}`);
        assert.ok(
          window.cipherStart - got.start < 2 * (S + 16),
          `${size} -${suffix} fetches at most a segment more`,
        );
      }
    }
  });

  it('asks for bytes past the stored end for a range from the plaintext end on a segment boundary (S3: 416)', () => {
    const size = 3 * S;
    assert.equal(answer(storedRequestFor({ first: size, last: undefined }), ciphertextSize(size)), undefined);
  });
});
