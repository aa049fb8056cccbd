import assert from 'node:assert/strict';
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
import { createS3Client, type Services, useServices } from '../support/services.ts';

/** A proxy of the suite's own (with `env`), a client to it with no retries, one to SeaweedFS, and the bucket. */
async function proxyWithBucket(bucket: string, env: Record<string, string>) {
  const services = await useServices();
  const proxy = await startProxy(services, { env });
  const client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
  await createBucket(client, bucket);
  return { services, proxy, client, direct: createS3Client(services) };
}

describe('when Vault is unreachable, writes fail with 503 and store nothing; the proxy recovers by itself', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('outage');

  before(async () => {
    ({ services, proxy, client, direct } = await proxyWithBucket(bucket, { VAULT_MAX_RETRIES: '1' }));
  });
  after(async () => {
    await services?.resumeVault();
    await proxy?.stop();
  });

  it('PUT answers 503 SlowDown while Vault is down, nothing appears upstream, and PUT works again once Vault is back', async () => {
    await services.pauseVault();
    try {
      await assert.rejects(
        client.send(new PutObjectCommand({ Bucket: bucket, Key: 'during-outage', Body: patternBytes(1000) })),
        (error: unknown) => {
          assert.equal(httpStatusOf(error), 503);
          assert.equal(errorCodeOf(error), 'SlowDown');
          return true;
        },
      );
      const ready = await fetch(`${proxy.healthEndpoint}/readyz`);
      assert.equal(ready.status, 503, '/readyz reports the outage');
      await ready.text();
    } finally {
      await services.resumeVault();
    }
    await assert.rejects(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'during-outage' })),
      (error: unknown) => {
        assert.equal(httpStatusOf(error), 404);
        return true;
      },
    );

    const plaintext = patternBytes(5000, 9);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'after-outage', Body: plaintext }));
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'after-outage' }));
    assert.ok((await bodyBytes(got.Body)).equals(plaintext));
  });

  it('a GET while Vault is down answers 503, not a corrupt or empty body', async () => {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'before-outage', Body: patternBytes(100) }),
    );
    await services.pauseVault();
    try {
      await assert.rejects(
        client.send(new GetObjectCommand({ Bucket: bucket, Key: 'before-outage' })),
        (error: unknown) => {
          assert.equal(httpStatusOf(error), 503);
          return true;
        },
      );
    } finally {
      await services.resumeVault();
    }
  });
});

describe('when Vault falls silent (connections stay open, nothing answers), requests that need it answer 503 within their bound', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('silent');
  const KEY_TIMEOUT_MS = 2_000;
  /** Far below what a silent Vault cost before (90 s and more): a bound, with room for a loaded machine. */
  const SLACK_MS = 4_000;

  before(async () => {
    ({ services, proxy, client, direct } = await proxyWithBucket(bucket, {
      CLOUDTASER_S3PROXY_KEY_TIMEOUT: '2s',
      CLOUDTASER_S3PROXY_READY_TIMEOUT: '1s',
    }));
  });
  after(async () => {
    await services?.resumeVault();
    await proxy?.stop();
  });

  /** Milliseconds `work` took; it must settle within `limitMs` (then the request is abandoned). */
  async function timed<T>(limitMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<[T, number]> {
    const started = performance.now();
    const result = await work(AbortSignal.timeout(limitMs));
    return [result, performance.now() - started];
  }

  const readyz = (signal: AbortSignal) =>
    fetch(`${proxy.healthEndpoint}/readyz`, { signal }).then(async (response) => ({
      status: response.status,
      text: await response.text(),
    }));

  it('PUT answers 503 SlowDown within the key timeout and stores nothing, cached reads go on, /readyz answers 503 at once, and all recovers when Vault answers again', async (t) => {
    const cached = patternBytes(70_000, 3);
    const uncached = patternBytes(1_000, 4);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'cached', Body: cached }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'uncached', Body: uncached }));
    const first = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'cached' }));
    assert.ok((await bodyBytes(first.Body)).equals(cached));

    await services.pauseVault('silent');
    try {
      // Concurrent probes share one check, and each answers within the readiness timeout.
      const [probes, probeMs] = await timed(15_000, (signal) =>
        Promise.all(Array.from({ length: 5 }, () => readyz(signal))),
      );
      for (const probe of probes) {
        assert.equal(probe.status, 503, `/readyz while Vault is silent: ${probe.text}`);
        assert.match(probe.text, /^vault: /m);
      }
      assert.ok(probeMs < 1_000 + SLACK_MS, `/readyz answered after ${Math.round(probeMs)} ms`);
      // A probe after the check timed out does not start another one that would wait behind it.
      const [again, againMs] = await timed(15_000, readyz);
      assert.equal(again.status, 503);
      assert.ok(againMs < 1_000 + SLACK_MS, `the next /readyz answered after ${Math.round(againMs)} ms`);

      const [putError, putMs] = await timed(60_000, (abortSignal) =>
        client
          .send(new PutObjectCommand({ Bucket: bucket, Key: 'during-silence', Body: patternBytes(1000) }), {
            abortSignal,
          })
          .then(
            () => undefined,
            (error: unknown) => error,
          ),
      );
      assert.equal(httpStatusOf(putError), 503, `PUT while Vault is silent: ${String(putError)}`);
      assert.equal(errorCodeOf(putError), 'SlowDown');
      assert.ok(putMs < KEY_TIMEOUT_MS + SLACK_MS, `PUT answered after ${Math.round(putMs)} ms`);

      const [uncachedError, uncachedMs] = await timed(60_000, (abortSignal) =>
        client.send(new GetObjectCommand({ Bucket: bucket, Key: 'uncached' }), { abortSignal }).then(
          () => undefined,
          (error: unknown) => error,
        ),
      );
      assert.equal(httpStatusOf(uncachedError), 503, `GET of an uncached key: ${String(uncachedError)}`);
      assert.ok(uncachedMs < KEY_TIMEOUT_MS + SLACK_MS, `GET answered after ${Math.round(uncachedMs)} ms`);
      t.diagnostic(
        `silent Vault: /readyz 503 after ${Math.round(probeMs)} ms (then ${Math.round(againMs)} ms), PUT 503 after ${Math.round(putMs)} ms, uncached GET 503 after ${Math.round(uncachedMs)} ms`,
      );

      const [again2] = await timed(10_000, (abortSignal) =>
        client.send(new GetObjectCommand({ Bucket: bucket, Key: 'cached' }), { abortSignal }),
      );
      assert.ok((await bodyBytes(again2.Body)).equals(cached), 'a read whose key is cached goes on');
    } finally {
      await services.resumeVault();
    }
    await assert.rejects(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'during-silence' })),
      (error: unknown) => httpStatusOf(error) === 404,
    );

    const after = patternBytes(5000, 9);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'after-silence', Body: after }));
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'after-silence' }));
    assert.ok((await bodyBytes(got.Body)).equals(after));
    const read = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'uncached' }));
    assert.ok((await bodyBytes(read.Body)).equals(uncached));
    let ready = await readyz(AbortSignal.timeout(10_000));
    for (let attempt = 0; ready.status !== 200 && attempt < 20; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      ready = await readyz(AbortSignal.timeout(10_000));
    }
    assert.equal(ready.status, 200, `/readyz after Vault answers again: ${ready.text}`);
  });
});
