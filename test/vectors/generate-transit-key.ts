/**
 * Writes test/vectors/format-v1-transit-key.json ONCE: the vectors of the recorded Transit key
 * (`x-amz-meta-cloudtaser-transit-key`, docs/FORMAT.md section 7, decision 0013). format-v1.json is frozen
 * and cannot take them; this file is frozen the same way (the script refuses to overwrite it) and has the
 * same layout, with only object and multipart vectors. Keys and nonces derive from the vector names as in
 * generate.ts, so a reviewer can rerun it into another path and diff; expected outcomes are declared here
 * from the rules in FORMAT.md, not read back from the decoder.
 *
 * Run: node test/vectors/generate-transit-key.ts [output path]
 */
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  createSealStream,
  encodePartHeader,
  envelopeToHeaders,
  META_TRANSIT_KEY,
  multipartEnvelopeHeaders,
  PART_HEADER_SIZE,
  uploadBinding,
} from '../../src/envelope/index.ts';
import { derive, sealBytes, sha256 } from './vector-support.ts';

const output = process.argv[2] ?? fileURLToPath(new URL('./format-v1-transit-key.json', import.meta.url));
if (existsSync(output)) {
  console.error(`${output} exists and is frozen; write to another path to compare`);
  process.exit(1);
}



const objectVectors: unknown[] = [];
const multipartVectors: unknown[] = [];
const bases = new Map<string, { stored: Buffer; metadata: Record<string, string>; unwrap: Record<string, string> }>();

async function valid(name: string, comment: string, plaintext: Buffer, transitKey: string) {
  const dek = derive('dek', name, 32);
  const nonce = derive('nonce', name, 12);
  const wrappedDek = `vault:v1:vector-${name}`;
  const stored = await sealBytes(plaintext, dek, nonce);
  const metadata = envelopeToHeaders({ format: 'v1', wrappedDek, nonce, plaintextSize: plaintext.length, transitKey });
  const unwrap = { [wrappedDek]: dek.toString('hex') };
  bases.set(name, { stored, metadata, unwrap });
  objectVectors.push({
    name,
    comment,
    expect: 'success',
    transit_key: transitKey,
    metadata,
    unwrap,
    plaintext: { hex: plaintext.toString('hex') },
    plaintext_sha256: sha256(plaintext),
    stored: { hex: stored.toString('hex') },
    stored_length: stored.length,
    stored_sha256: sha256(stored),
  });
}

/** The base vector with edited metadata (undefined removes a name): the reader must fail on the envelope. */
function badEnvelope(name: string, breaks: string, from: string, metadata: Record<string, string | undefined>) {
  const base = bases.get(from);
  if (!base) throw new Error(`no base ${from}`);
  const edited: Record<string, string> = { ...base.metadata };
  for (const [key, value] of Object.entries(metadata)) {
    if (value === undefined) delete edited[key];
    else edited[key] = value;
  }
  objectVectors.push({
    name,
    breaks,
    expect: 'envelope failure',
    error: 'ENVELOPE_BAD_FIELD',
    released_length: 0,
    released_sha256: sha256(Buffer.alloc(0)),
    metadata: edited,
    unwrap: base.unwrap,
    stored: { from },
    stored_length: base.stored.length,
    stored_sha256: sha256(base.stored),
  });
}

await valid(
  'recorded-transit-key',
  'a single-part object recording the Transit key that wrapped its DEK (mount "transit", key "tenant-a")',
  Buffer.from('tenant a: written under its own Transit key\n'),
  'transit/tenant-a',
);
await valid(
  'recorded-transit-key-nested-mount',
  'a mount path with "/" in it: the key name is what follows the last "/"',
  Buffer.from('exports\n'),
  'team-a/transit/exports',
);
{
  const base = bases.get('recorded-transit-key');
  if (!base) throw new Error('recorded-transit-key missing');
  // Without the name the object is read with the reader's default key: the v1 objects of format-v1.json.
  objectVectors.push({
    name: 'transit-key-absent',
    comment: 'no recorded key: the object is under the default key (every object written before decision 0013)',
    expect: 'success',
    transit_key: null,
    metadata: Object.fromEntries(Object.entries(base.metadata).filter(([key]) => key !== META_TRANSIT_KEY)),
    unwrap: base.unwrap,
    plaintext: { hex: Buffer.from('tenant a: written under its own Transit key\n').toString('hex') },
    plaintext_sha256: sha256(Buffer.from('tenant a: written under its own Transit key\n')),
    stored: { from: 'recorded-transit-key' },
    stored_length: base.stored.length,
    stored_sha256: sha256(base.stored),
  });
}
badEnvelope('transit-key-twice', 'the recorded key appears twice (in another case)', 'recorded-transit-key', {
  'X-Amz-Meta-Cloudtaser-Transit-Key': 'transit/tenant-b',
});
badEnvelope('transit-key-empty', 'the recorded key is empty', 'recorded-transit-key', { [META_TRANSIT_KEY]: '' });
badEnvelope('transit-key-space', 'the recorded key holds a space (not visible ASCII)', 'recorded-transit-key', {
  [META_TRANSIT_KEY]: 'transit/tenant a',
});
badEnvelope('transit-key-too-long', 'the recorded key is 257 characters, above the limit of 256', 'recorded-transit-key', {
  [META_TRANSIT_KEY]: `transit/${'k'.repeat(249)}`,
});

{
  const name = 'multipart-recorded-transit-key';
  const uploadId = 'vector-upload-transit-key';
  const plaintext = Buffer.from('one part, its DEK wrapped under the recorded key\n');
  const dek = derive('dek', `${name}-part-1`, 32);
  const nonce = derive('nonce', `${name}-part-1`, 12);
  const wrappedDek = `vault:v1:vector-${name}-part-1`;
  const binding = uploadBinding(uploadId);
  const header = encodePartHeader({ wrappedDek, nonce, plaintextSize: plaintext.length, partNumber: 1, uploadBinding: binding });
  if (header.length !== PART_HEADER_SIZE) throw new Error('part header size');
  const stored = Buffer.concat([header, await sealBytes(plaintext, dek, nonce, header)]);
  multipartVectors.push({
    name,
    comment: 'a multipart object records its key once, in the metadata set at CreateMultipartUpload',
    expect: 'success',
    transit_key: 'transit/tenant-b',
    metadata: multipartEnvelopeHeaders('transit/tenant-b'),
    unwrap: { [wrappedDek]: dek.toString('hex') },
    parts: [
      {
        part_number: 1,
        upload_id: uploadId,
        upload_binding: binding.toString('hex'),
        wrapped_dek: wrappedDek,
        nonce: nonce.toString('hex'),
        plaintext: { hex: plaintext.toString('hex') },
        stored_length: stored.length,
      },
    ],
    plaintext_sha256: sha256(plaintext),
    stored: { hex: stored.toString('hex') },
    stored_length: stored.length,
    stored_sha256: sha256(stored),
  });
}

const file = {
  description:
    'Test vectors of the recorded Transit key (x-amz-meta-cloudtaser-transit-key) of the cloudtaser-s3 envelope format v1 (docs/FORMAT.md, sections 7 and 12). Frozen: never regenerate.',
  segment_size: 65536,
  tag_size: 16,
  part_header_size: PART_HEADER_SIZE,
  plaintext_patterns: { 'i%251': 'byte i (from 0) of the plaintext is i mod 251' },
  size_vectors: [],
  impossible_stored_sizes: [],
  nonce_vectors: [],
  object_vectors: objectVectors,
  multipart_vectors: multipartVectors,
  upload_binding_vectors: [],
  multipart_size_vectors: [],
  impossible_multipart_sizes: [],
};
writeFileSync(output, `${JSON.stringify(file, null, 1)}\n`);
console.log(`wrote ${output}: ${objectVectors.length} object vectors, ${multipartVectors.length} multipart vectors`);
