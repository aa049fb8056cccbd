import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertStoredSize,
  ciphertextSize,
  EnvelopeError,
  MAX_PLAINTEXT_SIZE,
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
