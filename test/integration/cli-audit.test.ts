import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { AuditRecord } from '../../src/cli/audit-ledger.ts';
import { sampled } from '../../src/cli/audit-ledger.ts';
import { RESIDUAL_RISKS } from '../../src/cli/audit-report.ts';
import { createBucket, KiB, MiB, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import { alterStored, runTool, tokenWithRules, toolEnv, uploadParts } from './cli-support.ts';
import { bao, ownTransitKey } from './vault-support.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

type AuditJson = {
  audit: Record<string, unknown> & { keyInfo: Array<{ result: { ok: boolean; denied?: boolean } }> };
  objects: AuditRecord[];
  runs: unknown[];
  complete: boolean;
  totals: {
    objects: number;
    byStatus: Record<string, { objects: number; storedBytes: number }>;
    verified: { objects: number; plaintextBytes: number };
    keyVersions: Array<{ version: number | null; objects: number; dataKeys: number }>;
    incompleteUploads: { uploads: number; parts: number };
  };
  outcome: { exitCode: number; verdict: string };
};

describe('audit reports, object by object, what a bucket stores and exits with what it found', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  let dir: string;
  let transitKey: string;
  let proxyToken: string;
  let auditToken: string;
  let listOnlyToken: string;
  const bucket = uniqueBucket('cli-audit');
  const versioned = uniqueBucket('cli-audit-versions');
  const manyKeys = Array.from({ length: 40 }, (_, i) => `many/object-${String(i).padStart(2, '0')}`);

  const env = (token: string) =>
    toolEnv(services, { CLOUDTASER_S3PROXY_TRANSIT_KEY: transitKey, VAULT_TOKEN: token });
  let runs = 0;
  /** One audit run; its JSON document and Markdown report read back. */
  const audit = async (location: string, args: string[] = [], token = auditToken) => {
    const name = `run-${++runs}`;
    const json = join(dir, `${name}.json`);
    const report = join(dir, `${name}.md`);
    const run = await runTool(['audit', location, '--json', json, '--report', report, ...args], env(token));
    let document: AuditJson | undefined;
    let markdown = '';
    try {
      document = JSON.parse(await readFile(json, 'utf8')) as AuditJson;
      markdown = await readFile(report, 'utf8');
    } catch (error) {
      throw new Error(`no outputs (exit ${run.code}): ${error}\n${run.stdout}\n${run.stderr}`);
    }
    const byKey = new Map(document.objects.map((record) => [record.key, record]));
    return { ...run, document, markdown, byKey, reportPath: report };
  };
  const statusOf = (byKey: Map<string, AuditRecord>) =>
    Object.fromEntries([...byKey].map(([key, record]) => [key, record.status]));

  before(async () => {
    services = await useServices();
    ({ key: transitKey, token: proxyToken } = await ownTransitKey(
      services.vault,
      `audit-${randomBytes(4).toString('hex')}`,
    ));
    const mount = services.vault.transitMount;
    auditToken = await tokenWithRules(services.vault, `${transitKey}-audit`, [
      `path "${mount}/decrypt/${transitKey}" { capabilities = ["update"] }`,
      `path "${mount}/keys/${transitKey}" { capabilities = ["read"] }`,
    ]);
    listOnlyToken = await tokenWithRules(services.vault, `${transitKey}-nothing`, []);
    // No data keys wrapped ahead of time: every object is under the key version current when it is written.
    proxy = await startProxy(services, {
      env: {
        CLOUDTASER_S3PROXY_TRANSIT_KEY: transitKey,
        VAULT_TOKEN: proxyToken,
        CLOUDTASER_S3PROXY_KEY_POOL_SIZE: '0',
      },
    });
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    dir = await mkdtemp(join(tmpdir(), 'cli-audit-'));
    await createBucket(client, bucket);
    const put = (key: string, body: Buffer) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

    // Under key version 1.
    await put('v1/empty', Buffer.alloc(0));
    await put('v1/small', patternBytes(100, 1));
    await uploadParts(client, bucket, 'v1/multipart', [
      patternBytes(5 * MiB, 2),
      patternBytes(5 * MiB, 3),
      patternBytes(300 * KiB, 4),
    ]);
    await direct.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'plain/legacy.txt', Body: 'never encrypted' }),
    );

    await bao(services.vault, 'POST', `${mount}/keys/${transitKey}/rotate`);
    // Under key version 2.
    await put('v2/single', patternBytes(200_000, 5));
    await uploadParts(client, bucket, 'v2/multipart', [patternBytes(5 * MiB, 6), patternBytes(1, 7)]);
    await put('v2/flipped', patternBytes(70_000, 8));
    await put('bad/no-nonce', patternBytes(1000, 9));
    await put('bad/short', patternBytes(200_000, 10));
    // Multipart uploads of one part (which may be of any size).
    await uploadParts(client, bucket, 'bad/multipart-short', [patternBytes(70_000, 13)]);
    await uploadParts(client, bucket, 'bad/multipart-header', [patternBytes(1000, 14)]);
    for (const [i, key] of manyKeys.entries()) await put(key, patternBytes(2000 + i, 100 + i));

    // What the storage provider might do: flip a byte, drop an envelope field, cut the body short.
    await alterStored(direct, bucket, 'v2/flipped', (saved) => {
      saved.bytes[30_000] = (saved.bytes[30_000] as number) ^ 0x01;
      return saved.bytes;
    });
    await alterStored(direct, bucket, 'bad/no-nonce', (saved) => {
      delete saved.metadata['cloudtaser-nonce'];
      return undefined;
    });
    await alterStored(direct, bucket, 'bad/short', (saved) =>
      saved.bytes.subarray(0, saved.bytes.length - 100),
    );
    await alterStored(direct, bucket, 'bad/multipart-short', (saved) =>
      saved.bytes.subarray(0, saved.bytes.length - 10),
    );
    await alterStored(direct, bucket, 'bad/multipart-header', (saved) => {
      saved.bytes[255] = 0x01; // the last byte of the part header's zero padding
      return saved.bytes;
    });
    // Started through the proxy and never completed.
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'uploads/pending' }),
    );
    await client.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: 'uploads/pending',
        UploadId,
        PartNumber: 1,
        Body: patternBytes(5 * MiB, 11),
      }),
    );

    await bao(services.vault, 'POST', `${mount}/keys/${transitKey}/config`, {
      body: { min_decryption_version: 2 },
    });

    // Versions: a plaintext version left behind under an encrypted current one.
    await createBucket(client, versioned);
    await direct.send(
      new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    await direct.send(new PutObjectCommand({ Bucket: versioned, Key: 'doc', Body: 'the old plaintext' }));
    await client.send(new PutObjectCommand({ Bucket: versioned, Key: 'doc', Body: patternBytes(5000, 12) }));
  });
  after(async () => {
    await proxy?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const expectedStatuses = {
    'bad/multipart-header': 'malformed-envelope',
    'bad/multipart-short': 'size-mismatch',
    'bad/no-nonce': 'malformed-envelope',
    'bad/short': 'size-mismatch',
    'plain/legacy.txt': 'not-encrypted',
    'uploads/pending': 'incomplete-upload',
    'v1/empty': 'key-version-retired',
    'v1/multipart': 'key-version-retired',
    'v1/small': 'key-version-retired',
    'v2/flipped': 'encrypted',
    'v2/multipart': 'encrypted',
    'v2/single': 'encrypted',
    ...Object.fromEntries(manyKeys.map((key) => [key, 'encrypted'])),
  };

  it('without --verify: every object classified from listing, HEAD and part headers; exit 3 for the plaintext object', async () => {
    const run = await audit(`s3://${bucket}`);
    assert.equal(run.code, 3, run.stderr);
    assert.deepEqual(statusOf(run.byKey), expectedStatuses);
    const record = (key: string) => run.byKey.get(key) as AuditRecord;
    assert.deepEqual(record('bad/no-nonce').failure?.code, 'ENVELOPE_MISSING_FIELD');
    assert.deepEqual(record('bad/short').failure?.code, 'SIZE_MISMATCH');
    assert.deepEqual(record('bad/multipart-short').failure?.code, 'TRUNCATED');
    assert.deepEqual(record('bad/multipart-header').failure?.code, 'PART_HEADER_INVALID');
    assert.deepEqual(record('plain/legacy.txt').failure?.code, 'NO_ENVELOPE');
    assert.deepEqual(record('v1/small').failure?.code, 'KEY_VERSION_RETIRED');
    assert.deepEqual(
      [record('v1/multipart').format, record('v1/multipart').parts, record('v1/multipart').keyVersions],
      ['v1-multipart', 3, [1, 1, 1]],
    );
    assert.deepEqual(
      [
        record('v2/multipart').parts,
        record('v2/multipart').keyVersions,
        record('v2/multipart').plaintextSize,
      ],
      [2, [2, 2], 5 * MiB + 1],
    );
    assert.deepEqual(record('v2/single').keyVersions, [2]);
    // The proxy records the key that wrapped an object in the object (x-amz-meta-cloudtaser-transit-key).
    assert.deepEqual(record('v2/single').transit, {
      mount: 'transit',
      key: transitKey,
      recordedInObject: true,
    });
    assert.equal(record('v2/flipped').verified, false, 'a flipped body byte is not seen without --verify');
    assert.deepEqual(
      [record('uploads/pending').parts, record('uploads/pending').uploadId !== null],
      [1, true],
    );

    const { totals } = run.document;
    assert.equal(totals.objects, 11 + manyKeys.length, 'incomplete uploads are counted apart');
    assert.deepEqual(
      Object.fromEntries(Object.entries(totals.byStatus).map(([status, tally]) => [status, tally.objects])),
      {
        encrypted: 3 + manyKeys.length,
        'not-encrypted': 1,
        'malformed-envelope': 2,
        'size-mismatch': 2,
        'key-version-retired': 3,
        'verify-failed': 0,
        'not-checked': 0,
        'incomplete-upload': 1,
      },
    );
    assert.deepEqual(
      totals.keyVersions.map((row) => [row.version, row.objects, row.dataKeys]),
      [
        [1, 3, 5],
        [2, 4 + manyKeys.length, 5 + manyKeys.length],
      ],
    );
    assert.equal(totals.verified.objects, 0);
    assert.deepEqual([run.document.outcome.exitCode, run.document.outcome.verdict], [3, 'FAILED']);

    assert.match(run.stdout, /FAILED: unencrypted objects found \(exit status 3\)/);
    assert.match(run.stdout, /NO_ENVELOPE +s3:\/\/[^ ]+\/plain\/legacy\.txt/);
    assert.match(run.stdout, /min_decryption_version 2/);
    const md = run.markdown;
    assert.match(md, new RegExp(`^# Encryption audit of s3://${bucket}/$`, 'm'));
    assert.match(md, /\*\*Result: FAILED: .*\(exit status 3\)\.\*\*/);
    assert.match(md, new RegExp(`\\| Transit key \\| \`transit/${transitKey}\``));
    assert.match(md, /newest version 2, min_decryption_version 2, not exportable/);
    assert.match(md, /\| Tool \| cloudtaser-s3-proxy \d+\.\d+\.\d+ `audit`/);
    assert.match(md, /no object body read \(no --verify\)/);
    assert.match(md, /\| `bad\/no-nonce` \| malformed envelope \| `ENVELOPE_MISSING_FIELD` \|/);
    assert.match(md, /\| `bad\/short` \| stored size does not fit the envelope \| `SIZE_MISMATCH` \|/);
    assert.match(
      md,
      /\| `v1\/multipart` \| key version below min_decryption_version \| `KEY_VERSION_RETIRED` \|/,
    );
    assert.match(md, /\| `transit\/[^`]+` \| v1 \| 3 \| 5 \| below min_decryption_version 2/);
    assert.match(md, /\| `uploads\/pending` \| `[^`]+` \| \d{4}-\d\d-\d\dT[^|]+ \| 1 \| \d+ \|/);
    assert.match(md, /## What this audit does not prove/);
    for (const risk of RESIDUAL_RISKS) assert.ok(md.includes(`**${risk.title}.**`), risk.title);
  });

  it('--verify: every byte of every encrypted object authenticated; the flipped byte is SEGMENT_AUTH_FAILED, named', async () => {
    const run = await audit(`s3://${bucket}`, ['--verify']);
    assert.equal(run.code, 3, run.stderr);
    assert.deepEqual(statusOf(run.byKey), { ...expectedStatuses, 'v2/flipped': 'verify-failed' });
    const flipped = run.byKey.get('v2/flipped') as AuditRecord;
    assert.equal(flipped.failure?.code, 'SEGMENT_AUTH_FAILED');
    for (const key of ['v2/single', 'v2/multipart', ...manyKeys])
      assert.equal(run.byKey.get(key)?.verified, true, `${key} verified`);
    assert.equal(run.document.totals.verified.objects, 2 + manyKeys.length);
    assert.equal(
      run.document.totals.verified.plaintextBytes,
      200_000 + 5 * MiB + 1 + manyKeys.reduce((sum, _key, i) => sum + 2000 + i, 0),
    );
    assert.match(run.stderr, /verification failed: s3:\/\/[^ ]+\/v2\/flipped: SEGMENT_AUTH_FAILED/);
    assert.match(run.markdown, /\| `v2\/flipped` \| verification failed \| `SEGMENT_AUTH_FAILED` \|/);
    assert.match(
      run.markdown,
      /every stored byte of every encrypted object read and authenticated \(--verify\)/,
    );
  });

  it('exits 4 for integrity failures, 0 when everything checked passed, 5 for retired key versions', async () => {
    const v2 = await audit(`s3://${bucket}/v2/`);
    assert.equal(v2.code, 0, v2.stdout);
    assert.match(
      v2.markdown,
      /\*\*Result: PASSED: every object checked, and every check passed \(exit status 0\)\.\*\*/,
    );
    assert.match(v2.markdown, /\| Prefix \| `v2\/` \|/);
    const verified = await audit(`s3://${bucket}/v2/`, ['--verify']);
    assert.equal(verified.code, 4, verified.stdout);
    assert.match(verified.stdout, /SEGMENT_AUTH_FAILED +s3:\/\/[^ ]+\/v2\/flipped/);
    const bad = await audit(`s3://${bucket}/bad/`);
    assert.equal(bad.code, 4, bad.stdout);
    const v1 = await audit(`s3://${bucket}/v1/`);
    assert.equal(v1.code, 5, v1.stdout);
    assert.match(
      v1.markdown,
      /\*\*Result: FAILED: data keys under a key version below min_decryption_version \(exit status 5\)/,
    );
  });

  it("--verify fails an object whose sealed checksum is another object's (CHECKSUM_AUTH_FAILED), as the proxy's GET does", async () => {
    const sums = uniqueBucket('cli-audit-sums');
    await createBucket(client, sums);
    for (const [i, key] of ['a', 'b'].entries()) {
      await client.send(
        new PutObjectCommand({
          Bucket: sums,
          Key: key,
          Body: patternBytes(3000, 200 + i),
          ChecksumAlgorithm: 'CRC32',
        }),
      );
    }
    const sealedOfB = (await direct.send(new HeadObjectCommand({ Bucket: sums, Key: 'b' }))).Metadata?.[
      'cloudtaser-checksum'
    ];
    assert.ok(sealedOfB, 'the proxy sealed the client checksum of b');
    await alterStored(direct, sums, 'a', (saved) => {
      saved.metadata['cloudtaser-checksum'] = sealedOfB;
      return undefined;
    });

    const listed = await audit(`s3://${sums}`);
    assert.equal(listed.code, 0, listed.stdout);
    const verified = await audit(`s3://${sums}`, ['--verify']);
    assert.equal(verified.code, 4, verified.stdout);
    assert.deepEqual(statusOf(verified.byKey), { a: 'verify-failed', b: 'encrypted' });
    assert.equal(verified.byKey.get('a')?.failure?.code, 'CHECKSUM_AUTH_FAILED');
  });

  it('with a token that may not read the key settings, it says so and does not claim the min_decryption_version check', async () => {
    const run = await audit(`s3://${bucket}/v1/`, [], proxyToken);
    assert.equal(run.code, 0, run.stdout);
    assert.deepEqual(
      [...run.byKey.values()].map((record) => record.status),
      ['encrypted', 'encrypted', 'encrypted'],
    );
    assert.equal(run.document.audit.keyInfo[0]?.result.ok, false);
    assert.equal(run.document.audit.keyInfo[0]?.result.denied, true);
    const notRead = new RegExp(
      `not read \\(the token may not read transit/keys/${transitKey}\\): key versions below min_decryption_version were not looked for`,
    );
    assert.match(run.stdout, notRead);
    assert.match(run.markdown, notRead);
    // Verifying asks Transit, which refuses the retired version itself.
    const verified = await audit(`s3://${bucket}/v1/`, ['--verify'], proxyToken);
    assert.equal(verified.code, 5, verified.stdout);
    assert.equal(verified.byKey.get('v1/small')?.failure?.code, 'KEY_VERSION_RETIRED');
  });

  it('with a token that may not decrypt, --verify could not check the objects: exit 1, VAULT_DENIED', async () => {
    const run = await audit(`s3://${bucket}/v2/`, ['--verify', '--concurrency', '1'], listOnlyToken);
    assert.equal(run.code, 1, run.stdout);
    assert.deepEqual(
      [...run.byKey.values()].map((record) => [record.status, record.failure?.code]),
      [
        ['not-checked', 'VAULT_DENIED'],
        ['not-checked', 'VAULT_DENIED'],
        ['not-checked', 'VAULT_DENIED'],
      ],
    );
    assert.match(
      run.markdown,
      /\*\*Result: FAILED: could not check some objects \(or the bucket\) \(exit status 1\)/,
    );
  });

  it('--versions audits every version: a plaintext version under an encrypted current one is found', async () => {
    const current = await audit(`s3://${versioned}`);
    assert.equal(current.code, 0, current.stdout);
    assert.equal(current.document.objects.length, 1);
    const all = await audit(`s3://${versioned}`, ['--versions']);
    assert.equal(all.code, 3, all.stdout);
    const records = all.document.objects.map((record) => [record.key, record.latest, record.status]);
    assert.deepEqual(records.sort(), [
      ['doc', false, 'not-encrypted'],
      ['doc', true, 'encrypted'],
    ]);
    assert.ok(all.document.objects.every((record) => typeof record.versionId === 'string'));
    assert.match(all.markdown, /every version of every object \(--versions\)/);
    assert.match(all.markdown, /\| `doc \(version [^`]+\)` \| not encrypted \| `NO_ENVELOPE` \|/);
  });

  it('--verify-sample picks the same objects for the same seed, others for another, and verifies only those', async () => {
    const eligible = ['v2/flipped', 'v2/multipart', 'v2/single', ...manyKeys];
    const picked = (seed: string) => eligible.filter((key) => sampled(seed, key, null, 30)).sort();
    const verifiedOf = (run: Awaited<ReturnType<typeof audit>>) =>
      run.document.objects
        .filter((record) => record.verified || record.status === 'verify-failed')
        .map((record) => record.key)
        .sort();
    const first = await audit(`s3://${bucket}`, ['--verify-sample', '30', '--seed', 'seven']);
    const again = await audit(`s3://${bucket}`, ['--verify-sample', '30', '--seed', 'seven']);
    const other = await audit(`s3://${bucket}`, ['--verify-sample', '30', '--seed', 'eight']);
    assert.deepEqual(verifiedOf(first), picked('seven'));
    assert.deepEqual(verifiedOf(again), picked('seven'));
    assert.deepEqual(verifiedOf(other), picked('eight'));
    assert.notDeepEqual(picked('seven'), picked('eight'));
    assert.ok(picked('seven').length > 0 && picked('seven').length < eligible.length);
    assert.equal(first.document.audit.seed, 'seven');
    assert.match(first.markdown, /random 30 % of the encrypted objects .*seed seven/);
  });

  it('--max-objects stops (exit 6) and the same --state continues: two runs report what one run does', async () => {
    const state = join(dir, 'bounded.state');
    const part = await audit(`s3://${bucket}/v2/`, ['--max-objects', '2', '--state', state]);
    assert.equal(part.code, 6, part.stdout);
    assert.equal(part.document.objects.length, 2);
    assert.equal(part.document.complete, false);
    assert.match(
      part.markdown,
      /\| Complete \| \*\*no\*\*: stopped at --max-objects; run again with --state/,
    );
    const rest = await audit(`s3://${bucket}/v2/`, ['--max-objects', '2', '--state', state]);
    assert.equal(rest.code, 0, rest.stdout);
    assert.match(rest.stderr, /continuing .*: 2 objects checked by 1 earlier run/);
    assert.equal(rest.document.objects.length, 3);
    assert.equal(rest.document.runs.length, 2);
    assert.equal(rest.document.complete, true);
    const once = await audit(`s3://${bucket}/v2/`);
    assert.deepEqual(rest.document.totals, once.document.totals);
    assert.deepEqual(
      rest.document.objects.map((record) => [record.key, record.status, record.keyVersions]).sort(),
      once.document.objects.map((record) => [record.key, record.status, record.keyVersions]).sort(),
    );
    const again = await runTool(['audit', `s3://${bucket}/v2/`, '--state', state], env(auditToken));
    assert.equal(again.code, 2, 'a finished state file is not continued');
    assert.match(again.stderr, /finished at .*remove it/);
    const other = await runTool(
      ['audit', `s3://${bucket}/v2/`, '--verify', '--state', join(dir, 'bounded.state')],
      env(auditToken),
    );
    assert.equal(other.code, 2);
    assert.match(other.stderr, /the state of another audit \(verify "none" there, "all" now\)/);
  });

  it('interrupted by SIGINT and then killed by SIGKILL, the same --state continues and checks every object exactly once', async () => {
    const state = join(dir, 'interrupted.state');
    const args = ['audit', `s3://${bucket}/many/`, '--verify', '--concurrency', '1', '--state', state];
    /** The records in the state file; a line cut off by SIGKILL is none. */
    const recordLines = async () =>
      (await readFile(state, 'utf8').catch(() => ''))
        .split('\n')
        .filter((line) => line.startsWith('{"record"'))
        .flatMap((line) => {
          try {
            return [(JSON.parse(line) as { record: AuditRecord }).record];
          } catch {
            return [];
          }
        });
    const interrupt = async (signal: NodeJS.Signals, afterRecords: number) => {
      const child = spawn(process.execPath, ['src/main.ts', ...args], {
        cwd: REPO_ROOT,
        env: env(auditToken) as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
      });
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
        child.once('close', (code, signal) => done({ code, signal })),
      );
      let ended = false;
      void exited.then(() => {
        ended = true;
      });
      while (!ended && (await recordLines()).length < afterRecords) await sleep(5);
      child.kill(signal);
      return { ...(await exited), output };
    };

    const first = await interrupt('SIGINT', 3);
    assert.equal(first.code, 130, first.output);
    assert.match(first.output, /interrupted by a signal; run again with --state/);
    const afterFirst = (await recordLines()).length;
    assert.ok(afterFirst >= 3 && afterFirst < manyKeys.length, `${afterFirst} records after SIGINT`);

    const second = await interrupt('SIGKILL', afterFirst + 3);
    assert.equal(second.signal, 'SIGKILL', second.output);
    assert.ok((await recordLines()).length < manyKeys.length, 'killed before the end');

    const last = await audit(`s3://${bucket}/many/`, ['--verify', '--concurrency', '1', '--state', state]);
    assert.equal(last.code, 0, last.stdout);
    assert.equal(last.document.runs.length, 3);
    assert.deepEqual(last.document.objects.map((record) => record.key).sort(), manyKeys);
    assert.ok(last.document.objects.every((record) => record.verified));
    const records = (await recordLines()).map((record) => record.key);
    assert.equal(
      records.length,
      manyKeys.length,
      'every object was checked exactly once over the three runs',
    );
    assert.equal(new Set(records).size, manyKeys.length);
    assert.equal((await stat(state)).mode & 0o777, 0o600, 'the state file is readable by its owner only');
  });
});
