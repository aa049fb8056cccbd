import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { REFERENCE_BEGIN, REFERENCE_END, renderSettingsReference } from '../../../src/config/reference.ts';
import { AWS_CREDENTIAL_VARIABLES, SETTING_LIST } from '../../../src/config/settings.ts';

const document = readFileSync(new URL('../../../docs/CONFIGURATION.md', import.meta.url), 'utf8');

describe('docs/CONFIGURATION.md', () => {
  it('carries the reference generated from the settings table, unedited (node src/config/reference.ts --write)', () => {
    const begin = document.indexOf(REFERENCE_BEGIN);
    const end = document.indexOf(REFERENCE_END);
    assert.ok(begin >= 0 && end > begin, 'the generated-reference markers are present');
    assert.equal(
      document.slice(begin + REFERENCE_BEGIN.length, end).trim(),
      renderSettingsReference().trim(),
    );
  });

  it('documents every setting in the table', () => {
    for (const setting of SETTING_LIST) assert.ok(document.includes(`\`${setting.env}\``), setting.env);
  });

  it('mentions no variable that the table does not define', () => {
    const known = new Set([...SETTING_LIST.map((s) => s.env), ...AWS_CREDENTIAL_VARIABLES.map((v) => v.env)]);
    const mentioned = new Set(
      document.match(/\b(?:CLOUDTASER_S3PROXY|VAULT|AWS)_[A-Z0-9_]*[A-Z0-9]\b/g) ?? [],
    );
    assert.deepEqual(
      [...mentioned].filter((name) => !known.has(name)),
      [],
    );
  });
});
