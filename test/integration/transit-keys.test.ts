import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import {
  bodyBytes,
  createBucket,
  MiB,
  patternBytes,
  uniqueBucket,
  uploadParts,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import {
  createTransitKey,
  firstPartDek,
  storedMetadata,
  tokenForKeys,
  unwrapsUnder,
} from './transit-keys-support.ts';
import { metric, metricsOf, rejection } from './vault-support.ts';

const suffix = () => randomBytes(4).toString('hex');

async function get(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return bodyBytes(response.Body);
}

describe('Transit keys per bucket and prefix (CLOUDTASER_S3PROXY_TRANSIT_KEYS)', () => {
  let services: Services;
  let direct: S3Client;
  let proxy: ProxyProcess;
  let client: S3Client;
  const id = suffix();
  const keyA = `tenant-a-${id}`;
  const keyB = `tenant-b-${id}`;
  const keyExports = `exports-${id}`;
  const keyNew = `tenant-c-${id}`;
  const bucketA = uniqueBucket('tenant-a');
  const bucketB = uniqueBucket('tenant-b');
  const bucketC = uniqueBucket('tenant-c');
  let mapping: string;
  let tokenAll: string;
  const extraProxies: ProxyProcess[] = [];

  const startWith = async (env: Record<string, string>): Promise<ProxyProcess> => {
    const started = await startProxy(services, { env: { VAULT_MAX_RETRIES: '0', ...env } });
    extraProxies.push(started);
    return started;
  };

  before(async () => {
    services = await useServices();
    direct = createS3Client(services);
    for (const key of [keyA, keyB, keyExports, keyNew]) await createTransitKey(services.vault, key);
    const everyKey = [services.vault.transitKey, keyA, keyB, keyExports, keyNew];
    tokenAll = await tokenForKeys(services.vault, `tenants-all-${id}`, everyKey);
    mapping = `${bucketA}=${keyA},${bucketB}=${keyB},${bucketA}/exports/=${keyExports}`;
    for (const bucket of [bucketA, bucketB, bucketC]) await createBucket(direct, bucket);
    proxy = await startWith({ CLOUDTASER_S3PROXY_TRANSIT_KEYS: mapping, VAULT_TOKEN: tokenAll });
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
  });

  after(async () => {
    client?.destroy();
    direct?.destroy();
    await Promise.all(extraProxies.map((started) => started.stop()));
  });

  it("wraps each bucket's objects under its own key, records it, and the other key cannot unwrap them", async () => {
    const bodyA = patternBytes(100_000, 1);
    const bodyB = patternBytes(100_000, 2);
    await client.send(new PutObjectCommand({ Bucket: bucketA, Key: 'a.bin', Body: bodyA }));
    await client.send(new PutObjectCommand({ Bucket: bucketB, Key: 'b.bin', Body: bodyB }));
    const metaA = await storedMetadata(direct, bucketA, 'a.bin');
    const metaB = await storedMetadata(direct, bucketB, 'b.bin');
    assert.equal(metaA['cloudtaser-transit-key'], `transit/${keyA}`);
    assert.equal(metaB['cloudtaser-transit-key'], `transit/${keyB}`);
    const dekA = metaA['cloudtaser-dek'] as string;
    const dekB = metaB['cloudtaser-dek'] as string;
    assert.equal(await unwrapsUnder(services.vault, keyA, dekA), true);
    assert.equal(
      await unwrapsUnder(services.vault, keyB, dekA),
      false,
      "bucket A's data key is not B's to unwrap",
    );
    assert.equal(await unwrapsUnder(services.vault, keyB, dekB), true);
    assert.equal(
      await unwrapsUnder(services.vault, keyA, dekB),
      false,
      "bucket B's data key is not A's to unwrap",
    );
    assert.ok((await get(client, bucketA, 'a.bin')).equals(bodyA));
    assert.ok((await get(client, bucketB, 'b.bin')).equals(bodyB));
  });

  it('uses the longest matching prefix, and the default key for an unmapped bucket', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucketA, Key: 'exports/2026.csv', Body: 'x,y\n' }));
    await client.send(new PutObjectCommand({ Bucket: bucketA, Key: 'exportsnot/a', Body: 'a' }));
    await client.send(new PutObjectCommand({ Bucket: bucketC, Key: 'c', Body: 'c' }));
    assert.equal(
      (await storedMetadata(direct, bucketA, 'exports/2026.csv'))['cloudtaser-transit-key'],
      `transit/${keyExports}`,
    );
    assert.equal(
      (await storedMetadata(direct, bucketA, 'exportsnot/a'))['cloudtaser-transit-key'],
      `transit/${keyA}`,
    );
    assert.equal(
      (await storedMetadata(direct, bucketC, 'c'))['cloudtaser-transit-key'],
      `transit/${services.vault.transitKey}`,
    );
    assert.equal((await get(client, bucketA, 'exports/2026.csv')).toString(), 'x,y\n');
  });

  it('records the key of a multipart upload at CreateMultipartUpload and wraps every part under it', async () => {
    const parts = [patternBytes(5 * MiB, 3), patternBytes(MiB, 4)];
    await uploadParts(client, bucketB, 'multi.bin', parts);
    assert.equal(
      (await storedMetadata(direct, bucketB, 'multi.bin'))['cloudtaser-transit-key'],
      `transit/${keyB}`,
    );
    const dek = await firstPartDek(direct, bucketB, 'multi.bin');
    assert.equal(await unwrapsUnder(services.vault, keyB, dek), true);
    assert.equal(await unwrapsUnder(services.vault, keyA, dek), false);
    assert.ok((await get(client, bucketB, 'multi.bin')).equals(Buffer.concat(parts)));
  });

  it('with a token lacking key B: 403 AccessDenied naming the key on bucket B, bucket A still works, /readyz says which key', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucketB, Key: 'before.bin', Body: 'tenant b' }));
    const tokenNoB = await tokenForKeys(services.vault, `tenants-no-b-${id}`, [
      services.vault.transitKey,
      keyA,
      keyExports,
    ]);
    const limited = await startWith({ CLOUDTASER_S3PROXY_TRANSIT_KEYS: mapping, VAULT_TOKEN: tokenNoB });
    const limitedClient = proxyS3Client(limited, { config: { maxAttempts: 1 } });
    try {
      const read = await rejection(get(limitedClient, bucketB, 'before.bin'));
      assert.equal(read.status, 403);
      assert.equal(read.code, 'AccessDenied');
      assert.match(read.message, new RegExp(`Transit key transit/${keyB}`));
      const write = await rejection(
        limitedClient.send(new PutObjectCommand({ Bucket: bucketB, Key: 'denied.bin', Body: 'x' })),
      );
      assert.equal(write.status, 403);
      assert.equal(write.code, 'AccessDenied');
      await assert.rejects(
        direct.send(new GetObjectCommand({ Bucket: bucketB, Key: 'denied.bin' })),
        'nothing stored',
      );

      await limitedClient.send(
        new PutObjectCommand({ Bucket: bucketA, Key: 'limited.bin', Body: 'tenant a' }),
      );
      assert.equal((await get(limitedClient, bucketA, 'limited.bin')).toString(), 'tenant a');

      const ready = await fetch(`${limited.healthEndpoint}/readyz`);
      const text = await ready.text();
      assert.equal(ready.status, 503);
      assert.match(text, new RegExp(`transit/${keyB}`));
      assert.doesNotMatch(
        text,
        new RegExp(`transit/${keyA}:`),
        'the usable keys are not reported as failing',
      );
    } finally {
      limitedClient.destroy();
    }
    const fullReady = await fetch(`${proxy.healthEndpoint}/readyz`);
    assert.equal(fullReady.status, 200, await fullReady.text());
  });

  it('after a mapping change, objects written before still read back exactly when the former key is listed', async () => {
    const old = patternBytes(70_000, 5);
    await client.send(new PutObjectCommand({ Bucket: bucketC, Key: 'old.bin', Body: old }));
    await uploadParts(client, bucketC, 'old-multi.bin', [patternBytes(5 * MiB, 6), patternBytes(10, 7)]);

    const moved = await startWith({
      CLOUDTASER_S3PROXY_TRANSIT_KEYS: `${mapping},${bucketC}=${keyNew}|${services.vault.transitMount}:${services.vault.transitKey}`,
      VAULT_TOKEN: tokenAll,
    });
    const movedClient = proxyS3Client(moved, { config: { maxAttempts: 1 } });
    try {
      assert.ok((await get(movedClient, bucketC, 'old.bin')).equals(old));
      assert.ok(
        (await get(movedClient, bucketC, 'old-multi.bin')).equals(
          Buffer.concat([patternBytes(5 * MiB, 6), patternBytes(10, 7)]),
        ),
      );
      await movedClient.send(new PutObjectCommand({ Bucket: bucketC, Key: 'new.bin', Body: 'new' }));
      assert.equal(
        (await storedMetadata(direct, bucketC, 'new.bin'))['cloudtaser-transit-key'],
        `transit/${keyNew}`,
      );
      assert.equal((await get(movedClient, bucketC, 'new.bin')).toString(), 'new');
    } finally {
      movedClient.destroy();
    }

    const strict = await startWith({
      CLOUDTASER_S3PROXY_TRANSIT_KEYS: `${mapping},${bucketC}=${keyNew}`,
      VAULT_TOKEN: tokenAll,
    });
    const strictClient = proxyS3Client(strict, { config: { maxAttempts: 1 } });
    try {
      const refused = await rejection(get(strictClient, bucketC, 'old.bin'));
      assert.equal(refused.status, 403);
      assert.equal(refused.code, 'AccessDenied');
      assert.match(refused.message, /list the former key after the new one/);
    } finally {
      strictClient.destroy();
    }
  });

  it('CopyObject to a bucket of another key seals the copy again under the destination key (single-part and multipart source)', async () => {
    const single = patternBytes(200_000, 8);
    await client.send(
      new PutObjectCommand({
        Bucket: bucketA,
        Key: 'src.bin',
        Body: single,
        Metadata: { owner: 'a' },
        ContentType: 'text/plain',
        ChecksumSHA256: createHash('sha256').update(single).digest('base64'),
      }),
    );
    await client.send(
      new CopyObjectCommand({ Bucket: bucketB, Key: 'copied.bin', CopySource: `${bucketA}/src.bin` }),
    );
    // The client's checksum (sealed in the envelope) is sealed again under the copy's data key.
    const checksums = await Promise.all(
      [
        [bucketA, 'src.bin'],
        [bucketB, 'copied.bin'],
      ].map(
        async ([Bucket, Key]) =>
          (await client.send(new HeadObjectCommand({ Bucket, Key, ChecksumMode: 'ENABLED' }))).ChecksumSHA256,
      ),
    );
    assert.equal(checksums[0], createHash('sha256').update(single).digest('base64'));
    assert.equal(checksums[1], checksums[0]);
    const meta = await storedMetadata(direct, bucketB, 'copied.bin');
    assert.equal(meta['cloudtaser-transit-key'], `transit/${keyB}`);
    assert.equal(meta.owner, 'a', 'user metadata is copied (COPY directive)');
    assert.equal(await unwrapsUnder(services.vault, keyB, meta['cloudtaser-dek'] as string), true);
    const copied = await client.send(new GetObjectCommand({ Bucket: bucketB, Key: 'copied.bin' }));
    assert.equal(copied.ContentType, 'text/plain');
    assert.ok((await bodyBytes(copied.Body)).equals(single));

    const parts = [patternBytes(5 * MiB, 9), patternBytes(3000, 10)];
    await uploadParts(client, bucketB, 'multi-src.bin', parts);
    await client.send(
      new CopyObjectCommand({
        Bucket: bucketA,
        Key: 'from-multi.bin',
        CopySource: `${bucketB}/multi-src.bin`,
      }),
    );
    const fromMulti = await storedMetadata(direct, bucketA, 'from-multi.bin');
    assert.equal(fromMulti['cloudtaser-transit-key'], `transit/${keyA}`);
    assert.equal(await unwrapsUnder(services.vault, keyA, fromMulti['cloudtaser-dek'] as string), true);
    assert.ok((await get(client, bucketA, 'from-multi.bin')).equals(Buffer.concat(parts)));

    // Within one key the copy stays a server-side copy of the stored bytes, recording the same key.
    await client.send(
      new CopyObjectCommand({ Bucket: bucketA, Key: 'same.bin', CopySource: `${bucketA}/src.bin` }),
    );
    const same = await storedMetadata(direct, bucketA, 'same.bin');
    assert.equal(
      same['cloudtaser-dek'],
      (await storedMetadata(direct, bucketA, 'src.bin'))['cloudtaser-dek'],
    );
    assert.ok((await get(client, bucketA, 'same.bin')).equals(single));
  });

  it('UploadPartCopy from a bucket of another key wraps the new part under the destination key', async () => {
    const source = patternBytes(6 * MiB, 11);
    await uploadParts(client, bucketA, 'part-src.bin', [
      source.subarray(0, 5 * MiB),
      source.subarray(5 * MiB),
    ]);
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucketB, Key: 'assembled.bin' }),
    );
    const first = await client.send(
      new UploadPartCopyCommand({
        Bucket: bucketB,
        Key: 'assembled.bin',
        UploadId,
        PartNumber: 1,
        CopySource: `${bucketA}/part-src.bin`,
        CopySourceRange: `bytes=0-${5 * MiB - 1}`,
      }),
    );
    const second = await client.send(
      new UploadPartCopyCommand({
        Bucket: bucketB,
        Key: 'assembled.bin',
        UploadId,
        PartNumber: 2,
        CopySource: `${bucketA}/a.bin`,
      }),
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucketB,
        Key: 'assembled.bin',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: first.CopyPartResult?.ETag },
            { PartNumber: 2, ETag: second.CopyPartResult?.ETag },
          ],
        },
      }),
    );
    assert.equal(
      (await storedMetadata(direct, bucketB, 'assembled.bin'))['cloudtaser-transit-key'],
      `transit/${keyB}`,
    );
    const dek = await firstPartDek(direct, bucketB, 'assembled.bin');
    assert.equal(await unwrapsUnder(services.vault, keyB, dek), true);
    assert.ok(
      (await get(client, bucketB, 'assembled.bin')).equals(
        Buffer.concat([source.subarray(0, 5 * MiB), patternBytes(100_000, 1)]),
      ),
    );
  });

  it('labels the key pool and cache metrics with the Transit key, one series per configured key', async () => {
    const text = await metricsOf(proxy);
    for (const key of [services.vault.transitKey, keyA, keyB, keyExports])
      assert.ok(
        text.includes(`key_pool_refills_total{outcome="ok",transit_key="transit/${key}"}`),
        `a refill series for transit/${key}`,
      );
    assert.ok(metric(text, 'key_cache_lookups_total', { transit_key: `transit/${keyA}` }) > 0);
    assert.doesNotMatch(text, new RegExp(`transit_key="[^"]*${bucketA}`), 'bucket names are no label');
  });
});
