import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type MountedCredentials, mountCredentials } from '../support/client-credentials.ts';
import { runClient, sdkClient, VENV_BIN } from '../support/clients.ts';
import { startCountingRelay } from '../support/counting-relay.ts';
import { createBucket, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';

const CLIENT = { accessKeyId: 'COMPATCLIENT01', secretAccessKey: 'compat-client-secret-0123456789' };
/** The keys test/compat/go-client and java-client are built with: listed here, the clients run unchanged. */
const GO_SDK = { accessKeyId: 'AKIDGOCLIENT', secretAccessKey: 'go-client-secret' };
const JAVA_SDK = { accessKeyId: 'AKIDJAVACLIENT', secretAccessKey: 'java-client-secret' };
const ADMIN = { accessKeyId: 'COMPATADMIN01', secretAccessKey: 'compat-admin-secret-0123456789' };

/**
 * The real clients users have, configured with a listed client credential and nothing else, against a
 * proxy that requires signed requests (R-REL-5): their own SigV4 signing (boto3/botocore, the AWS CLI,
 * rclone's Go SDK, s3cmd) verifies, and a key or bucket outside the credentials is refused.
 */
describe('real clients with a listed client credential', () => {
  let proxy: ProxyProcess;
  let mounted: MountedCredentials;
  let workdir: string;
  const otherBucket = uniqueBucket('compat-other');

  before(async () => {
    mounted = await mountCredentials([
      { ...CLIENT, allow: [{ bucket: 'compat-auth-*' }] },
      { ...GO_SDK, allow: [{ bucket: 'go-sdk-auth-*' }] },
      { ...JAVA_SDK, allow: [{ bucket: 'java-sdk-auth-*' }] },
      { ...ADMIN, allow: [{ bucket: '*' }] },
    ]);
    proxy = await startProxy(await useServices(), {
      env: { CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE: mounted.path },
    });
    workdir = await mkdtemp(join(tmpdir(), 'cloudtaser-compat-auth-'));
    await createBucket(proxyS3Client(proxy, { config: { credentials: { ...ADMIN } } }), otherBucket);
  });
  after(async () => {
    await proxy?.stop();
    await mounted?.remove();
    await rm(workdir, { recursive: true, force: true });
  });

  it('boto3: path and virtual-hosted style, single-part, multipart, copy, presigned (SigV2 by default, and SigV4); wrong secret, tampered URL and foreign bucket refused', async () => {
    const bucket = uniqueBucket('compat-auth-boto3');
    await createBucket(proxyS3Client(proxy, { config: { credentials: { ...CLIENT } } }), bucket);
    const result = await runClient(
      join(VENV_BIN, 'python'),
      [resolve(import.meta.dirname, 'boto3_client_auth.py')],
      {
        PROXY_ENDPOINT: proxy.endpoint,
        BUCKET: bucket,
        OTHER_BUCKET: otherBucket,
        ACCESS_KEY: CLIENT.accessKeyId,
        SECRET_KEY: CLIENT.secretAccessKey,
      },
    );
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /boto3 client auth: 0 failures/);
  });

  it('AWS CLI: mb, cp up (single-part and multipart) and down, ls; a wrong secret is SignatureDoesNotMatch', async () => {
    const bucket = uniqueBucket('compat-auth-cli');
    const files: Array<[string, Buffer]> = [
      ['small.bin', patternBytes(3 * 1024 * 1024 + 1, 1)],
      ['large.bin', patternBytes(20 * 1024 * 1024 + 9, 2)],
    ];
    const aws = (secret: string, ...args: string[]) =>
      runClient(join(VENV_BIN, 'aws'), ['--endpoint-url', proxy.endpoint, ...args], {
        AWS_ACCESS_KEY_ID: CLIENT.accessKeyId,
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_DEFAULT_REGION: 'us-east-1',
      });
    let result = await aws(CLIENT.secretAccessKey, 's3', 'mb', `s3://${bucket}`);
    assert.equal(result.code, 0, result.output);
    for (const [name, data] of files) {
      const source = join(workdir, `cli-${name}`);
      const target = join(workdir, `cli-back-${name}`);
      await writeFile(source, data);
      result = await aws(CLIENT.secretAccessKey, 's3', 'cp', source, `s3://${bucket}/${name}`);
      assert.equal(result.code, 0, result.output);
      result = await aws(CLIENT.secretAccessKey, 's3', 'cp', `s3://${bucket}/${name}`, target);
      assert.equal(result.code, 0, result.output);
      assert.ok((await readFile(target)).equals(data), name);
    }
    result = await aws(CLIENT.secretAccessKey, 's3', 'ls', `s3://${bucket}/`);
    assert.match(result.output, new RegExp(`\\b${20 * 1024 * 1024 + 9}\\b large\\.bin`));
    result = await aws('not-the-secret-0123456789', 's3api', 'head-bucket', '--bucket', bucket);
    assert.notEqual(result.code, 0);
    result = await aws(
      'not-the-secret-0123456789',
      's3api',
      'get-object',
      '--bucket',
      bucket,
      '--key',
      'small.bin',
      join(workdir, 'x'),
    );
    assert.match(result.output, /SignatureDoesNotMatch/);
    result = await aws(CLIENT.secretAccessKey, 's3', 'ls', `s3://${otherBucket}/`);
    assert.match(result.output, /AccessDenied/);
  });

  it('rclone: mkdir, copy up (single-part and multipart), check and copy down with its own signatures', async () => {
    const bucket = uniqueBucket('compat-auth-rclone');
    const source = join(workdir, 'rclone-src');
    const target = join(workdir, 'rclone-dst');
    await mkdir(source, { recursive: true });
    const files: Array<[string, Buffer]> = [
      ['small.bin', patternBytes(70_000, 3)],
      ['large.bin', patternBytes(24 * 1024 * 1024 + 5, 4)],
    ];
    for (const [name, data] of files) await writeFile(join(source, name), data);
    const rclone = (secret: string, ...args: string[]) =>
      runClient(join(VENV_BIN, 'rclone'), ['--config', '/dev/null', ...args], {
        RCLONE_CONFIG_PROXY_TYPE: 's3',
        RCLONE_CONFIG_PROXY_PROVIDER: 'Other',
        RCLONE_CONFIG_PROXY_ENDPOINT: proxy.endpoint,
        RCLONE_CONFIG_PROXY_ACCESS_KEY_ID: CLIENT.accessKeyId,
        RCLONE_CONFIG_PROXY_SECRET_ACCESS_KEY: secret,
        RCLONE_CONFIG_PROXY_FORCE_PATH_STYLE: 'true',
        RCLONE_CONFIG_PROXY_REGION: 'us-east-1',
        RCLONE_S3_UPLOAD_CUTOFF: '8M',
        RCLONE_S3_CHUNK_SIZE: '8M',
        RCLONE_LOW_LEVEL_RETRIES: '1',
        RCLONE_RETRIES: '1',
      });
    let result = await rclone(CLIENT.secretAccessKey, 'mkdir', `proxy:${bucket}`);
    assert.equal(result.code, 0, result.output);
    result = await rclone(CLIENT.secretAccessKey, 'copy', source, `proxy:${bucket}/tree`);
    assert.equal(result.code, 0, result.output);
    result = await rclone(CLIENT.secretAccessKey, 'check', source, `proxy:${bucket}/tree`);
    assert.equal(result.code, 0, result.output);
    result = await rclone(CLIENT.secretAccessKey, 'copy', `proxy:${bucket}/tree`, target);
    assert.equal(result.code, 0, result.output);
    for (const [name, data] of files) assert.ok((await readFile(join(target, name))).equals(data), name);
    result = await rclone('not-the-secret-0123456789', 'lsf', `proxy:${bucket}/tree`);
    assert.notEqual(result.code, 0);
    assert.match(result.output, /SignatureDoesNotMatch/);
  });

  it('s3cmd: put, get and ls with its SigV4 signing', async () => {
    const bucket = uniqueBucket('compat-auth-s3cmd');
    const file = join(workdir, 's3cmd-up.bin');
    const back = join(workdir, 's3cmd-down.bin');
    const data = patternBytes(3 * 1024 * 1024 + 3, 5);
    await writeFile(file, data);
    const host = new URL(proxy.endpoint).host;
    const s3cmd = (secret: string, ...args: string[]) =>
      runClient(join(VENV_BIN, 's3cmd'), [
        '--no-ssl',
        `--host=${host}`,
        `--host-bucket=${host}`,
        `--access_key=${CLIENT.accessKeyId}`,
        `--secret_key=${secret}`,
        '--region=us-east-1',
        '--config=/dev/null',
        ...args,
      ]);
    let result = await s3cmd(CLIENT.secretAccessKey, 'mb', `s3://${bucket}`);
    assert.equal(result.code, 0, result.output);
    result = await s3cmd(CLIENT.secretAccessKey, 'put', file, `s3://${bucket}/dir/file.bin`);
    assert.equal(result.code, 0, result.output);
    result = await s3cmd(CLIENT.secretAccessKey, 'get', '--force', `s3://${bucket}/dir/file.bin`, back);
    assert.equal(result.code, 0, result.output);
    assert.ok((await readFile(back)).equals(data));
    result = await s3cmd(CLIENT.secretAccessKey, 'ls', `s3://${bucket}/dir/`);
    assert.match(result.output, /file\.bin/);
    result = await s3cmd('not-the-secret-0123456789', 'ls', `s3://${bucket}/dir/`);
    assert.notEqual(result.code, 0);
    assert.match(result.output, /SignatureDoesNotMatch/);
  });

  it('Go SDK v2 (default checksums, manager and transfermanager uploads and downloads) with its listed key', async () => {
    const [binary = ''] = await sdkClient('go');
    const result = await runClient(binary, [], {
      PROXY_ENDPOINT: proxy.endpoint,
      BUCKET: uniqueBucket('go-sdk-auth'),
    });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /go sdk: 0 failures/);
  });

  it('Java SDK v2 (sync client, S3TransferManager, multipart copy) with its listed key, its signed aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER) verified', async () => {
    const args = await sdkClient('java');
    // A pass-through relay in front of the proxy records which payload forms the client really sent.
    const relay = await startCountingRelay(proxy.endpoint);
    try {
      const result = await runClient('java', args, {
        PROXY_ENDPOINT: relay.endpoint,
        BUCKET: uniqueBucket('java-sdk-auth'),
      });
      assert.equal(result.code, 0, result.output);
      assert.match(result.output, /java sdk: 0 failures/);
      const forms = relay.seen().map((r) => `${r.method} ${r.payload}`);
      assert.ok(forms.includes('PUT STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'), forms.join('\n'));
    } finally {
      await relay.close();
    }
  });

  it('the Go and Java SDKs are refused for a bucket outside their grants', async () => {
    const [binary = ''] = await sdkClient('go');
    const result = await runClient(binary, [], {
      PROXY_ENDPOINT: proxy.endpoint,
      BUCKET: uniqueBucket('compat-auth-go'),
    });
    assert.notEqual(result.code, 0);
    assert.match(result.output, /AccessDenied/);
  });
});
