import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createBucket, MiB, patternBytes, sha256, uniqueBucket } from '../support/fixtures.ts';
import { proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';

describe('SIGTERM with a request in flight', () => {
  it('finishes the request, then exits 0 as soon as it is done rather than when the grace period ends', async () => {
    // A grace period far longer than the 15 s after which stop() sends SIGKILL: a proxy that keeps the
    // finished request's keep-alive connection open until the grace period ends is killed.
    const proxy = await startProxy(await useServices(), {
      env: { CLOUDTASER_S3PROXY_SHUTDOWN_GRACE: '120s' },
    });
    try {
      const client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
      const bucket = uniqueBucket('shutdown');
      await createBucket(client, bucket);
      const plaintext = patternBytes(8 * MiB, 8);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'in-flight', Body: plaintext }));
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'in-flight' }));
      const hash = createHash('sha256');
      let stopping: ReturnType<typeof proxy.stop> | undefined;
      for await (const chunk of response.Body as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        stopping ??= proxy.stop('SIGTERM');
      }
      assert.equal(hash.digest('hex'), sha256(plaintext), 'the request in flight is complete');
      assert.deepEqual(await stopping, { code: 0, signal: null }, proxy.logs());
    } finally {
      await proxy.stop('SIGKILL');
    }
  });
});
