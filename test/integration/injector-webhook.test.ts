/**
 * The webhook as the API server meets it: `cloudtaser-s3-proxy webhook` as a process, AdmissionReview v1
 * over HTTPS, its certificate swapped the way the kubelet updates a Secret volume.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1/Pod';
import { loadConfig } from '../../src/config/index.ts';
import type { AdmissionReview } from '../../src/injector/admission.ts';
import type { KubePod } from '../../src/injector/patch.ts';
import { freePorts } from '../support/ports.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const seedReview = JSON.parse(
  readFileSync(join(REPO_ROOT, 'test/injector/fixtures/seed-pod-review.json'), 'utf8'),
) as { request: { object: KubePod } & Record<string, unknown> } & Record<string, unknown>;

interface KeyPair {
  cert: string;
  key: string;
}

/** A self-signed certificate for 127.0.0.1, from the openssl command line (Node cannot issue X.509). */
function selfSigned(dir: string, name: string): KeyPair {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'pipe' },
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/**
 * Writes files the way the kubelet's atomic writer updates a Secret volume: a new timestamped
 * directory, then the `..data` symlink swapped by rename; `tls.crt` and `tls.key` link through `..data`.
 */
function writeSecretVolume(dir: string, files: Record<string, string>, generation: number) {
  const version = `..gen_${generation}`;
  mkdirSync(join(dir, version));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, version, name), content);
  symlinkSync(version, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    try {
      symlinkSync(join('..data', name), join(dir, name));
    } catch {
      // already links through ..data
    }
  }
}

interface Answer {
  status: number;
  body: string;
  peerFingerprint: string;
}

function post(port: number, ca: string[], path: string, body: string, method = 'POST'): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        ca,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const peerFingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolvePromise({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            peerFingerprint,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('the admission webhook over HTTPS', () => {
  let dir: string;
  let tlsDir: string;
  let child: ChildProcess;
  let httpsPort: number;
  let healthPort: number;
  let first: KeyPair;
  let second: KeyPair;
  let output = '';
  let exited: Promise<number | null>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cloudtaser-webhook-'));
    tlsDir = join(dir, 'tls');
    mkdirSync(tlsDir);
    first = selfSigned(dir, 'first');
    second = selfSigned(dir, 'second');
    writeSecretVolume(tlsDir, { 'tls.crt': first.cert, 'tls.key': first.key }, 1);
    [httpsPort, healthPort] = (await freePorts(2)) as [number, number];
    child = spawn(process.execPath, ['src/main.ts', 'webhook'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        CLOUDTASER_INJECTOR_LISTEN_ADDR: `127.0.0.1:${httpsPort}`,
        CLOUDTASER_INJECTOR_HEALTH_ADDR: `127.0.0.1:${healthPort}`,
        CLOUDTASER_INJECTOR_TLS_CERT_FILE: join(tlsDir, 'tls.crt'),
        CLOUDTASER_INJECTOR_TLS_KEY_FILE: join(tlsDir, 'tls.key'),
        CLOUDTASER_INJECTOR_TLS_RELOAD_INTERVAL: '100ms',
        CLOUDTASER_INJECTOR_IMAGE: 'cloudtaser/cloudtaser-s3-proxy:test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      output += c.toString();
    });
    exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`webhook did not start:\n${output}`);
      await sleep(100);
    }
  });

  after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the seed pod with a JSON patch that gives a valid pod with the sidecar', async () => {
    const answer = await post(httpsPort, [first.cert], '/mutate', JSON.stringify(seedReview));
    assert.equal(answer.status, 200);
    const review = JSON.parse(answer.body) as AdmissionReview;
    assert.equal(review.apiVersion, 'admission.k8s.io/v1');
    assert.equal(review.kind, 'AdmissionReview');
    assert.equal(review.response.uid, seedReview.request.uid);
    assert.equal(review.response.allowed, true);
    assert.equal(review.response.patchType, 'JSONPatch');
    const patch = JSON.parse(
      Buffer.from(review.response.patch ?? '', 'base64').toString('utf8'),
    ) as Operation[];
    const pod = fastJsonPatch.applyPatch(structuredClone(seedReview.request.object), patch, true, false)
      .newDocument as KubePod;
    new Pod(pod as ConstructorParameters<typeof Pod>[0]).validate();
    assert.deepEqual(pod.spec?.containers, seedReview.request.object.spec?.containers);
    const sidecar = pod.spec?.initContainers?.[0];
    assert.ok(sidecar);
    assert.equal(sidecar.name, 'cloudtaser-s3-proxy');
    const env = Object.fromEntries(
      (sidecar.env as { name: string; value: string }[]).map(({ name, value }) => [name, value]),
    );
    const loaded = loadConfig(env);
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
  });

  it('refuses a pod without the transit key annotation, naming it', async () => {
    const object = structuredClone(seedReview.request.object);
    delete object.metadata?.annotations?.['cloudtaser.io/s3-proxy-transit-key'];
    const body = JSON.stringify({ ...seedReview, request: { ...seedReview.request, object } });
    const review = JSON.parse((await post(httpsPort, [first.cert], '/mutate', body)).body) as AdmissionReview;
    assert.equal(review.response.allowed, false);
    assert.match(
      review.response.status?.message ?? '',
      /annotation cloudtaser\.io\/s3-proxy-transit-key is required/,
    );
  });

  it('answers 400 to a body that is not an AdmissionReview, and /healthz over HTTPS', async () => {
    assert.equal((await post(httpsPort, [first.cert], '/mutate', 'not json')).status, 400);
    assert.equal((await post(httpsPort, [first.cert], '/mutate', '{"kind":"Pod"}')).status, 400);
    assert.equal((await post(httpsPort, [first.cert], '/healthz', '', 'GET')).status, 200);
  });

  it('serves a renewed certificate once the Secret volume changes, without a restart', async () => {
    const secondFingerprint = new X509Certificate(second.cert).fingerprint256;
    writeSecretVolume(tlsDir, { 'tls.crt': second.cert, 'tls.key': second.key }, 2);
    const deadline = Date.now() + 10_000;
    let seen = '';
    while (Date.now() < deadline) {
      seen = (await post(httpsPort, [first.cert, second.cert], '/healthz', '', 'GET')).peerFingerprint;
      if (seen === secondFingerprint) break;
      await sleep(100);
    }
    assert.equal(seen, secondFingerprint);
    assert.equal((await post(httpsPort, [second.cert], '/mutate', JSON.stringify(seedReview))).status, 200);
  });

  it('keeps the working certificate when the new key does not match it', async () => {
    writeSecretVolume(tlsDir, { 'tls.crt': first.cert, 'tls.key': second.key }, 3);
    const deadline = Date.now() + 10_000;
    let metrics = '';
    while (Date.now() < deadline) {
      metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      if (/cloudtaser_injector_tls_reloads_total\{result="failed"\} [1-9]/.test(metrics)) break;
      await sleep(100);
    }
    assert.match(metrics, /cloudtaser_injector_tls_reloads_total\{result="failed"\} [1-9]/);
    const answer = await post(httpsPort, [second.cert], '/healthz', '', 'GET');
    assert.equal(answer.peerFingerprint, new X509Certificate(second.cert).fingerprint256);
  });

  it('counts its answers in /metrics', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    assert.match(metrics, /cloudtaser_injector_admissions_total\{outcome="injected"\} 2/);
    assert.match(metrics, /cloudtaser_injector_admissions_total\{outcome="refused"\} 1/);
    assert.match(metrics, /cloudtaser_injector_admissions_total\{outcome="invalid"\} 2/);
    assert.match(metrics, /cloudtaser_injector_tls_reloads_total\{result="loaded"\} 1/);
    assert.match(metrics, /cloudtaser_injector_tls_certificate_expiry_timestamp_seconds \d+/);
  });

  it('exits 0 on SIGTERM', async () => {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
    assert.match(output, /"msg":"stopped"/);
  });
});
