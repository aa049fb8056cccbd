import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SEALED_SEGMENT_SIZE } from '../../src/envelope/constants.ts';
import { bodyBytes, createBucket, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, useServices } from '../support/services.ts';

type Stored = { ciphertext: Buffer; metadata: Record<string, string> };

/**
 * The storage provider is the attacker: it rewrites what it stores. Every change must make the GET
 * fail (an S3 error before the body, or a body cut short); it must never deliver bytes that differ from
 * what was written.
 */
describe('tampered or incomplete ciphertext is never returned as plaintext', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('tamper');
  const size = 3 * 65536 + 1000;
  const plaintext = patternBytes(size, 42);
  let original: Stored;
  let other: Stored;

  const readStored = async (key: string): Promise<Stored> => {
    const got = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { ciphertext: await bodyBytes(got.Body), metadata: got.Metadata ?? {} };
  };

  /** Stores `variant` directly upstream, GETs it through the proxy, and returns what reached the client. */
  const readThroughProxy = async (
    key: string,
    variant: Stored,
    range?: string,
  ): Promise<{ failed: boolean; delivered: Buffer }> => {
    await direct.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: variant.ciphertext,
        Metadata: variant.metadata,
      }),
    );
    const response = await fetch(`${proxy.endpoint}/${bucket}/${key}`, {
      headers: range === undefined ? {} : { range },
    }).catch(() => undefined);
    if (response === undefined) return { failed: true, delivered: Buffer.alloc(0) };
    if (response.status !== (range === undefined ? 200 : 206)) {
      await response.arrayBuffer().catch(() => undefined);
      return { failed: true, delivered: Buffer.alloc(0) };
    }
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
        chunks.push(Buffer.from(chunk));
    } catch {
      return { failed: true, delivered: Buffer.concat(chunks) };
    }
    return { failed: false, delivered: Buffer.concat(chunks) };
  };

  before(async () => {
    const services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'original', Body: plaintext }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'other', Body: patternBytes(size, 43) }));
    original = await readStored('original');
    other = await readStored('other');
  });
  after(async () => {
    await proxy?.stop();
  });

  const segment = (data: Buffer, index: number) =>
    data.subarray(index * SEALED_SEGMENT_SIZE, (index + 1) * SEALED_SEGMENT_SIZE);
  const flip = (data: Buffer, offset: number) => {
    const copy = Buffer.from(data);
    copy[offset] = (copy[offset] ?? 0) ^ 0x01;
    return copy;
  };
  const withMetadata = (changes: Record<string, string | undefined>): Record<string, string> => {
    const metadata = { ...original.metadata };
    for (const [name, value] of Object.entries(changes)) {
      if (value === undefined) delete metadata[name];
      else metadata[name] = value;
    }
    return metadata;
  };

  const variants: Array<[string, () => Stored]> = [
    [
      'a flipped byte in the first segment',
      () => ({ ...original, ciphertext: flip(original.ciphertext, 10) }),
    ],
    [
      'a flipped byte in the last segment',
      () => ({ ...original, ciphertext: flip(original.ciphertext, original.ciphertext.length - 100) }),
    ],
    [
      'a flipped byte in a tag',
      () => ({ ...original, ciphertext: flip(original.ciphertext, SEALED_SEGMENT_SIZE - 1) }),
    ],
    [
      'the last segment cut off (size metadata adjusted to match)',
      () => ({
        ciphertext: original.ciphertext.subarray(0, 3 * SEALED_SEGMENT_SIZE),
        metadata: withMetadata({ 'cloudtaser-size': String(3 * 65536) }),
      }),
    ],
    [
      'a truncated body with the original metadata',
      () => ({ ...original, ciphertext: original.ciphertext.subarray(0, original.ciphertext.length - 7) }),
    ],
    [
      'two segments swapped',
      () => ({
        ...original,
        ciphertext: Buffer.concat([
          segment(original.ciphertext, 1),
          segment(original.ciphertext, 0),
          original.ciphertext.subarray(2 * SEALED_SEGMENT_SIZE),
        ]),
      }),
    ],
    [
      'a segment repeated in place of the next',
      () => ({
        ...original,
        ciphertext: Buffer.concat([
          segment(original.ciphertext, 0),
          segment(original.ciphertext, 0),
          original.ciphertext.subarray(2 * SEALED_SEGMENT_SIZE),
        ]),
      }),
    ],
    [
      'an extra segment appended (size metadata adjusted)',
      () => ({
        ciphertext: Buffer.concat([
          original.ciphertext.subarray(0, 3 * SEALED_SEGMENT_SIZE),
          segment(original.ciphertext, 1),
          original.ciphertext.subarray(3 * SEALED_SEGMENT_SIZE),
        ]),
        metadata: withMetadata({ 'cloudtaser-size': String(size + 65536) }),
      }),
    ],
    [
      'a segment spliced in from another object',
      () => ({
        ...original,
        ciphertext: Buffer.concat([
          segment(other.ciphertext, 0),
          original.ciphertext.subarray(SEALED_SEGMENT_SIZE),
        ]),
      }),
    ],
    [
      'the wrapped data key missing',
      () => ({ ...original, metadata: withMetadata({ 'cloudtaser-dek': undefined }) }),
    ],
    ['the nonce missing', () => ({ ...original, metadata: withMetadata({ 'cloudtaser-nonce': undefined }) })],
    ['the size missing', () => ({ ...original, metadata: withMetadata({ 'cloudtaser-size': undefined }) })],
    [
      'the nonce altered',
      () => ({
        ...original,
        metadata: withMetadata({
          'cloudtaser-nonce': flip(
            Buffer.from(original.metadata['cloudtaser-nonce'] ?? '', 'base64'),
            0,
          ).toString('base64'),
        }),
      }),
    ],
    [
      'the size altered by one byte',
      () => ({ ...original, metadata: withMetadata({ 'cloudtaser-size': String(size - 1) }) }),
    ],
    [
      "another object's wrapped data key",
      () => ({ ...original, metadata: withMetadata({ 'cloudtaser-dek': other.metadata['cloudtaser-dek'] }) }),
    ],
    [
      'a garbage wrapped data key',
      () => ({
        ...original,
        metadata: withMetadata({
          'cloudtaser-dek':
            'vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        }),
      }),
    ],
    [
      'an unknown format identifier',
      () => ({ ...original, metadata: withMetadata({ 'cloudtaser-format': 'v9' }) }),
    ],
  ];

  for (const [name, make] of variants) {
    it(`${name}: the GET fails and delivers no wrong byte`, async () => {
      const key = `variant-${name.replace(/[^a-z]+/gi, '-')}`;
      const { failed, delivered } = await readThroughProxy(key, make());
      assert.ok(failed, 'the read must fail');
      assert.ok(
        delivered.equals(plaintext.subarray(0, delivered.length)),
        'whatever arrived is a prefix of the real plaintext',
      );
    });
  }

  // A range read authenticates only the segments it opens, so these are the tamperings that reach the
  // end of the object, which every suffix or open-ended range opens; its single planned GET must see them.
  const reachingTheEnd = new Set([
    'a flipped byte in the last segment',
    'the last segment cut off (size metadata adjusted to match)',
    'a truncated body with the original metadata',
    'an extra segment appended (size metadata adjusted)',
    'the size altered by one byte',
  ]);
  for (const [range, start] of [
    ['bytes=-100', size - 100],
    [`bytes=${3 * 65536 + 10}-`, 3 * 65536 + 10],
    ['bytes=-70000', size - 70000],
  ] as const) {
    for (const [name, make] of variants.filter(([name]) => reachingTheEnd.has(name))) {
      it(`${name}: a GET of range ${range} fails and delivers no wrong byte`, async () => {
        const key = `ranged-${range.replace(/[^0-9]+/g, '-')}-${name.replace(/[^a-z]+/gi, '-')}`;
        const { failed, delivered } = await readThroughProxy(key, make(), range);
        assert.ok(failed, 'the read must fail');
        assert.ok(
          delivered.length < size - start &&
            delivered.equals(plaintext.subarray(start, start + delivered.length)),
          'whatever arrived is a short prefix of the range',
        );
      });
    }
  }

  it('the untouched object still reads back (the checks above are not failing for another reason)', async () => {
    const { failed, delivered } = await readThroughProxy('untouched-copy', original);
    assert.equal(failed, false);
    assert.ok(delivered.equals(plaintext));
  });

  it('a flipped byte makes a ranged GET of that segment fail too', async () => {
    await direct.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'ranged-flip',
        Body: flip(original.ciphertext, SEALED_SEGMENT_SIZE + 5),
        Metadata: original.metadata,
      }),
    );
    const response = await fetch(`${proxy.endpoint}/${bucket}/ranged-flip`, {
      headers: { range: 'bytes=65536-65600' },
    });
    assert.notEqual(response.status, 206);
    await response.arrayBuffer();
    const fine = await fetch(`${proxy.endpoint}/${bucket}/ranged-flip`, { headers: { range: 'bytes=0-99' } });
    assert.equal(fine.status, 206, 'an untouched segment of the same object still reads');
    assert.ok(Buffer.from(await fine.arrayBuffer()).equals(plaintext.subarray(0, 100)));
  });
});
