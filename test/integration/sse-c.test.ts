/**
 * Objects written with SSE-C (a customer-provided key for the provider's own encryption, layered under the
 * proxy's) read back exactly: every upstream request the proxy makes for a client request carries that
 * request's key (layout discovery, authentication reads, the HEAD before a range, copy sources), and a
 * client without the key is refused as SeaweedFS refuses it, even after another client's reads were cached.
 *
 * SeaweedFS 4.48 implements SSE-C (checked directly below: without the key it refuses the object).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import {
  bodyBytes,
  createBucket,
  httpStatusOf,
  MiB,
  patternBytes,
  uniqueBucket,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

type CustomerKey = { SSECustomerAlgorithm: 'AES256'; SSECustomerKey: string };
const customerKey = (): CustomerKey => ({
  SSECustomerAlgorithm: 'AES256',
  SSECustomerKey: randomBytes(32).toString('base64'),
});
const asCopySource = (key: CustomerKey) => ({
  CopySourceSSECustomerAlgorithm: key.SSECustomerAlgorithm,
  CopySourceSSECustomerKey: key.SSECustomerKey,
});
const sseHeaders = (key: CustomerKey) => ({
  'x-amz-server-side-encryption-customer-algorithm': 'AES256',
  'x-amz-server-side-encryption-customer-key': key.SSECustomerKey,
  'x-amz-server-side-encryption-customer-key-md5': createHash('md5')
    .update(Buffer.from(key.SSECustomerKey, 'base64'))
    .digest('base64'),
});

/** Parts that are not multiples of 64 KiB, so part offsets in plaintext and in storage differ. */
const UNALIGNED_PARTS = [patternBytes(5 * MiB + 3, 1), patternBytes(5 * MiB + 1000, 2), patternBytes(7, 3)];
const UNALIGNED = Buffer.concat(UNALIGNED_PARTS);

describe('objects written with SSE-C', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('sse-c');
  const key = customerKey();
  const other = customerKey();
  const single = patternBytes(200_000, 9);

  const statusOf = async (send: () => Promise<unknown>): Promise<number | undefined> => {
    try {
      await send();
      return 200;
    } catch (error) {
      return httpStatusOf(error);
    }
  };
  const read = async (client: S3Client, input: Record<string, unknown>) =>
    bodyBytes((await client.send(new GetObjectCommand({ Bucket: bucket, ...input } as never))).Body);

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: single, ...key }));
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'multi', ...key }),
    );
    const parts = [];
    for (const [index, body] of UNALIGNED_PARTS.entries()) {
      const { ETag } = await client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: 'multi',
          UploadId,
          PartNumber: index + 1,
          Body: body,
          ...key,
        }),
      );
      parts.push({ PartNumber: index + 1, ETag });
    }
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'multi',
        UploadId,
        MultipartUpload: { Parts: parts },
        ...key,
      }),
    );
  });
  after(async () => {
    await proxy?.stop();
  });

  it('SeaweedFS applies SSE-C: what the proxy stored cannot be read upstream without the key', async () => {
    for (const name of ['single', 'multi']) {
      assert.equal(
        await statusOf(() => direct.send(new GetObjectCommand({ Bucket: bucket, Key: name }))),
        400,
      );
      const stored = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: name, ...key }));
      assert.equal(stored.SSECustomerAlgorithm, 'AES256');
    }
  });

  it('a single-part object reads back whole, by range and as part 1, and HEAD reports its plaintext size', async () => {
    assert.ok((await read(client, { Key: 'single', ...key })).equals(single));
    assert.ok(
      (await read(client, { Key: 'single', Range: 'bytes=70000-70099', ...key })).equals(
        single.subarray(70000, 70100),
      ),
    );
    assert.ok((await read(client, { Key: 'single', PartNumber: 1, ...key })).equals(single));
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'single', ...key }));
    assert.equal(head.ContentLength, single.length);
  });

  it('a multipart object of unaligned parts reads back whole, by range across parts and by part number', async () => {
    assert.ok((await read(client, { Key: 'multi', ...key })).equals(UNALIGNED));
    const start = 5 * MiB - 10;
    const end = 5 * MiB + 20;
    assert.ok(
      (await read(client, { Key: 'multi', Range: `bytes=${start}-${end}`, ...key })).equals(
        UNALIGNED.subarray(start, end + 1),
      ),
    );
    assert.ok(
      (await read(client, { Key: 'multi', PartNumber: 2, ...key })).equals(UNALIGNED_PARTS[1] as Buffer),
    );
    assert.ok(
      (await read(client, { Key: 'multi', Range: 'bytes=-5', ...key })).equals(UNALIGNED.subarray(-5)),
    );
  });

  it('HEAD and GetObjectAttributes of the multipart object report plaintext sizes', async () => {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'multi', ...key }));
    assert.equal(head.ContentLength, UNALIGNED.length);
    const part = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'multi', PartNumber: 3, ...key }),
    );
    assert.equal(part.ContentLength, 7);
    assert.equal(part.PartsCount, 3);
    const attributes = await client.send(
      new GetObjectAttributesCommand({
        Bucket: bucket,
        Key: 'multi',
        ObjectAttributes: ['ObjectSize', 'ObjectParts'],
        ...key,
      }),
    );
    assert.equal(attributes.ObjectSize, UNALIGNED.length);
  });

  it('without the key, or with another key, every read is refused as SeaweedFS refuses it, although the layout was cached by a client with the key', async () => {
    await read(client, { Key: 'multi', Range: 'bytes=1-2', ...key });
    const attempts: Array<[string, Record<string, unknown>]> = [
      ['GET', {}],
      ['GET', { Range: 'bytes=5242880-5242889' }],
      ['GET', { PartNumber: 2 }],
      ['HEAD', {}],
      ['HEAD', { PartNumber: 2 }],
    ];
    for (const [method, input] of attempts) {
      for (const credentials of [{}, other]) {
        const ask = (target: S3Client) => () =>
          target.send(
            method === 'GET'
              ? new GetObjectCommand({ Bucket: bucket, Key: 'multi', ...input, ...credentials } as never)
              : new HeadObjectCommand({ Bucket: bucket, Key: 'multi', ...input, ...credentials } as never),
          );
        const viaProxy = await statusOf(ask(client));
        const upstream = await statusOf(ask(direct));
        assert.ok(viaProxy !== 200 && viaProxy !== 206, `${method} ${JSON.stringify(input)} was answered`);
        assert.equal(
          viaProxy,
          upstream,
          `${method} ${JSON.stringify(input)} ${'SSECustomerKey' in credentials ? 'with another key' : 'without a key'}`,
        );
      }
    }
  });

  it('a PUT of unknown length (stored as a multipart upload upstream) carries the key on every part', async () => {
    const data = patternBytes(11 * MiB + 5, 11);
    const response = await rawRequest(`${proxy.endpoint}/${bucket}/streamed`, {
      method: 'PUT',
      headers: { 'transfer-encoding': 'chunked', ...sseHeaders(key) },
      body: data,
    });
    assert.equal(response.status, 200, response.body);
    assert.ok((await read(client, { Key: 'streamed', ...key })).equals(data));
    assert.equal(
      await statusOf(() => direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'streamed' }))),
      400,
    );
  });

  for (const [source, plaintext] of [
    ['single', single],
    ['multi', UNALIGNED],
  ] as const) {
    it(`CopyObject of the ${source} object: SSE-C source to another key, to no key, and with REPLACE`, async () => {
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: `${source}-rekeyed`,
          CopySource: `${bucket}/${source}`,
          ...asCopySource(key),
          ...other,
        }),
      );
      assert.ok((await read(client, { Key: `${source}-rekeyed`, ...other })).equals(plaintext));
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: `${source}-plain`,
          CopySource: `${bucket}/${source}`,
          ...asCopySource(key),
        }),
      );
      assert.ok((await read(client, { Key: `${source}-plain` })).equals(plaintext));
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: `${source}-replaced`,
          CopySource: `${bucket}/${source}-plain`,
          MetadataDirective: 'REPLACE',
          Metadata: { colour: 'blue' },
          ...key,
        }),
      );
      const head = await client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: `${source}-replaced`, ...key }),
      );
      assert.equal(head.Metadata?.colour, 'blue');
      assert.ok((await read(client, { Key: `${source}-replaced`, ...key })).equals(plaintext));
    });
  }

  it('UploadPartCopy of ranges of SSE-C sources into an upload under another key, and of a plain source', async () => {
    const plain = patternBytes(5 * MiB, 12);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain-source', Body: plain }));
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'assembled', ...other }),
    );
    const copies = [
      { CopySource: `${bucket}/multi`, CopySourceRange: `bytes=0-${5 * MiB + 99}`, ...asCopySource(key) },
      { CopySource: `${bucket}/plain-source` },
      { CopySource: `${bucket}/single`, CopySourceRange: 'bytes=100-199', ...asCopySource(key) },
    ];
    const parts = [];
    for (const [index, copy] of copies.entries()) {
      const { CopyPartResult } = await client.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: 'assembled',
          UploadId,
          PartNumber: index + 1,
          ...copy,
          ...other,
        }),
      );
      parts.push({ PartNumber: index + 1, ETag: CopyPartResult?.ETag });
    }
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'assembled',
        UploadId,
        MultipartUpload: { Parts: parts },
        ...other,
      }),
    );
    const expected = Buffer.concat([UNALIGNED.subarray(0, 5 * MiB + 100), plain, single.subarray(100, 200)]);
    assert.ok((await read(client, { Key: 'assembled', ...other })).equals(expected));
  });
});
