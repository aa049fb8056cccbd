import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  AAD_V1_PART,
  assertStoredSize,
  ciphertextSize,
  decodePartHeader,
  EnvelopeError,
  encodePartHeader,
  META_DEK,
  META_NONCE,
  PART_HEADER_SIZE,
  plaintextSize,
  readEnvelope,
  segmentCount,
  segmentNonce,
} from '../../../src/envelope/index.ts';
import { CHUNKINGS, open, S, seal, sha256 } from './support.ts';

type PlaintextSpec = { hex: string } | { pattern: string; length: number };
type Piece = [number, number] | { hex: string };
type StoredSpec = {
  hex?: string;
  seal?: boolean;
  seal_parts?: boolean;
  from?: string;
  pieces?: Piece[];
  cut?: number;
  append?: string;
  flip?: number[];
};
type Vector = {
  name: string;
  expect: 'success' | 'no envelope' | 'envelope failure' | 'payload failure';
  metadata: Record<string, string>;
  unwrap: Record<string, string>;
  plaintext?: PlaintextSpec;
  parts?: Array<{ wrapped_dek: string; nonce: string; plaintext: PlaintextSpec; stored_length: number }>;
  plaintext_sha256?: string;
  stored: StoredSpec;
  stored_length: number;
  stored_sha256: string;
  error?: string;
  length_check_error?: string;
  released_length?: number;
  released_sha256?: string;
};
type VectorFile = {
  segment_size: number;
  size_vectors: Array<{ plaintext_size: number; stored_size: number }>;
  impossible_stored_sizes: number[];
  nonce_vectors: Array<{ object_nonce: string; index: number; last: boolean; segment_nonce: string }>;
  object_vectors: Vector[];
  multipart_vectors: Vector[];
};

const file = JSON.parse(
  readFileSync(new URL('../../vectors/format-v1.json', import.meta.url), 'utf8'),
) as VectorFile;
const vectors = [...file.object_vectors, ...file.multipart_vectors];
const byName = new Map(vectors.map((vector) => [vector.name, vector]));
const built = new Map<string, Buffer>();

function plaintextOf(spec: PlaintextSpec): Buffer {
  if ('hex' in spec) return Buffer.from(spec.hex, 'hex');
  assert.equal(spec.pattern, 'i%251');
  const data = Buffer.allocUnsafe(spec.length);
  for (let i = 0; i < spec.length; i++) data[i] = i % 251;
  return data;
}

function dekFor(vector: Vector, wrapped: string): Buffer {
  const hex = vector.unwrap[wrapped];
  assert.ok(hex, `${vector.name}: no DEK for ${wrapped}`);
  return Buffer.from(hex, 'hex');
}

/** Builds the stored body as section 12 of FORMAT.md describes; sealing here is the writer check. */
async function storedOf(vector: Vector): Promise<Buffer> {
  const cached = built.get(vector.name);
  if (cached) return cached;
  const spec = vector.stored;
  let stored: Buffer;
  if (spec.hex !== undefined) {
    stored = Buffer.from(spec.hex, 'hex');
  } else if (spec.seal) {
    assert.ok(vector.plaintext);
    stored = await seal(plaintextOf(vector.plaintext), {
      dek: dekFor(vector, vector.metadata[META_DEK] as string),
      nonce: Buffer.from(vector.metadata[META_NONCE] as string, 'base64'),
    });
  } else if (spec.seal_parts) {
    const pieces: Buffer[] = [];
    for (const part of vector.parts ?? []) {
      const plaintext = plaintextOf(part.plaintext);
      const nonce = Buffer.from(part.nonce, 'hex');
      pieces.push(encodePartHeader({ wrappedDek: part.wrapped_dek, nonce, plaintextSize: plaintext.length }));
      pieces.push(await seal(plaintext, { dek: dekFor(vector, part.wrapped_dek), nonce, aad: AAD_V1_PART }));
    }
    stored = Buffer.concat(pieces);
  } else {
    const base = byName.get(spec.from as string);
    assert.ok(base, `${vector.name}: no base vector`);
    let data = await storedOf(base);
    if (spec.pieces) {
      data = Buffer.concat(
        spec.pieces.map((piece) =>
          Array.isArray(piece) ? data.subarray(piece[0], piece[1]) : Buffer.from(piece.hex, 'hex'),
        ),
      );
    }
    if (spec.cut !== undefined) data = data.subarray(0, spec.cut);
    if (spec.append !== undefined) data = Buffer.concat([data, Buffer.from(spec.append, 'hex')]);
    stored = Buffer.from(data);
    for (const offset of spec.flip ?? []) stored[offset] = (stored[offset] as number) ^ 0x01;
  }
  built.set(vector.name, stored);
  return stored;
}

type Decoded = { outcome: Vector['expect']; code?: string; released: Buffer };

async function decodeMultipart(vector: Vector, stored: Buffer): Promise<Decoded> {
  const released: Buffer[] = [];
  let held: Buffer | undefined;
  let offset = 0;
  let parts = 0;
  try {
    for (;;) {
      if (offset === stored.length && parts > 0) {
        if (held) released.push(held);
        return { outcome: 'success', released: Buffer.concat(released) };
      }
      const header = decodePartHeader(stored.subarray(offset));
      if (held) released.push(held);
      held = undefined;
      offset += PART_HEADER_SIZE;
      const sealedLength = ciphertextSize(header.plaintextSize);
      const opened = await open(stored.subarray(offset, offset + sealedLength), {
        dek: dekFor(vector, header.wrappedDek),
        nonce: header.nonce,
        plaintextSize: header.plaintextSize,
        aad: AAD_V1_PART,
      });
      if (opened.error) {
        released.push(opened.output);
        throw opened.error;
      }
      const finalStart = (segmentCount(header.plaintextSize) - 1) * S;
      released.push(opened.output.subarray(0, finalStart));
      held = opened.output.subarray(finalStart);
      offset += sealedLength;
      parts += 1;
    }
  } catch (error) {
    assert.ok(error instanceof EnvelopeError, String(error));
    return { outcome: 'payload failure', code: error.code, released: Buffer.concat(released) };
  }
}

async function decode(vector: Vector, stored: Buffer, pieces?: Buffer[]): Promise<Decoded> {
  let envelope: ReturnType<typeof readEnvelope>;
  try {
    envelope = readEnvelope(vector.metadata);
  } catch (error) {
    assert.ok(error instanceof EnvelopeError, String(error));
    return { outcome: 'envelope failure', code: error.code, released: Buffer.alloc(0) };
  }
  if (envelope === undefined) return { outcome: 'no envelope', released: stored };
  if (envelope.format === 'v1-multipart') return decodeMultipart(vector, stored);
  const opened = await open(
    stored,
    {
      dek: dekFor(vector, envelope.wrappedDek),
      nonce: envelope.nonce,
      plaintextSize: envelope.plaintextSize,
    },
    pieces,
  );
  if (opened.error === undefined) return { outcome: 'success', released: opened.output };
  assert.ok(opened.error instanceof EnvelopeError, String(opened.error));
  return { outcome: 'payload failure', code: opened.error.code, released: opened.output };
}

describe('frozen format-v1 vectors', () => {
  it('uses the segment size of the code', () => {
    assert.equal(file.segment_size, S);
  });

  it('agrees with the size function and its impossible sizes', () => {
    for (const { plaintext_size, stored_size } of file.size_vectors) {
      assert.equal(ciphertextSize(plaintext_size), stored_size);
      assert.equal(plaintextSize(stored_size), plaintext_size);
    }
    for (const stored of file.impossible_stored_sizes) {
      assert.throws(
        () => plaintextSize(stored),
        (e: unknown) => e instanceof EnvelopeError && e.code === 'SIZE_IMPOSSIBLE',
      );
    }
  });

  it('agrees with the nonce derivation', () => {
    for (const v of file.nonce_vectors) {
      assert.equal(
        segmentNonce(Buffer.from(v.object_nonce, 'hex'), v.index, v.last).toString('hex'),
        v.segment_nonce,
      );
    }
  });

  it('covers every named failure a reader can report', () => {
    const codes = new Set(vectors.map((vector) => vector.error).filter(Boolean));
    for (const code of [
      'ENVELOPE_MISSING_FIELD',
      'ENVELOPE_BAD_FIELD',
      'ENVELOPE_UNKNOWN_FORMAT',
      'PART_HEADER_INVALID',
      'SEGMENT_AUTH_FAILED',
      'TRUNCATED',
      'TRAILING_DATA',
    ]) {
      assert.ok(codes.has(code), code);
    }
  });

  for (const vector of vectors) {
    const what = vector.expect === 'success' ? 'decrypts' : `gives ${vector.expect} ${vector.error ?? ''}`;
    it(`${what} for ${vector.name}`, async () => {
      const stored = await storedOf(vector);
      assert.equal(stored.length, vector.stored_length);
      assert.equal(
        sha256(stored),
        vector.stored_sha256,
        'stored body (a seal mismatch here is a writer bug)',
      );

      const chunkings =
        vector.stored_length > 1_000_000
          ? ['whole buffer']
          : ['whole buffer', 'random splits', '1000-byte writes'];
      for (const chunking of chunkings) {
        const split = CHUNKINGS[chunking];
        assert.ok(split);
        const decoded = await decode(vector, stored, split(stored));
        assert.equal(decoded.outcome, vector.expect, `${chunking}: ${decoded.code ?? ''}`);
        if (vector.expect === 'success') {
          assert.equal(sha256(decoded.released), vector.plaintext_sha256, chunking);
        } else if (vector.expect !== 'no envelope') {
          assert.equal(decoded.code, vector.error, chunking);
          assert.equal(decoded.released.length, vector.released_length, chunking);
          assert.equal(sha256(decoded.released), vector.released_sha256, chunking);
        }
      }

      const envelope = vector.expect === 'envelope failure' ? undefined : readEnvelope(vector.metadata);
      if (envelope?.format === 'v1') {
        let lengthError: string | undefined;
        try {
          assertStoredSize(envelope.plaintextSize, stored.length);
        } catch (error) {
          assert.ok(error instanceof EnvelopeError);
          lengthError = error.code;
        }
        assert.equal(lengthError, vector.length_check_error);
      }

      if (
        vector.expect === 'success' &&
        vector.stored.hex !== undefined &&
        vector.plaintext &&
        envelope?.format === 'v1'
      ) {
        const resealed = await seal(plaintextOf(vector.plaintext), {
          dek: dekFor(vector, envelope.wrappedDek),
          nonce: envelope.nonce,
        });
        assert.equal(sha256(resealed), vector.stored_sha256, 're-sealing gives the frozen bytes');
      }
    });
  }
});
