import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, httpStatusOf, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

/** Objects written before the proxy existed have no envelope (R-ENC-7). */
describe('objects stored without the envelope follow CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS', () => {
  let services: Services;
  let direct: S3Client;
  const bucket = uniqueBucket('legacy');
  const plaintext = patternBytes(70_000, 12);

  before(async () => {
    services = await useServices();
    direct = createS3Client(services);
    await direct.send(new CreateBucketCommand({ Bucket: bucket }));
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'old', Body: plaintext }));
  });

  describe('serve (the default)', () => {
    let proxy: ProxyProcess;
    let client: S3Client;
    before(async () => {
      proxy = await startProxy(services);
      client = proxyS3Client(proxy);
    });
    after(async () => {
      await proxy?.stop();
    });

    it('GET returns the stored bytes as they are, with their own ETag, and counts it', async () => {
      const stored = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'old' }));
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'old' }));
      assert.ok((await bodyBytes(got.Body)).equals(plaintext));
      assert.equal(got.ETag, stored.ETag);
      const ranged = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: 'old', Range: 'bytes=10-19' }),
      );
      assert.ok((await bodyBytes(ranged.Body)).equals(plaintext.subarray(10, 20)));
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'old' }));
      assert.equal(head.ContentLength, plaintext.length);
      const metrics = await (await fetch(`${proxy.healthEndpoint}/metrics`)).text();
      assert.match(metrics, /cloudtaser_s3proxy_unencrypted_objects_served_total 2/);
      assert.ok(await proxy.waitForLogRecord((r) => r.msg === 'served an object stored without encryption'));
    });
  });

  describe('refuse', () => {
    let proxy: ProxyProcess;
    let client: S3Client;
    before(async () => {
      proxy = await startProxy(services, { env: { CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS: 'refuse' } });
      client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    });
    after(async () => {
      await proxy?.stop();
    });

    it('GET answers 403 naming the policy, and encrypted objects still read', async () => {
      await assert.rejects(
        client.send(new GetObjectCommand({ Bucket: bucket, Key: 'old' })),
        (error: unknown) => {
          assert.equal(httpStatusOf(error), 403);
          assert.match(String((error as Error).message), /CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS/);
          return true;
        },
      );
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'new', Body: 'fresh' }));
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'new' }));
      assert.equal((await bodyBytes(got.Body)).toString(), 'fresh');
    });
  });
});
