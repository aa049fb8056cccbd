import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { AWS_CLI_V2, runClient, VENV_BIN } from '../support/clients.ts';
import { patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';

/**
 * AWS CLI v1 from PyPI (.venv) and v2 from Debian (`awscli`, installed by scripts/install-tools.sh):
 * v2 has its own managed copy (`--copy-props`), which HEADs the source and sends its metadata back.
 */
const AWS_CLIS: Array<[string, string]> = [
  ['AWS CLI v1', join(VENV_BIN, 'aws')],
  ['AWS CLI v2', AWS_CLI_V2],
];

describe('Python clients with their default settings', () => {
  let proxy: ProxyProcess;
  let workdir: string;

  /** Runs one of the boto3 scripts beside this file against the proxy, in a bucket of its own. */
  const boto3Script = (script: string, bucketPrefix: string, env: Record<string, string> = {}) =>
    runClient(join(VENV_BIN, 'python'), [resolve(import.meta.dirname, script)], {
      PROXY_ENDPOINT: proxy.endpoint,
      BUCKET: uniqueBucket(bucketPrefix),
      ...env,
    });
  /** An AWS CLI (v1 by default) pointed at the proxy, with credentials of its own. */
  const awsCli =
    (command = join(VENV_BIN, 'aws')) =>
    (...args: string[]) =>
      runClient(command, ['--endpoint-url', proxy.endpoint, ...args], {
        AWS_ACCESS_KEY_ID: 'AKIDCLI',
        AWS_SECRET_ACCESS_KEY: 'cli-secret',
        AWS_DEFAULT_REGION: 'us-east-1',
      });

  before(async () => {
    proxy = await startProxy(await useServices());
    workdir = await mkdtemp(join(tmpdir(), 'cloudtaser-compat-'));
  });
  after(async () => {
    await proxy?.stop();
    await rm(workdir, { recursive: true, force: true });
  });

  it('boto3 round-trips 0 B to 20 MiB objects, HEAD and list sizes, and s3transfer-style ranged GETs', async () => {
    const result = await boto3Script('boto3_roundtrip.py', 'boto3');
    assert.equal(result.code, 0, result.output);
  });

  it('boto3 upload_file/download_file: multipart up with the default TransferConfig and with 5,000,000-byte parts, ranged GETs with If-Match down', async () => {
    const result = await boto3Script('boto3_multipart.py', 'boto3-mp', { WORKDIR: workdir });
    assert.equal(result.code, 0, result.output);
  });

  it('boto3 deletes objects, tags, bucket tagging, policy and lifecycle, aborts an upload and deletes the bucket', async () => {
    const result = await boto3Script('boto3_deletes.py', 'boto3-del');
    assert.equal(result.code, 0, result.output);
  });

  it('aws s3 rm deletes one object and, with --recursive, a prefix', async () => {
    const bucket = uniqueBucket('awsrm');
    const aws = awsCli();
    const file = join(workdir, 'rm-source.bin');
    await writeFile(file, patternBytes(1000, 4));
    assert.equal((await aws('s3', 'mb', `s3://${bucket}`)).code, 0);
    for (const key of ['one', 'tree/a', 'tree/b'])
      assert.equal((await aws('s3', 'cp', file, `s3://${bucket}/${key}`)).code, 0);
    let result = await aws('s3', 'rm', `s3://${bucket}/one`);
    assert.equal(result.code, 0, result.output);
    result = await aws('s3', 'rm', '--recursive', `s3://${bucket}/tree/`);
    assert.equal(result.code, 0, result.output);
    result = await aws('s3api', 'list-objects-v2', '--bucket', bucket);
    assert.equal(result.code, 0, result.output);
    assert.doesNotMatch(result.output, /"Key"/, 'nothing is left in the bucket');
    result = await aws('s3', 'rb', `s3://${bucket}`);
    assert.equal(result.code, 0, result.output);
  });

  it('boto3 managed copy (client.copy) of a 1 KiB and a 17 MiB multipart object reads back exactly', async () => {
    const result = await boto3Script('boto3_copy.py', 'boto3-copy');
    assert.equal(result.code, 0, result.output);
  });

  for (const [cli, command] of AWS_CLIS) {
    it(`${cli}: aws s3 cp s3→s3 of a 1 KiB and a 17 MiB multipart object, and back down unchanged`, async () => {
      const bucket = uniqueBucket('cli-copy');
      const aws = awsCli(command);
      assert.equal((await aws('s3', 'mb', `s3://${bucket}`)).code, 0);
      for (const [name, size] of [
        ['small', 1024],
        ['multipart', 17 * 1024 * 1024],
      ] as const) {
        const data = patternBytes(size, size + 3);
        const file = join(workdir, `${cli}-${name}.bin`);
        await writeFile(file, data);
        let result = await aws('s3', 'cp', file, `s3://${bucket}/src/${name}`, '--metadata', 'colour=red');
        assert.equal(result.code, 0, result.output);
        result = await aws('s3', 'cp', `s3://${bucket}/src/${name}`, `s3://${bucket}/dst/${name}`);
        assert.equal(result.code, 0, result.output);
        const back = join(workdir, `${cli}-${name}.back`);
        result = await aws('s3', 'cp', `s3://${bucket}/dst/${name}`, back);
        assert.equal(result.code, 0, result.output);
        assert.ok((await readFile(back)).equals(data), `${name}: the copy reads back exactly`);
        // CLI v1 drops user metadata on multipart copies, direct to S3 as well (aws/aws-cli#1145).
        if (cli === 'AWS CLI v1' && name === 'multipart') continue;
        result = await aws('s3api', 'head-object', '--bucket', bucket, '--key', `dst/${name}`);
        assert.match(result.output, /"colour": "red"/, `${name}: the copy keeps the user metadata`);
      }
    });
  }

  it('AWS CLI s3 sync up and down again; the second sync each way transfers nothing', async () => {
    const bucket = uniqueBucket('sync');
    const up = join(workdir, 'sync-up');
    const down = join(workdir, 'sync-down');
    await mkdir(join(up, 'nested'), { recursive: true });
    const files: Array<[string, Buffer]> = [
      ['small.txt', patternBytes(1000, 1)],
      ['nested/medium.bin', patternBytes(3 * 1024 * 1024 + 1, 2)],
      ['large.bin', patternBytes(20 * 1024 * 1024 + 333, 3)],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [name, data] of files) await writeFile(join(up, name), data);
    const aws = awsCli();
    assert.equal((await aws('s3', 'mb', `s3://${bucket}`)).code, 0);
    let result = await aws('s3', 'sync', up, `s3://${bucket}/tree`);
    assert.equal(result.code, 0, result.output);
    assert.equal((result.output.match(/upload:/g) ?? []).length, files.length, result.output);
    result = await aws('s3', 'sync', `s3://${bucket}/tree`, down);
    assert.equal(result.code, 0, result.output);
    for (const [name, data] of files) assert.ok((await readFile(join(down, name))).equals(data), name);
    result = await aws('s3', 'sync', `s3://${bucket}/tree`, down);
    assert.equal(result.code, 0, result.output);
    assert.doesNotMatch(result.output, /download:/, 'second sync down transfers nothing');
    result = await aws('s3', 'sync', down, `s3://${bucket}/tree`);
    assert.equal(result.code, 0, result.output);
    assert.doesNotMatch(result.output, /upload:/, 'sync back up transfers nothing');
  });

  it('curl: a presigned PUT then a presigned GET through the proxy', async () => {
    const bucket = uniqueBucket('curl');
    const client = proxyS3Client(proxy);
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const file = join(workdir, 'curl-up.bin');
    const data = patternBytes(777_777, 9);
    await writeFile(file, data);
    const putUrl = await getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: 'via-curl' }), {
      expiresIn: 300,
    });
    let result = await runClient('curl', ['-sS', '--fail-with-body', '-X', 'PUT', '-T', file, putUrl], {});
    assert.equal(result.code, 0, result.output);
    const getUrl = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: 'via-curl' }), {
      expiresIn: 300,
    });
    const target = join(workdir, 'curl-down.bin');
    result = await runClient('curl', ['-sS', '--fail-with-body', '-o', target, getUrl], {});
    assert.equal(result.code, 0, result.output);
    assert.ok((await readFile(target)).equals(data));
  });

  it('the AWS CLI copies a file up and down again unchanged (single-part)', async () => {
    const bucket = uniqueBucket('awscli');
    const source = join(workdir, 'source.bin');
    const target = join(workdir, 'target.bin');
    const data = patternBytes(3 * 1024 * 1024 + 17, 21);
    await writeFile(source, data);
    const aws = awsCli();
    let result = await aws('s3', 'mb', `s3://${bucket}`);
    assert.equal(result.code, 0, result.output);
    result = await aws('s3', 'cp', source, `s3://${bucket}/dir/file.bin`);
    assert.equal(result.code, 0, result.output);
    result = await aws('s3', 'cp', `s3://${bucket}/dir/file.bin`, target);
    assert.equal(result.code, 0, result.output);
    assert.ok((await readFile(target)).equals(data));
    result = await aws('s3', 'ls', `s3://${bucket}/dir/`);
    assert.match(result.output, new RegExp(`\\b${data.length}\\b`), 'the listing shows the plaintext size');
  });
});
