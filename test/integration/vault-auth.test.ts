import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  bodyBytes,
  createBucket,
  errorCodeOf,
  httpStatusOf,
  patternBytes,
  uniqueBucket,
} from '../support/fixtures.ts';
import { proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { type Services, useServices } from '../support/services.ts';
import { bao, jwtSigningKey, metric, metricsOf, signJwt, VAULT_TOKEN_PATTERN } from './vault-support.ts';

const AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
const SUBJECT = 'system:serviceaccount:apps:myapp';

/**
 * OpenBao's `jwt` auth method mounted at `kubernetes` accepts the request Kubernetes auth gets
 * (`{role, jwt}` at auth/kubernetes/login), with a public key this test owns instead of a cluster's.
 * Idempotent, so that a services set kept between runs can be used again.
 */
async function kubernetesStyleAuth(services: Services, publicKeyPem: string, role: string): Promise<void> {
  await bao(services.vault, 'POST', 'sys/auth/kubernetes', { body: { type: 'jwt' }, okStatuses: [400] });
  await bao(services.vault, 'POST', 'auth/kubernetes/config', {
    body: { jwt_validation_pubkeys: [publicKeyPem] },
  });
  await bao(services.vault, 'POST', `auth/kubernetes/role/${role}`, {
    body: {
      role_type: 'jwt',
      user_claim: 'sub',
      bound_subject: SUBJECT,
      bound_audiences: [AUDIENCE],
      token_policies: ['cloudtaser-s3'],
      token_ttl: 3,
      token_max_ttl: 8,
      // Without leeway OpenBao honours `exp` to the second: an old JWT stops working when the test says.
      expiration_leeway: -1,
      clock_skew_leeway: -1,
    },
  });
}

describe('Kubernetes auth (OpenBao jwt at auth/kubernetes, token TTL 3 s, max TTL 8 s)', () => {
  let services: Services;
  let signing: ReturnType<typeof jwtSigningKey>;
  const role = `cloudtaser-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-jwt-'));
  const jwtPath = join(dir, 'token');

  before(async () => {
    services = await useServices();
    signing = jwtSigningKey();
    await kubernetesStyleAuth(services, signing.publicKeyPem, role);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const kubernetesEnv = (extra: Record<string, string> = {}) => ({
    VAULT_AUTH_METHOD: 'kubernetes',
    VAULT_AUTH_ROLE: role,
    VAULT_AUTH_TOKEN_PATH: jwtPath,
    VAULT_TOKEN: undefined,
    ...extra,
  });

  it('keeps serving PUT and GET across several token TTLs, renewing and logging in again with the JWT file as it is now', async () => {
    // The first JWT expires 10 s from now; the kubelet's replacement is written at 5 s. Logins after 10 s
    // succeed only if the proxy reads the file again.
    const firstJwt = signJwt(signing.privateKey, {
      sub: SUBJECT,
      aud: AUDIENCE,
      exp: Math.floor(Date.now() / 1000) + 10,
    });
    writeFileSync(jwtPath, firstJwt);
    // No pool and no cache: every request takes the token to Vault, so an expired token could not hide.
    const proxy = await startProxy(services, {
      env: kubernetesEnv({
        CLOUDTASER_S3PROXY_KEY_POOL_SIZE: '0',
        CLOUDTASER_S3PROXY_KEY_CACHE_ENABLED: 'false',
        CLOUDTASER_S3PROXY_LOG_LEVEL: 'debug',
      }),
    });
    let secondJwt = '';
    try {
      const client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
      const bucket = uniqueBucket('k8s-auth');
      await createBucket(client, bucket);
      const started = Date.now();
      let round = 0;
      while (Date.now() - started < 20_000) {
        if (secondJwt === '' && Date.now() - started > 5_000) {
          secondJwt = signJwt(signing.privateKey, { sub: SUBJECT, aud: AUDIENCE });
          writeFileSync(jwtPath, secondJwt);
        }
        const body = patternBytes(256, round);
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: `o-${round}`, Body: body }));
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `o-${round}` }));
        assert.ok((await bodyBytes(got.Body)).equals(body), `round ${round}`);
        round++;
        await sleep(200);
      }
      const text = await metricsOf(proxy);
      const logins = metric(text, 'vault_logins_total', { outcome: 'ok' });
      const renewals = metric(text, 'vault_token_renewals_total', { outcome: 'ok' });
      assert.ok(logins >= 3, `${logins} logins in 20 s with an 8 s max TTL`);
      assert.ok(renewals >= 3, `${renewals} renewals in 20 s with a 3 s TTL`);
      assert.equal(metric(text, 'vault_logins_total', { outcome: 'failed' }), 0);
      assert.equal(
        metric(text, 'vault_requests_total', { outcome: 'denied' }),
        0,
        'no call was ever made with an expired token',
      );
      assert.ok(metric(text, 'vault_requests_total', { call: 'renew', outcome: 'ok' }) >= 3);
      assert.ok(round >= 20);
    } finally {
      await proxy.stop();
    }
    const output = proxy.logs();
    assert.doesNotMatch(output, VAULT_TOKEN_PATTERN, 'no Vault token in the output');
    assert.ok(!output.includes(firstJwt) && !output.includes(secondJwt), 'no JWT in the output');
    assert.ok(proxy.logRecords().some((record) => record.msg === 'Vault renewal'));
  });

  it('/readyz reports a login Vault refuses, requests get 403, and it recovers once the JWT file is valid again', async () => {
    const stranger = jwtSigningKey();
    writeFileSync(jwtPath, signJwt(stranger.privateKey, { sub: SUBJECT, aud: AUDIENCE }));
    const proxy = await startProxy(services, { env: kubernetesEnv() });
    try {
      const ready = await fetch(`${proxy.healthEndpoint}/readyz`);
      const reason = await ready.text();
      assert.equal(ready.status, 503);
      assert.match(reason, /not authenticated \(kubernetes\)/);
      assert.match(reason, new RegExp(`login as role ${role}`));

      const client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
      const bucket = uniqueBucket('k8s-refused');
      await createBucket(client, bucket);
      await assert.rejects(
        client.send(new PutObjectCommand({ Bucket: bucket, Key: 'x', Body: patternBytes(10) })),
        (error: unknown) => {
          assert.equal(httpStatusOf(error), 403);
          assert.equal(errorCodeOf(error), 'AccessDenied');
          return true;
        },
      );

      writeFileSync(jwtPath, signJwt(signing.privateKey, { sub: SUBJECT, aud: AUDIENCE }));
      let status = 0;
      for (let i = 0; i < 40 && status !== 200; i++) {
        await sleep(500);
        const again = await fetch(`${proxy.healthEndpoint}/readyz`);
        status = again.status;
        await again.text();
      }
      assert.equal(status, 200, '/readyz recovers by itself');
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'x', Body: patternBytes(10) }));
      const text = await metricsOf(proxy);
      assert.ok(metric(text, 'vault_logins_total', { outcome: 'failed' }) >= 1);
      assert.ok(metric(text, 'vault_logins_total', { outcome: 'ok' }) >= 1);
    } finally {
      await proxy.stop();
    }
    assert.doesNotMatch(proxy.logs(), VAULT_TOKEN_PATTERN);
  });
});
