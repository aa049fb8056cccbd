import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  type Envelope,
  EnvelopeError,
  openChecksum,
  readEnvelope,
  type StoredChecksumAlgorithm,
  sealChecksum,
} from '../../../src/envelope/index.ts';
import { computeChecksum } from '../../../src/s3/checksum.ts';
import { open, pattern, seal, sha256 } from './support.ts';

type ChecksumVector = {
  name: string;
  expect: 'success' | 'envelope failure';
  checksum?: string;
  error?: string;
  metadata: Record<string, string>;
  unwrap: Record<string, string>;
  plaintext: { hex: string } | { pattern: string; length: number };
  plaintext_sha256: string;
  stored: { hex: string } | { seal: true };
  stored_sha256: string;
};

const file = JSON.parse(
  readFileSync(new URL('../../../test/vectors/checksum-v1.json', import.meta.url), 'utf8'),
) as {
  checksum_vectors: ChecksumVector[];
};

const plaintextOf = (vector: ChecksumVector) =>
  'hex' in vector.plaintext ? Buffer.from(vector.plaintext.hex, 'hex') : pattern(vector.plaintext.length);

/** The sealed checksum as the reader of docs/FORMAT.md 7.1 sees it: shape first, then the tag. */
function readChecksum(vector: ChecksumVector) {
  const envelope = readEnvelope(vector.metadata) as Envelope;
  const dek = Buffer.from(vector.unwrap[envelope.wrappedDek] ?? '', 'hex');
  return { envelope, dek, checksum: openChecksum(dek, envelope.checksum ?? '') };
}

describe('frozen vectors of the sealed checksum (test/vectors/checksum-v1.json)', () => {
  for (const vector of file.checksum_vectors) {
    if (vector.expect === 'success') {
      it(`${vector.name}: opens to ${vector.checksum}, the checksum of the plaintext, and the proxy seals the same bytes`, async () => {
        const { envelope, dek, checksum } = readChecksum(vector);
        assert.equal(`${checksum.algorithm}:${checksum.value}`, vector.checksum);
        const plaintext = plaintextOf(vector);
        assert.equal(sha256(plaintext), vector.plaintext_sha256);
        assert.equal(
          computeChecksum(checksum.algorithm as StoredChecksumAlgorithm, plaintext).toString('base64'),
          checksum.value,
        );
        const stored = await seal(plaintext, { dek, nonce: envelope.nonce, plaintextSize: plaintext.length });
        assert.equal(sha256(stored), vector.stored_sha256);
        const opened = await open(stored, { dek, nonce: envelope.nonce, plaintextSize: plaintext.length });
        assert.ifError(opened.error);
        const nonce = Buffer.from(envelope.checksum ?? '', 'base64').subarray(0, 12);
        assert.equal(sealChecksum(dek, checksum, nonce), envelope.checksum);
      });
    } else {
      it(`${vector.name}: ${vector.error}`, () => {
        assert.throws(
          () => readChecksum(vector),
          (error: unknown) => error instanceof EnvelopeError && error.code === vector.error,
        );
      });
    }
  }

  it('holds the vectors the document promises: every algorithm, and each kind of failure', () => {
    const algorithms = new Set(
      file.checksum_vectors.flatMap((v) => (v.checksum ? [v.checksum.split(':')[0]] : [])),
    );
    assert.deepEqual([...algorithms].sort(), [
      'CRC32',
      'CRC32C',
      'CRC64NVME',
      'MD5',
      'SHA1',
      'SHA256',
      'SHA512',
    ]);
    const errors = new Set(file.checksum_vectors.flatMap((v) => (v.error ? [v.error] : [])));
    assert.deepEqual([...errors].sort(), ['CHECKSUM_AUTH_FAILED', 'ENVELOPE_BAD_FIELD']);
  });
});
