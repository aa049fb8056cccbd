import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertStoredSize,
  ciphertextSize,
  EnvelopeError,
  MAX_PART_NUMBER,
  MAX_PLAINTEXT_SIZE,
  maxPartPlaintextSize,
  multipartListingPlaintextSize,
  PART_HEADER_SIZE,
  partCiphertextSize,
  partPlaintextSize,
  plaintextSize,
  segmentCount,
  segmentPlainLength,
} from '../../../src/envelope/index.ts';

const S = 65536;
const B = S + 16;
const TIB = 2 ** 40;

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof EnvelopeError && error.code === code);
}

describe('segment count and stored size', () => {
  const matrix: Array<[plain: number, segments: number, stored: number]> = [
    [0, 1, 16],
    [1, 1, 17],
    [S - 1, 1, S + 15],
    [S, 1, S + 16],
    [S + 1, 2, S + 1 + 32],
    [2 * S - 1, 2, 2 * S - 1 + 32],
    [2 * S, 2, 2 * S + 32],
    [2 * S + 1, 3, 2 * S + 1 + 48],
    [3 * S + 7, 4, 3 * S + 7 + 64],
    [5 * TIB, (5 * TIB) / S, 5 * TIB + 16 * ((5 * TIB) / S)],
    [5 * TIB + 1, (5 * TIB) / S + 1, 5 * TIB + 1 + 16 * ((5 * TIB) / S + 1)],
    [MAX_PLAINTEXT_SIZE, MAX_PLAINTEXT_SIZE / S, MAX_PLAINTEXT_SIZE + 16 * (MAX_PLAINTEXT_SIZE / S)],
  ];

  for (const [plain, segments, stored] of matrix) {
    it(`maps ${plain} plaintext bytes to ${segments} segments and ${stored} stored bytes, and back`, () => {
      assert.equal(segmentCount(plain), segments);
      assert.equal(ciphertextSize(plain), stored);
      assert.equal(plaintextSize(stored), plain);
    });
  }

  it('round-trips every plaintext size around the first three segment boundaries', () => {
    for (let plain = 0; plain <= 3 * S + 40; plain += plain % S < 40 || plain % S > S - 40 ? 1 : 997) {
      assert.equal(plaintextSize(ciphertextSize(plain)), plain, `plaintext size ${plain}`);
    }
  });

  it('gives the last segment 1..S bytes, or 0 only for the empty plaintext', () => {
    assert.equal(segmentPlainLength(0, 0), 0);
    assert.equal(segmentPlainLength(1, 0), 1);
    assert.equal(segmentPlainLength(S, 0), S);
    assert.equal(segmentPlainLength(S + 1, 0), S);
    assert.equal(segmentPlainLength(S + 1, 1), 1);
    assert.equal(segmentPlainLength(3 * S + 7, 3), 7);
    assert.throws(() => segmentPlainLength(S, 1), RangeError);
  });

  it('refuses plaintext sizes that are negative, fractional, unsafe or above the maximum', () => {
    for (const bad of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_PLAINTEXT_SIZE + 1, 2 ** 53]) {
      throwsCode(() => ciphertextSize(bad), 'SIZE_IMPOSSIBLE');
    }
  });
});

describe('plaintextSize of an impossible stored size', () => {
  it('refuses stored sizes below one tag', () => {
    for (let stored = 0; stored < 16; stored++) throwsCode(() => plaintextSize(stored), 'SIZE_IMPOSSIBLE');
  });

  it('refuses a last sealed segment of 1..16 bytes after full segments', () => {
    for (const full of [1, 2, 3, (5 * TIB) / S]) {
      for (let remainder = 1; remainder <= 16; remainder++) {
        throwsCode(() => plaintextSize(full * B + remainder), 'SIZE_IMPOSSIBLE');
      }
      assert.equal(plaintextSize(full * B + 17), full * S + 1);
      assert.equal(plaintextSize(full * B), full * S);
    }
  });

  it('accepts exactly the stored sizes ciphertextSize produces in the first two segments', () => {
    const produced = new Set<number>();
    for (let plain = 0; plain <= 2 * S + 10; plain++) produced.add(ciphertextSize(plain));
    for (let stored = 0; stored <= 2 * B + 20; stored++) {
      if (produced.has(stored)) assert.equal(ciphertextSize(plaintextSize(stored)), stored);
      else throwsCode(() => plaintextSize(stored), 'SIZE_IMPOSSIBLE');
    }
  });

  it('refuses stored sizes that are fractional, unsafe or beyond the largest plaintext', () => {
    const largest = ciphertextSize(MAX_PLAINTEXT_SIZE);
    for (const bad of [16.5, -16, Number.NaN, largest + 1, Number.MAX_SAFE_INTEGER, 2 ** 53]) {
      throwsCode(() => plaintextSize(bad), 'SIZE_IMPOSSIBLE');
    }
  });
});

describe('multipart part sizes', () => {
  it('adds the fixed part header to the sealed size', () => {
    assert.equal(PART_HEADER_SIZE, 256);
    assert.equal(partCiphertextSize(0), 256 + 16);
    assert.equal(partCiphertextSize(5 * 2 ** 20), 256 + 5 * 2 ** 20 + 16 * 80);
    assert.equal(partPlaintextSize(partCiphertextSize(5 * 2 ** 30)), 5 * 2 ** 30);
    assert.equal(partPlaintextSize(partCiphertextSize(S + 1)), S + 1);
  });

  it('refuses part sizes too small for a header and a tag, or with an impossible sealed remainder', () => {
    throwsCode(() => partPlaintextSize(271), 'SIZE_IMPOSSIBLE');
    throwsCode(() => partPlaintextSize(256 + B + 1), 'SIZE_IMPOSSIBLE');
  });
});

describe('maxPartPlaintextSize', () => {
  it('gives 5367398448 for S3’s 5 GiB part limit: its part fills 5 GiB exactly', () => {
    const limit = 5 * 2 ** 30;
    assert.equal(maxPartPlaintextSize(limit), 5367398448);
    assert.equal(partCiphertextSize(5367398448), limit);
  });

  it('is the largest p whose stored part fits, also where the size function has gaps', () => {
    const limits = [272, 273, 300, PART_HEADER_SIZE + B - 1, PART_HEADER_SIZE + B];
    for (let r = 0; r <= 20; r++) limits.push(PART_HEADER_SIZE + 2 * B + r, PART_HEADER_SIZE + 1000 * B + r);
    limits.push(5 * 2 ** 30 - 1, 5 * 2 ** 30 + 1, 2 ** 53 - 1);
    for (const limit of limits) {
      const p = maxPartPlaintextSize(limit);
      assert.ok(partCiphertextSize(p) <= limit, `${limit}: p = ${p} fits`);
      if (p < MAX_PLAINTEXT_SIZE) assert.ok(partCiphertextSize(p + 1) > limit, `${limit}: p + 1 does not`);
    }
  });

  it('refuses a limit that cannot hold a part header and one tag', () => {
    assert.equal(maxPartPlaintextSize(272), 0);
    assert.throws(() => maxPartPlaintextSize(271), RangeError);
    assert.throws(() => maxPartPlaintextSize(Number.NaN), RangeError);
  });
});

describe('multipartListingPlaintextSize', () => {
  const stored = (sizes: number[]) => sizes.reduce((sum, p) => sum + partCiphertextSize(p), 0);
  const total = (sizes: number[]) => sizes.reduce((sum, p) => sum + p, 0);
  const MiB = 2 ** 20;

  it('is exact when every part but the last holds whole segments (5 MiB, 8 MiB parts, an empty last part)', () => {
    for (const sizes of [
      [0],
      [1],
      [5 * MiB, 5 * MiB, 5 * MiB, 1],
      [8 * MiB, 8 * MiB, 3 * MiB + 7],
      [8 * MiB, 8 * MiB, 0],
      [S, S, S, S],
      Array.from({ length: MAX_PART_NUMBER }, () => 5 * MiB),
    ]) {
      assert.equal(
        multipartListingPlaintextSize(stored(sizes), sizes.length),
        total(sizes),
        `${sizes.length} parts`,
      );
    }
  });

  it('is exact for one part of any size, which is plaintextSize after the header', () => {
    for (const p of [0, 1, S - 1, S, S + 1, 5_000_000]) {
      assert.equal(multipartListingPlaintextSize(partCiphertextSize(p), 1), p);
    }
  });

  it('is otherwise never below the true size and at most 16 bytes per part but the last above it', () => {
    let state = 12345;
    const next = (max: number) => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % max;
    };
    for (let round = 0; round < 2000; round++) {
      const count = 1 + next(12);
      const sizes = Array.from({ length: count }, () => (next(3) === 0 ? next(3 * S) : 5_000_000 + next(S)));
      const listing = multipartListingPlaintextSize(stored(sizes), count);
      const error = listing - total(sizes);
      assert.ok(error >= 0 && error <= 16 * (count - 1), `${sizes}: off by ${error}`);
    }
    // The worst case: every part one byte, each with its own tag.
    assert.equal(multipartListingPlaintextSize(stored([1, 1, 1]), 3), 3 + 32);
    // 5,000,000-byte parts (boto3 with that chunk size): 16 bytes too many per part before the last.
    const unaligned = [5_000_000, 5_000_000, 5_000_000, 1];
    assert.equal(multipartListingPlaintextSize(stored(unaligned), 4), total(unaligned) + 48);
  });

  it('refuses with SIZE_IMPOSSIBLE what no object of that many parts can be', () => {
    throwsCode(() => multipartListingPlaintextSize(271, 1), 'SIZE_IMPOSSIBLE');
    throwsCode(() => multipartListingPlaintextSize(543, 2), 'SIZE_IMPOSSIBLE');
    throwsCode(() => multipartListingPlaintextSize(PART_HEADER_SIZE + B + 1, 1), 'SIZE_IMPOSSIBLE');
    throwsCode(() => multipartListingPlaintextSize(272, 0), 'SIZE_IMPOSSIBLE');
    throwsCode(() => multipartListingPlaintextSize(272 * 10001, 10001), 'SIZE_IMPOSSIBLE');
    throwsCode(() => multipartListingPlaintextSize(1.5, 1), 'SIZE_IMPOSSIBLE');
    // With two parts the gaps of the size function close: S - 15 bytes and an empty part, say.
    assert.equal(multipartListingPlaintextSize(2 * PART_HEADER_SIZE + B + 1, 2), S);
  });
});

describe('assertStoredSize', () => {
  it('accepts the stored size that matches the metadata', () => {
    assertStoredSize(0, 16);
    assertStoredSize(S + 1, S + 33);
  });

  it('reports SIZE_MISMATCH for a possible but different stored size', () => {
    throwsCode(() => assertStoredSize(S + 1, S + 34), 'SIZE_MISMATCH');
    throwsCode(() => assertStoredSize(0, 17), 'SIZE_MISMATCH');
  });

  it('reports SIZE_IMPOSSIBLE for a stored size no plaintext produces', () => {
    throwsCode(() => assertStoredSize(S + 1, B + 5), 'SIZE_IMPOSSIBLE');
    throwsCode(() => assertStoredSize(0, 0), 'SIZE_IMPOSSIBLE');
  });
});
