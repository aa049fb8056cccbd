import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runProxyCli } from '../support/proxy-process.ts';

const REQUIRED = [
  'CLOUDTASER_S3PROXY_S3_ENDPOINT',
  'CLOUDTASER_S3PROXY_S3_REGION',
  'VAULT_ADDR',
  'CLOUDTASER_S3PROXY_TRANSIT_KEY',
];

describe('start-up validation', () => {
  it('without configuration the proxy exits non-zero before listening and names every missing variable', async () => {
    const result = await runProxyCli(['serve'], {});
    assert.notEqual(result.code, 0);
    for (const name of REQUIRED) assert.match(result.stderr, new RegExp(name), `stderr names ${name}`);
    assert.doesNotMatch(result.stdout, /listening/);
  });

  it('token auth without VAULT_TOKEN, a bad size and a bad URL are all reported at once', async () => {
    const result = await runProxyCli(['serve'], {
      CLOUDTASER_S3PROXY_S3_ENDPOINT: 'not a url',
      CLOUDTASER_S3PROXY_S3_REGION: 'eu-west-1',
      VAULT_ADDR: 'http://127.0.0.1:8200',
      CLOUDTASER_S3PROXY_TRANSIT_KEY: 'k',
      VAULT_AUTH_METHOD: 'token',
      CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: '-5',
    });
    assert.notEqual(result.code, 0);
    for (const name of [
      'CLOUDTASER_S3PROXY_S3_ENDPOINT',
      'VAULT_TOKEN',
      'CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE',
    ]) {
      assert.match(result.stderr, new RegExp(name));
    }
  });

  it('kubernetes auth (the default) needs VAULT_AUTH_ROLE', async () => {
    const result = await runProxyCli(['check-config'], {
      CLOUDTASER_S3PROXY_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
      CLOUDTASER_S3PROXY_S3_REGION: 'eu-west-1',
      VAULT_ADDR: 'https://vault.example.com:8200',
      CLOUDTASER_S3PROXY_TRANSIT_KEY: 'myapp-s3',
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /VAULT_AUTH_ROLE/);
  });

  it('a valid configuration passes check-config and --help lists every variable', async () => {
    const valid = await runProxyCli(['check-config'], {
      CLOUDTASER_S3PROXY_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
      CLOUDTASER_S3PROXY_S3_REGION: 'eu-west-1',
      VAULT_ADDR: 'https://vault.example.com:8200',
      CLOUDTASER_S3PROXY_TRANSIT_KEY: 'myapp-s3',
      VAULT_AUTH_ROLE: 'myapp',
    });
    assert.equal(valid.code, 0, valid.stderr);
    const help = await runProxyCli(['--help'], {});
    assert.equal(help.code, 0);
    for (const name of [
      ...REQUIRED,
      'CLOUDTASER_S3PROXY_LISTEN_ADDR',
      'VAULT_AUTH_METHOD',
      'VAULT_SKIP_VERIFY',
      'CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE',
    ]) {
      assert.match(help.stdout, new RegExp(name));
    }
  });
});
