import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  AAD_V1,
  ENVELOPE_ERROR_CODES,
  encodePartHeader,
  MAX_PART_NUMBER,
  MAX_PLAINTEXT_SIZE,
  META_DEK,
  META_FORMAT,
  META_NONCE,
  META_SIZE,
  PART_HEADER_SIZE,
  SEGMENT_SIZE,
} from '../../../src/envelope/index.ts';

const spec = readFileSync(new URL('../../../docs/FORMAT.md', import.meta.url), 'utf8');

describe('docs/FORMAT.md and the code', () => {
  it('lists exactly the error codes EnvelopeError can carry', () => {
    const section = spec.slice(spec.indexOf('## 11. Named failures'), spec.indexOf('## 12.'));
    const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1]);
    assert.deepEqual([...documented].sort(), [...ENVELOPE_ERROR_CODES].sort());
  });

  it('names the same metadata headers, AADs and sizes', () => {
    for (const name of [META_FORMAT, META_DEK, META_NONCE, META_SIZE])
      assert.ok(spec.includes(`\`${name}\``), name);
    assert.ok(spec.includes(`"${AAD_V1.toString('ascii')}"`));
    assert.ok(spec.includes(`| \`S\` | ${SEGMENT_SIZE} |`));
    assert.ok(spec.includes(`| \`H\` | ${PART_HEADER_SIZE} |`));
    assert.ok(spec.includes(`| \`MAX_PARTS\` | ${MAX_PART_NUMBER} |`));
    assert.ok(spec.includes(`| \`MAX_P\` | ${MAX_PLAINTEXT_SIZE} (2^52) |`));
  });

  it('gives the part header layout that encodePartHeader writes', () => {
    const section = spec.slice(spec.indexOf('### 9.2 A part'), spec.indexOf('### 9.3'));
    const rows = [...section.matchAll(/^\| (\d+(?: \+ k)?) \| (\d+(?: - k)?|k) \|/gm)].map(
      (m) => `${m[1]}:${m[2]}`,
    );
    assert.deepEqual(rows, ['0:8', '8:8', '16:12', '28:4', '32:16', '48:2', '50:k', '50 + k:206 - k']);
    const header = encodePartHeader({
      wrappedDek: 'vault:v1:abc',
      nonce: Buffer.alloc(12, 0xaa),
      plaintextSize: 0x0102,
      partNumber: 0x0304,
      uploadBinding: Buffer.alloc(16, 0xbb),
    });
    assert.equal(header.readBigUInt64BE(8), 0x0102n);
    assert.ok(header.subarray(16, 28).every((byte) => byte === 0xaa));
    assert.equal(header.readUInt32BE(28), 0x0304);
    assert.ok(header.subarray(32, 48).every((byte) => byte === 0xbb));
    assert.equal(header.readUInt16BE(48), 12);
    assert.equal(header.toString('ascii', 50, 62), 'vault:v1:abc');
    assert.equal(PART_HEADER_SIZE - 50, 206);
  });
});
