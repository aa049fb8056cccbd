import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createMultipartOpenStream,
  createOpenStream,
  createPartSealStream,
  createSealStream,
  type LayoutPart,
  type OpenOptions,
  PART_HEADER_SIZE,
  type PartHeader,
  type PartLayout,
  planMultipartRead,
  type SealOptions,
  uploadBinding,
} from '../../../src/envelope/index.ts';

export const S = 65536;

/** The deterministic plaintext the vectors call {"pattern": "i%251"}: byte i is i mod 251. */
export function pattern(length: number, offset = 0): Buffer {
  const data = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) data[i] = (i + offset) % 251;
  return data;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Splits data into writes of the given sizes, repeating the list until the data is used up. */
export function split(data: Buffer, sizes: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let offset = 0;
  let i = 0;
  while (offset < data.length) {
    const size = Math.max(1, sizes[i % sizes.length] ?? 1);
    pieces.push(data.subarray(offset, offset + size));
    offset += size;
    i += 1;
  }
  return pieces;
}

/** A small seeded generator so "random" splits are reproducible when a test fails. */
export function seededSizes(seed: number, count: number, max: number): number[] {
  let state = seed >>> 0 || 1;
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    sizes.push(1 + (state % max));
  }
  return sizes;
}

export const CHUNKINGS: Record<string, (data: Buffer) => Buffer[]> = {
  'whole buffer': (data) => (data.length === 0 ? [] : [data]),
  '1-byte writes': (data) => split(data, [1]),
  '1000-byte writes': (data) => split(data, [1000]),
  'segment-sized writes': (data) => split(data, [S]),
  'writes straddling segments': (data) => split(data, [S - 1, S + 2, 3]),
  'random splits': (data) => split(data, seededSizes(data.length + 7, 64, 3 * S)),
};

export type Outcome = { output: Buffer; error: unknown };

/** Runs pieces through a transform and keeps what it released, also when it fails. */
export async function run(pieces: Buffer[], transform: NodeJS.ReadWriteStream): Promise<Outcome> {
  const released: Buffer[] = [];
  let error: unknown;
  try {
    await pipeline(
      Readable.from(pieces),
      transform,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          released.push(Buffer.from(chunk));
          callback();
        },
      }),
    );
  } catch (caught) {
    error = caught;
  }
  return { output: Buffer.concat(released), error };
}

export async function seal(plaintext: Buffer, options: SealOptions, pieces?: Buffer[]): Promise<Buffer> {
  const outcome = await run(pieces ?? [plaintext], createSealStream(options));
  if (outcome.error) throw outcome.error;
  return outcome.output;
}

export async function open(ciphertext: Buffer, options: OpenOptions, pieces?: Buffer[]): Promise<Outcome> {
  return run(pieces ?? (ciphertext.length === 0 ? [] : [ciphertext]), createOpenStream(options));
}

export type BuiltPart = { header: PartHeader; dek: Buffer; plaintext: Buffer; stored: Buffer };
export type BuiltObject = { parts: BuiltPart[]; stored: Buffer; plaintext: Buffer; uploadId: string };

/** Deterministic per-part keys and nonces, so a failing case can be rebuilt exactly. */
export function derived(label: string, length: number): Buffer {
  return createHash('sha256').update(label).digest().subarray(0, length);
}

/**
 * A multipart object sealed by the real writer (createPartSealStream): part i has part number
 * numbers[i] (default i + 1) and the plaintext continues pattern() across parts.
 */
export async function buildMultipart(
  sizes: number[],
  options: { uploadId?: string; numbers?: number[]; label?: string } = {},
): Promise<BuiltObject> {
  const uploadId = options.uploadId ?? 'test-upload';
  const label = (options.label ?? uploadId).replace(/[^\x21-\x7e]/g, '_');
  const parts: BuiltPart[] = [];
  let offset = 0;
  for (const [i, size] of sizes.entries()) {
    const plaintext = pattern(size, offset);
    offset += size;
    const header: PartHeader = {
      wrappedDek: `vault:v1:${label}-part-${i}`,
      nonce: derived(`nonce ${label} ${i}`, 12),
      plaintextSize: size,
      partNumber: options.numbers?.[i] ?? i + 1,
      uploadBinding: uploadBinding(uploadId),
    };
    const dek = derived(`dek ${label} ${i}`, 32);
    const outcome = await run(plaintext.length ? [plaintext] : [], createPartSealStream({ dek, header }));
    if (outcome.error) throw outcome.error;
    parts.push({ header, dek, plaintext, stored: outcome.output });
  }
  return {
    parts,
    stored: Buffer.concat(parts.map((part) => part.stored)),
    plaintext: Buffer.concat(parts.map((part) => part.plaintext)),
    uploadId,
  };
}

export type FetchLog = { offsets: number[]; inFlight: number; maxInFlight: number };

/** fetchHeader over a stored body, answering on a later turn so that parallel calls overlap. */
export function headerFetcher(stored: Buffer, log: FetchLog = { offsets: [], inFlight: 0, maxInFlight: 0 }) {
  const fetchHeader = async (offset: number): Promise<Buffer> => {
    log.offsets.push(offset);
    log.inFlight += 1;
    log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    log.inFlight -= 1;
    return Buffer.from(stored.subarray(offset, offset + PART_HEADER_SIZE));
  };
  return { fetchHeader, log };
}

/** DEKs by wrapped DEK, fresh copies each call (the stream zeroes what it is given), with a call log. */
export function keyService(objects: BuiltObject[]) {
  const keys = new Map<string, Buffer>();
  for (const object of objects) for (const part of object.parts) keys.set(part.header.wrappedDek, part.dek);
  const calls: number[] = [];
  const handedOut: Buffer[] = [];
  const dataKey = async (part: LayoutPart): Promise<Buffer> => {
    calls.push(part.index);
    const key = keys.get(part.header.wrappedDek);
    if (!key) throw new Error(`no key for ${part.header.wrappedDek}`);
    const copy = Buffer.from(key);
    handedOut.push(copy);
    return copy;
  };
  return { dataKey, calls, handedOut, keys };
}

/** Reads plaintext start..end of a multipart object as the proxy does: plan, fetch that range, open. */
export async function readMultipart(
  layout: PartLayout,
  stored: Buffer,
  start: number,
  endInclusive: number,
  dataKey: (part: LayoutPart) => Promise<Buffer>,
  chunking: (data: Buffer) => Buffer[] = (data) => (data.length === 0 ? [] : [data]),
): Promise<Outcome> {
  const plan = planMultipartRead(layout, start, endInclusive);
  const fetched = stored.subarray(plan.cipherStart, plan.cipherEndInclusive + 1);
  return run(chunking(fetched), createMultipartOpenStream({ layout, start, endInclusive, dataKey }));
}
