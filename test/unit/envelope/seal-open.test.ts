import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  ciphertextSize,
  createOpenStream,
  createSealStream,
  EnvelopeError,
  encodePartHeader,
  uploadBinding,
} from '../../../src/envelope/index.ts';
import { CHUNKINGS, open, pattern, run, S, seal, split } from './support.ts';

const dek = Buffer.from('4c0ffee5'.repeat(8), 'hex');
const nonce = Buffer.from('a1b2c3d4e5f60718293a4b5c', 'hex');
const LENGTHS = [0, 1, S - 1, S, S + 1, 2 * S, 3 * S + 7];

function isCode(error: unknown, code: string): boolean {
  return error instanceof EnvelopeError && error.code === code;
}

describe('seal then open', () => {
  for (const length of LENGTHS) {
    const plaintext = pattern(length, length);
    it(`round-trips ${length} bytes whatever the write sizes on either side`, async () => {
      const reference = await seal(plaintext, { dek, nonce });
      assert.equal(reference.length, ciphertextSize(length));
      for (const [name, chunking] of Object.entries(CHUNKINGS)) {
        const sealed = await seal(plaintext, { dek, nonce, plaintextSize: length }, chunking(plaintext));
        assert.ok(sealed.equals(reference), `sealing with ${name} gives the same bytes`);
        const opened = await open(sealed, { dek, nonce, plaintextSize: length }, chunking(sealed));
        assert.equal(opened.error, undefined, `opening with ${name}`);
        assert.ok(opened.output.equals(plaintext), `opening with ${name} gives the plaintext back`);
      }
    });
  }

  it('seals under another AAD (a part header) segments that the single-part AAD does not open, nor the reverse', async () => {
    const plaintext = pattern(S + 3);
    const header = encodePartHeader({
      wrappedDek: 'vault:v1:x',
      nonce,
      plaintextSize: plaintext.length,
      partNumber: 1,
      uploadBinding: uploadBinding('upload'),
    });
    const sealed = await seal(plaintext, { dek, nonce, aad: header });
    const asPart = await open(sealed, { dek, nonce, plaintextSize: plaintext.length, aad: header });
    assert.ok(asPart.output.equals(plaintext));
    const asObject = await open(sealed, { dek, nonce, plaintextSize: plaintext.length });
    assert.ok(isCode(asObject.error, 'SEGMENT_AUTH_FAILED'));
    assert.equal(asObject.output.length, 0);
    const object = await seal(plaintext, { dek, nonce });
    const objectAsPart = await open(object, { dek, nonce, plaintextSize: plaintext.length, aad: header });
    assert.ok(isCode(objectAsPart.error, 'SEGMENT_AUTH_FAILED'));
  });

  it('produces different ciphertext under a different nonce', async () => {
    const plaintext = pattern(100);
    const a = await seal(plaintext, { dek, nonce });
    const b = await seal(plaintext, { dek, nonce: randomBytes(12) });
    assert.ok(!a.equals(b));
  });
});

describe('createSealStream with a declared plaintext size', () => {
  it('fails with SIZE_MISMATCH when the input is shorter than declared', async () => {
    const plaintext = pattern(2 * S);
    const outcome = await run(
      split(plaintext, [1000]),
      createSealStream({ dek, nonce, plaintextSize: 2 * S + 1 }),
    );
    assert.ok(isCode(outcome.error, 'SIZE_MISMATCH'));
  });

  it('fails with SIZE_MISMATCH as soon as the input passes the declared size', async () => {
    const plaintext = pattern(3 * S);
    const outcome = await run(
      split(plaintext, [1000]),
      createSealStream({ dek, nonce, plaintextSize: S + 10 }),
    );
    assert.ok(isCode(outcome.error, 'SIZE_MISMATCH'));
    // Only the first segment can have been sealed (as not-last) before the excess showed up.
    assert.ok(outcome.output.length <= S + 16);
  });

  it('refuses a DEK or nonce of the wrong length and an impossible declared size', () => {
    assert.throws(() => createSealStream({ dek: Buffer.alloc(16), nonce }), RangeError);
    assert.throws(() => createSealStream({ dek, nonce: Buffer.alloc(16) }), RangeError);
    assert.throws(() => createSealStream({ dek, nonce, plaintextSize: -1 }), EnvelopeError);
  });
});

describe('streaming in constant memory', () => {
  it('holds back the producer while a slow consumer reads 64 MiB through seal and open', async () => {
    const total = 64 * 2 ** 20;
    const chunk = randomBytes(256 * 1024);
    let produced = 0;
    let consumed = 0;
    let worst = 0;
    await pipeline(
      new Readable({
        read() {
          if (produced >= total) {
            this.push(null);
            return;
          }
          produced += chunk.length;
          worst = Math.max(worst, produced - consumed);
          this.push(chunk);
        },
      }),
      createSealStream({ dek, nonce, plaintextSize: total }),
      createOpenStream({ dek, nonce, plaintextSize: total }),
      new Writable({
        highWaterMark: 1,
        write(data: Buffer, _encoding, callback) {
          consumed += data.length;
          setImmediate(callback);
        },
      }),
    );
    assert.equal(consumed, total);
    assert.ok(worst < 4 * 2 ** 20, `at most ${worst} bytes were in flight`);
  });
});
