import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertStoredSize,
  ciphertextSize,
  EnvelopeError,
  type EnvelopeErrorCode,
} from '../../../src/envelope/index.ts';
import { CHUNKINGS, open, pattern, S, seal } from './support.ts';

const B = S + 16;
const dek = Buffer.from('9a'.repeat(32), 'hex');
const nonce = Buffer.from('0102030405060708090a0b0c', 'hex');
const size = 3 * S + 7;
const plaintext = pattern(size, 11);
const sealed = await seal(plaintext, { dek, nonce });
const segments = [0, 1, 2, 3].map((i) => sealed.subarray(i * B, Math.min(sealed.length, (i + 1) * B)));

function segment(i: number): Buffer {
  const found = segments[i];
  if (!found) throw new Error(`no segment ${i}`);
  return found;
}

function flipped(data: Buffer, offset: number): Buffer {
  const copy = Buffer.from(data);
  copy[offset] = (copy[offset] as number) ^ 0x01;
  return copy;
}

type Case = {
  name: string;
  stored: Buffer;
  code: EnvelopeErrorCode;
  /** How many whole leading plaintext segments may be released before the failure. */
  releasedSegments: number;
  plaintextSize?: number;
  dek?: Buffer;
  nonce?: Buffer;
};

const otherNonce = Buffer.from('0102030405060708090a0b0d', 'hex');
const otherObject = await seal(plaintext, { dek, nonce: otherNonce });

const cases: Case[] = [
  ...[0, 1, 2, 3].map((i) => ({
    name: `a flipped byte in the body of segment ${i}`,
    stored: flipped(sealed, i * B + 5),
    code: 'SEGMENT_AUTH_FAILED' as const,
    releasedSegments: i,
  })),
  ...[0, 1, 2, 3].map((i) => ({
    name: `a flipped byte in the tag of segment ${i}`,
    stored: flipped(sealed, i * B + segment(i).length - 1),
    code: 'SEGMENT_AUTH_FAILED' as const,
    releasedSegments: i,
  })),
  { name: 'an empty body', stored: Buffer.alloc(0), code: 'TRUNCATED', releasedSegments: 0 },
  {
    name: 'truncation inside segment 0',
    stored: sealed.subarray(0, 100),
    code: 'TRUNCATED',
    releasedSegments: 0,
  },
  {
    name: 'truncation after segment 0',
    stored: sealed.subarray(0, B),
    code: 'TRUNCATED',
    releasedSegments: 1,
  },
  {
    name: 'truncation after segment 1',
    stored: sealed.subarray(0, 2 * B),
    code: 'TRUNCATED',
    releasedSegments: 2,
  },
  {
    name: 'the final segment removed',
    stored: sealed.subarray(0, 3 * B),
    code: 'TRUNCATED',
    releasedSegments: 3,
  },
  {
    name: 'the final segment removed and the size lowered to match',
    stored: sealed.subarray(0, 3 * B),
    plaintextSize: 3 * S,
    code: 'SEGMENT_AUTH_FAILED',
    releasedSegments: 2,
  },
  {
    name: 'the last byte removed',
    stored: sealed.subarray(0, sealed.length - 1),
    code: 'TRUNCATED',
    releasedSegments: 3,
  },
  {
    name: 'one byte appended',
    stored: Buffer.concat([sealed, Buffer.from([0])]),
    code: 'TRAILING_DATA',
    releasedSegments: 3,
  },
  {
    name: 'an extra segment appended',
    stored: Buffer.concat([sealed, segment(0)]),
    code: 'TRAILING_DATA',
    releasedSegments: 3,
  },
  {
    name: 'segments 0 and 1 swapped',
    stored: Buffer.concat([segment(1), segment(0), segment(2), segment(3)]),
    code: 'SEGMENT_AUTH_FAILED',
    releasedSegments: 0,
  },
  {
    name: 'segment 1 repeated',
    stored: Buffer.concat([segment(0), segment(1), segment(1), segment(2), segment(3)]),
    code: 'SEGMENT_AUTH_FAILED',
    releasedSegments: 2,
  },
  {
    name: 'the final segment moved before segment 2',
    stored: Buffer.concat([segment(0), segment(1), segment(3), segment(2)]),
    code: 'SEGMENT_AUTH_FAILED',
    releasedSegments: 2,
  },
  {
    name: 'segment 1 spliced in from another object under the same key',
    stored: Buffer.concat([segment(0), otherObject.subarray(B, 2 * B), segment(2), segment(3)]),
    code: 'SEGMENT_AUTH_FAILED',
    releasedSegments: 1,
  },
  {
    name: 'a metadata size one byte larger',
    stored: sealed,
    plaintextSize: size + 1,
    code: 'TRUNCATED',
    releasedSegments: 3,
  },
  {
    name: 'a metadata size one byte smaller',
    stored: sealed,
    plaintextSize: size - 1,
    code: 'SEGMENT_AUTH_FAILED',
    releasedSegments: 3,
  },
  {
    name: 'a metadata size one segment smaller',
    stored: sealed,
    plaintextSize: size - S,
    code: 'SEGMENT_AUTH_FAILED',
    releasedSegments: 2,
  },
  {
    name: 'a metadata size one segment larger',
    stored: sealed,
    plaintextSize: size + S,
    code: 'TRUNCATED',
    releasedSegments: 3,
  },
  {
    name: 'a wrong nonce',
    stored: sealed,
    nonce: otherNonce,
    code: 'SEGMENT_AUTH_FAILED',
    releasedSegments: 0,
  },
  {
    name: 'a wrong DEK',
    stored: sealed,
    dek: Buffer.from('9b'.repeat(32), 'hex'),
    code: 'SEGMENT_AUTH_FAILED',
    releasedSegments: 0,
  },
];

describe('tampered or mismatched objects', () => {
  for (const tamper of cases) {
    it(`fails with ${tamper.code} on ${tamper.name}, releasing only whole verified segments`, async () => {
      const releasedLength = Math.min(size, tamper.releasedSegments * S);
      for (const [chunkingName, chunking] of Object.entries(CHUNKINGS)) {
        if (chunkingName === '1-byte writes') continue;
        const outcome = await open(
          tamper.stored,
          {
            dek: tamper.dek ?? dek,
            nonce: tamper.nonce ?? nonce,
            plaintextSize: tamper.plaintextSize ?? size,
          },
          chunking(tamper.stored),
        );
        assert.ok(outcome.error instanceof EnvelopeError, `${chunkingName}: ${String(outcome.error)}`);
        assert.equal(outcome.error.code, tamper.code, chunkingName);
        assert.equal(outcome.output.length, releasedLength, chunkingName);
        assert.ok(outcome.output.equals(plaintext.subarray(0, releasedLength)), chunkingName);
      }
    });
  }

  it('refuses every tamper that breaks the size function before reading, when the stored length is checked first', () => {
    let refused = 0;
    for (const tamper of cases) {
      const declared = tamper.plaintextSize ?? size;
      if (tamper.stored.length === ciphertextSize(declared)) continue;
      refused += 1;
      assert.throws(
        () => assertStoredSize(declared, tamper.stored.length),
        (error: unknown) =>
          error instanceof EnvelopeError &&
          (error.code === 'SIZE_MISMATCH' || error.code === 'SIZE_IMPOSSIBLE'),
        tamper.name,
      );
    }
    assert.equal(refused, 13);
  });
});

describe('a tampered empty object', () => {
  it('fails with SEGMENT_AUTH_FAILED on a flipped tag byte and TRUNCATED on a missing tag', async () => {
    const empty = await seal(Buffer.alloc(0), { dek, nonce });
    assert.equal(empty.length, 16);
    const flippedTag = await open(flipped(empty, 3), { dek, nonce, plaintextSize: 0 });
    assert.ok(flippedTag.error instanceof EnvelopeError && flippedTag.error.code === 'SEGMENT_AUTH_FAILED');
    const missing = await open(Buffer.alloc(0), { dek, nonce, plaintextSize: 0 });
    assert.ok(missing.error instanceof EnvelopeError && missing.error.code === 'TRUNCATED');
    const shortened = await open(empty.subarray(0, 15), { dek, nonce, plaintextSize: 0 });
    assert.ok(shortened.error instanceof EnvelopeError && shortened.error.code === 'TRUNCATED');
  });

  it('fails with SEGMENT_AUTH_FAILED when a one-byte object is presented as empty', async () => {
    const one = await seal(Buffer.from([42]), { dek, nonce });
    const outcome = await open(one.subarray(1), { dek, nonce, plaintextSize: 0 });
    assert.ok(outcome.error instanceof EnvelopeError && outcome.error.code === 'SEGMENT_AUTH_FAILED');
  });
});
