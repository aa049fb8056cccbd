import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  AAD_V1,
  AAD_V1_PART,
  ENVELOPE_ERROR_CODES,
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
    assert.ok(spec.includes(`"${AAD_V1_PART.toString('ascii')}"`));
    assert.ok(spec.includes(`| \`S\` | ${SEGMENT_SIZE} |`));
    assert.ok(spec.includes(`| \`H\` | ${PART_HEADER_SIZE} |`));
    assert.ok(spec.includes(`| \`MAX_P\` | ${MAX_PLAINTEXT_SIZE} (2^52) |`));
  });
});
