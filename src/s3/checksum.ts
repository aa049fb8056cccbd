/**
 * Integrity checks on what a client uploads: the `x-amz-checksum-*` family (header or aws-chunked trailer),
 * `Content-MD5` and a hex `x-amz-content-sha256`. Every digest is computed over the plaintext the client sent,
 * while it streams; the proxy verifies them itself and never forwards them, because upstream only ever sees
 * ciphertext.
 *
 * Error codes mirror AWS S3:
 * - a digest that does not match: `BadDigest` ("The CRC32 you specified did not match the calculated
 *   checksum." for `x-amz-checksum-*`, "The Content-MD5 you specified did not match what we received." for
 *   Content-MD5); `XAmzContentSHA256Mismatch` for `x-amz-content-sha256`. (`XAmzContentChecksumMismatch` is
 *   MinIO's code, not AWS's, and is not used.)
 * - a malformed Content-MD5: `InvalidDigest`; a malformed `x-amz-checksum-*` value, two checksum headers, or an
 *   `x-amz-sdk-checksum-algorithm` naming another algorithm than the header: `InvalidRequest`.
 * - `x-amz-checksum-xxhash64|xxhash3|xxhash128` (and any checksum name we do not know): `NotImplemented`, since
 *   we can neither verify them nor pass them on.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { endianness } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { S3Error } from './errors.ts';

export const CHECKSUM_ALGORITHMS = [
  'CRC32',
  'CRC32C',
  'CRC64NVME',
  'SHA1',
  'SHA256',
  'SHA512',
  'MD5',
] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32,
  SHA512: 64,
  MD5: 16,
};

/** Where an expected digest came from; it decides the error code of a mismatch. */
export type ChecksumSource =
  | 'content-md5'
  | 'x-amz-checksum-header'
  | 'x-amz-checksum-trailer'
  | 'x-amz-content-sha256';

export interface ExpectedChecksum {
  readonly algorithm: ChecksumAlgorithm;
  readonly source: ChecksumSource;
  /** The header or trailer name that carried it, lower-case. */
  readonly name: string;
  /** The raw digest bytes (big-endian for CRCs). */
  readonly digest: Buffer;
}

/** `x-amz-checksum-<suffix>` headers that are not digests of the body. */
const NON_DIGEST_CHECKSUM_HEADERS = new Set([
  'x-amz-checksum-type',
  'x-amz-checksum-algorithm',
  'x-amz-checksum-mode',
]);

const CHECKSUM_HEADER_PREFIX = 'x-amz-checksum-';

/**
 * Request headers that describe the integrity of the inbound body. None may be forwarded: they describe the
 * plaintext (the upstream receives ciphertext) and a lone `x-amz-sdk-checksum-algorithm` or `x-amz-trailer` makes
 * S3 expect a checksum that will not come. Every `x-amz-checksum-*` header counts too (see
 * `isInboundIntegrityHeader`), except `x-amz-checksum-mode`, which asks for a checksum in a GET response.
 * `x-amz-content-sha256` is here because the upstream signer must set its own value over the ciphertext.
 */
export const INBOUND_CHECKSUM_HEADERS: ReadonlySet<string> = new Set([
  'content-md5',
  'x-amz-content-sha256',
  'x-amz-sdk-checksum-algorithm',
  'x-amz-trailer',
  'x-amz-decoded-content-length',
  'x-amz-checksum-type',
  'x-amz-checksum-algorithm',
  'x-amz-checksum-crc32',
  'x-amz-checksum-crc32c',
  'x-amz-checksum-crc64nvme',
  'x-amz-checksum-sha1',
  'x-amz-checksum-sha256',
  'x-amz-checksum-sha512',
  'x-amz-checksum-md5',
]);

export function isInboundIntegrityHeader(name: string): boolean {
  const lower = name.toLowerCase();
  if (INBOUND_CHECKSUM_HEADERS.has(lower)) return true;
  return lower.startsWith(CHECKSUM_HEADER_PREFIX) && lower !== 'x-amz-checksum-mode';
}

export function checksumHeaderName(algorithm: ChecksumAlgorithm): string {
  return `${CHECKSUM_HEADER_PREFIX}${algorithm.toLowerCase()}`;
}

function algorithmOfChecksumHeader(name: string): ChecksumAlgorithm | undefined {
  const suffix = name.slice(CHECKSUM_HEADER_PREFIX.length).toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(suffix)
    ? (suffix as ChecksumAlgorithm)
    : undefined;
}

/** Strict base64 of exactly `bytes` bytes: S3's values are canonical, so anything else is a client bug. */
function decodeDigest(value: string, bytes: number): Buffer | undefined {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return undefined;
  const decoded = Buffer.from(trimmed, 'base64');
  if (decoded.length !== bytes || decoded.toString('base64') !== trimmed) return undefined;
  return decoded;
}

function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}

function multipleChecksumTypes(): S3Error {
  return new S3Error(
    'InvalidRequest',
    'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
  );
}

/**
 * The checksum algorithm named by `x-amz-trailer` (e.g. `x-amz-checksum-crc32`), known before the body so that
 * the tap can compute it; undefined when no trailer is announced.
 */
export function trailerChecksumAlgorithm(headers: IncomingHttpHeaders): ChecksumAlgorithm | undefined {
  const declared = singleHeader(headers, 'x-amz-trailer');
  if (declared === undefined) return undefined;
  const names = declared
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  let found: ChecksumAlgorithm | undefined;
  for (const name of names) {
    const algorithm = name.startsWith(CHECKSUM_HEADER_PREFIX) ? algorithmOfChecksumHeader(name) : undefined;
    if (algorithm === undefined) {
      if (name.startsWith(CHECKSUM_HEADER_PREFIX) && !NON_DIGEST_CHECKSUM_HEADERS.has(name)) {
        throw new S3Error('NotImplemented', `The ${name} checksum is not supported by this proxy.`);
      }
      throw new S3Error('InvalidRequest', 'The value specified in the x-amz-trailer header is not supported');
    }
    if (found !== undefined && found !== algorithm) throw multipleChecksumTypes();
    found = algorithm;
  }
  return found;
}

/**
 * Every digest the client asked us to check, from the request headers. A trailer checksum is not included
 * (its value arrives after the body: see `expectedTrailerChecksum`), but announcing one alongside a header
 * checksum is refused as S3 does.
 */
export function expectedChecksums(headers: IncomingHttpHeaders): ExpectedChecksum[] {
  const expected: ExpectedChecksum[] = [];

  const contentSha256 = singleHeader(headers, 'x-amz-content-sha256');
  if (contentSha256 !== undefined) {
    const value = contentSha256.trim();
    if (/^[0-9a-fA-F]{64}$/.test(value)) {
      expected.push({
        algorithm: 'SHA256',
        source: 'x-amz-content-sha256',
        name: 'x-amz-content-sha256',
        digest: Buffer.from(value, 'hex'),
      });
    } else if (value !== 'UNSIGNED-PAYLOAD' && !value.startsWith('STREAMING-')) {
      throw new S3Error(
        'InvalidArgument',
        'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- value, or the hex SHA-256 of the payload.',
      );
    }
  }

  const contentMd5 = singleHeader(headers, 'content-md5');
  if (contentMd5 !== undefined) {
    const digest = decodeDigest(contentMd5, DIGEST_BYTES.MD5);
    if (digest === undefined)
      throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.');
    expected.push({ algorithm: 'MD5', source: 'content-md5', name: 'content-md5', digest });
  }

  let headerChecksum: ExpectedChecksum | undefined;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith(CHECKSUM_HEADER_PREFIX) || NON_DIGEST_CHECKSUM_HEADERS.has(lower)) continue;
    const algorithm = algorithmOfChecksumHeader(lower);
    if (algorithm === undefined) {
      throw new S3Error('NotImplemented', `The ${lower} checksum is not supported by this proxy.`);
    }
    if (headerChecksum !== undefined) throw multipleChecksumTypes();
    const digest = decodeDigest(singleHeader(headers, name) ?? '', DIGEST_BYTES[algorithm]);
    if (digest === undefined) throw new S3Error('InvalidRequest', `Value for ${lower} header is invalid.`);
    headerChecksum = { algorithm, source: 'x-amz-checksum-header', name: lower, digest };
  }

  const trailerAlgorithm = trailerChecksumAlgorithm(headers);
  if (headerChecksum !== undefined && trailerAlgorithm !== undefined) throw multipleChecksumTypes();

  const sdkAlgorithm = singleHeader(headers, 'x-amz-sdk-checksum-algorithm')?.trim().toUpperCase();
  const announced = headerChecksum?.algorithm ?? trailerAlgorithm;
  if (sdkAlgorithm !== undefined && announced !== undefined && sdkAlgorithm !== announced) {
    throw new S3Error('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.');
  }

  if (headerChecksum !== undefined) expected.push(headerChecksum);
  return expected;
}

/**
 * The trailer checksum once the aws-chunked body has ended. A missing trailer means the body was cut short
 * (the client announced it in `x-amz-trailer`), hence `IncompleteBody`.
 */
export function expectedTrailerChecksum(
  algorithm: ChecksumAlgorithm,
  trailers: ReadonlyMap<string, string>,
): ExpectedChecksum {
  const name = checksumHeaderName(algorithm);
  const value = trailers.get(name);
  if (value === undefined) {
    throw new S3Error(
      'IncompleteBody',
      `The body ended without the ${name} trailer announced in x-amz-trailer.`,
    );
  }
  const digest = decodeDigest(value, DIGEST_BYTES[algorithm]);
  if (digest === undefined)
    throw new S3Error('InvalidRequest', `Value for ${name} trailing header is invalid.`);
  return { algorithm, source: 'x-amz-checksum-trailer', name, digest };
}

// ---------------------------------------------------------------------------------------------------------
// Hashers. CRC32 comes from zlib (native). CRC32C and CRC64/NVME have no native implementation in Node, so they
// are table-driven here, slicing by 8 bytes; both are checked against the AWS SDK's own implementation and the
// published check values (test/unit/s3/checksum.test.ts).

interface Hasher {
  update(data: Uint8Array): void;
  digest(): Buffer;
}

class Crc32Hasher implements Hasher {
  #crc = 0;
  update(data: Uint8Array): void {
    this.#crc = zlibCrc32(data, this.#crc);
  }
  digest(): Buffer {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.#crc >>> 0);
    return out;
  }
}

/** Tables for a reflected 32-bit CRC, slicing by 8: tables[k][b] is the CRC of byte b followed by k zero bytes. */
function crc32Tables(reflectedPolynomial: number): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const [t0] = tables as [Uint32Array];
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ reflectedPolynomial : crc >>> 1;
    t0[byte] = crc >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    const previous = tables[k - 1] as Uint32Array;
    const current = tables[k] as Uint32Array;
    for (let byte = 0; byte < 256; byte++) {
      const value = previous[byte] as number;
      current[byte] = ((value >>> 8) ^ (t0[value & 0xff] as number)) >>> 0;
    }
  }
  return tables;
}

let crc32cTables: Uint32Array[] | undefined;

/** The main loops read the input as little-endian 32-bit words (about twice as fast as byte loads). */
const LITTLE_ENDIAN_HOST = endianness() === 'LE';
const EMPTY_WORDS = new Uint32Array(0);

type EightTables = [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/**
 * Splits `data` into a head (up to 3 bytes, until a 4-byte aligned address), a run of whole 8-byte blocks seen
 * as 32-bit words, and a tail. On a big-endian host every byte goes through the head/tail path.
 */
function wordView(data: Uint8Array): { head: number; words: Uint32Array; tailStart: number } {
  if (!LITTLE_ENDIAN_HOST) return { head: data.length, words: EMPTY_WORDS, tailStart: data.length };
  const head = Math.min(data.length, (4 - (data.byteOffset & 3)) & 3);
  const wordCount = ((data.length - head) >>> 3) << 1;
  return {
    head,
    // A short input may end before an aligned address, where no view can start: it has no words anyway.
    words: wordCount === 0 ? EMPTY_WORDS : new Uint32Array(data.buffer, data.byteOffset + head, wordCount),
    tailStart: head + wordCount * 4,
  };
}

class Crc32cHasher implements Hasher {
  #crc = 0xffffffff;
  readonly #t: EightTables;

  constructor() {
    crc32cTables ??= crc32Tables(0x82f63b78);
    this.#t = crc32cTables as EightTables;
  }

  update(data: Uint8Array): void {
    const [t0, t1, t2, t3, t4, t5, t6, t7] = this.#t;
    const { head, words, tailStart } = wordView(data);
    let crc = this.#crc;
    for (let i = 0; i < head; i++) crc = (t0[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
    for (let j = 0; j < words.length; j += 2) {
      crc ^= words[j] as number;
      const next = words[j + 1] as number;
      crc =
        (t7[crc & 0xff] as number) ^
        (t6[(crc >>> 8) & 0xff] as number) ^
        (t5[(crc >>> 16) & 0xff] as number) ^
        (t4[crc >>> 24] as number) ^
        (t3[next & 0xff] as number) ^
        (t2[(next >>> 8) & 0xff] as number) ^
        (t1[(next >>> 16) & 0xff] as number) ^
        (t0[next >>> 24] as number);
    }
    for (let i = tailStart; i < data.length; i++)
      crc = (t0[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
    this.#crc = crc >>> 0;
  }

  digest(): Buffer {
    const out = Buffer.alloc(4);
    out.writeUInt32BE((this.#crc ^ 0xffffffff) >>> 0);
    return out;
  }
}

/** CRC64/NVME tables as pairs of 32-bit halves (JS has no fast 64-bit integers): hi[k][b], lo[k][b]. */
interface Crc64Tables {
  hi: EightTables;
  lo: EightTables;
}

let crc64NvmeTables: Crc64Tables | undefined;

function buildCrc64NvmeTables(): Crc64Tables {
  const polynomial = 0x9a6c9329ac4bc9b5n;
  const hi = Array.from({ length: 8 }, () => new Uint32Array(256));
  const lo = Array.from({ length: 8 }, () => new Uint32Array(256));
  const first = new Array<bigint>(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = BigInt(byte);
    for (let bit = 0; bit < 8; bit++) crc = crc & 1n ? (crc >> 1n) ^ polynomial : crc >> 1n;
    first[byte] = crc;
  }
  let previous = first;
  for (let k = 0; k < 8; k++) {
    const current =
      k === 0 ? first : previous.map((value) => (value >> 8n) ^ (first[Number(value & 0xffn)] as bigint));
    for (let byte = 0; byte < 256; byte++) {
      const value = current[byte] as bigint;
      (hi[k] as Uint32Array)[byte] = Number(value >> 32n);
      (lo[k] as Uint32Array)[byte] = Number(value & 0xffffffffn);
    }
    previous = current;
  }
  return { hi: hi as EightTables, lo: lo as EightTables };
}

class Crc64NvmeHasher implements Hasher {
  // The 64-bit register as two halves; it is reflected, so `lo` meets the earlier input bytes.
  #hi = 0xffffffff;
  #lo = 0xffffffff;
  readonly #tables: Crc64Tables;

  constructor() {
    crc64NvmeTables ??= buildCrc64NvmeTables();
    this.#tables = crc64NvmeTables;
  }

  update(data: Uint8Array): void {
    const [h0, h1, h2, h3, h4, h5, h6, h7] = this.#tables.hi;
    const [l0, l1, l2, l3, l4, l5, l6, l7] = this.#tables.lo;
    const { head, words, tailStart } = wordView(data);
    let hi = this.#hi;
    let lo = this.#lo;
    for (let i = 0; i < head; i++) {
      const index = (lo ^ (data[i] as number)) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ (l0[index] as number);
      hi = (hi >>> 8) ^ (h0[index] as number);
    }
    for (let j = 0; j < words.length; j += 2) {
      lo ^= words[j] as number;
      hi ^= words[j + 1] as number;
      const b0 = lo & 0xff;
      const b1 = (lo >>> 8) & 0xff;
      const b2 = (lo >>> 16) & 0xff;
      const b3 = lo >>> 24;
      const b4 = hi & 0xff;
      const b5 = (hi >>> 8) & 0xff;
      const b6 = (hi >>> 16) & 0xff;
      const b7 = hi >>> 24;
      hi =
        (h7[b0] as number) ^
        (h6[b1] as number) ^
        (h5[b2] as number) ^
        (h4[b3] as number) ^
        (h3[b4] as number) ^
        (h2[b5] as number) ^
        (h1[b6] as number) ^
        (h0[b7] as number);
      lo =
        (l7[b0] as number) ^
        (l6[b1] as number) ^
        (l5[b2] as number) ^
        (l4[b3] as number) ^
        (l3[b4] as number) ^
        (l2[b5] as number) ^
        (l1[b6] as number) ^
        (l0[b7] as number);
    }
    for (let i = tailStart; i < data.length; i++) {
      const index = (lo ^ (data[i] as number)) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ (l0[index] as number);
      hi = (hi >>> 8) ^ (h0[index] as number);
    }
    this.#hi = hi >>> 0;
    this.#lo = lo >>> 0;
  }

  digest(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE((this.#hi ^ 0xffffffff) >>> 0, 0);
    out.writeUInt32BE((this.#lo ^ 0xffffffff) >>> 0, 4);
    return out;
  }
}

class NodeHasher implements Hasher {
  readonly #hash: Hash;
  constructor(algorithm: string) {
    this.#hash = createHash(algorithm);
  }
  update(data: Uint8Array): void {
    this.#hash.update(data);
  }
  digest(): Buffer {
    return this.#hash.digest();
  }
}

function createHasher(algorithm: ChecksumAlgorithm): Hasher {
  switch (algorithm) {
    case 'CRC32':
      return new Crc32Hasher();
    case 'CRC32C':
      return new Crc32cHasher();
    case 'CRC64NVME':
      return new Crc64NvmeHasher();
    case 'SHA1':
      return new NodeHasher('sha1');
    case 'SHA256':
      return new NodeHasher('sha256');
    case 'SHA512':
      return new NodeHasher('sha512');
    case 'MD5':
      return new NodeHasher('md5');
  }
}

/** The digest of a whole buffer (big-endian bytes for the CRCs, as S3 encodes them). */
export function computeChecksum(algorithm: ChecksumAlgorithm, data: Uint8Array): Buffer {
  const hasher = createHasher(algorithm);
  hasher.update(data);
  return hasher.digest();
}

/** A pass-through stream that computes the given digests of everything that flows through it. */
export class ChecksumTap extends Transform {
  readonly #hashers = new Map<ChecksumAlgorithm, Hasher>();
  readonly #digests = new Map<ChecksumAlgorithm, Buffer>();
  #bytes = 0;

  constructor(algorithms: Iterable<ChecksumAlgorithm>) {
    super();
    for (const algorithm of algorithms) {
      if (!this.#hashers.has(algorithm)) this.#hashers.set(algorithm, createHasher(algorithm));
    }
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    for (const hasher of this.#hashers.values()) hasher.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    for (const [algorithm, hasher] of this.#hashers) this.#digests.set(algorithm, hasher.digest());
    callback();
  }

  /** The digest of everything that passed, available once the stream has been flushed (its 'finish'/'end'). */
  digest(algorithm: ChecksumAlgorithm): Buffer {
    const digest = this.#digests.get(algorithm);
    if (digest === undefined) {
      throw new Error(
        this.#hashers.has(algorithm)
          ? `The ${algorithm} digest is not ready: the stream has not ended.`
          : `The tap does not compute ${algorithm}.`,
      );
    }
    return digest;
  }
}

export function createChecksumTap(algorithms: Iterable<ChecksumAlgorithm>): ChecksumTap {
  return new ChecksumTap(algorithms);
}

const VERIFY_ORDER: readonly ChecksumSource[] = [
  'x-amz-content-sha256',
  'content-md5',
  'x-amz-checksum-header',
  'x-amz-checksum-trailer',
];

/** Throws the S3 error for the first expected digest that the tap (or a body read whole) did not produce. */
export function verifyChecksums(
  tap: Pick<ChecksumTap, 'digest'>,
  expected: readonly ExpectedChecksum[],
): void {
  const ordered = [...expected].sort(
    (a, b) => VERIFY_ORDER.indexOf(a.source) - VERIFY_ORDER.indexOf(b.source),
  );
  for (const check of ordered) {
    if (tap.digest(check.algorithm).equals(check.digest)) continue;
    switch (check.source) {
      case 'x-amz-content-sha256':
        throw new S3Error('XAmzContentSHA256Mismatch');
      case 'content-md5':
        throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
      default:
        throw new S3Error(
          'BadDigest',
          `The ${check.algorithm} you specified did not match the calculated checksum.`,
        );
    }
  }
}

/** Checks a body read whole against the digests its headers declare (Content-MD5, x-amz-checksum-*). */
export function verifyBodyChecksums(headers: IncomingHttpHeaders, body: Uint8Array): void {
  verifyChecksums({ digest: (algorithm) => computeChecksum(algorithm, body) }, expectedChecksums(headers));
}
