import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
  type ChecksumTap,
  computeChecksum,
  createChecksumTap,
  expectedChecksums,
  expectedTrailerChecksum,
  INBOUND_CHECKSUM_HEADERS,
  isInboundIntegrityHeader,
  trailerChecksumAlgorithm,
  verifyChecksums,
} from '../../../src/s3/checksum.ts';
import { S3Error } from '../../../src/s3/errors.ts';

/** Deterministic bytes: byte i is (31 i + 7) mod 256. */
function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

/** mulberry32: a small seeded PRNG, so that every run splits the same way. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function runTap(
  algorithms: ChecksumAlgorithm[],
  pieces: Buffer[],
): Promise<{ tap: ChecksumTap; out: Buffer }> {
  const tap = createChecksumTap(algorithms);
  const received: Buffer[] = [];
  await pipeline(
    Readable.from(pieces),
    tap,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk);
        callback();
      },
    }),
  );
  return { tap, out: Buffer.concat(received) };
}

function rejectsWith(code: string, message?: string | RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof S3Error, `expected an S3Error, got ${String(error)}`);
    assert.equal(error.code, code);
    if (typeof message === 'string') assert.equal(error.message, message);
    else if (message !== undefined) assert.match(error.message, message);
    return true;
  };
}

describe('checksum algorithms', () => {
  it('match the published check values of "123456789"', () => {
    const input = Buffer.from('123456789');
    assert.equal(computeChecksum('CRC32', input).toString('hex'), 'cbf43926');
    assert.equal(computeChecksum('CRC32C', input).toString('hex'), 'e3069283');
    assert.equal(computeChecksum('CRC64NVME', input).toString('hex'), 'ae8b14860a799888');
  });

  it('match the known digests of "abc" for SHA-1, SHA-256, SHA-512 and MD5', () => {
    const input = Buffer.from('abc');
    assert.equal(computeChecksum('SHA1', input).toString('hex'), 'a9993e364706816aba3e25717850c26c9cd0d89d');
    assert.equal(
      computeChecksum('SHA256', input).toString('hex'),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    assert.equal(
      computeChecksum('SHA512', input).toString('hex'),
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    );
    assert.equal(computeChecksum('MD5', input).toString('hex'), '900150983cd24fb0d6963f7d28e17f72');
  });

  // Computed once with the AWS SDK's own implementations (@aws-sdk/checksums 3.1002.6: Crc32, Crc32c,
  // Crc64Nvme) over pattern(n); never regenerate them from this code. The lengths straddle the 8-byte block.
  const sdkVectors: Record<number, Record<'CRC32' | 'CRC32C' | 'CRC64NVME', string>> = {
    0: { CRC32: 'AAAAAA==', CRC32C: 'AAAAAA==', CRC64NVME: 'AAAAAAAAAAA=' },
    1: { CRC32: 'TGZ6Lg==', CRC32C: 'hrc3ug==', CRC64NVME: 'nQukbCfzqiw=' },
    3: { CRC32: 'P2b5rA==', CRC32C: 'dlp8gw==', CRC64NVME: 'Ag0MrFIJHt8=' },
    7: { CRC32: 'Pkg5Ig==', CRC32C: 'URChEg==', CRC64NVME: '9mUiHU+L7cI=' },
    8: { CRC32: 'p1YEKA==', CRC32C: 'QHlccg==', CRC64NVME: '2jAqgoO0wTU=' },
    9: { CRC32: 'yhL+/g==', CRC32C: 'b+Ndpg==', CRC64NVME: 'wPck3bM1O7Q=' },
    15: { CRC32: 'j3f6uw==', CRC32C: 'mwwVFw==', CRC64NVME: 'efmL73Tpjzg=' },
    16: { CRC32: 'BjaolQ==', CRC32C: 'z3hFpA==', CRC64NVME: 'aVQeL8fBVX8=' },
    17: { CRC32: 'cbjZUQ==', CRC32C: 'EMcCMw==', CRC64NVME: '6cN7xAR0cb0=' },
    63: { CRC32: 'eUsmnQ==', CRC32C: '1wEzUA==', CRC64NVME: 'SANiGl/s/wI=' },
    64: { CRC32: 'hMhgiA==', CRC32C: 'Kx1l2A==', CRC64NVME: '5v4zX0D7kec=' },
    65: { CRC32: 'NOV77A==', CRC32C: 'HBu1fw==', CRC64NVME: 'JP1QA6HQo7s=' },
    1000: { CRC32: 'iQIWHg==', CRC32C: '/1Lulw==', CRC64NVME: 'hJuqFMGMbk4=' },
    4099: { CRC32: '7jmpzA==', CRC32C: '/0z/IQ==', CRC64NVME: 'rs4b9NGVBQ4=' },
  };

  for (const [length, expected] of Object.entries(sdkVectors)) {
    it(`agree with the AWS SDK on ${length} pattern bytes`, () => {
      const data = pattern(Number(length));
      for (const algorithm of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
        assert.equal(computeChecksum(algorithm, data).toString('base64'), expected[algorithm], algorithm);
      }
    });
  }

  it('give the same digest whatever the split points and the alignment of the pieces', async () => {
    const random = prng(0xc0ffee);
    for (let round = 0; round < 60; round++) {
      // Copy into a buffer at an odd offset, so that the word-reading path starts unaligned.
      const length = Math.floor(random() * 5000);
      const backing = Buffer.alloc(length + 3);
      const data = backing.subarray(1 + (round % 3), 1 + (round % 3) + length);
      pattern(length + round).copy(data, 0, round, round + length);
      const pieces: Buffer[] = [];
      for (let at = 0; at < length; ) {
        const size = 1 + Math.floor(random() * 40);
        pieces.push(data.subarray(at, at + size));
        at += size;
      }
      const { tap, out } = await runTap([...CHECKSUM_ALGORITHMS], pieces);
      assert.ok(out.equals(data), 'the tap passes data through unchanged');
      assert.equal(tap.bytes, length);
      for (const algorithm of CHECKSUM_ALGORITHMS) {
        assert.ok(tap.digest(algorithm).equals(computeChecksum(algorithm, Buffer.from(data))), algorithm);
      }
    }
  });
});

describe('ChecksumTap', () => {
  it('refuses to give a digest before the stream has ended', () => {
    const tap = createChecksumTap(['CRC32']);
    assert.throws(() => tap.digest('CRC32'), /not ready/);
  });

  it('refuses a digest it was not asked to compute', async () => {
    const { tap } = await runTap(['CRC32'], [Buffer.from('x')]);
    assert.throws(() => tap.digest('SHA256'), /does not compute SHA256/);
  });

  it('digests an empty body', async () => {
    const { tap } = await runTap(['CRC32', 'MD5'], []);
    assert.equal(tap.digest('CRC32').toString('base64'), 'AAAAAA==');
    assert.equal(tap.digest('MD5').toString('hex'), 'd41d8cd98f00b204e9800998ecf8427e');
  });
});

describe('expectedChecksums', () => {
  // Captured from @aws-sdk/client-s3 PutObject of a Buffer over plain HTTP.
  const sdkHeaders = {
    'x-amz-content-sha256': 'd9014c4624844aa5bac314773d6b689ad467fa4e1d1a50a1b8a99d5a95f72ff5',
    'x-amz-sdk-checksum-algorithm': 'CRC32',
    'x-amz-checksum-crc32': 'e1WnGA==',
  };
  const sdkBody = Buffer.from('Hello, world!\n');

  it('reads the checksum header and the payload hash that aws-sdk-js v3 sends, and both verify', async () => {
    const expected = expectedChecksums(sdkHeaders);
    assert.deepEqual(
      expected.map((e) => [e.source, e.algorithm, e.name]),
      [
        ['x-amz-content-sha256', 'SHA256', 'x-amz-content-sha256'],
        ['x-amz-checksum-header', 'CRC32', 'x-amz-checksum-crc32'],
      ],
    );
    const { tap } = await runTap(
      expected.map((e) => e.algorithm),
      [sdkBody],
    );
    verifyChecksums(tap, expected);
  });

  it('answers XAmzContentSHA256Mismatch first when the body matches neither digest', async () => {
    const expected = expectedChecksums(sdkHeaders);
    const { tap } = await runTap(['SHA256', 'CRC32'], [Buffer.from('Hello, world?\n')]);
    assert.throws(() => verifyChecksums(tap, expected), rejectsWith('XAmzContentSHA256Mismatch'));
  });

  it('answers BadDigest naming the algorithm for an x-amz-checksum mismatch', async () => {
    const expected = expectedChecksums({ 'x-amz-checksum-crc32': 'e1WnGA==' });
    const { tap } = await runTap(['CRC32'], [Buffer.from('Hello, world?\n')]);
    assert.throws(
      () => verifyChecksums(tap, expected),
      rejectsWith('BadDigest', 'The CRC32 you specified did not match the calculated checksum.'),
    );
  });

  it('verifies a correct Content-MD5 and answers BadDigest for a wrong one', async () => {
    const md5 = computeChecksum('MD5', sdkBody).toString('base64');
    const expected = expectedChecksums({ 'content-md5': md5 });
    assert.deepEqual(
      expected.map((e) => [e.source, e.algorithm]),
      [['content-md5', 'MD5']],
    );
    verifyChecksums((await runTap(['MD5'], [sdkBody])).tap, expected);
    const { tap } = await runTap(['MD5'], [Buffer.from('other')]);
    assert.throws(
      () => verifyChecksums(tap, expected),
      rejectsWith('BadDigest', 'The Content-MD5 you specified did not match what we received.'),
    );
  });

  it('answers InvalidDigest for a Content-MD5 that is not the base64 of 16 bytes', () => {
    for (const value of ['', 'not base64!', 'AAAA', computeChecksum('SHA1', sdkBody).toString('base64')]) {
      assert.throws(
        () => expectedChecksums({ 'content-md5': value }),
        rejectsWith('InvalidDigest', 'The Content-MD5 you specified was invalid.'),
        value,
      );
    }
  });

  it('reads every supported x-amz-checksum header', () => {
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const name = `x-amz-checksum-${algorithm.toLowerCase()}`;
      const digest = computeChecksum(algorithm, sdkBody);
      const [found] = expectedChecksums({ [name]: digest.toString('base64') });
      assert.ok(found);
      assert.equal(found.algorithm, algorithm);
      assert.equal(found.name, name);
      assert.ok(found.digest.equals(digest));
    }
  });

  it('answers InvalidRequest for a malformed x-amz-checksum value, as S3 does', () => {
    for (const value of ['', 'e1WnGA', 'e1WnGA==e1WnGA==', 'AAAAAAAAAAA=', '!!!!!!==']) {
      assert.throws(
        () => expectedChecksums({ 'x-amz-checksum-crc32': value }),
        rejectsWith('InvalidRequest', 'Value for x-amz-checksum-crc32 header is invalid.'),
        value,
      );
    }
  });

  it('refuses two checksum headers, or a checksum header and a trailer', () => {
    const single = 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.';
    assert.throws(
      () => expectedChecksums({ 'x-amz-checksum-crc32': 'e1WnGA==', 'x-amz-checksum-crc32c': 'AAAAAA==' }),
      rejectsWith('InvalidRequest', single),
    );
    assert.throws(
      () =>
        expectedChecksums({ 'x-amz-checksum-crc32': 'e1WnGA==', 'x-amz-trailer': 'x-amz-checksum-crc32c' }),
      rejectsWith('InvalidRequest', single),
    );
  });

  it('refuses an x-amz-sdk-checksum-algorithm that names another algorithm than the checksum', () => {
    assert.throws(
      () =>
        expectedChecksums({ 'x-amz-sdk-checksum-algorithm': 'CRC32C', 'x-amz-checksum-crc32': 'e1WnGA==' }),
      rejectsWith('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.'),
    );
    assert.equal(
      expectedChecksums({ 'x-amz-sdk-checksum-algorithm': 'crc32', 'x-amz-checksum-crc32': 'e1WnGA==' })
        .length,
      1,
    );
  });

  it('answers NotImplemented for checksum algorithms the proxy cannot verify', () => {
    for (const name of ['x-amz-checksum-xxhash64', 'x-amz-checksum-xxhash3', 'x-amz-checksum-xxhash128']) {
      assert.throws(
        () => expectedChecksums({ [name]: 'AAAAAAAAAAA=' }),
        rejectsWith('NotImplemented', new RegExp(name)),
      );
    }
  });

  it('ignores the checksum headers that are not digests of the body', () => {
    assert.deepEqual(
      expectedChecksums({
        'x-amz-checksum-type': 'FULL_OBJECT',
        'x-amz-checksum-algorithm': 'CRC32',
        'x-amz-checksum-mode': 'ENABLED',
      }),
      [],
    );
  });

  it('takes no digest from UNSIGNED-PAYLOAD or STREAMING- payload hashes, and refuses other values', () => {
    assert.deepEqual(expectedChecksums({ 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }), []);
    assert.deepEqual(expectedChecksums({ 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }), []);
    assert.throws(() => expectedChecksums({ 'x-amz-content-sha256': 'abc' }), rejectsWith('InvalidArgument'));
  });

  it('accepts an upper-case hex x-amz-content-sha256', () => {
    const [found] = expectedChecksums({
      'x-amz-content-sha256': sdkHeaders['x-amz-content-sha256'].toUpperCase(),
    });
    assert.equal(found?.digest.toString('hex'), sdkHeaders['x-amz-content-sha256']);
  });

  it('returns nothing for a request without integrity headers', () => {
    assert.deepEqual(expectedChecksums({ 'content-type': 'text/plain' }), []);
  });
});

describe('trailer checksums', () => {
  it('takes the algorithm from x-amz-trailer, in any case', () => {
    assert.equal(trailerChecksumAlgorithm({ 'x-amz-trailer': 'x-amz-checksum-crc32' }), 'CRC32');
    assert.equal(trailerChecksumAlgorithm({ 'x-amz-trailer': 'X-Amz-Checksum-CRC64NVME' }), 'CRC64NVME');
    assert.equal(trailerChecksumAlgorithm({}), undefined);
  });

  it('refuses an x-amz-trailer that names anything but one checksum', () => {
    assert.throws(
      () => trailerChecksumAlgorithm({ 'x-amz-trailer': 'x-amz-meta-color' }),
      rejectsWith('InvalidRequest', 'The value specified in the x-amz-trailer header is not supported'),
    );
    assert.throws(
      () => trailerChecksumAlgorithm({ 'x-amz-trailer': 'x-amz-checksum-crc32, x-amz-checksum-sha1' }),
      rejectsWith('InvalidRequest', /single x-amz-checksum/),
    );
    assert.throws(
      () => trailerChecksumAlgorithm({ 'x-amz-trailer': 'x-amz-checksum-xxhash64' }),
      rejectsWith('NotImplemented'),
    );
  });

  it('reads the trailer value once the body has ended, and verifies it', async () => {
    const body = Buffer.from('Hello, aws-chunked world!\n');
    // The trailer aws-sdk-js v3 sent for this body (captured).
    const expected = expectedTrailerChecksum('CRC32', new Map([['x-amz-checksum-crc32', 'oUDGAg==']]));
    assert.equal(expected.source, 'x-amz-checksum-trailer');
    verifyChecksums((await runTap(['CRC32'], [body])).tap, [expected]);
    const { tap } = await runTap(['CRC32'], [Buffer.from('Hello, aws-chunked world?\n')]);
    assert.throws(
      () => verifyChecksums(tap, [expected]),
      rejectsWith('BadDigest', 'The CRC32 you specified did not match the calculated checksum.'),
    );
  });

  it('answers IncompleteBody when the announced trailer never came, InvalidRequest when it is malformed', () => {
    assert.throws(() => expectedTrailerChecksum('CRC32', new Map()), rejectsWith('IncompleteBody'));
    assert.throws(
      () => expectedTrailerChecksum('CRC32', new Map([['x-amz-checksum-crc32', 'nope']])),
      rejectsWith('InvalidRequest', 'Value for x-amz-checksum-crc32 trailing header is invalid.'),
    );
  });
});

describe('inbound integrity headers', () => {
  it('names every header that must not reach the upstream', () => {
    for (const name of [
      'content-md5',
      'Content-MD5',
      'x-amz-content-sha256',
      'x-amz-sdk-checksum-algorithm',
      'x-amz-trailer',
      'x-amz-decoded-content-length',
      'x-amz-checksum-crc32',
      'x-amz-checksum-crc64nvme',
      'x-amz-checksum-type',
      'x-amz-checksum-algorithm',
      'x-amz-checksum-xxhash64',
    ]) {
      assert.ok(isInboundIntegrityHeader(name), name);
    }
    for (const name of INBOUND_CHECKSUM_HEADERS) assert.ok(isInboundIntegrityHeader(name), name);
  });

  it('keeps the headers that are not about the inbound body', () => {
    for (const name of [
      'x-amz-checksum-mode',
      'content-type',
      'content-encoding',
      'x-amz-meta-checksum',
      'etag',
    ]) {
      assert.equal(isInboundIntegrityHeader(name), false, name);
    }
  });
});
