/**
 * The test harness itself: the real OpenBao and SeaweedFS start, are set up as the seed describes,
 * and can be made unreachable and brought back.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { proxyS3Client } from '../support/proxy-process.ts';
import {
  createS3Client,
  type Services,
  useServices,
  type VaultResponse,
  vaultRequest,
} from '../support/services.ts';

let services: Services;
let s3: S3Client;

before(async () => {
  services = await useServices();
  s3 = createS3Client(services);
});

after(async () => {
  s3.destroy();
  await services.stop();
});

function dataOf<T>(response: VaultResponse): T {
  assert.ok(response.body, `OpenBao answered ${response.status} without a body`);
  return response.body.data as T;
}

/** Wraps and unwraps through `vault.addr` with the proxy's token, as the proxy does. */
async function transit(operation: 'encrypt' | 'decrypt', body: object): Promise<VaultResponse> {
  const { vault } = services;
  return vaultRequest(vault, 'POST', `${vault.transitMount}/${operation}/${vault.transitKey}`, {
    addr: vault.addr,
    token: vault.proxyToken,
    body,
  });
}

/** What a new TCP connection to `addr` meets: 'connected', or the error code. */
function connectOutcome(addr: string): Promise<string> {
  const { hostname, port } = new URL(addr);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

function uniqueBucket(): string {
  return `harness-${randomBytes(6).toString('hex')}`;
}

async function encryptWithProxyToken(addr: string): Promise<Response> {
  const { vault } = services;
  return fetch(`${addr}/v1/${vault.transitMount}/encrypt/${vault.transitKey}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': vault.proxyToken },
    body: JSON.stringify({ plaintext: Buffer.from('a data key').toString('base64') }),
    signal: AbortSignal.timeout(2_000),
  });
}

describe('OpenBao', () => {
  it('wraps and unwraps with the proxy token through the relay address', async () => {
    const plaintext = randomBytes(32).toString('base64');
    const encrypted = await transit('encrypt', { plaintext });
    assert.equal(encrypted.status, 200);
    const { ciphertext } = dataOf<{ ciphertext: string }>(encrypted);
    assert.match(ciphertext, /^vault:v1:/);

    const decrypted = await transit('decrypt', { ciphertext });
    assert.equal(decrypted.status, 200);
    assert.equal(dataOf<{ plaintext: string }>(decrypted).plaintext, plaintext);
  });

  it('refuses the proxy token anything outside the seed policy', async () => {
    const { vault } = services;
    const readKey = await vaultRequest(vault, 'GET', `${vault.transitMount}/keys/${vault.transitKey}`, {
      token: vault.proxyToken,
    });
    assert.equal(readKey.status, 403);
    const rotate = await vaultRequest(
      vault,
      'POST',
      `${vault.transitMount}/keys/${vault.transitKey}/rotate`,
      {
        token: vault.proxyToken,
      },
    );
    assert.equal(rotate.status, 403);
  });

  it('gives the proxy a renewable token carrying the cloudtaser-s3 policy', async () => {
    const { vault } = services;
    const lookup = await vaultRequest(vault, 'GET', 'auth/token/lookup-self', { token: vault.proxyToken });
    assert.equal(lookup.status, 200);
    const data = dataOf<{ policies: string[]; renewable: boolean; ttl: number }>(lookup);
    assert.ok(data.policies.includes('cloudtaser-s3'));
    assert.ok(!data.policies.includes('root'));
    assert.equal(data.renewable, true);
    assert.ok(data.ttl > 24 * 3600);
  });
});

describe('SeaweedFS', () => {
  it('creates a bucket and stores and returns an object byte for byte', async () => {
    const bucket = uniqueBucket();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = randomBytes(200_000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/object.bin', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/object.bin' }));
    assert.ok(got.Body);
    assert.deepEqual(Buffer.from(await got.Body.transformToByteArray()), body);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'dir/object.bin' }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  });

  it('behaves like S3 for a bucket that does not exist (no bucket is created on upload)', async () => {
    await assert.rejects(
      s3.send(new PutObjectCommand({ Bucket: uniqueBucket(), Key: 'k', Body: 'x' })),
      (error: Error) => error.name === 'NoSuchBucket',
    );
  });

  it('answers a virtual-hosted-style client at <bucket>.localhost', async () => {
    const bucket = uniqueBucket();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const virtualHost = proxyS3Client(
      { endpoint: services.s3.endpoint },
      {
        virtualHost: true,
        config: {
          credentials: { accessKeyId: services.s3.accessKeyId, secretAccessKey: services.s3.secretAccessKey },
        },
      },
    );
    try {
      let requestUrl = '';
      virtualHost.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { hostname?: string; path?: string };
          requestUrl = `${request.hostname}${request.path}`;
          return next(args);
        },
        { step: 'finalizeRequest' },
      );
      await virtualHost.send(new HeadBucketCommand({ Bucket: bucket }));
      assert.equal(requestUrl, `${bucket}.localhost/`);
      await virtualHost.send(new PutObjectCommand({ Bucket: bucket, Key: 'vh', Body: 'virtual' }));
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'vh' }));
      assert.equal(await got.Body?.transformToString(), 'virtual');
    } finally {
      virtualHost.destroy();
    }
  });
});

describe('pausing Vault', () => {
  it('refuses connections at the same address until resumed', async () => {
    const { vault } = services;
    assert.equal((await encryptWithProxyToken(vault.addr)).status, 200);

    await services.pauseVault();
    try {
      await assert.rejects(encryptWithProxyToken(vault.addr), TypeError);
      assert.equal(await connectOutcome(vault.addr), 'ECONNREFUSED');
      // The server itself is untouched: only the address the proxy is given goes dark.
      assert.equal((await encryptWithProxyToken(vault.directAddr)).status, 200);
    } finally {
      await services.resumeVault();
    }

    assert.equal(await connectOutcome(vault.addr), 'connected');
    assert.equal((await encryptWithProxyToken(vault.addr)).status, 200);
  });

  it('can instead accept connections and never answer, as a stalled server does', async () => {
    const { vault } = services;
    await services.pauseVault('hang');
    try {
      await assert.rejects(
        fetch(`${vault.addr}/v1/sys/health`, { signal: AbortSignal.timeout(500) }),
        (error: Error) => error.name === 'TimeoutError',
      );
    } finally {
      await services.resumeVault();
    }
    assert.equal((await encryptWithProxyToken(vault.addr)).status, 200);
  });

  it('can fall silent as a process stopped with SIGSTOP: connections stay open, nothing answers until resumed', async () => {
    const { hostname, port } = new URL(services.vault.addr);
    const socket = connect({ host: hostname, port: Number(port) });
    socket.unref();
    let received = '';
    let closed = false;
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('close', () => {
      closed = true;
    });
    const healthRequest = `GET /v1/sys/health HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`;
    const answered = async (withinMs: number): Promise<boolean> => {
      const deadline = Date.now() + withinMs;
      while (Date.now() < deadline) {
        if (received.includes('\r\n\r\n')) return true;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return false;
    };
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.write(healthRequest);
      assert.ok(await answered(5_000), 'OpenBao answers through the relay before the pause');
      received = '';

      await services.pauseVault('silent');
      try {
        socket.write(healthRequest);
        assert.equal(await answered(700), false, 'no answer on the open connection');
        assert.equal(closed, false, 'the open connection is not closed');
        assert.equal(await connectOutcome(services.vault.addr), 'connected', 'new connections are accepted');
      } finally {
        await services.resumeVault();
      }
      assert.ok(await answered(5_000), 'the request sent during the pause is answered after it');
      assert.match(received, /^HTTP\/1\.1 200/);
    } finally {
      socket.destroy();
    }
    assert.equal((await encryptWithProxyToken(services.vault.addr)).status, 200);
  });

  it('keeps the Transit key across a pause, so data wrapped before still unwraps after', async () => {
    const plaintext = randomBytes(32).toString('base64');
    const { ciphertext } = dataOf<{ ciphertext: string }>(await transit('encrypt', { plaintext }));
    await services.pauseVault();
    await services.resumeVault();
    // The pause cut the pooled keep-alive connection, as a real outage does; the first call on it
    // fails with "other side closed", so this call is made on a fresh connection.
    const decrypted = await transit('decrypt', { ciphertext }).catch(() =>
      transit('decrypt', { ciphertext }),
    );
    assert.equal(dataOf<{ plaintext: string }>(decrypted).plaintext, plaintext);
  });
});
