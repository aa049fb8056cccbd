import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  decodePartHeader,
  EnvelopeError,
  encodePartHeader,
  MAX_PART_NUMBER,
  MAX_PLAINTEXT_SIZE,
  PART_HEADER_SIZE,
  type PartHeader,
  uploadBinding,
} from '../../../src/envelope/index.ts';
import { S } from './support.ts';

const nonce = Buffer.from('0c0b0a090807060504030201', 'hex');
const wrappedDek = 'vault:v1:part-dek-placeholder';
const binding = uploadBinding('an-upload-id');
const base: PartHeader = { wrappedDek, nonce, plaintextSize: 1000, partNumber: 7, uploadBinding: binding };

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof EnvelopeError && error.code === code);
}

describe('uploadBinding', () => {
  it('is the first 16 bytes of SHA-256 over the UTF-8 upload id', () => {
    for (const id of ['an-upload-id', 'überlänge', '2~bRg0rkNgE4XKKmyRBG6LxC9GqGbNIgm']) {
      const expected = createHash('sha256').update(Buffer.from(id, 'utf8')).digest().subarray(0, 16);
      assert.deepEqual(uploadBinding(id), expected);
    }
  });

  it('differs between upload ids and refuses an empty one', () => {
    assert.notDeepEqual(uploadBinding('upload-1'), uploadBinding('upload-2'));
    assert.throws(() => uploadBinding(''), RangeError);
  });
});

describe('encodePartHeader', () => {
  it('lays out magic, size, nonce, part number, binding, DEK length, DEK and zero padding in 256 bytes', () => {
    const header = encodePartHeader({ ...base, plaintextSize: 5 * 2 ** 20 + 1, partNumber: 10000 });
    assert.equal(header.length, PART_HEADER_SIZE);
    assert.equal(header.toString('ascii', 0, 8), 'CTS3PRT1');
    assert.equal(header.subarray(8, 16).toString('hex'), '0000000000500001');
    assert.deepEqual(header.subarray(16, 28), nonce);
    assert.equal(header.subarray(28, 32).toString('hex'), '00002710');
    assert.deepEqual(header.subarray(32, 48), binding);
    assert.equal(header.readUInt16BE(48), wrappedDek.length);
    assert.equal(header.toString('ascii', 50, 50 + wrappedDek.length), wrappedDek);
    assert.ok(header.subarray(50 + wrappedDek.length).every((byte) => byte === 0));
  });

  it('round-trips through decodePartHeader, also at the edges of every field', () => {
    for (const dek of [wrappedDek, 'v', 'x'.repeat(206)]) {
      for (const plaintextSize of [0, 1, S, MAX_PLAINTEXT_SIZE]) {
        for (const partNumber of [1, 2, MAX_PART_NUMBER]) {
          const header = { wrappedDek: dek, nonce, plaintextSize, partNumber, uploadBinding: binding };
          const encoded = encodePartHeader(header);
          assert.deepEqual(decodePartHeader(encoded), header);
          assert.deepEqual(encodePartHeader(decodePartHeader(encoded)), encoded, 'decoding is canonical');
        }
      }
    }
  });

  const refused: Array<[what: string, header: PartHeader]> = [
    ['a wrapped DEK of 207 characters (no room left)', { ...base, wrappedDek: 'x'.repeat(207) }],
    ['an empty wrapped DEK', { ...base, wrappedDek: '' }],
    ['a non-ASCII wrapped DEK', { ...base, wrappedDek: 'ü' }],
    ['a wrapped DEK with a space', { ...base, wrappedDek: 'vault:v1:a b' }],
    ['a nonce of 8 bytes', { ...base, nonce: Buffer.alloc(8) }],
    ['a negative size', { ...base, plaintextSize: -1 }],
    ['a size above 2^52', { ...base, plaintextSize: MAX_PLAINTEXT_SIZE + 1 }],
    ['a fractional size', { ...base, plaintextSize: 1.5 }],
    ['part number 0', { ...base, partNumber: 0 }],
    ['part number 10001', { ...base, partNumber: MAX_PART_NUMBER + 1 }],
    ['a fractional part number', { ...base, partNumber: 1.5 }],
    ['an upload binding of 15 bytes', { ...base, uploadBinding: Buffer.alloc(15) }],
    ['an upload binding of 32 bytes', { ...base, uploadBinding: Buffer.alloc(32) }],
  ];
  for (const [what, header] of refused) {
    it(`refuses ${what} with PART_HEADER_INVALID`, () => {
      throwsCode(() => encodePartHeader(header), 'PART_HEADER_INVALID');
    });
  }
});

describe('decodePartHeader', () => {
  const good = encodePartHeader(base);

  function edited(edit: (header: Buffer) => void): Buffer {
    const copy = Buffer.from(good);
    edit(copy);
    return copy;
  }

  it('fails with TRUNCATED when fewer than 256 bytes are given, and reads only the first 256', () => {
    throwsCode(() => decodePartHeader(good.subarray(0, 255)), 'TRUNCATED');
    throwsCode(() => decodePartHeader(Buffer.alloc(0)), 'TRUNCATED');
    assert.deepEqual(decodePartHeader(Buffer.concat([good, Buffer.from('body')])), base);
  });

  it('returns copies, so later changes to the buffer do not reach the header', () => {
    const copy = Buffer.from(good);
    const header = decodePartHeader(copy);
    copy.fill(0xee);
    assert.deepEqual(header, base);
  });

  const broken: Array<[what: string, header: Buffer]> = [
    ['a wrong magic', edited((h) => h.write('CTS3PRT2', 0, 'ascii'))],
    ['a size above the maximum', edited((h) => h.writeBigUInt64BE(2n ** 52n + 1n, 8))],
    ['the largest uint64 size', edited((h) => h.writeBigUInt64BE(2n ** 64n - 1n, 8))],
    ['part number 0', edited((h) => h.writeUInt32BE(0, 28))],
    ['part number 10001', edited((h) => h.writeUInt32BE(10001, 28))],
    ['the largest uint32 part number', edited((h) => h.writeUInt32BE(2 ** 32 - 1, 28))],
    ['a zero DEK length', edited((h) => h.writeUInt16BE(0, 48))],
    ['a DEK length past the header', edited((h) => h.writeUInt16BE(207, 48))],
    ['a DEK length that takes in padding', edited((h) => h.writeUInt16BE(wrappedDek.length + 1, 48))],
    [
      'a DEK length one short (the last DEK byte becomes padding)',
      edited((h) => h.writeUInt16BE(wrappedDek.length - 1, 48)),
    ],
    ['a control byte in the DEK', edited((h) => h.writeUInt8(0x0a, 51))],
    ['a space in the DEK', edited((h) => h.writeUInt8(0x20, 50))],
    ['a DEL byte in the DEK', edited((h) => h.writeUInt8(0x7f, 50 + wrappedDek.length - 1))],
    ['a non-zero padding byte right after the DEK', edited((h) => h.writeUInt8(1, 50 + wrappedDek.length))],
    ['a non-zero last padding byte', edited((h) => h.writeUInt8(1, 255))],
  ];
  for (const [what, header] of broken) {
    it(`fails with PART_HEADER_INVALID on ${what}`, () => {
      throwsCode(() => decodePartHeader(header), 'PART_HEADER_INVALID');
    });
  }

  it('decodes any nonce and binding bytes: those are checked by the segments and by the reader', () => {
    const other = edited((h) => {
      h.fill(0xff, 16, 28);
      h.fill(0x00, 32, 48);
    });
    const header = decodePartHeader(other);
    assert.deepEqual(header.nonce, Buffer.alloc(12, 0xff));
    assert.deepEqual(header.uploadBinding, Buffer.alloc(16));
  });
});
