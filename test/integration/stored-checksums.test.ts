/**
 * The client's full-object checksum of the plaintext, kept sealed in the envelope (docs/FORMAT.md 7.1) and
 * returned on GET and HEAD with x-amz-checksum-mode: ENABLED and in GetObjectAttributes, so that the SDK's
 * own end-to-end check covers the proxy. A sealed value that does not open fails the read.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  type ChecksumAlgorithm,
  CopyObjectCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  bodyBytes,
  createBucket,
  httpStatusOf,
  MiB,
  patternBytes,
  uniqueBucket,
  uploadParts,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { awsChunkedWithTrailer, crc32Base64, errorCode, rawRequest } from '../support/raw-http.ts';
import { createS3Client, type Services, useServices, vaultRequest } from '../support/services.ts';

const META_CHECKSUM = 'cloudtaser-checksum';

describe('the client’s checksum, sealed in the envelope and returned for SDKs to validate', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('checksums');
  const otherBucket = uniqueBucket('checksums-to');
  const data = patternBytes(70_000, 21);

  const getRaw = (key: string, headers: Record<string, string> = {}, method = 'GET') =>
    rawRequest(`${proxy.endpoint}/${bucket}/${encodeURIComponent(key)}`, { method, headers });

  /** Rewrites the object's metadata directly upstream (the provider's power), the stored bytes unchanged. */
  const setStoredMetadata = async (key: string, change: (metadata: Record<string, string>) => void) => {
    const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const metadata = { ...head.Metadata };
    change(metadata);
    await direct.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: key,
        CopySource: `${bucket}/${key}`,
        MetadataDirective: 'REPLACE',
        Metadata: metadata,
      }),
    );
  };

  /** The object's data key, unwrapped as the proxy would (the test holds the root token). */
  const dataKeyOf = async (key: string): Promise<Buffer> => {
    const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const unwrapped = await vaultRequest(
      services.vault,
      'POST',
      `transit/decrypt/${services.vault.transitKey}`,
      {
        body: { ciphertext: head.Metadata?.['cloudtaser-dek'] },
      },
    );
    const plaintext = (unwrapped.body?.data as { plaintext?: string } | undefined)?.plaintext;
    assert.ok(plaintext !== undefined, `Transit decrypt answered ${unwrapped.status}`);
    return Buffer.from(plaintext, 'base64');
  };

  /** docs/FORMAT.md 7.1, written here from the document: HKDF-SHA256 subkey, AES-256-GCM, random nonce. */
  const sealPerSpec = (dek: Buffer, text: string): string => {
    const key = Buffer.from(hkdfSync('sha256', dek, Buffer.alloc(0), 'cloudtaser-s3/v1/checksum', 32));
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from('cloudtaser-s3/v1/checksum'));
    const sealed = Buffer.concat([cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([nonce, sealed]).toString('base64');
  };

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
    await createBucket(client, otherBucket);
  });
  after(async () => {
    await proxy?.stop();
  });

  it('a PutObject with a checksum header stores it sealed: the provider sees no clear checksum', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'sealed', Body: data }));
    const stored = await direct.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'sealed', ChecksumMode: 'ENABLED' }),
    );
    const sealed = stored.Metadata?.[META_CHECKSUM];
    assert.ok(sealed !== undefined, 'the envelope carries a checksum');
    assert.ok(!sealed.includes(crc32Base64(data)), 'not the CRC32 in clear');
    assert.notEqual(stored.ChecksumCRC32, crc32Base64(data), 'nor as the upstream’s own checksum');
  });

  for (const algorithm of ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as ChecksumAlgorithm[]) {
    it(`GET with checksum mode returns the ${algorithm} the client sent, as FULL_OBJECT, and the SDK reads the body through its validation`, async () => {
      const key = `algorithm-${algorithm}`;
      const put = await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ChecksumAlgorithm: algorithm }),
      );
      const field = `Checksum${algorithm}` as const;
      assert.ok(put[field] !== undefined);
      const got = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }),
      );
      assert.equal(got[field], put[field]);
      assert.equal(got.ChecksumType, 'FULL_OBJECT');
      assert.ok((await bodyBytes(got.Body)).equals(data));
    });
  }

  it('HEAD returns it only with checksum mode; a Range or a partNumber read never carries it', async () => {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'reads', Body: data, ChecksumAlgorithm: 'CRC32' }),
    );
    const expected = crc32Base64(data);
    const plainHead = await getRaw('reads', {}, 'HEAD');
    assert.equal(plainHead.headers['x-amz-checksum-crc32'], undefined);
    const head = await getRaw('reads', { 'x-amz-checksum-mode': 'ENABLED' }, 'HEAD');
    assert.equal(head.headers['x-amz-checksum-crc32'], expected);
    assert.equal(head.headers['x-amz-checksum-type'], 'FULL_OBJECT');
    for (const headers of [
      { 'x-amz-checksum-mode': 'ENABLED', range: 'bytes=0-9' },
      { 'x-amz-checksum-mode': 'ENABLED', range: 'bytes=0-' },
    ]) {
      const ranged = await getRaw('reads', headers);
      assert.equal(ranged.status, 206);
      assert.equal(ranged.headers['x-amz-checksum-crc32'], undefined, JSON.stringify(headers));
    }
    const part = await rawRequest(`${proxy.endpoint}/${bucket}/reads?partNumber=1`, {
      method: 'GET',
      headers: { 'x-amz-checksum-mode': 'ENABLED' },
    });
    assert.equal(part.headers['x-amz-checksum-crc32'], undefined);
    const whole = await getRaw('reads');
    assert.equal(whole.headers['x-amz-checksum-crc32'], undefined, 'not without checksum mode');
  });

  it('GetObjectAttributes reports it as the object’s checksum', async () => {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'attributes', Body: data, ChecksumAlgorithm: 'SHA256' }),
    );
    const attributes = await client.send(
      new GetObjectAttributesCommand({
        Bucket: bucket,
        Key: 'attributes',
        ObjectAttributes: ['Checksum', 'ObjectSize', 'ETag'],
      }),
    );
    assert.equal(attributes.Checksum?.ChecksumSHA256, createHash('sha256').update(data).digest('base64'));
    assert.equal(attributes.Checksum?.ChecksumType, 'FULL_OBJECT');
    assert.equal(attributes.ObjectSize, data.length);
  });

  it('a tampered sealed checksum fails every GET of the object before its body, and HEAD and GetObjectAttributes that would return it', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'tampered', Body: data }));
    await setStoredMetadata('tampered', (metadata) => {
      const sealed = Buffer.from(metadata[META_CHECKSUM] ?? '', 'base64');
      sealed[sealed.length - 1] = (sealed[sealed.length - 1] ?? 0) ^ 1;
      metadata[META_CHECKSUM] = sealed.toString('base64');
    });
    for (const headers of [{ 'x-amz-checksum-mode': 'ENABLED' }, {}, { range: 'bytes=5-9' }] as Record<
      string,
      string
    >[]) {
      const got = await getRaw('tampered', headers);
      assert.equal(got.status, 500, JSON.stringify(headers));
      assert.equal(errorCode(got), 'InvalidEncryptedObject');
    }
    const head = await getRaw('tampered', { 'x-amz-checksum-mode': 'ENABLED' }, 'HEAD');
    assert.equal(head.status, 500);
    await assert.rejects(
      client.send(
        new GetObjectAttributesCommand({ Bucket: bucket, Key: 'tampered', ObjectAttributes: ['Checksum'] }),
      ),
      (error: unknown) => httpStatusOf(error) === 500,
    );
  });

  it('a checksum sealed under the object’s own key but of other bytes: the SDK’s validation rejects the GET', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'wrong', Body: data }));
    const dek = await dataKeyOf('wrong');
    await setStoredMetadata('wrong', (metadata) => {
      metadata[META_CHECKSUM] = sealPerSpec(dek, `CRC32:${crc32Base64(Buffer.from('other bytes'))}`);
    });
    const got = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: 'wrong', ChecksumMode: 'ENABLED' }),
    );
    assert.equal(got.ChecksumCRC32, crc32Base64(Buffer.from('other bytes')));
    await assert.rejects(bodyBytes(got.Body), /checksum/i);
    // The same value sealed for the right bytes is what the proxy itself stores, and the SDK accepts it.
    await setStoredMetadata('wrong', (metadata) => {
      metadata[META_CHECKSUM] = sealPerSpec(dek, `CRC32:${crc32Base64(data)}`);
    });
    const fixed = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: 'wrong', ChecksumMode: 'ENABLED' }),
    );
    assert.ok((await bodyBytes(fixed.Body)).equals(data));
  });

  it('CopyObject keeps a checksum that is still right, with COPY and REPLACE, into another bucket too', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy-source', Body: data }));
    const expected = crc32Base64(data);
    for (const [target, directive] of [
      [bucket, 'COPY'],
      [bucket, 'REPLACE'],
      [otherBucket, 'REPLACE'],
    ] as const) {
      await client.send(
        new CopyObjectCommand({
          Bucket: target,
          Key: `copy-${directive}`,
          CopySource: `${bucket}/copy-source`,
          MetadataDirective: directive,
          ...(directive === 'REPLACE' ? { Metadata: { colour: 'red' } } : {}),
        }),
      );
      const got = await client.send(
        new GetObjectCommand({ Bucket: target, Key: `copy-${directive}`, ChecksumMode: 'ENABLED' }),
      );
      assert.equal(got.ChecksumCRC32, expected, `${target} ${directive}`);
      assert.ok((await bodyBytes(got.Body)).equals(data));
    }
  });

  it('a PUT of unknown length that ends within one part keeps its trailer checksum (the plaintext is held before it goes upstream)', async () => {
    const small = patternBytes(100_000, 22);
    const response = await rawRequest(`${proxy.endpoint}/${bucket}/streamed`, {
      method: 'PUT',
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'transfer-encoding': 'chunked',
      },
      body: awsChunkedWithTrailer(small, 'x-amz-checksum-crc32', crc32Base64(small)),
    });
    assert.equal(response.status, 200, response.body);
    const got = await getRaw('streamed', { 'x-amz-checksum-mode': 'ENABLED' });
    assert.equal(got.headers['x-amz-checksum-crc32'], crc32Base64(small));
    assert.ok(got.bytes.equals(small));
  });

  it('where the checksum arrives after the metadata went upstream (a trailer with a known length, a multipart upload), none is returned and the object reads back', async () => {
    const stream = await new Upload({
      client,
      params: {
        Bucket: bucket,
        Key: 'multipart',
        Body: patternBytes(11 * MiB, 23),
        ChecksumAlgorithm: 'CRC32',
      },
      partSize: 5 * MiB,
    }).done();
    assert.ok(stream.ETag?.endsWith('-3"'));
    await uploadParts(client, bucket, 'parts', [patternBytes(5 * MiB, 24), patternBytes(7, 25)]);
    const trailer = patternBytes(80_000, 26);
    const put = await rawRequest(`${proxy.endpoint}/${bucket}/trailer`, {
      method: 'PUT',
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'x-amz-decoded-content-length': String(trailer.length),
      },
      body: awsChunkedWithTrailer(trailer, 'x-amz-checksum-crc32', crc32Base64(trailer)),
    });
    assert.equal(put.status, 200, put.body);
    for (const key of ['multipart', 'parts', 'trailer']) {
      const got = await getRaw(key, { 'x-amz-checksum-mode': 'ENABLED' });
      assert.equal(got.status, 200);
      assert.equal(
        Object.keys(got.headers).filter((name) => name.startsWith('x-amz-checksum')).length,
        0,
        key,
      );
    }
  });
});
