import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
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
import { awsChunkedWithTrailer, crc32Base64, rawRequest } from '../support/raw-http.ts';
import { createS3Client, useServices } from '../support/services.ts';

describe('integrity of what clients send: checksums verified over the plaintext; a mismatch stores nothing', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('integrity');

  before(async () => {
    const services = await useServices();
    proxy = await startProxy(services, {
      env: { CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: String(4 * 1024 * 1024) },
    });
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await proxy?.stop();
  });

  const assertNotStored = async (key: string) => {
    await assert.rejects(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key })),
      (error: unknown) => {
        assert.equal(httpStatusOf(error), 404, `${key} must not be stored`);
        return true;
      },
    );
  };
  const url = (key: string) => `${proxy.endpoint}/${bucket}/${key}`;
  const data = patternBytes(150_000, 11);

  it('a wrong Content-MD5 gets 400 BadDigest', async () => {
    const wrong = createHash('md5').update('something else').digest('base64');
    const res = await rawRequest(url('bad-md5'), {
      method: 'PUT',
      headers: { 'content-md5': wrong, 'content-length': String(data.length) },
      body: data,
    });
    assert.equal(res.status, 400);
    assert.match(res.body, /<Code>BadDigest<\/Code>/);
    await assertNotStored('bad-md5');
  });

  it('a right Content-MD5 is accepted', async () => {
    const right = createHash('md5').update(data).digest('base64');
    const res = await rawRequest(url('good-md5'), {
      method: 'PUT',
      headers: { 'content-md5': right, 'content-length': String(data.length) },
      body: data,
    });
    assert.equal(res.status, 200, res.body);
  });

  it('a wrong x-amz-checksum-crc32 header gets 400 BadDigest', async () => {
    const res = await rawRequest(url('bad-crc-header'), {
      method: 'PUT',
      headers: {
        'x-amz-checksum-crc32': crc32Base64(Buffer.from('x')),
        'content-length': String(data.length),
      },
      body: data,
    });
    assert.equal(res.status, 400);
    assert.match(res.body, /<Code>BadDigest<\/Code>/);
    await assertNotStored('bad-crc-header');
  });

  it('a wrong x-amz-content-sha256 (as s3cmd sends it) gets 400 XAmzContentSHA256Mismatch', async () => {
    const res = await rawRequest(url('bad-sha'), {
      method: 'PUT',
      headers: {
        'x-amz-content-sha256': createHash('sha256').update('nope').digest('hex'),
        'content-length': String(data.length),
      },
      body: data,
    });
    assert.equal(res.status, 400);
    assert.match(res.body, /XAmzContentSHA256Mismatch/);
    await assertNotStored('bad-sha');
  });

  it('an aws-chunked body whose CRC32 trailer is wrong gets 400 and nothing is stored', async () => {
    const body = awsChunkedWithTrailer(
      data,
      'x-amz-checksum-crc32',
      crc32Base64(Buffer.from('not the data')),
    );
    const res = await rawRequest(url('bad-trailer'), {
      method: 'PUT',
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'content-length': String(body.length),
      },
      body,
    });
    assert.equal(res.status, 400);
    assert.match(res.body, /<Code>BadDigest<\/Code>/);
    await assertNotStored('bad-trailer');
  });

  it('an aws-chunked body with a right trailer is stored and reads back', async () => {
    const body = awsChunkedWithTrailer(data, 'x-amz-checksum-crc32', crc32Base64(data), 8192);
    const res = await rawRequest(url('good-trailer'), {
      method: 'PUT',
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked,gzip',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'content-length': String(body.length),
      },
      body,
    });
    assert.equal(res.status, 200, res.body);
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'good-trailer' }));
    assert.ok((await bodyBytes(got.Body)).equals(data));
    assert.equal(got.ContentEncoding, 'gzip', 'aws-chunked is removed from Content-Encoding, gzip stays');
  });

  it('malformed chunk framing gets 400 IncompleteBody and nothing is stored', async () => {
    const body = Buffer.concat([Buffer.from('zz\r\n'), data.subarray(0, 100), Buffer.from('\r\n0\r\n\r\n')]);
    const res = await rawRequest(url('bad-framing'), {
      method: 'PUT',
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'x-amz-decoded-content-length': '100',
        'content-length': String(body.length),
      },
      body,
    });
    assert.equal(res.status, 400);
    assert.match(res.body, /<Code>IncompleteBody<\/Code>/);
    await assertNotStored('bad-framing');
  });

  it('a body shorter than x-amz-decoded-content-length gets 400 and nothing is stored', async () => {
    const body = awsChunkedWithTrailer(
      data.subarray(0, 1000),
      'x-amz-checksum-crc32',
      crc32Base64(data.subarray(0, 1000)),
    );
    const res = await rawRequest(url('short-body'), {
      method: 'PUT',
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'x-amz-decoded-content-length': '2000',
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'content-length': String(body.length),
      },
      body,
    });
    assert.equal(res.status, 400);
    await assertNotStored('short-body');
  });

  it('a body over CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE is refused with EntityTooLarge before it is sent (Expect: 100-continue)', async () => {
    const res = await rawRequest(url('too-large'), {
      method: 'PUT',
      headers: { 'content-length': String(5 * 1024 * 1024), expect: '100-continue' },
      body: Buffer.alloc(5 * 1024 * 1024),
      expectContinue: true,
    });
    assert.equal(res.status, 400);
    assert.match(res.body, /<Code>EntityTooLarge<\/Code>/);
    assert.equal(res.sentContinue, false, 'the proxy answered before asking for the body');
    await assertNotStored('too-large');
  });

  it('Expect: 100-continue within the limit gets 100 Continue and the object is stored', async () => {
    const small = patternBytes(3000, 4);
    const res = await rawRequest(url('continue-ok'), {
      method: 'PUT',
      headers: { 'content-length': String(small.length), expect: '100-continue' },
      body: small,
      expectContinue: true,
    });
    assert.equal(res.status, 200, res.body);
    assert.ok(res.sentContinue);
  });

  it('user metadata that would push the envelope past 2 KB gets 400 MetadataTooLarge naming the envelope', async () => {
    await assert.rejects(
      client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'big-meta',
          Body: 'x',
          Metadata: { note: 'n'.repeat(1900) },
        }),
      ),
      (error: unknown) => {
        assert.equal(httpStatusOf(error), 400);
        assert.equal(errorCodeOf(error), 'MetadataTooLarge');
        assert.match((error as Error).message, /encryption envelope/);
        return true;
      },
    );
    await assertNotStored('big-meta');
  });

  it('a client that disconnects halfway through a PUT leaves no object behind, and the proxy serves on', async () => {
    const declared = 1024 * 1024;
    await new Promise<void>((resolve) => {
      const req = request(url('abandoned'), {
        method: 'PUT',
        headers: { 'content-length': String(declared) },
      });
      req.on('error', () => resolve());
      req.write(patternBytes(300_000, 3), () => setTimeout(() => req.destroy(), 200));
      req.on('close', () => resolve());
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await assertNotStored('abandoned');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'after-abandon', Body: 'still here' }));
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'after-abandon' }));
    assert.equal((await bodyBytes(got.Body)).toString(), 'still here');
  });

  it('a client that disconnects in the middle of a GET does not disturb the proxy', async () => {
    const big = patternBytes(3 * 1024 * 1024, 8);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'read-abandoned', Body: big }));
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const response = await fetch(url('read-abandoned'), { signal: controller.signal });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      controller.abort();
    }
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'read-abandoned' }));
    assert.ok((await bodyBytes(got.Body)).equals(big));
    const ready = await fetch(`${proxy.healthEndpoint}/healthz`);
    assert.equal(ready.status, 200);
    await ready.text();
  });

  it('the upstream request carries only ciphertext even when the client sends its checksum (the stored object has no plaintext checksum)', async () => {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'sdk-checksum', Body: data, ChecksumAlgorithm: 'CRC32' }),
    );
    const head = await direct.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'sdk-checksum', ChecksumMode: 'ENABLED' }),
    );
    assert.notEqual(head.ChecksumCRC32, crc32Base64(data), 'upstream must not hold the plaintext CRC32');
  });
});
