import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveUpstreamAddressing } from '../../../src/config/addressing.ts';
import {
  formatListenAddress,
  parseBoolean,
  parseDomainList,
  parseDuration,
  parseListenAddress,
  parseS3Endpoint,
  parseVaultAddress,
  parseVaultMountPath,
  parseVaultName,
} from '../../../src/config/parse.ts';

function value<T>(parsed: { ok: true; value: T } | { ok: false; expected: string }): T {
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.expected);
  return parsed.value;
}

describe('parseListenAddress', () => {
  it('reads :port as all interfaces, left to Node to bind :: or fall back to 0.0.0.0', () => {
    assert.deepEqual(value(parseListenAddress(':8190')), { host: undefined, port: 8190 });
  });

  it('reads IPv4, bracketed IPv6 and host names', () => {
    assert.deepEqual(value(parseListenAddress('127.0.0.1:8190')), { host: '127.0.0.1', port: 8190 });
    assert.deepEqual(value(parseListenAddress('0.0.0.0:8190')), { host: '0.0.0.0', port: 8190 });
    assert.deepEqual(value(parseListenAddress('[::1]:8190')), { host: '::1', port: 8190 });
    assert.deepEqual(value(parseListenAddress('[::]:8190')), { host: '::', port: 8190 });
    assert.deepEqual(value(parseListenAddress('localhost:8190')), { host: 'localhost', port: 8190 });
    assert.deepEqual(value(parseListenAddress('proxy.svc.cluster.local:1')), {
      host: 'proxy.svc.cluster.local',
      port: 1,
    });
  });

  it('accepts ports 0 to 65535 and nothing else', () => {
    assert.equal(value(parseListenAddress('127.0.0.1:0')).port, 0);
    assert.equal(value(parseListenAddress(':65535')).port, 65535);
    for (const bad of [':65536', ':-1', ':', ':80a', ':1e3', ': 80', ':999999']) {
      assert.equal(parseListenAddress(bad).ok, false, bad);
    }
  });

  it('refuses addresses without a port, unbracketed IPv6 and odd hosts', () => {
    for (const bad of [
      '8190',
      '127.0.0.1',
      '::1:8190',
      '[::1]8190',
      '[::1',
      '[nope]:80',
      'under_score:80',
      'a b:80',
      'http://x:80',
    ]) {
      assert.equal(parseListenAddress(bad).ok, false, bad);
    }
  });

  it('formats addresses back as they are written', () => {
    for (const text of [':8190', '127.0.0.1:8190', '[::1]:8190', 'localhost:0']) {
      assert.equal(formatListenAddress(value(parseListenAddress(text))), text);
    }
  });
});

describe('parseS3Endpoint', () => {
  it('splits an endpoint into the parts a client connects and signs with', () => {
    assert.deepEqual(value(parseS3Endpoint('https://s3.eu-west-1.amazonaws.com')), {
      protocol: 'https:',
      host: 's3.eu-west-1.amazonaws.com',
      port: 443,
      basePath: '',
      hostHeader: 's3.eu-west-1.amazonaws.com',
      origin: 'https://s3.eu-west-1.amazonaws.com',
    });
    assert.deepEqual(value(parseS3Endpoint('http://127.0.0.1:8333/')), {
      protocol: 'http:',
      host: '127.0.0.1',
      port: 8333,
      basePath: '',
      hostHeader: '127.0.0.1:8333',
      origin: 'http://127.0.0.1:8333',
    });
    assert.equal(value(parseS3Endpoint('https://minio.local:443')).hostHeader, 'minio.local');
  });

  it('refuses other schemes, paths, queries, fragments and credentials', () => {
    for (const bad of [
      's3.amazonaws.com',
      'ftp://s3.example.com',
      'https://s3.example.com/bucket',
      'https://s3.example.com/?x=1',
      'https://s3.example.com?',
      'https://s3.example.com#f',
      'https://user:pass@s3.example.com',
      'https://',
    ]) {
      assert.equal(parseS3Endpoint(bad).ok, false, bad);
    }
  });
});

describe('parseVaultAddress', () => {
  it('keeps scheme, host, port and any path prefix, without a trailing slash', () => {
    assert.equal(
      value(parseVaultAddress('https://vault.example.com:8200/')),
      'https://vault.example.com:8200',
    );
    assert.equal(value(parseVaultAddress('http://127.0.0.1:8200')), 'http://127.0.0.1:8200');
    assert.equal(value(parseVaultAddress('https://gw.example.com/vault/')), 'https://gw.example.com/vault');
  });

  it('refuses what is not an http(s) URL', () => {
    for (const bad of ['vault:8200', 'unix:///run/vault.sock', 'https://v?x', 'https://a:b@v']) {
      assert.equal(parseVaultAddress(bad).ok, false, bad);
    }
  });
});

describe('parseDuration', () => {
  const positive = parseDuration({ allowZero: false });

  it('reads whole seconds and Go durations as milliseconds', () => {
    const cases: [string, number][] = [
      ['30', 30_000],
      ['30s', 30_000],
      ['1m30s', 90_000],
      ['500ms', 500],
      ['1.5h', 5_400_000],
      ['2h45m', 9_900_000],
      ['1500us', 2],
      ['1ns', 1],
    ];
    for (const [text, ms] of cases) assert.equal(value(positive(text)), ms, text);
  });

  it('refuses zero unless allowed, and anything that is not a duration', () => {
    assert.equal(positive('0').ok, false);
    assert.equal(positive('0s').ok, false);
    assert.equal(value(parseDuration({ allowZero: true })('0s')), 0);
    for (const bad of ['', 's', '-5s', '5 s', '5sec', '1d', '1m 30s', '30s5', '.s']) {
      assert.equal(positive(bad).ok, false, bad);
    }
  });
});

describe('parseBoolean', () => {
  it("reads Go's strconv.ParseBool spellings in any case", () => {
    for (const yes of ['1', 't', 'T', 'true', 'TRUE', 'True']) {
      assert.equal(value(parseBoolean(yes)), true, yes);
    }
    for (const no of ['0', 'f', 'F', 'false', 'FALSE', 'False']) {
      assert.equal(value(parseBoolean(no)), false, no);
    }
    for (const bad of ['yes', 'no', 'on', '2']) assert.equal(parseBoolean(bad).ok, false, bad);
  });
});

describe('Vault names and mount paths', () => {
  it('keeps a key name a single path segment', () => {
    assert.equal(value(parseVaultName('myapp-s3')), 'myapp-s3');
    for (const bad of ['a/b', '..', '.', 'a b', 'a?b', 'a%2Fb']) {
      assert.equal(parseVaultName(bad).ok, false, bad);
    }
  });

  it('accepts nested mount paths and drops surrounding slashes', () => {
    assert.equal(value(parseVaultMountPath('/team-a/transit/')), 'team-a/transit');
    for (const bad of ['a//b', '../transit', 'a/./b', '/']) {
      assert.equal(parseVaultMountPath(bad).ok, false, bad);
    }
  });
});

describe('parseDomainList', () => {
  it('lower-cases, trims, drops leading dots, empties and duplicates', () => {
    assert.deepEqual(value(parseDomainList(' Localhost, .s3.local,,localhost ')), ['localhost', 's3.local']);
  });

  it('refuses anything that is not a domain', () => {
    for (const bad of [',', 'bad_domain', 'a b', 'http://x']) {
      assert.equal(parseDomainList(bad).ok, false, bad);
    }
  });
});

describe('resolveUpstreamAddressing', () => {
  it('uses virtual-hosted style on AWS for DNS-compatible buckets without dots', () => {
    assert.equal(resolveUpstreamAddressing('auto', 's3.eu-west-1.amazonaws.com', 'my-bucket'), 'virtual');
    assert.equal(resolveUpstreamAddressing('auto', 'S3.AMAZONAWS.COM', 'abc'), 'virtual');
  });

  it('uses path style on AWS for bucket names a wildcard certificate cannot cover', () => {
    for (const bucket of ['my.bucket', 'My_Bucket', 'UPPER', 'ab']) {
      assert.equal(resolveUpstreamAddressing('auto', 's3.amazonaws.com', bucket), 'path', bucket);
    }
  });

  it('uses path style for other endpoints, and what was asked for otherwise', () => {
    assert.equal(resolveUpstreamAddressing('auto', '127.0.0.1', 'b-1'), 'path');
    assert.equal(resolveUpstreamAddressing('auto', 'amazonaws.com.evil.example', 'b-1'), 'path');
    assert.equal(resolveUpstreamAddressing('path', 's3.amazonaws.com', 'b-1'), 'path');
    assert.equal(resolveUpstreamAddressing('virtual', 'minio.local', 'my.bucket'), 'virtual');
  });
});
