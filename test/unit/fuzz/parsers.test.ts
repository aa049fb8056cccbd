import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { decodePartHeader, EnvelopeError, readEnvelope } from '../../../src/envelope/index.ts';
import { createAwsChunkedDecoder } from '../../../src/s3/aws-chunked/index.ts';
import { classifyRequest } from '../../../src/s3/classify.ts';
import { S3Error } from '../../../src/s3/errors.ts';
import { parseRange, resolveRange } from '../../../src/s3/range.ts';
import { parseCompleteMultipartUpload } from '../../../src/s3/xml/complete-multipart.ts';
import { seededRandom } from '../../support/fixtures.ts';

const ALPHABETS = {
  chunked: '0123456789abcdefABCDEF;=\r\n:-xchunk-signature',
  range: 'bytes=0123456789-, \t',
  url: 'abc/%?&=+.-_~ 09\u00e9\u65e5',
  xml: '<>/ CompleteMultipartUploadPartNumberETag"0123456789&;amp?xml',
};

function randomText(random: () => number, alphabet: string, maxLength: number): string {
  const length = Math.floor(random() * maxLength);
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
  return text;
}

/** Hostile input must end in the parser's own error type, never in a crash or another exception. */
function onlyExpectedErrors(
  run: () => unknown,
  expected: new (...args: never[]) => Error,
  input: string,
): void {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof expected, `input ${JSON.stringify(input)} threw ${String(error)}`);
  }
}

describe('parsers fed random and mutated input fail only with their own errors', () => {
  it('Range parsing and resolution never throw', () => {
    const random = seededRandom(1);
    for (let i = 0; i < 5000; i++) {
      const header = randomText(random, ALPHABETS.range, 30);
      const parsed = parseRange(header);
      if (parsed !== undefined && parsed !== 'invalid') {
        const resolved = resolveRange(parsed, Math.floor(random() * 1000));
        if (typeof resolved === 'object') assert.ok(resolved.start <= resolved.end, header);
      }
    }
  });

  it('request classification throws nothing but S3 errors', () => {
    const random = seededRandom(2);
    for (let i = 0; i < 5000; i++) {
      const rawUrl = `/${randomText(random, ALPHABETS.url, 40)}`;
      const method = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'PATCH'][Math.floor(random() * 6)] ?? 'GET';
      onlyExpectedErrors(
        () =>
          classifyRequest(
            { method, rawUrl, host: 'localhost', headers: {} },
            { virtualHostDomains: ['localhost'] },
          ),
        S3Error,
        rawUrl,
      );
    }
  });

  it('CompleteMultipartUpload XML parsing throws nothing but S3 errors', () => {
    const random = seededRandom(3);
    const valid =
      '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part></CompleteMultipartUpload>';
    for (let i = 0; i < 3000; i++) {
      const xml =
        random() < 0.5
          ? randomText(random, ALPHABETS.xml, 120)
          : valid.slice(0, Math.floor(random() * valid.length)) + randomText(random, ALPHABETS.xml, 20);
      onlyExpectedErrors(() => parseCompleteMultipartUpload(xml), S3Error, xml);
    }
  });

  it('envelope metadata and part headers throw nothing but envelope errors', () => {
    const random = seededRandom(4);
    for (let i = 0; i < 3000; i++) {
      const headers = {
        'x-amz-meta-cloudtaser-format': random() < 0.8 ? 'v1' : randomText(random, 'v1-multipart', 12),
        'x-amz-meta-cloudtaser-dek': randomText(random, 'vault:v1:AB+/=', 40),
        'x-amz-meta-cloudtaser-nonce': randomText(random, 'ABCDabcd0123+/=', 20),
        'x-amz-meta-cloudtaser-size': randomText(random, '0123456789-e.', 18),
      };
      onlyExpectedErrors(() => readEnvelope(headers), EnvelopeError, JSON.stringify(headers));
      const header = Buffer.from(
        Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)),
      );
      if (random() < 0.5 && header.length >= 8) Buffer.from('CTS3PRT1').copy(header);
      onlyExpectedErrors(() => decodePartHeader(header), EnvelopeError, header.toString('hex'));
    }
  });

  it('the aws-chunked decoder ends every random or mutated body with data or an S3 error', async () => {
    const random = seededRandom(5);
    const valid = '5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n';
    for (let i = 0; i < 1500; i++) {
      let body = valid;
      if (random() < 0.5) body = randomText(random, ALPHABETS.chunked, 80);
      else {
        const at = Math.floor(random() * body.length);
        body =
          body.slice(0, at) +
          randomText(random, ALPHABETS.chunked, 4) +
          body.slice(at + Math.floor(random() * 3));
      }
      const decoder = createAwsChunkedDecoder({
        signed: random() < 0.3,
        trailer: random() < 0.7,
        maxChunkSize: 1 << 20,
      });
      try {
        for await (const _chunk of Readable.from([Buffer.from(body)]).pipe(decoder)) {
          // drained
        }
      } catch (error) {
        assert.ok(error instanceof S3Error, `body ${JSON.stringify(body)} failed with ${String(error)}`);
      }
    }
  });
});
