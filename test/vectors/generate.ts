/**
 * Writes test/vectors/format-v1.json ONCE. The file is then frozen: tests check the code against it and
 * never regenerate it, so that a writer and reader that drift together are still caught. This script
 * refuses to overwrite an existing file; a format change needs a new format id and a new vector file.
 *
 * The one exception, made before any multipart object existed: the multipart vectors (and the sections
 * after them) were regenerated for the revised v1-multipart layout of decision 0005. The single-part
 * vectors this script writes are byte-identical to the frozen ones (keys and nonces derive from names).
 *
 * Keys and nonces are derived from the vector names so that a reviewer can rerun the script into
 * another path (`node test/vectors/generate.ts /tmp/x.json`) and diff. Expected failures and released
 * bytes are declared here from the rules in docs/FORMAT.md, not read back from the decoder.
 *
 * Run: node test/vectors/generate.ts [output path]
 */
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ciphertextSize,
  createSealStream,
  encodePartHeader,
  envelopeToHeaders,
  type EnvelopeErrorCode,
  MAX_PLAINTEXT_SIZE,
  multipartEnvelopeHeaders,
  multipartListingPlaintextSize,
  PART_HEADER_SIZE,
  partCiphertextSize,
  segmentNonce,
  uploadBinding,
} from '../../src/envelope/index.ts';
import { derive, sealBytes, sha256 } from './vector-support.ts';

const S = 65536;
const B = S + 16;
const HEX_LIMIT = 1024;
const output = process.argv[2] ?? fileURLToPath(new URL('./format-v1.json', import.meta.url));
if (existsSync(output)) {
  console.error(`${output} exists and is frozen; write to another path to compare`);
  process.exit(1);
}


type PlaintextSpec = { hex: string } | { pattern: 'i%251'; length: number };

function patternBytes(length: number): Buffer {
  const data = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) data[i] = i % 251;
  return data;
}

function describePlaintext(data: Buffer, asPattern: boolean): PlaintextSpec {
  return asPattern ? { pattern: 'i%251', length: data.length } : { hex: data.toString('hex') };
}


type Base = { name: string; plaintext: Buffer; stored: Buffer; metadata: Record<string, string>; unwrap: Record<string, string> };
const bases = new Map<string, Base>();
const objectVectors: unknown[] = [];

async function valid(name: string, comment: string, plaintext: Buffer, asPattern: boolean, nonceOverride?: Buffer) {
  const dek = derive('dek', name, 32);
  const nonce = nonceOverride ?? derive('nonce', name, 12);
  const wrappedDek = `vault:v1:vector-${name}`;
  const stored = await sealBytes(plaintext, dek, nonce);
  if (stored.length !== ciphertextSize(plaintext.length)) throw new Error(`size function broken for ${name}`);
  const metadata = envelopeToHeaders({ format: 'v1', wrappedDek, nonce, plaintextSize: plaintext.length });
  const unwrap = { [wrappedDek]: dek.toString('hex') };
  bases.set(name, { name, plaintext, stored, metadata, unwrap });
  objectVectors.push({
    name,
    comment,
    expect: 'success',
    metadata,
    unwrap,
    plaintext: describePlaintext(plaintext, asPattern),
    plaintext_sha256: sha256(plaintext),
    stored: stored.length <= HEX_LIMIT ? { hex: stored.toString('hex') } : { seal: true },
    stored_length: stored.length,
    stored_sha256: sha256(stored),
  });
}

type Piece = [start: number, end: number] | { hex: string };

type Invalid = {
  name: string;
  breaks: string;
  from: string;
  expect: 'envelope failure' | 'payload failure';
  error: EnvelopeErrorCode;
  releasedLength: number;
  pieces?: Piece[];
  flip?: number[];
  metadata?: Record<string, string | undefined>;
  unwrap?: Record<string, string>;
  lengthCheckError?: EnvelopeErrorCode;
};

function invalid(v: Invalid) {
  const base = bases.get(v.from);
  if (!base) throw new Error(`no base ${v.from}`);
  const pieces = v.pieces ?? [[0, base.stored.length]];
  const stored = Buffer.concat(
    pieces.map((piece) =>
      Array.isArray(piece) ? base.stored.subarray(piece[0], piece[1]) : Buffer.from(piece.hex, 'hex'),
    ),
  );
  for (const offset of v.flip ?? []) stored[offset] = (stored[offset] as number) ^ 0x01;
  const metadata: Record<string, string> = { ...base.metadata };
  for (const [key, value] of Object.entries(v.metadata ?? {})) {
    if (value === undefined) delete metadata[key];
    else metadata[key] = value;
  }
  const released = base.plaintext.subarray(0, v.releasedLength);
  objectVectors.push({
    name: v.name,
    breaks: v.breaks,
    expect: v.expect,
    error: v.error,
    ...(v.lengthCheckError ? { length_check_error: v.lengthCheckError } : {}),
    released_length: released.length,
    released_sha256: sha256(released),
    metadata,
    unwrap: v.unwrap ?? base.unwrap,
    stored: {
      from: v.from,
      ...(v.pieces ? { pieces: v.pieces } : {}),
      ...(v.flip ? { flip: v.flip } : {}),
    },
    stored_length: stored.length,
    stored_sha256: sha256(stored),
  });
}

// Valid single-part objects.
await valid('empty', 'P = 0: one empty final segment, 16 stored bytes (the tag only)', Buffer.alloc(0), false);
await valid('one-byte', 'P = 1', Buffer.from('2a', 'hex'), false);
await valid(
  'ascii-line',
  'a short text',
  Buffer.from('cloudtaser-s3 format v1: the storage provider only ever sees this as ciphertext.\n'),
  false,
);
await valid(
  'nonce-all-ones',
  'object nonce ff..ff, so a reader that ORs instead of XORs the counter and flag fails',
  patternBytes(300),
  false,
  Buffer.alloc(12, 0xff),
);
await valid('segment-minus-one', 'P = S - 1: one short final segment', patternBytes(S - 1), true);
await valid('one-segment', 'P = S: one full final segment, no empty segment after it', patternBytes(S), true);
await valid('segment-plus-one', 'P = S + 1: a full segment, then a 1-byte final segment', patternBytes(S + 1), true);
await valid('two-segments', 'P = 2S', patternBytes(2 * S), true);
await valid('four-segments', 'P = 3S + 7: three full segments and a 7-byte final segment', patternBytes(3 * S + 7), true);
await valid(
  'counter-past-255',
  'P = 256S + 1: 257 segments, so the counter needs more than its lowest byte',
  patternBytes(256 * S + 1),
  true,
);
{
  const base = bases.get('one-byte');
  if (!base) throw new Error('one-byte missing');
  objectVectors.push({
    name: 'unknown-envelope-name-ignored',
    comment: 'an unknown x-amz-meta-cloudtaser-* name is ignored by v1 readers',
    expect: 'success',
    metadata: { ...base.metadata, 'x-amz-meta-cloudtaser-comment': 'ignored' },
    unwrap: base.unwrap,
    plaintext: { hex: base.plaintext.toString('hex') },
    plaintext_sha256: sha256(base.plaintext),
    stored: { hex: base.stored.toString('hex') },
    stored_length: base.stored.length,
    stored_sha256: sha256(base.stored),
  });
  objectVectors.push({
    name: 'no-envelope',
    comment: 'no x-amz-meta-cloudtaser-format: an object written without the proxy, served as it is',
    expect: 'no envelope',
    metadata: { 'x-amz-meta-owner': 'someone' },
    unwrap: {},
    stored: { hex: '68656c6c6f' },
    stored_length: 5,
    stored_sha256: sha256(Buffer.from('hello')),
  });
}

// Invalid single-part objects, each derived from a valid one.
const four = 'four-segments';
const fourSize = 3 * S + 7;
const fourStored = ciphertextSize(fourSize);
const seg = (i: number): [number, number] => [i * B, Math.min(fourStored, (i + 1) * B)];
for (const i of [0, 1, 2, 3]) {
  invalid({
    name: `segment-${i}-body-flipped`,
    breaks: `byte 5 of segment ${i}'s ciphertext`,
    from: four,
    flip: [i * B + 5],
    expect: 'payload failure',
    error: 'SEGMENT_AUTH_FAILED',
    releasedLength: i * S,
  });
  invalid({
    name: `segment-${i}-tag-flipped`,
    breaks: `the last byte of segment ${i}'s tag`,
    from: four,
    flip: [seg(i)[1] - 1],
    expect: 'payload failure',
    error: 'SEGMENT_AUTH_FAILED',
    releasedLength: i * S,
  });
}
invalid({
  name: 'empty-tag-flipped',
  breaks: 'byte 0 of the only (empty) segment tag',
  from: 'empty',
  flip: [0],
  expect: 'payload failure',
  error: 'SEGMENT_AUTH_FAILED',
  releasedLength: 0,
});
invalid({
  name: 'empty-body-missing',
  breaks: 'the 16-byte body of an empty object is absent',
  from: 'empty',
  pieces: [],
  expect: 'payload failure',
  error: 'TRUNCATED',
  lengthCheckError: 'SIZE_IMPOSSIBLE',
  releasedLength: 0,
});
invalid({
  name: 'truncated-inside-segment-0',
  breaks: 'stored body cut after 100 bytes',
  from: four,
  pieces: [[0, 100]],
  expect: 'payload failure',
  error: 'TRUNCATED',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 0,
});
invalid({
  name: 'truncated-at-segment-boundary',
  breaks: 'stored body cut exactly after segment 1: no final segment',
  from: four,
  pieces: [[0, 2 * B]],
  expect: 'payload failure',
  error: 'TRUNCATED',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 2 * S,
});
invalid({
  name: 'final-segment-removed',
  breaks: 'segment 3 (the final one) is absent',
  from: four,
  pieces: [[0, 3 * B]],
  expect: 'payload failure',
  error: 'TRUNCATED',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 3 * S,
});
invalid({
  name: 'final-segment-removed-size-lowered',
  breaks: 'segment 3 absent and the size field lowered to 3S to match; segment 2 is not sealed as final',
  from: four,
  pieces: [[0, 3 * B]],
  metadata: { 'x-amz-meta-cloudtaser-size': String(3 * S) },
  expect: 'payload failure',
  error: 'SEGMENT_AUTH_FAILED',
  releasedLength: 2 * S,
});
invalid({
  name: 'last-byte-removed',
  breaks: 'the last byte of the final tag is absent',
  from: four,
  pieces: [[0, fourStored - 1]],
  expect: 'payload failure',
  error: 'TRUNCATED',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 3 * S,
});
invalid({
  name: 'byte-appended',
  breaks: 'one zero byte after the final segment',
  from: four,
  pieces: [[0, fourStored], { hex: '00' }],
  expect: 'payload failure',
  error: 'TRAILING_DATA',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 3 * S,
});
invalid({
  name: 'segment-appended',
  breaks: 'segment 0 repeated after the final segment',
  from: four,
  pieces: [[0, fourStored], seg(0)],
  expect: 'payload failure',
  error: 'TRAILING_DATA',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 3 * S,
});
invalid({
  name: 'segments-swapped',
  breaks: 'segments 0 and 1 in each other’s place',
  from: four,
  pieces: [seg(1), seg(0), seg(2), seg(3)],
  expect: 'payload failure',
  error: 'SEGMENT_AUTH_FAILED',
  releasedLength: 0,
});
invalid({
  name: 'segment-repeated',
  breaks: 'segment 1 stored twice in a row',
  from: four,
  pieces: [seg(0), seg(1), seg(1), seg(2), seg(3)],
  expect: 'payload failure',
  error: 'SEGMENT_AUTH_FAILED',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 2 * S,
});
invalid({
  name: 'final-segment-moved',
  breaks: 'the final segment stored before segment 2',
  from: four,
  pieces: [seg(0), seg(1), seg(3), seg(2)],
  expect: 'payload failure',
  error: 'SEGMENT_AUTH_FAILED',
  releasedLength: 2 * S,
});
invalid({
  name: 'size-one-larger',
  breaks: 'size field 3S + 8 instead of 3S + 7',
  from: four,
  metadata: { 'x-amz-meta-cloudtaser-size': String(fourSize + 1) },
  expect: 'payload failure',
  error: 'TRUNCATED',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 3 * S,
});
invalid({
  name: 'size-one-smaller',
  breaks: 'size field 3S + 6 instead of 3S + 7',
  from: four,
  metadata: { 'x-amz-meta-cloudtaser-size': String(fourSize - 1) },
  expect: 'payload failure',
  error: 'SEGMENT_AUTH_FAILED',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 3 * S,
});
invalid({
  name: 'size-one-segment-smaller',
  breaks: 'size field 2S + 7: segment 2 is read as the final one',
  from: four,
  metadata: { 'x-amz-meta-cloudtaser-size': String(fourSize - S) },
  expect: 'payload failure',
  error: 'SEGMENT_AUTH_FAILED',
  lengthCheckError: 'SIZE_MISMATCH',
  releasedLength: 2 * S,
});
invalid({
  name: 'nonce-changed',
  breaks: 'the nonce field of another object',
  from: four,
  metadata: { 'x-amz-meta-cloudtaser-nonce': derive('nonce', 'another object', 12).toString('base64') },
  expect: 'payload failure',
  error: 'SEGMENT_AUTH_FAILED',
  releasedLength: 0,
});
invalid({
  name: 'wrong-dek',
  breaks: 'the wrapped DEK unwraps to another key',
  from: four,
  unwrap: { 'vault:v1:vector-four-segments': derive('dek', 'another object', 32).toString('hex') },
  expect: 'payload failure',
  error: 'SEGMENT_AUTH_FAILED',
  releasedLength: 0,
});
const envelopeFailures: Array<[string, string, Record<string, string | undefined>, EnvelopeErrorCode]> = [
  ['format-unknown', 'format field "v2"', { 'x-amz-meta-cloudtaser-format': 'v2' }, 'ENVELOPE_UNKNOWN_FORMAT'],
  ['dek-missing', 'no dek field', { 'x-amz-meta-cloudtaser-dek': undefined }, 'ENVELOPE_MISSING_FIELD'],
  ['nonce-missing', 'no nonce field', { 'x-amz-meta-cloudtaser-nonce': undefined }, 'ENVELOPE_MISSING_FIELD'],
  ['size-missing', 'no size field', { 'x-amz-meta-cloudtaser-size': undefined }, 'ENVELOPE_MISSING_FIELD'],
  ['nonce-short', 'nonce field of 11 bytes', { 'x-amz-meta-cloudtaser-nonce': 'AAECAwQFBgcICQo=' }, 'ENVELOPE_BAD_FIELD'],
  ['nonce-urlsafe', 'nonce field in the URL-safe alphabet', { 'x-amz-meta-cloudtaser-nonce': '__79_Pv6-fj39vX0' }, 'ENVELOPE_BAD_FIELD'],
  ['size-leading-zero', 'size field with a leading zero', { 'x-amz-meta-cloudtaser-size': `0${fourSize}` }, 'ENVELOPE_BAD_FIELD'],
  ['size-negative', 'size field -1', { 'x-amz-meta-cloudtaser-size': '-1' }, 'ENVELOPE_BAD_FIELD'],
  ['size-too-large', 'size field 2^52 + 1', { 'x-amz-meta-cloudtaser-size': String(MAX_PLAINTEXT_SIZE + 1) }, 'ENVELOPE_BAD_FIELD'],
  ['dek-with-space', 'dek field containing a space', { 'x-amz-meta-cloudtaser-dek': 'vault:v1:a b' }, 'ENVELOPE_BAD_FIELD'],
];
for (const [name, breaks, metadata, error] of envelopeFailures) {
  invalid({ name, breaks, from: four, metadata, expect: 'envelope failure', error, releasedLength: 0 });
}

// Multipart objects (revised v1-multipart, decision 0005): each part is `part header || sealed segments`
// under its own DEK and nonce, the header carrying the part number and the upload binding and serving
// as the AAD of the part's segments. Expected outcomes are declared from FORMAT.md sections 9.3 (a
// reader that streams from byte 0: `error`, `released_*`) and 9.4 (a reader that locates the parts
// first: `layout_error` when that already fails).
type PartSpec = { name: string; plaintext: Buffer; partNumber: number; uploadId: string };
const multipartVectors: unknown[] = [];

async function buildParts(parts: PartSpec[]) {
  const unwrap: Record<string, string> = {};
  const described: unknown[] = [];
  const stored: Buffer[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const part of parts) {
    const dek = derive('dek', part.name, 32);
    const nonce = derive('nonce', part.name, 12);
    const wrappedDek = `vault:v1:vector-${part.name}`;
    unwrap[wrappedDek] = dek.toString('hex');
    const binding = uploadBinding(part.uploadId);
    const header = encodePartHeader({
      wrappedDek,
      nonce,
      plaintextSize: part.plaintext.length,
      partNumber: part.partNumber,
      uploadBinding: binding,
    });
    const body = await sealBytes(part.plaintext, dek, nonce, header);
    if (header.length + body.length !== partCiphertextSize(part.plaintext.length)) {
      throw new Error(`part size function broken for ${part.name}`);
    }
    stored.push(header, body);
    offsets.push(offset);
    offset += header.length + body.length;
    described.push({
      part_number: part.partNumber,
      upload_id: part.uploadId,
      upload_binding: binding.toString('hex'),
      wrapped_dek: wrappedDek,
      nonce: nonce.toString('hex'),
      plaintext: describePlaintext(part.plaintext, part.plaintext.length > 64),
      stored_length: header.length + body.length,
    });
  }
  return { unwrap, described, stored: Buffer.concat(stored), offsets };
}

type Built = Awaited<ReturnType<typeof buildParts>>;
const multipartBases = new Map<string, { built: Built; plaintext: Buffer }>();

async function validMultipart(name: string, comment: string, parts: PartSpec[], asHex = false) {
  const built = await buildParts(parts);
  const plaintext = Buffer.concat(parts.map((part) => part.plaintext));
  multipartBases.set(name, { built, plaintext });
  multipartVectors.push({
    name,
    comment,
    expect: 'success',
    metadata: multipartEnvelopeHeaders(),
    unwrap: built.unwrap,
    parts: built.described,
    plaintext_sha256: sha256(plaintext),
    stored: asHex ? { hex: built.stored.toString('hex') } : { seal_parts: true },
    stored_length: built.stored.length,
    stored_sha256: sha256(built.stored),
  });
}

const uploadTwo = 'vector-upload-two-parts';
await validMultipart('two-parts', 'a 2-segment part and a 1-segment part, each with its own DEK and nonce', [
  { name: 'part-a', plaintext: patternBytes(S + 1), partNumber: 1, uploadId: uploadTwo },
  { name: 'part-b', plaintext: Buffer.from('the second and last part\n'), partNumber: 2, uploadId: uploadTwo },
]);
await validMultipart(
  'one-empty-part',
  'a multipart upload of one empty part: 256 header bytes and one 16-byte tag',
  [{ name: 'part-empty', plaintext: Buffer.alloc(0), partNumber: 1, uploadId: 'vector-upload-empty' }],
  true,
);
const uploadAligned = 'vector-upload-aligned-then-empty';
await validMultipart(
  'aligned-part-then-empty-part',
  'a part of exactly 2S, then an empty last part; the listing rule of section 9.6 is exact for it',
  [
    { name: 'part-2s', plaintext: patternBytes(2 * S), partNumber: 1, uploadId: uploadAligned },
    { name: 'part-last-empty', plaintext: Buffer.alloc(0), partNumber: 2, uploadId: uploadAligned },
  ],
);
const uploadThree = 'VXBsb2FkIElEIGZvciB0aHJlZS1wYXJ0cyB2ZWN0b3I-';
const threeSpecs: PartSpec[] = [
  { name: 'three-parts-1', plaintext: patternBytes(S + 10), partNumber: 1, uploadId: uploadThree },
  { name: 'three-parts-2', plaintext: patternBytes(S + 20), partNumber: 2, uploadId: uploadThree },
  { name: 'three-parts-3', plaintext: patternBytes(30), partNumber: 3, uploadId: uploadThree },
];
await validMultipart(
  'three-parts',
  'parts of S + 10, S + 20 and 30 bytes (two unaligned parts before the last); the base of the tampered vectors',
  threeSpecs,
);

const three = multipartBases.get('three-parts');
if (!three) throw new Error('three-parts missing');
const threeStored = three.built.stored;
const [o1, o2, o3] = three.built.offsets as [number, number, number];
const end = threeStored.length;
const p1 = S + 10;
const p2 = S + 20;
// Header fields (section 9.2): magic 0, size 8, nonce 16, part number 28, binding 32, DEK length 48, DEK 50.
const FIELD = { size: 8, nonce: 16, number: 28, binding: 32, dekLength: 48, dek: 50 };

type MultipartEdit = {
  cut?: number;
  append?: string;
  flip?: number[];
  pieces?: Array<[number, number]>;
};

function edited(edit: MultipartEdit): Buffer {
  let stored = Buffer.from(threeStored);
  if (edit.pieces) stored = Buffer.concat(edit.pieces.map(([a, b]) => threeStored.subarray(a, b)));
  if (edit.cut !== undefined) stored = stored.subarray(0, edit.cut);
  if (edit.append) stored = Buffer.concat([stored, Buffer.from(edit.append, 'hex')]);
  stored = Buffer.from(stored);
  for (const offset of edit.flip ?? []) stored[offset] = (stored[offset] as number) ^ 0x01;
  return stored;
}

function failure(
  released: number,
  error: EnvelopeErrorCode,
  layoutError: EnvelopeErrorCode | undefined,
): Record<string, unknown> {
  const bytes = three?.plaintext.subarray(0, released) ?? Buffer.alloc(0);
  return {
    expect: 'payload failure',
    error,
    ...(layoutError ? { layout_error: layoutError } : {}),
    released_length: bytes.length,
    released_sha256: sha256(bytes),
  };
}

function invalidMultipart(
  name: string,
  breaks: string,
  edit: MultipartEdit,
  error: EnvelopeErrorCode,
  released: number,
  layoutError?: EnvelopeErrorCode,
  unwrap?: Record<string, string>,
) {
  const stored = edited(edit);
  const { pieces, ...rest } = edit;
  multipartVectors.push({
    name,
    breaks,
    ...failure(released, error, layoutError),
    metadata: multipartEnvelopeHeaders(),
    unwrap: unwrap ?? three?.built.unwrap,
    stored: { from: 'three-parts', ...(pieces ? { pieces } : {}), ...rest },
    stored_length: stored.length,
    stored_sha256: sha256(stored),
  });
}

// The residual risk of section 13: the object then ends at a part boundary and looks complete.
{
  const stored = edited({ cut: o3 });
  const plaintext = three.plaintext.subarray(0, p1 + p2);
  multipartVectors.push({
    name: 'last-part-removed-undetected',
    comment:
      'RESIDUAL RISK, not a feature: the storage provider removed the whole last part; the object ends at a part boundary and a reader cannot tell',
    expect: 'success',
    metadata: multipartEnvelopeHeaders(),
    unwrap: three.built.unwrap,
    plaintext_sha256: sha256(plaintext),
    stored: { from: 'three-parts', cut: o3 },
    stored_length: stored.length,
    stored_sha256: sha256(stored),
  });
}

// Each part's final segment is held until the next header has checked (section 9.3), so a failure in
// part 2's header releases only part 1's first segment (S bytes), one in part 2's segments all of part 1.
invalidMultipart('part-2-magic-broken', "byte 0 of part 2's header", { flip: [o2] }, 'PART_HEADER_INVALID', S, 'PART_HEADER_INVALID');
invalidMultipart(
  'part-2-size-changed',
  "part 2's plaintext length S + 20 changed to S + 21: its segments fail (the header is their AAD); a locating reader finds no header where part 3 would then start",
  { flip: [o2 + FIELD.size + 7] },
  'SEGMENT_AUTH_FAILED',
  p1,
  'PART_HEADER_INVALID',
);
invalidMultipart('part-2-nonce-changed', "byte 0 of part 2's nonce", { flip: [o2 + FIELD.nonce] }, 'SEGMENT_AUTH_FAILED', p1);
invalidMultipart(
  'part-2-number-changed',
  "part 2's part number changed to 3",
  { flip: [o2 + FIELD.number + 3] },
  'PART_ORDER',
  S,
  'PART_ORDER',
);
invalidMultipart(
  'part-2-number-out-of-range',
  "part 2's part number changed to 16777218 (above 10000)",
  { flip: [o2 + FIELD.number] },
  'PART_HEADER_INVALID',
  S,
  'PART_HEADER_INVALID',
);
invalidMultipart(
  'part-2-binding-changed',
  "byte 0 of part 2's upload binding",
  { flip: [o2 + FIELD.binding] },
  'PART_UPLOAD_MISMATCH',
  S,
  'PART_UPLOAD_MISMATCH',
);
invalidMultipart(
  'part-1-binding-changed',
  "byte 15 of part 1's upload binding: part 1's segments fail first when streaming; a locating reader sees part 2 disagree with part 1",
  { flip: [o1 + FIELD.binding + 15] },
  'SEGMENT_AUTH_FAILED',
  0,
  'PART_UPLOAD_MISMATCH',
);
invalidMultipart(
  'part-2-dek-length-changed',
  "the low byte of part 2's wrapped-DEK length",
  { flip: [o2 + FIELD.dekLength + 1] },
  'PART_HEADER_INVALID',
  S,
  'PART_HEADER_INVALID',
);
{
  const wrapped = 'vault:v1:vector-three-parts-2';
  const changed = `${wrapped.slice(0, 6)}w${wrapped.slice(7)}`;
  const unwrap = { ...three.built.unwrap, [changed]: three.built.unwrap[wrapped] as string };
  invalidMultipart(
    'part-2-wrapped-dek-changed',
    `byte 6 of part 2's wrapped DEK ("v" to "w"); "unwrap" maps the edited string to the part's true DEK, standing in for a key service that still unwrapped it: the header is the AAD, so the segments fail anyway`,
    { flip: [o2 + FIELD.dek + 6] },
    'SEGMENT_AUTH_FAILED',
    p1,
    undefined,
    unwrap,
  );
}
invalidMultipart(
  'part-2-padding-nonzero',
  "the last padding byte of part 2's header",
  { flip: [o2 + PART_HEADER_SIZE - 1] },
  'PART_HEADER_INVALID',
  S,
  'PART_HEADER_INVALID',
);
invalidMultipart(
  'part-1-segment-1-flipped',
  "byte 0 of part 1's second (final) segment",
  { flip: [o1 + PART_HEADER_SIZE + B] },
  'SEGMENT_AUTH_FAILED',
  S,
);
invalidMultipart('part-3-tag-flipped', "the last byte of part 3's only tag", { flip: [end - 1] }, 'SEGMENT_AUTH_FAILED', p1 + p2);
invalidMultipart('cut-in-part-2-header', 'object cut 100 bytes into part 2', { cut: o2 + 100 }, 'TRUNCATED', S, 'TRUNCATED');
invalidMultipart('cut-in-part-3-body', 'object cut 3 bytes before its end', { cut: end - 3 }, 'TRUNCATED', p1 + p2, 'TRUNCATED');
invalidMultipart(
  'bytes-after-last-part',
  'ten zero bytes after part 3: a part header cut short',
  { append: '00'.repeat(10) },
  'TRUNCATED',
  p1 + p2,
  'TRUNCATED',
);
invalidMultipart(
  'part-1-appended',
  'part 1 stored again after part 3',
  { pieces: [[0, end], [o1, o2]] },
  'PART_ORDER',
  p1 + p2,
  'PART_ORDER',
);
invalidMultipart('empty-body', 'no parts at all', { cut: 0 }, 'TRUNCATED', 0, 'TRUNCATED');
invalidMultipart(
  'parts-1-2-swapped',
  'parts 1 and 2 in each other’s place',
  { pieces: [[o2, o3], [o1, o2], [o3, end]] },
  'PART_ORDER',
  0,
  'PART_ORDER',
);
invalidMultipart(
  'parts-2-3-swapped',
  'parts 2 and 3 in each other’s place',
  { pieces: [[o1, o2], [o3, end], [o2, o3]] },
  'PART_ORDER',
  S,
  'PART_ORDER',
);
invalidMultipart('part-2-removed', 'part 2 absent: part 3 follows part 1', { pieces: [[o1, o2], [o3, end]] }, 'PART_ORDER', S, 'PART_ORDER');
invalidMultipart(
  'part-2-repeated',
  'part 2 stored twice in a row',
  { pieces: [[o1, o3], [o2, end]] },
  'PART_ORDER',
  p1 + S,
  'PART_ORDER',
);
{
  invalidMultipart(
    'part-3-renumbered-as-2',
    "part 2 replaced by part 3 with its part number rewritten to 2 (then part 3): the numbers are in order, but the header is part 3's AAD",
    { pieces: [[o1, o2], [o3, end], [o3, end]], flip: [o2 + FIELD.number + 3] },
    'SEGMENT_AUTH_FAILED',
    p1,
  );
}

// Structural attacks that need parts sealed for another upload or under another number.
async function sealedInvalid(name: string, breaks: string, parts: PartSpec[], error: EnvelopeErrorCode, released: number) {
  const built = await buildParts(parts);
  multipartVectors.push({
    name,
    breaks,
    ...failure(released, error, error),
    metadata: multipartEnvelopeHeaders(),
    unwrap: built.unwrap,
    parts: built.described,
    stored: { seal_parts: true },
    stored_length: built.stored.length,
    stored_sha256: sha256(built.stored),
  });
}
const [three1, three2, three3] = threeSpecs as [PartSpec, PartSpec, PartSpec];
await sealedInvalid(
  'part-2-from-another-upload',
  'part 2 is a part 2 of the same plaintext sealed for another upload (another upload id, DEK and nonce)',
  [three1, { ...three2, name: 'other-upload-part-2', uploadId: 'vector-upload-another-one' }, three3],
  'PART_UPLOAD_MISMATCH',
  S,
);
await sealedInvalid(
  'part-2-sealed-as-part-4',
  'in place of part 2, the same plaintext uploaded as part 4 of the same upload (a part the client uploaded under another number)',
  [three1, { ...three2, name: 'three-parts-2-as-4', partNumber: 4 }, three3],
  'PART_ORDER',
  S,
);

// Section 9.6: what a listing shows from the stored size and the part count alone.
const MiB = 2 ** 20;
const listingLayouts: number[][] = [
  [0],
  [1],
  [S],
  [S + 1],
  [5 * MiB, 5 * MiB, 5 * MiB, 1234],
  [8 * MiB, 8 * MiB, 0],
  [S - 1, S - 1],
  [1, 1, 1],
  [5_000_000, 5_000_000, 5_000_000, 1],
  Array.from({ length: 1000 }, () => 5_000_000),
  [0, 0, 0, 0],
];
const multipartSizeVectors = listingLayouts.map((sizes) => {
  const stored = sizes.reduce((sum, p) => sum + partCiphertextSize(p), 0);
  const plain = sizes.reduce((sum, p) => sum + p, 0);
  const listing = multipartListingPlaintextSize(stored, sizes.length);
  if (listing < plain || listing - plain > 16 * (sizes.length - 1)) throw new Error(`listing rule broken for ${sizes}`);
  const aligned = sizes.slice(0, -1).every((p) => p > 0 && p % S === 0);
  if (aligned && listing !== plain) throw new Error(`listing rule not exact for aligned ${sizes}`);
  const distinct = [...new Set(sizes)];
  const described =
    distinct.length === 1 && sizes.length > 4 ? { repeat: distinct[0], count: sizes.length } : sizes;
  return {
    part_plaintext_sizes: described,
    part_count: sizes.length,
    stored_size: stored,
    plaintext_size: plain,
    listing_plaintext_size: listing,
  };
});
const impossibleMultipartSizes = [
  { stored_size: 0, part_count: 1 },
  { stored_size: 271, part_count: 1 },
  { stored_size: 543, part_count: 2 },
  { stored_size: PART_HEADER_SIZE + B + 1, part_count: 1 },
  { stored_size: PART_HEADER_SIZE + B + 16, part_count: 1 },
  { stored_size: 272, part_count: 0 },
  { stored_size: 272 * 10001, part_count: 10001 },
];
for (const { stored_size, part_count } of impossibleMultipartSizes) {
  let refused = false;
  try {
    multipartListingPlaintextSize(stored_size, part_count);
  } catch {
    refused = true;
  }
  if (!refused) throw new Error(`listing rule accepted ${stored_size}/${part_count}`);
}
const uploadBindingVectors = [uploadThree, 'vector-upload-two-parts', '2~bRg0rkNgE4XKKmyRBG6LxC9GqGbNIgm', 'überlänge-ü'].map(
  (id) => ({ upload_id: id, upload_binding: uploadBinding(id).toString('hex') }),
);

// Derived by hand from the rules, independently of the code: nonce_i = nonce XOR (0^3 || be64(i) || last).
const nonceVectors = [
  ['000102030405060708090a0b', 0, false, '000102030405060708090a0b'],
  ['000102030405060708090a0b', 0, true, '000102030405060708090a0a'],
  ['000102030405060708090a0b', 1, false, '000102030405060708090b0b'],
  ['000102030405060708090a0b', 256, true, '000102030405060708080a0a'],
  ['000102030405060708090a0b', 2 ** 32 + 1, false, '000102030405070708090b0b'],
  ['ffffffffffffffffffffffff', 2 ** 40 + 2, true, 'fffffffffffefffffffffdfe'],
].map(([objectNonce, index, last, expected]) => {
  const computed = segmentNonce(Buffer.from(objectNonce as string, 'hex'), index as number, last as boolean);
  if (computed.toString('hex') !== expected) {
    throw new Error(`nonce derivation disagrees with the hand-derived ${expected}: ${computed.toString('hex')}`);
  }
  return { object_nonce: objectNonce, index, last, segment_nonce: expected };
});

const sizeVectors = [0, 1, S - 1, S, S + 1, 2 * S - 1, 2 * S, 2 * S + 1, 3 * S + 7, 5 * 2 ** 40, MAX_PLAINTEXT_SIZE].map(
  (plain) => ({ plaintext_size: plain, stored_size: ciphertextSize(plain) }),
);
const impossibleStoredSizes = [0, 1, 15, B + 1, B + 16, 2 * B + 1, 2 * B + 16, ciphertextSize(MAX_PLAINTEXT_SIZE) + 1];

const file = {
  description:
    'Test vectors for the cloudtaser-s3 envelope format v1 (docs/FORMAT.md, section "Test vectors"). Frozen: never regenerate.',
  segment_size: S,
  tag_size: 16,
  part_header_size: PART_HEADER_SIZE,
  plaintext_patterns: { 'i%251': 'byte i (from 0) of the plaintext is i mod 251' },
  size_vectors: sizeVectors,
  impossible_stored_sizes: impossibleStoredSizes,
  nonce_vectors: nonceVectors,
  object_vectors: objectVectors,
  multipart_vectors: multipartVectors,
  upload_binding_vectors: uploadBindingVectors,
  multipart_size_vectors: multipartSizeVectors,
  impossible_multipart_sizes: impossibleMultipartSizes,
};
writeFileSync(output, `${JSON.stringify(file, null, 1)}\n`);
console.log(`wrote ${output}: ${objectVectors.length} object vectors, ${multipartVectors.length} multipart vectors`);
