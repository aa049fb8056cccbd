/**
 * The write paths this round rewrote, probed for what SeaweedFS then holds: copies and part copies between
 * buckets under different Transit keys (re-encrypted by the proxy), and presigned URLs whose presigner
 * hoisted x-amz-* headers into the query (taken as headers before the request is classified). Each probe's
 * plaintext carries a marker; the tally reads every object of the bucket directly afterwards.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createTransitKey, tokenForKeys } from '../integration/transit-keys-support.ts';
import { createBucket, MiB, uniqueBucket, uploadParts } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { createS3Client, useServices } from '../support/services.ts';
import { describeResponse, ProbeTally } from './support.ts';

/** A body of `size` bytes that holds the marker at its start and at its end. */
function markedBody(marker: string, size: number): Buffer {
  const body = Buffer.alloc(size, 0x2e);
  body.write(marker, 0);
  body.write(marker, size - marker.length);
  return body;
}

describe('rewritten writes store nothing unsafe: cross-key copies and presigned URLs with hoisted headers', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const id = randomBytes(4).toString('hex');
  const source = uniqueBucket('rewrite-a');
  const target = uniqueBucket('rewrite-b');
  let tallySource: ProbeTally;
  let tallyTarget: ProbeTally;
  let serial = 0;
  const name = (label: string) => `${label}-${++serial}`;

  before(async () => {
    const services = await useServices();
    const keyA = `rewrite-a-${id}`;
    const keyB = `rewrite-b-${id}`;
    for (const key of [keyA, keyB]) await createTransitKey(services.vault, key);
    const token = await tokenForKeys(services.vault, `rewrite-${id}`, [
      services.vault.transitKey,
      keyA,
      keyB,
    ]);
    proxy = await startProxy(services, {
      env: { CLOUDTASER_S3PROXY_TRANSIT_KEYS: `${source}=${keyA},${target}=${keyB}`, VAULT_TOKEN: token },
    });
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(services);
    for (const bucket of [source, target]) await createBucket(direct, bucket);
    tallySource = new ProbeTally(direct, source);
    tallyTarget = new ProbeTally(direct, target);
  });
  after(async () => {
    if (tallySource) console.log(tallySource.summary(`rewritten writes into ${source} (presigned)`));
    if (tallyTarget) console.log(tallyTarget.summary(`rewritten writes into ${target} (across keys)`));
    for (const outcome of [...(tallySource?.outcomes ?? []), ...(tallyTarget?.outcomes ?? [])])
      console.log(`  ${outcome.name}: ${outcome.detail?.split(' ').slice(0, 2).join(' ')}`);
    client?.destroy();
    await proxy?.stop();
  });

  /** A source object written through the proxy under the source bucket's key, its plaintext marked. */
  const putSource = async (marker: string, size = 70_000) => {
    const key = name('source');
    await client.send(new PutObjectCommand({ Bucket: source, Key: key, Body: markedBody(marker, size) }));
    return key;
  };

  for (const directive of ['COPY', 'REPLACE'] as const) {
    it(`CopyObject ${directive} into a bucket under another key stores the copy re-encrypted, envelope and all`, async () => {
      const outcome = await tallyTarget.probe(`CopyObject ${directive} across keys`, async (marker) => {
        const from = await putSource(marker);
        await client.send(
          new CopyObjectCommand({
            Bucket: target,
            Key: name('copy'),
            CopySource: `${source}/${from}`,
            MetadataDirective: directive,
            // A client's own envelope names are dropped, whatever the directive.
            ...(directive === 'REPLACE' ? { Metadata: { 'cloudtaser-format': 'v1', note: 'replaced' } } : {}),
          }),
        );
        return 'copied';
      });
      assert.deepEqual(outcome.stored, [], outcome.detail);
    });
  }

  it('CopyObject of a multipart source into a bucket under another key stores ciphertext only', async () => {
    const outcome = await tallyTarget.probe('CopyObject multipart source across keys', async (marker) => {
      const from = name('multipart-source');
      await uploadParts(client, source, from, [markedBody(marker, 5 * MiB), markedBody(marker, 1000)]);
      await client.send(
        new CopyObjectCommand({ Bucket: target, Key: name('copy'), CopySource: `${source}/${from}` }),
      );
      return 'copied';
    });
    assert.deepEqual(outcome.stored, [], outcome.detail);
  });

  it('UploadPartCopy across keys, completed and left in progress, stores ciphertext only', async () => {
    const completed = await tallyTarget.probe('UploadPartCopy across keys, completed', async (marker) => {
      const from = await putSource(marker);
      const key = name('part-copy');
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: target, Key: key }));
      const { CopyPartResult } = await client.send(
        new UploadPartCopyCommand({
          Bucket: target,
          Key: key,
          UploadId,
          PartNumber: 1,
          CopySource: `${source}/${from}`,
        }),
      );
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: target,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: CopyPartResult?.ETag }] },
        }),
      );
      return 'completed';
    });
    assert.deepEqual(completed.stored, [], completed.detail);

    await tallyTarget.probe('UploadPartCopy across keys, left in progress', async (marker) => {
      const from = await putSource(marker);
      const key = name('part-copy-open');
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: target, Key: key }));
      await client.send(
        new UploadPartCopyCommand({
          Bucket: target,
          Key: key,
          UploadId,
          PartNumber: 1,
          CopySource: `${source}/${from}`,
        }),
      );
      return 'part copied';
    });
    const leftOver = await tallyTarget.completeUploads();
    assert.deepEqual(leftOver.stored, [], leftOver.detail);
  });

  /** Presigned as aws-sdk-js v3 presigns, which hoists every x-amz-* header of the command into the query. */
  const PRESIGN = { expiresIn: 300 };

  const hoistedProbes: Array<{
    label: string;
    request: (marker: string) => Promise<{ url: string; method: string; body?: Buffer }>;
    expect: RegExp;
  }> = [
    {
      label: 'PUT with hoisted envelope names',
      request: async (marker) => ({
        url: await getSignedUrl(
          client,
          new PutObjectCommand({
            Bucket: source,
            Key: name('presigned'),
            Metadata: {
              'cloudtaser-format': 'v1',
              'cloudtaser-dek': 'vault:v1:forged',
              'cloudtaser-size': '5',
            },
          }),
          PRESIGN,
        ),
        method: 'PUT',
        body: markedBody(marker, 70_000),
      }),
      expect: /^200/,
    },
    {
      label: 'PUT with hoisted x-amz-content-sha256 UNSIGNED-PAYLOAD',
      request: async (marker) => ({
        url: `${await getSignedUrl(
          client,
          new PutObjectCommand({ Bucket: source, Key: name('presigned') }),
          PRESIGN,
        )}&x-amz-content-sha256=UNSIGNED-PAYLOAD`,
        method: 'PUT',
        body: markedBody(marker, 70_000),
      }),
      expect: /^200/,
    },
    {
      label: 'PUT with hoisted x-amz-decoded-content-length',
      request: async (marker) => ({
        url: `${await getSignedUrl(
          client,
          new PutObjectCommand({ Bucket: source, Key: name('presigned') }),
          PRESIGN,
        )}&x-amz-decoded-content-length=10`,
        method: 'PUT',
        body: markedBody(marker, 70_000),
      }),
      expect: /^400 InvalidArgument/,
    },
    {
      label: 'CopyObject REPLACE through hoisted x-amz-copy-source and directive',
      request: async (marker) => {
        const from = await putSource(marker);
        return {
          url: await getSignedUrl(
            client,
            new CopyObjectCommand({
              Bucket: source,
              Key: name('presigned-copy'),
              CopySource: `${source}/${from}`,
              MetadataDirective: 'REPLACE',
            }),
            PRESIGN,
          ),
          method: 'PUT',
        };
      },
      expect: /^200/,
    },
    {
      label: 'PUT with a body and a hoisted x-amz-copy-source',
      request: async (marker) => {
        const from = await putSource(`${marker}-source`);
        return {
          url: `${await getSignedUrl(
            client,
            new PutObjectCommand({ Bucket: source, Key: name('presigned') }),
            PRESIGN,
          )}&x-amz-copy-source=${encodeURIComponent(`/${source}/${from}`)}`,
          method: 'PUT',
          body: markedBody(marker, 70_000),
        };
      },
      expect: /^200 <\?xml.*<CopyObjectResult/s,
    },
    {
      label: 'UploadPart of an upload created with hoisted envelope names, left in progress',
      request: async (marker) => {
        const key = name('presigned-upload');
        const created = await rawRequest(
          await getSignedUrl(
            client,
            new CreateMultipartUploadCommand({
              Bucket: source,
              Key: key,
              Metadata: { 'cloudtaser-format': 'v1' },
            }),
            PRESIGN,
          ),
          { method: 'POST' },
        );
        const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created.body)?.[1];
        assert.ok(uploadId, `no upload id: ${created.status} ${created.body}`);
        return {
          url: await getSignedUrl(
            client,
            new UploadPartCommand({ Bucket: source, Key: key, UploadId: uploadId, PartNumber: 1 }),
            PRESIGN,
          ),
          method: 'PUT',
          body: markedBody(marker, 70_000),
        };
      },
      expect: /^200/,
    },
  ];

  it('presigned URLs with hoisted headers store nothing unsafe, and each answers as S3 would', async () => {
    for (const probe of hoistedProbes) {
      const outcome = await tallySource.probe(`presigned: ${probe.label}`, async (marker) => {
        const { url, method, body } = await probe.request(marker);
        const response = await rawRequest(url, {
          method,
          ...(body === undefined
            ? { headers: { 'content-length': '0' } }
            : { headers: { 'content-length': String(body.length) }, body }),
        });
        return `${describeResponse(response)} ${response.body.slice(0, 300)}`;
      });
      assert.deepEqual(outcome.stored, [], `${probe.label}: ${outcome.detail}`);
      assert.match(outcome.detail ?? '', probe.expect, probe.label);
    }
    const leftOver = await tallySource.completeUploads('presigned: parts left in progress, completed');
    assert.deepEqual(leftOver.stored, [], leftOver.detail);
    assert.deepEqual(tallySource.failures(), []);
  });
});
