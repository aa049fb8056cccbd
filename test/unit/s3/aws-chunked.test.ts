import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  type AwsChunkedDecoderOptions,
  contentEncodingWithoutAwsChunked,
  createAwsChunkedDecoder,
  parseDecodedContentLength,
  payloadMode,
} from '../../../src/s3/aws-chunked/index.ts';
import {
  computeChecksum,
  createChecksumTap,
  expectedTrailerChecksum,
  verifyChecksums,
} from '../../../src/s3/checksum.ts';
import { S3Error } from '../../../src/s3/errors.ts';

/** mulberry32: a small seeded PRNG, so that every run draws the same cases. */
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

function randomBytes(random: () => number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

/**
 * The body shapes real clients send. Signatures are well-formed but not real: the decoder does not verify them.
 * - js-trailer: aws-sdk-js v3, STREAMING-UNSIGNED-PAYLOAD-TRAILER.
 * - js-bare: aws-sdk-js v3's encoder without a checksum: ends right after `0\r\n`.
 * - signed: minio-go and the AWS sigv4-streaming example, STREAMING-AWS4-HMAC-SHA256-PAYLOAD.
 * - signed-trailer: the AWS sigv4-streaming-trailers layout (Java SDK v2).
 * - minio-go-a / minio-go-b: the two layouts minio-go versions have used for signed trailers.
 */
const STYLES = ['js-trailer', 'js-bare', 'signed', 'signed-trailer', 'minio-go-a', 'minio-go-b'] as const;
type Style = (typeof STYLES)[number];

function optionsFor(style: Style): { signed: boolean; trailer: boolean } {
  return {
    signed: style !== 'js-trailer' && style !== 'js-bare',
    trailer: style !== 'js-bare' && style !== 'signed',
  };
}

function fakeSignature(index: number): string {
  return createHash('sha256').update(`chunk ${index}`).digest('hex');
}

function encode(data: Buffer, chunkSize: number, style: Style, trailers: [string, string][] = []): Buffer {
  const { signed } = optionsFor(style);
  const parts: Buffer[] = [];
  let index = 0;
  const header = (size: number) =>
    Buffer.from(`${size.toString(16)}${signed ? `;chunk-signature=${fakeSignature(index++)}` : ''}\r\n`);
  for (let at = 0; at < data.length; at += chunkSize) {
    const slice = data.subarray(at, at + chunkSize);
    parts.push(header(slice.length), slice, Buffer.from('\r\n'));
  }
  parts.push(header(0));
  const trailerSignature = `x-amz-trailer-signature:${fakeSignature(index)}`;
  const lines = (end: string) => trailers.map(([name, value]) => `${name}:${value}${end}`).join('');
  switch (style) {
    case 'js-trailer':
      parts.push(Buffer.from(`${lines('\r\n')}\r\n`));
      break;
    case 'js-bare':
      break;
    case 'signed':
      parts.push(Buffer.from('\r\n'));
      break;
    case 'signed-trailer':
      parts.push(Buffer.from(`${lines('\r\n')}${trailerSignature}\r\n\r\n`));
      break;
    case 'minio-go-a':
      parts.push(Buffer.from(`\r\n${lines('\n')}${trailerSignature}\r\n`));
      break;
    case 'minio-go-b':
      parts.push(Buffer.from(`${lines('\n')}\r\n${trailerSignature}\r\n\r\n`));
      break;
  }
  return Buffer.concat(parts);
}

async function decode(
  pieces: Buffer[],
  options: AwsChunkedDecoderOptions,
): Promise<{ data: Buffer; trailers: Map<string, string>; decodedLength: number }> {
  const decoder = createAwsChunkedDecoder(options);
  const received: Buffer[] = [];
  await pipeline(
    Readable.from(pieces),
    decoder,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk);
        callback();
      },
    }),
  );
  return { data: Buffer.concat(received), trailers: decoder.trailers, decodedLength: decoder.decodedLength };
}

function splitAt(body: Buffer, points: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const point of [...points].sort((a, b) => a - b)) {
    pieces.push(body.subarray(from, point));
    from = point;
  }
  pieces.push(body.subarray(from));
  return pieces.filter((piece) => piece.length > 0);
}

function bytewise(body: Buffer): Buffer[] {
  return Array.from({ length: body.length }, (_, i) => body.subarray(i, i + 1));
}

const PLAINTEXT_MARKER = 'TOP-SECRET-PLAINTEXT';

/** Decodes `body` in one piece and byte by byte; both must fail with IncompleteBody, never quoting the body. */
async function assertIncomplete(
  body: Buffer | string,
  options: AwsChunkedDecoderOptions,
  message?: RegExp,
): Promise<void> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  for (const pieces of [[bytes], bytewise(bytes)]) {
    await assert.rejects(decode(pieces, options), (error: unknown) => {
      assert.ok(error instanceof S3Error, `expected an S3Error, got ${String(error)}`);
      assert.equal(error.code, 'IncompleteBody');
      assert.equal(error.status, 400);
      if (message !== undefined) assert.match(error.message, message);
      assert.ok(!error.message.includes(PLAINTEXT_MARKER), 'the message quotes the body');
      return true;
    });
  }
}

describe('payloadMode', () => {
  const cases: [string | undefined, ReturnType<typeof payloadMode>][] = [
    [undefined, { chunked: false }],
    ['UNSIGNED-PAYLOAD', { chunked: false }],
    ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', { chunked: false }],
    ['STREAMING-UNSIGNED-PAYLOAD-TRAILER', { chunked: true, signed: false, trailer: true }],
    ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', { chunked: true, signed: true, trailer: false }],
    ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', { chunked: true, signed: true, trailer: true }],
    ['STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD', { chunked: true, signed: true, trailer: false }],
    ['STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER', { chunked: true, signed: true, trailer: true }],
  ];
  for (const [value, expected] of cases) {
    it(`reads ${value ?? 'a missing header'}`, () => {
      assert.deepEqual(payloadMode(value), expected);
    });
  }

  it('refuses an unknown STREAMING- payload type with NotImplemented, naming it', () => {
    assert.throws(
      () => payloadMode('STREAMING-AWS4-ECDSA-P384-SHA384-PAYLOAD'),
      (error: unknown) =>
        error instanceof S3Error &&
        error.code === 'NotImplemented' &&
        error.message.includes('STREAMING-AWS4-ECDSA-P384-SHA384-PAYLOAD'),
    );
  });
});

describe('aws-chunked request headers', () => {
  it('reads x-amz-decoded-content-length, which may be missing', () => {
    assert.equal(parseDecodedContentLength('26'), 26);
    assert.equal(parseDecodedContentLength('0'), 0);
    assert.equal(parseDecodedContentLength(undefined), undefined);
  });

  it('refuses an x-amz-decoded-content-length that is not a non-negative integer', () => {
    for (const value of ['', '-1', '1.5', 'abc', '1e3', '99999999999999999']) {
      assert.throws(
        () => parseDecodedContentLength(value),
        (error: unknown) => error instanceof S3Error && error.code === 'InvalidArgument',
        value,
      );
    }
  });

  it('drops the aws-chunked token of Content-Encoding and keeps the others', () => {
    assert.equal(contentEncodingWithoutAwsChunked('aws-chunked'), undefined);
    assert.equal(contentEncodingWithoutAwsChunked('AWS-Chunked'), undefined);
    assert.equal(contentEncodingWithoutAwsChunked('aws-chunked,gzip'), 'gzip');
    assert.equal(contentEncodingWithoutAwsChunked('gzip, aws-chunked'), 'gzip');
    assert.equal(contentEncodingWithoutAwsChunked('gzip, br'), 'gzip, br');
    assert.equal(contentEncodingWithoutAwsChunked(undefined), undefined);
  });
});

describe('aws-chunked bodies captured from aws-sdk-js v3', () => {
  // PutObject of a three-piece stream of 26 bytes with each ChecksumAlgorithm, from @aws-sdk/client-s3 over
  // plain HTTP: x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER, Content-Encoding: aws-chunked,
  // x-amz-decoded-content-length: 26, x-amz-trailer: x-amz-checksum-<algorithm>.
  const plaintext = 'Hello, aws-chunked world!\n';
  const frame = '7\r\nHello, \r\nc\r\naws-chunked \r\n7\r\nworld!\n\r\n0\r\n';
  const captured = {
    CRC32: `${frame}x-amz-checksum-crc32:oUDGAg==\r\n\r\n`,
    CRC32C: `${frame}x-amz-checksum-crc32c:qwzFyQ==\r\n\r\n`,
    CRC64NVME: `${frame}x-amz-checksum-crc64nvme:OYGDy4JZYSw=\r\n\r\n`,
    SHA1: `${frame}x-amz-checksum-sha1:91OVpp6fi0nWGhTnFz/wxh+DayU=\r\n\r\n`,
    SHA256: `${frame}x-amz-checksum-sha256:K0IjMM+u+VB4BSGVQYd167/nwYsr70GfYediFXwL1t4=\r\n\r\n`,
  } as const;

  for (const [algorithm, body] of Object.entries(captured) as [keyof typeof captured, string][]) {
    it(`decodes the ${algorithm} trailer body and its checksum verifies`, async () => {
      const name = `x-amz-checksum-${algorithm.toLowerCase()}`;
      const decoder = createAwsChunkedDecoder({
        signed: false,
        trailer: true,
        decodedContentLength: 26,
        expectedTrailers: [name],
      });
      const tap = createChecksumTap([algorithm]);
      const received: Buffer[] = [];
      await pipeline(
        Readable.from([Buffer.from(body, 'latin1')]),
        decoder,
        tap,
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            received.push(chunk);
            callback();
          },
        }),
      );
      assert.equal(Buffer.concat(received).toString(), plaintext);
      assert.deepEqual([...decoder.trailers.keys()], [name]);
      verifyChecksums(tap, [expectedTrailerChecksum(algorithm, decoder.trailers)]);
    });
  }
});

describe('aws-chunked decoding of every client layout', () => {
  const data = Buffer.from(`${PLAINTEXT_MARKER} ${'0123456789abcdef'.repeat(20)}`);
  const crc = computeChecksum('CRC32', data).toString('base64');

  for (const style of STYLES) {
    it(`decodes the ${style} layout, trailers included`, async () => {
      const { trailer } = optionsFor(style);
      const body = encode(data, 64, style, trailer ? [['x-amz-checksum-crc32', crc]] : []);
      const result = await decode([body], {
        ...optionsFor(style),
        decodedContentLength: data.length,
        expectedTrailers: trailer ? ['x-amz-checksum-crc32'] : [],
      });
      assert.ok(result.data.equals(data));
      assert.equal(result.decodedLength, data.length);
      if (trailer) {
        assert.equal(result.trailers.get('x-amz-checksum-crc32'), crc);
        if (style !== 'js-trailer')
          assert.equal(
            result.trailers.get('x-amz-trailer-signature'),
            fakeSignature(Math.ceil(data.length / 64) + 1),
          );
      } else {
        assert.equal(result.trailers.size, 0);
      }
    });

    it(`decodes an empty ${style} body`, async () => {
      const body = encode(
        Buffer.alloc(0),
        64,
        style,
        optionsFor(style).trailer ? [['x-amz-checksum-crc32', 'AAAAAA==']] : [],
      );
      const result = await decode([body], { ...optionsFor(style), decodedContentLength: 0 });
      assert.equal(result.data.length, 0);
    });
  }

  it('accepts SigV4a (ECDSA) chunk signatures: DER hex padded with * to 144 characters', async () => {
    const der = `3045${createHash('sha512').update('r').digest('hex').slice(0, 68)}`;
    const signature = der.padEnd(144, '*');
    assert.equal(signature.length, 144);
    const body = `3;chunk-signature=${signature}\r\nabc\r\n0;chunk-signature=${signature}\r\n\r\n`;
    const result = await decode([Buffer.from(body)], {
      signed: true,
      trailer: false,
      decodedContentLength: 3,
    });
    assert.equal(result.data.toString(), 'abc');
    await assertIncomplete(
      `3;chunk-signature=${signature}*\r\nabc\r\n0;chunk-signature=${signature}\r\n\r\n`,
      { signed: true, trailer: false },
      /chunk-signature/,
    );
  });

  it('decodes a body whose chunk sizes are written in upper-case hex with leading zeros', async () => {
    const result = await decode([Buffer.from('000A\r\n0123456789\r\n0\r\n')], {
      signed: false,
      trailer: false,
    });
    assert.equal(result.data.toString(), '0123456789');
  });

  it('reads trailer names in any case and trims the spaces around values', async () => {
    const body = Buffer.from('1\r\nx\r\n0\r\nX-Amz-Checksum-CRC32:  jHDhjw== \r\n\r\n');
    const result = await decode([body], {
      signed: false,
      trailer: true,
      expectedTrailers: ['x-amz-checksum-crc32'],
    });
    assert.equal(result.trailers.get('x-amz-checksum-crc32'), 'jHDhjw==');
  });

  it('decodes correctly whatever the split points (seeded property test over every layout)', async () => {
    const random = prng(20260101);
    let cases = 0;
    for (const style of STYLES) {
      for (let round = 0; round < 80; round++) {
        const boundary = [0, 1, 2, 15, 16, 17, 255, 256, 4095, 4096, 4097];
        const length =
          round < boundary.length
            ? (boundary[round] as number)
            : Math.floor(random() * (random() < 0.2 ? 70000 : 3000));
        const data = randomBytes(random, length);
        const chunkSize = 1 + Math.floor(random() * (random() < 0.5 ? 64 : 9000));
        const { trailer } = optionsFor(style);
        const trailers: [string, string][] = trailer
          ? [['x-amz-checksum-crc64nvme', computeChecksum('CRC64NVME', data).toString('base64')]]
          : [];
        const body = encode(data, chunkSize, style, trailers);
        const splitCount = Math.floor(random() * 12);
        const points = Array.from({ length: splitCount }, () => Math.floor(random() * body.length));
        const result = await decode(splitAt(body, points), {
          ...optionsFor(style),
          decodedContentLength: random() < 0.5 ? data.length : undefined,
          expectedTrailers: trailer ? ['x-amz-checksum-crc64nvme'] : [],
        });
        assert.ok(result.data.equals(data), `${style} round ${round}: data differs`);
        if (trailer) {
          assert.ok(
            expectedTrailerChecksum('CRC64NVME', result.trailers).digest.equals(
              computeChecksum('CRC64NVME', data),
            ),
            `${style} round ${round}: trailer differs`,
          );
        }
        cases++;
      }
    }
    assert.equal(cases, 480);
  });

  it('decodes a signed body with a trailer split at every single byte boundary', async () => {
    const data = Buffer.from('split me anywhere, even inside a chunk-signature');
    const body = encode(data, 7, 'signed-trailer', [
      ['x-amz-checksum-sha1', computeChecksum('SHA1', data).toString('base64')],
    ]);
    for (let point = 1; point < body.length; point++) {
      const result = await decode(splitAt(body, [point]), {
        signed: true,
        trailer: true,
        decodedContentLength: data.length,
        expectedTrailers: ['x-amz-checksum-sha1'],
      });
      assert.ok(result.data.equals(data), `split at ${point}`);
    }
    const result = await decode(bytewise(body), { signed: true, trailer: true });
    assert.ok(result.data.equals(data), 'one byte per read');
  });

  it('passes chunk data on as it arrives, before the chunk is complete', async () => {
    const decoder = createAwsChunkedDecoder({ signed: false, trailer: false });
    const chunkSize = 8 * 1024 * 1024;
    decoder.write(Buffer.from(`${chunkSize.toString(16)}\r\n`));
    decoder.write(Buffer.alloc(1024 * 1024, 0x61));
    let available = 0;
    for (let piece = decoder.read(); piece !== null; piece = decoder.read()) available += piece.length;
    assert.equal(available, 1024 * 1024, 'the first MiB of an 8 MiB chunk is readable already');
    decoder.destroy();
  });
});

describe('aws-chunked malformations answer IncompleteBody', () => {
  const unsigned = { signed: false, trailer: false };
  const unsignedTrailer = { signed: false, trailer: true };
  const signed = { signed: true, trailer: false };
  const sig = fakeSignature(0);

  it('rejects a chunk size that is not hexadecimal', async () => {
    await assertIncomplete(`zz\r\n${PLAINTEXT_MARKER}\r\n0\r\n`, unsigned, /not hexadecimal/);
    await assertIncomplete('\r\nab\r\n0\r\n', unsigned, /not hexadecimal/);
    await assertIncomplete('-1\r\nab\r\n0\r\n', unsigned, /not hexadecimal/);
    await assertIncomplete('0x2\r\nab\r\n0\r\n', unsigned, /not hexadecimal/);
    await assertIncomplete('2 \r\nab\r\n0\r\n', unsigned, /not hexadecimal/);
  });

  it('rejects a chunk line longer than 4096 bytes, without reading further', async () => {
    await assertIncomplete(`${'0'.repeat(4096)}1\r\nx\r\n0\r\n`, unsigned, /longer than 4096/);
    // Misframed data: plaintext read as a chunk line must not be echoed.
    await assertIncomplete(PLAINTEXT_MARKER.repeat(300), unsigned, /longer than 4096/);
  });

  it('accepts a chunk line of exactly 4096 bytes', async () => {
    const line = `${'0'.repeat(4093)}1\r`;
    assert.equal(line.length, 4095);
    const result = await decode([Buffer.from(`${line}\nx\r\n0\r\n`)], unsigned);
    assert.equal(result.data.toString(), 'x');
  });

  it('rejects a chunk line ended by a bare LF', async () => {
    await assertIncomplete('3\nabc\r\n0\r\n', unsigned, /CRLF/);
  });

  it('rejects chunk data that is not followed by CRLF', async () => {
    await assertIncomplete(`3\r\n${PLAINTEXT_MARKER}\r\n0\r\n`, unsigned, /not followed by CRLF/);
    await assertIncomplete('3\r\nabc\n0\r\n', unsigned, /not followed by CRLF/);
    await assertIncomplete('3\r\nabc\rx0\r\n', unsigned, /not followed by CRLF/);
  });

  it('rejects data after the final chunk of a stream without trailers', async () => {
    await assertIncomplete(
      `3\r\nabc\r\n0\r\n\r\n${PLAINTEXT_MARKER}\r\n`,
      unsigned,
      /follows the final chunk/,
    );
    await assertIncomplete(
      '3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n',
      unsigned,
      /follows the final chunk/,
    );
  });

  it('rejects a body that ends early, wherever it ends', async () => {
    await assertIncomplete('', unsigned, /before the final zero-length chunk/);
    await assertIncomplete('3', unsigned, /before the final zero-length chunk/);
    await assertIncomplete('3\r', unsigned, /before the final zero-length chunk/);
    await assertIncomplete('3\r\nab', unsigned, /inside a chunk/);
    await assertIncomplete('3\r\nabc', unsigned, /CRLF that closes a chunk/);
    await assertIncomplete('3\r\nabc\r', unsigned, /CRLF that closes a chunk/);
    await assertIncomplete('3\r\nabc\r\n', unsigned, /before the final zero-length chunk/);
    await assertIncomplete('3\r\nabc\r\n0', unsigned, /before the final zero-length chunk/);
    await assertIncomplete(
      '3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAA',
      unsignedTrailer,
      /inside a trailer line/,
    );
  });

  it('rejects a trailer section longer than 16 KiB', async () => {
    const lines = Array.from({ length: 200 }, (_, i) => `x-amz-meta-${i}:${'v'.repeat(90)}\r\n`).join('');
    await assertIncomplete(`0\r\n${lines}\r\n`, unsignedTrailer, /trailer section is longer/);
    await assertIncomplete(
      `0\r\nx-amz-meta-long:${'v'.repeat(5000)}\r\n\r\n`,
      unsignedTrailer,
      /trailer line is longer than 4096/,
    );
    await assertIncomplete(`0\r\n${'\r\n'.repeat(9000)}`, unsignedTrailer, /trailer section is longer/);
  });

  it('rejects malformed trailer lines', async () => {
    await assertIncomplete('0\r\nno colon here\r\n\r\n', unsignedTrailer, /name:value/);
    await assertIncomplete('0\r\n:value\r\n\r\n', unsignedTrailer, /name:value/);
    await assertIncomplete('0\r\nbad name:value\r\n\r\n', unsignedTrailer, /malformed/);
    await assertIncomplete('0\r\nx-amz-checksum-crc32:AA\rAA\r\n\r\n', unsignedTrailer, /malformed/);
    await assertIncomplete(
      '0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n',
      unsignedTrailer,
      /appears twice/,
    );
  });

  it('rejects a body that lacks the trailer announced in x-amz-trailer', async () => {
    await assertIncomplete(
      '3\r\nabc\r\n0\r\n\r\n',
      { ...unsignedTrailer, expectedTrailers: ['x-amz-checksum-crc32'] },
      /without the x-amz-checksum-crc32 trailer/,
    );
    await assertIncomplete(
      '3\r\nabc\r\n0\r\n',
      { ...unsignedTrailer, expectedTrailers: ['x-amz-checksum-crc32'] },
      /without/,
    );
  });

  it('rejects chunks that carry more or less than x-amz-decoded-content-length', async () => {
    await assertIncomplete(
      `3\r\nabc\r\n4\r\n${PLAINTEXT_MARKER.slice(0, 4)}\r\n0\r\n`,
      { ...unsigned, decodedContentLength: 5 },
      /more than the 5 bytes/,
    );
    await assertIncomplete(
      '3\r\nabc\r\n0\r\n',
      { ...unsigned, decodedContentLength: 4 },
      /carry 3 bytes.*announced 4/,
    );
    await assertIncomplete('0\r\n', { ...unsigned, decodedContentLength: 1 }, /carry 0 bytes/);
  });

  it('rejects a chunk larger than the maximum chunk size', async () => {
    await assertIncomplete('11\r\n', { ...unsigned, maxChunkSize: 16 }, /larger than 16 bytes/);
    await assertIncomplete('ffffffffffffffffff\r\n', unsigned, /larger than/);
  });

  it('rejects a signed stream whose chunk lacks a well-formed signature', async () => {
    await assertIncomplete('3\r\nabc\r\n0\r\n\r\n', signed, /chunk-signature/);
    await assertIncomplete(
      `3;chunk-signature=${sig.slice(1)}\r\nabc\r\n0;chunk-signature=${sig}\r\n\r\n`,
      signed,
      /chunk-signature/,
    );
    await assertIncomplete(
      `3;chunk-signature=${sig}x\r\nabc\r\n0;chunk-signature=${sig}\r\n\r\n`,
      signed,
      /chunk-signature/,
    );
    await assertIncomplete(`3;chunk-signature=${sig}\r\nabc\r\n0\r\n\r\n`, signed, /chunk-signature/);
    await assertIncomplete(
      `3;signature=${sig}\r\nabc\r\n0;chunk-signature=${sig}\r\n\r\n`,
      signed,
      /chunk-signature/,
    );
  });

  it('rejects a chunk extension in an unsigned stream', async () => {
    await assertIncomplete(`3;chunk-signature=${sig}\r\nabc\r\n0\r\n`, unsigned, /extension/);
  });

  it('fails the stream on the first error and lets nothing after it through', async () => {
    const decoder = createAwsChunkedDecoder(unsigned);
    const errors: unknown[] = [];
    decoder.on('error', (error) => errors.push(error));
    decoder.write(Buffer.from('3\r\nabcX'));
    decoder.write(Buffer.from('5\r\nmore!\r\n0\r\n'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof S3Error && errors[0].code === 'IncompleteBody');
    assert.ok(decoder.destroyed);
  });
});

describe('aws-chunked memory', () => {
  it('streams a 64 MiB body of 8 MiB chunks while holding no more than a few reads', async () => {
    const chunkSize = 8 * 1024 * 1024;
    const total = 64 * 1024 * 1024;
    const readSize = 64 * 1024;
    const random = prng(64);
    const fill = randomBytes(random, readSize);

    async function* body(): AsyncGenerator<Buffer> {
      for (let at = 0; at < total; at += chunkSize) {
        yield Buffer.from(`${chunkSize.toString(16)};chunk-signature=${fakeSignature(at)}\r\n`);
        for (let sent = 0; sent < chunkSize; sent += readSize) yield Buffer.from(fill);
        yield Buffer.from('\r\n');
      }
      yield Buffer.from(`0;chunk-signature=${fakeSignature(total)}\r\n\r\n`);
    }

    const decoder = createAwsChunkedDecoder({ signed: true, trailer: false, decodedContentLength: total });
    const tap = createChecksumTap(['CRC32']);
    let maxHeld = 0;
    let received = 0;
    await pipeline(
      Readable.from(body()),
      decoder,
      tap,
      new Writable({
        highWaterMark: readSize,
        write(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          maxHeld = Math.max(maxHeld, decoder.readableLength + decoder.writableLength);
          // A slow consumer, so that backpressure has to hold the producer back.
          setImmediate(callback);
        },
      }),
    );
    assert.equal(received, total);
    assert.equal(decoder.decodedLength, total);
    const expectedCrc = (() => {
      const hasher = createChecksumTap(['CRC32']);
      for (let i = 0; i < total / readSize; i++) hasher.write(fill);
      hasher.end();
      hasher.resume();
      return new Promise<Buffer>((resolve) => hasher.on('end', () => resolve(hasher.digest('CRC32'))));
    })();
    assert.ok(tap.digest('CRC32').equals(await expectedCrc));
    assert.ok(maxHeld <= 4 * readSize, `the decoder held ${maxHeld} bytes at once`);
  });
});
