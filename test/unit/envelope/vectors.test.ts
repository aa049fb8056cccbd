import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  assertStoredSize,
  ciphertextSize,
  createMultipartOpenStream,
  createPartSealStream,
  discoverPartLayout,
  EnvelopeError,
  META_DEK,
  META_NONCE,
  multipartListingPlaintextSize,
  PART_HEADER_SIZE,
  type PartLayout,
  partCiphertextSize,
  plaintextSize,
  planMultipartRead,
  readEnvelope,
  segmentNonce,
  uploadBinding,
} from '../../../src/envelope/index.ts';
import { CHUNKINGS, open, run, S, seal, sha256 } from './support.ts';

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
  parts?: Array<{
    part_number: number;
    upload_id: string;
    upload_binding: string;
    wrapped_dek: string;
    nonce: string;
    plaintext: PlaintextSpec;
    stored_length: number;
  }>;
  plaintext_sha256?: string;
  stored: StoredSpec;
  stored_length: number;
  stored_sha256: string;
  error?: string;
  length_check_error?: string;
  layout_error?: string;
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
  upload_binding_vectors: Array<{ upload_id: string; upload_binding: string }>;
  multipart_size_vectors: Array<{
    part_plaintext_sizes: number[] | { repeat: number; count: number };
    part_count: number;
    stored_size: number;
    plaintext_size: number;
    listing_plaintext_size: number;
  }>;
  impossible_multipart_sizes: Array<{ stored_size: number; part_count: number }>;
};

const file = JSON.parse(
  readFileSync(new URL('../../vectors/format-v1.json', import.meta.url), 'utf8'),
) as VectorFile;
/** The recorded Transit key's vectors (decision 0013): the same layout, frozen the same way. */
const transitKeyFile = JSON.parse(
  readFileSync(new URL('../../vectors/format-v1-transit-key.json', import.meta.url), 'utf8'),
) as VectorFile;
const vectors = [
  ...file.object_vectors,
  ...file.multipart_vectors,
  ...transitKeyFile.object_vectors,
  ...transitKeyFile.multipart_vectors,
];
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
      const binding = uploadBinding(part.upload_id);
      assert.equal(binding.toString('hex'), part.upload_binding, `${vector.name}: upload binding`);
      const header = {
        wrappedDek: part.wrapped_dek,
        nonce: Buffer.from(part.nonce, 'hex'),
        plaintextSize: plaintext.length,
        partNumber: part.part_number,
        uploadBinding: binding,
      };
      const sealed = await run(
        [plaintext],
        createPartSealStream({ dek: dekFor(vector, part.wrapped_dek), header }),
      );
      assert.equal(sealed.error, undefined);
      assert.equal(sealed.output.length, part.stored_length);
      assert.equal(sealed.output.length, partCiphertextSize(plaintext.length));
      pieces.push(sealed.output);
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

type Decoded = { outcome: Vector['expect']; code?: string; released: Buffer; layoutError?: string };

/**
 * Reads a multipart vector as the proxy does (FORMAT.md section 9.4): locate the parts from the stored
 * length and their headers, then stream the whole body through createMultipartOpenStream.
 */
async function decodeMultipart(vector: Vector, stored: Buffer, pieces?: Buffer[]): Promise<Decoded> {
  let layout: PartLayout;
  try {
    layout = await discoverPartLayout(stored.length, async (offset) =>
      stored.subarray(offset, offset + PART_HEADER_SIZE),
    );
  } catch (error) {
    assert.ok(error instanceof EnvelopeError, String(error));
    return {
      outcome: 'payload failure',
      code: error.code,
      released: Buffer.alloc(0),
      layoutError: error.code,
    };
  }
  const end = layout.plainSize - 1;
  assert.deepEqual(planMultipartRead(layout, 0, end), {
    cipherStart: 0,
    cipherEndInclusive: stored.length - 1,
  });
  const opened = await run(
    pieces ?? (stored.length === 0 ? [] : [stored]),
    createMultipartOpenStream({
      layout,
      start: 0,
      endInclusive: end,
      dataKey: async (part) => dekFor(vector, part.header.wrappedDek),
    }),
  );
  if (opened.error === undefined) return { outcome: 'success', released: opened.output };
  assert.ok(opened.error instanceof EnvelopeError, String(opened.error));
  return { outcome: 'payload failure', code: opened.error.code, released: opened.output };
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
  if (envelope.format === 'v1-multipart') return decodeMultipart(vector, stored, pieces);
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
  it('reads the recorded Transit key of every vector that names one (absent: null, the default key)', () => {
    const named = vectors.filter((vector) => 'transit_key' in vector);
    assert.equal(named.length, 4);
    for (const vector of named) {
      const expected = (vector as { transit_key: string | null }).transit_key;
      assert.equal(readEnvelope(vector.metadata)?.transitKey, expected ?? undefined, vector.name);
    }
  });

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

  it('agrees with the upload binding', () => {
    for (const v of file.upload_binding_vectors) {
      assert.equal(uploadBinding(v.upload_id).toString('hex'), v.upload_binding, v.upload_id);
    }
  });

  it('agrees with the multipart listing size rule and its impossible sizes', () => {
    for (const v of file.multipart_size_vectors) {
      const sizes = Array.isArray(v.part_plaintext_sizes)
        ? v.part_plaintext_sizes
        : Array.from(
            { length: v.part_plaintext_sizes.count },
            () => (v.part_plaintext_sizes as { repeat: number }).repeat,
          );
      assert.equal(sizes.length, v.part_count);
      assert.equal(
        sizes.reduce((sum, p) => sum + partCiphertextSize(p), 0),
        v.stored_size,
      );
      assert.equal(multipartListingPlaintextSize(v.stored_size, v.part_count), v.listing_plaintext_size);
    }
    for (const v of file.impossible_multipart_sizes) {
      assert.throws(
        () => multipartListingPlaintextSize(v.stored_size, v.part_count),
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
      'PART_ORDER',
      'PART_UPLOAD_MISMATCH',
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
        } else if (decoded.layoutError !== undefined || vector.layout_error !== undefined) {
          // Locating the parts fails before the body: nothing is released (section 9.4).
          assert.equal(decoded.layoutError, vector.layout_error, chunking);
          assert.equal(decoded.released.length, 0, chunking);
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
