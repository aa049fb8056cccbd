/**
 * What reading multipart objects costs (issue 8: range reads use authenticated part sizes), against real
 * OpenBao and SeaweedFS:
 * - upstream requests and Vault calls of the first and of a repeated range read of a 100-part object,
 *   counted by an HTTP forwarder in front of SeaweedFS and by the proxy's own /metrics;
 * - GET throughput of a 1 GiB multipart object (8 MiB parts): a range read with the proxy's caches cold,
 *   the same range again, and a whole-object GET.
 * Each round starts fresh proxies, so "first" is first for that process.
 *
 *   node bench/multipart-read.ts
 *   BENCH_ROUNDS=3 BENCH_BUCKET=<bucket from an earlier run> node bench/multipart-read.ts   # reuse the objects
 *   BENCH_PARTS=100 BENCH_PART_MIB=5 BENCH_SIZE_MIB=1024 node bench/multipart-read.ts
 */
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startCountingRelay } from '../test/support/counting-relay.ts';
import { createBucket, MiB, uniqueBucket } from '../test/support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../test/support/proxy-process.ts';
import { createS3Client, loadServices, type Services } from '../test/support/services.ts';
import { generatedBody } from './clients.ts';
import { cpuSeconds } from './proc.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const partCount = Number(process.env.BENCH_PARTS ?? 100);
const smallPart = Number(process.env.BENCH_PART_MIB ?? 5) * MiB;
const largeSize = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MiB;
const largePart = 8 * MiB;
const MANY_PARTS = 'many-parts';
const LARGE = 'large';

async function vaultDecrypts(proxy: ProxyProcess): Promise<number> {
  const text = await (await fetch(`${proxy.healthEndpoint}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('cloudtaser_s3proxy_vault_requests_total{') && line.includes('call="decrypt"'))
      total += Number(line.split(' ').at(-1));
  }
  return total;
}

async function startedUp(proxy: ProxyProcess): Promise<void> {
  await proxy.waitForLogRecord((record) => record.msg === 'Vault Transit key usable', 30_000);
}

/** Reads the body of a GET to its end and returns its length and seconds taken. */
async function timedGet(client: S3Client, bucket: string, key: string, range?: string) {
  const started = performance.now();
  const got = await client.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, ...(range === undefined ? {} : { Range: range }) }),
  );
  let bytes = 0;
  await pipeline(
    got.Body as Readable,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        callback();
      },
    }),
  );
  return { bytes, seconds: (performance.now() - started) / 1000 };
}

async function upload(client: S3Client, bucket: string, key: string, size: number, partSize: number) {
  await new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: generatedBody(size) },
    partSize,
    queueSize: 4,
  }).done();
}

async function ensureObjects(services: Services, bucket: string | undefined): Promise<string> {
  const direct = createS3Client(services);
  if (bucket !== undefined) {
    await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: MANY_PARTS }));
    await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: LARGE }));
    return bucket;
  }
  const writer = await startProxy(services, {
    env: { CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn', CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: String(largeSize) },
  });
  try {
    const client = proxyS3Client(writer);
    const created = uniqueBucket('bench-mp');
    await createBucket(client, created);
    await upload(client, created, MANY_PARTS, partCount * smallPart, smallPart);
    await upload(client, created, LARGE, largeSize, largePart);
    client.destroy();
    console.log(
      `uploaded ${MANY_PARTS} (${partCount} parts of ${smallPart / MiB} MiB) and ${LARGE} (${largeSize / MiB} MiB in ${largePart / MiB} MiB parts) to bucket ${created}`,
    );
    return created;
  } finally {
    await writer.stop();
  }
}

/** Upstream requests and Vault decrypt calls of a first and a repeated 1 MiB range read inside the object. */
async function countRangeReads(services: Services, bucket: string) {
  const relay = await startCountingRelay(services.s3.endpoint);
  const proxy = await startProxy(services, {
    env: { CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn', CLOUDTASER_S3PROXY_S3_ENDPOINT: relay.endpoint },
  });
  try {
    await startedUp(proxy);
    const client = proxyS3Client(proxy);
    const measure = async (range: string) => {
      relay.reset();
      const decrypts = await vaultDecrypts(proxy);
      const { bytes } = await timedGet(client, bucket, MANY_PARTS, range);
      if (bytes !== MiB) throw new Error(`range ${range} returned ${bytes} bytes`);
      return { requests: relay.seen().length, vault: (await vaultDecrypts(proxy)) - decrypts };
    };
    const at = (part: number) => part * smallPart + 12345;
    const first = await measure(`bytes=${at(50)}-${at(50) + MiB - 1}`);
    const repeated = await measure(`bytes=${at(70)}-${at(70) + MiB - 1}`);
    client.destroy();
    return { first, repeated };
  } finally {
    await proxy.stop();
    await relay.close();
  }
}

type Speed = { mibPerSecond: number; cpuPerGiB: number };

async function throughput(services: Services, bucket: string) {
  const proxy = await startProxy(services, { env: { CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn' } });
  try {
    await startedUp(proxy);
    const client = proxyS3Client(proxy);
    const range = `bytes=${MiB}-`;
    const measure = async (withRange?: string): Promise<Speed> => {
      const pid = proxy.process.pid as number;
      const cpu = cpuSeconds(pid);
      const { bytes, seconds } = await timedGet(client, bucket, LARGE, withRange);
      const used = cpuSeconds(pid) - cpu;
      return { mibPerSecond: bytes / MiB / seconds, cpuPerGiB: used / (bytes / (1024 * MiB)) };
    };
    const coldRange = await measure(range);
    const warmRange = await measure(range);
    const whole = await measure();
    client.destroy();
    return { coldRange, warmRange, whole };
  } finally {
    await proxy.stop();
  }
}

const shown = (speed: Speed) =>
  `${speed.mibPerSecond.toFixed(1)} MiB/s (proxy CPU ${speed.cpuPerGiB.toFixed(2)} s/GiB)`;

async function main(): Promise<void> {
  const services = await loadServices();
  try {
    const bucket = await ensureObjects(services, process.env.BENCH_BUCKET);
    for (let round = 1; round <= rounds; round++) {
      const counts = await countRangeReads(services, bucket);
      const speed = await throughput(services, bucket);
      console.log(
        `round ${round}: ${partCount}-part object, 1 MiB range: first read ${counts.first.requests} upstream requests, ${counts.first.vault} Vault decrypt calls; repeated ${counts.repeated.requests} upstream requests, ${counts.repeated.vault} Vault calls`,
      );
      console.log(
        `round ${round}: ${largeSize / MiB} MiB object in ${largePart / MiB} MiB parts: range GET (bytes=1MiB-) cold ${shown(speed.coldRange)}, again ${shown(speed.warmRange)}; whole GET ${shown(speed.whole)}`,
      );
    }
  } finally {
    await services.stop();
  }
}

await main();
