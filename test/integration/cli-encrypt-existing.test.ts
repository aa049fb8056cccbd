import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ciphertextSize } from '../../src/envelope/index.ts';
import {
  createBucket,
  KiB,
  MiB,
  patternBytes,
  seededRandom,
  sha256,
  uniqueBucket,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import { readThrough, runTool, stored, summaryOf, toolEnv } from './cli-support.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const TEMP_PREFIX = '.cloudtaser-encrypt-existing/';
// Small limits so that the 12 MiB object takes the multipart path (SeaweedFS requires 5 MiB parts, like S3).
const SIZE_OPTIONS = ['--max-single-size', '8MiB', '--part-size', '5MiB'];

type Original = {
  body: Buffer;
  contentType?: string;
  metadata?: Record<string, string>;
  tagging?: string;
};

describe('encrypt-existing encrypts plaintext objects in place, and an interruption at any moment loses nothing', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  let env: Record<string, string>;
  const bucket = uniqueBucket('cli-migrate');
  const originals = new Map<string, Original>();
  const seed = Number(process.env.CLI_KILL_SEED ?? Date.now() % 100_000);
  const random = seededRandom(seed);

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    env = Object.fromEntries(
      Object.entries({ PATH: process.env.PATH, ...toolEnv(services) }).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    );
    await createBucket(client, bucket);
    const sizes = [0, 1, 100, 65_535, 65_536, 65_537, 200_000, 3 * MiB + 1];
    for (let i = 0; i < 60; i++) {
      const size = i < sizes.length ? (sizes[i] as number) : Math.floor(random() * 300 * KiB);
      const original: Original = { body: patternBytes(size, i + 1) };
      if (i % 5 === 0) {
        original.contentType = `text/x-migrated-${i}`;
        original.metadata = { owner: `team-${i}`, note: 'kept' };
        original.tagging = `kind=legacy&index=${i}`;
      }
      originals.set(`data/object-${String(i).padStart(2, '0')}`, original);
    }
    originals.set('data/zz-large', {
      body: patternBytes(12 * MiB + 3, 99),
      contentType: 'application/x-large',
    });
    for (const [key, original] of originals) {
      await direct.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: original.body,
          ContentType: original.contentType,
          Metadata: original.metadata,
          Tagging: original.tagging,
        }),
      );
    }
    // Already encrypted: left alone.
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'data/encrypted', Body: patternBytes(5000, 77) }),
    );
    originals.set('data/encrypted', { body: patternBytes(5000, 77) });
  });
  after(async () => {
    await proxy?.stop();
  });

  /** Every object, read through the proxy, is exactly its original plaintext. */
  async function everyObjectReads(): Promise<void> {
    for (const [key, original] of originals) {
      assert.equal(
        sha256(await readThrough(client, bucket, key)),
        sha256(original.body),
        `${key} reads back exactly`,
      );
    }
  }

  async function temporaries(): Promise<string[]> {
    const listed = await direct.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: TEMP_PREFIX }));
    return (listed.Contents ?? []).map((entry) => entry.Key ?? '');
  }

  it('--dry-run changes nothing', async () => {
    const run = await runTool(['encrypt-existing', `s3://${bucket}/data/`, '--dry-run', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    const summary = summaryOf(run);
    assert.equal(summary.encrypted, 61);
    assert.equal(summary.skipped, 1);
    const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'data/object-07' }));
    assert.equal(head.Metadata?.['cloudtaser-format'], undefined);
  });

  it('killed (SIGKILL) at random moments, every object reads back exactly through the proxy, at every moment', async (t) => {
    // A reader that never stops while the tool runs and dies: any failed or wrong read is recorded.
    const problems: string[] = [];
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        for (const [key, original] of originals) {
          if (!reading) break;
          try {
            const bytes = await readThrough(client, bucket, key);
            if (sha256(bytes) !== sha256(original.body))
              problems.push(`${key}: wrong bytes (${bytes.length})`);
          } catch (error) {
            problems.push(`${key}: ${error instanceof Error ? error.message : String(error)}`);
          }
          reads++;
        }
      }
    })();

    const schedule: string[] = [];
    try {
      for (let round = 0; round < 6; round++) {
        const delayMs = Math.round(600 + random() * 3000);
        const child = spawn(
          process.execPath,
          ['src/main.ts', 'encrypt-existing', `s3://${bucket}/data/`, '--concurrency', '2', ...SIZE_OPTIONS],
          { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let stderr = '';
        child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
          stderr += chunk;
        });
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
          child.once('close', (code, signal) => done({ code, signal })),
        );
        await Promise.race([sleep(delayMs), exited]);
        child.kill('SIGKILL');
        const { code, signal } = await exited;
        const encryptedSoFar = (stderr.match(/^encrypted /gm) ?? []).length;
        const left = await temporaries();
        schedule.push(
          `round ${round}: ${delayMs} ms, ${signal ?? `exit ${code}`}, ${encryptedSoFar} encrypted, ${left.length} temporaries left`,
        );
        assert.ok(!/^failed /m.test(stderr), `no object failed before the kill:\n${stderr}`);
        // Between kills: a full pass over every object.
        await everyObjectReads();
      }
    } finally {
      reading = false;
      await reader;
      t.diagnostic(`kill seed ${seed} (CLI_KILL_SEED to replay)`);
      for (const line of schedule) t.diagnostic(line);
      t.diagnostic(`${reads} reads through the proxy while the tool ran and was killed`);
    }
    assert.deepEqual(problems, [], 'no read through the proxy failed or returned other bytes');
    assert.ok(reads > originals.size, 'the reader kept reading during the runs');
  });

  it('run again to completion: everything is encrypted, reads back exactly, keeps its metadata, and no temporary is left', async () => {
    const run = await runTool(['encrypt-existing', `s3://${bucket}/data/`, '--json', ...SIZE_OPTIONS], env);
    assert.equal(run.code, 0, run.stderr);
    const summary = summaryOf(run);
    assert.equal(summary.failed, 0, run.stderr);
    assert.equal((summary.encrypted as number) + (summary.skipped as number), 62);
    assert.deepEqual(await temporaries(), [], 'no temporary object left');
    const uploads = await direct.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: TEMP_PREFIX }),
    );
    assert.deepEqual(uploads.Uploads ?? [], [], 'no multipart upload of a temporary object left');

    for (const [key, original] of originals) {
      const saved = await stored(direct, bucket, key);
      const format = saved.metadata['cloudtaser-format'];
      if (key === 'data/zz-large') {
        assert.equal(format, 'v1-multipart', `${key} became a multipart object`);
        assert.match(saved.etag, /-3"$/, `${key}: one S3 part per encrypted part`);
      } else {
        assert.equal(format, 'v1', `${key} carries the envelope`);
        assert.equal(
          saved.bytes.length,
          ciphertextSize(original.body.length),
          `${key}: stored as ciphertext`,
        );
      }
      if (original.body.length >= 16)
        assert.ok(!saved.bytes.includes(original.body.subarray(0, 16)), `${key}: no plaintext stored`);
      if (original.contentType !== undefined)
        assert.equal(saved.contentType, original.contentType, `${key}: content type`);
      for (const [name, value] of Object.entries(original.metadata ?? {}))
        assert.equal(saved.metadata[name], value, `${key}: metadata ${name}`);
      if (original.tagging !== undefined) {
        const tags = await direct.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
        assert.deepEqual(
          (tags.TagSet ?? []).map((tag) => `${tag.Key}=${tag.Value}`).sort(),
          original.tagging.split('&').sort(),
          `${key}: tags`,
        );
      }
    }
    await everyObjectReads();

    const again = await runTool(['encrypt-existing', `s3://${bucket}/data/`, '--json'], env);
    assert.equal(again.code, 0, again.stderr);
    const second = summaryOf(again);
    assert.deepEqual(
      [second.encrypted, second.skipped, second.failed, second.temporariesRemoved],
      [0, 62, 0, 0],
    );
  });

  it('leaves an object alone when it changed while being encrypted (conditional replace)', async () => {
    const key = 'race/changing';
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: patternBytes(6 * MiB, 5) }));
    // A writer that keeps replacing the object: most attempts find it changed before the replace.
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await direct.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: patternBytes(6 * MiB, 100 + i) }),
        );
      }
    })();
    const run = await runTool(['encrypt-existing', `s3://${bucket}/race/`, '--json'], env);
    writing = false;
    await writer;
    const summary = summaryOf(run);
    assert.equal((summary.encrypted as number) + (summary.failed as number), 1);
    if (summary.failed === 1) assert.match(run.stderr, /changed while it was being encrypted/);
    // Whatever happened, the key holds a whole object that reads, and no temporary is left.
    const bytes = await readThrough(client, bucket, key);
    assert.equal(bytes.length, 6 * MiB);
    assert.deepEqual(await temporaries(), []);
  });
});
