import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PART_HEADER_SIZE } from '../../src/envelope/constants.ts';
import { partCiphertextSize } from '../../src/envelope/size.ts';
import {
  bodyBytes,
  createBucket,
  errorCodeOf,
  httpStatusOf,
  MiB,
  patternBytes,
  seededRandom,
  uniqueBucket,
  uploadParts,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

describe('multipart uploads are encrypted part by part and read back exactly', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let second: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('multipart');

  before(async () => {
    services = await useServices();
    [proxy, second] = await Promise.all([startProxy(services), startProxy(services)]);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await Promise.all([proxy?.stop(), second?.stop()]);
  });

  for (const partSize of [5 * MiB, 8 * MiB]) {
    it(`lib-storage Upload of 50 MiB in ${partSize / MiB} MiB parts, 4 in parallel, reads back byte for byte and is stored as ciphertext`, async () => {
      const plaintext = patternBytes(50 * MiB, partSize);
      const key = `lib-storage/${partSize}`;
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: plaintext },
        partSize,
        queueSize: 4,
      });
      const result = await upload.done();

      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(got.ContentLength, plaintext.length);
      assert.ok((await bodyBytes(got.Body)).equals(plaintext));
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(head.ContentLength, plaintext.length);
      assert.equal(head.ETag, result.ETag);
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key }));
      assert.equal(
        listed.Contents?.[0]?.Size,
        plaintext.length,
        'aligned parts list with their exact plaintext size',
      );

      const parts = Math.ceil(plaintext.length / partSize);
      const expectedStored =
        (parts - 1) * partCiphertextSize(partSize) +
        partCiphertextSize(plaintext.length - (parts - 1) * partSize);
      const stored = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const ciphertext = await bodyBytes(stored.Body);
      assert.equal(ciphertext.length, expectedStored, 'stored size is what the format predicts');
      assert.equal(stored.Metadata?.['cloudtaser-format'], 'v1-multipart');
      assert.equal(ciphertext.indexOf(plaintext.subarray(1000, 1064)), -1, 'no plaintext in what is stored');
    });
  }

  it('a 1-byte lib-storage Upload (a single PutObject) reads back', async () => {
    const upload = new Upload({
      client,
      params: { Bucket: bucket, Key: 'one-byte', Body: Buffer.from('x') },
    });
    await upload.done();
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'one-byte' }));
    assert.equal((await bodyBytes(got.Body)).toString(), 'x');
  });

  it('a retried part with different content, and parts sent through two proxy processes, read back as the last upload of each part', async () => {
    const key = 'retried';
    const partA = patternBytes(5 * MiB, 1);
    const partARetry = patternBytes(5 * MiB, 2);
    const partB = patternBytes(3 * MiB + 7, 3);
    const otherClient = proxyS3Client(second);
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: partA }),
    );
    const retried = await otherClient.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: partARetry }),
    );
    const last = await otherClient.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: partB }),
    );
    const listed = await client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId }));
    // SeaweedFS lists every upload of a part number (S3 lists the last one); each entry is plaintext-sized.
    const entries = listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]) ?? [];
    assert.deepEqual(
      entries.find(([, , etag]) => etag === retried.ETag),
      [1, partARetry.length, retried.ETag],
    );
    assert.deepEqual(
      entries.find(([, , etag]) => etag === last.ETag),
      [2, partB.length, last.ETag],
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: retried.ETag },
            { PartNumber: 2, ETag: last.ETag },
          ],
        },
      }),
    );
    const got = await otherClient.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    assert.ok((await bodyBytes(got.Body)).equals(Buffer.concat([partARetry, partB])));
  });

  it('random ranges across part boundaries of aligned and unaligned multipart objects equal the plaintext', async () => {
    const layouts: Array<[string, number[]]> = [
      ['aligned', [5 * MiB, 5 * MiB, 1234]],
      // S3's smallest part is 5 MiB; 5,300,000 bytes is above it and no multiple of the 64 KiB segment.
      ['unaligned', [5_300_000, 5_300_000, 5_300_000, 17]],
    ];
    const random = seededRandom(7);
    for (const [name, sizes] of layouts) {
      const parts = sizes.map((size, i) => patternBytes(size, 100 + i));
      const plaintext = Buffer.concat(parts);
      await uploadParts(client, bucket, `ranges/${name}`, parts);
      const boundaries = sizes.slice(0, -1).map((_, i) => sizes.slice(0, i + 1).reduce((a, b) => a + b, 0));
      const ranges: Array<[number, number]> = [];
      for (const b of boundaries)
        ranges.push(
          [b - 1, b],
          [b - 70_000, Math.min(b + 70_000, plaintext.length - 1)],
          [b, b],
          [b - 1, b - 1],
        );
      for (let i = 0; i < 12; i++) {
        const start = Math.floor(random() * plaintext.length);
        ranges.push([start, Math.min(plaintext.length - 1, start + Math.floor(random() * 7 * MiB))]);
      }
      for (const [start, end] of ranges) {
        const response = await fetch(`${proxy.endpoint}/${bucket}/ranges/${name}`, {
          headers: { range: `bytes=${start}-${end}` },
        });
        assert.equal(response.status, 206, `${name} ${start}-${end}`);
        assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/${plaintext.length}`);
        assert.ok(
          Buffer.from(await response.arrayBuffer()).equals(plaintext.subarray(start, end + 1)),
          `${name} ${start}-${end}`,
        );
      }
      const suffix = await fetch(`${proxy.endpoint}/${bucket}/ranges/${name}`, {
        headers: { range: 'bytes=-100000' },
      });
      assert.ok(
        Buffer.from(await suffix.arrayBuffer()).equals(plaintext.subarray(plaintext.length - 100_000)),
      );

      for (const [index, part] of parts.entries()) {
        const response = await fetch(`${proxy.endpoint}/${bucket}/ranges/${name}?partNumber=${index + 1}`);
        assert.equal(response.status, 206);
        assert.equal(response.headers.get('x-amz-mp-parts-count'), String(parts.length));
        assert.ok(Buffer.from(await response.arrayBuffer()).equals(part), `${name} part ${index + 1}`);
        const head = await fetch(`${proxy.endpoint}/${bucket}/ranges/${name}?partNumber=${index + 1}`, {
          method: 'HEAD',
        });
        assert.equal(head.headers.get('content-length'), String(part.length));
      }
      const beyond = await fetch(`${proxy.endpoint}/${bucket}/ranges/${name}?partNumber=${parts.length + 1}`);
      assert.equal(beyond.status, 416);
      await beyond.arrayBuffer();
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `ranges/${name}` }));
      assert.equal(head.ContentLength, plaintext.length, `${name}: HEAD is exact`);
    }
  });

  it('an unaligned multipart object lists within the documented bound of its size; HEAD is exact', async () => {
    const sizes = [5_300_000, 5_300_000, 99];
    await uploadParts(
      client,
      bucket,
      'unaligned-list',
      sizes.map((s, i) => patternBytes(s, i)),
    );
    const total = sizes.reduce((a, b) => a + b, 0);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'unaligned-list' }));
    const size = listed.Contents?.[0]?.Size ?? -1;
    assert.ok(Math.abs(size - total) <= 16 * (sizes.length - 1), `listed ${size} for ${total}`);
  });

  it('a part list with a gap is refused, so readers can require parts 1..N', async () => {
    const key = 'gap';
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const one = await client.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: 1,
        Body: patternBytes(5 * MiB),
      }),
    );
    const three = await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 3, Body: Buffer.from('z') }),
    );
    await assert.rejects(
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          MultipartUpload: {
            Parts: [
              { PartNumber: 1, ETag: one.ETag },
              { PartNumber: 3, ETag: three.ETag },
            ],
          },
        }),
      ),
      (error: unknown) => httpStatusOf(error) === 400 && errorCodeOf(error) === 'InvalidPartOrder',
    );
  });

  it('part checksums named at CreateMultipartUpload are verified over the plaintext and the upload completes', async () => {
    const plaintext = patternBytes(11 * MiB, 5);
    const upload = new Upload({
      client,
      params: { Bucket: bucket, Key: 'checksummed', Body: plaintext, ChecksumAlgorithm: 'CRC32' },
      partSize: 5 * MiB,
    });
    await upload.done();
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'checksummed' }));
    assert.ok((await bodyBytes(got.Body)).equals(plaintext));
  });

  it('an UploadPart whose CRC32 does not match its body gets 400 BadDigest', async () => {
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'bad-part' }),
    );
    await assert.rejects(
      client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: 'bad-part',
          UploadId,
          PartNumber: 1,
          Body: Buffer.from('data'),
          ChecksumCRC32: 'AAAAAA==',
        }),
      ),
      (error: unknown) => httpStatusOf(error) === 400,
    );
  });

  describe('tampering across parts is detected', () => {
    const sizes = [5 * MiB, 5 * MiB, 5 * MiB];
    let stored: Buffer;
    let metadata: Record<string, string>;
    let other: Buffer;
    const plaintext = Buffer.concat(sizes.map((s, i) => patternBytes(s, 200 + i)));
    const partStored = partCiphertextSize(5 * MiB);
    const part = (data: Buffer, i: number) => data.subarray(i * partStored, (i + 1) * partStored);

    before(async () => {
      await uploadParts(
        client,
        bucket,
        'tamper-mp',
        sizes.map((s, i) => patternBytes(s, 200 + i)),
      );
      await uploadParts(
        client,
        bucket,
        'tamper-other',
        sizes.map((s, i) => patternBytes(s, 300 + i)),
      );
      const got = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'tamper-mp' }));
      stored = await bodyBytes(got.Body);
      metadata = got.Metadata ?? {};
      other = await bodyBytes(
        (await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'tamper-other' }))).Body,
      );
    });

    const variants: Array<[string, () => Buffer]> = [
      ['two parts swapped', () => Buffer.concat([part(stored, 1), part(stored, 0), part(stored, 2)])],
      ['the middle part dropped', () => Buffer.concat([part(stored, 0), part(stored, 2)])],
      [
        'a part spliced in from another upload',
        () => Buffer.concat([part(stored, 0), part(other, 1), part(stored, 2)]),
      ],
      [
        'a flipped byte in the second part header',
        () => {
          const copy = Buffer.from(stored);
          copy[partStored + 40] = (copy[partStored + 40] ?? 0) ^ 1;
          return copy;
        },
      ],
      [
        'a flipped byte in the third part body',
        () => {
          const copy = Buffer.from(stored);
          copy[2 * partStored + PART_HEADER_SIZE + 5] =
            (copy[2 * partStored + PART_HEADER_SIZE + 5] ?? 0) ^ 1;
          return copy;
        },
      ],
    ];
    for (const [name, make] of variants) {
      it(`${name}: the GET fails and delivers only a prefix of the real plaintext`, async () => {
        const key = `tampered/${name.replace(/[^a-z]+/g, '-')}`;
        await direct.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: make(), Metadata: metadata }),
        );
        const response = await fetch(`${proxy.endpoint}/${bucket}/${key}`).catch(() => undefined);
        let failed = response === undefined || response.status !== 200;
        const chunks: Buffer[] = [];
        if (response !== undefined && response.status === 200) {
          try {
            for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
              chunks.push(Buffer.from(chunk));
          } catch {
            failed = true;
          }
        } else {
          await response?.arrayBuffer().catch(() => undefined);
        }
        const delivered = Buffer.concat(chunks);
        assert.ok(failed, 'the read must fail');
        assert.ok(delivered.equals(plaintext.subarray(0, delivered.length)));
      });
    }
  });
});
