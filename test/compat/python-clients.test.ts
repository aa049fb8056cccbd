import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, startProxy } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';

const VENV_BIN = resolve(import.meta.dirname, '..', '..', '.venv', 'bin');

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, output }));
  });
}

describe('Python clients with their default settings', () => {
  let proxy: ProxyProcess;
  let workdir: string;

  before(async () => {
    proxy = await startProxy(await useServices());
    workdir = await mkdtemp(join(tmpdir(), 'cloudtaser-compat-'));
  });
  after(async () => {
    await proxy?.stop();
    await rm(workdir, { recursive: true, force: true });
  });

  it('boto3 round-trips 0 B to 20 MiB objects, HEAD and list sizes, and s3transfer-style ranged GETs', async () => {
    const result = await run(join(VENV_BIN, 'python'), [resolve(import.meta.dirname, 'boto3_roundtrip.py')], {
      PROXY_ENDPOINT: proxy.endpoint,
      BUCKET: uniqueBucket('boto3'),
    });
    assert.equal(result.code, 0, result.output);
  });

  it('the AWS CLI copies a file up and down again unchanged (single-part)', async () => {
    const bucket = uniqueBucket('awscli');
    const source = join(workdir, 'source.bin');
    const target = join(workdir, 'target.bin');
    const data = patternBytes(3 * 1024 * 1024 + 17, 21);
    await writeFile(source, data);
    const env = {
      AWS_ACCESS_KEY_ID: 'AKIDCLI',
      AWS_SECRET_ACCESS_KEY: 'cli-secret',
      AWS_DEFAULT_REGION: 'us-east-1',
    };
    const aws = (...args: string[]) =>
      run(join(VENV_BIN, 'aws'), ['--endpoint-url', proxy.endpoint, ...args], env);
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
