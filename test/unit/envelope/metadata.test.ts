import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EnvelopeError,
  envelopeToHeaders,
  isEnvelopeHeader,
  MAX_PLAINTEXT_SIZE,
  multipartEnvelopeHeaders,
  readEnvelope,
} from '../../../src/envelope/index.ts';

const nonce = Buffer.from('000102030405060708090a0b', 'hex');
const wrappedDek = 'vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w==';
const headers = {
  'x-amz-meta-cloudtaser-format': 'v1',
  'x-amz-meta-cloudtaser-dek': wrappedDek,
  'x-amz-meta-cloudtaser-nonce': 'AAECAwQFBgcICQoL',
  'x-amz-meta-cloudtaser-size': '1048576',
};

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof EnvelopeError && error.code === code);
}

describe('envelopeToHeaders', () => {
  it('writes the four exact metadata names with base64 nonce and decimal size', () => {
    assert.deepEqual(envelopeToHeaders({ format: 'v1', wrappedDek, nonce, plaintextSize: 1048576 }), headers);
  });

  it('marks a multipart object with the format only', () => {
    assert.deepEqual(multipartEnvelopeHeaders(), { 'x-amz-meta-cloudtaser-format': 'v1-multipart' });
  });

  it('refuses a nonce of the wrong length, a non-ASCII wrapped DEK and an impossible size', () => {
    throwsCode(
      () => envelopeToHeaders({ format: 'v1', wrappedDek, nonce: Buffer.alloc(16), plaintextSize: 1 }),
      'ENVELOPE_BAD_FIELD',
    );
    throwsCode(
      () => envelopeToHeaders({ format: 'v1', wrappedDek: 'vault:v1:é', nonce, plaintextSize: 1 }),
      'ENVELOPE_BAD_FIELD',
    );
    throwsCode(
      () => envelopeToHeaders({ format: 'v1', wrappedDek, nonce, plaintextSize: MAX_PLAINTEXT_SIZE + 1 }),
      'ENVELOPE_BAD_FIELD',
    );
  });
});

describe('readEnvelope', () => {
  it('reads what envelopeToHeaders wrote', () => {
    assert.deepEqual(readEnvelope(headers), { format: 'v1', wrappedDek, nonce, plaintextSize: 1048576 });
  });

  it('returns undefined for an object without the format header (written before the proxy)', () => {
    assert.equal(readEnvelope({ 'content-type': 'text/plain', 'x-amz-meta-owner': 'me' }), undefined);
  });

  it('reads header names in any case and single-element lists', () => {
    const mixed = {
      'X-Amz-Meta-Cloudtaser-Format': ['v1'],
      'X-AMZ-META-CLOUDTASER-DEK': wrappedDek,
      'x-amz-meta-cloudtaser-nonce': 'AAECAwQFBgcICQoL',
      'x-amz-meta-cloudtaser-size': '0',
    };
    assert.deepEqual(readEnvelope(mixed), { format: 'v1', wrappedDek, nonce, plaintextSize: 0 });
  });

  it('returns the multipart variant and ignores unknown names under the prefix', () => {
    assert.deepEqual(readEnvelope({ 'x-amz-meta-cloudtaser-format': 'v1-multipart' }), {
      format: 'v1-multipart',
    });
    assert.deepEqual(readEnvelope({ ...headers, 'x-amz-meta-cloudtaser-future': 'x' })?.format, 'v1');
  });

  it('fails with ENVELOPE_UNKNOWN_FORMAT on any other format value', () => {
    for (const format of ['v2', 'V1', 'v1 ', '', 'v1-Multipart']) {
      throwsCode(
        () => readEnvelope({ ...headers, 'x-amz-meta-cloudtaser-format': format }),
        'ENVELOPE_UNKNOWN_FORMAT',
      );
    }
  });

  for (const field of ['dek', 'nonce', 'size']) {
    it(`fails with ENVELOPE_MISSING_FIELD when ${field} is missing`, () => {
      const partial: Record<string, string> = { ...headers };
      delete partial[`x-amz-meta-cloudtaser-${field}`];
      throwsCode(() => readEnvelope(partial), 'ENVELOPE_MISSING_FIELD');
    });
  }

  const badValues: Array<[field: string, value: string]> = [
    ['dek', ''],
    ['dek', 'vault:v1:has space'],
    ['dek', 'x'.repeat(1025)],
    ['nonce', 'AAECAwQFBgcICQo='],
    ['nonce', 'AAECAwQFBgcICQoLDA=='],
    ['nonce', 'AAECAwQFBgcICQo'],
    ['nonce', 'AAECAwQFBgcICQ-_'],
    ['nonce', 'AAECAwQFBgcICQoL '],
    ['size', ''],
    ['size', '01'],
    ['size', '-1'],
    ['size', '1.0'],
    ['size', '1e3'],
    ['size', ' 1'],
    ['size', '0x10'],
    ['size', String(MAX_PLAINTEXT_SIZE + 1)],
    ['size', '99999999999999999999'],
  ];
  for (const [field, value] of badValues) {
    it(`fails with ENVELOPE_BAD_FIELD on ${field} ${JSON.stringify(value.length > 40 ? `${value.slice(0, 10)}…` : value)}`, () => {
      throwsCode(
        () => readEnvelope({ ...headers, [`x-amz-meta-cloudtaser-${field}`]: value }),
        'ENVELOPE_BAD_FIELD',
      );
    });
  }

  it('fails with ENVELOPE_BAD_FIELD when a field appears twice', () => {
    throwsCode(
      () =>
        readEnvelope({ ...headers, 'x-amz-meta-cloudtaser-nonce': ['AAECAwQFBgcICQoL', 'AAECAwQFBgcICQoL'] }),
      'ENVELOPE_BAD_FIELD',
    );
    throwsCode(
      () => readEnvelope({ ...headers, 'X-Amz-Meta-Cloudtaser-Size': '1048576' }),
      'ENVELOPE_BAD_FIELD',
    );
  });

  it('accepts the largest allowed size', () => {
    const read = readEnvelope({ ...headers, 'x-amz-meta-cloudtaser-size': String(MAX_PLAINTEXT_SIZE) });
    assert.equal(read?.format === 'v1' ? read.plaintextSize : undefined, MAX_PLAINTEXT_SIZE);
  });
});

describe('isEnvelopeHeader', () => {
  it('claims every name under x-amz-meta-cloudtaser- in any case, and nothing else', () => {
    assert.equal(isEnvelopeHeader('x-amz-meta-cloudtaser-dek'), true);
    assert.equal(isEnvelopeHeader('X-Amz-Meta-CloudTaser-Anything'), true);
    assert.equal(isEnvelopeHeader('x-amz-meta-cloudtaser-'), true);
    assert.equal(isEnvelopeHeader('x-amz-meta-cloudtaser'), false);
    assert.equal(isEnvelopeHeader('x-amz-meta-owner'), false);
    assert.equal(isEnvelopeHeader('content-type'), false);
  });
});

describe('the recorded Transit key (x-amz-meta-cloudtaser-transit-key)', () => {
  it('is written for single-part and multipart objects when given, and read back', () => {
    const written = envelopeToHeaders({
      format: 'v1',
      wrappedDek,
      nonce,
      plaintextSize: 5,
      transitKey: 'team-a/transit/key-a',
    });
    assert.equal(written['x-amz-meta-cloudtaser-transit-key'], 'team-a/transit/key-a');
    assert.equal(readEnvelope(written)?.transitKey, 'team-a/transit/key-a');
    const multipart = multipartEnvelopeHeaders('transit/key-b');
    assert.deepEqual(readEnvelope(multipart), { format: 'v1-multipart', transitKey: 'transit/key-b' });
  });

  it('is absent when not given, which readers take as the default key', () => {
    assert.equal(
      'x-amz-meta-cloudtaser-transit-key' in
        envelopeToHeaders({ format: 'v1', wrappedDek, nonce, plaintextSize: 0 }),
      false,
    );
    assert.deepEqual(multipartEnvelopeHeaders(), { 'x-amz-meta-cloudtaser-format': 'v1-multipart' });
    assert.equal(readEnvelope(headers)?.transitKey, undefined);
  });

  it('is never written malformed, and a malformed one read is ENVELOPE_BAD_FIELD', () => {
    assert.throws(
      () =>
        envelopeToHeaders({ format: 'v1', wrappedDek, nonce, plaintextSize: 0, transitKey: 'transit/a b' }),
      (error: unknown) => error instanceof EnvelopeError && error.code === 'ENVELOPE_BAD_FIELD',
    );
    assert.throws(
      () =>
        readEnvelope({
          'x-amz-meta-cloudtaser-format': 'v1-multipart',
          'x-amz-meta-cloudtaser-transit-key': ['a/b', 'a/c'],
        }),
      (error: unknown) => error instanceof EnvelopeError && error.code === 'ENVELOPE_BAD_FIELD',
    );
  });
});
