import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/index.ts';
import { wrappedKeyVersion } from '../../../src/kms/key-wrapper.ts';
import { outcomeOf } from '../../../src/kms/vault-client.ts';
import { vaultCallLabel } from '../../../src/server/metrics.ts';

describe('outcomeOf', () => {
  it('takes 403 for a refusal, other 4xx for a rejected request, and 5xx, 429 and 412 for a Vault that cannot answer now', () => {
    assert.equal(outcomeOf(200), 'ok');
    assert.equal(outcomeOf(204), 'ok');
    assert.equal(outcomeOf(403), 'denied');
    assert.equal(outcomeOf(400), 'rejected');
    assert.equal(outcomeOf(404), 'rejected');
    // 503: sealed, or a standby without an active node; 429: rate limited; 412: a performance standby behind.
    for (const status of [500, 502, 503, 429, 412]) assert.equal(outcomeOf(status), 'unavailable');
  });
});

describe('wrappedKeyVersion', () => {
  it('reads the Transit key version of a wrapped key', () => {
    assert.equal(wrappedKeyVersion('vault:v1:abc='), 1);
    assert.equal(wrappedKeyVersion('vault:v42:abc='), 42);
    assert.equal(wrappedKeyVersion('garbage'), undefined);
    assert.equal(wrappedKeyVersion('vault:vx:abc'), undefined);
  });
});

describe('vaultCallLabel', () => {
  it('labels calls by kind, never by key name or token', () => {
    assert.equal(vaultCallLabel('transit/encrypt/my-key'), 'encrypt');
    assert.equal(vaultCallLabel('transit/decrypt/my-key'), 'decrypt');
    assert.equal(vaultCallLabel('auth/kubernetes/login'), 'login');
    assert.equal(vaultCallLabel('auth/token/renew-self'), 'renew');
    assert.equal(vaultCallLabel('auth/token/lookup-self'), 'lookup');
    assert.equal(vaultCallLabel('sys/health'), 'other');
  });
});

describe('key pool and cache settings', () => {
  const minimal = {
    CLOUDTASER_S3PROXY_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
    CLOUDTASER_S3PROXY_S3_REGION: 'eu-west-1',
    VAULT_ADDR: 'https://vault.eu.example.com:8200',
    CLOUDTASER_S3PROXY_TRANSIT_KEY: 'myapp-s3',
    VAULT_AUTH_ROLE: 'myapp',
  };

  it('default to a pool of 128 keys and a cache of 10,000 keys for 5 minutes', () => {
    const result = loadConfig(minimal);
    assert.ok(result.ok);
    assert.deepEqual(result.config.keys, {
      poolSize: 128,
      cache: { enabled: true, maxEntries: 10_000, ttlMs: 300_000 },
    });
  });

  it('turn off: a pool of 0 and a disabled cache', () => {
    const result = loadConfig({
      ...minimal,
      CLOUDTASER_S3PROXY_KEY_POOL_SIZE: '0',
      CLOUDTASER_S3PROXY_KEY_CACHE_ENABLED: 'false',
      CLOUDTASER_S3PROXY_KEY_CACHE_TTL: '30s',
    });
    assert.ok(result.ok);
    assert.equal(result.config.keys.poolSize, 0);
    assert.equal(result.config.keys.cache.enabled, false);
    assert.equal(result.config.keys.cache.ttlMs, 30_000);
  });
});
