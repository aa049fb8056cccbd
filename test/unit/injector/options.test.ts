import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ANNOTATIONS } from '../../../src/injector/annotations.ts';
import { INJECTOR_SETTINGS, loadInjectorOptions, parseQuantity } from '../../../src/injector/options.ts';

describe('injector settings', () => {
  it('default to a native sidecar with the documented resources and the webhook on :8443', () => {
    const loaded = loadInjectorOptions({});
    assert.ok(loaded.ok);
    assert.equal(loaded.sidecar.mode, 'native');
    assert.match(loaded.sidecar.image, /^cloudtaser\/cloudtaser-s3-proxy:\d+\.\d+\.\d+/);
    assert.deepEqual(loaded.sidecar.resources, {
      cpuRequest: '100m',
      memoryRequest: '128Mi',
      cpuLimit: '1',
      memoryLimit: '512Mi',
    });
    assert.equal(loaded.sidecar.vaultAddress, undefined);
    assert.deepEqual(loaded.sidecar.proxyEnv, {});
    assert.deepEqual(loaded.webhook.listen, { host: undefined, port: 8443 });
    assert.equal(loaded.webhook.tlsReloadIntervalMs, 10_000);
  });

  it('treat blank values as unset, as the Helm chart renders unset values', () => {
    const loaded = loadInjectorOptions({
      CLOUDTASER_INJECTOR_VAULT_ADDR: '',
      CLOUDTASER_INJECTOR_TOKEN_AUDIENCE: '',
    });
    assert.ok(loaded.ok);
    assert.equal(loaded.sidecar.vaultAddress, undefined);
    assert.equal(loaded.sidecar.tokenAudience, undefined);
  });

  it('report every invalid value at once, naming the variable', () => {
    const loaded = loadInjectorOptions({
      CLOUDTASER_INJECTOR_SIDECAR_MODE: 'sidecar',
      CLOUDTASER_INJECTOR_MEMORY_LIMIT: 'big',
      CLOUDTASER_INJECTOR_TOKEN_EXPIRATION_SECONDS: '60',
      CLOUDTASER_INJECTOR_PROXY_ENV: '{"CLOUDTASER_S3PROXY_LISTEN_ADDR":":8190"}',
    });
    assert.equal(loaded.ok, false);
    if (loaded.ok) return;
    assert.equal(loaded.errors.length, 4);
    assert.match(
      loaded.errors.join('\n'),
      /CLOUDTASER_INJECTOR_SIDECAR_MODE must be "native" or "container"/,
    );
    assert.match(loaded.errors.join('\n'), /CLOUDTASER_INJECTOR_MEMORY_LIMIT must be a Kubernetes quantity/);
    assert.match(
      loaded.errors.join('\n'),
      /CLOUDTASER_INJECTOR_TOKEN_EXPIRATION_SECONDS must be .*at least 600/,
    );
    assert.match(loaded.errors.join('\n'), /CLOUDTASER_S3PROXY_LISTEN_ADDR is set by the injector/);
  });

  it('leave the client credentials file to the injector, and take a default Secret by its name', () => {
    const owned = loadInjectorOptions({
      CLOUDTASER_INJECTOR_PROXY_ENV: '{"CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE":"/tmp/c.yaml"}',
      CLOUDTASER_INJECTOR_CLIENT_CREDENTIALS_SECRET: 'Not A Name',
    });
    assert.equal(owned.ok, false);
    if (owned.ok) return;
    assert.match(
      owned.errors.join('\n'),
      /CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE is set by the injector/,
    );
    assert.match(
      owned.errors.join('\n'),
      /CLOUDTASER_INJECTOR_CLIENT_CREDENTIALS_SECRET must be the name of a Secret/,
    );
    const named = loadInjectorOptions({ CLOUDTASER_INJECTOR_CLIENT_CREDENTIALS_SECRET: 's3-clients' });
    assert.ok(named.ok);
    assert.equal(named.sidecar.clientCredentialsSecret, 's3-clients');
  });

  it('accept proxy defaults only for settings the proxy has', () => {
    const ok = loadInjectorOptions({
      CLOUDTASER_INJECTOR_PROXY_ENV: '{"CLOUDTASER_S3PROXY_LOG_LEVEL":"warn"}',
    });
    assert.ok(ok.ok);
    assert.deepEqual(ok.sidecar.proxyEnv, { CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn' });
    const typo = loadInjectorOptions({
      CLOUDTASER_INJECTOR_PROXY_ENV: '{"CLOUDTASER_S3PROXY_LOGLEVEL":"warn"}',
    });
    assert.equal(typo.ok, false);
  });

  it('parse Kubernetes quantities as the API server does', () => {
    for (const good of ['100m', '0.5', '1', '128Mi', '1Gi', '1e3', '.5', '2k'])
      assert.ok(parseQuantity(good).ok, good);
    for (const bad of ['', 'lots', '1 Gi', '-1', '1GB', '1mi'])
      assert.equal(parseQuantity(bad).ok, false, bad);
  });
});

describe('docs/DEPLOYMENT.md', () => {
  const guide = readFileSync(new URL('../../../docs/DEPLOYMENT.md', import.meta.url), 'utf8');

  it('documents every annotation the injector reads', () => {
    for (const { name } of ANNOTATIONS) assert.ok(guide.includes(`\`${name}\``), `${name} is documented`);
  });

  it('documents every injector setting', () => {
    for (const { env } of Object.values(INJECTOR_SETTINGS))
      assert.ok(guide.includes(env), `${env} is documented`);
  });
});
