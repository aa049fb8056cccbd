/**
 * Issue 8, findings 1, 2 and 6: requests the proxy used to pass through, which SeaweedFS reads as another
 * operation (an unknown sub-resource falls back to the plain object operation), or reads with another
 * occurrence of a repeated parameter. Each is sent raw through the real proxy to the real SeaweedFS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { bodyBytes, createBucket, MiB, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import { contentMd5, describeResponse, formUpload, ProbeTally } from './support.ts';

describe('issue 8: sub-resources the upstream reads as another operation store nothing and release nothing', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('fallback');
  let tally: ProbeTally;
  let services: Services;

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services, { env: { CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS: 'refuse' } });
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(services);
    await createBucket(client, bucket);
    for (const key of ['encrypted', 'victim'])
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: patternBytes(1000) }));
    // Stored around the proxy, as before encryption was introduced; `refuse` must keep it from clients.
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'legacy', Body: 'legacy plaintext' }));
    tally = new ProbeTally(direct, bucket, ['legacy']);
  });
  after(async () => {
    await proxy?.stop();
  });

  const send = (target: string, method: string, headers: Record<string, string>, body?: Buffer) =>
    rawRequest(`${proxy.endpoint}/${bucket}/${target}`, { method, headers, ...(body ? { body } : {}) });

  it('finding 1: PUT key?encryption with a plaintext body is refused and stores nothing', async () => {
    const outcome = await tally.probe('PUT ?encryption', async (marker) => {
      const response = await send('victim?encryption', 'PUT', {}, Buffer.from(marker));
      return `${describeResponse(response)} ${response.body.toString()}`;
    });
    assert.deepEqual(outcome.stored, [], outcome.detail);
    assert.match(outcome.detail ?? '', /^501 NotImplemented .*\?encryption/s);
  });

  it('finding 1: PUT key?encryption with x-amz-copy-source and REPLACE stores no object without the envelope', async () => {
    const outcome = await tally.probe('PUT ?encryption + copy REPLACE', async () => {
      const response = await send('copied?encryption', 'PUT', {
        'x-amz-copy-source': `/${bucket}/encrypted`,
        'x-amz-metadata-directive': 'REPLACE',
      });
      return describeResponse(response);
    });
    assert.deepEqual(outcome.stored, [], outcome.detail);
    assert.equal(outcome.detail, '501 NotImplemented');
  });

  for (const subresource of ['restore', 'metadataTable', 'metadataConfiguration']) {
    it(`finding 1: a browser-form POST under ?${subresource} with the file's Content-MD5 stores nothing`, async () => {
      const outcome = await tally.probe(`POST ?${subresource} form`, async (marker) => {
        const file = Buffer.from(`form file ${marker}`);
        const form = formUpload('formed', file, services.s3);
        const target = subresource === 'restore' ? `encrypted?${subresource}` : `?${subresource}`;
        const response = await rawRequest(
          `${proxy.endpoint}/${bucket}${target.startsWith('?') ? '' : '/'}${target}`,
          {
            method: 'POST',
            headers: { 'content-type': form.contentType, 'content-md5': contentMd5(file) },
            body: form.body,
          },
        );
        return describeResponse(response);
      });
      assert.deepEqual(outcome.stored, [], outcome.detail);
      assert.equal(outcome.detail, '501 NotImplemented');
    });
  }

  it('finding 1: a browser-form POST under ?restore above 8 MiB stores nothing', async () => {
    const outcome = await tally.probe('POST ?restore form > 8 MiB', async (marker) => {
      const file = Buffer.concat([Buffer.from(marker), Buffer.alloc(9 * MiB, 0x61), Buffer.from(marker)]);
      const form = formUpload('formed-large', file, services.s3);
      // As SDKs send large bodies: the refusal comes before any of it is sent.
      const response = await rawRequest(`${proxy.endpoint}/${bucket}/encrypted?restore`, {
        method: 'POST',
        headers: { 'content-type': form.contentType, expect: '100-continue' },
        body: form.body,
        expectContinue: true,
      });
      return describeResponse(response);
    });
    assert.deepEqual(outcome.stored, [], outcome.detail);
    assert.equal(outcome.detail, '501 NotImplemented');
  });

  for (const query of ['annotation&annotationName=note', 'annotation']) {
    it(`finding 2: GET key?${query} releases neither an unencrypted object nor raw ciphertext`, async () => {
      const legacy = await send(`legacy?${query}`, 'GET', {});
      assert.ok(
        !legacy.body.includes('legacy plaintext'),
        `the unencrypted object was released with ${describeResponse(legacy)}`,
      );
      assert.equal(legacy.status, 501, describeResponse(legacy));
      const encrypted = await send(`encrypted?${query}`, 'GET', {});
      const stored = await bodyBytes(
        (await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'encrypted' }))).Body,
      );
      assert.ok(
        !encrypted.bytes.includes(stored.subarray(0, 64)),
        `the stored ciphertext was released with ${describeResponse(encrypted)}`,
      );
      assert.equal(encrypted.status, 501, describeResponse(encrypted));
    });
  }

  it('finding 6: PUT ?partNumber=2&partNumber=1&uploadId=… is refused, and the upload completes normally', async () => {
    const key = 'duplicate-part';
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    assert.ok(UploadId);
    const uploadId = encodeURIComponent(UploadId);
    const duplicated = await send(
      `${key}?partNumber=2&partNumber=1&uploadId=${uploadId}`,
      'PUT',
      {},
      patternBytes(1000, 3),
    );
    assert.equal(duplicated.status, 501, describeResponse(duplicated));
    assert.match(duplicated.body.toString(), /partNumber/);
    const duplicatedUpload = await send(
      `${key}?partNumber=1&uploadId=${uploadId}&uploadId=other`,
      'PUT',
      {},
      patternBytes(10, 3),
    );
    assert.equal(duplicatedUpload.status, 501, describeResponse(duplicatedUpload));

    const plaintext = patternBytes(6 * MiB, 4);
    const part = await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: plaintext }),
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    const read = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    assert.ok((await bodyBytes(read.Body)).equals(plaintext));
  });
});
