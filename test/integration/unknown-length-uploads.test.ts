import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { plaintextMarker, unsafeStoredObjects } from '../adversarial/support.ts';
import {
  bodyBytes,
  createBucket,
  httpStatusOf,
  MiB,
  patternBytes,
  uniqueBucket,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { awsChunkedWithTrailer, crc32Base64, rawRequest } from '../support/raw-http.ts';
import { createS3Client, useServices } from '../support/services.ts';

/**
 * Uploads whose plaintext length the headers do not tell (COMPAT 3, issue 9): aws-chunked without
 * x-amz-decoded-content-length, and plain `Transfer-Encoding: chunked` without Content-Length. They are
 * stored (docs/decisions/0007-uploads-of-unknown-length.md), read back exactly, and leave nothing behind
 * when they fail.
 */
/** aws-sdk-js v3's framing (unsigned chunks, a CRC32 trailer) with no x-amz-decoded-content-length. */
const AWS_CHUNKED_WITHOUT_LENGTH = {
  'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
  'content-encoding': 'aws-chunked',
  'x-amz-trailer': 'x-amz-checksum-crc32',
  'transfer-encoding': 'chunked',
};

describe('uploads of unknown length are stored encrypted and read back exactly', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('unknown-length');
  const marker = plaintextMarker('unknown-length');

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

  /** Test data of `size` bytes that carries the marker, so that plaintext stored anywhere shows. */
  const markedData = (size: number, seed: number): Buffer => {
    const data = patternBytes(size, seed);
    Buffer.from(marker).copy(data, 0, 0, Math.min(size, marker.length));
    return data;
  };
  const url = (key: string) => `${proxy.endpoint}/${bucket}/${key}`;
  const read = async (key: string) =>
    bodyBytes((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body);
  const assertNothingLeft = async (key: string) => {
    await assert.rejects(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key })),
      (error: unknown) => httpStatusOf(error) === 404,
      `${key} is not stored`,
    );
    const uploads = await direct.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assert.deepEqual(
      (uploads.Uploads ?? []).filter((upload) => upload.Key === key),
      [],
      `no multipart upload of ${key} is left open upstream`,
    );
  };

  for (const size of [0, 1000, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 12 * MiB + 7]) {
    it(`aws-chunked with a CRC32 trailer and no x-amz-decoded-content-length, ${size} bytes`, async () => {
      const data = markedData(size, size);
      const key = `chunked-${size}`;
      const response = await rawRequest(url(key), {
        method: 'PUT',
        headers: AWS_CHUNKED_WITHOUT_LENGTH,
        body: awsChunkedWithTrailer(data, 'x-amz-checksum-crc32', crc32Base64(data)),
      });
      assert.equal(response.status, 200, response.body);
      assert.ok((await read(key)).equals(data), 'reads back exactly');
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(head.ContentLength, size);
      assert.equal(head.ETag, response.headers.etag, 'PUT and HEAD show the same ETag');
    });
  }

  it('a plain Transfer-Encoding: chunked PUT without Content-Length is stored', async () => {
    const data = markedData(7 * MiB + 3, 7);
    const response = await rawRequest(url('plain-chunked'), {
      method: 'PUT',
      headers: { 'transfer-encoding': 'chunked' },
      body: data,
    });
    assert.equal(response.status, 200, response.body);
    assert.ok((await read('plain-chunked')).equals(data));
  });

  it('a wrong trailer checksum over more than one part gets 400 BadDigest and leaves no object and no open upload', async () => {
    const data = markedData(11 * MiB, 11);
    const response = await rawRequest(url('bad-trailer'), {
      method: 'PUT',
      headers: AWS_CHUNKED_WITHOUT_LENGTH,
      body: awsChunkedWithTrailer(data, 'x-amz-checksum-crc32', crc32Base64(Buffer.from('other'))),
    });
    assert.equal(response.status, 400, response.body);
    assert.match(response.body, /<Code>BadDigest<\/Code>/);
    await assertNothingLeft('bad-trailer');
  });

  it('a client that disconnects after two parts leaves no object and no open upload', async () => {
    await new Promise<void>((resolve) => {
      const req = request(url('abandoned'), { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(markedData(11 * MiB, 12), () => setTimeout(() => req.destroy(), 500));
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await assertNothingLeft('abandoned');
  });

  it('past CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE a streamed upload gets 400 EntityTooLarge and leaves no open upload', async () => {
    const small = await startProxy(await useServices(), {
      env: { CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: String(8 * MiB) },
    });
    try {
      const response = await rawRequest(`${small.endpoint}/${bucket}/too-large`, {
        method: 'PUT',
        headers: { 'transfer-encoding': 'chunked' },
        body: markedData(9 * MiB, 9),
      });
      assert.equal(response.status, 400, response.body);
      assert.match(response.body, /<Code>EntityTooLarge<\/Code>/);
      await assertNothingLeft('too-large');
    } finally {
      await small.stop();
    }
  });

  it('nothing the uploads stored holds plaintext or lacks the envelope', async () => {
    assert.deepEqual(await unsafeStoredObjects(direct, bucket, marker), []);
  });
});
