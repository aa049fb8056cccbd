import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createBucket, KiB, MiB, patternBytes, sha256, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import { readThrough, runTool, stored, toolEnv, uploadParts } from './cli-support.ts';

describe('decrypt recovers objects with only Vault and S3, no proxy running', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  let dir: string;
  let env: Record<string, string | undefined>;
  const bucket = uniqueBucket('cli-decrypt');
  const singles = new Map<string, Buffer>([
    ['single/empty', Buffer.alloc(0)],
    ['single/one', patternBytes(1, 1)],
    ['single/segment', patternBytes(64 * KiB, 2)],
    ['single/200000', patternBytes(200_000, 3)],
    ['single/3MiB', patternBytes(3 * MiB + 17, 4)],
  ]);
  const multiparts = new Map<string, Buffer[]>([
    ['multi/three-parts', [patternBytes(5 * MiB, 5), patternBytes(5 * MiB, 6), patternBytes(123, 7)]],
    ['multi/one-part', [patternBytes(70_000, 8)]],
  ]);
  const plaintextOf = (key: string): Buffer =>
    singles.get(key) ?? Buffer.concat(multiparts.get(key) ?? assert.fail(`no object ${key}`));

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    env = toolEnv(services);
    dir = await mkdtemp(join(tmpdir(), 'cli-decrypt-'));
    await createBucket(client, bucket);
    for (const [key, body] of singles)
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    for (const [key, parts] of multiparts) await uploadParts(client, bucket, key, parts);
    await direct.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'plain/old', Body: 'written before the proxy' }),
    );
  });
  after(async () => {
    await proxy?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('writes exactly what the proxy serves, for single-part and multipart objects', async () => {
    for (const key of [...singles.keys(), ...multiparts.keys()]) {
      const output = join(dir, key.replaceAll('/', '_'));
      const run = await runTool(['decrypt', `s3://${bucket}/${key}`, '--output', output], env);
      assert.equal(run.code, 0, `decrypt ${key}: ${run.stderr}`);
      const decrypted = await readFile(output);
      assert.equal(
        sha256(decrypted),
        sha256(await readThrough(client, bucket, key)),
        `${key}: same as the proxy's GET`,
      );
      assert.equal(sha256(decrypted), sha256(plaintextOf(key)), `${key}: the original plaintext`);
    }
  });

  it('writes to standard output with --output -', async () => {
    const run = await runTool(['decrypt', `s3://${bucket}/multi/one-part`, '--output', '-'], env);
    assert.equal(run.code, 0, run.stderr);
    // runProxyCli decodes stdout as UTF-8; compare a text object instead of binary bytes.
    const text = Buffer.from('plain text through stdout\n'.repeat(1000));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'single/text', Body: text }));
    const textRun = await runTool(['decrypt', `s3://${bucket}/single/text`, '-o', '-'], env);
    assert.equal(textRun.code, 0, textRun.stderr);
    assert.equal(textRun.stdout, text.toString());
  });

  it('decrypts a saved ciphertext file with its metadata (header names or head-object JSON), and multipart files alone', async () => {
    for (const key of singles.keys()) {
      const saved = await stored(direct, bucket, key);
      const input = join(dir, 'saved.bin');
      await writeFile(input, saved.bytes);
      const headerForm = Object.fromEntries(
        Object.entries(saved.metadata).map(([name, value]) => [`x-amz-meta-${name}`, value]),
      );
      const headObjectForm = {
        ContentLength: saved.bytes.length,
        ETag: saved.etag,
        Metadata: saved.metadata,
      };
      for (const [form, json] of [
        ['headers', headerForm],
        ['head-object', headObjectForm],
      ] as const) {
        const metadata = join(dir, `meta-${form}.json`);
        await writeFile(metadata, JSON.stringify(json));
        const output = join(dir, `local-${form}`);
        const run = await runTool(
          ['decrypt', '--input', input, '--metadata', metadata, '--output', output],
          env,
        );
        assert.equal(run.code, 0, `${key} (${form}): ${run.stderr}`);
        assert.equal(sha256(await readFile(output)), sha256(plaintextOf(key)), `${key} (${form})`);
      }
    }
    for (const key of multiparts.keys()) {
      const input = join(dir, 'saved-multipart.bin');
      await writeFile(input, (await stored(direct, bucket, key)).bytes);
      const output = join(dir, 'local-multipart');
      const run = await runTool(['decrypt', '--input', input, '--output', output], env);
      assert.equal(run.code, 0, `${key}: ${run.stderr}`);
      assert.equal(sha256(await readFile(output)), sha256(plaintextOf(key)), key);
    }
  });

  it('fails on a tampered object with a clear message and leaves no output file, complete or partial', async () => {
    const cases: Array<{ key: string; build: () => Promise<void>; code: RegExp }> = [
      {
        // The flipped byte is near the end: most of the plaintext was already written when it is found.
        key: 'tampered/single',
        code: /SEGMENT_AUTH_FAILED/,
        build: async () => {
          await client.send(
            new PutObjectCommand({ Bucket: bucket, Key: 'tampered/single', Body: patternBytes(3 * MiB, 9) }),
          );
          const saved = await stored(direct, bucket, 'tampered/single');
          const bytes = Buffer.from(saved.bytes);
          bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 1;
          await direct.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: 'tampered/single',
              Body: bytes,
              Metadata: saved.metadata,
            }),
          );
        },
      },
      {
        key: 'tampered/multipart',
        code: /SEGMENT_AUTH_FAILED/,
        build: async () => {
          await uploadParts(client, bucket, 'tampered/multipart', [
            patternBytes(5 * MiB, 10),
            patternBytes(MiB, 11),
          ]);
          const saved = await stored(direct, bucket, 'tampered/multipart');
          const bytes = Buffer.from(saved.bytes);
          bytes[bytes.length - 5000] = (bytes[bytes.length - 5000] as number) ^ 1;
          await direct.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: 'tampered/multipart',
              Body: bytes,
              Metadata: saved.metadata,
            }),
          );
        },
      },
      {
        key: 'tampered/truncated',
        code: /SIZE_MISMATCH|TRUNCATED/,
        build: async () => {
          await client.send(
            new PutObjectCommand({ Bucket: bucket, Key: 'tampered/truncated', Body: patternBytes(MiB, 12) }),
          );
          const saved = await stored(direct, bucket, 'tampered/truncated');
          await direct.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: 'tampered/truncated',
              Body: saved.bytes.subarray(0, saved.bytes.length - 65552),
              Metadata: saved.metadata,
            }),
          );
        },
      },
    ];
    for (const { key, build, code } of cases) {
      await build();
      const outDir = await mkdtemp(join(dir, 'tampered-'));
      const output = join(outDir, 'recovered');
      const run = await runTool(['decrypt', `s3://${bucket}/${key}`, '--output', output], env);
      assert.equal(run.code, 1, `${key}: exit status`);
      assert.match(run.stderr, code, `${key}: the failure is named`);
      assert.match(run.stderr, new RegExp(`s3://${bucket}/${key}`), `${key}: the object is named`);
      assert.deepEqual(await readdir(outDir), [], `${key}: nothing left in the output directory`);
    }
    // The same through a saved file.
    const saved = await stored(direct, bucket, 'tampered/multipart');
    const input = join(dir, 'tampered.bin');
    await writeFile(input, saved.bytes);
    const outDir = await mkdtemp(join(dir, 'tampered-local-'));
    const run = await runTool(['decrypt', '--input', input, '--output', join(outDir, 'recovered')], env);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /SEGMENT_AUTH_FAILED/);
    assert.deepEqual(await readdir(outDir), []);
  });

  it('refuses a saved single-part file whose metadata does not match, and one without metadata', async () => {
    const saved = await stored(direct, bucket, 'single/200000');
    const input = join(dir, 'mismatch.bin');
    await writeFile(input, saved.bytes);
    const metadata = join(dir, 'mismatch.json');
    await writeFile(
      metadata,
      JSON.stringify({ Metadata: { ...saved.metadata, 'cloudtaser-size': '199999' } }),
    );
    const mismatch = await runTool(
      ['decrypt', '--input', input, '--metadata', metadata, '-o', join(dir, 'x')],
      env,
    );
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /SIZE_MISMATCH/);
    const bare = await runTool(['decrypt', '--input', input, '-o', join(dir, 'x')], env);
    assert.notEqual(bare.code, 0);
    assert.match(bare.stderr, /needs --metadata/);
  });

  it('copies an object stored without encryption as it is, unless the policy refuses such objects', async () => {
    const output = join(dir, 'plain-old');
    const served = await runTool(['decrypt', `s3://${bucket}/plain/old`, '-o', output], env);
    assert.equal(served.code, 0, served.stderr);
    assert.match(served.stderr, /not encrypted/);
    assert.equal((await readFile(output)).toString(), 'written before the proxy');
    const refused = await runTool(['decrypt', `s3://${bucket}/plain/old`, '-o', join(dir, 'refused')], {
      ...env,
      CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS: 'refuse',
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not encrypted/);
  });

  it('fails clearly when the object does not exist or Vault refuses the key', async () => {
    const missing = await runTool(['decrypt', `s3://${bucket}/no/such/key`, '-o', join(dir, 'missing')], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such object/);
    const denied = await runTool(['decrypt', `s3://${bucket}/single/one`, '-o', join(dir, 'denied')], {
      ...env,
      VAULT_TOKEN: 'not-a-valid-token',
      VAULT_MAX_RETRIES: '0',
    });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /Vault denied/);
    assert.ok(!denied.stderr.includes('not-a-valid-token'), 'the token is never printed');
  });
});
