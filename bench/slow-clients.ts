/**
 * What slow clients cost a proxy with the default limits (docs/decisions/0006), against real OpenBao and
 * SeaweedFS: it fills the upload budget (CLOUDTASER_S3PROXY_MAX_UPLOADS, 256) with uploads trickling one
 * byte every 2 s, then prints the proxy's RSS (so, memory per held upload), how a PUT beyond the budget
 * and a normal GET load alongside are answered, and when and how the trickling uploads were ended.
 *
 *   npm run bench:slow
 *   BENCH_READERS=64 npm run bench:slow   # also GETs of 8 MiB whose client reads nothing (CPU-heavy here:
 *                                         # loopback buffers take most of each object before they stall)
 */
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createBucket, patternBytes, uniqueBucket } from '../test/support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../test/support/proxy-process.ts';
import { loadServices } from '../test/support/services.ts';

const uploads = Number(process.env.BENCH_UPLOADS ?? 256);
const readers = Number(process.env.BENCH_READERS ?? 0);
const MiB = 1024 * 1024;

async function rssMiB(pid: number | undefined): Promise<{ now: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1]) / 1024;
  return { now: field('VmRSS'), peak: field('VmHWM') };
}

/** A raw connection that sends `head`, then what `feed` writes; `ended` gives the status line and when. */
function rawRequest(
  proxy: ProxyProcess,
  head: string,
  options: { read: boolean },
): Promise<{ socket: Socket; ended: Promise<{ status: string; atMs: number }> }> {
  const { hostname, port } = new URL(proxy.endpoint);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => {
      socket.write(head);
      let text = '';
      if (options.read)
        socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk.slice(0, 200)));
      else socket.pause();
      const ended = new Promise<{ status: string; atMs: number }>((done) =>
        socket.once('close', () =>
          done({ status: text.split('\r\n')[0] ?? '', atMs: performance.now() - started }),
        ),
      );
      resolve({ socket, ended });
    });
    socket.once('error', reject);
  });
}

async function uploadsInFlight(proxy: ProxyProcess): Promise<number> {
  const metrics = await (await fetch(`${proxy.healthEndpoint}/metrics`)).text();
  return Number(/^cloudtaser_s3proxy_requests_in_flight\{budget="uploads"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
}

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))] ?? Number.NaN;

async function main(): Promise<void> {
  const services = await loadServices();
  const proxy = await startProxy(services, { env: { CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn' } });
  const client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
  const host = new URL(proxy.endpoint).host;
  const held: Socket[] = [];
  try {
    const bucket = uniqueBucket('bench-slow');
    await createBucket(client, bucket);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'large', Body: patternBytes(8 * MiB) }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'small', Body: patternBytes(64 * 1024) }));
    const before = await rssMiB(proxy.process.pid);

    for (let i = 0; i < readers; i++) {
      const { socket } = await rawRequest(proxy, `GET /${bucket}/large HTTP/1.1\r\nHost: ${host}\r\n\r\n`, {
        read: false,
      });
      socket.on('error', () => undefined);
      held.push(socket);
    }
    const trickles: Promise<{ status: string; atMs: number }>[] = [];
    for (let i = 0; i < uploads; i++) {
      const { socket, ended } = await rawRequest(
        proxy,
        `PUT /${bucket}/slow-${i} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1000\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n`,
        { read: true },
      );
      socket.on('error', () => undefined);
      const timer = setInterval(() => socket.write('x'), 2_000);
      socket.once('close', () => clearInterval(timer));
      held.push(socket);
      trickles.push(ended);
    }
    // On a loaded machine the proxy may take a while to read every request's headers.
    const heldAt = performance.now();
    while ((await uploadsInFlight(proxy)) < uploads && performance.now() - heldAt < 60_000) await sleep(100);
    const heldAfterMs = performance.now() - heldAt;
    const during = await rssMiB(proxy.process.pid);

    let at = performance.now();
    const beyond = await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'beyond', Body: 'x' })).then(
      () => 'stored',
      (error: { $metadata?: { httpStatusCode?: number }; name?: string }) =>
        `${error.$metadata?.httpStatusCode} ${error.name}`,
    );
    const beyondMs = performance.now() - at;
    const getMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      at = performance.now();
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'small' }));
      await got.Body?.transformToByteArray();
      getMs.push(performance.now() - at);
    }
    const ends = await Promise.all(trickles);
    const statuses = new Map<string, number>();
    for (const end of ends) statuses.set(end.status, (statuses.get(end.status) ?? 0) + 1);
    const endMs = ends.map((end) => end.atMs);

    const perUploadKiB = ((during.now - before.now) * 1024) / (uploads + readers);
    console.log(
      `held: ${uploads} uploads trickling 1 byte / 2 s, ${readers} GETs of 8 MiB reading nothing (all admitted ${(heldAfterMs / 1000).toFixed(1)} s after the last connected)`,
    );
    console.log(
      `proxy RSS: ${before.now.toFixed(1)} MiB before, ${during.now.toFixed(1)} MiB while held (${perUploadKiB.toFixed(0)} KiB per held request), peak ${during.peak.toFixed(1)} MiB`,
    );
    console.log(
      `one more PUT (the upload budget holds ${uploads} of CLOUDTASER_S3PROXY_MAX_UPLOADS=256): ${beyond} in ${beyondMs.toFixed(0)} ms`,
    );
    console.log(
      `20 GETs of 64 KiB alongside: p50 ${percentile(getMs, 0.5).toFixed(0)} ms, max ${Math.max(...getMs).toFixed(0)} ms`,
    );
    console.log(
      `trickling uploads ended after ${(Math.min(...endMs) / 1000).toFixed(1)}-${(Math.max(...endMs) / 1000).toFixed(1)} s: ${[...statuses].map(([status, n]) => `${n} × "${status}"`).join(', ')}`,
    );
  } finally {
    for (const socket of held) socket.destroy();
    client.destroy();
    await proxy.stop();
    await services.stop();
  }
}

await main();
