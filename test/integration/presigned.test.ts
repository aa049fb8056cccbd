import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CopyObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ciphertextSize } from '../../src/envelope/size.ts';
import { mountCredentials } from '../support/client-credentials.ts';
import { bodyBytes, createBucket, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { errorCode, rawRequest } from '../support/raw-http.ts';
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

  describe('presigned URLs carrying request headers in their query (aws-sdk-js v3 hoists every x-amz-* header)', () => {
    const plaintext = patternBytes(20_000, 9);

    it('a presigned PutObject with Metadata, Tagging, StorageClass and ACL stores them as the headers they stand for; a forged envelope name is dropped', async () => {
      const url = await getSignedUrl(
        client,
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'hoisted',
          Metadata: { colour: 'red', 'cloudtaser-format': 'forged' },
          Tagging: 'team=a&stage=b',
          StorageClass: 'STANDARD',
          ACL: 'private',
        }),
        { expiresIn: 300 },
      );
      for (const name of ['x-amz-meta-colour', 'x-amz-tagging', 'x-amz-storage-class', 'x-amz-acl'])
        assert.ok(url.toLowerCase().includes(`${name}=`), `${name} is in the URL`);
      const put = await fetch(url, { method: 'PUT', body: plaintext });
      assert.equal(put.status, 200, await put.text());
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'hoisted' }));
      assert.equal(head.Metadata?.colour, 'red');
      assert.equal(head.Metadata?.['cloudtaser-format'], 'v1', 'the proxy’s envelope, not the forged one');
      const tags = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'hoisted' }));
      assert.deepEqual(tags.TagSet?.map((tag) => `${tag.Key}=${tag.Value}`).sort(), ['stage=b', 'team=a']);
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'hoisted' }));
      assert.ok((await bodyBytes(got.Body)).equals(plaintext));
      const stored = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'hoisted' }));
      assert.equal(stored.ContentLength, ciphertextSize(plaintext.length));
    });

    it('a presigned CopyObject (x-amz-copy-source in the query) is a CopyObject: the copy keeps the envelope and reads back', async () => {
      const url = await getSignedUrl(
        client,
        new CopyObjectCommand({
          Bucket: bucket,
          Key: 'hoisted-copy',
          CopySource: `${bucket}/hoisted`,
          MetadataDirective: 'REPLACE',
          Metadata: { colour: 'blue' },
        }),
        { expiresIn: 300 },
      );
      assert.ok(url.toLowerCase().includes('x-amz-copy-source='));
      const copy = await fetch(url, { method: 'PUT' });
      assert.equal(copy.status, 200, await copy.text());
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'hoisted-copy' }));
      assert.equal(head.Metadata?.colour, 'blue');
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'hoisted-copy' }));
      assert.ok((await bodyBytes(got.Body)).equals(plaintext));
    });

    it('refused with 400 InvalidArgument, nothing stored: an SSE-C key or a body-framing header in the URL, and a header that contradicts the URL', async () => {
      const base = await getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: 'refused' }), {
        expiresIn: 300,
      });
      const attempts: Array<[string, Record<string, string>]> = [
        [`${base}&x-amz-server-side-encryption-customer-key=${encodeURIComponent('a2V5')}`, {}],
        [`${base}&x-amz-decoded-content-length=3`, {}],
        [`${base}&x-amz-meta-colour=red`, { 'x-amz-meta-colour': 'green' }],
      ];
      for (const [url, headers] of attempts) {
        const response = await rawRequest(url, { method: 'PUT', headers, body: Buffer.from('abc') });
        assert.equal(response.status, 400, url);
        assert.equal(errorCode(response), 'InvalidArgument');
      }
      await assert.rejects(direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'refused' })));
    });

    it('an x-amz-* query parameter without a presigned signature stays refused (501)', async () => {
      const response = await rawRequest(`${proxy.endpoint}/${bucket}/not-presigned?x-amz-meta-colour=red`, {
        method: 'PUT',
        body: Buffer.from('abc'),
      });
      assert.equal(response.status, 501);
    });

    it('with inbound authentication on, a presigned URL with hoisted headers verifies and its headers apply', async () => {
      const mounted = await mountCredentials([
        { accessKeyId: 'AKIDPRESIGN', secretAccessKey: 'presign-secret-0123456789', allow: [{ bucket }] },
      ]);
      const authenticated = await startProxy(services, {
        env: { CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE: mounted.path },
      });
      try {
        const signer = proxyS3Client(authenticated, {
          config: {
            credentials: { accessKeyId: 'AKIDPRESIGN', secretAccessKey: 'presign-secret-0123456789' },
          },
        });
        const url = await getSignedUrl(
          signer,
          new PutObjectCommand({ Bucket: bucket, Key: 'hoisted-auth', Metadata: { colour: 'green' } }),
          { expiresIn: 300 },
        );
        const put = await fetch(url, { method: 'PUT', body: plaintext });
        assert.equal(put.status, 200, await put.text());
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'hoisted-auth' }));
        assert.equal(head.Metadata?.colour, 'green');
        const tampered = await fetch(url.replace('x-amz-meta-colour=green', 'x-amz-meta-colour=black'), {
          method: 'PUT',
          body: plaintext,
        });
        assert.equal(tampered.status, 403, 'a hoisted header is covered by the signature');
        await tampered.text();
      } finally {
        await authenticated.stop();
        await mounted.remove();
      }
    });
  });
});
