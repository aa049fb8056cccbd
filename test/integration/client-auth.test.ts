/**
 * Inbound authentication (R-REL-5) through the real proxy process, with the real SeaweedFS and OpenBao:
 * aws-sdk-js v3 works unchanged with a listed credential (path and virtual-hosted style, single-part,
 * multipart, presigned), everything else gets S3's refusal, grants are applied to every operation, and the
 * credentials file is reloaded while the proxy serves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  type CredentialSpec,
  type MountedCredentials,
  mountCredentials,
} from '../support/client-credentials.ts';
import {
  bodyBytes,
  createBucket,
  errorCodeOf,
  httpStatusOf,
  MiB,
  patternBytes,
  uniqueBucket,
} from '../support/fixtures.ts';
import {
  type ProxyProcess,
  proxyEnv,
  proxyS3Client,
  runProxyCli,
  startProxy,
} from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import { errorElements, sha256Hex, signedRequest } from '../support/signed-request.ts';

const ADMIN = { accessKeyId: 'ADMINKEY0001', secretAccessKey: 'admin-secret-0123456789abcdef' };
const APP = { accessKeyId: 'APPKEY0001', secretAccessKey: 'app-secret-0123456789abcdefgh' };
const READER = { accessKeyId: 'READERKEY01', secretAccessKey: 'reader-secret-0123456789abcd' };
const LATER = { accessKeyId: 'LATERKEY001', secretAccessKey: 'later-secret-0123456789abcde' };

async function refusal(
  request: Promise<unknown> | (() => Promise<unknown>),
): Promise<{ status: number | undefined; code: string | undefined }> {
  try {
    await (typeof request === 'function' ? request() : request);
  } catch (error) {
    return { status: httpStatusOf(error), code: errorCodeOf(error) };
  }
  assert.fail('the request was not refused');
}

async function metricValue(proxy: ProxyProcess, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${proxy.healthEndpoint}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('inbound authentication with client credentials', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let mounted: MountedCredentials;
  let direct: S3Client;
  const appBucket = uniqueBucket('auth-app');
  const sharedBucket = uniqueBucket('auth-shared');
  const otherBucket = uniqueBucket('auth-other');
  const credentials = (extra: CredentialSpec[] = []): CredentialSpec[] => [
    { ...ADMIN, allow: [{ bucket: '*' }] },
    {
      ...APP,
      allow: [{ bucket: appBucket }, { bucket: sharedBucket, prefixes: ['reports/'], readOnly: true }],
    },
    { ...READER, allow: [{ bucket: sharedBucket, readOnly: true }] },
    ...extra,
  ];
  const client = (creds: typeof APP, opts: Parameters<typeof proxyS3Client>[1] = {}) =>
    proxyS3Client(proxy, { ...opts, config: { credentials: creds, ...opts.config } });

  before(async () => {
    services = await useServices();
    mounted = await mountCredentials(credentials());
    proxy = await startProxy(services, {
      env: {
        CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE: mounted.path,
        CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_RELOAD_INTERVAL: '1s',
      },
    });
    direct = createS3Client(services);
    const admin = client(ADMIN);
    for (const bucket of [appBucket, sharedBucket, otherBucket]) await createBucket(admin, bucket);
    await admin.send(
      new PutObjectCommand({ Bucket: sharedBucket, Key: 'reports/q1.txt', Body: 'q1 report' }),
    );
    await admin.send(new PutObjectCommand({ Bucket: sharedBucket, Key: 'private/salaries.txt', Body: 'x' }));
    await admin.send(new PutObjectCommand({ Bucket: otherBucket, Key: 'secret.txt', Body: 'other' }));
  });
  after(async () => {
    await proxy?.stop();
    await mounted?.remove();
  });

  describe('aws-sdk-js v3 with a listed credential, unchanged', () => {
    for (const virtualHost of [false, true]) {
      const style = virtualHost ? 'virtual-hosted style' : 'path style';
      it(`PUT, GET, HEAD and list round-trip (${style}), the stored bytes ciphertext`, async () => {
        const app = client(APP, { virtualHost });
        const key = `single/${virtualHost ? 'vh' : 'path'} key ü+%.bin`;
        const data = patternBytes(300_000, virtualHost ? 3 : 4);
        await app.send(new PutObjectCommand({ Bucket: appBucket, Key: key, Body: data }));
        const got = await app.send(new GetObjectCommand({ Bucket: appBucket, Key: key }));
        assert.ok((await bodyBytes(got.Body)).equals(data));
        const head = await app.send(new HeadObjectCommand({ Bucket: appBucket, Key: key }));
        assert.equal(head.ContentLength, data.length);
        const listed = await app.send(new ListObjectsV2Command({ Bucket: appBucket, Prefix: 'single/' }));
        assert.ok(listed.Contents?.some((o) => o.Key === key && o.Size === data.length));
        const stored = await bodyBytes(
          (await direct.send(new GetObjectCommand({ Bucket: appBucket, Key: key }))).Body,
        );
        assert.ok(!stored.includes(data.subarray(0, 64)), 'the upstream holds ciphertext');
      });
    }

    it('a stream body (aws-chunked with a CRC32 trailer, STREAMING-UNSIGNED-PAYLOAD-TRAILER) is stored', async () => {
      const app = client(APP);
      const data = patternBytes(200_000, 7);
      const { Readable } = await import('node:stream');
      await app.send(
        new PutObjectCommand({
          Bucket: appBucket,
          Key: 'stream.bin',
          Body: Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]),
          ContentLength: data.length,
        }),
      );
      const got = await app.send(new GetObjectCommand({ Bucket: appBucket, Key: 'stream.bin' }));
      assert.ok((await bodyBytes(got.Body)).equals(data));
    });

    it('a multipart upload (lib-storage, 3 parts) completes and reads back', async () => {
      const app = client(APP, { virtualHost: true });
      const data = patternBytes(11 * MiB + 5, 11);
      await new Upload({
        client: app,
        params: { Bucket: appBucket, Key: 'multipart.bin', Body: data },
        partSize: 5 * MiB,
      }).done();
      const got = await app.send(new GetObjectCommand({ Bucket: appBucket, Key: 'multipart.bin' }));
      assert.ok((await bodyBytes(got.Body)).equals(data));
    });

    it('presigned PUT and GET URLs work; an expired, a tampered and a badly signed SigV2 URL are refused', async () => {
      const app = client(APP);
      const data = patternBytes(50_000, 5);
      const putUrl = await getSignedUrl(
        app,
        new PutObjectCommand({ Bucket: appBucket, Key: 'presigned.bin' }),
        {
          expiresIn: 300,
        },
      );
      const put = await fetch(putUrl, { method: 'PUT', body: data });
      assert.equal(put.status, 200, await put.text());
      const getUrl = await getSignedUrl(
        app,
        new GetObjectCommand({ Bucket: appBucket, Key: 'presigned.bin' }),
        {
          expiresIn: 300,
        },
      );
      const get = await fetch(getUrl);
      assert.equal(get.status, 200);
      assert.ok(Buffer.from(await get.arrayBuffer()).equals(data));

      const expiredUrl = await getSignedUrl(
        app,
        new GetObjectCommand({ Bucket: appBucket, Key: 'presigned.bin' }),
        {
          expiresIn: 60,
          signingDate: new Date(Date.now() - 10 * 60 * 1000),
        },
      );
      const expired = await fetch(expiredUrl);
      assert.equal(expired.status, 403);
      const expiredError = errorElements(await expired.text());
      assert.equal(expiredError.Code, 'AccessDenied');
      assert.equal(expiredError.Message, 'Request has expired');
      assert.equal(expiredError['X-Amz-Expires'], '60');

      const tampered = await fetch(getUrl.replace('presigned.bin', 'presigned.bin2'));
      assert.equal(tampered.status, 403);
      assert.equal(errorElements(await tampered.text()).Code, 'SignatureDoesNotMatch');
      const longer = await fetch(getUrl.replace('X-Amz-Expires=300', 'X-Amz-Expires=3000'));
      assert.equal(errorElements(await longer.text()).Code, 'SignatureDoesNotMatch');

      const v2 = await fetch(
        `${proxy.endpoint}/${appBucket}/presigned.bin?AWSAccessKeyId=${APP.accessKeyId}&Expires=${Math.floor(Date.now() / 1000) + 60}&Signature=abc%3D`,
      );
      assert.equal(v2.status, 403);
      assert.equal(errorElements(await v2.text()).Code, 'SignatureDoesNotMatch');
    });
  });

  describe('requests without a valid signature get S3 refusals', () => {
    it('a wrong secret: 403 SignatureDoesNotMatch naming the key, the string to sign and the canonical request', async () => {
      const response = await signedRequest(proxy.endpoint, {
        method: 'GET',
        path: `/${appBucket}/single`,
        credentials: { accessKeyId: APP.accessKeyId, secretAccessKey: 'not-the-secret-0123456789' },
      });
      assert.equal(response.status, 403);
      assert.equal(response.headers['content-type'], 'application/xml');
      assert.match(String(response.headers['x-amz-request-id']), /^[0-9A-F]{16}$/);
      const error = errorElements(response.body);
      assert.equal(error.Code, 'SignatureDoesNotMatch');
      assert.equal(error.AWSAccessKeyId, APP.accessKeyId);
      assert.match(
        error.StringToSign ?? '',
        /^AWS4-HMAC-SHA256\n\d{8}T\d{6}Z\n\d{8}\/us-east-1\/s3\/aws4_request\n[0-9a-f]{64}$/,
      );
      assert.match(error.CanonicalRequest ?? '', new RegExp(`^GET\n/${appBucket}/single\n`));
      assert.match(error.SignatureProvided ?? '', /^[0-9a-f]{64}$/);
      assert.ok(!response.body.toString().includes(APP.secretAccessKey));
    });

    it('an unknown access key: 403 InvalidAccessKeyId', async () => {
      const outcome = await refusal(
        client({ accessKeyId: 'NOSUCHKEY', secretAccessKey: 'whatever-0123456789abcdef' }).send(
          new GetObjectCommand({ Bucket: appBucket, Key: 'x' }),
        ),
      );
      assert.deepEqual(outcome, { status: 403, code: 'InvalidAccessKeyId' });
      const response = await signedRequest(proxy.endpoint, {
        method: 'GET',
        path: `/${appBucket}/x`,
        credentials: { accessKeyId: 'NOSUCHKEY', secretAccessKey: 'whatever-0123456789abcdef' },
      });
      assert.equal(response.status, 403);
      assert.deepEqual(
        [errorElements(response.body).Code, errorElements(response.body).AWSAccessKeyId],
        ['InvalidAccessKeyId', 'NOSUCHKEY'],
      );
    });

    it('a clock 20 minutes off: 403 RequestTimeTooSkewed; the SDK takes the time of the refusal and its next request passes', async () => {
      const skewed = client(APP, { config: { systemClockOffset: -20 * 60 * 1000, maxAttempts: 1 } });
      assert.deepEqual(
        await refusal(skewed.send(new GetObjectCommand({ Bucket: appBucket, Key: 'stream.bin' }))),
        {
          status: 403,
          code: 'RequestTimeTooSkewed',
        },
      );
      const got = await skewed.send(new GetObjectCommand({ Bucket: appBucket, Key: 'stream.bin' }));
      assert.equal((await bodyBytes(got.Body)).length, 200_000);
      const response = await signedRequest(proxy.endpoint, {
        method: 'GET',
        path: `/${appBucket}/stream.bin`,
        credentials: APP,
        signingDate: new Date(Date.now() + 16 * 60 * 1000),
      });
      assert.equal(response.status, 403);
      const error = errorElements(response.body);
      assert.equal(error.Code, 'RequestTimeTooSkewed');
      assert.equal(error.MaxAllowedSkewMilliseconds, '900000');
      assert.match(error.ServerTime ?? '', /^\d{4}-\d{2}-\d{2}T/);
    });

    it('no signature: 403 AccessDenied; SigV2: 400 InvalidRequest; a session token: 400 InvalidToken', async () => {
      const anonymous = await fetch(`${proxy.endpoint}/${appBucket}/stream.bin`);
      assert.equal(anonymous.status, 403);
      assert.equal(errorElements(await anonymous.text()).Code, 'AccessDenied');
      const v2 = await fetch(`${proxy.endpoint}/${appBucket}/stream.bin`, {
        headers: { authorization: `AWS ${APP.accessKeyId}:c2lnbmF0dXJl`, date: new Date().toUTCString() },
      });
      assert.equal(v2.status, 400);
      assert.match(
        await v2.text(),
        /<Code>InvalidRequest<\/Code><Message>The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.<\/Message>/,
      );
      const withToken = client({ ...APP, sessionToken: 'FwoGZXIvYXdzEXAMPLE' } as typeof APP);
      assert.deepEqual(
        await refusal(withToken.send(new GetObjectCommand({ Bucket: appBucket, Key: 'stream.bin' }))),
        {
          status: 400,
          code: 'InvalidToken',
        },
      );
    });

    it('an x-amz-* header added after signing: 403 AccessDenied naming it', async () => {
      const response = await signedRequest(proxy.endpoint, {
        method: 'PUT',
        path: `/${appBucket}/copied-by-attacker`,
        credentials: APP,
        body: Buffer.from('x'),
        tamper: (request) => {
          request.headers['x-amz-copy-source'] = `/${otherBucket}/secret.txt`;
        },
      });
      assert.equal(response.status, 403);
      const error = errorElements(response.body);
      assert.equal(error.Code, 'AccessDenied');
      assert.equal(error.HeadersNotSigned, 'x-amz-copy-source');
    });

    it('a body that differs from its signed x-amz-content-sha256 is refused and nothing is stored', async () => {
      const response = await signedRequest(proxy.endpoint, {
        method: 'PUT',
        path: `/${appBucket}/swapped-body`,
        credentials: APP,
        payloadHash: sha256Hex('the body that was signed'),
        body: Buffer.from('a body that was swapped!'),
      });
      assert.equal(response.status, 400);
      assert.equal(errorElements(response.body).Code, 'XAmzContentSHA256Mismatch');
      const stored = await direct
        .send(new HeadObjectCommand({ Bucket: appBucket, Key: 'swapped-body' }))
        .catch((e) => e);
      assert.equal(httpStatusOf(stored), 404);
    });
  });

  describe('grants', () => {
    it('a bucket outside the grants: 403 AccessDenied for reads, writes and listings', async () => {
      const app = client(APP);
      for (const attempt of [
        () => app.send(new GetObjectCommand({ Bucket: otherBucket, Key: 'secret.txt' })),
        () => app.send(new PutObjectCommand({ Bucket: otherBucket, Key: 'planted.txt', Body: 'x' })),
        () => app.send(new ListObjectsV2Command({ Bucket: otherBucket })),
      ]) {
        assert.deepEqual(await refusal(attempt), { status: 403, code: 'AccessDenied' });
      }
      assert.equal(
        httpStatusOf(
          await direct
            .send(new HeadObjectCommand({ Bucket: otherBucket, Key: 'planted.txt' }))
            .catch((e) => e),
        ),
        404,
      );
    });

    it('a read-only prefix grant: reads inside the prefix, no writes, no reads or listings outside it', async () => {
      const app = client(APP);
      const got = await app.send(new GetObjectCommand({ Bucket: sharedBucket, Key: 'reports/q1.txt' }));
      assert.equal((await bodyBytes(got.Body)).toString(), 'q1 report');
      const listed = await app.send(new ListObjectsV2Command({ Bucket: sharedBucket, Prefix: 'reports/' }));
      assert.deepEqual(
        listed.Contents?.map((o) => o.Key),
        ['reports/q1.txt'],
      );
      for (const attempt of [
        () => app.send(new PutObjectCommand({ Bucket: sharedBucket, Key: 'reports/q2.txt', Body: 'x' })),
        () => app.send(new CreateMultipartUploadCommand({ Bucket: sharedBucket, Key: 'reports/big.bin' })),
        () => app.send(new GetObjectCommand({ Bucket: sharedBucket, Key: 'private/salaries.txt' })),
        () => app.send(new ListObjectsV2Command({ Bucket: sharedBucket })),
        () => app.send(new ListObjectsV2Command({ Bucket: sharedBucket, Prefix: '', Delimiter: '/' })),
      ]) {
        assert.deepEqual(await refusal(attempt), { status: 403, code: 'AccessDenied' });
      }
    });

    it('ListBuckets shows only the granted buckets', async () => {
      const names = (await client(APP).send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name) ?? [];
      assert.ok(names.includes(appBucket) && names.includes(sharedBucket), names.join(','));
      assert.ok(!names.includes(otherBucket), names.join(','));
      const all = (await client(ADMIN).send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name) ?? [];
      assert.ok(all.includes(otherBucket));
    });

    it('copies check the source too: CopyObject and UploadPartCopy from a forbidden source are refused', async () => {
      const app = client(APP);
      await app.send(
        new CopyObjectCommand({
          Bucket: appBucket,
          Key: 'copy-of-report',
          CopySource: `${sharedBucket}/reports/q1.txt`,
        }),
      );
      const copied = await app.send(new GetObjectCommand({ Bucket: appBucket, Key: 'copy-of-report' }));
      assert.equal((await bodyBytes(copied.Body)).toString(), 'q1 report');
      assert.deepEqual(
        await refusal(
          app.send(
            new CopyObjectCommand({
              Bucket: appBucket,
              Key: 'stolen',
              CopySource: `${otherBucket}/secret.txt`,
            }),
          ),
        ),
        { status: 403, code: 'AccessDenied' },
      );
      const upload = await app.send(
        new CreateMultipartUploadCommand({ Bucket: appBucket, Key: 'stolen-mp' }),
      );
      assert.deepEqual(
        await refusal(
          app.send(
            new UploadPartCopyCommand({
              Bucket: appBucket,
              Key: 'stolen-mp',
              UploadId: upload.UploadId,
              PartNumber: 1,
              CopySource: `${sharedBucket}/private/salaries.txt`,
            }),
          ),
        ),
        { status: 403, code: 'AccessDenied' },
      );
      assert.equal(
        httpStatusOf(
          await direct.send(new HeadObjectCommand({ Bucket: appBucket, Key: 'stolen' })).catch((e) => e),
        ),
        404,
      );
    });

    it('DeleteObjects deletes the permitted keys and answers AccessDenied for each other key, as S3 does; ETag conditions still hold', async () => {
      const old = await client(ADMIN).send(
        new PutObjectCommand({ Bucket: sharedBucket, Key: 'reports/old.txt', Body: 'old' }),
      );
      await client(ADMIN).send(
        new PutObjectCommand({ Bucket: sharedBucket, Key: 'reports/kept.txt', Body: 'kept' }),
      );
      await mounted.update(
        credentials([{ ...LATER, allow: [{ bucket: sharedBucket, prefixes: ['reports/'] }] }]),
      );
      await waitForKey(client(LATER), sharedBucket, 'reports/q1.txt');
      const result = await client(LATER).send(
        new DeleteObjectsCommand({
          Bucket: sharedBucket,
          Delete: {
            Objects: [
              { Key: 'reports/old.txt', ETag: old.ETag },
              { Key: 'reports/kept.txt', ETag: '"0123456789abcdef0123456789abcdef-0"' },
              { Key: 'private/salaries.txt' },
            ],
          },
        }),
      );
      assert.deepEqual(
        result.Deleted?.map((d) => d.Key),
        ['reports/old.txt'],
      );
      assert.deepEqual(
        result.Errors?.map((e) => [e.Key, e.Code]),
        [
          ['reports/kept.txt', 'PreconditionFailed'],
          ['private/salaries.txt', 'AccessDenied'],
        ],
      );
      await direct.send(new HeadObjectCommand({ Bucket: sharedBucket, Key: 'private/salaries.txt' }));
      await direct.send(new HeadObjectCommand({ Bucket: sharedBucket, Key: 'reports/kept.txt' }));
      assert.equal(
        httpStatusOf(
          await direct
            .send(new HeadObjectCommand({ Bucket: sharedBucket, Key: 'reports/old.txt' }))
            .catch((e) => e),
        ),
        404,
      );
      await mounted.update(credentials());
    });
  });

  describe('the credentials file', () => {
    it('is reloaded while the proxy serves: a new key works, a removed key is refused, a bad file keeps the old', async () => {
      const failedBefore = await metricValue(
        proxy,
        'cloudtaser_s3proxy_client_credentials_reloads_total',
        'outcome="failed"',
      );
      await mounted.update([
        ...credentials().filter((c) => c.accessKeyId !== READER.accessKeyId),
        { ...LATER, allow: [{ bucket: appBucket }] },
      ]);
      const later = client(LATER);
      await waitForKey(later, appBucket, 'stream.bin');
      assert.deepEqual(
        await refusal(
          client(READER).send(new GetObjectCommand({ Bucket: sharedBucket, Key: 'reports/q1.txt' })),
        ),
        {
          status: 403,
          code: 'InvalidAccessKeyId',
        },
      );

      await mounted.update('credentials:\n  - accessKeyId: BROKEN\n    secretAccessKey: [unterminated\n');
      const deadline = Date.now() + 15_000;
      while (
        (await metricValue(
          proxy,
          'cloudtaser_s3proxy_client_credentials_reloads_total',
          'outcome="failed"',
        )) === failedBefore &&
        Date.now() < deadline
      ) {
        await sleep(100);
      }
      assert.ok(
        (await metricValue(
          proxy,
          'cloudtaser_s3proxy_client_credentials_reloads_total',
          'outcome="failed"',
        )) > failedBefore,
        'the failed reload is counted',
      );
      const got = await later.send(new GetObjectCommand({ Bucket: appBucket, Key: 'stream.bin' }));
      assert.equal((await bodyBytes(got.Body)).length, 200_000, 'the credentials in force stay');
      assert.ok(
        await proxy.waitForLogRecord(
          (r) => r.msg === 'client credentials not reloaded; the credentials in force stay',
        ),
      );
      await mounted.update(credentials());
      await waitForKey(client(READER), sharedBucket, 'reports/q1.txt');
    });

    it('refusals are counted by reason, and logs name the access key but never a secret', async () => {
      const unknownBefore = await metricValue(
        proxy,
        'cloudtaser_s3proxy_client_auth_refusals_total',
        'reason="unknown_key"',
      );
      await refusal(
        client({ accessKeyId: 'COUNTEDKEY', secretAccessKey: 'whatever-0123456789abcdef' }).send(
          new HeadObjectCommand({ Bucket: appBucket, Key: 'x' }),
        ),
      );
      assert.equal(
        await metricValue(proxy, 'cloudtaser_s3proxy_client_auth_refusals_total', 'reason="unknown_key"'),
        unknownBefore + 1,
      );
      assert.ok(
        (await metricValue(proxy, 'cloudtaser_s3proxy_client_auth_refusals_total', 'reason="not_allowed"')) >
          0,
      );
      const served = await proxy.waitForLogRecord(
        (r) => r.msg === 'request' && r.accessKeyId === APP.accessKeyId,
      );
      assert.ok(served, 'request lines name the access key');
      const refused = await proxy.waitForLogRecord(
        (r) => r.accessKeyId === 'COUNTEDKEY' && r.refusal === 'unknown_key',
      );
      assert.ok(refused, 'refusals name the key that was presented');
      const logs = proxy.logs();
      for (const secret of [ADMIN, APP, READER, LATER].map((c) => c.secretAccessKey)) {
        assert.ok(!logs.includes(secret), 'a client secret in the log');
      }
    });
  });

  it('raw requests with odd but valid targets verify: dot segments, double slashes, encoded slashes', async () => {
    const app = client(APP);
    for (const key of ['a//b', 'enc%2Fslash', 'tilde~and!bang', 'sp ace+plus']) {
      await app.send(new PutObjectCommand({ Bucket: appBucket, Key: key, Body: key }));
      const got = await app.send(new GetObjectCommand({ Bucket: appBucket, Key: key }));
      assert.equal((await bodyBytes(got.Body)).toString(), key);
    }
    // SeaweedFS refuses dot segments itself; the signature over them verified, so its answer is what comes back.
    const dots = await refusal(
      app.send(new PutObjectCommand({ Bucket: appBucket, Key: 'dots/./x/../y', Body: 'x' })),
    );
    assert.equal(dots.code, 'InvalidRequest');
    // A client that signed the strict encoding but whose HTTP stack sends "~" as "%7E" still verifies.
    const response = await signedRequest(proxy.endpoint, {
      method: 'GET',
      path: `/${appBucket}/tilde~and%21bang`,
      credentials: APP,
      tamper: (request) => {
        request.path = request.path.replace('~', '%7E');
      },
    });
    assert.equal(response.status, 200, response.body.toString());
    assert.equal(response.body.toString(), 'tilde~and!bang');
  });
});

/** Waits until the reloaded credentials let `client` read the object (the reload is asynchronous). */
async function waitForKey(client: S3Client, bucket: string, key: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

describe('a client credentials file that cannot be used at start', () => {
  it('stops the proxy with exit status 2, naming the file and each problem but no secret', async () => {
    const services = await useServices();
    const mounted = await mountCredentials(
      'credentials:\n  - accessKeyId: OK-KEY\n    secretAccessKey: short-secret\n    allow: [{bucket: b, readonly: true}]\n',
    );
    try {
      const result = await runProxyCli(['serve'], {
        ...proxyEnv(services, { listenAddr: '127.0.0.1:0', healthAddr: '127.0.0.1:0' }),
        CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE: mounted.path,
      });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE ${mounted.path}`));
      assert.match(result.stderr, /secretAccessKey must be a string of at least 16 characters/);
      assert.match(result.stderr, /unknown field "readonly"/);
      assert.ok(!result.stderr.includes('short-secret') && !result.stdout.includes('short-secret'));
    } finally {
      await mounted.remove();
    }
  });
});
