import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { parseTransitKeyMapping, TransitKeyMap, transitKeyRef } from '../../../src/config/transit-keys.ts';

const DEFAULT = { mount: 'transit', key: 'cloudtaser' };

function mapOf(raw: string): TransitKeyMap {
  const parsed = parseTransitKeyMapping(raw);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.expected);
  return new TransitKeyMap(DEFAULT, parsed.value);
}

describe('parseTransitKeyMapping', () => {
  it('reads buckets, prefixes, mounts and former keys', () => {
    const parsed = parseTransitKeyMapping('bucket-a=myapp-a, bucket-b/exports/=transit2:exports|old ');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, [
      { bucket: 'bucket-a', prefix: '', keys: [{ mount: undefined, key: 'myapp-a' }] },
      {
        bucket: 'bucket-b',
        prefix: 'exports/',
        keys: [
          { mount: 'transit2', key: 'exports' },
          { mount: undefined, key: 'old' },
        ],
      },
    ]);
  });

  it('accepts mounts with several segments', () => {
    const parsed = parseTransitKeyMapping('bucket-a=team-a/transit:key-a');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value[0]?.keys, [{ mount: 'team-a/transit', key: 'key-a' }]);
  });

  it('names every problem at once, each with its entry', () => {
    const parsed = parseTransitKeyMapping(
      'bucket-a=k1,bucket-a=k2,Bad_Bucket=k,bucket-c=,bucket-d=/:k,bucket-e,,bucket-f=a b',
    );
    assert.ok(!parsed.ok);
    const text = parsed.expected;
    assert.match(text, /entry 2 \("bucket-a=k2"\) maps the same location as entry 1/);
    assert.match(text, /entry 3 .*"Bad_Bucket" is not a bucket name/);
    assert.match(text, /entry 4 .*a key name is empty/);
    assert.match(text, /entry 5 .*mount "" is not a mount path/);
    assert.match(text, /entry 6 .*has no "="/);
    assert.match(text, /entry 7 .* is empty/);
    assert.match(text, /entry 8 .*key "a b" must not contain/);
  });

  it('treats "bucket/" as the whole bucket, so it duplicates "bucket"', () => {
    const parsed = parseTransitKeyMapping('bucket-a=k1,bucket-a/=k2');
    assert.ok(!parsed.ok);
    assert.match(parsed.expected, /maps the same location as entry 1/);
  });
});

describe('TransitKeyMap', () => {
  const map = mapOf(
    'bucket-a=key-a,bucket-b=key-b,bucket-b/exports/=transit2:exports|key-b,bucket-b/exports/x/=key-x',
  );

  it('gives new objects the key of the longest matching prefix, and the default to everything unmapped', () => {
    assert.deepEqual(map.writeKey('bucket-a', 'any/thing'), { mount: 'transit', key: 'key-a' });
    assert.deepEqual(map.writeKey('bucket-b', 'report.csv'), { mount: 'transit', key: 'key-b' });
    assert.deepEqual(map.writeKey('bucket-b', 'exports/2026.csv'), { mount: 'transit2', key: 'exports' });
    assert.deepEqual(map.writeKey('bucket-b', 'exports/x/1'), { mount: 'transit', key: 'key-x' });
    assert.deepEqual(map.writeKey('bucket-b', 'exportsx'), { mount: 'transit', key: 'key-b' });
    assert.deepEqual(map.writeKey('bucket-c', 'a'), DEFAULT);
  });

  it('lists every configured key once, the default first', () => {
    assert.deepEqual(map.keys.map(transitKeyRef), [
      'transit/cloudtaser',
      'transit/key-a',
      'transit/key-b',
      'transit2/exports',
      'transit/key-x',
    ]);
  });

  it('reads an object with the key it records when its location accepts that key', () => {
    const decision = map.readKey('bucket-a', 'o', 'transit/key-a');
    assert.deepEqual(decision, { ok: true, key: { mount: 'transit', key: 'key-a' } });
    // A former key listed after "|" is still read at that location.
    assert.ok(map.readKey('bucket-b', 'exports/old.csv', 'transit/key-b').ok);
  });

  it("refuses another tenant's key: an object moved from bucket-b into bucket-a is not unwrapped", () => {
    const decision = map.readKey('bucket-a', 'moved', 'transit/key-b');
    assert.ok(!decision.ok);
    assert.equal(decision.reason, 'elsewhere');
    assert.match(
      decision.message,
      /transit\/key-b.*does not accept for bucket-a\/ \(it accepts transit\/key-a\)/,
    );
  });

  it('refuses a tenant key in an unmapped bucket, and the default key in a mapped one', () => {
    assert.equal((map.readKey('bucket-c', 'o', 'transit/key-a') as { reason: string }).reason, 'elsewhere');
    assert.equal((map.readKey('bucket-a', 'o', undefined) as { reason: string }).reason, 'elsewhere');
    assert.ok(map.readKey('bucket-c', 'o', undefined).ok, 'no recorded key: the default key');
    assert.ok(map.readKey('bucket-c', 'o', 'transit/cloudtaser').ok);
  });

  it('refuses a key the proxy is not configured with, saying so', () => {
    const decision = map.readKey('bucket-a', 'o', 'transit/elsewhere');
    assert.ok(!decision.ok);
    assert.equal(decision.reason, 'unknown');
    assert.match(
      decision.message,
      /records Transit key transit\/elsewhere, which this proxy is not configured with/,
    );
  });

  it('binds a prefix strictly: the bucket key is not read under a prefix that does not list it', () => {
    assert.equal(
      (map.readKey('bucket-b', 'exports/x/1', 'transit/key-b') as { reason: string }).reason,
      'elsewhere',
    );
  });

  it('without a mapping, accepts only the default key everywhere', () => {
    const plain = new TransitKeyMap(DEFAULT);
    assert.equal(plain.mapped, false);
    assert.ok(plain.readKey('any', 'o', undefined).ok);
    assert.ok(!plain.readKey('any', 'o', 'transit/other').ok);
  });
});

describe('CLOUDTASER_S3PROXY_TRANSIT_KEYS in the configuration', () => {
  const base = {
    CLOUDTASER_S3PROXY_S3_ENDPOINT: 'http://127.0.0.1:8333',
    CLOUDTASER_S3PROXY_S3_REGION: 'eu-west-1',
    VAULT_ADDR: 'http://127.0.0.1:8200',
    VAULT_AUTH_METHOD: 'token',
    VAULT_TOKEN: 't',
    CLOUDTASER_S3PROXY_TRANSIT_KEY: 'cloudtaser',
  };

  it('is parsed into the entries, empty when unset', () => {
    const unset = loadConfig(base);
    assert.ok(unset.ok);
    assert.deepEqual(unset.config.transitKeys, []);
    const set = loadConfig({ ...base, CLOUDTASER_S3PROXY_TRANSIT_KEYS: 'bucket-a=key-a' });
    assert.ok(set.ok);
    assert.equal(set.config.transitKeys[0]?.bucket, 'bucket-a');
  });

  it('fails start-up naming the variable and every bad entry', () => {
    const result = loadConfig({ ...base, CLOUDTASER_S3PROXY_TRANSIT_KEYS: 'bucket-a=k,bucket-a=j,x=k' });
    assert.ok(!result.ok);
    const line = result.errors.find((error) => error.startsWith('CLOUDTASER_S3PROXY_TRANSIT_KEYS must be'));
    assert.ok(line, result.errors.join('\n'));
    assert.match(line, /entry 2 .*same location/);
    assert.match(line, /entry 3 .*"x" is not a bucket name/);
  });
});
