import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Config, loadConfig } from '../../../src/config/index.ts';
import { SETTING_LIST, SETTINGS } from '../../../src/config/settings.ts';

const MINIMAL = {
  CLOUDTASER_S3PROXY_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
  CLOUDTASER_S3PROXY_S3_REGION: 'eu-west-1',
  VAULT_ADDR: 'https://vault.eu.example.com:8200',
  CLOUDTASER_S3PROXY_TRANSIT_KEY: 'myapp-s3',
  VAULT_AUTH_ROLE: 'myapp',
};

function load(env: Record<string, string | undefined>): Config {
  const result = loadConfig(env);
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  return result.config;
}

function errorsOf(env: Record<string, string | undefined>): string[] {
  const result = loadConfig(env);
  assert.ok(!result.ok, 'expected the configuration to be refused');
  return result.errors;
}

describe('loadConfig defaults', () => {
  it('gives every optional setting its documented default', () => {
    const config = load(MINIMAL);
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8190 });
    assert.deepEqual(config.health, { host: undefined, port: 8191 });
    assert.deepEqual(config.s3, {
      endpoint: {
        protocol: 'https:',
        host: 's3.eu-west-1.amazonaws.com',
        port: 443,
        basePath: '',
        hostHeader: 's3.eu-west-1.amazonaws.com',
        origin: 'https://s3.eu-west-1.amazonaws.com',
      },
      region: 'eu-west-1',
      addressing: 'auto',
      virtualHostDomains: ['localhost'],
    });
    assert.deepEqual(config.vault, {
      addr: 'https://vault.eu.example.com:8200',
      authMethod: 'kubernetes',
      authRole: 'myapp',
      authMountPath: 'kubernetes',
      authTokenPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      skipVerify: false,
      timeoutMs: 10_000,
      maxRetries: 2,
    });
    assert.deepEqual(config.transit, { mount: 'transit', key: 'myapp-s3' });
    assert.equal(config.maxObjectSize, 268_435_456);
    assert.equal(config.unencryptedObjects, 'serve');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.shutdownGraceMs, 25_000);
    // A slow but honest client over a WAN survives these; one that trickles or stalls does not (0006).
    assert.deepEqual(config.clients, {
      headerTimeoutMs: 20_000,
      idleTimeoutMs: 20_000,
      minBodyRate: 500,
      maxRequests: 512,
      maxUploads: 256,
    });
    assert.equal(config.keyTimeoutMs, 10_000);
    assert.equal(config.readyTimeoutMs, 3_000);
  });

  it('parses every default in the table with its own parser', () => {
    for (const setting of SETTING_LIST) {
      if (setting.presence === 'defaulted') assert.ok(setting.parse(setting.default).ok, setting.env);
    }
  });

  it('treats blank values as unset, as Kubernetes renders unset optional values', () => {
    const config = load({
      ...MINIMAL,
      CLOUDTASER_S3PROXY_LISTEN_ADDR: '',
      VAULT_NAMESPACE: '  ',
      VAULT_TOKEN: '',
    });
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8190 });
    assert.equal(config.vault.namespace, undefined);
    assert.equal(config.vault.token, undefined);
    assert.deepEqual(errorsOf({ ...MINIMAL, VAULT_ADDR: ' ' }), [
      'VAULT_ADDR is required (OpenBao/Vault address, e.g. https://vault.eu.example.com:8200)',
    ]);
  });
});

describe('loadConfig values', () => {
  it('reads every setting when set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    const config = load({
      CLOUDTASER_S3PROXY_S3_ENDPOINT: 'http://[::1]:8333/',
      CLOUDTASER_S3PROXY_S3_REGION: 'us-east-1',
      VAULT_ADDR: 'http://127.0.0.1:8200/',
      CLOUDTASER_S3PROXY_TRANSIT_KEY: 'k1',
      CLOUDTASER_S3PROXY_LISTEN_ADDR: ':9000',
      CLOUDTASER_S3PROXY_HEALTH_ADDR: '127.0.0.1:9001',
      CLOUDTASER_S3PROXY_TRANSIT_MOUNT: '/team-a/transit/',
      CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: '1048576',
      VAULT_TOKEN: 'root-token-value',
      VAULT_AUTH_METHOD: 'token',
      VAULT_AUTH_MOUNT_PATH: 'k8s-eu',
      VAULT_AUTH_TOKEN_PATH: '/tmp/token',
      VAULT_SKIP_VERIFY: 'TRUE',
      VAULT_NAMESPACE: 'eu/team-a',
      VAULT_CACERT: ca,
      VAULT_CLIENT_TIMEOUT: '1m30s',
      VAULT_MAX_RETRIES: '0',
      CLOUDTASER_S3PROXY_VIRTUAL_HOST_DOMAINS: 'localhost, S3.Local ,',
      CLOUDTASER_S3PROXY_UPSTREAM_ADDRESSING: 'virtual',
      CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS: 'refuse',
      CLOUDTASER_S3PROXY_LOG_LEVEL: 'debug',
      CLOUDTASER_S3PROXY_SHUTDOWN_GRACE: '0',
      CLOUDTASER_S3PROXY_KEY_TIMEOUT: '2500ms',
      CLOUDTASER_S3PROXY_CLIENT_HEADER_TIMEOUT: '5s',
      CLOUDTASER_S3PROXY_CLIENT_IDLE_TIMEOUT: '1m',
      CLOUDTASER_S3PROXY_CLIENT_MIN_BODY_RATE: '0',
      CLOUDTASER_S3PROXY_MAX_REQUESTS: '64',
      CLOUDTASER_S3PROXY_MAX_UPLOADS: '16',
      CLOUDTASER_S3PROXY_READY_TIMEOUT: '1',
    });
    assert.deepEqual(config.s3.endpoint, {
      protocol: 'http:',
      host: '::1',
      port: 8333,
      basePath: '',
      hostHeader: '[::1]:8333',
      origin: 'http://[::1]:8333',
    });
    assert.equal(config.s3.region, 'us-east-1');
    assert.equal(config.s3.addressing, 'virtual');
    assert.deepEqual(config.s3.virtualHostDomains, ['localhost', 's3.local']);
    assert.deepEqual(config.listen, { host: undefined, port: 9000 });
    assert.deepEqual(config.health, { host: '127.0.0.1', port: 9001 });
    assert.deepEqual(config.transit, { mount: 'team-a/transit', key: 'k1' });
    assert.equal(config.maxObjectSize, 1_048_576);
    assert.equal(config.vault.addr, 'http://127.0.0.1:8200');
    assert.equal(config.vault.token, 'root-token-value');
    assert.equal(config.vault.authMethod, 'token');
    assert.equal(config.vault.authMountPath, 'k8s-eu');
    assert.equal(config.vault.authTokenPath, '/tmp/token');
    assert.equal(config.vault.skipVerify, true);
    assert.equal(config.vault.namespace, 'eu/team-a');
    assert.equal(config.vault.caCertPath, ca);
    assert.equal(config.vault.timeoutMs, 90_000);
    assert.equal(config.vault.maxRetries, 0);
    assert.equal(config.unencryptedObjects, 'refuse');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.shutdownGraceMs, 0);
    assert.equal(config.keyTimeoutMs, 2_500);
    assert.deepEqual(config.clients, {
      headerTimeoutMs: 5_000,
      idleTimeoutMs: 60_000,
      minBodyRate: 0,
      maxRequests: 64,
      maxUploads: 16,
    });
    assert.equal(config.readyTimeoutMs, 1_000);
  });

  it('returns a deeply frozen configuration', () => {
    const config = load(MINIMAL);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.s3.endpoint));
    assert.ok(Object.isFrozen(config.s3.virtualHostDomains));
    assert.ok(Object.isFrozen(config.vault));
    assert.throws(() => {
      (config as { maxObjectSize: number }).maxObjectSize = 1;
    }, TypeError);
  });

  it('keeps VAULT_TOKEN out of anything that serialises or inspects the configuration', async () => {
    const { inspect } = await import('node:util');
    const config = load({ ...MINIMAL, VAULT_AUTH_METHOD: 'token', VAULT_TOKEN: 's.SuperSecretToken' });
    assert.equal(config.vault.token, 's.SuperSecretToken');
    assert.doesNotMatch(JSON.stringify(config), /SuperSecret/);
    assert.doesNotMatch(inspect(config, { depth: 10 }), /SuperSecret/);
    assert.doesNotMatch(JSON.stringify({ ...config.vault }), /SuperSecret/);
  });
});

describe('loadConfig errors', () => {
  it('reports every missing required setting at once, naming each and what it is', () => {
    assert.deepEqual(errorsOf({}), [
      'CLOUDTASER_S3PROXY_S3_ENDPOINT is required (upstream S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com)',
      'CLOUDTASER_S3PROXY_S3_REGION is required (AWS region used to sign upstream requests, e.g. eu-west-1)',
      'VAULT_ADDR is required (OpenBao/Vault address, e.g. https://vault.eu.example.com:8200)',
      'CLOUDTASER_S3PROXY_TRANSIT_KEY is required (name of the Vault Transit key that wraps data keys)',
      'VAULT_AUTH_ROLE is required when VAULT_AUTH_METHOD=kubernetes',
    ]);
  });

  it('reports every invalid value at once, one line each, naming the variable and echoing the value', () => {
    const errors = errorsOf({
      CLOUDTASER_S3PROXY_S3_ENDPOINT: 'ftp://s3.example.com',
      CLOUDTASER_S3PROXY_S3_REGION: 'eu west 1',
      VAULT_ADDR: 'vault:8200',
      CLOUDTASER_S3PROXY_TRANSIT_KEY: 'a/b',
      CLOUDTASER_S3PROXY_LISTEN_ADDR: '8190',
      CLOUDTASER_S3PROXY_HEALTH_ADDR: ':70000',
      CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE: '/nonexistent/clients.yaml',
      CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_RELOAD_INTERVAL: '0s',
      CLOUDTASER_S3PROXY_TRANSIT_MOUNT: 'a//b',
      CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: '-1',
      VAULT_AUTH_METHOD: 'foo',
      VAULT_AUTH_MOUNT_PATH: '../x',
      VAULT_AUTH_TOKEN_PATH: 'relative/token',
      VAULT_SKIP_VERIFY: 'maybe',
      VAULT_CACERT: '/nonexistent/ca.pem',
      VAULT_CLIENT_TIMEOUT: '0s',
      VAULT_MAX_RETRIES: '-1',
      CLOUDTASER_S3PROXY_KEY_POOL_SIZE: 'many',
      CLOUDTASER_S3PROXY_KEY_CACHE_ENABLED: 'sometimes',
      CLOUDTASER_S3PROXY_KEY_CACHE_SIZE: '0',
      CLOUDTASER_S3PROXY_KEY_CACHE_TTL: '0s',
      CLOUDTASER_S3PROXY_VIRTUAL_HOST_DOMAINS: 'bad_domain',
      CLOUDTASER_S3PROXY_UPSTREAM_ADDRESSING: 'dns',
      CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS: 'allow',
      CLOUDTASER_S3PROXY_LOG_LEVEL: 'trace',
      CLOUDTASER_S3PROXY_SHUTDOWN_GRACE: '10 seconds',
      CLOUDTASER_S3PROXY_KEY_TIMEOUT: '0s',
      CLOUDTASER_S3PROXY_CLIENT_HEADER_TIMEOUT: '0',
      CLOUDTASER_S3PROXY_CLIENT_IDLE_TIMEOUT: 'forever',
      CLOUDTASER_S3PROXY_CLIENT_MIN_BODY_RATE: '-5',
      CLOUDTASER_S3PROXY_MAX_REQUESTS: '0',
      CLOUDTASER_S3PROXY_MAX_UPLOADS: 'all',
      CLOUDTASER_S3PROXY_READY_TIMEOUT: '3 s',
    });
    const checkedWhenSet = ['VAULT_CACERT', 'CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE'];
    const named = SETTING_LIST.filter((s) => s.presence !== 'optional' || checkedWhenSet.includes(s.env)).map(
      (s) => s.env,
    );
    assert.equal(errors.length, named.length, errors.join('\n'));
    for (const [i, env] of named.entries()) {
      assert.ok(errors[i]?.startsWith(`${env} must be `), `${errors[i]} names ${env}`);
      assert.match(errors[i] ?? '', /, got ".*"$/);
    }
    assert.ok(errors.includes('VAULT_AUTH_METHOD must be "kubernetes" or "token", got "foo"'));
    assert.ok(
      errors.includes(
        'CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE must be a positive integer number of bytes, got "-1"',
      ),
    );
    for (const error of errors) assert.doesNotMatch(error, /\n/);
  });

  it('requires CLOUDTASER_S3PROXY_MAX_UPLOADS below CLOUDTASER_S3PROXY_MAX_REQUESTS, naming both', () => {
    assert.deepEqual(
      errorsOf({ ...MINIMAL, CLOUDTASER_S3PROXY_MAX_REQUESTS: '100', CLOUDTASER_S3PROXY_MAX_UPLOADS: '100' }),
      [
        'CLOUDTASER_S3PROXY_MAX_UPLOADS (100) must be below CLOUDTASER_S3PROXY_MAX_REQUESTS (100), so that uploads cannot take every request slot',
      ],
    );
    assert.deepEqual(errorsOf({ ...MINIMAL, CLOUDTASER_S3PROXY_MAX_REQUESTS: '100' }), [
      'CLOUDTASER_S3PROXY_MAX_UPLOADS (256) must be below CLOUDTASER_S3PROXY_MAX_REQUESTS (100), so that uploads cannot take every request slot',
    ]);
  });

  it('requires VAULT_TOKEN when VAULT_AUTH_METHOD=token', () => {
    const { VAULT_AUTH_ROLE: _, ...rest } = MINIMAL;
    assert.deepEqual(errorsOf({ ...rest, VAULT_AUTH_METHOD: 'token' }), [
      'VAULT_TOKEN is required when VAULT_AUTH_METHOD=token',
    ]);
  });

  it('requires VAULT_AUTH_ROLE for kubernetes auth, hinting at token auth when only a token is set', () => {
    const { VAULT_AUTH_ROLE: _, ...rest } = MINIMAL;
    assert.deepEqual(errorsOf(rest), ['VAULT_AUTH_ROLE is required when VAULT_AUTH_METHOD=kubernetes']);
    assert.deepEqual(errorsOf({ ...rest, VAULT_TOKEN: 'secret-token-123' }), [
      'VAULT_AUTH_ROLE is required when VAULT_AUTH_METHOD=kubernetes (or set VAULT_AUTH_METHOD=token to log in with VAULT_TOKEN)',
    ]);
    assert.deepEqual(errorsOf({ ...rest, VAULT_AUTH_METHOD: 'kubernetes', VAULT_TOKEN: 'x' }), [
      'VAULT_AUTH_ROLE is required when VAULT_AUTH_METHOD=kubernetes',
    ]);
  });

  it('does not add auth requirements when VAULT_AUTH_METHOD itself is invalid', () => {
    assert.deepEqual(errorsOf({ ...MINIMAL, VAULT_AUTH_ROLE: undefined, VAULT_AUTH_METHOD: 'approle' }), [
      'VAULT_AUTH_METHOD must be "kubernetes" or "token", got "approle"',
    ]);
  });

  it('never puts VAULT_TOKEN in an error, whatever else is wrong', () => {
    const token = 'hvs.CAESIJ-very-secret-token';
    for (const env of [
      { VAULT_TOKEN: token },
      { ...MINIMAL, VAULT_TOKEN: token, VAULT_AUTH_METHOD: 'bogus' },
      { ...MINIMAL, VAULT_TOKEN: token, VAULT_AUTH_ROLE: undefined },
      { VAULT_TOKEN: token, VAULT_AUTH_METHOD: 'token', CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: 'x' },
    ]) {
      const errors = errorsOf(env);
      assert.ok(errors.length > 0);
      for (const error of errors) assert.ok(!error.includes(token), error);
    }
  });

  it('refuses a health address that overlaps the proxy address', () => {
    assert.match(
      errorsOf({ ...MINIMAL, CLOUDTASER_S3PROXY_HEALTH_ADDR: '127.0.0.1:8190' })[0] ?? '',
      /^CLOUDTASER_S3PROXY_HEALTH_ADDR must not overlap CLOUDTASER_S3PROXY_LISTEN_ADDR/,
    );
    assert.equal(errorsOf({ ...MINIMAL, CLOUDTASER_S3PROXY_LISTEN_ADDR: ':8191' }).length, 1);
    load({
      ...MINIMAL,
      CLOUDTASER_S3PROXY_LISTEN_ADDR: '127.0.0.1:0',
      CLOUDTASER_S3PROXY_HEALTH_ADDR: '127.0.0.1:0',
    });
    load({
      ...MINIMAL,
      CLOUDTASER_S3PROXY_LISTEN_ADDR: '127.0.0.1:9000',
      CLOUDTASER_S3PROXY_HEALTH_ADDR: '127.0.0.2:9000',
    });
  });

  it('truncates a very long echoed value', () => {
    const [error] = errorsOf({ ...MINIMAL, CLOUDTASER_S3PROXY_LOG_LEVEL: 'x'.repeat(10_000) });
    assert.ok((error ?? '').length < 300);
  });
});

describe('loadConfig warnings', () => {
  function warningsOf(env: Record<string, string>): string[] {
    const result = loadConfig(env);
    assert.ok(result.ok);
    return result.warnings;
  }

  it('has none for a plain configuration', () => {
    assert.deepEqual(warningsOf(MINIMAL), []);
  });

  it('names an unknown CLOUDTASER_S3PROXY_ variable, which is probably a typo', () => {
    assert.deepEqual(warningsOf({ ...MINIMAL, CLOUDTASER_S3PROXY_LISTEN_ADRR: ':8190', OTHER_VAR: 'x' }), [
      'CLOUDTASER_S3PROXY_LISTEN_ADRR is not a setting of this proxy version and is ignored (misspelt?)',
    ]);
  });

  it('warns that an all-interfaces listen address exposes decrypted objects', () => {
    assert.match(
      warningsOf({ ...MINIMAL, CLOUDTASER_S3PROXY_LISTEN_ADDR: ':8190' })[0] ?? '',
      /binds all interfaces/,
    );
  });

  it('warns about VAULT_SKIP_VERIFY and an unused VAULT_TOKEN, without printing the token', () => {
    const warnings = warningsOf({ ...MINIMAL, VAULT_SKIP_VERIFY: '1', VAULT_TOKEN: 'tok-abc' });
    assert.equal(warnings.length, 2);
    for (const warning of warnings) assert.doesNotMatch(warning, /tok-abc/);
  });
});

describe('SETTINGS', () => {
  it('uses the seed names for the seed settings', () => {
    const names = new Set(SETTING_LIST.map((s) => s.env));
    for (const name of [
      'CLOUDTASER_S3PROXY_S3_ENDPOINT',
      'CLOUDTASER_S3PROXY_S3_REGION',
      'VAULT_ADDR',
      'CLOUDTASER_S3PROXY_TRANSIT_KEY',
      'CLOUDTASER_S3PROXY_LISTEN_ADDR',
      'CLOUDTASER_S3PROXY_TRANSIT_MOUNT',
      'CLOUDTASER_S3PROXY_HEALTH_ADDR',
      'CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE',
      'VAULT_TOKEN',
      'VAULT_AUTH_METHOD',
      'VAULT_AUTH_ROLE',
      'VAULT_AUTH_MOUNT_PATH',
      'VAULT_SKIP_VERIFY',
    ]) {
      assert.ok(names.has(name), name);
    }
    assert.equal(names.size, SETTING_LIST.length, 'no variable appears twice');
  });

  it('marks VAULT_TOKEN secret', () => {
    assert.equal(SETTINGS.vaultToken.secret, true);
  });
});
