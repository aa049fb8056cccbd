import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SEALED_SEGMENT_SIZE } from '../../src/envelope/constants.ts';
import { type CountingRelay, type Forgery, startCountingRelay } from '../support/counting-relay.ts';
import { bodyBytes, createBucket, patternBytes, uniqueBucket, uploadParts } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, useServices } from '../support/services.ts';

const SIZE = 1_000_003;

/**
 * How many requests the proxy sends upstream for one client request, seen by a relay between the proxy
 * and SeaweedFS. The stored layout of a single-part object is a function of its plaintext size alone, so
 * a range read can ask for the right stored bytes before it knows the size, and the one answer's
 * metadata and Content-Range then confirm them.
 */
describe('upstream requests per client read', () => {
  let proxy: ProxyProcess;
  let relay: CountingRelay;
  let client: S3Client;
  const bucket = uniqueBucket('upstream-requests');
  const plaintext = patternBytes(SIZE, 7);
  let stored: Buffer;

  before(async () => {
    const services = await useServices();
    relay = await startCountingRelay(services.s3.endpoint);
    proxy = await startProxy(services, { env: { CLOUDTASER_S3PROXY_S3_ENDPOINT: relay.endpoint } });
    client = proxyS3Client(proxy);
    await createBucket(client, bucket);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: plaintext }));
    await uploadParts(client, bucket, 'multipart', [patternBytes(5 * 1024 * 1024, 1), patternBytes(1000, 2)]);
    const direct = createS3Client(services);
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'unencrypted', Body: plaintext }));
    stored = await bodyBytes(
      (await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'single' }))).Body,
    );
  });
  after(async () => {
    await proxy?.stop();
    await relay?.close();
  });
  afterEach(() => relay.forge(undefined));

  /** The upstream requests one GET made, as "METHOD range", and the body the client received. */
  async function upstreamOf(key: string, range: string): Promise<{ seen: string[]; body: Buffer }> {
    relay.reset();
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
    const body = await bodyBytes(got.Body);
    return { seen: relay.seen().map((r) => `${r.method} ${r.range ?? '-'}`), body };
  }

  for (const [range, start, end] of [
    ['bytes=70000-70099', 70000, 70099],
    ['bytes=0-0', 0, 0],
    ['bytes=900000-', 900000, SIZE - 1],
    ['bytes=999990-5000000', 999990, SIZE - 1],
  ] as const) {
    it(`a range GET ${range} of a single-part object makes exactly one upstream GET`, async () => {
      const { seen, body } = await upstreamOf('single', range);
      assert.equal(seen.length, 1, `upstream requests: ${seen.join(', ')}`);
      assert.match(seen[0] as string, /^GET bytes=\d+-\d*$/);
      assert.deepEqual(body, plaintext.subarray(start, end + 1));
    });
  }

  it('a suffix range GET of a single-part object makes exactly one upstream GET', async () => {
    const { seen, body } = await upstreamOf('single', 'bytes=-100000');
    assert.equal(seen.length, 1, `upstream requests: ${seen.join(', ')}`);
    assert.deepEqual(body, plaintext.subarray(SIZE - 100000));
  });

  it('a range GET of a multipart object reads at authenticated offsets; once its layout is known, after a HEAD', async () => {
    const whole = Buffer.concat([patternBytes(5 * 1024 * 1024, 1), patternBytes(1000, 2)]);
    const first = await upstreamOf('multipart', 'bytes=5242000-5243999');
    assert.deepEqual(first.body, whole.subarray(5242000, 5244000));
    // Once its part headers are authenticated (cached per stored version), a range costs a HEAD and a GET.
    const again = await upstreamOf('multipart', 'bytes=100-199');
    assert.deepEqual(again.body, whole.subarray(100, 200));
    assert.deepEqual(
      again.seen.map((seen) => seen.split(' ')[0]),
      ['HEAD', 'GET'],
      `upstream requests: ${again.seen.join(', ')}`,
    );
    assert.ok(first.seen.length > 2, `upstream requests: ${first.seen.join(', ')}`);
  });

  it('a range GET past the end answers 416 with the plaintext size, after a HEAD', async () => {
    relay.reset();
    const error = await client
      .send(new GetObjectCommand({ Bucket: bucket, Key: 'single', Range: `bytes=${SIZE + 100000}-` }))
      .then(
        () => undefined,
        (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => e,
      );
    assert.equal(error?.$metadata?.httpStatusCode, 416);
    assert.equal(error?.name, 'InvalidRange');
    assert.deepEqual(
      relay.seen().map((r) => r.method),
      ['GET', 'HEAD'],
    );
  });

  it('a range GET starting past the plaintext end but inside the stored bytes answers 416 from one upstream request', async () => {
    relay.reset();
    const response = await fetch(`${proxy.endpoint}/${bucket}/single`, {
      headers: { range: `bytes=${SIZE}-` },
    });
    await response.arrayBuffer();
    assert.equal(response.status, 416);
    assert.equal(response.headers.get('content-range'), `bytes */${SIZE}`);
    assert.equal(relay.seen().length, 1);
  });

  it('a suffix longer than the object answers the whole object as a 206 from one GET', async () => {
    const { seen, body } = await upstreamOf('single', `bytes=-${SIZE * 3}`);
    assert.equal(seen.length, 1, `upstream requests: ${seen.join(', ')}`);
    assert.deepEqual(body, plaintext);
  });

  it('a range GET of an object stored without encryption returns the bytes of the range', async () => {
    const { seen, body } = await upstreamOf('unencrypted', 'bytes=70000-70099');
    assert.ok(seen.length <= 2, `upstream requests: ${seen.join(', ')}`);
    assert.deepEqual(body, plaintext.subarray(70000, 70100));
  });

  /**
   * The one answer a range read gets is the provider's: its Content-Range and its bytes are checked
   * against the request the proxy planned, and the segments are authenticated at the offsets planned,
   * whatever the answer claims.
   */
  const contentRange = (headers: { 'content-range'?: string }) => {
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range'] ?? '');
    assert.ok(match, `a Content-Range: ${headers['content-range']}`);
    return { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) };
  };
  const onRangedGets =
    (change: Forgery): Forgery =>
    (asked, answer) =>
      asked.method === 'GET' && asked.range !== undefined ? change(asked, answer) : undefined;

  /** A read through a forging relay either fails before the status line or is visibly cut: never other bytes. */
  async function readsNothingWrong(range: string, start: number, end: number): Promise<string> {
    const response = await fetch(`${proxy.endpoint}/${bucket}/single`, { headers: { range } });
    const received = Buffer.from(await response.arrayBuffer().catch(() => new ArrayBuffer(0)));
    if (response.status === 206) {
      const expected = plaintext.subarray(start, end + 1);
      assert.ok(received.length < expected.length, 'the forged answer was served whole');
      assert.deepEqual(received, expected.subarray(0, received.length), 'bytes released at a wrong offset');
      return 'cut';
    }
    assert.equal(response.status, 500, received.toString());
    assert.match(received.toString(), /<Code>InvalidEncryptedObject<\/Code>/);
    return 'refused';
  }

  for (const [what, forgery] of [
    [
      'the right bytes under a Content-Range one segment later',
      onRangedGets((_asked, answer) => {
        const { start, end, total } = contentRange(answer.headers);
        const shifted = `bytes ${start + SEALED_SEGMENT_SIZE}-${end + SEALED_SEGMENT_SIZE}/${total}`;
        return { ...answer, headers: { ...answer.headers, 'content-range': shifted } };
      }),
    ],
    [
      "the next segment's bytes under the planned Content-Range",
      onRangedGets((_asked, answer) => {
        const { start, end } = contentRange(answer.headers);
        return {
          ...answer,
          body: stored.subarray(start + SEALED_SEGMENT_SIZE, end + SEALED_SEGMENT_SIZE + 1),
        };
      }),
    ],
    [
      'an answer ending 16 bytes short, its Content-Range to match',
      onRangedGets((_asked, answer) => {
        const { start, end, total } = contentRange(answer.headers);
        return {
          ...answer,
          headers: { ...answer.headers, 'content-range': `bytes ${start}-${end - 16}/${total}` },
          body: answer.body.subarray(0, answer.body.length - 16),
        };
      }),
    ],
    [
      'a Content-Range total that does not fit the envelope',
      onRangedGets((_asked, answer) => {
        const { start, end, total } = contentRange(answer.headers);
        return {
          ...answer,
          headers: { ...answer.headers, 'content-range': `bytes ${start}-${end}/${total + 1}` },
        };
      }),
    ],
  ] as const) {
    it(`a provider answering a range read with ${what} gets the read refused, no byte at a wrong offset`, async () => {
      relay.forge(forgery);
      assert.equal(await readsNothingWrong('bytes=70000-70099', 70000, 70099), 'refused');
      assert.equal(await readsNothingWrong('bytes=-100000', SIZE - 100000, SIZE - 1), 'refused');
      relay.forge(undefined);
      const honest = await upstreamOf('single', 'bytes=70000-70099');
      assert.deepEqual(honest.body, plaintext.subarray(70000, 70100));
    });
  }
});
