/**
 * Would a worker thread for the cipher win on this machine? Issue 10 asks to measure it. Seals 1 GiB of
 * 64 KiB segments (each a fresh buffer, as socket reads are) on the main thread, then hands the same work
 * to a worker thread in batches (the segments' memory transferred, not copied, both ways) and reports,
 * per GiB, the CPU of the main thread, of the worker, their sum, and the wall-clock speed.
 *
 *   node bench/cipher-worker.ts            (BENCH_CIPHER_WORKER_MIB=1024 by default)
 *
 * A proxy's main thread also parses HTTP and drives both sockets; the worker only wins if what it takes
 * off the main thread (the cipher) is worth more than what the hand-over costs there.
 */
import { createCipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { AAD_V1, SEGMENT_SIZE } from '../src/envelope/constants.ts';
import { segmentNonce } from '../src/envelope/nonce.ts';

type Batch = { first: number; segments: ArrayBuffer[] };
type Sealed = { segments: ArrayBuffer[]; tags: ArrayBuffer[] };

function seal(key: KeyObject, nonce: Buffer, index: number, plaintext: Uint8Array): [Buffer, Buffer] {
  const cipher = createCipheriv('aes-256-gcm', key, segmentNonce(nonce, index, false));
  cipher.setAAD(AAD_V1);
  const body = cipher.update(plaintext);
  cipher.final();
  return [body, cipher.getAuthTag()];
}

/** An ArrayBuffer of exactly this buffer's bytes, so transferring it moves nothing else. */
function ownBuffer(buffer: Buffer): ArrayBuffer {
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) {
    return buffer.buffer as ArrayBuffer;
  }
  return new Uint8Array(buffer).buffer;
}

if (!isMainThread) {
  const { dek, nonce } = workerData as { dek: Uint8Array; nonce: Uint8Array };
  const key = createSecretKey(Buffer.from(dek));
  const objectNonce = Buffer.from(nonce);
  parentPort?.on('message', (message: Batch | 'cpu') => {
    if (message === 'cpu') {
      parentPort?.postMessage(process.threadCpuUsage());
      return;
    }
    const segments: ArrayBuffer[] = [];
    const tags: ArrayBuffer[] = [];
    message.segments.forEach((segment, i) => {
      const [body, tag] = seal(key, objectNonce, message.first + i, new Uint8Array(segment));
      segments.push(ownBuffer(body));
      tags.push(ownBuffer(tag));
    });
    const sealed: Sealed = { segments, tags };
    parentPort?.postMessage(sealed, [...segments, ...tags]);
  });
} else {
  const totalMiB = Number(process.env.BENCH_CIPHER_WORKER_MIB ?? 1024);
  const count = (totalMiB * 1024 * 1024) / SEGMENT_SIZE;
  const dek = randomBytes(32);
  const nonce = randomBytes(12);
  const input = randomBytes(SEGMENT_SIZE);
  const perGiB = (seconds: number) => seconds / (totalMiB / 1024);
  const threadCpu = (usage: { user: number; system: number }) => (usage.user + usage.system) / 1e6;

  const inThread = () => {
    const key = createSecretKey(dek);
    const cpu0 = threadCpu(process.threadCpuUsage());
    const t0 = performance.now();
    for (let i = 0; i < count; i++) seal(key, nonce, i, Buffer.from(input));
    const wall = (performance.now() - t0) / 1000;
    return { main: perGiB(threadCpu(process.threadCpuUsage()) - cpu0), worker: 0, wall };
  };

  const withWorker = async (batchSize: number, inFlight: number) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { dek, nonce } });
    const ask = <T>(message: Batch | 'cpu', transfer: ArrayBuffer[] = []) =>
      new Promise<T>((resolve) => {
        worker.once('message', resolve);
        worker.postMessage(message, transfer);
      });
    // Warm the worker up (module load, the key) before measuring.
    await ask<Sealed>({ first: 0, segments: [new ArrayBuffer(SEGMENT_SIZE)] });
    const workerCpu0 = threadCpu(await ask('cpu'));
    const cpu0 = threadCpu(process.threadCpuUsage());
    const t0 = performance.now();
    let sent = 0;
    let pending = 0;
    await new Promise<void>((resolve) => {
      const send = () => {
        while (pending < inFlight && sent < count) {
          const segments: ArrayBuffer[] = [];
          for (let i = 0; i < batchSize && sent + i < count; i++)
            segments.push(ownBuffer(Buffer.from(input)));
          const batch: Batch = { first: sent, segments };
          sent += segments.length;
          pending += 1;
          worker.postMessage(batch, segments);
        }
        if (pending === 0 && sent >= count) resolve();
      };
      worker.on('message', (sealed: Sealed) => {
        // What the proxy would do next: hand each sealed segment and tag to the socket as Buffers.
        for (let i = 0; i < sealed.segments.length; i++) {
          Buffer.from(sealed.segments[i] as ArrayBuffer);
          Buffer.from(sealed.tags[i] as ArrayBuffer);
        }
        pending -= 1;
        send();
      });
      send();
    });
    const wall = (performance.now() - t0) / 1000;
    const main = perGiB(threadCpu(process.threadCpuUsage()) - cpu0);
    worker.removeAllListeners('message');
    const workerCpu = perGiB(threadCpu(await ask('cpu')) - workerCpu0);
    await worker.terminate();
    return { main, worker: workerCpu, wall };
  };

  const rows: Array<[string, { main: number; worker: number; wall: number }]> = [];
  for (let round = 0; round < 2; round++) {
    rows.push(['main thread only', inThread()]);
    for (const [batchSize, inFlight] of [
      [1, 4],
      [4, 4],
      [16, 2],
    ] as const) {
      rows.push([
        `worker, ${batchSize} segment(s) per message, ${inFlight} in flight`,
        await withWorker(batchSize, inFlight),
      ]);
    }
  }
  console.log(
    `AES-256-GCM seal of ${totalMiB} MiB in 64 KiB segments; CPU seconds per GiB (thread CPU), speed`,
  );
  for (const [name, r] of rows) {
    console.log(
      `${name.padEnd(48)} main ${r.main.toFixed(2)}  worker ${r.worker.toFixed(2)}  sum ${(r.main + r.worker).toFixed(2)}  ${(totalMiB / r.wall).toFixed(0)} MiB/s`,
    );
  }
}
