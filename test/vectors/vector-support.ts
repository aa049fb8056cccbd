/**
 * What the vector generators share: hashes, keys and nonces derived from vector names (so a reviewer can
 * rerun a generator into another path and diff), and sealing a plaintext with the proxy's seal stream.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createSealStream } from '../../src/envelope/index.ts';

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export const derive = (label: string, name: string, length: number) =>
  createHash('sha256').update(`cloudtaser-s3/v1 test vector ${label} ${name}`).digest().subarray(0, length);

export async function sealBytes(plaintext: Buffer, dek: Buffer, nonce: Buffer, aad?: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(plaintext.length ? [plaintext] : []),
    createSealStream({ dek, nonce, plaintextSize: plaintext.length, ...(aad ? { aad } : {}) }),
    new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}
