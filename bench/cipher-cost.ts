/**
 * The raw cost of the format's cipher in this Node binary: AES-256-GCM with one cipher object per 64 KiB
 * segment (as src/envelope does: a KeyObject made once, a nonce and the AAD per segment), over input that
 * arrives in 1 MiB chunks, with no streams around it. The proxy's CPU per GiB is compared with this.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { AAD_V1, SEGMENT_SIZE, TAG_SIZE } from '../src/envelope/constants.ts';
import { segmentNonce } from '../src/envelope/nonce.ts';

export type CipherCost = {
  /** CPU seconds per GiB of plaintext, the lowest of `repeats` measurements (the least disturbed). */
  sealSPerGiB: number;
  openSPerGiB: number;
  /** Every measurement, to show the spread. */
  sealSamples: number[];
  openSamples: number[];
  bytes: number;
};

const GiB = 2 ** 30;
const CHUNK = 1024 * 1024;

function cpuNow(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function sealAll(
  chunk: Buffer,
  chunks: number,
  key: ReturnType<typeof createSecretKey>,
  nonce: Buffer,
): Buffer[] {
  const sealed: Buffer[] = [];
  let index = 0;
  for (let c = 0; c < chunks; c++) {
    for (let offset = 0; offset < chunk.length; offset += SEGMENT_SIZE) {
      const last = c === chunks - 1 && offset + SEGMENT_SIZE >= chunk.length;
      const cipher = createCipheriv('aes-256-gcm', key, segmentNonce(nonce, index, last));
      cipher.setAAD(AAD_V1);
      const body = cipher.update(chunk.subarray(offset, offset + SEGMENT_SIZE));
      cipher.final();
      const tag = cipher.getAuthTag();
      // Keep the first chunk's segments to open them later; the rest is dropped as the proxy drops it.
      if (c === 0) sealed.push(Buffer.concat([body, tag]));
      index++;
    }
  }
  return sealed;
}

function openAll(
  sealed: Buffer[],
  rounds: number,
  key: ReturnType<typeof createSecretKey>,
  nonce: Buffer,
): void {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < sealed.length; i++) {
      const segment = sealed[i] as Buffer;
      // The nonces of the first chunk's segments are the ones these segments were sealed with.
      const decipher = createDecipheriv('aes-256-gcm', key, segmentNonce(nonce, i, false));
      decipher.setAAD(AAD_V1);
      decipher.setAuthTag(segment.subarray(segment.length - TAG_SIZE));
      decipher.update(segment.subarray(0, segment.length - TAG_SIZE));
      decipher.final();
    }
  }
}

export function measureCipherCost(bytes: number, repeats = 3): CipherCost {
  const key = createSecretKey(randomBytes(32));
  const nonce = randomBytes(12);
  const chunk = randomBytes(CHUNK);
  const chunks = Math.max(1, Math.round(bytes / CHUNK));
  const total = chunks * CHUNK;
  const sealSamples: number[] = [];
  const openSamples: number[] = [];
  // Warm-up: the first calls compile the JS around the native cipher.
  const sealed = sealAll(chunk, 2, key, nonce);
  openAll(sealed, 2, key, nonce);
  for (let r = 0; r < repeats; r++) {
    let started = cpuNow();
    sealAll(chunk, chunks, key, nonce);
    sealSamples.push(((cpuNow() - started) * GiB) / total);
    started = cpuNow();
    openAll(sealed, chunks, key, nonce);
    openSamples.push(((cpuNow() - started) * GiB) / total);
  }
  return {
    sealSPerGiB: Math.min(...sealSamples),
    openSPerGiB: Math.min(...openSamples),
    sealSamples,
    openSamples,
    bytes: total,
  };
}

if (import.meta.main) {
  const cost = measureCipherCost(Number(process.env.BENCH_CIPHER_MIB ?? 256) * CHUNK);
  console.log(
    `AES-256-GCM per 64 KiB segment: seal ${cost.sealSPerGiB.toFixed(3)} s/GiB, open ${cost.openSPerGiB.toFixed(3)} s/GiB (${process.version})`,
  );
}
