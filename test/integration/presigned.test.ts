import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ciphertextSize } from '../../src/envelope/size.ts';
import { bodyBytes, createBucket, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

describe('client signing material is stripped and the upstream request signed anew', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('presigned');

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await proxy?.stop();
  });

  it('a presigned PUT URL made for the proxy stores ciphertext, and a presigned GET URL reads the plaintext', async () => {
    const plaintext = patternBytes(100_000, 8);
    const putUrl = await getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: 'presigned' }), {
      expiresIn: 300,
    });
    assert.match(putUrl, /X-Amz-Signature=/);
    const put = await fetch(putUrl, { method: 'PUT', body: plaintext });
    assert.equal(put.status, 200, await put.text());
    const stored = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'presigned' }));
    assert.equal(stored.ContentLength, ciphertextSize(plaintext.length));

    const getUrl = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: 'presigned' }), {
      expiresIn: 300,
    });
    const get = await fetch(getUrl);
    assert.equal(get.status, 200);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(plaintext));
  });

  it('SigV2 headers and presigned SigV2 query parameters are not forwarded', async () => {
    const plaintext = patternBytes(500, 2);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'v2', Body: plaintext }));
    const expires = Math.floor(Date.now() / 1000) + 300;
    const query = `AWSAccessKeyId=AKIDEXAMPLE&Expires=${expires}&Signature=${encodeURIComponent('c2lnbmF0dXJl')}`;
    const viaQuery = await fetch(`${proxy.endpoint}/${bucket}/v2?${query}`);
    assert.equal(viaQuery.status, 200);
    assert.ok(Buffer.from(await viaQuery.arrayBuffer()).equals(plaintext));
    const viaHeader = await fetch(`${proxy.endpoint}/${bucket}/v2`, {
      headers: { authorization: 'AWS AKIDEXAMPLE:c2lnbmF0dXJl' },
    });
    assert.equal(viaHeader.status, 200);
    assert.ok(Buffer.from(await viaHeader.arrayBuffer()).equals(plaintext));
  });

  it('the proxy log never contains the Vault token, the upstream secret or object bytes', async () => {
    const marker = 'PLAINTEXT-MARKER-7f3a';
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'logged', Body: marker.repeat(10) }));
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'logged' }));
    await bodyBytes(got.Body);
    const requestRecord = await proxy.waitForLogRecord(
      (r) => r.msg === 'request' && r.operation === 'GetObject' && typeof r.requestId === 'string',
    );
    assert.ok(requestRecord, 'every request is logged with its id');
    const logs = proxy.logs();
    assert.ok(logs.length > 0);
    assert.ok(!logs.includes(services.vault.proxyToken), 'Vault token in the log');
    assert.ok(!logs.includes(services.s3.secretAccessKey), 'upstream secret in the log');
    assert.ok(!logs.includes(marker), 'object bytes in the log');
  });
});
