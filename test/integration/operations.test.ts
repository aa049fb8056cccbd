import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createBucket, httpStatusOf, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, useServices } from '../support/services.ts';

describe('operations: passthrough where no object data moves, refusal where data would go upstream unencrypted', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('operations');

  before(async () => {
    const services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await proxy?.stop();
  });

  it('DeleteObject, DeleteObjects and object tagging pass through', async () => {
    for (const key of ['d1', 'd2', 'd3'])
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    await client.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: 'd1',
        Tagging: { TagSet: [{ Key: 'team', Value: 'blue' }] },
      }),
    );
    const tags = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'd1' }));
    assert.deepEqual(tags.TagSet, [{ Key: 'team', Value: 'blue' }]);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'd1' }));
    await client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'd2' }, { Key: 'd3' }] } }),
    );
    for (const key of ['d1', 'd2', 'd3']) {
      await assert.rejects(
        direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key })),
        (e: unknown) => httpStatusOf(e) === 404,
      );
    }
  });

  it('a missing object gives the upstream 404 NoSuchKey as S3 XML', async () => {
    const response = await fetch(`${proxy.endpoint}/${bucket}/absent`);
    assert.equal(response.status, 404);
    assert.match(await response.text(), /NoSuchKey/);
  });

  it('a browser-form POST and SelectObjectContent are refused with 501 and never reach the upstream', async () => {
    const form = new FormData();
    form.append('key', 'posted');
    form.append('file', new Blob(['plaintext']));
    const post = await fetch(`${proxy.endpoint}/${bucket}`, { method: 'POST', body: form });
    assert.equal(post.status, 501);
    assert.match(await post.text(), /<Code>NotImplemented<\/Code>/);
    const select = await fetch(`${proxy.endpoint}/${bucket}/d1?select&select-type=2`, {
      method: 'POST',
      body: '<SelectObjectContentRequest/>',
    });
    assert.equal(select.status, 501);
    await select.text();
    await assert.rejects(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'posted' })),
      (e: unknown) => httpStatusOf(e) === 404,
    );
  });

  it('errors carry an x-amz-request-id and HEAD errors have no body', async () => {
    const response = await fetch(`${proxy.endpoint}/${bucket}/absent`, { method: 'HEAD' });
    assert.equal(response.status, 404);
    assert.ok(response.headers.get('x-amz-request-id'));
    assert.equal(await response.text(), '');
  });
});

describe('health, readiness and metrics', () => {
  let proxy: ProxyProcess;

  before(async () => {
    proxy = await startProxy(await useServices());
  });
  after(async () => {
    await proxy?.stop();
  });

  it('/healthz and /readyz answer 200 when Vault and the upstream are usable', async () => {
    const health = await fetch(`${proxy.healthEndpoint}/healthz`);
    assert.equal(health.status, 200);
    await health.text();
    const ready = await fetch(`${proxy.healthEndpoint}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
  });

  it('/metrics counts requests by operation and status, plaintext bytes and Vault calls', async () => {
    const client = proxyS3Client(proxy);
    const bucket = uniqueBucket('metrics');
    await createBucket(client, bucket);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'm', Body: Buffer.alloc(1234, 1) }));
    const text = await (await fetch(`${proxy.healthEndpoint}/metrics`)).text();
    assert.match(text, /cloudtaser_s3proxy_requests_total\{operation="PutObject",status="200"\} 1/);
    assert.match(text, /cloudtaser_s3proxy_plaintext_bytes_in_total 1234/);
    assert.match(text, /cloudtaser_s3proxy_vault_requests_total\{call="encrypt",outcome="ok"\} \d+/);
    assert.match(text, /cloudtaser_s3proxy_request_duration_seconds_bucket/);
  });

  it('SIGTERM stops the proxy cleanly', async () => {
    const exit = await proxy.stop('SIGTERM');
    assert.equal(exit.code, 0);
  });
});
