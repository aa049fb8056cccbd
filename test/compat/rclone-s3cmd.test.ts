import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runClient, VENV_BIN } from '../support/clients.ts';
import { patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, startProxy } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';

/**
 * rclone and s3cmd compare ETags with MD5s they compute (COMPAT "ETag as MD5"); through the proxy they must
 * neither report corruption nor retry: the proxy's ETags for encrypted objects are not MD5-shaped.
 */
describe('rclone and s3cmd, which check ETags against their own MD5s', () => {
  let proxy: ProxyProcess;
  let workdir: string;

  before(async () => {
    proxy = await startProxy(await useServices());
    workdir = await mkdtemp(join(tmpdir(), 'cloudtaser-rclone-'));
  });
  after(async () => {
    await proxy?.stop();
    await rm(workdir, { recursive: true, force: true });
  });

  it('rclone copy up (single-part and multipart), rclone check, and copy down give the same bytes', async () => {
    const bucket = uniqueBucket('rclone');
    const source = join(workdir, 'rclone-src');
    const target = join(workdir, 'rclone-dst');
    await mkdir(source, { recursive: true });
    const files: Array<[string, Buffer]> = [
      ['small.bin', patternBytes(70_000, 1)],
      ['large.bin', patternBytes(24 * 1024 * 1024 + 5, 2)],
    ];
    for (const [name, data] of files) await writeFile(join(source, name), data);
    const env = {
      RCLONE_CONFIG_PROXY_TYPE: 's3',
      RCLONE_CONFIG_PROXY_PROVIDER: 'Other',
      RCLONE_CONFIG_PROXY_ENDPOINT: proxy.endpoint,
      RCLONE_CONFIG_PROXY_ACCESS_KEY_ID: 'AKIDRCLONE',
      RCLONE_CONFIG_PROXY_SECRET_ACCESS_KEY: 'rclone-secret',
      RCLONE_CONFIG_PROXY_FORCE_PATH_STYLE: 'true',
      RCLONE_CONFIG_PROXY_REGION: 'us-east-1',
      RCLONE_S3_UPLOAD_CUTOFF: '8M',
      RCLONE_S3_CHUNK_SIZE: '8M',
    };
    const rclone = (...args: string[]) =>
      runClient(join(VENV_BIN, 'rclone'), ['--config', '/dev/null', ...args], env);
    let result = await rclone('mkdir', `proxy:${bucket}`);
    assert.equal(result.code, 0, result.output);
    result = await rclone('copy', source, `proxy:${bucket}/tree`);
    assert.equal(result.code, 0, result.output);
    assert.doesNotMatch(result.output, /corrupt|differ|mismatch/i, result.output);
    result = await rclone('check', source, `proxy:${bucket}/tree`);
    assert.equal(result.code, 0, result.output);
    result = await rclone('copy', `proxy:${bucket}/tree`, target);
    assert.equal(result.code, 0, result.output);
    for (const [name, data] of files) assert.ok((await readFile(join(target, name))).equals(data), name);
    result = await rclone('lsl', `proxy:${bucket}/tree`);
    for (const [name, data] of files)
      assert.match(result.output, new RegExp(`\\b${data.length}\\b.*${name.replace('.', '\\.')}`));
  });

  it('s3cmd put and get round-trip a file without an MD5 complaint', async () => {
    const bucket = uniqueBucket('s3cmd');
    const file = join(workdir, 's3cmd-up.bin');
    const back = join(workdir, 's3cmd-down.bin');
    const data = patternBytes(3 * 1024 * 1024 + 3, 4);
    await writeFile(file, data);
    const host = new URL(proxy.endpoint).host;
    const s3cmd = (...args: string[]) =>
      runClient(join(VENV_BIN, 's3cmd'), [
        '--no-ssl',
        `--host=${host}`,
        `--host-bucket=${host}`,
        '--access_key=AKIDS3CMD',
        '--secret_key=s3cmd-secret',
        '--region=us-east-1',
        '--config=/dev/null',
        ...args,
      ]);
    let result = await s3cmd('mb', `s3://${bucket}`);
    assert.equal(result.code, 0, result.output);
    result = await s3cmd('put', file, `s3://${bucket}/file.bin`);
    assert.equal(result.code, 0, result.output);
    assert.doesNotMatch(result.output, /MD5 Sums don't match|WARNING: MD5/i, result.output);
    result = await s3cmd('get', '--force', `s3://${bucket}/file.bin`, back);
    assert.equal(result.code, 0, result.output);
    assert.doesNotMatch(result.output, /MD5 signatures do not match|WARNING: MD5/i, result.output);
    assert.ok((await readFile(back)).equals(data));
  });
});
