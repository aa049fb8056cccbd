/**
 * ETags in conditions and in answers to them are the ones clients know (docs/decisions/0002): a 304 carries
 * the ETag a 200 would, whichever condition produced it, and delete conditions name the presented ETag.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  createBucket,
  httpStatusOf,
  MiB,
  patternBytes,
  uniqueBucket,
  uploadParts,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { errorCode, rawRequest } from '../support/raw-http.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

const FUTURE = new Date('2100-01-01T00:00:00Z');

/** The ETag of a 304, which the SDK reports only on the error it throws. */
async function notModifiedETag(send: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await send();
  } catch (error) {
    assert.equal(httpStatusOf(error), 304);
    const headers = (error as { $response?: { headers?: Record<string, string> } }).$response?.headers;
    return headers?.etag;
  }
  assert.fail('expected 304 Not Modified');
}

describe('ETags in conditions and in 304 answers', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('etag-cond');
  const objects: Record<string, string> = {};

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
    for (const key of ['single', 'delete-me', 'keep-me', 'batch-a', 'batch-b']) {
      const put = await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: patternBytes(3000) }),
      );
      objects[key] = put.ETag ?? '';
    }
    objects.multi =
      (await uploadParts(client, bucket, 'multi', [patternBytes(5 * MiB, 2), patternBytes(10, 3)])) ?? '';
    const plain = await direct.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'unencrypted', Body: Buffer.from('written directly') }),
    );
    objects.unencrypted = plain.ETag ?? '';
  });
  after(async () => {
    await proxy?.stop();
  });

  for (const key of ['single', 'multi', 'unencrypted']) {
    it(`a 304 answering If-Modified-Since carries the ETag a 200 carries (${key}), on GET and on HEAD`, async () => {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(head.ETag, objects[key]);
      const viaGet = await notModifiedETag(() =>
        client.send(new GetObjectCommand({ Bucket: bucket, Key: key, IfModifiedSince: FUTURE })),
      );
      const viaHead = await notModifiedETag(() =>
        client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, IfModifiedSince: FUTURE })),
      );
      assert.equal(viaGet, objects[key]);
      assert.equal(viaHead, objects[key]);
    });
  }

  it('a 304 answering If-None-Match carries the ETag a 200 carries, with a Range too', async () => {
    const etag = await notModifiedETag(() =>
      client.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: 'single',
          IfNoneMatch: objects.single,
          Range: 'bytes=0-9',
        }),
      ),
    );
    assert.equal(etag, objects.single);
  });

  it('DeleteObject with If-Match naming the ETag clients know deletes the object', async () => {
    await client.send(
      new DeleteObjectCommand({ Bucket: bucket, Key: 'delete-me', IfMatch: objects['delete-me'] }),
    );
    await assert.rejects(
      client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'delete-me' })),
      (error: unknown) => httpStatusOf(error) === 404,
    );
  });

  it('DeleteObjects entries with <ETag> conditions are judged against the ETags clients know', async () => {
    const result = await client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: {
          Objects: [
            { Key: 'batch-a', ETag: objects['batch-a'] },
            { Key: 'batch-b', ETag: '"0123456789abcdef0123456789abcdef-0"' },
            { Key: 'keep-me', ETag: objects['batch-a'] },
          ],
        },
      }),
    );
    assert.deepEqual(
      result.Deleted?.map((d) => d.Key),
      ['batch-a'],
    );
    assert.deepEqual(result.Errors?.map((e) => [e.Key, e.Code]).sort(), [
      ['batch-b', 'PreconditionFailed'],
      ['keep-me', 'PreconditionFailed'],
    ]);
    for (const key of ['batch-b', 'keep-me'])
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  });

  it('a DeleteObjects body whose conditions are rewritten is checked against its Content-MD5 first: a wrong one deletes nothing', async () => {
    const body = (etag: string) =>
      Buffer.from(`<Delete><Object><Key>single</Key><ETag>${etag}</ETag></Object></Delete>`);
    const quoted = (objects.single ?? '').replaceAll('"', '&#34;');
    const refused = await rawRequest(`${proxy.endpoint}/${bucket}?delete`, {
      method: 'POST',
      headers: { 'content-md5': createHash('md5').update(body('"x"')).digest('base64') },
      body: body(quoted),
    });
    assert.equal(refused.status, 400);
    assert.equal(errorCode(refused), 'BadDigest');
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'single' }));
    const deleted = await rawRequest(`${proxy.endpoint}/${bucket}?delete`, {
      method: 'POST',
      headers: { 'content-md5': createHash('md5').update(body(quoted)).digest('base64') },
      body: body(quoted),
    });
    assert.equal(deleted.status, 200, deleted.body);
    assert.match(deleted.body, /<Deleted><Key>single<\/Key>/);
  });
});
