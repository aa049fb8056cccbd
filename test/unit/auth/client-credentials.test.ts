import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CredentialsFileError, parseClientCredentials } from '../../../src/auth/client-credentials.ts';

const SECRET = 'a-secret-of-40-characters-0123456789abcd';

function problemsOf(text: string): readonly string[] {
  try {
    parseClientCredentials(text);
  } catch (error) {
    assert.ok(error instanceof CredentialsFileError);
    return error.problems;
  }
  assert.fail('the file was accepted');
}

describe('the client credentials file', () => {
  it('reads keys and grants from YAML, with defaults for prefixes and readOnly', () => {
    const credentials = parseClientCredentials(`
credentials:
  - accessKeyId: APPKEY1
    secretAccessKey: ${SECRET}
    description: the app
    allow:
      - bucket: app-data
      - bucket: shared
        prefixes: [reports/, exports/]
        readOnly: true
      - bucket: "logs-*"
`);
    const app = credentials.get('APPKEY1');
    assert.ok(app);
    assert.equal(app.secretAccessKey, SECRET);
    assert.deepEqual(app.grants, [
      { bucket: 'app-data', prefixes: [], readOnly: false },
      { bucket: 'shared', prefixes: ['reports/', 'exports/'], readOnly: true },
      { bucket: 'logs-*', prefixes: [], readOnly: false },
    ]);
  });

  it('reads the same file written as JSON', () => {
    const credentials = parseClientCredentials(
      JSON.stringify({
        credentials: [{ accessKeyId: 'JSONKEY', secretAccessKey: SECRET, allow: [{ bucket: '*' }] }],
      }),
    );
    assert.deepEqual(credentials.get('JSONKEY')?.grants, [{ bucket: '*', prefixes: [], readOnly: false }]);
  });

  it('keeps the secret out of JSON, inspection and error messages', () => {
    const credentials = parseClientCredentials(
      `credentials:\n  - {accessKeyId: KEY1, secretAccessKey: ${SECRET}, allow: [{bucket: b}]}\n`,
    );
    const credential = credentials.get('KEY1');
    assert.ok(!JSON.stringify(credential).includes(SECRET));
    assert.ok(!JSON.stringify([...credentials]).includes(SECRET));
    const broken = `credentials:\n  - accessKeyId: KEY1\n    secretAccessKey: "${SECRET}\n    allow: [\n`;
    for (const problem of problemsOf(broken)) assert.ok(!problem.includes(SECRET), problem);
  });

  it('refuses unknown fields, so that a misspelt readOnly cannot grant writes', () => {
    assert.deepEqual(
      problemsOf(
        `credentials:\n  - accessKeyId: KEY1\n    secretAccessKey: ${SECRET}\n    allow:\n      - {bucket: b, readonly: true}\n`,
      ),
      ['credentials[0] (KEY1).allow[0]: unknown field "readonly"'],
    );
  });

  it('reports every problem at once, naming the entry and the field', () => {
    const problems = problemsOf(`
credentials:
  - accessKeyId: KEY1
    secretAccessKey: short
    allow: [{bucket: b}]
  - accessKeyId: KEY1
    secretAccessKey: ${SECRET}
    allow: [{bucket: "bad/name"}, {bucket: b, prefixes: [""]}, {bucket: c, readOnly: "yes"}]
  - accessKeyId: "has/slash"
    secretAccessKey: ${SECRET}
  - secretAccessKey: ${SECRET}
    allow: []
extra: 1
`);
    assert.deepEqual(problems, [
      'unknown top-level field "extra"',
      'credentials[0] (KEY1): secretAccessKey must be a string of at least 16 characters',
      'credentials[1] (KEY1): accessKeyId is listed twice',
      'credentials[1] (KEY1).allow[0]: bucket must be a bucket name, a name prefix ending in "*", or "*"',
      'credentials[1] (KEY1).allow[1]: prefixes must be a list of non-empty key prefixes (omit it for the whole bucket)',
      'credentials[1] (KEY1).allow[2]: readOnly must be true or false',
      'credentials[2]: accessKeyId must be 3 to 128 letters, digits, ".", "_" or "-"',
      'credentials[2] (has/slash): allow must be a list of grants ({bucket, prefixes?, readOnly?})',
      'credentials[3]: accessKeyId must be 3 to 128 letters, digits, ".", "_" or "-"',
    ]);
  });

  it('refuses a file that is not YAML, or has no credentials list, saying where but not what', () => {
    assert.match(
      problemsOf('credentials: [\n')[0] ?? '',
      /^not valid YAML \([A-Z_]+ at line \d+, column \d+\)$/,
    );
    assert.deepEqual(problemsOf('keys: []\n'), ['the file must be a mapping with a list "credentials"']);
    assert.deepEqual(problemsOf('credentials:\n  - a: 1\n  - b: 2\n  - a: 1\n    a: 2\n').slice(0, 1), [
      'not valid YAML (DUPLICATE_KEY at line 5, column 5)',
    ]);
  });
});
