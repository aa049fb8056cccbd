import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ciphertextSize } from '../../src/envelope/size.ts';
import {
  bodyBytes,
  createBucket,
  errorCodeOf,
  MiB,
  patternBytes,
  uniqueBucket,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

const SIZES = [0, 1, 65535, 65536, 65537, MiB + 3, 20 * MiB];

describe('objects round-trip through the proxy and are stored as ciphertext', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('roundtrip');

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
  });
  after(async () => {
    await proxy?.stop();
  });

  for (const size of SIZES) {
    it(`a ${size}-byte object sent as a buffer reads back byte for byte, and upstream holds exactly ciphertextSize(${size}) bytes of ciphertext`, async () => {
      const plaintext = patternBytes(size, size + 7);
      const key = `buffer/${size}.bin`;
      const put = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: plaintext }));

      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const read = await bodyBytes(got.Body);
      assert.equal(read.length, size);
      assert.ok(read.equals(plaintext), 'plaintext differs');
      assert.equal(got.ContentLength, size);
      assert.equal(got.ETag, put.ETag, 'GET ETag equals PUT ETag');

      const stored = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const ciphertext = await bodyBytes(stored.Body);
      assert.equal(ciphertext.length, ciphertextSize(size));
      assert.equal(stored.Metadata?.['cloudtaser-format'], 'v1');
      assert.match(stored.Metadata?.['cloudtaser-dek'] ?? '', /^vault:v\d+:/);
      assert.equal(stored.Metadata?.['cloudtaser-size'], String(size));
      assert.equal(Buffer.from(stored.Metadata?.['cloudtaser-nonce'] ?? '', 'base64').length, 12);
      if (size >= 32) {
        assert.equal(
          ciphertext.indexOf(plaintext.subarray(0, 32)),
          -1,
          'plaintext bytes appear in what is stored',
        );
        assert.ok(!ciphertext.subarray(0, size).equals(plaintext));
      }
    });
  }

  for (const size of [0, 65537, 3 * MiB + 5]) {
    it(`a ${size}-byte object sent as a stream (aws-chunked with a CRC32 trailer, the SDK default) reads back exactly`, async () => {
      const plaintext = patternBytes(size, 99);
      const key = `stream/${size}.bin`;
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: Readable.from([plaintext]),
          ContentLength: size,
        }),
      );
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      assert.ok((await bodyBytes(got.Body)).equals(plaintext));
    });
  }

  it('HEAD reports the plaintext size and the same ETag as PUT, with the envelope visible', async () => {
    const plaintext = patternBytes(200_000, 3);
    const put = await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'head.bin', Body: plaintext, ContentType: 'text/x-test' }),
    );
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'head.bin' }));
    assert.equal(head.ContentLength, 200_000);
    assert.equal(head.ETag, put.ETag);
    assert.equal(head.ContentType, 'text/x-test');
    assert.equal(head.Metadata?.['cloudtaser-format'], 'v1');
    assert.ok(
      put.ETag !== undefined && !/^"[0-9a-f]{32}"$/.test(put.ETag),
      `ETag ${put.ETag} must not look like an MD5 of the content`,
    );
    assert.equal(head.ChecksumCRC32, undefined, 'no ciphertext checksum is shown');
  });

  it('ListObjectsV2, ListObjects and ListObjectVersions report plaintext sizes and the ETags HEAD reports', async () => {
    const prefix = 'listing/';
    const sizes = [0, 1, 65536, 100_000];
    const etags = new Map<string, string | undefined>();
    for (const size of sizes) {
      const put = await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${size}`, Body: patternBytes(size) }),
      );
      etags.set(`${prefix}${size}`, put.ETag);
    }
    const v2 = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const v1 = await client.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix }));
    const versions = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }));
    for (const listing of [v2.Contents, v1.Contents, versions.Versions]) {
      const seen = new Map((listing ?? []).map((entry) => [entry.Key, entry]));
      for (const size of sizes) {
        const entry = seen.get(`${prefix}${size}`);
        assert.ok(entry, `listing has ${prefix}${size}`);
        assert.equal(entry.Size, size);
        assert.equal(entry.ETag, etags.get(`${prefix}${size}`));
      }
    }
  });

  it('keys with unusual characters round-trip exactly, encoded once and never normalised', async () => {
    const keys = [
      'a//b',
      'a+b',
      'with space',
      'ünïcödé/日本',
      'percent%25sign',
      '100%',
      'q?x=1&y',
      `long/${'k'.repeat(250)}`,
    ];
    for (const [index, key] of keys.entries()) {
      const plaintext = patternBytes(100 + index, index);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: plaintext }));
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      assert.ok((await bodyBytes(got.Body)).equals(plaintext), `key ${key}`);
      const stored = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(
        stored.ContentLength,
        ciphertextSize(100 + index),
        `key ${key} stored under the same name`,
      );
    }
  });

  it('dot-segment keys reach the upstream as they are: SeaweedFS refuses them directly and through the proxy alike', async () => {
    for (const key of ['./x', '../y', 'a/./b']) {
      const viaDirect = await direct
        .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))
        .then(() => 'stored', errorCodeOf);
      const viaProxy = await client
        .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))
        .then(() => 'stored', errorCodeOf);
      assert.equal(viaProxy, viaDirect, `key ${key}`);
    }
  });

  it('virtual-hosted-style requests (the SDK default) work like path-style ones', async () => {
    const virtual = proxyS3Client(proxy, { virtualHost: true });
    const plaintext = patternBytes(70_000, 5);
    await virtual.send(new PutObjectCommand({ Bucket: bucket, Key: 'virtual/one', Body: plaintext }));
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'virtual/one' }));
    assert.ok((await bodyBytes(got.Body)).equals(plaintext));
    const again = await virtual.send(new GetObjectCommand({ Bucket: bucket, Key: 'virtual/one' }));
    assert.ok((await bodyBytes(again.Body)).equals(plaintext));
  });
});
