/**
 * Vault load and small-object rate (R-KMS-2, R-PERF-3), against real OpenBao and SeaweedFS:
 * - Vault calls per 1,000 PUTs, and per 1,000 GETs of the same 100 objects, from the proxy's own /metrics;
 * - 4 KiB PUT and GET operations per second through the proxy and directly to SeaweedFS, side by side with
 *   the same client (AWS SDK v3 defaults, keep-alive), and their ratio (target: at least 0.70);
 * - the same through a proxy with the key pool and cache off (a Vault round trip per request), for scale.
 *
 *   npm run bench:vault
 *   BENCH_CONCURRENCY=32 BENCH_SECONDS=10 BENCH_ROUNDS=3 npm run bench:vault
 */
import { Agent } from 'node:http';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createBucket, uniqueBucket } from '../test/support/fixtures.ts';
import { type ProxyProcess, startProxy } from '../test/support/proxy-process.ts';
import { loadServices } from '../test/support/services.ts';
import { wholeBody } from './clients.ts';

const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
// Random bytes, like every benchmark body: SeaweedFS serves a compressible object at another cost (bench/clients.ts).
const OBJECT = wholeBody(4096);
const OBJECTS = 100;

function client(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials,
    forcePathStyle: true,
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: concurrency * 2 }) },
  });
}

async function put(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: OBJECT }));
}

async function get(s3: S3Client, bucket: string, key: string): Promise<void> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = await got.Body?.transformToByteArray();
  if (body?.length !== OBJECT.length) throw new Error(`GET ${key} returned ${body?.length} bytes`);
}

/** Operations per second of `op` run by `concurrency` workers for `seconds`. */
async function rate(op: (worker: number, i: number) => Promise<void>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < deadline; i++) {
        await op(worker, i);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

async function vaultCalls(proxy: ProxyProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`${proxy.healthEndpoint}/metrics`)).text();
  const waited = /^cloudtaser_s3proxy_data_keys_issued_total\{source="waited"\} (\S+)$/m.exec(text);
  // Without a pool neither sample exists; with one, "waited" appears only once a write has waited.
  const pooled = text.includes('cloudtaser_s3proxy_data_keys_issued_total{source="pool"}');
  const calls: Record<string, number> = {
    total: 0,
    waited: waited !== null ? Number(waited[1]) : pooled ? 0 : Number.NaN,
  };
  for (const match of text.matchAll(
    /^cloudtaser_s3proxy_vault_requests_total\{call="(\w+)",outcome="\w+"\} (\S+)$/gm,
  )) {
    const [, call, value] = match as unknown as [string, string, string];
    calls[call] = (calls[call] ?? 0) + Number(value);
    calls.total = (calls.total ?? 0) + Number(value);
  }
  return calls;
}

const diff = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([call, n]) => [call, n - (before[call] ?? 0)]));
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const show = (calls: Record<string, number>) =>
  Object.entries(calls)
    .filter(([call, n]) => call !== 'total' && call !== 'waited' && n > 0)
    .map(([call, n]) => `${call} ${n}`)
    .join(', ') || 'none';

async function vaultLoad(proxy: ProxyProcess, label: string): Promise<void> {
  const s3 = client(proxy.endpoint, { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' });
  const bucket = uniqueBucket('bench-vault');
  await createBucket(s3, bucket);
  // Waits out the start-up round trip and the first pool fill, which belong to neither figure.
  for (let i = 0; i < 50; i++) {
    const ready = await fetch(`${proxy.healthEndpoint}/readyz`);
    await ready.text();
    if (ready.status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await put(s3, bucket, 'warm-up');
  await new Promise((resolve) => setTimeout(resolve, 300));

  let before = await vaultCalls(proxy);
  for (let i = 0; i < 1000; i += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, j) => put(s3, bucket, `put-${i + j}`)));
  }
  const puts = diff(await vaultCalls(proxy), before);

  before = await vaultCalls(proxy);
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < OBJECTS; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => get(s3, bucket, `put-${i + j}`)));
    }
  }
  const gets = diff(await vaultCalls(proxy), before);
  console.log(
    `${label}: Vault calls per 1,000 PUTs: ${puts.total} (${show(puts)})` +
      (Number.isNaN(puts.waited) ? '' : `; PUTs that waited for a Transit batch: ${puts.waited}`),
  );
  console.log(
    `${label}: Vault calls per 1,000 GETs of the same ${OBJECTS} objects: ${gets.total} (${show(gets)})`,
  );
  s3.destroy();
}

async function main(): Promise<void> {
  const services = await loadServices();
  const quiet = { CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn' };
  const proxy = await startProxy(services, { env: quiet });
  const unpooled = await startProxy(services, {
    env: { ...quiet, CLOUDTASER_S3PROXY_KEY_POOL_SIZE: '0', CLOUDTASER_S3PROXY_KEY_CACHE_ENABLED: 'false' },
  });
  try {
    console.log(
      `4 KiB objects; ${concurrency} concurrent clients, ${seconds} s per measurement, ${rounds} rounds (median); ` +
        'AWS SDK v3 defaults; OpenBao dev server and SeaweedFS on loopback, one machine',
    );
    await vaultLoad(proxy, 'pool and cache (defaults)');
    await vaultLoad(unpooled, 'pool and cache off');

    const credentials = {
      accessKeyId: services.s3.accessKeyId,
      secretAccessKey: services.s3.secretAccessKey,
    };
    const direct = client(services.s3.endpoint, credentials);
    const viaProxy = client(proxy.endpoint, { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' });
    const viaUnpooled = client(unpooled.endpoint, { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' });
    const bucket = uniqueBucket('bench-small');
    await createBucket(direct, bucket);
    // GETs read 100 objects written the same way as they are read: directly, or through a proxy (encrypted).
    for (const [name, s3] of [
      ['direct', direct],
      ['proxy', viaProxy],
    ] as const) {
      for (let i = 0; i < OBJECTS; i++) await put(s3, bucket, `${name}/${i}`);
    }
    const results: Record<string, number[]> = {};
    const record = (name: string, value: number) => {
      results[name] = [...(results[name] ?? []), value];
    };
    for (let round = 0; round < rounds; round++) {
      record('direct PUT', await rate((w, i) => put(direct, bucket, `d-${round}-${w}-${i}`)));
      record('proxy PUT', await rate((w, i) => put(viaProxy, bucket, `p-${round}-${w}-${i}`)));
      record('unpooled PUT', await rate((w, i) => put(viaUnpooled, bucket, `u-${round}-${w}-${i}`)));
      record('direct GET', await rate((w, i) => get(direct, bucket, `direct/${(w * 7 + i) % OBJECTS}`)));
      record('proxy GET', await rate((w, i) => get(viaProxy, bucket, `proxy/${(w * 7 + i) % OBJECTS}`)));
      record(
        'unpooled GET',
        await rate((w, i) => get(viaUnpooled, bucket, `proxy/${(w * 7 + i) % OBJECTS}`)),
      );
    }
    for (const op of ['PUT', 'GET']) {
      const d = median(results[`direct ${op}`] ?? []);
      const p = median(results[`proxy ${op}`] ?? []);
      const u = median(results[`unpooled ${op}`] ?? []);
      console.log(
        `4 KiB ${op}  direct ${d.toFixed(0)} ops/s  proxy ${p.toFixed(0)} ops/s  ratio ${(p / d).toFixed(2)}  ` +
          `(pool and cache off: ${u.toFixed(0)} ops/s, ratio ${(u / d).toFixed(2)})`,
      );
    }
    for (const s3 of [direct, viaProxy, viaUnpooled]) s3.destroy();
  } finally {
    await proxy.stop();
    await unpooled.stop();
    await services.stop();
  }
}

await main();
