/**
 * PUT and GET throughput of one large object through the proxy and directly to SeaweedFS, side by side in
 * one run with the same client (AWS SDK v3, default settings), and the proxy's peak RSS (R-PERF-1, R-PERF-2).
 *
 *   npm run bench                 # 256 MiB, 3 rounds
 *   BENCH_SIZE_MIB=1024 BENCH_ROUNDS=1 npm run bench
 *   BENCH_PARALLEL=64 BENCH_PARALLEL_MIB=10 npm run bench   # the concurrent part (0 skips it)
 *   BENCH_PROFILE_DIR=/tmp/prof npm run bench   # CPU profile of the proxy
 */
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:http';
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

async function timePut(client: S3Client, bucket: string, key: string, length = size): Promise<number> {
  const started = performance.now();
  await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: generatedBody(length), ContentLength: length }),
  );
  return (performance.now() - started) / 1000;
}

async function timeGet(client: S3Client, bucket: string, key: string, length = size): Promise<number> {
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
  if (received !== length) throw new Error(`GET returned ${received} bytes, expected ${length}`);
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

/**
 * Memory under concurrency (R-PERF-2: 64 concurrent transfers under 512 MiB), in a proxy of its
 * own so that its peak RSS is only this load's. BENCH_PARALLEL=0 skips it.
 */
async function concurrentTransfers(count: number, sizeMiB: number): Promise<void> {
  const length = sizeMiB * MiB;
  const services = await loadServices();
  const proxy = await startProxy(services, {
    env: { CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: String(length), CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn' },
  });
  try {
    const client = proxyS3Client(proxy, {
      config: { requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: count }) } },
    });
    const bucket = uniqueBucket('bench-parallel');
    await createBucket(client, bucket);
    const keys = Array.from({ length: count }, (_, i) => `parallel-${i}`);
    let started = performance.now();
    await allOrFirstError(keys.map((key) => timePut(client, bucket, key, length)));
    const putSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    await allOrFirstError(keys.map((key) => timeGet(client, bucket, key, length)));
    const getSeconds = (performance.now() - started) / 1000;
    const total = (count * length) / MiB;
    console.log(
      `${count} concurrent ${sizeMiB} MiB transfers: PUT ${(total / putSeconds).toFixed(1)} MiB/s, GET ${(total / getSeconds).toFixed(1)} MiB/s, proxy peak RSS ${(await peakRssMiB(proxy.process.pid)).toFixed(1)} MiB`,
    );
    client.destroy();
  } finally {
    await proxy.stop();
    await services.stop();
  }
}

/** Waits for every transfer, then fails with how many failed and the first reason. */
async function allOrFirstError(transfers: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(transfers)).filter((r) => r.status === 'rejected');
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${transfers.length} transfers failed; the first: ${String(failed[0]?.reason)}`,
    );
  }
}

await main();
const parallel = Number(process.env.BENCH_PARALLEL ?? 64);
// 10 MiB by default: with 64 concurrent 100 MiB writes, the harness's SeaweedFS (small volumes, one disk)
// answered some of them with its own InternalError; a transfer's memory does not depend on its size.
if (parallel > 0) await concurrentTransfers(parallel, Number(process.env.BENCH_PARALLEL_MIB ?? 10));
