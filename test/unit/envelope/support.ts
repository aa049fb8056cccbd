import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createOpenStream,
  createSealStream,
  type OpenOptions,
  type SealOptions,
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
