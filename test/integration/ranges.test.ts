import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createBucket, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';

/** What S3 answers for a Range on an object of `size` bytes: [status, first, last] or a 416. */
function expected(
  range: string,
  size: number,
): { status: 200 } | { status: 206; start: number; end: number } | { status: 416 } {
  const suffix = /^bytes=-(\d+)$/.exec(range);
  if (suffix) {
    const n = Number(suffix[1]);
    if (n === 0) return { status: 416 };
    if (size === 0) return { status: 200 };
    return { status: 206, start: Math.max(0, size - n), end: size - 1 };
  }
  const [, a, b] = /^bytes=(\d+)-(\d*)$/.exec(range) ?? [];
  const first = Number(a);
  if (first >= size) return { status: 416 };
  return { status: 206, start: first, end: b === '' ? size - 1 : Math.min(Number(b), size - 1) };
}

describe('ranged GETs return the right plaintext bytes with a plaintext Content-Range', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  const bucket = uniqueBucket('ranges');
  const SIZES = [0, 3, 65535, 65536, 65537, 200_003];
  const objects = new Map<number, Buffer>();

  before(async () => {
    const services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    await createBucket(client, bucket);
    for (const size of SIZES) {
      const plaintext = patternBytes(size, size);
      objects.set(size, plaintext);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `obj-${size}`, Body: plaintext }));
    }
  });
  after(async () => {
    await proxy?.stop();
  });

  const rangesFor = (size: number): string[] => {
    const S = 65536;
    const points = [0, 1, 2, S - 1, S, S + 1, 2 * S, size - 2, size - 1, size, size + 5].filter(
      (p) => p >= 0,
    );
    const ranges = new Set<string>([
      'bytes=0-',
      'bytes=-1',
      'bytes=-0',
      `bytes=-${size}`,
      `bytes=-${size + 10}`,
      'bytes=0-5242879',
    ]);
    for (const a of points) {
      ranges.add(`bytes=${a}-`);
      ranges.add(`bytes=-${a + 1}`);
      for (const b of points) if (b >= a) ranges.add(`bytes=${a}-${b}`);
    }
    return [...ranges];
  };

  for (const size of SIZES) {
    it(`every range form on a ${size}-byte object`, async () => {
      const plaintext = objects.get(size) as Buffer;
      for (const range of rangesFor(size)) {
        const response = await fetch(`${proxy.endpoint}/${bucket}/obj-${size}`, { headers: { range } });
        const body = Buffer.from(await response.arrayBuffer());
        const want = expected(range, size);
        assert.equal(response.status, want.status, `${range} on ${size} bytes: status`);
        if (want.status === 206) {
          assert.equal(
            response.headers.get('content-range'),
            `bytes ${want.start}-${want.end}/${size}`,
            `${range}: Content-Range`,
          );
          assert.equal(Number(response.headers.get('content-length')), want.end - want.start + 1);
          assert.ok(
            body.equals(plaintext.subarray(want.start, want.end + 1)),
            `${range} on ${size} bytes: body`,
          );
        } else if (want.status === 200) {
          assert.ok(body.equals(plaintext));
        } else {
          assert.match(body.toString(), /<Code>InvalidRange<\/Code>/);
          assert.equal(response.headers.get('content-range'), `bytes */${size}`);
        }
      }
    });
  }

  it('a HEAD with a Range answers 206 with the plaintext Content-Range', async () => {
    const response = await fetch(`${proxy.endpoint}/${bucket}/obj-200003`, {
      method: 'HEAD',
      headers: { range: 'bytes=100-199' },
    });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), 'bytes 100-199/200003');
    assert.equal(response.headers.get('content-length'), '100');
  });

  it('partNumber=1 returns the whole single-part object as a 206, other part numbers 416', async () => {
    const plaintext = objects.get(65537) as Buffer;
    const one = await fetch(`${proxy.endpoint}/${bucket}/obj-65537?partNumber=1`);
    assert.equal(one.status, 206);
    assert.equal(one.headers.get('content-range'), 'bytes 0-65536/65537');
    assert.ok(Buffer.from(await one.arrayBuffer()).equals(plaintext));
    const two = await fetch(`${proxy.endpoint}/${bucket}/obj-65537?partNumber=2`);
    assert.equal(two.status, 416);
    await two.arrayBuffer();
  });

  it('an unparseable or multi-range header is ignored and the whole object returned, as S3 does', async () => {
    const plaintext = objects.get(3) as Buffer;
    for (const range of ['bytes=0-1,2-2', 'items=0-1', 'bytes=2-1']) {
      const response = await fetch(`${proxy.endpoint}/${bucket}/obj-3`, { headers: { range } });
      assert.equal(response.status, 200, range);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(plaintext));
    }
  });

  it('a 1 MiB range from the middle of an 8 MiB object, across segment boundaries', async () => {
    const size = 8 * 1024 * 1024 + 11;
    const plaintext = patternBytes(size, 77);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: plaintext }));
    const start = 3 * 1024 * 1024 + 5;
    const end = start + 1024 * 1024 - 1;
    const response = await fetch(`${proxy.endpoint}/${bucket}/big`, {
      headers: { range: `bytes=${start}-${end}` },
    });
    assert.equal(response.status, 206);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(plaintext.subarray(start, end + 1)));
  });
});
