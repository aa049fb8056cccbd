import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { runClient, VENV_BIN } from '../support/clients.ts';
import { uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, startProxy } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';

const BUILD = resolve(import.meta.dirname, '..', '..', 'scripts', 'build-sdk-clients.sh');

/**
 * The SDKs' own end-to-end check covers the proxy: a GET of an object they stored with their default
 * checksum comes back with that checksum, which they validate (docs/FORMAT.md 7.1, docs/CLIENTS.md).
 */
describe('SDKs validate the checksum of a GET through the proxy', () => {
  let proxy: ProxyProcess;

  before(async () => {
    proxy = await startProxy(await useServices());
  });
  after(async () => {
    await proxy?.stop();
  });

  it('boto3: get_object wraps the body in its checksum validation (StreamingChecksumBody); ranged reads carry no checksum; copies keep a valid one', async () => {
    const result = await runClient(
      resolve(VENV_BIN, 'python'),
      [resolve(import.meta.dirname, 'boto3_checksums.py')],
      { PROXY_ENDPOINT: proxy.endpoint, BUCKET: uniqueBucket('boto3-checksums') },
    );
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /boto3 checksums: 0 failures/);
  });

  it('Go SDK v2: GetObject validates the CRC32 and never logs "Response has no supported checksum"; a ranged GET does log it', async () => {
    const { stdout } = await promisify(execFile)('bash', [BUILD, '--print', 'go']);
    const result = await runClient(stdout.trim(), [], {
      PROXY_ENDPOINT: proxy.endpoint,
      BUCKET: uniqueBucket('go-checksums'),
      CHECKS: 'checksums',
    });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /ok GetObject validated by its CRC32 checksum\/65537/);
    assert.match(result.output, /go sdk: 0 failures/);
  });
});
