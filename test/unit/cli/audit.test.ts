import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditOptions } from '../../../src/cli/audit.ts';
import { classifyFailure } from '../../../src/cli/audit-check.ts';
import {
  AuditLedger,
  type AuditParams,
  type AuditRecord,
  addToTotals,
  emptyTotals,
  sampled,
} from '../../../src/cli/audit-ledger.ts';
import { AUDIT_EXIT_CODES, auditOutcome, mdCode, RESIDUAL_RISKS } from '../../../src/cli/audit-report.ts';
import { UpstreamError } from '../../../src/cli/s3-objects.ts';
import { UsageError } from '../../../src/cli/tool.ts';
import { ENVELOPE_ERROR_CODES, EnvelopeError } from '../../../src/envelope/index.ts';
import { KeyServiceError } from '../../../src/kms/key-wrapper.ts';

const DOCS = resolve(import.meta.dirname, '..', '..', '..', 'docs');

function record(overrides: Partial<AuditRecord>): AuditRecord {
  return {
    kind: 'object',
    key: 'k',
    versionId: null,
    latest: null,
    uploadId: null,
    initiated: null,
    status: 'encrypted',
    storedSize: 100,
    etag: '"e"',
    format: 'v1',
    plaintextSize: 84,
    parts: null,
    transit: { mount: 'transit', key: 'app', recordedInObject: false },
    keyVersions: [1],
    verified: false,
    failure: null,
    checkedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('--verify-sample: which objects a seed picks', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `data/object-${i}`);

  it('picks the same objects for the same seed, whatever else is listed or in what order', () => {
    const first = keys.filter((key) => sampled('seed-a', key, null, 10));
    const reversed = [...keys].reverse().filter((key) => sampled('seed-a', key, null, 10));
    assert.deepEqual(reversed.reverse(), first);
  });

  it('picks about P % of the objects, and other objects for another seed or another version', () => {
    for (const percent of [1, 10, 50]) {
      const picked = keys.filter((key) => sampled('seed-a', key, null, percent)).length;
      assert.ok(Math.abs(picked - percent * 100) < 4 * Math.sqrt(percent * 100), `${percent} %: ${picked}`);
    }
    const a = keys.filter((key) => sampled('seed-a', key, null, 50));
    const b = keys.filter((key) => sampled('seed-b', key, null, 50));
    const common = a.filter((key) => b.includes(key)).length;
    assert.ok(common > 2000 && common < 3000, `${common} picked by both seeds (about a quarter)`);
    const v1 = keys.filter((key) => sampled('seed-a', key, 'v1', 50));
    assert.notDeepEqual(v1, a);
  });

  it('picks every object at 100 %', () => {
    assert.ok(keys.every((key) => sampled('any', key, null, 100)));
  });
});

describe('the exit status of an audit', () => {
  const totals = (counts: Partial<Record<AuditRecord['status'], number>>) => {
    const result = emptyTotals();
    for (const [status, objects] of Object.entries(counts))
      result.byStatus[status as AuditRecord['status']].objects = objects;
    return result;
  };
  const clean = { fatal: false, interrupted: false, bounded: false };

  it('is 0 only when everything checked passed and nothing stopped the audit', () => {
    assert.equal(auditOutcome(totals({ encrypted: 5, 'incomplete-upload': 2 }), clean).exitCode, 0);
    assert.equal(auditOutcome(totals({ encrypted: 5 }), { ...clean, bounded: true }).exitCode, 6);
    assert.equal(auditOutcome(totals({ encrypted: 5 }), { ...clean, interrupted: true }).exitCode, 130);
    assert.equal(auditOutcome(totals({ encrypted: 5 }), { ...clean, fatal: true }).exitCode, 1);
  });

  it('names each finding by its own code', () => {
    assert.equal(auditOutcome(totals({ 'not-encrypted': 1 }), clean).exitCode, 3);
    for (const status of ['malformed-envelope', 'size-mismatch', 'verify-failed'] as const)
      assert.equal(auditOutcome(totals({ [status]: 1 }), clean).exitCode, 4, status);
    assert.equal(auditOutcome(totals({ 'key-version-retired': 1 }), clean).exitCode, 5);
    assert.equal(auditOutcome(totals({ 'not-checked': 1 }), clean).exitCode, 1);
  });

  it('takes, when several apply, unencrypted over integrity over retired over could-not-check over stopped', () => {
    const everything = { fatal: true, interrupted: true, bounded: true };
    assert.equal(
      auditOutcome(
        totals({ 'not-encrypted': 1, 'verify-failed': 1, 'key-version-retired': 1, 'not-checked': 1 }),
        everything,
      ).exitCode,
      3,
    );
    assert.equal(
      auditOutcome(totals({ 'size-mismatch': 1, 'key-version-retired': 1, 'not-checked': 1 }), everything)
        .exitCode,
      4,
    );
    assert.equal(
      auditOutcome(totals({ 'key-version-retired': 1, 'not-checked': 1 }), everything).exitCode,
      5,
    );
    assert.equal(auditOutcome(totals({}), everything).exitCode, 1);
    assert.equal(auditOutcome(totals({}), { ...everything, fatal: false }).exitCode, 130);
    assert.deepEqual(
      AUDIT_EXIT_CODES.map((entry) => entry.code),
      [3, 4, 5, 1, 130, 6, 0],
    );
  });

  it('is documented, every code, in docs/OPERATIONS.md', async () => {
    const operations = await readFile(join(DOCS, 'OPERATIONS.md'), 'utf8');
    const section = operations.slice(operations.indexOf('## 8. Audit'));
    for (const entry of AUDIT_EXIT_CODES)
      assert.match(section, new RegExp(`^\\| ${entry.code} \\| ${entry.name} \\|`, 'm'), entry.name);
  });
});

describe('what a failure says about the audited object', () => {
  it('before the body: a broken envelope field or part header is malformed, a size that does not fit is a size mismatch', () => {
    const sizes = ['SIZE_MISMATCH', 'SIZE_IMPOSSIBLE', 'TRUNCATED', 'TRAILING_DATA'];
    // What a reader meets only in the body cannot come before it.
    const beforeBody = ENVELOPE_ERROR_CODES.filter(
      (code) => code !== 'SEGMENT_AUTH_FAILED' && code !== 'PART_LAYOUT_CHANGED',
    );
    for (const code of beforeBody) {
      const expected = sizes.includes(code) ? 'size-mismatch' : 'malformed-envelope';
      assert.equal(classifyFailure(new EnvelopeError(code, 'x'), 'envelope').status, expected, code);
    }
  });

  it('while verifying: every named failure, and a wrapped key Transit refuses, is a failed verification named by its code', () => {
    for (const code of ENVELOPE_ERROR_CODES)
      assert.deepEqual(classifyFailure(new EnvelopeError(code, 'at segment 3'), 'verify'), {
        status: 'verify-failed',
        failure: { code, message: 'at segment 3' },
      });
    assert.equal(
      classifyFailure(new KeyServiceError('rejected', 'x'), 'verify').failure.code,
      'KEY_REJECTED',
    );
  });

  it('a retired key version is its own finding; Vault or S3 not answering, or the object changing, is no finding', () => {
    assert.equal(
      classifyFailure(new KeyServiceError('retired', 'x'), 'verify').status,
      'key-version-retired',
    );
    const notChecked = (error: unknown) => {
      const { status, failure } = classifyFailure(error, 'verify');
      return `${status} ${failure.code}`;
    };
    assert.equal(notChecked(new KeyServiceError('denied', 'x')), 'not-checked VAULT_DENIED');
    assert.equal(notChecked(new KeyServiceError('unavailable', 'x')), 'not-checked VAULT_UNAVAILABLE');
    assert.equal(notChecked(new UpstreamError(412, 'PreconditionFailed', 'x')), 'not-checked CHANGED');
    assert.equal(notChecked(new UpstreamError(404, 'NoSuchKey', 'x')), 'not-checked CHANGED');
    assert.equal(notChecked(new UpstreamError(503, 'SlowDown', 'x')), 'not-checked S3_ERROR');
    assert.equal(notChecked(new Error('socket hang up')), 'not-checked ERROR');
  });
});

describe('totals of an audit', () => {
  it('count objects and data keys per key version: a multipart object once per version, each part a data key', () => {
    const totals = emptyTotals();
    addToTotals(totals, record({ key: 'a', keyVersions: [1] }));
    addToTotals(totals, record({ key: 'b', format: 'v1-multipart', parts: 3, keyVersions: [1, 2, 2] }));
    addToTotals(totals, record({ key: 'c', keyVersions: [null], verified: true, plaintextSize: 84 }));
    addToTotals(totals, record({ key: 'd', status: 'not-encrypted', transit: null, keyVersions: [] }));
    addToTotals(
      totals,
      record({ kind: 'incomplete-upload', key: 'e', status: 'incomplete-upload', parts: 2, storedSize: 10 }),
    );
    assert.deepEqual(
      totals.keyVersions.map((row) => [row.version, row.objects, row.dataKeys]),
      [
        [1, 2, 2],
        [2, 1, 2],
        [null, 1, 1],
      ],
    );
    assert.equal(totals.objects, 4);
    assert.equal(totals.byStatus['not-encrypted'].objects, 1);
    assert.deepEqual(totals.verified, { objects: 1, plaintextBytes: 84 });
    assert.deepEqual(totals.incompleteUploads, { uploads: 1, parts: 2, storedBytes: 10 });
  });
});

describe('the state file of an audit', () => {
  let dir: string;
  const params: AuditParams = {
    bucket: 'b',
    prefix: 'p/',
    endpoint: 'https://s3.example',
    transit: { mount: 'transit', key: 'app' },
    versions: false,
    verify: 'none',
    samplePercent: null,
    seed: null,
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'audit-ledger-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('continues with what earlier runs finished; an object that could not be checked is checked again', async () => {
    const path = join(dir, 'continue.state');
    const first = await AuditLedger.open(path, params);
    await first.startRun('1.0.0');
    await first.add(record({ key: 'a' }));
    await first.add(record({ key: 'b', status: 'not-checked', failure: { code: 'S3_ERROR', message: 'x' } }));
    await first.close();

    const second = await AuditLedger.open(path, params);
    assert.equal(second.carriedOver, 1);
    assert.equal(second.previousRuns.length, 1);
    const id = (key: string) => `object\n${key}\n`;
    assert.deepEqual(
      [second.isDone(id('a')), second.isDone(id('b')), second.isDone(id('c'))],
      [true, false, false],
    );
    await second.startRun('1.0.0');
    await second.add(record({ key: 'b' }));
    await second.endRun(true);
    const latest = [];
    for await (const entry of second.records()) latest.push([entry.key, entry.status]);
    assert.deepEqual(latest, [
      ['a', 'encrypted'],
      ['b', 'encrypted'],
    ]);
    assert.equal(second.runs.length, 2);
    await second.close();
    await assert.rejects(AuditLedger.open(path, params), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /finished at .*remove it/);
      return true;
    });
  });

  it('refuses the state of another audit, naming what differs', async () => {
    const path = join(dir, 'other.state');
    await (await AuditLedger.open(path, params)).close();
    await assert.rejects(
      AuditLedger.open(path, { ...params, prefix: 'q/', verify: 'all' }),
      (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /prefix "p\/" there, "q\/" now; verify "none" there, "all" now/);
        return true;
      },
    );
    await writeFile(join(dir, 'garbage.state'), 'not json\n');
    await assert.rejects(
      AuditLedger.open(join(dir, 'garbage.state'), params),
      /not the state file of an audit/,
    );
  });

  it('ignores a record cut off by a kill, and checks that object again', async () => {
    const path = join(dir, 'killed.state');
    const ledger = await AuditLedger.open(path, params);
    await ledger.startRun('1.0.0');
    await ledger.add(record({ key: 'a' }));
    await ledger.close();
    await appendFile(path, '{"record":{"kind":"object","key":"b","versi');
    const resumed = await AuditLedger.open(path, params);
    assert.equal(resumed.carriedOver, 1);
    assert.equal(resumed.isDone('object\nb\n'), false);
    await resumed.startRun('1.0.0');
    await resumed.add(record({ key: 'b' }));
    const keys = [];
    for await (const entry of resumed.records()) keys.push(entry.key);
    assert.deepEqual(keys, ['a', 'b']);
    await resumed.close();
  });

  it('keeps the seed of a sampled audit: a random one at the start, the same one when continued without --seed', async () => {
    const path = join(dir, 'sample.state');
    const sample = { ...params, verify: 'sample' as const, samplePercent: 5 };
    const first = await AuditLedger.open(path, sample);
    const seed = first.params.seed;
    assert.match(seed ?? '', /^[0-9a-f]{16}$/);
    await first.close();
    const again = await AuditLedger.open(path, sample);
    assert.equal(again.params.seed, seed);
    await again.close();
    await assert.rejects(AuditLedger.open(path, { ...sample, seed: 'other' }), /seed/);
  });
});

describe('the command line of audit', () => {
  it('refuses combinations that cannot mean anything, before reading a thing', () => {
    const refused = [
      [['s3://b', '--verify', '--verify-sample', '10'], /not both/],
      [['s3://b', '--verify-sample', '0'], /more than 0 and at most 100/],
      [['s3://b', '--verify-sample', '101'], /more than 0 and at most 100/],
      [['s3://b', '--verify-sample', '1e1'], /percentage/],
      [['s3://b', '--seed', '7'], /--seed goes with --verify-sample/],
      [['s3://b', '--max-objects', '10'], /--max-objects needs --state/],
      [['s3://b', '--concurrency', '0'], /1\.\.64/],
      [['bucket'], /s3:\/\/BUCKET/],
      [['s3://a', 's3://b'], /one s3:\/\/BUCKET/],
    ] as const;
    for (const [args, message] of refused)
      assert.throws(() => auditOptions([...args]), message, args.join(' '));
  });

  it('reads a sampled, bounded, resumable audit', () => {
    const parsed = auditOptions([
      's3://bucket/logs/',
      '--verify-sample',
      '2.5',
      '--seed',
      'x',
      '--max-objects',
      '100',
      '--state',
      'a.state',
      '--versions',
    ]);
    assert.notEqual(parsed, 'help');
    if (parsed === 'help') return;
    assert.deepEqual(parsed.location, { bucket: 'bucket', prefix: 'logs/' });
    assert.deepEqual(
      [parsed.options.verify, parsed.options.samplePercent, parsed.options.seed, parsed.options.maxObjects],
      ['sample', 2.5, 'x', 100],
    );
    assert.equal(parsed.options.versions, true);
  });
});

describe('the report of an audit', () => {
  it('quotes any object name as Markdown code: backticks, pipes and control characters cannot break the table', () => {
    assert.equal(mdCode('plain/key'), '`plain/key`');
    assert.equal(mdCode('a|b'), '`a\\|b`');
    assert.equal(mdCode('has `tick`'), '`` has `tick` ``');
    assert.equal(mdCode('a``b'), '```a``b```');
    assert.equal(mdCode('line\nbreak'), '`line\\u000abreak`');
    assert.equal(mdCode('`'), '`` ` ``');
  });

  it('lists every residual risk of docs/SECURITY.md and docs/FORMAT.md §13, and only those', async () => {
    /** The bold titles of the list in the section headed `heading`, up to the next heading of its level. */
    const titles = async (doc: string, heading: string) => {
      const text = await readFile(join(DOCS, doc), 'utf8');
      const start = text.indexOf(`\n${heading}`);
      assert.ok(start >= 0, `${doc} has ${heading}`);
      const end = text.indexOf('\n## ', start + 1);
      const section = text.slice(start, end < 0 ? undefined : end);
      return [...section.matchAll(/^- \*\*(.+?)\.?\*\*/gm)].map((match) =>
        (match[1] as string).replace(/\.$/, ''),
      );
    };
    const documented = {
      'SECURITY.md': await titles('SECURITY.md', '## What is not protected'),
      'FORMAT.md': await titles('FORMAT.md', '## 13. Residual risks'),
    };
    assert.ok(documented['SECURITY.md'].length >= 5 && documented['FORMAT.md'].length >= 5);
    for (const [doc, list] of Object.entries(documented)) {
      const cited = RESIDUAL_RISKS.flatMap((risk) =>
        risk.sources.filter((s) => s.doc === doc).map((s) => s.title),
      );
      assert.deepEqual(
        [...cited].sort(),
        [...list].sort(),
        `${doc}: the audit report cites exactly its risks`,
      );
    }
  });
});
