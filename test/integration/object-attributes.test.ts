import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  GetObjectAttributesCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createBucket, MiB, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { crc32Base64 } from '../support/raw-http.ts';
import { createS3Client, useServices } from '../support/services.ts';

const ATTRIBUTES = ['ETag', 'ObjectSize', 'ObjectParts', 'Checksum', 'StorageClass'] as const;

describe('GetObjectAttributes reports the plaintext, not what is stored', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('attributes');

  before(async () => {
    const services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await proxy?.stop();
  });

  it('single-part: the plaintext size, the ETag HEAD shows, no ciphertext checksum but the client’s own', async () => {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: patternBytes(100_000, 1) }),
    );
    const attributes = await client.send(
      new GetObjectAttributesCommand({ Bucket: bucket, Key: 'single', ObjectAttributes: [...ATTRIBUTES] }),
    );
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'single' }));
    assert.equal(attributes.ObjectSize, 100_000);
    assert.equal(attributes.ETag?.replaceAll('"', ''), head.ETag?.replaceAll('"', ''));
    // The SDK sent a CRC32 header with the PUT; the envelope keeps it (docs/decisions/0012).
    assert.deepEqual(attributes.Checksum, {
      ChecksumCRC32: crc32Base64(patternBytes(100_000, 1)),
      ChecksumType: 'FULL_OBJECT',
    });
  });

  it('multipart: the plaintext size of the whole object', async () => {
    const plaintext = patternBytes(11 * MiB + 3, 2);
    await new Upload({
      client,
      params: { Bucket: bucket, Key: 'multi', Body: plaintext },
      partSize: 5 * MiB,
    }).done();
    const attributes = await client.send(
      new GetObjectAttributesCommand({ Bucket: bucket, Key: 'multi', ObjectAttributes: [...ATTRIBUTES] }),
    );
    assert.equal(attributes.ObjectSize, plaintext.length);
    for (const part of attributes.ObjectParts?.Parts ?? [])
      assert.ok((part.Size ?? 0) <= 5 * MiB, 'part sizes are plaintext sizes');
  });

  it('an object stored without the envelope is described as it is', async () => {
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain', Body: 'hello' }));
    const attributes = await client.send(
      new GetObjectAttributesCommand({ Bucket: bucket, Key: 'plain', ObjectAttributes: [...ATTRIBUTES] }),
    );
    assert.equal(attributes.ObjectSize, 5);
    assert.equal(attributes.ETag?.replaceAll('"', ''), '5d41402abc4b2a76b9719d911017c592');
  });
});
