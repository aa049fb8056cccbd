import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { OPERATION_ROWS, UNROUTED_OPERATIONS } from '../../../src/s3/operations.ts';
import {
  OPERATIONS_BEGIN,
  OPERATIONS_END,
  renderOperationsReference,
} from '../../../src/s3/operations-reference.ts';

const document = readFileSync(new URL('../../../docs/S3-OPERATIONS.md', import.meta.url), 'utf8');

describe('docs/S3-OPERATIONS.md', () => {
  it('carries the table generated from src/s3/operations.ts, unedited (node src/s3/operations-reference.ts --write)', () => {
    const begin = document.indexOf(OPERATIONS_BEGIN);
    const end = document.indexOf(OPERATIONS_END);
    assert.ok(begin >= 0 && end > begin, 'the generated-table markers are present');
    assert.equal(
      document.slice(begin + OPERATIONS_BEGIN.length, end).trim(),
      renderOperationsReference().trim(),
    );
  });

  it('has a line for every row and every operation no request can name, with the reason of each refusal', () => {
    for (const row of OPERATION_ROWS) {
      assert.match(
        document,
        new RegExp(`\\| ${row.method} \\| [^\\n]* \\| ${row.operation} \\| ${row.treatment} \\|`),
      );
      if (row.treatment === 'refuse')
        assert.ok(document.includes(row.reason.replaceAll('|', '\\|')), row.operation);
    }
    for (const operation of Object.keys(UNROUTED_OPERATIONS))
      assert.ok(document.includes(`| ${operation} |`));
  });

  it('is linked from the README and docs/SECURITY.md', () => {
    for (const file of ['../../../README.md', '../../../docs/SECURITY.md']) {
      assert.match(readFileSync(new URL(file, import.meta.url), 'utf8'), /S3-OPERATIONS\.md/, file);
    }
  });
});
