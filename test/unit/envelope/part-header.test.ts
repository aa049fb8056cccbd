import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AAD_V1_PART,
  decodePartHeader,
  EnvelopeError,
  encodePartHeader,
  MAX_PLAINTEXT_SIZE,
  PART_HEADER_SIZE,
  partCiphertextSize,
} from '../../../src/envelope/index.ts';
import { open, pattern, S, seal } from './support.ts';

const nonce = Buffer.from('0c0b0a090807060504030201', 'hex');
const wrappedDek = 'vault:v1:part-dek-placeholder';

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof EnvelopeError && error.code === code);
}

describe('encodePartHeader', () => {
  it('lays out magic, big-endian size, nonce, DEK length, DEK and zero padding in 256 bytes', () => {
    const header = encodePartHeader({ wrappedDek, nonce, plaintextSize: 5 * 2 ** 20 + 1 });
    assert.equal(header.length, PART_HEADER_SIZE);
    assert.equal(header.toString('ascii', 0, 8), 'CTS3PRT1');
    assert.equal(header.subarray(8, 16).toString('hex'), '0000000000500001');
    assert.deepEqual(header.subarray(16, 28), nonce);
    assert.equal(header.readUInt16BE(28), wrappedDek.length);
    assert.equal(header.toString('ascii', 30, 30 + wrappedDek.length), wrappedDek);
    assert.ok(header.subarray(30 + wrappedDek.length).every((byte) => byte === 0));
  });

  it('round-trips through decodePartHeader, also for the longest wrapped DEK that fits', () => {
    for (const dek of [wrappedDek, 'v', 'x'.repeat(226)]) {
      for (const plaintextSize of [0, 1, S, MAX_PLAINTEXT_SIZE]) {
        assert.deepEqual(decodePartHeader(encodePartHeader({ wrappedDek: dek, nonce, plaintextSize })), {
          wrappedDek: dek,
          nonce,
          plaintextSize,
        });
      }
    }
  });

  it('refuses a wrapped DEK that does not fit, an empty or non-ASCII one, a bad nonce and a bad size', () => {
    throwsCode(
      () => encodePartHeader({ wrappedDek: 'x'.repeat(227), nonce, plaintextSize: 1 }),
      'PART_HEADER_INVALID',
    );
    throwsCode(() => encodePartHeader({ wrappedDek: '', nonce, plaintextSize: 1 }), 'PART_HEADER_INVALID');
    throwsCode(() => encodePartHeader({ wrappedDek: 'ü', nonce, plaintextSize: 1 }), 'PART_HEADER_INVALID');
    throwsCode(
      () => encodePartHeader({ wrappedDek, nonce: Buffer.alloc(8), plaintextSize: 1 }),
      'PART_HEADER_INVALID',
    );
    throwsCode(() => encodePartHeader({ wrappedDek, nonce, plaintextSize: -1 }), 'PART_HEADER_INVALID');
  });
});

describe('decodePartHeader', () => {
  const good = encodePartHeader({ wrappedDek, nonce, plaintextSize: 1000 });

  function edited(edit: (header: Buffer) => void): Buffer {
    const copy = Buffer.from(good);
    edit(copy);
    return copy;
  }

  it('fails with TRUNCATED when fewer than 256 bytes are given', () => {
    throwsCode(() => decodePartHeader(good.subarray(0, 255)), 'TRUNCATED');
  });

  const broken: Array<[what: string, header: Buffer]> = [
    ['a wrong magic', edited((h) => h.write('CTS3PRT2', 0, 'ascii'))],
    ['a size above the maximum', edited((h) => h.writeBigUInt64BE(2n ** 52n + 1n, 8))],
    ['a zero DEK length', edited((h) => h.writeUInt16BE(0, 28))],
    ['a DEK length past the header', edited((h) => h.writeUInt16BE(227, 28))],
    ['a DEK length that takes in padding', edited((h) => h.writeUInt16BE(wrappedDek.length + 1, 28))],
    ['a control byte in the DEK', edited((h) => h.writeUInt8(0x0a, 31))],
    ['a non-zero padding byte', edited((h) => h.writeUInt8(1, 255))],
  ];
  for (const [what, header] of broken) {
    it(`fails with PART_HEADER_INVALID on ${what}`, () => {
      throwsCode(() => decodePartHeader(header), 'PART_HEADER_INVALID');
    });
  }

  it('decodes a part whose segments then open under the part AAD', async () => {
    const dek = Buffer.from('55'.repeat(32), 'hex');
    const plaintext = pattern(S + 9);
    const body = await seal(plaintext, { dek, nonce, aad: AAD_V1_PART });
    const part = Buffer.concat([
      encodePartHeader({ wrappedDek, nonce, plaintextSize: plaintext.length }),
      body,
    ]);
    assert.equal(part.length, partCiphertextSize(plaintext.length));
    const header = decodePartHeader(part);
    const opened = await open(part.subarray(PART_HEADER_SIZE), {
      dek,
      nonce: header.nonce,
      plaintextSize: header.plaintextSize,
      aad: AAD_V1_PART,
    });
    assert.ok(opened.output.equals(plaintext));
  });
});
