import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Agent, request } from 'undici';
import {
  bodyBytes,
  createBucket,
  errorCodeOf,
  httpStatusOf,
  patternBytes,
  uniqueBucket,
} from '../support/fixtures.ts';
import { freePortPair } from '../support/ports.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { REPO_ROOT, type Services, useServices } from '../support/services.ts';

/**
 * A second OpenBao of this file's own, in `-dev-tls` mode: it makes a CA and a server certificate for
 * 127.0.0.1, so that VAULT_CACERT and VAULT_SKIP_VERIFY meet a real TLS handshake. Own, because the test
 * seals it at the end.
 */
type TlsVault = {
  addr: string;
  caPath: string;
  rootToken: string;
  call(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
};

/** Kills the server within a second of this process disappearing, even by SIGKILL, as services.ts does. */
const WATCHDOG = `parent=$1; shift
( while kill -0 "$parent" 2>/dev/null; do sleep 1; done; kill -KILL $$ 2>/dev/null ) </dev/null >/dev/null 2>&1 &
exec "$@" </dev/null`;

async function startTlsVault(): Promise<TlsVault> {
  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-bao-tls-'));
  const port = await freePortPair();
  const rootToken = `root-${randomBytes(8).toString('hex')}`;
  const bao = join(REPO_ROOT, '.venv', 'bin', 'bao');
  const child: ChildProcess = spawn(
    '/bin/sh',
    [
      '-c',
      WATCHDOG,
      'watchdog',
      String(process.pid),
      bao,
      'server',
      '-dev',
      '-dev-tls',
      `-dev-tls-cert-dir=${dir}`,
      `-dev-root-token-id=${rootToken}`,
      `-dev-listen-address=127.0.0.1:${port}`,
      '-dev-no-store-token',
    ],
    {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    },
  );
  child.unref();
  const kill = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', kill);
  const addr = `https://127.0.0.1:${port}`;
  const caPath = join(dir, 'vault-ca.pem');
  let agent: Agent | undefined;
  const call: TlsVault['call'] = async (method, path, body, token = rootToken) => {
    if (agent === undefined) throw new Error('no CA yet');
    const response = await request(`${addr}/v1/${path}`, {
      method: method as 'GET',
      dispatcher: agent,
      headers: {
        'x-vault-token': token,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text === '' ? null : JSON.parse(text) };
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (Date.now() > deadline) {
      kill();
      throw new Error(`OpenBao -dev-tls did not start on ${addr}`);
    }
    try {
      if (existsSync(caPath)) {
        agent ??= new Agent({ connect: { ca: readFileSync(caPath, 'utf8') } });
        if ((await call('GET', 'sys/health')).status === 200) break;
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return {
    addr,
    caPath,
    rootToken,
    call,
    async stop() {
      kill();
      await agent?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function expectOk(result: Promise<{ status: number; body: unknown }>): Promise<unknown> {
  const { status, body } = await result;
  assert.ok(status < 300, `OpenBao answered ${status}: ${JSON.stringify(body)}`);
  return body;
}

describe('TLS to Vault: VAULT_CACERT, VAULT_SKIP_VERIFY, and a sealed Vault', () => {
  let services: Services;
  let vault: TlsVault;
  let token: string;
  const bucket = uniqueBucket('vault-tls');
  const proxies: ProxyProcess[] = [];

  const proxyFor = async (env: Record<string, string | undefined>) => {
    const proxy = await startProxy(services, {
      env: { VAULT_ADDR: vault.addr, VAULT_TOKEN: token, CLOUDTASER_S3PROXY_TRANSIT_KEY: 'tls-key', ...env },
    });
    proxies.push(proxy);
    return { proxy, client: proxyS3Client(proxy, { config: { maxAttempts: 1 } }) };
  };
  const readyz = async (proxy: ProxyProcess) => {
    const response = await fetch(`${proxy.healthEndpoint}/readyz`);
    return { status: response.status, text: await response.text() };
  };
  const roundTrip = async (client: S3Client, key: string) => {
    const body = patternBytes(777, key.length);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    assert.ok((await bodyBytes(got.Body)).equals(body));
  };

  before(async () => {
    services = await useServices();
    vault = await startTlsVault();
    await expectOk(vault.call('POST', 'sys/mounts/transit', { type: 'transit' }));
    await expectOk(vault.call('POST', 'transit/keys/tls-key', { type: 'aes256-gcm96' }));
    await expectOk(
      vault.call('PUT', 'sys/policies/acl/tls-proxy', {
        policy:
          'path "transit/encrypt/tls-key" { capabilities = ["update"] }\npath "transit/decrypt/tls-key" { capabilities = ["update"] }',
      }),
    );
    const created = (await expectOk(
      vault.call('POST', 'auth/token/create', { policies: ['tls-proxy'] }),
    )) as {
      auth: { client_token: string };
    };
    token = created.auth.client_token;
  });
  after(async () => {
    for (const proxy of proxies) await proxy.stop();
    await vault?.stop();
  });

  it('with VAULT_CACERT, the proxy verifies Vault’s certificate against that CA and works', async () => {
    const { proxy, client } = await proxyFor({ VAULT_CACERT: vault.caPath });
    const ready = await readyz(proxy);
    assert.equal(ready.status, 200, ready.text);
    await createBucket(client, bucket);
    await roundTrip(client, 'with-ca');
  });

  it('without the CA, Vault’s certificate is refused: /readyz says so and a write gets 503 SlowDown', async () => {
    const { proxy, client } = await proxyFor({ VAULT_MAX_RETRIES: '0' });
    const ready = await readyz(proxy);
    assert.equal(ready.status, 503);
    assert.match(ready.text, /certificate/i);
    await assert.rejects(
      client.send(new PutObjectCommand({ Bucket: bucket, Key: 'no-ca', Body: patternBytes(5) })),
      (error: unknown) => {
        assert.equal(httpStatusOf(error), 503);
        assert.equal(errorCodeOf(error), 'SlowDown');
        return true;
      },
    );
  });

  it('with VAULT_SKIP_VERIFY=true, the proxy connects without the CA and warns that it does', async () => {
    const { proxy, client } = await proxyFor({ VAULT_SKIP_VERIFY: 'true' });
    assert.equal((await readyz(proxy)).status, 200);
    await roundTrip(client, 'skip-verify');
    assert.ok(
      await proxy.waitForLogRecord((record) => String(record.warning ?? '').includes('VAULT_SKIP_VERIFY')),
    );
  });

  it('a sealed Vault: reads that need it and writes get 503 SlowDown, and /readyz says it is sealed', async () => {
    const { proxy, client } = await proxyFor({
      VAULT_CACERT: vault.caPath,
      VAULT_MAX_RETRIES: '0',
      // Without a pool every write asks Vault; with one, writes within 10 s of Vault's last answer would use
      // a key wrapped before the seal (docs/decisions/0004-vault-keys-off-hot-path.md).
      CLOUDTASER_S3PROXY_KEY_POOL_SIZE: '0',
    });
    assert.equal((await readyz(proxy)).status, 200);
    await expectOk(vault.call('PUT', 'sys/seal'));
    const attempts = [
      () => client.send(new GetObjectCommand({ Bucket: bucket, Key: 'with-ca' })),
      () => client.send(new PutObjectCommand({ Bucket: bucket, Key: 'sealed', Body: patternBytes(5) })),
    ];
    for (const attempt of attempts) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.equal(httpStatusOf(error), 503);
        assert.equal(errorCodeOf(error), 'SlowDown');
        return true;
      });
    }
    await sleep(2_100); // /readyz caches its verdict for 2 s
    const ready = await readyz(proxy);
    assert.equal(ready.status, 503);
    assert.match(ready.text, /sealed/i);
  });
});
