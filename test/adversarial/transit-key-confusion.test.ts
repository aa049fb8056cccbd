/**
 * The provider against tenant isolation by Transit key (docs/decisions/0013-transit-keys-per-bucket.md): it
 * holds every stored byte and every metadata value of every bucket, and tries to make the proxy unwrap one
 * tenant's object for another tenant's clients (the confused deputy) by moving objects between buckets,
 * and by editing the key the object records. No such read may return plaintext, and a refusal by the rule
 * must come before any Vault call.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createTransitKey, tokenForKeys } from '../integration/transit-keys-support.ts';
import { metric, metricsOf } from '../integration/vault-support.ts';
import {
  bodyBytes,
  createBucket,
  errorCodeOf,
  httpStatusOf,
  MiB,
  uniqueBucket,
  uploadParts,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

const SECRET = 'tenant-b-secret-marker';

describe("the provider moves tenant B's objects where tenant A's clients read", () => {
  let services: Services;
  let direct: S3Client;
  let proxy: ProxyProcess;
  let client: S3Client;
  const id = randomBytes(4).toString('hex');
  const keyA = `confused-a-${id}`;
  const keyB = `confused-b-${id}`;
  const bucketA = uniqueBucket('deputy-a');
  const bucketB = uniqueBucket('deputy-b');
  const bucketShared = uniqueBucket('deputy-shared');
  const secret = Buffer.from(`${SECRET} `.repeat(3000));

  /** A GET through the proxy that must fail: its status, code, and everything the client received. */
  async function refusedRead(bucket: string, key: string) {
    const before = await metricsOf(proxy);
    let outcome: { status?: number; code?: string; message: string; body?: Buffer };
    try {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      outcome = { message: 'served', body: await bodyBytes(response.Body).catch(() => Buffer.alloc(0)) };
    } catch (error) {
      outcome = {
        ...(httpStatusOf(error) === undefined ? {} : { status: httpStatusOf(error) as number }),
        ...(errorCodeOf(error) === undefined ? {} : { code: errorCodeOf(error) as string }),
        message: error instanceof Error ? error.message : String(error),
      };
    }
    const after = await metricsOf(proxy);
    const decrypts =
      metric(after, 'vault_requests_total', { call: 'decrypt' }) -
      metric(before, 'vault_requests_total', { call: 'decrypt' });
    const lookups = metric(after, 'key_cache_lookups_total') - metric(before, 'key_cache_lookups_total');
    assert.ok(
      !(outcome.body ?? Buffer.alloc(0)).includes(SECRET),
      'no plaintext of tenant B reached the client',
    );
    return { ...outcome, unwrapAttempts: decrypts + lookups };
  }

  /** The provider's own server-side copy, envelope and all, optionally with edited metadata. */
  async function providerCopy(
    from: { bucket: string; key: string },
    to: { bucket: string; key: string },
    edit?: (metadata: Record<string, string>) => void,
  ) {
    const head = await direct.send(new HeadObjectCommand({ Bucket: from.bucket, Key: from.key }));
    const metadata = { ...(head.Metadata ?? {}) };
    edit?.(metadata);
    await direct.send(
      new CopyObjectCommand({
        Bucket: to.bucket,
        Key: to.key,
        CopySource: `${from.bucket}/${from.key}`,
        ...(edit === undefined ? {} : { MetadataDirective: 'REPLACE', Metadata: metadata }),
      }),
    );
  }

  before(async () => {
    services = await useServices();
    direct = createS3Client(services);
    await createTransitKey(services.vault, keyA);
    await createTransitKey(services.vault, keyB);
    const token = await tokenForKeys(services.vault, `confused-${id}`, [
      services.vault.transitKey,
      keyA,
      keyB,
    ]);
    for (const bucket of [bucketA, bucketB, bucketShared]) await createBucket(direct, bucket);
    proxy = await startProxy(services, {
      env: { CLOUDTASER_S3PROXY_TRANSIT_KEYS: `${bucketA}=${keyA},${bucketB}=${keyB}`, VAULT_TOKEN: token },
    });
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    await client.send(new PutObjectCommand({ Bucket: bucketB, Key: 'secret.txt', Body: secret }));
    await uploadParts(client, bucketB, 'secret-multi.bin', [Buffer.alloc(5 * MiB, SECRET), secret]);
    // Tenant B reads its own objects: their keys are now in B's cache too, which must not help A.
    assert.ok(
      (
        await bodyBytes(
          (
            await client.send(new GetObjectCommand({ Bucket: bucketB, Key: 'secret.txt' }))
          ).Body,
        )
      ).equals(secret),
    );
  });

  after(async () => {
    client?.destroy();
    direct?.destroy();
    await proxy?.stop();
  });

  it('an object copied from B into A, envelope unchanged, is refused with AccessDenied and never unwrapped', async () => {
    await providerCopy({ bucket: bucketB, key: 'secret.txt' }, { bucket: bucketA, key: 'planted.txt' });
    const read = await refusedRead(bucketA, 'planted.txt');
    assert.equal(read.status, 403);
    assert.equal(read.code, 'AccessDenied');
    assert.match(
      read.message,
      new RegExp(`records Transit key transit/${keyB}, which the mapping does not accept for ${bucketA}/`),
    );
    assert.equal(read.unwrapAttempts, 0, 'no Vault call and no cache lookup for the planted object');
  });

  it('a multipart object copied from B into A is refused the same way', async () => {
    await providerCopy(
      { bucket: bucketB, key: 'secret-multi.bin' },
      { bucket: bucketA, key: 'planted-multi.bin' },
    );
    const read = await refusedRead(bucketA, 'planted-multi.bin');
    assert.equal(read.status, 403);
    assert.equal(read.code, 'AccessDenied');
    assert.equal(read.unwrapAttempts, 0);
  });

  it("relabelled with A's key, the planted object reaches Transit under A's key only, which refuses it: no plaintext", async () => {
    await providerCopy(
      { bucket: bucketB, key: 'secret.txt' },
      { bucket: bucketA, key: 'relabelled.txt' },
      (metadata) => {
        metadata['cloudtaser-transit-key'] = `transit/${keyA}`;
      },
    );
    const read = await refusedRead(bucketA, 'relabelled.txt');
    assert.equal(read.message === 'served', false, 'the object is not served');
    assert.equal(read.code, 'InvalidEncryptedObject');
  });

  it('with the recorded key removed, the object counts as under the default key, which bucket A does not accept', async () => {
    await providerCopy(
      { bucket: bucketB, key: 'secret.txt' },
      { bucket: bucketA, key: 'unlabelled.txt' },
      (metadata) => {
        delete metadata['cloudtaser-transit-key'];
      },
    );
    const read = await refusedRead(bucketA, 'unlabelled.txt');
    assert.equal(read.status, 403);
    assert.equal(read.code, 'AccessDenied');
    assert.equal(read.unwrapAttempts, 0);
  });

  it('a recorded key the proxy is not configured with is refused with a clear AccessDenied, never unwrapped', async () => {
    await providerCopy(
      { bucket: bucketB, key: 'secret.txt' },
      { bucket: bucketB, key: 'foreign.txt' },
      (metadata) => {
        metadata['cloudtaser-transit-key'] = 'transit/provider-chosen';
      },
    );
    const read = await refusedRead(bucketB, 'foreign.txt');
    assert.equal(read.status, 403);
    assert.equal(read.code, 'AccessDenied');
    assert.match(
      read.message,
      /records Transit key transit\/provider-chosen, which this proxy is not configured with/,
    );
    assert.equal(read.unwrapAttempts, 0);
  });

  it("B's object moved into an unmapped bucket (the default key's) is refused too", async () => {
    await providerCopy({ bucket: bucketB, key: 'secret.txt' }, { bucket: bucketShared, key: 'planted.txt' });
    const read = await refusedRead(bucketShared, 'planted.txt');
    assert.equal(read.status, 403);
    assert.equal(read.code, 'AccessDenied');
    assert.equal(read.unwrapAttempts, 0);
  });

  it("a client of A cannot launder the planted object through the proxy's own CopyObject", async () => {
    const before = await metricsOf(proxy);
    let code: string | undefined;
    try {
      await client.send(
        new CopyObjectCommand({
          Bucket: bucketA,
          Key: 'laundered.txt',
          CopySource: `${bucketA}/planted.txt`,
        }),
      );
    } catch (error) {
      code = errorCodeOf(error);
    }
    assert.equal(code, 'AccessDenied');
    await assert.rejects(
      direct.send(new HeadObjectCommand({ Bucket: bucketA, Key: 'laundered.txt' })),
      'nothing was written',
    );
    const after = await metricsOf(proxy);
    assert.equal(
      metric(after, 'vault_requests_total', { call: 'decrypt' }) -
        metric(before, 'vault_requests_total', { call: 'decrypt' }),
      0,
    );
  });
});
