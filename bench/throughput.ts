/**
 * PUT and GET throughput of one large object through the proxy and directly to SeaweedFS, side by side in
 * one run with the same client (AWS SDK v3, default settings), and the proxy's peak RSS (R-PERF-1, R-PERF-2).
 *
 *   npm run bench                 # 256 MiB, 3 rounds
 *   BENCH_SIZE_MIB=1024 BENCH_ROUNDS=1 npm run bench
 *   BENCH_PROFILE_DIR=/tmp/prof npm run bench   # CPU profile of the proxy
 */
import { readFile } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createBucket, uniqueBucket } from '../test/support/fixtures.ts';
import { proxyS3Client, startProxy } from '../test/support/proxy-process.ts';
import { createS3Client, loadServices } from '../test/support/services.ts';

const MiB = 1024 * 1024;
const size = Number(process.env.BENCH_SIZE_MIB ?? 256) * MiB;
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

/** A body of `length` bytes made on the fly, so the client's memory does not hold the object. */
function generatedBody(length: number): Readable {
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= length) return this.push(null);
      const n = Math.min(block.length, length - sent);
      sent += n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}

async function timePut(client: S3Client, bucket: string, key: string): Promise<number> {
  const started = performance.now();
  await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: generatedBody(size), ContentLength: size }),
  );
  return (performance.now() - started) / 1000;
}

async function timeGet(client: S3Client, bucket: string, key: string): Promise<number> {
  const started = performance.now();
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  let received = 0;
  await pipeline(
    got.Body as Readable,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        callback();
      },
    }),
  );
  if (received !== size) throw new Error(`GET returned ${received} bytes, expected ${size}`);
  return (performance.now() - started) / 1000;
}

async function peakRssMiB(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
  return kib / 1024;
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const rate = (seconds: number) => size / MiB / seconds;

async function main(): Promise<void> {
  const services = await loadServices();
  const profileDir = process.env.BENCH_PROFILE_DIR;
  const proxy = await startProxy(services, {
    env: {
      CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: String(size),
      CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn',
      // BENCH_PROFILE_DIR=dir writes a V8 CPU profile of the proxy there (open it in Chrome DevTools).
      ...(profileDir === undefined ? {} : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` }),
    },
  });
  try {
    const viaProxy = proxyS3Client(proxy);
    const direct = createS3Client(services);
    const bucket = uniqueBucket('bench');
    await createBucket(direct, bucket);
    const results = {
      directPut: [] as number[],
      proxyPut: [] as number[],
      directGet: [] as number[],
      proxyGet: [] as number[],
    };
    for (let round = 0; round < rounds; round++) {
      results.directPut.push(await timePut(direct, bucket, 'direct'));
      results.proxyPut.push(await timePut(viaProxy, bucket, 'proxied'));
      results.directGet.push(await timeGet(direct, bucket, 'direct'));
      results.proxyGet.push(await timeGet(viaProxy, bucket, 'proxied'));
    }
    const rss = await peakRssMiB(proxy.process.pid);
    const put = { direct: rate(median(results.directPut)), proxy: rate(median(results.proxyPut)) };
    const get = { direct: rate(median(results.directGet)), proxy: rate(median(results.proxyGet)) };
    console.log(
      `object size: ${size / MiB} MiB, rounds: ${rounds} (median), client: AWS SDK v3 defaults, upstream: SeaweedFS on loopback`,
    );
    console.log(
      `PUT  direct ${put.direct.toFixed(1)} MiB/s  proxy ${put.proxy.toFixed(1)} MiB/s  ratio ${(put.proxy / put.direct).toFixed(2)}`,
    );
    console.log(
      `GET  direct ${get.direct.toFixed(1)} MiB/s  proxy ${get.proxy.toFixed(1)} MiB/s  ratio ${(get.proxy / get.direct).toFixed(2)}`,
    );
    console.log(`proxy peak RSS: ${rss.toFixed(1)} MiB`);
    // Idle keep-alive connections would hold the proxy's drain open until its grace period ends.
    viaProxy.destroy();
    direct.destroy();
  } finally {
    const exit = await proxy.stop();
    if (exit.code !== 0) console.error(`proxy exit: ${JSON.stringify(exit)}`);
    await services.stop();
  }
}

await main();
