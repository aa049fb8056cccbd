import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  bodyBytes,
  createBucket,
  errorCodeOf,
  httpStatusOf,
  patternBytes,
  uniqueBucket,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

describe('when Vault is unreachable, writes fail with 503 and store nothing; the proxy recovers by itself', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('outage');

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services, { env: { VAULT_MAX_RETRIES: '1' } });
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await services?.resumeVault();
    await proxy?.stop();
  });

  it('PUT answers 503 SlowDown while Vault is down, nothing appears upstream, and PUT works again once Vault is back', async () => {
    await services.pauseVault();
    try {
      await assert.rejects(
        client.send(new PutObjectCommand({ Bucket: bucket, Key: 'during-outage', Body: patternBytes(1000) })),
        (error: unknown) => {
          assert.equal(httpStatusOf(error), 503);
          assert.equal(errorCodeOf(error), 'SlowDown');
          return true;
        },
      );
      const ready = await fetch(`${proxy.healthEndpoint}/readyz`);
      assert.equal(ready.status, 503, '/readyz reports the outage');
      await ready.text();
    } finally {
      await services.resumeVault();
    }
    await assert.rejects(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'during-outage' })),
      (error: unknown) => {
        assert.equal(httpStatusOf(error), 404);
        return true;
      },
    );

    const plaintext = patternBytes(5000, 9);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'after-outage', Body: plaintext }));
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'after-outage' }));
    assert.ok((await bodyBytes(got.Body)).equals(plaintext));
  });

  it('a GET while Vault is down answers 503, not a corrupt or empty body', async () => {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'before-outage', Body: patternBytes(100) }),
    );
    await services.pauseVault();
    try {
      await assert.rejects(
        client.send(new GetObjectCommand({ Bucket: bucket, Key: 'before-outage' })),
        (error: unknown) => {
          assert.equal(httpStatusOf(error), 503);
          return true;
        },
      );
    } finally {
      await services.resumeVault();
    }
  });
});
