import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { KEY_WINDOW } from '../../src/envelope/index.ts';
import {
  bodyBytes,
  createBucket,
  MiB,
  patternBytes,
  uniqueBucket,
  uploadParts,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import { bao, metric, metricsOf, ownTransitKey, rejection } from './vault-support.ts';

const suffix = () => randomBytes(4).toString('hex');

/** Waits for the start-up Transit round trip to be over, so that it does not count in what a test measures. */
async function startedUp(proxy: ProxyProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (proxy.logRecords().some((record) => record.msg === 'Vault Transit key usable')) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail('the proxy never found the Transit key usable');
}

async function storedWrappedDek(direct: S3Client, bucket: string, key: string): Promise<string> {
  const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const wrapped = head.Metadata?.['cloudtaser-dek'];
  assert.ok(wrapped !== undefined, `${key} carries a wrapped data key`);
  return wrapped;
}

describe('Transit off the hot path: pre-wrapped keys for writes, cached keys for reads', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('vault-keys');

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services, { env: { VAULT_MAX_RETRIES: '0' } });
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await services?.resumeVault();
    await proxy?.stop();
  });

  it('60 PUTs cost a few batched Transit encrypt calls, and each object has a data key of its own', async () => {
    const before = await metricsOf(proxy);
    const keys = Array.from({ length: 60 }, (_, i) => `put-${i}`);
    for (const key of keys) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: patternBytes(100, keys.indexOf(key)) }),
      );
    }
    const afterText = await metricsOf(proxy);
    const encrypts =
      metric(afterText, 'vault_requests_total', { call: 'encrypt' }) -
      metric(before, 'vault_requests_total', { call: 'encrypt' });
    assert.ok(encrypts <= 3, `${encrypts} encrypt calls for 60 PUTs`);
    assert.ok(metric(afterText, 'data_keys_issued_total', { source: 'pool' }) >= 55);

    const wrapped = await Promise.all(keys.map((key) => storedWrappedDek(direct, bucket, key)));
    assert.equal(new Set(wrapped).size, 60);
    // Unwrapped by OpenBao itself: 60 different data keys, not one key wrapped 60 times.
    const decrypted = await bao(services.vault, 'POST', `transit/decrypt/${services.vault.transitKey}`, {
      body: { batch_input: wrapped.map((ciphertext) => ({ ciphertext })) },
    });
    const plaintexts = (
      decrypted?.data as { batch_results: { plaintext: string }[] } | undefined
    )?.batch_results.map((result) => result.plaintext);
    assert.equal(new Set(plaintexts).size, 60);
    assert.ok(plaintexts !== undefined);
    for (const plaintext of plaintexts) assert.equal(Buffer.from(plaintext, 'base64').length, 32);
  });

  it('20 GETs of one object cost one Transit decrypt; the cache counts 19 hits', async () => {
    const body = patternBytes(3000, 7);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'read-often', Body: body }));
    const before = await metricsOf(proxy);
    const reads = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'read-often' }));
        return bodyBytes(got.Body);
      }),
    );
    for (const read of reads) assert.ok(read.equals(body));
    const afterText = await metricsOf(proxy);
    const delta = (name: string, labels: Record<string, string>) =>
      metric(afterText, name, labels) - metric(before, name, labels);
    assert.equal(delta('vault_requests_total', { call: 'decrypt' }), 1);
    assert.equal(delta('key_cache_lookups_total', { result: 'miss' }), 1);
    assert.equal(delta('key_cache_lookups_total', { result: 'hit' }), 19);
    assert.ok(metric(afterText, 'key_cache_entries') >= 1);
  });

  it(`a first read of a ${KEY_WINDOW + 2}-part object asks Vault for its keys in 3 decrypt calls, not one per part`, async () => {
    const key = 'many-parts';
    const partCount = KEY_WINDOW + 2;
    // S3's smallest part (all but the last); the same bytes in each part, whose order other tests check.
    const part = patternBytes(5 * MiB, 3);
    const last = patternBytes(1000, 4);
    const parts = [...Array.from({ length: partCount - 1 }, () => part), last];
    await uploadParts(client, bucket, key, parts);
    const expected = createHash('sha256');
    for (const body of parts) expected.update(body);

    const before = await metricsOf(proxy);
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const read = createHash('sha256');
    for await (const chunk of got.Body as AsyncIterable<Uint8Array>) read.update(chunk);
    assert.equal(read.digest('hex'), expected.digest('hex'));
    const afterText = await metricsOf(proxy);
    const delta = (name: string, labels: Record<string, string>) =>
      metric(afterText, name, labels) - metric(before, name, labels);
    // The first part's key alone (before the status line), then one batch per window of parts ahead.
    assert.equal(delta('vault_requests_total', { call: 'decrypt' }), 3);
    assert.equal(delta('key_cache_lookups_total', { result: 'miss' }), partCount);
  });

  it('while Vault is down, reads whose keys are cached go on; other reads and all writes get 503 and store nothing', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'cached', Body: patternBytes(500, 1) }));
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'not-cached', Body: patternBytes(500, 2) }),
    );
    await bodyBytes((await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'cached' }))).Body);
    assert.ok(metric(await metricsOf(proxy), 'key_pool_keys') > 0, 'keys are pooled');

    await services.pauseVault();
    try {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'cached' }));
      assert.ok((await bodyBytes(got.Body)).equals(patternBytes(500, 1)));

      const read = await rejection(client.send(new GetObjectCommand({ Bucket: bucket, Key: 'not-cached' })));
      assert.equal(read.status, 503, read.message);
      assert.equal(read.code, 'SlowDown');

      const write = await rejection(
        client.send(new PutObjectCommand({ Bucket: bucket, Key: 'during-outage', Body: patternBytes(10) })),
      );
      assert.equal(write.status, 503);
      assert.equal(write.code, 'SlowDown');
      assert.ok(metric(await metricsOf(proxy), 'key_pool_keys') > 0, 'pooled keys were withheld, not used');
    } finally {
      await services.resumeVault();
    }
    const stored = await rejection(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'during-outage' })),
    );
    assert.equal(stored.status, 404);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'after-outage', Body: patternBytes(10) }));
  });

  it('with the cache switched off, every read asks Vault', async () => {
    const uncached = await startProxy(services, { env: { CLOUDTASER_S3PROXY_KEY_CACHE_ENABLED: 'false' } });
    try {
      await startedUp(uncached);
      const viaUncached = proxyS3Client(uncached);
      const before = await metricsOf(uncached);
      for (let i = 0; i < 5; i++) {
        await bodyBytes(
          (await viaUncached.send(new GetObjectCommand({ Bucket: bucket, Key: 'read-often' }))).Body,
        );
      }
      const afterText = await metricsOf(uncached);
      assert.equal(
        metric(afterText, 'vault_requests_total', { call: 'decrypt' }) -
          metric(before, 'vault_requests_total', { call: 'decrypt' }),
        5,
      );
    } finally {
      await uncached.stop();
    }
  });
});

describe('Transit key versions: rotation moves new objects to the new version; a retired version is named', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  let transitKey: string;
  const bucket = uniqueBucket('vault-rotate');

  before(async () => {
    services = await useServices();
    const own = await ownTransitKey(services.vault, `rotate-${suffix()}`);
    transitKey = own.key;
    proxy = await startProxy(services, {
      env: {
        CLOUDTASER_S3PROXY_TRANSIT_KEY: own.key,
        VAULT_TOKEN: own.token,
        CLOUDTASER_S3PROXY_KEY_POOL_SIZE: '4',
      },
    });
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await proxy?.stop();
  });

  const poolHoldsAtLeast = async (keys: number) => {
    const deadline = Date.now() + 10_000;
    while (metric(await metricsOf(proxy), 'key_pool_keys') < keys) {
      assert.ok(Date.now() < deadline, `the key pool did not refill to ${keys} keys within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('after rotate, writes move to the new version within one refill, and every object still reads', async () => {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'v1-never-read', Body: patternBytes(64, 1) }),
    );
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'v1-read', Body: patternBytes(64, 2) }));
    assert.match(await storedWrappedDek(direct, bucket, 'v1-read'), /^vault:v1:/);
    // A write that empties the pool before its background refill answers would leave no older key for the
    // refill to retire: keep two pooled, so the first batch under v2 always finds v1 keys to discard.
    await poolHoldsAtLeast(2);
    await bao(services.vault, 'POST', `transit/keys/${transitKey}/rotate`);

    const versions: string[] = [];
    for (let i = 0; i < 6; i++) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: `after-${i}`, Body: patternBytes(64, 10 + i) }),
      );
      versions.push((await storedWrappedDek(direct, bucket, `after-${i}`)).slice(0, 9));
      await poolHoldsAtLeast(2);
    }
    const firstNew = versions.indexOf('vault:v2:');
    assert.ok(firstNew >= 0 && firstNew <= 4, versions.join(' '));
    assert.ok(
      versions.slice(firstNew).every((version) => version === 'vault:v2:'),
      versions.join(' '),
    );
    assert.ok(metric(await metricsOf(proxy), 'key_pool_keys_discarded_total', { reason: 'rotated' }) >= 1);

    const written: Array<[string, number]> = [
      ['v1-read', 2],
      ...versions.map((_, i): [string, number] => [`after-${i}`, 10 + i]),
    ];
    for (const [key, seed] of written) {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      assert.ok((await bodyBytes(got.Body)).equals(patternBytes(64, seed)), key);
    }
  });

  it('a data key wrapped under a version below min_decryption_version fails the read with an error naming the object and the version', async () => {
    await bao(services.vault, 'POST', `transit/keys/${transitKey}/config`, {
      body: { min_decryption_version: 2 },
    });
    try {
      const read = await rejection(
        client.send(new GetObjectCommand({ Bucket: bucket, Key: 'v1-never-read' })),
      );
      assert.equal(read.status, 500);
      assert.equal(read.code, 'InvalidEncryptedObject');
      assert.ok(read.message.includes(`/${bucket}/v1-never-read`), read.message);
      assert.match(read.message, /version 1 of the Transit key/);
      assert.match(read.message, /min_decryption_version/);
      const logged = await proxy.waitForLogRecord((record) => record.code === 'InvalidEncryptedObject');
      assert.ok(logged !== undefined, 'the failure is logged');
    } finally {
      await bao(services.vault, 'POST', `transit/keys/${transitKey}/config`, {
        body: { min_decryption_version: 1 },
      });
    }
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'v1-never-read' }));
    assert.ok((await bodyBytes(got.Body)).equals(patternBytes(64, 1)));
  });
});

describe('permission denied by Vault is 403 AccessDenied', () => {
  let services: Services;
  const bucket = uniqueBucket('vault-denied');

  before(async () => {
    services = await useServices();
  });

  it('a token that may encrypt but not decrypt: PUT works, GET answers 403 AccessDenied', async () => {
    const own = await ownTransitKey(services.vault, `encrypt-only-${suffix()}`, { decrypt: false });
    const proxy = await startProxy(services, {
      env: { CLOUDTASER_S3PROXY_TRANSIT_KEY: own.key, VAULT_TOKEN: own.token },
    });
    try {
      const client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
      await createBucket(client, bucket);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'o', Body: patternBytes(10) }));
      const read = await rejection(client.send(new GetObjectCommand({ Bucket: bucket, Key: 'o' })));
      assert.equal(read.status, 403);
      assert.equal(read.code, 'AccessDenied');
    } finally {
      await proxy.stop();
    }
  });

  it('a token that may not encrypt: PUT answers 403 AccessDenied and stores nothing', async () => {
    const own = await ownTransitKey(services.vault, `decrypt-only-${suffix()}`, { encrypt: false });
    const proxy = await startProxy(services, {
      env: { CLOUDTASER_S3PROXY_TRANSIT_KEY: own.key, VAULT_TOKEN: own.token },
    });
    try {
      const client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
      const write = await rejection(
        client.send(new PutObjectCommand({ Bucket: bucket, Key: 'p', Body: patternBytes(10) })),
      );
      assert.equal(write.status, 403);
      assert.equal(write.code, 'AccessDenied');
      const stored = await rejection(
        createS3Client(services).send(new HeadObjectCommand({ Bucket: bucket, Key: 'p' })),
      );
      assert.equal(stored.status, 404);
    } finally {
      await proxy.stop();
    }
  });
});

describe('VAULT_NAMESPACE', () => {
  it('sends every call into the namespace: Transit there serves the proxy, with a token of that namespace', async () => {
    const services = await useServices();
    const namespace = `team-${suffix()}`;
    await bao(services.vault, 'POST', `sys/namespaces/${namespace}`, { body: {} });
    await bao(services.vault, 'POST', `sys/mounts/${services.vault.transitMount}`, {
      body: { type: 'transit' },
      namespace,
    });
    const own = await ownTransitKey(services.vault, 'namespaced', { namespace });
    const proxy = await startProxy(services, {
      env: { VAULT_NAMESPACE: namespace, CLOUDTASER_S3PROXY_TRANSIT_KEY: own.key, VAULT_TOKEN: own.token },
    });
    try {
      const ready = await fetch(`${proxy.healthEndpoint}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
      const client = proxyS3Client(proxy);
      const bucket = uniqueBucket('vault-ns');
      await createBucket(client, bucket);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'n', Body: patternBytes(99) }));
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'n' }));
      assert.ok((await bodyBytes(got.Body)).equals(patternBytes(99)));
      // The wrapped key is the namespace's: the root namespace's Transit has no such key.
      const wrapped = await storedWrappedDek(createS3Client(services), bucket, 'n');
      const outside = await bao(services.vault, 'POST', `${services.vault.transitMount}/decrypt/namespaced`, {
        body: { ciphertext: wrapped },
        okStatuses: [400],
      });
      assert.ok(Array.isArray(outside?.errors), 'not decryptable outside the namespace');
    } finally {
      await proxy.stop();
    }
  });
});
