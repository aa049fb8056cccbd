import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { runClient, VENV_BIN } from '../support/clients.ts';
import { createBucket, MiB, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { type Services, useServices } from '../support/services.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * The format is a contract for years: a decoder written from docs/FORMAT.md alone (Python, `cryptography`),
 * with nothing but S3 read access and the seed's Transit policy, decrypts what the proxy stored.
 */
describe('the independent Python decoder decrypts objects the proxy stored', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let workdir: string;
  const bucket = uniqueBucket('decoder');

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    await createBucket(client, bucket);
    workdir = await mkdtemp(join(tmpdir(), 'cloudtaser-decoder-'));
  });
  after(async () => {
    await proxy?.stop();
    await rm(workdir, { recursive: true, force: true });
  });

  /** The decoder's s3 mode on one object, with the services' Transit key unless told another. */
  function decode(key: string, out: string, transitKey = services.vault.transitKey) {
    return runClient(
      join(VENV_BIN, 'python'),
      [
        join(ROOT, 'test', 'conformance', 'independent_decoder.py'),
        's3',
        '--endpoint',
        services.s3.endpoint,
        '--bucket',
        bucket,
        '--key',
        key,
        '--vault-addr',
        services.vault.directAddr,
        '--vault-token',
        services.vault.proxyToken,
        '--transit-mount',
        services.vault.transitMount,
        '--transit-key',
        transitKey,
        '--out',
        out,
      ],
      {
        AWS_ACCESS_KEY_ID: services.s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: services.s3.secretAccessKey,
        AWS_DEFAULT_REGION: services.s3.region,
      },
    );
  }

  for (const size of [0, 1, 65536, 65537, 2 * MiB + 9]) {
    it(`a ${size}-byte object, and the checksum its client sent`, async () => {
      const plaintext = patternBytes(size, size + 1);
      const key = `decoder/${size} bytes ü`;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: plaintext }));
      const out = join(workdir, `${size}.out`);
      const result = await decode(key, out);
      assert.equal(result.code, 0, result.output);
      assert.ok((await readFile(out)).equals(plaintext), 'decoded bytes equal what was written');
      // The SDK sent a CRC32 header; the proxy sealed it (FORMAT.md 7.1), the decoder opened and checked it.
      assert.match(result.output, /checksum CRC32:\S+ matches/);
    });
  }

  it('refuses an object that records another Transit key than the one it is given, writing nothing', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'decoder/other-key', Body: 'x' }));
    const out = join(workdir, 'other-key.out');
    const result = await decode('decoder/other-key', out, 'some-other-key');
    assert.equal(result.code, 1, result.output);
    assert.match(
      result.output,
      new RegExp(`records Transit key ${services.vault.transitMount}/${services.vault.transitKey}, not`),
    );
    await assert.rejects(readFile(out), 'no output file');
  });
});
