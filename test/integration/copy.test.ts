import assert from 'node:assert/strict';
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
import { Upload } from '@aws-sdk/lib-storage';
import {
  bodyBytes,
  createBucket,
  httpStatusOf,
  MiB,
  patternBytes,
  uniqueBucket,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

describe('copies keep the envelope valid', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('copy');
  const otherBucket = uniqueBucket('copy-to');
  const plaintext = patternBytes(300_000, 31);
  const multipartPlain = patternBytes(12 * MiB + 5, 32);

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
    await createBucket(client, otherBucket);
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'source',
        Body: plaintext,
        ContentType: 'text/x-one',
        Metadata: { colour: 'red' },
      }),
    );
    await new Upload({
      client,
      params: { Bucket: bucket, Key: 'mp-source', Body: multipartPlain },
      partSize: 5 * MiB,
    }).done();
  });
  after(async () => {
    await proxy?.stop();
  });

  const read = async (b: string, key: string) =>
    bodyBytes((await client.send(new GetObjectCommand({ Bucket: b, Key: key }))).Body);

  it('CopyObject with COPY gives a readable copy with the same metadata, in the same and in another bucket', async () => {
    const result = await client.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'copied', CopySource: `${bucket}/source` }),
    );
    assert.ok((await read(bucket, 'copied')).equals(plaintext));
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'copied' }));
    assert.equal(head.Metadata?.colour, 'red');
    assert.equal(head.ContentLength, plaintext.length);
    assert.equal(result.CopyObjectResult?.ETag, head.ETag, 'the copy result shows the ETag HEAD shows');
    await client.send(
      new CopyObjectCommand({ Bucket: otherBucket, Key: 'across', CopySource: `${bucket}/source` }),
    );
    assert.ok((await read(otherBucket, 'across')).equals(plaintext));
  });

  it('CopyObject with REPLACE takes the new metadata and keeps the envelope', async () => {
    await client.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'replaced',
        CopySource: `${bucket}/source`,
        MetadataDirective: 'REPLACE',
        ContentType: 'text/x-two',
        Metadata: { colour: 'blue' },
      }),
    );
    assert.ok((await read(bucket, 'replaced')).equals(plaintext));
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'replaced' }));
    assert.equal(head.Metadata?.colour, 'blue');
    assert.equal(head.ContentType, 'text/x-two');
    assert.equal(head.Metadata?.['cloudtaser-format'], 'v1');
  });

  it('a multipart object copies with COPY and with REPLACE and reads back', async () => {
    await client.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'mp-copied', CopySource: `${bucket}/mp-source` }),
    );
    assert.ok((await read(bucket, 'mp-copied')).equals(multipartPlain));
    await client.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'mp-replaced',
        CopySource: `${bucket}/mp-source`,
        MetadataDirective: 'REPLACE',
        Metadata: { a: 'b' },
      }),
    );
    assert.ok((await read(bucket, 'mp-replaced')).equals(multipartPlain));
    const ranged = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: 'mp-replaced', Range: 'bytes=5242000-5243999' }),
    );
    assert.ok((await bodyBytes(ranged.Body)).equals(multipartPlain.subarray(5242000, 5244000)));
  });

  it('copy conditions use the ETags the client knows', async () => {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'source' }));
    await client.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'conditional',
        CopySource: `${bucket}/source`,
        CopySourceIfMatch: head.ETag,
      }),
    );
    assert.ok((await read(bucket, 'conditional')).equals(plaintext));
    await assert.rejects(
      client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: 'conditional-2',
          CopySource: `${bucket}/source`,
          CopySourceIfNoneMatch: head.ETag,
        }),
      ),
      (error: unknown) => httpStatusOf(error) === 412,
    );
  });

  // Managed copies (s3transfer, AWS CLI v2, Java's S3TransferManager, mc) HEAD the source and send back
  // every x-amz-meta-* they saw, the proxy's envelope included (COMPAT 23, R-ENC-6).
  const storedMetadata = async (b: string, key: string) =>
    (await direct.send(new HeadObjectCommand({ Bucket: b, Key: key }))).Metadata ?? {};

  it('a REPLACE copy that sends back the metadata HEAD showed, envelope included, keeps the source envelope and reads back', async () => {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'source' }));
    assert.equal(head.Metadata?.['cloudtaser-format'], 'v1', 'HEAD shows the envelope to the client');
    await client.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'managed-copy',
        CopySource: `${bucket}/source`,
        MetadataDirective: 'REPLACE',
        Metadata: { ...head.Metadata, colour: 'green' },
      }),
    );
    assert.ok((await read(bucket, 'managed-copy')).equals(plaintext));
    const source = await storedMetadata(bucket, 'source');
    const copy = await storedMetadata(bucket, 'managed-copy');
    assert.equal(copy.colour, 'green');
    for (const name of ['cloudtaser-format', 'cloudtaser-dek', 'cloudtaser-nonce', 'cloudtaser-size'])
      assert.equal(copy[name], source[name], name);
  });

  it('a forged envelope on a REPLACE copy is dropped: the proxy writes the source envelope, not the client one', async () => {
    await client.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'forged',
        CopySource: `${bucket}/source`,
        MetadataDirective: 'REPLACE',
        Metadata: { 'cloudtaser-dek': 'vault:v1:forged', 'cloudtaser-size': '1', 'cloudtaser-extra': 'x' },
      }),
    );
    assert.ok((await read(bucket, 'forged')).equals(plaintext));
    const source = await storedMetadata(bucket, 'source');
    const copy = await storedMetadata(bucket, 'forged');
    assert.equal(copy['cloudtaser-dek'], source['cloudtaser-dek']);
    assert.equal(copy['cloudtaser-size'], String(plaintext.length));
    assert.equal(copy['cloudtaser-extra'], undefined, 'no client header of the envelope prefix is stored');
  });

  it('PutObject with envelope headers stores the proxy envelope and reads back', async () => {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'put-forged',
        Body: plaintext,
        Metadata: { 'cloudtaser-format': 'v1-multipart', 'cloudtaser-dek': 'vault:v1:forged', colour: 'red' },
      }),
    );
    assert.ok((await read(bucket, 'put-forged')).equals(plaintext));
    const stored = await storedMetadata(bucket, 'put-forged');
    assert.equal(stored['cloudtaser-format'], 'v1');
    assert.notEqual(stored['cloudtaser-dek'], 'vault:v1:forged');
    assert.equal(stored.colour, 'red');
  });

  it('a multipart copy that sends a single-part source envelope on CreateMultipartUpload gets the multipart envelope and reads back', async () => {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'source' }));
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: 'managed-mp-copy',
        Metadata: head.Metadata,
        ContentType: head.ContentType,
      }),
    );
    const part = await client.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: 'managed-mp-copy',
        UploadId,
        PartNumber: 1,
        CopySource: `${bucket}/source`,
        CopySourceRange: `bytes=0-${plaintext.length - 1}`,
      }),
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'managed-mp-copy',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult?.ETag }] },
      }),
    );
    assert.ok((await read(bucket, 'managed-mp-copy')).equals(plaintext));
    const stored = await storedMetadata(bucket, 'managed-mp-copy');
    assert.equal(stored['cloudtaser-format'], 'v1-multipart');
    assert.equal(
      stored['cloudtaser-dek'],
      undefined,
      "the source's single-part key is not stored on the copy",
    );
    assert.equal(stored.colour, 'red', 'user metadata is kept');
  });

  it('UploadPartCopy re-encrypts plaintext ranges of single-part, multipart and unencrypted sources into a readable object', async () => {
    await direct.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'legacy-source', Body: patternBytes(6 * MiB, 33) }),
    );
    const legacy = patternBytes(6 * MiB, 33);
    const key = 'assembled';
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const pieces: Array<[string, string | undefined, Buffer]> = [
      ['mp-source', 'bytes=1000-5243879', multipartPlain.subarray(1000, 5243880)],
      ['legacy-source', 'bytes=0-5242879', legacy.subarray(0, 5242880)],
      ['source', undefined, plaintext],
    ];
    const parts = [];
    for (const [index, [source, range, _]] of pieces.entries()) {
      const result = await client.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          PartNumber: index + 1,
          CopySource: `${bucket}/${source}`,
          CopySourceRange: range,
        }),
      );
      parts.push({ PartNumber: index + 1, ETag: result.CopyPartResult?.ETag });
    }
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    const expected = Buffer.concat(pieces.map(([, , data]) => data));
    assert.ok((await read(bucket, key)).equals(expected));
    const stored = await bodyBytes(
      (await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body,
    );
    assert.equal(stored.indexOf(legacy.subarray(0, 64)), -1, 'the copied plaintext is stored encrypted');
  });
});
