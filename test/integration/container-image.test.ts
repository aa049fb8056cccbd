/**
 * The container image, built from the Dockerfile with podman and run as the injected sidecar runs: as uid
 * 65532 with a read-only root filesystem, against the real OpenBao and SeaweedFS on the host network.
 *
 * The official bases cannot be pulled here, so the Dockerfile's BUILD_IMAGE and RUNTIME_IMAGE are bases
 * assembled from Debian 12 packages and npm's Node 24 (scripts/image-bases.sh); the Dockerfile itself is
 * the one users build unchanged. The bases and podman's layer cache live outside the clone, so a warm run
 * rebuilds only the layers whose inputs changed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createBucket, MiB, patternBytes, sha256, uniqueBucket } from '../support/fixtures.ts';
import { freePorts } from '../support/ports.ts';
import { assertPresent, missingCommand, skipUnlessPresent } from '../support/prerequisites.ts';
import { proxyEnv, proxyS3Client } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
/** A tag of this run's own: test runs of other checkouts on the same machine build their own sources. */
const IMAGE = `localhost/cloudtaser-s3-proxy:test-${process.pid}`;
const execFileAsync = promisify(execFile);
/** crun fails on this kind of machine's hybrid cgroups; runc works. */
const PODMAN = ['--runtime', 'runc'];
/** Without these podman asks for the host's (higher) limits, which the runtime may refuse to set. */
const ULIMITS = ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'];

const podmanMissing = missingCommand('podman');

function podman(args: string[], options: { timeoutMs?: number } = {}) {
  return execFileAsync('podman', [...PODMAN, ...args], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * MiB,
    timeout: options.timeoutMs ?? 60_000,
  });
}

interface Container {
  name: string;
  endpoint: string;
  healthEndpoint: string;
  logs(): string;
  exited: Promise<number | null>;
}

/** `podman run` in the foreground, so that its exit code is the container's. */
async function runProxyContainer(services: Services): Promise<Container> {
  const [port, healthPort] = (await freePorts(2)) as [number, number];
  const env = proxyEnv(services, {
    listenAddr: `127.0.0.1:${port}`,
    healthAddr: `127.0.0.1:${healthPort}`,
  });
  const name = `cloudtaser-image-test-${process.pid}`;
  const child: ChildProcess = spawn(
    'podman',
    [
      ...PODMAN,
      'run',
      '--rm',
      '--name',
      name,
      '--network',
      'host',
      '--user',
      '65532:65532',
      '--read-only',
      // No tmpfs on /tmp, /run and /var/tmp either: as readOnlyRootFilesystem with no volumes.
      '--read-only-tmpfs=false',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      ...ULIMITS,
      // The values come from podman's own environment, so no credential is on a command line.
      ...Object.keys(env).flatMap((key) => ['--env', key]),
      IMAGE,
      'serve',
    ],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => {
      exitCode = code;
      resolveExit(code);
    });
  });
  const healthEndpoint = `http://127.0.0.1:${healthPort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitCode !== undefined)
      throw new Error(`the container exited (${exitCode}) before it was healthy:\n${output}`);
    if (Date.now() > deadline) throw new Error(`the container was not healthy after 60 s:\n${output}`);
    const status = await fetch(`${healthEndpoint}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
      async (r) => {
        await r.text();
        return r.status;
      },
      () => 0,
    );
    if (status === 200) break;
    await sleep(100);
  }
  return { name, endpoint: `http://127.0.0.1:${port}`, healthEndpoint, logs: () => output, exited };
}

describe('the container image, built and run as the sidecar runs', {
  skip: skipUnlessPresent(podmanMissing),
}, () => {
  let services: Services;
  let container: Container;
  let client: S3Client;
  let build: { seconds: number; steps: number; cached: number };
  const bucket = uniqueBucket('image');

  before(async () => {
    assertPresent(podmanMissing);
    services = await useServices();
    const { stdout: bases } = await execFileAsync('bash', ['scripts/image-bases.sh'], {
      cwd: REPO_ROOT,
      timeout: 300_000,
    });
    const args = bases.trim().split(/\s+/);
    assert.ok(
      args.some((a) => a.startsWith('RUNTIME_IMAGE=')),
      bases,
    );
    const started = performance.now();
    const { stdout } = await podman(
      [
        'build',
        // npm ci in the first stage reaches the npm registry as this machine does.
        '--network=host',
        ...args.flatMap((a) => ['--build-arg', a]),
        '--tag',
        IMAGE,
        '.',
      ],
      { timeoutMs: 600_000 },
    );
    build = {
      seconds: (performance.now() - started) / 1000,
      steps: stdout.match(/^\[\d\/\d\] STEP \d+\/\d+: (?!FROM )/gm)?.length ?? 0,
      cached: stdout.match(/^--> Using cache /gm)?.length ?? 0,
    };
    container = await runProxyContainer(services);
    client = proxyS3Client(container, { config: { maxAttempts: 1 } });
    await createBucket(client, bucket);
  });

  after(async () => {
    if (container) await podman(['rm', '--force', '--time', '0', container.name]).catch(() => undefined);
    // Only this name goes (an identical build of another run may carry its own name too); the layers stay
    // in the store as the next build's cache.
    await podman(['untag', IMAGE, IMAGE]).catch(() => undefined);
  });

  it('is the Dockerfile built on a Node 24 base: non-root numeric user, Node as the entrypoint, its size reported', async (t) => {
    const { stdout } = await podman(['image', 'inspect', IMAGE, '--format', 'json']);
    const [image] = JSON.parse(stdout) as {
      Size: number;
      Config: { User: string; Entrypoint: string[]; Cmd: string[]; ExposedPorts: Record<string, unknown> };
    }[];
    assert.ok(image);
    assert.equal(image.Config.User, '65532:65532');
    assert.deepEqual(image.Config.Entrypoint, [
      '/nodejs/bin/node',
      '--max-semi-space-size=1',
      '--initial-old-space-size=64',
      '/app/dist/main.js',
    ]);
    assert.deepEqual(image.Config.Cmd, ['serve']);
    assert.deepEqual(Object.keys(image.Config.ExposedPorts).sort(), ['8190/tcp', '8191/tcp', '8443/tcp']);
    const { stdout: version } = await podman([
      'run',
      '--rm',
      ...ULIMITS,
      '--entrypoint',
      '/nodejs/bin/node',
      IMAGE,
      '--version',
    ]);
    assert.match(version, /^v24\./);
    t.diagnostic(`image size ${(image.Size / 1e6).toFixed(1)} MB (uncompressed), Node ${version.trim()}`);
    t.diagnostic(
      `build ${build.seconds.toFixed(1)} s, ${build.cached} of ${build.steps} steps from the layer cache`,
    );
  });

  it('runs as uid 65532 and nothing in its root filesystem can be written, not even /tmp', async () => {
    const probe = `
      const fs = require('node:fs');
      const writes = {};
      for (const dir of ['/', '/app', '/app/dist', '/tmp', '/home/nonroot']) {
        try { fs.writeFileSync(dir + '/.probe', 'x'); writes[dir] = 'written'; }
        catch (e) { writes[dir] = e.code; }
      }
      console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), writes }));`;
    const { stdout } = await podman(['exec', container.name, '/nodejs/bin/node', '-e', probe]);
    assert.deepEqual(JSON.parse(stdout), {
      uid: 65532,
      gid: 65532,
      writes: {
        '/': 'EROFS',
        '/app': 'EROFS',
        '/app/dist': 'EROFS',
        '/tmp': 'EROFS',
        '/home/nonroot': 'EROFS',
      },
    });
    const { stdout: top } = await podman(['top', container.name, 'huser', 'args']);
    assert.match(
      top,
      /^65532\s+\/nodejs\/bin\/node --max-semi-space-size=1 --initial-old-space-size=64 \/app\/dist\/main\.js serve\s*$/m,
    );
  });

  it('answers /healthz and /readyz with 200, Vault and SeaweedFS being usable', async () => {
    const health = await fetch(`${container.healthEndpoint}/healthz`);
    assert.equal(health.status, 200, await health.text());
    const ready = await fetch(`${container.healthEndpoint}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
  });

  it('encrypts a PUT and decrypts the GET: the object reads back exactly, SeaweedFS holds ciphertext, /metrics counts both', async () => {
    const plaintext = patternBytes(3 * MiB + 17, 11);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'round-trip', Body: plaintext }));
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'round-trip' }));
    assert.equal(sha256(Buffer.from((await got.Body?.transformToByteArray()) ?? [])), sha256(plaintext));

    const stored = await createS3Client(services).send(
      new GetObjectCommand({ Bucket: bucket, Key: 'round-trip' }),
    );
    const storedBytes = Buffer.from((await stored.Body?.transformToByteArray()) ?? []);
    assert.ok(
      storedBytes.length > plaintext.length,
      'the stored object is the envelope, larger than the plaintext',
    );
    assert.equal(storedBytes.indexOf(plaintext.subarray(0, 4096)), -1, 'no plaintext upstream');

    const metrics = await (await fetch(`${container.healthEndpoint}/metrics`)).text();
    assert.match(metrics, /cloudtaser_s3proxy_requests_total\{operation="PutObject",status="200"\} 1/);
    assert.match(metrics, /cloudtaser_s3proxy_requests_total\{operation="GetObject",status="200"\} 1/);
    assert.match(metrics, /cloudtaser_s3proxy_vault_requests_total\{call="decrypt",outcome="ok"\} \d+/);
  });

  it('on SIGTERM finishes an in-flight 50 MiB GET, takes no new connection, and the container exits 0', async (t) => {
    const plaintext = patternBytes(50 * MiB, 50);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'large', Body: plaintext }));
    const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'large' }));
    const body = response.Body as AsyncIterable<Uint8Array>;
    const hash = createHash('sha256');
    let received = 0;
    let signalled = false;
    let signalledAt = 0;
    for await (const chunk of body) {
      hash.update(chunk);
      received += chunk.length;
      if (!signalled && received >= MiB) {
        signalled = true;
        signalledAt = performance.now();
        await podman(['kill', '--signal', 'TERM', container.name]);
        // The GET is in flight (about 49 MiB still to come, held back by our not reading): while it
        // drains, readiness is withdrawn and the S3 listener is closed.
        const drainingDeadline = Date.now() + 10_000;
        while (!/"msg":"draining"/.test(container.logs()) && Date.now() < drainingDeadline) await sleep(50);
        assert.match(container.logs(), /"msg":"draining"/);
        const ready = await fetch(`${container.healthEndpoint}/readyz`);
        assert.equal(ready.status, 503, 'not ready while draining');
        await ready.text();
        await assert.rejects(
          fetch(container.endpoint, { signal: AbortSignal.timeout(5000) }),
          (e: Error) => /ECONNREFUSED/.test(String((e.cause as Error | undefined)?.message ?? e)),
          'a new connection is refused',
        );
      }
    }
    assert.ok(signalled);
    const drained = performance.now();
    assert.equal(received, plaintext.length);
    assert.equal(hash.digest('hex'), sha256(plaintext), 'the drained GET is complete and exact');
    assert.equal(await container.exited, 0, container.logs());
    assert.match(container.logs(), /"msg":"stopped"/);
    t.diagnostic(
      `SIGTERM to the end of the GET ${((drained - signalledAt) / 1000).toFixed(1)} s, to the container's exit ${((performance.now() - signalledAt) / 1000).toFixed(1)} s`,
    );
  });
});
