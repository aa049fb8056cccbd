import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AAD_V1, EnvelopeError, planWindow, SegmentOpener } from '../../../src/envelope/index.ts';
import { pattern, S, seal } from './support.ts';

const dek = Buffer.from('11'.repeat(32), 'hex');
const nonce = Buffer.from('00112233445566778899aabb', 'hex');
const plaintext = pattern(3 * S + 7);
const sealed = await seal(plaintext, { dek, nonce });

describe('SegmentOpener', () => {
  it('consumes exactly its window, releases all but the last segment and holds that one', () => {
    const window = planWindow(plaintext.length, 10, 2 * S + 5);
    const opener = new SegmentOpener({ dek, nonce, aad: AAD_V1, plaintextSize: plaintext.length, window });
    const fetched = Buffer.concat([
      sealed.subarray(window.cipherStart, window.cipherEndInclusive + 1),
      Buffer.from('next'),
    ]);
    const released: Buffer[] = [];
    const used = opener.write(fetched, 0, (data) => released.push(Buffer.from(data)));
    assert.equal(used, opener.storedLength);
    assert.equal(used, fetched.length - 4);
    assert.ok(opener.done);
    assert.ok(Buffer.concat(released).equals(plaintext.subarray(10, 2 * S)));
    assert.ok(opener.takeHeld().equals(plaintext.subarray(2 * S, 2 * S + 6)));
  });

  it('continues a segment split across writes and reports TRUNCATED when asked for the held segment early', () => {
    const opener = new SegmentOpener({ dek, nonce, aad: AAD_V1, plaintextSize: plaintext.length });
    const released: Buffer[] = [];
    let offset = 0;
    for (const size of [5, S, 100]) {
      offset += opener.write(sealed.subarray(offset, offset + size), 0, (data) =>
        released.push(Buffer.from(data)),
      );
    }
    assert.equal(opener.consumed, S + 105);
    assert.ok(Buffer.concat(released).equals(plaintext.subarray(0, S)));
    assert.throws(
      () => opener.takeHeld(),
      (error: unknown) => error instanceof EnvelopeError && error.code === 'TRUNCATED',
    );
    opener.dispose();
  });

  it('throws SEGMENT_AUTH_FAILED under another AAD and releases nothing of that segment', () => {
    const opener = new SegmentOpener({
      dek,
      nonce,
      aad: Buffer.from('other'),
      plaintextSize: plaintext.length,
    });
    const released: Buffer[] = [];
    assert.throws(
      () => opener.write(sealed, 0, (data) => released.push(data)),
      (error: unknown) => error instanceof EnvelopeError && error.code === 'SEGMENT_AUTH_FAILED',
    );
    assert.equal(released.length, 0);
  });
});
