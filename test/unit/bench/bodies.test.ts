import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { generatedBody, wholeBody } from '../../../bench/clients.ts';
import { bodyBytes, MiB } from '../../support/fixtures.ts';

describe('benchmark bodies', () => {
  it('are incompressible, as the ciphertext the proxy stores is, so direct and proxy give the store the same work', () => {
    const body = wholeBody(MiB);
    assert.ok(gzipSync(body).length > body.length * 0.99, 'gzip shrinks the benchmark body');
  });

  it('have the requested length, streamed or in one piece, with the same bytes either way', async () => {
    for (const length of [1, MiB - 1, MiB, 2 * MiB + 5]) {
      const whole = wholeBody(length);
      assert.equal(whole.length, length);
      assert.deepEqual(await bodyBytes(generatedBody(length)), whole);
    }
  });
});
