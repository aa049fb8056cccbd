/**
 * Writes test/vectors/checksum-v1.json ONCE: known-answer vectors for the sealed plaintext checksum of
 * docs/FORMAT.md section 7.1 (an addition to format v1; test/vectors/format-v1.json is left as it was). The
 * file is then frozen like format-v1.json: tests check the code against it and never regenerate it. This
 * script refuses to overwrite an existing file.
 *
 * The checksum is sealed here with node:crypto straight from the document (HKDF-SHA256, AES-256-GCM), not
 * with the proxy's writer, which the unit tests then compare with these bytes. Keys and nonces derive from
 * the vector names, so a reviewer can rerun the script into another path and diff. Expected outcomes are
 * declared from the rules of section 7.1, not read back from a reader.
 *
 * Run: node test/vectors/generate-checksum.ts [output path]
 */
import { createCipheriv, createHash, hkdfSync } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createSealStream, envelopeToHeaders, type EnvelopeErrorCode } from '../../src/envelope/index.ts';
import { type ChecksumAlgorithm, computeChecksum } from '../../src/s3/checksum.ts';

const LABEL = 'cloudtaser-s3/v1/checksum';
const output = process.argv[2] ?? fileURLToPath(new URL('./checksum-v1.json', import.meta.url));
if (existsSync(output)) {
  console.error(`${output} exists and is frozen; write to another path to compare`);
  process.exit(1);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const derive = (label: string, name: string, length: number) =>
  createHash('sha256')
    .update(`cloudtaser-s3/v1 checksum vector ${label} ${name}`)
    .digest()
    .subarray(0, length);
const pattern = (length: number) => Buffer.from(Array.from({ length }, (_, i) => i % 251));

const checksumKey = (dek: Buffer) => Buffer.from(hkdfSync('sha256', dek, Buffer.alloc(0), LABEL, 32));

/** Section 7.1: Base64(n || Seal(K_c, n, AAD_c, text)). `key` and `aad` are overridden by invalid vectors only. */
function seal(dek: Buffer, nonce: Buffer, text: string, key: Buffer = checksumKey(dek), aad = LABEL): string {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad, 'ascii'));
  const body = Buffer.concat([cipher.update(Buffer.from(text, 'ascii')), cipher.final(), cipher.getAuthTag()]);
  return Buffer.concat([nonce, body]).toString('base64');
}

async function sealBody(plaintext: Buffer, dek: Buffer, nonce: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(plaintext.length ? [plaintext] : []),
    createSealStream({ dek, nonce, plaintextSize: plaintext.length }),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(out);
}

type Base = { dek: Buffer; metadata: Record<string, string>; plaintext: Buffer; stored: Buffer; wrapped: string };
const bases = new Map<string, Base>();
const vectors: unknown[] = [];

async function base(name: string, plaintext: Buffer): Promise<Base> {
  const dek = derive('dek', name, 32);
  const nonce = derive('nonce', name, 12);
  const wrapped = `vault:v1:checksum-vector-${name}`;
  const stored = await sealBody(plaintext, dek, nonce);
  const metadata = envelopeToHeaders({ format: 'v1', wrappedDek: wrapped, nonce, plaintextSize: plaintext.length });
  const made = { dek, metadata, plaintext, stored, wrapped };
  bases.set(name, made);
  return made;
}

function push(
  name: string,
  made: Base,
  sealed: string,
  outcome: { comment: string; checksum: string } | { breaks: string; error: EnvelopeErrorCode },
) {
  vectors.push({
    name,
    ...('comment' in outcome
      ? { comment: outcome.comment, expect: 'success', checksum: outcome.checksum }
      : { breaks: outcome.breaks, expect: 'envelope failure', error: outcome.error }),
    metadata: { ...made.metadata, 'x-amz-meta-cloudtaser-checksum': sealed },
    unwrap: { [made.wrapped]: made.dek.toString('hex') },
    // As in format-v1.json: long ones as the pattern `i mod 251` and `seal` (section 12).
    plaintext:
      made.plaintext.length > 1024
        ? { pattern: 'i%251', length: made.plaintext.length }
        : { hex: made.plaintext.toString('hex') },
    plaintext_sha256: sha256(made.plaintext),
    stored: made.stored.length > 1024 ? { seal: true } : { hex: made.stored.toString('hex') },
    stored_length: made.stored.length,
    stored_sha256: sha256(made.stored),
  });
}

const text = (algorithm: ChecksumAlgorithm, data: Buffer) =>
  `${algorithm}:${computeChecksum(algorithm, data).toString('base64')}`;

// Valid: one per algorithm S3 returns as a full-object checksum, over plaintexts of a few shapes.
const valid: Array<[string, ChecksumAlgorithm, Buffer, string]> = [
  ['crc32-ascii', 'CRC32', Buffer.from('cloudtaser-s3 checksum vector\n'), 'a short text, CRC32'],
  ['crc32c-empty', 'CRC32C', Buffer.alloc(0), 'the empty object (P = 0), CRC32C'],
  ['crc64nvme-two-segments', 'CRC64NVME', pattern(65536 + 17), 'two segments (P = S + 17), CRC64NVME'],
  ['sha1-one-byte', 'SHA1', Buffer.from('2a', 'hex'), 'P = 1, SHA1'],
  ['sha256-pattern', 'SHA256', pattern(1000), 'a 1000-byte pattern, SHA256'],
  ['sha512-pattern', 'SHA512', pattern(300), 'a 300-byte pattern, SHA512 (the longest digest)'],
  ['md5-pattern', 'MD5', pattern(64), 'a 64-byte pattern, MD5'],
];
for (const [name, algorithm, plaintext, comment] of valid) {
  const made = await base(name, plaintext);
  const checksum = text(algorithm, plaintext);
  push(name, made, seal(made.dek, derive('checksum nonce', name, 12), checksum), { comment, checksum });
}

// Invalid: each changes one thing the reader of section 7.1 must catch before any byte is released.
{
  const made = bases.get('crc32-ascii') as Base;
  const good = Buffer.from(seal(made.dek, derive('checksum nonce', 'crc32-ascii', 12), text('CRC32', made.plaintext)), 'base64');
  const flipped = (offset: number) => {
    const copy = Buffer.from(good);
    copy[offset] = (copy[offset] as number) ^ 0x01;
    return copy.toString('base64');
  };
  const nonce = derive('checksum nonce', 'crc32-ascii', 12);
  const other = bases.get('sha256-pattern') as Base;
  const cases: Array<[string, string, string, EnvelopeErrorCode]> = [
    ['checksum-tag-flipped', flipped(good.length - 1), 'last byte of the tag flipped', 'CHECKSUM_AUTH_FAILED'],
    ['checksum-nonce-flipped', flipped(0), 'first byte of the nonce flipped', 'CHECKSUM_AUTH_FAILED'],
    ['checksum-ciphertext-flipped', flipped(12), 'first byte of the ciphertext flipped', 'CHECKSUM_AUTH_FAILED'],
    [
      'checksum-of-another-object',
      seal(other.dek, derive('checksum nonce', 'sha256-pattern', 12), text('SHA256', other.plaintext)),
      'the sealed checksum of vector sha256-pattern, under that object’s key',
      'CHECKSUM_AUTH_FAILED',
    ],
    [
      'checksum-under-the-dek',
      seal(made.dek, nonce, text('CRC32', made.plaintext), made.dek),
      'sealed under the DEK itself instead of the HKDF subkey',
      'CHECKSUM_AUTH_FAILED',
    ],
    [
      'checksum-other-aad',
      seal(made.dek, nonce, text('CRC32', made.plaintext), checksumKey(made.dek), 'cloudtaser-s3/v1'),
      'sealed with the segments’ AAD instead of the checksum label',
      'CHECKSUM_AUTH_FAILED',
    ],
    [
      'checksum-unknown-algorithm',
      seal(made.dek, nonce, 'XXHASH64:AAAAAAAAAAA='),
      'opens, but names an algorithm outside the table',
      'ENVELOPE_BAD_FIELD',
    ],
    [
      'checksum-digest-too-long',
      seal(made.dek, nonce, 'CRC32:AAAAAAA='),
      'opens, but the CRC32 digest is 5 bytes',
      'ENVELOPE_BAD_FIELD',
    ],
    [
      'checksum-not-canonical-base64',
      seal(made.dek, nonce, 'CRC32:AAAAAB=='),
      'opens, but the digest is not canonical Base64',
      'ENVELOPE_BAD_FIELD',
    ],
    ['checksum-truncated', good.subarray(0, 41).toString('base64'), 'cut to 41 bytes, shorter than any sealed checksum', 'ENVELOPE_BAD_FIELD'],
    ['checksum-not-base64', `${good.toString('base64').slice(0, -4)}!!!!`, 'not Base64', 'ENVELOPE_BAD_FIELD'],
  ];
  for (const [name, sealed, breaks, error] of cases) push(name, made, sealed, { breaks, error });
}

const keyVectors = ['crc32-ascii', 'crc32c-empty', 'sha256-pattern'].map((name) => {
  const made = bases.get(name) as Base;
  return { dek: made.dek.toString('hex'), checksum_key: checksumKey(made.dek).toString('hex') };
});

const file = {
  description:
    'cloudtaser-s3 envelope format v1, section 7.1: the client’s full-object checksum sealed in x-amz-meta-cloudtaser-checksum. Frozen; see docs/FORMAT.md section 12.',
  label: LABEL,
  key_vectors: keyVectors,
  checksum_vectors: vectors,
};
writeFileSync(output, `${JSON.stringify(file, null, 1)}\n`);
console.log(`wrote ${vectors.length} checksum vectors to ${output}`);
