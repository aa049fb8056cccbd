/**
 * Signed aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with and without a signed trailer: the
 * minio-go / mc form) through the real proxy with client credentials: every chunk signature and the
 * trailer signature are verified while the body streams, and a bad one aborts the upload before the
 * upstream commits anything; SeaweedFS is read directly to prove it.
 *
 * The client side is framed in test/support/signed-request.ts from AWS's spec and signed with
 * @smithy/signature-v4: of the clients in the suite only the Java SDK v2 sends signed chunks, and only with a
 * trailer (test/compat/client-auth-clients.test.ts); this file controls every chunk to tamper with one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { unsafeStoredObjects } from '../adversarial/support.ts';
import { type MountedCredentials, mountCredentials } from '../support/client-credentials.ts';
import {
  bodyBytes,
  createBucket,
  httpStatusOf,
  KiB,
  MiB,
  patternBytes,
  uniqueBucket,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import {
  errorElements,
  type RawResponse,
  sendRaw,
  signedChunkedBody,
  signedChunkedLength,
  signRequest,
} from '../support/signed-request.ts';

const APP = { accessKeyId: 'CHUNKEDKEY01', secretAccessKey: 'chunked-secret-0123456789abcd' };

describe('signed aws-chunked bodies with client credentials', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let mounted: MountedCredentials;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('auth-chunked');

  before(async () => {
    services = await useServices();
    mounted = await mountCredentials([{ ...APP, allow: [{ bucket: 'auth-chunked-*' }] }]);
    proxy = await startProxy(services, { env: { CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE: mounted.path } });
    client = proxyS3Client(proxy, { config: { credentials: { ...APP } } });
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await proxy?.stop();
    await mounted?.remove();
  });

  type ChunkedPut = {
    key: string;
    data: Buffer;
    chunkSize?: number;
    trailer?: boolean;
    contentEncoding?: boolean;
    virtualHost?: boolean;
    query?: Record<string, string>;
    tamperChunk?: number;
    tamperTrailer?: boolean;
  };

  async function putSignedChunked(put: ChunkedPut): Promise<RawResponse> {
    const chunkSize = put.chunkSize ?? 64 * KiB;
    const signingDate = new Date();
    const checksum = Buffer.alloc(4);
    checksum.writeUInt32BE(crc32(put.data));
    const trailers: [string, string][] | undefined = put.trailer
      ? [['x-amz-checksum-crc32', checksum.toString('base64')]]
      : undefined;
    const trailerText =
      trailers === undefined
        ? undefined
        : `${trailers.map(([n, v]) => `${n}:${v}\r\n`).join('')}x-amz-trailer-signature:${'0'.repeat(64)}\r\n\r\n`;
    const port = new URL(proxy.endpoint).port;
    const path = put.virtualHost
      ? `/${encodeURIComponent(put.key)}`
      : `/${bucket}/${encodeURIComponent(put.key)}`;
    const headers: Record<string, string> = {
      'x-amz-decoded-content-length': String(put.data.length),
      'content-length': String(signedChunkedLength(put.data.length, chunkSize, trailerText)),
      ...(put.contentEncoding === false ? {} : { 'content-encoding': 'aws-chunked' }),
      ...(trailers === undefined ? {} : { 'x-amz-trailer': 'x-amz-checksum-crc32' }),
    };
    const signed = await signRequest(proxy.endpoint, {
      method: 'PUT',
      path,
      ...(put.query === undefined ? {} : { query: put.query }),
      headers,
      credentials: APP,
      signingDate,
      payloadHash:
        trailers === undefined
          ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'
          : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      ...(put.virtualHost ? { host: `${bucket}.localhost:${port}` } : {}),
    });
    const body = await signedChunkedBody({
      credentials: APP,
      signingDate,
      seedSignature: signed.signature,
      data: put.data,
      chunkSize,
      ...(trailers === undefined ? {} : { trailers }),
      ...(put.tamperChunk === undefined ? {} : { tamperChunk: put.tamperChunk }),
      ...(put.tamperTrailer ? { tamperTrailer: true } : {}),
    });
    assert.equal(body.length, Number(headers['content-length']), 'the framing matches its Content-Length');
    const query = new URLSearchParams(put.query ?? {}).toString();
    return sendRaw(proxy.endpoint, {
      method: 'PUT',
      path: query === '' ? path : `${path}?${query}`,
      headers: signed.headers,
      body,
    });
  }

  async function readBack(key: string): Promise<Buffer> {
    return bodyBytes((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body);
  }

  async function storedStatus(key: string): Promise<number | undefined> {
    const head = await direct
      .send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
      .catch((error) => error);
    return httpStatusOf(head) ?? head.$metadata?.httpStatusCode;
  }

  for (const variant of [
    { name: 'path style, no trailer', virtualHost: false, trailer: false },
    {
      name: 'virtual-hosted style, no trailer, no Content-Encoding (as minio-go sends it)',
      virtualHost: true,
      trailer: false,
      contentEncoding: false,
    },
    { name: 'path style, with a signed CRC32 trailer', virtualHost: false, trailer: true },
    { name: 'virtual-hosted style, with a signed CRC32 trailer', virtualHost: true, trailer: true },
  ]) {
    it(`a signed chunked PUT is verified and stored (${variant.name})`, async () => {
      const key = `signed/${variant.name.replace(/[^a-z]+/g, '-')}`;
      const data = patternBytes(300 * KiB + 17, 21);
      const response = await putSignedChunked({ key, data, ...variant });
      assert.equal(response.status, 200, response.body.toString());
      assert.ok((await readBack(key)).equals(data));
    });
  }

  it('UploadPart with signed chunks, completed, reads back', async () => {
    const key = 'signed/multipart';
    const upload = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const parts = [patternBytes(5 * MiB, 1), patternBytes(1 * MiB + 3, 2)];
    const etags: string[] = [];
    for (const [index, data] of parts.entries()) {
      const response = await putSignedChunked({
        key,
        data,
        trailer: index === 1,
        query: { partNumber: String(index + 1), uploadId: upload.UploadId ?? '' },
      });
      assert.equal(response.status, 200, response.body.toString());
      etags.push(String(response.headers.etag));
    }
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    assert.ok((await readBack(key)).equals(Buffer.concat(parts)));
  });

  it('a tampered chunk in the middle of a 24 MiB upload: 403 SignatureDoesNotMatch, and SeaweedFS holds nothing', async () => {
    const key = 'signed/tampered-large';
    const data = patternBytes(24 * MiB, 33);
    const response = await putSignedChunked({ key, data, tamperChunk: 192 });
    assert.equal(response.status, 403);
    const error = errorElements(response.body);
    assert.equal(error.Code, 'SignatureDoesNotMatch');
    assert.match(error.Message ?? '', /chunk 193/);
    assert.equal(await storedStatus(key), 404);
    assert.deepEqual(await unsafeStoredObjects(direct, bucket, 'no-marker-in-this-test'), []);
  });

  it('a tampered chunk over an existing object leaves the stored version as it was', async () => {
    const key = 'signed/overwrite';
    const original = patternBytes(400 * KiB, 4);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: original }));
    const before = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const response = await putSignedChunked({ key, data: patternBytes(2 * MiB, 5), tamperChunk: 31 });
    assert.equal(response.status, 403);
    const after = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(after.ETag, before.ETag);
    assert.ok((await readBack(key)).equals(original));
  });

  it('a tampered last data chunk and a tampered trailer are refused before the upstream commits', async () => {
    const data = patternBytes(200 * KiB, 6);
    const lastData = await putSignedChunked({ key: 'signed/tampered-last', data, tamperChunk: 3 });
    assert.equal(lastData.status, 403);
    assert.equal(errorElements(lastData.body).Code, 'SignatureDoesNotMatch');
    assert.equal(await storedStatus('signed/tampered-last'), 404);

    const trailer = await putSignedChunked({
      key: 'signed/tampered-trailer',
      data,
      trailer: true,
      tamperTrailer: true,
    });
    assert.equal(trailer.status, 403, trailer.body.toString());
    assert.match(errorElements(trailer.body).Message ?? '', /trailer signature/);
    assert.equal(await storedStatus('signed/tampered-trailer'), 404);
  });

  it('UNSIGNED-PAYLOAD with a signed header: accepted, as S3 accepts it', async () => {
    const data = patternBytes(70 * KiB, 8);
    const signed = await signRequest(proxy.endpoint, {
      method: 'PUT',
      path: `/${bucket}/unsigned-payload`,
      headers: { 'content-length': String(data.length) },
      credentials: APP,
      payloadHash: 'UNSIGNED-PAYLOAD',
    });
    const response = await sendRaw(proxy.endpoint, {
      method: 'PUT',
      path: `/${bucket}/unsigned-payload`,
      headers: signed.headers,
      body: data,
    });
    assert.equal(response.status, 200, response.body.toString());
    assert.ok((await readBack('unsigned-payload')).equals(data));
  });
});
