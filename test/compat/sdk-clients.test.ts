import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runClient, sdkClient } from '../support/clients.ts';
import { uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, startProxy } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';

describe('the AWS SDKs for Go v2 and Java v2 with their default settings', () => {
  let proxy: ProxyProcess;

  before(async () => {
    proxy = await startProxy(await useServices());
  });
  after(async () => {
    await proxy?.stop();
  });

  it('Go SDK v2: PutObject/GetObject with default checksums, manager Uploader/Downloader, transfermanager uploads and downloads by part number and by range', async () => {
    const [binary = ''] = await sdkClient('go');
    const result = await runClient(binary, [], {
      PROXY_ENDPOINT: proxy.endpoint,
      BUCKET: uniqueBucket('go-sdk'),
    });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /go sdk: 0 failures/);
  });

  it('Java SDK v2: sync client with default checksums, S3TransferManager upload, download and copy, the multipart client copyObject', async () => {
    const args = await sdkClient('java');
    const result = await runClient('java', args, {
      PROXY_ENDPOINT: proxy.endpoint,
      BUCKET: uniqueBucket('java-sdk'),
    });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /java sdk: 0 failures/);
  });
});
