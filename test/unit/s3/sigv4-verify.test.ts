/**
 * verifyRequestSignature and the chunk signature chain: AWS's published S3 examples (the signed streaming
 * PUT with and without trailer, from "sigv4-streaming" and "sigv4-streaming-trailers"), agreement with the
 * official signer (@smithy/signature-v4) on many generated requests and presigned URLs, and every refusal.
 */
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { createAwsChunkedDecoder } from '../../../src/s3/aws-chunked/index.ts';
import { ChunkSignatureChain } from '../../../src/s3/sigv4/chunk-signature.ts';
import { ClientRefusal, type RefusalReason } from '../../../src/s3/sigv4/refusal.ts';
import { signingKey } from '../../../src/s3/sigv4/signature.ts';
import { type SignedRequest, verifyRequestSignature } from '../../../src/s3/sigv4/verify.ts';
import { seededRandom } from '../../support/fixtures.ts';

// AWS's examples (AKIAIOSFODNN7EXAMPLE, 2013-05-24, us-east-1): a 66560-byte object of "a" in 64 KiB + 1 KiB.
const EXAMPLE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EXAMPLE_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const EXAMPLE_TIME = new Date('2013-05-24T00:00:00Z');
const EXAMPLE_SCOPE = { date: '20130524', region: 'us-east-1', service: 's3' };
const STREAMING = {
  seed: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
  chunks: [
    'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
    '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
    'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
  ],
};
const TRAILING = {
  seed: '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
  chunks: [
    'b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2',
    '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7',
    '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992',
  ],
  trailer: 'x-amz-checksum-crc32c:sOO8/Q==',
  trailerSignature: 'd81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435',
};
const exampleLookup = (id: string) => (id === EXAMPLE_KEY_ID ? EXAMPLE_SECRET : undefined);

function exampleRequest(trailer: boolean): SignedRequest {
  const signedHeaders = trailer
    ? 'content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer'
    : 'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class';
  return {
    method: 'PUT',
    rawUrl: '/examplebucket/chunkObject.txt',
    rawHeaders: [
      'Host',
      's3.amazonaws.com',
      'x-amz-date',
      '20130524T000000Z',
      'x-amz-storage-class',
      'REDUCED_REDUNDANCY',
      'Authorization',
      `AWS4-HMAC-SHA256 Credential=${EXAMPLE_KEY_ID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=${signedHeaders},Signature=${trailer ? TRAILING.seed : STREAMING.seed}`,
      'x-amz-content-sha256',
      trailer ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER' : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'Content-Encoding',
      'aws-chunked',
      'x-amz-decoded-content-length',
      '66560',
      ...(trailer ? ['x-amz-trailer', 'x-amz-checksum-crc32c'] : ['Content-Length', '66824']),
    ],
  };
}

function exampleBody(signatures: readonly string[], trailer?: { line: string; signature: string }): Buffer {
  const sizes = [65536, 1024, 0];
  const parts = sizes.map((size, i) =>
    Buffer.concat([
      Buffer.from(`${size.toString(16)};chunk-signature=${signatures[i]}\r\n`),
      Buffer.alloc(size, 'a'),
      Buffer.from(size > 0 || trailer === undefined ? '\r\n' : ''),
    ]),
  );
  if (trailer !== undefined) {
    parts.push(Buffer.from(`${trailer.line}\r\nx-amz-trailer-signature:${trailer.signature}\r\n\r\n`));
  }
  return Buffer.concat(parts);
}

/** Decodes `body` through the decoder and a verifier, in pieces split at the given points. */
async function decode(
  body: Buffer,
  options: { trailer: boolean; chain: ChunkSignatureChain },
  splits: number[] = [],
): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let last = 0;
  for (const at of [...splits].sort((a, b) => a - b)) {
    pieces.push(body.subarray(last, at));
    last = at;
  }
  pieces.push(body.subarray(last));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces),
    createAwsChunkedDecoder({ signed: true, trailer: options.trailer, signatures: options.chain }),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(Buffer.from(chunk));
        callback();
      },
    }),
  );
  return Buffer.concat(out);
}

function refusalOf(run: () => unknown): { reason: RefusalReason; code: string } | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof ClientRefusal) return { reason: error.reason, code: error.code };
    throw error;
  }
  return undefined;
}

describe("AWS's signed streaming PUT examples", () => {
  for (const trailer of [false, true]) {
    const example = trailer ? TRAILING : STREAMING;
    const trailerLine = trailer
      ? { line: TRAILING.trailer, signature: TRAILING.trailerSignature }
      : undefined;
    const label = trailer
      ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
      : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';

    it(`${label}: the request's seed signature verifies and yields the chunk chain`, async () => {
      const verified = verifyRequestSignature(exampleRequest(trailer), exampleLookup, EXAMPLE_TIME);
      assert.equal(verified.accessKeyId, EXAMPLE_KEY_ID);
      assert.ok(verified.chunkSignatures);
      const data = await decode(exampleBody(example.chunks, trailerLine), {
        trailer,
        chain: verified.chunkSignatures(),
      });
      assert.ok(data.equals(Buffer.alloc(66560, 'a')));
    });

    it(`${label}: every chunk signature verifies at any split of the body`, async () => {
      const body = exampleBody(example.chunks, trailerLine);
      const random = seededRandom(trailer ? 7 : 3);
      for (let round = 0; round < 40; round++) {
        const splits = Array.from({ length: 1 + Math.floor(random() * 6) }, () =>
          Math.floor(random() * body.length),
        );
        const chain = new ChunkSignatureChain({
          signingKey: signingKey(EXAMPLE_SECRET, EXAMPLE_SCOPE),
          amzDate: '20130524T000000Z',
          scope: EXAMPLE_SCOPE,
          seedSignature: example.seed,
        });
        assert.equal((await decode(body, { trailer, chain }, splits)).length, 66560, `splits ${splits}`);
      }
    });

    it(`${label}: a changed byte, swapped signatures or a changed seed fail with SignatureDoesNotMatch`, async () => {
      const chain = () =>
        new ChunkSignatureChain({
          signingKey: signingKey(EXAMPLE_SECRET, EXAMPLE_SCOPE),
          amzDate: '20130524T000000Z',
          scope: EXAMPLE_SCOPE,
          seedSignature: example.seed,
        });
      const tampered = exampleBody(example.chunks, trailerLine);
      tampered[66_000] = 0x62;
      const swapped = exampleBody(
        [example.chunks[1], example.chunks[0], example.chunks[2]] as string[],
        trailerLine,
      );
      for (const body of [tampered, swapped]) {
        await assert.rejects(decode(body, { trailer, chain: chain() }), (error: unknown) => {
          assert.ok(error instanceof ClientRefusal);
          assert.equal(error.code, 'SignatureDoesNotMatch');
          assert.equal(error.reason, 'chunk_signature_mismatch');
          return true;
        });
      }
      const otherSeed = new ChunkSignatureChain({
        signingKey: signingKey(EXAMPLE_SECRET, EXAMPLE_SCOPE),
        amzDate: '20130524T000000Z',
        scope: EXAMPLE_SCOPE,
        seedSignature: STREAMING.seed === example.seed ? TRAILING.seed : STREAMING.seed,
      });
      await assert.rejects(
        decode(exampleBody(example.chunks, trailerLine), { trailer, chain: otherSeed }),
        ClientRefusal,
      );
    });
  }

  it('a changed trailer value, or a missing trailer signature, fails the trailing stream', async () => {
    const chain = () =>
      new ChunkSignatureChain({
        signingKey: signingKey(EXAMPLE_SECRET, EXAMPLE_SCOPE),
        amzDate: '20130524T000000Z',
        scope: EXAMPLE_SCOPE,
        seedSignature: TRAILING.seed,
      });
    const changed = exampleBody(TRAILING.chunks, {
      line: 'x-amz-checksum-crc32c:AAAAAA==',
      signature: TRAILING.trailerSignature,
    });
    await assert.rejects(decode(changed, { trailer: true, chain: chain() }), /trailer signature/);
    const unsigned = Buffer.concat([
      exampleBody(TRAILING.chunks, { line: TRAILING.trailer, signature: TRAILING.trailerSignature }).subarray(
        0,
        -`x-amz-trailer-signature:${TRAILING.trailerSignature}\r\n\r\n`.length,
      ),
      Buffer.from('\r\n'),
    ]);
    await assert.rejects(
      decode(unsigned, { trailer: true, chain: chain() }),
      /without x-amz-trailer-signature/,
    );
  });
});

describe('agreement with the official signer (@smithy/signature-v4)', () => {
  const credentials = { accessKeyId: 'AKIDAGREEMENT', secretAccessKey: 'agreement-secret-0123456789' };
  const lookup = (id: string) => (id === credentials.accessKeyId ? credentials.secretAccessKey : undefined);
  const signer = new SignatureV4({
    credentials,
    region: 'eu-central-1',
    service: 's3',
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false,
  });
  const encodeKey = (key: string) =>
    key
      .split('/')
      .map((s) =>
        encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
      )
      .join('/');
  const wireQuery = (query: Record<string, string | string[]>) =>
    Object.entries(query)
      .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => [name, v] as const))
      .map(([n, v]) => `${encodeKey(n).replaceAll('/', '%2F')}=${encodeKey(v).replaceAll('/', '%2F')}`)
      .join('&');
  const alphabet = [
    'a',
    'Z',
    '0',
    '-',
    '_',
    '.',
    '~',
    ' ',
    '+',
    '%',
    '&',
    '=',
    '/',
    '?',
    '#',
    'é',
    'ሴ',
    '😀',
    '!',
    '*',
    "'",
    '(',
    ')',
  ];
  const randomText = (random: () => number, max: number) =>
    Array.from(
      { length: 1 + Math.floor(random() * max) },
      () => alphabet[Math.floor(random() * alphabet.length)],
    ).join('');

  it('verifies 300 generated header-signed requests: odd keys, repeated query values, extra and repeated headers', async () => {
    const random = seededRandom(2026);
    for (let round = 0; round < 300; round++) {
      const key = randomText(random, 12);
      const query: Record<string, string | string[]> = {};
      for (let i = Math.floor(random() * 3); i > 0; i--) query[randomText(random, 5)] = randomText(random, 6);
      if (random() < 0.3) query.dup = ['b', 'a', 'c'];
      const path = `/bucket/${encodeKey(key)}`;
      const headers: Record<string, string> = {
        host: 'proxy.example:8190',
        'x-amz-content-sha256':
          random() < 0.5
            ? 'UNSIGNED-PAYLOAD'
            : 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        'x-amz-meta-note': `  spaced   value ${round}  `,
        'content-type': 'text/plain; charset=utf-8',
      };
      const signingDate = new Date();
      const signed = await signer.sign(
        { method: 'PUT', protocol: 'http:', hostname: 'proxy.example', port: 8190, path, query, headers },
        { signingDate },
      );
      const rawHeaders = Object.entries(signed.headers).flatMap(([name, value]) => [name, String(value)]);
      const qs = wireQuery(query);
      const request = { method: 'PUT', rawUrl: qs === '' ? path : `${path}?${qs}`, rawHeaders };
      assert.doesNotThrow(() => verifyRequestSignature(request, lookup, signingDate), `${request.rawUrl}`);
      const otherMethod = refusalOf(() =>
        verifyRequestSignature({ ...request, method: 'POST' }, lookup, signingDate),
      );
      assert.equal(otherMethod?.reason, 'signature_mismatch');
    }
  });

  it('verifies presigned URLs, and refuses them once expired, before their time, or altered', async () => {
    const signingDate = new Date('2026-03-01T10:00:00Z');
    const presigned = await signer.presign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: 'proxy.example',
        port: 8190,
        path: `/bucket/${encodeKey('reports/2026 q1.csv')}`,
        query: { 'response-content-type': 'text/csv' },
        // As @aws-sdk/s3-request-presigner does: S3 presigned URLs are UNSIGNED-PAYLOAD (hoisted into the query).
        headers: { host: 'proxy.example:8190', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      },
      { signingDate, expiresIn: 3600 },
    );
    const rawUrl = `${presigned.path}?${wireQuery(presigned.query as Record<string, string>)}`;
    const request = { method: 'GET', rawUrl, rawHeaders: ['Host', 'proxy.example:8190'] };
    const at = (seconds: number) => new Date(signingDate.getTime() + seconds * 1000);
    assert.equal(verifyRequestSignature(request, lookup, at(3599)).form, 'presigned');
    assert.equal(refusalOf(() => verifyRequestSignature(request, lookup, at(3601)))?.reason, 'expired');
    assert.equal(
      refusalOf(() => verifyRequestSignature(request, lookup, at(-16 * 60)))?.reason,
      'not_yet_valid',
    );
    const altered = { ...request, rawUrl: rawUrl.replace('text%2Fcsv', 'text%2Fhtml') };
    assert.equal(
      refusalOf(() => verifyRequestSignature(altered, lookup, at(10)))?.reason,
      'signature_mismatch',
    );
  });
});

describe('refusals', () => {
  const now = new Date('2026-03-01T10:00:00Z');
  const credentials = { accessKeyId: 'AKIDREFUSALS', secretAccessKey: 'refusal-secret-0123456789' };
  const lookup = (id: string) => (id === credentials.accessKeyId ? credentials.secretAccessKey : undefined);
  async function signed(
    options: { headers?: Record<string, string>; date?: Date; secret?: string; keyId?: string } = {},
  ): Promise<SignedRequest> {
    const signer = new SignatureV4({
      credentials: {
        accessKeyId: options.keyId ?? credentials.accessKeyId,
        secretAccessKey: options.secret ?? credentials.secretAccessKey,
      },
      region: 'us-east-1',
      service: 's3',
      sha256: Hash.bind(null, 'sha256'),
      uriEscapePath: false,
    });
    const request = await signer.sign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: 'proxy.example',
        path: '/bucket/key',
        query: {},
        headers: { host: 'proxy.example', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...options.headers },
      },
      { signingDate: options.date ?? now },
    );
    return {
      method: 'GET',
      rawUrl: '/bucket/key',
      rawHeaders: Object.entries(request.headers).flatMap(([name, value]) => [name, String(value)]),
    };
  }
  const reason = (request: SignedRequest, at = now) =>
    refusalOf(() => verifyRequestSignature(request, lookup, at));

  it('names each refusal as S3 does', async () => {
    const base = await signed();
    const cases: [string, SignedRequest, RefusalReason, string][] = [
      [
        'no authentication',
        { method: 'GET', rawUrl: '/bucket/key', rawHeaders: ['Host', 'h'] },
        'unsigned',
        'AccessDenied',
      ],
      ['an unknown key', await signed({ keyId: 'AKIDUNKNOWN' }), 'unknown_key', 'InvalidAccessKeyId'],
      [
        'a wrong secret',
        await signed({ secret: 'wrong-secret-0123456789ab' }),
        'signature_mismatch',
        'SignatureDoesNotMatch',
      ],
      [
        'a 16-minute skew',
        await signed({ date: new Date(now.getTime() - 16 * 60_000) }),
        'clock_skew',
        'RequestTimeTooSkewed',
      ],
      [
        'a session token',
        await signed({ headers: { 'x-amz-security-token': 'token' } }),
        'session_token',
        'InvalidToken',
      ],
      [
        'an unsigned x-amz header',
        { ...base, rawHeaders: [...base.rawHeaders, 'X-Amz-Meta-Added', 'later'] },
        'unsigned_headers',
        'AccessDenied',
      ],
      [
        'SigV2',
        { method: 'GET', rawUrl: '/bucket/key', rawHeaders: ['Host', 'h', 'Authorization', 'AWS AKID:c2ln'] },
        'unsupported_signature',
        'InvalidRequest',
      ],
      [
        'SigV4a',
        {
          method: 'GET',
          rawUrl: '/bucket/key',
          rawHeaders: ['Host', 'h', 'Authorization', 'AWS4-ECDSA-P256-SHA256 Credential=x'],
        },
        'unsupported_signature',
        'InvalidRequest',
      ],
      [
        'a header and a query signature at once',
        { ...base, rawUrl: '/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256' },
        'malformed',
        'InvalidArgument',
      ],
      [
        'no x-amz-content-sha256',
        { ...base, rawHeaders: dropHeader(base.rawHeaders, 'x-amz-content-sha256') },
        'malformed',
        'InvalidRequest',
      ],
      [
        'x-amz-content-sha256 twice',
        {
          ...base,
          rawHeaders: [...base.rawHeaders, 'x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'],
        },
        'malformed',
        'AuthorizationHeaderMalformed',
      ],
      [
        'another service in the scope',
        {
          ...base,
          rawHeaders: base.rawHeaders.map((v) => v.replace('/s3/aws4_request', '/iam/aws4_request')),
        },
        'malformed',
        'AuthorizationHeaderMalformed',
      ],
    ];
    for (const [name, request, expectedReason, code] of cases) {
      assert.deepEqual(reason(request), { reason: expectedReason, code }, name);
    }
    assert.equal(
      reason(await signed({ date: new Date(now.getTime() - 14 * 60_000) })),
      undefined,
      'a 14-minute skew is allowed',
    );
  });

  it('presigned URLs: no more than 7 days, and every parameter present', async () => {
    const url = (expires: number) =>
      `/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${credentials.accessKeyId}%2F20260301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260301T100000Z&X-Amz-Expires=${expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=${'0'.repeat(64)}`;
    const request = (rawUrl: string) => ({ method: 'GET', rawUrl, rawHeaders: ['Host', 'proxy.example'] });
    assert.deepEqual(reason(request(url(604801))), {
      reason: 'malformed',
      code: 'AuthorizationQueryParametersError',
    });
    assert.deepEqual(reason(request(url(604800))), {
      reason: 'signature_mismatch',
      code: 'SignatureDoesNotMatch',
    });
    assert.deepEqual(reason(request(url(60).replace(/&X-Amz-Date=[^&]*/, ''))), {
      reason: 'malformed',
      code: 'AuthorizationQueryParametersError',
    });
    assert.deepEqual(reason(request(`${url(60)}&X-Amz-Security-Token=abc`)), {
      reason: 'session_token',
      code: 'InvalidToken',
    });
  });
});

function dropHeader(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2)
    if ((rawHeaders[i] as string).toLowerCase() !== name)
      out.push(rawHeaders[i] as string, rawHeaders[i + 1] as string);
  return out;
}
