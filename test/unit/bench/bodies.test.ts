import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { generatedBody, patternBuffer } from '../../../bench/clients.ts';

const MiB = 2 ** 20;

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('benchmark bodies', () => {
  it('are incompressible, as the ciphertext the proxy stores is, so direct and proxy give the store the same work', () => {
    const body = patternBuffer(MiB);
    assert.ok(gzipSync(body).length > body.length * 0.99, 'gzip shrinks the benchmark body');
  });

  it('have the requested length, streamed or in one piece, with the same bytes either way', async () => {
    for (const length of [1, MiB - 1, MiB, 2 * MiB + 5]) {
      const whole = patternBuffer(length);
      assert.equal(whole.length, length);
      assert.deepEqual(await collect(generatedBody(length)), whole);
    }
  });
});
