import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { segmentNonce } from '../../../src/envelope/index.ts';

const base = Buffer.from('000102030405060708090a0b', 'hex');

/** The derivation exactly as FORMAT.md words it, with BigInt, to check the Number arithmetic. */
function reference(objectNonce: Buffer, index: number, last: boolean): Buffer {
  const mask = Buffer.alloc(12);
  mask.writeBigUInt64BE(BigInt(index), 3);
  mask[11] = last ? 1 : 0;
  return Buffer.from(objectNonce.map((byte, i) => byte ^ (mask[i] as number)));
}

describe('segmentNonce', () => {
  const examples: Array<[index: number, last: boolean, expected: string]> = [
    [0, false, '000102030405060708090a0b'],
    [0, true, '000102030405060708090a0a'],
    [1, false, '000102030405060708090b0b'],
    [1, true, '000102030405060708090b0a'],
    [256, false, '000102030405060708080a0b'],
    [2 ** 32 + 1, true, '000102030405070708090b0a'],
    [Number.MAX_SAFE_INTEGER, false, '000102031bfaf9f8f7f6f50b'],
  ];
  for (const [index, last, expected] of examples) {
    it(`derives ${expected} for segment ${index}${last ? ' (last)' : ''}`, () => {
      assert.equal(segmentNonce(base, index, last).toString('hex'), expected);
    });
  }

  it('matches the byte-wise definition for indices across the 32-bit boundary', () => {
    const nonce = Buffer.from('ffeeddccbbaa998877665544', 'hex');
    for (const index of [0, 1, 255, 65535, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, 2 ** 52 - 1]) {
      for (const last of [false, true]) {
        assert.deepEqual(segmentNonce(nonce, index, last), reference(nonce, index, last), `index ${index}`);
      }
    }
  });

  it('leaves the object nonce untouched', () => {
    const nonce = Buffer.from(base);
    segmentNonce(nonce, 12345, true);
    assert.deepEqual(nonce, base);
  });

  it('refuses a nonce of the wrong length and a negative or fractional index', () => {
    assert.throws(() => segmentNonce(Buffer.alloc(16), 0, false), RangeError);
    assert.throws(() => segmentNonce(base, -1, false), RangeError);
    assert.throws(() => segmentNonce(base, 1.5, false), RangeError);
  });
});
