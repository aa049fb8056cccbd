/**
 * Slow clients against the real proxy and SeaweedFS: uploads that trickle, stall or never finish their
 * headers, and readers that stop reading, must not starve a normal load, must end with a timeout, and
 * must leave nothing stored (each probe's bytes carry a marker that the bucket is scanned for).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { bodyBytes, createBucket, httpStatusOf, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import { plaintextMarker, unsafeStoredObjects } from './support.ts';

type RawOutcome = {
  /** The status line's code, if a response arrived before the connection closed. */
  status: number | undefined;
  /** The S3 error code in the response body, if any. */
  code: string | undefined;
  /** Milliseconds from connecting until the connection closed. */
  closedAfterMs: number;
  bytesReceived: number;
};

type RawClient = {
  socket: Socket;
  /** Body bytes written so far. */
  readonly sent: number;
  readonly closed: boolean;
  /** Stops writing (the connection stays open). */
  stop(): void;
  done: Promise<RawOutcome>;
};

/**
 * A hand-driven HTTP/1.1 client: writes `head`, then `burst` at once, then `body` one byte every
 * `intervalMs` (none when 0), never more than the Content-Length. Reads whatever comes back.
 */
function rawClient(
  proxy: ProxyProcess,
  head: string,
  options: { burst?: Buffer; body?: Buffer; intervalMs?: number; read?: boolean } = {},
): RawClient {
  const { hostname, port } = new URL(proxy.endpoint);
  const socket = connect({ host: hostname, port: Number(port) });
  const started = performance.now();
  let sent = 0;
  let closed = false;
  let received = Buffer.alloc(0);
  let bytesReceived = 0;
  let timer: NodeJS.Timeout | undefined;
  const body = options.body ?? Buffer.alloc(0);
  socket.on('error', () => undefined);
  if (options.read === false) socket.pause();
  socket.on('data', (chunk: Buffer) => {
    bytesReceived += chunk.length;
    if (received.length < 64 * 1024) received = Buffer.concat([received, chunk]);
  });
  socket.once('connect', () => {
    socket.write(head);
    if (options.burst !== undefined) socket.write(options.burst);
    if ((options.intervalMs ?? 0) > 0) {
      timer = setInterval(() => {
        if (closed || sent >= body.length) return;
        socket.write(body.subarray(sent, sent + 1));
        sent++;
      }, options.intervalMs);
    }
  });
  const done = new Promise<RawOutcome>((resolve) => {
    socket.once('close', () => {
      closed = true;
      clearInterval(timer);
      const text = received.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({
        status: status === undefined ? undefined : Number(status),
        code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1],
        closedAfterMs: performance.now() - started,
        bytesReceived,
      });
    });
  });
  return {
    socket,
    get sent() {
      return sent;
    },
    get closed() {
      return closed;
    },
    stop: () => clearInterval(timer),
    done,
  };
}

function putHead(proxy: ProxyProcess, path: string, contentLength: number): string {
  return (
    `PUT ${path} HTTP/1.1\r\nHost: ${new URL(proxy.endpoint).host}\r\n` +
    `Content-Length: ${contentLength}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n`
  );
}

/** The proxy's own count of requests still receiving their body (0 where it has no such metric). */
async function uploadsInFlight(proxy: ProxyProcess): Promise<number> {
  const metrics = await (await fetch(`${proxy.healthEndpoint}/metrics`)).text();
  return Number(/^cloudtaser_s3proxy_requests_in_flight\{budget="uploads"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
}

/** A body that starts with the probe's marker, so a scan of the bucket finds any plaintext stored of it. */
function markedBody(marker: string, length: number): Buffer {
  const body = Buffer.alloc(length, 'x');
  body.write(marker);
  return body;
}

/** `work`'s result, or a failure naming `what` once `limitMs` passed (the signal also aborts SDK calls). */
async function withinMs<T>(
  limitMs: number,
  what: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const signal = AbortSignal.timeout(limitMs);
  const expired = new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
  );
  expired.catch(() => undefined);
  try {
    return await Promise.race([work(signal), expired]);
  } catch (error) {
    throw new Error(`${what} failed after ${Math.round(performance.now() - started)} ms: ${String(error)}`, {
      cause: error,
    });
  }
}

let services: Services;
let direct: S3Client;

/** A proxy of the suite's own (with `env`), a client to it with no retries, and the bucket. */
async function proxyWithBucket(bucket: string, env: Record<string, string>) {
  const proxy = await startProxy(services, { env });
  const client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
  await createBucket(client, bucket);
  return { proxy, client };
}

async function closeAll(open: RawClient[], client: S3Client | undefined, proxy: ProxyProcess | undefined) {
  for (const raw of open) raw.socket.destroy();
  client?.destroy();
  await proxy?.stop();
}

before(async () => {
  services = await useServices();
  direct = createS3Client(services);
});

describe('130 uploads trickling one byte every 2 s (finding 5)', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  const bucket = uniqueBucket('slow-uploads');
  const open: RawClient[] = [];

  before(async () => {
    // A 30 s grace instead of the default 20 s: on a loaded machine the proxy may need seconds just to
    // read 130 new requests, and the normal load must run while all of them are open. The minimum rate is
    // the default's.
    ({ proxy, client } = await proxyWithBucket(bucket, { CLOUDTASER_S3PROXY_CLIENT_IDLE_TIMEOUT: '30s' }));
  });
  after(() => closeAll(open, client, proxy));

  it('a normal load of PUTs and GETs keeps answering within seconds, and every slow upload ends with RequestTimeout and stores nothing', async (t) => {
    const marker = plaintextMarker('slow');
    const uploads = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const created = await client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: `slow-part-${i}` }),
        );
        return { key: `slow-part-${i}`, uploadId: created.UploadId as string };
      }),
    );
    const length = 1000;
    for (let i = 0; i < 120; i++) {
      open.push(
        rawClient(proxy, putHead(proxy, `/${bucket}/slow-${i}`, length), {
          body: markedBody(marker, length),
          intervalMs: 2_000,
        }),
      );
    }
    for (const { key, uploadId } of uploads) {
      const path = `/${bucket}/${key}?partNumber=1&uploadId=${encodeURIComponent(uploadId)}`;
      open.push(
        rawClient(proxy, putHead(proxy, path, length), {
          body: markedBody(marker, length),
          intervalMs: 2_000,
        }),
      );
    }
    // Every slow upload is sending its body, and the proxy has read all 130 requests (on a loaded machine
    // that takes a while, which is not what this test measures).
    await sleep(2_500);
    for (let waited = 0; (await uploadsInFlight(proxy)) < 130 && waited < 15_000; waited += 200)
      await sleep(200);
    assert.ok(
      open.every((raw) => raw.sent >= 1 && !raw.closed),
      'all 130 slow uploads are under way',
    );

    const written = new Map<string, Buffer>();
    await Promise.all(
      Array.from({ length: 4 }, async (_, worker) => {
        for (let round = 0; round < 5; round++) {
          const key = `normal-${worker}-${round}`;
          const body = patternBytes(8 * 1024 + round, worker * 10 + round);
          await withinMs(5_000, `PUT ${key}`, (abortSignal) =>
            client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }), { abortSignal }),
          );
          const got = await withinMs(5_000, `GET ${key}`, async (abortSignal) =>
            bodyBytes(
              (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal })).Body,
            ),
          );
          assert.ok(got.equals(body), `GET ${key} returns what was written`);
          written.set(key, body);
        }
      }),
    );
    assert.equal(
      open.filter((raw) => raw.closed).length,
      0,
      'the normal load ran while every slow upload was still open',
    );

    const outcomes = await withinMs(60_000, 'the slow uploads ending', () =>
      Promise.all(open.map((raw) => raw.done)),
    );
    for (const [i, outcome] of outcomes.entries()) {
      assert.equal(
        outcome.status,
        400,
        `slow upload ${i} is answered, not just cut: ${JSON.stringify(outcome)}`,
      );
      assert.equal(outcome.code, 'RequestTimeout');
    }
    assert.ok(
      open.every((raw) => raw.sent < length),
      'no slow upload sent its whole body',
    );
    // They sent a byte every 2 s, never idle for the 30 s: the minimum rate ended them, after its grace.
    const tooSlow = () =>
      proxy.logRecords().filter((r) => r.msg === 'client timed out' && r.reason === 'too slow').length;
    // The proxy's log lines may still be in the pipe when the answers have arrived.
    for (let waited = 0; tooSlow() < 130 && waited < 10_000; waited += 100) await sleep(100);
    assert.equal(tooSlow(), 130, 'each was ended by the minimum rate');
    assert.ok(
      outcomes.every((outcome) => outcome.closedAfterMs >= 29_000),
      `none ended before the grace: ${Math.min(...outcomes.map((o) => o.closedAfterMs))} ms`,
    );

    assert.deepEqual(await unsafeStoredObjects(direct, bucket, marker), [], 'nothing unsafe is stored');
    for (let i = 0; i < 120; i++) {
      await assert.rejects(
        direct.send(new HeadObjectCommand({ Bucket: bucket, Key: `slow-${i}` })),
        (error: unknown) => httpStatusOf(error) === 404,
        `slow-${i} is not stored`,
      );
    }
    for (const { key, uploadId } of uploads) {
      const parts = await direct.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
      assert.equal(parts.Parts?.length ?? 0, 0, `no part of ${key} is stored`);
    }
    assert.equal(written.size, 20);
    const ends = outcomes.map((outcome) => outcome.closedAfterMs / 1000);
    t.diagnostic(
      `slow uploads ended after ${Math.min(...ends).toFixed(1)}-${Math.max(...ends).toFixed(1)} s`,
    );
  });
});

describe('client timeouts and the upload budget, with small limits', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  const bucket = uniqueBucket('client-limits');
  const IDLE_MS = 1_500;
  const SLACK_MS = 4_000;
  const open: RawClient[] = [];

  before(async () => {
    ({ proxy, client } = await proxyWithBucket(bucket, {
      CLOUDTASER_S3PROXY_CLIENT_HEADER_TIMEOUT: '1s',
      CLOUDTASER_S3PROXY_CLIENT_IDLE_TIMEOUT: `${IDLE_MS}ms`,
      CLOUDTASER_S3PROXY_CLIENT_MIN_BODY_RATE: '0',
      CLOUDTASER_S3PROXY_MAX_UPLOADS: '4',
      CLOUDTASER_S3PROXY_MAX_REQUESTS: '16',
    }));
  });
  after(() => closeAll(open, client, proxy));

  it('an upload that stops sending is answered 400 RequestTimeout after the idle timeout, and neither the object nor the part is stored', async () => {
    const marker = plaintextMarker('stalled');
    const length = 200_000;
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'stalled-part' }),
    );
    const stalled = [
      rawClient(proxy, putHead(proxy, `/${bucket}/stalled`, length), {
        burst: markedBody(marker, 100_000),
      }),
      rawClient(
        proxy,
        putHead(
          proxy,
          `/${bucket}/stalled-part?partNumber=1&uploadId=${encodeURIComponent(UploadId as string)}`,
          length,
        ),
        { burst: markedBody(marker, 100_000) },
      ),
    ];
    open.push(...stalled);
    for (const raw of stalled) {
      const outcome = await withinMs(IDLE_MS + SLACK_MS + 5_000, 'the stalled upload', () => raw.done);
      assert.equal(outcome.status, 400, JSON.stringify(outcome));
      assert.equal(outcome.code, 'RequestTimeout');
      assert.ok(
        outcome.closedAfterMs < IDLE_MS + SLACK_MS,
        `closed after ${Math.round(outcome.closedAfterMs)} ms`,
      );
      assert.ok(
        outcome.closedAfterMs >= IDLE_MS - 100,
        `not before the idle timeout (${Math.round(outcome.closedAfterMs)} ms)`,
      );
    }
    await assert.rejects(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'stalled' })),
      (error: unknown) => httpStatusOf(error) === 404,
    );
    const parts = await direct.send(new ListPartsCommand({ Bucket: bucket, Key: 'stalled-part', UploadId }));
    assert.equal(parts.Parts?.length ?? 0, 0, 'no part is stored');
    assert.deepEqual(await unsafeStoredObjects(direct, bucket, marker), []);
    const record = await proxy.waitForLogRecord(
      (r) => r.msg === 'client timed out' && r.phase === 'request body',
    );
    assert.ok(record, 'the proxy logs the timeout');
  });

  it('a client that never finishes its headers is disconnected after the header timeout', async () => {
    const raw = rawClient(
      proxy,
      `PUT /${bucket}/never HTTP/1.1\r\nHost: ${new URL(proxy.endpoint).host}\r\nContent-Le`,
    );
    open.push(raw);
    const outcome = await withinMs(1_000 + SLACK_MS + 5_000, 'the unfinished headers', () => raw.done);
    assert.ok(
      outcome.closedAfterMs < 1_000 + SLACK_MS,
      `closed after ${Math.round(outcome.closedAfterMs)} ms`,
    );
    assert.equal(outcome.status, 408);
  });

  it('uploads beyond CLOUDTASER_S3PROXY_MAX_UPLOADS get 503 SlowDown at once, other requests go on, and the budget frees when the slow ones time out', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'readable', Body: patternBytes(1000, 5) }));
    const marker = plaintextMarker('budget');
    const length = 1000;
    const trickling = Array.from({ length: 4 }, (_, i) =>
      rawClient(proxy, putHead(proxy, `/${bucket}/trickle-${i}`, length), {
        body: markedBody(marker, length),
        intervalMs: 300,
      }),
    );
    open.push(...trickling);
    await sleep(800);
    assert.ok(
      trickling.every((raw) => raw.sent >= 1 && !raw.closed),
      'four uploads are under way',
    );

    const extra = rawClient(proxy, putHead(proxy, `/${bucket}/extra`, length), {
      body: markedBody(marker, length),
      intervalMs: 300,
    });
    open.push(extra);
    const refused = await withinMs(SLACK_MS, 'the fifth upload', () => extra.done);
    assert.equal(refused.status, 503, JSON.stringify(refused));
    assert.equal(refused.code, 'SlowDown');

    const got = await withinMs(SLACK_MS, 'a GET while the upload budget is full', async (abortSignal) =>
      bodyBytes(
        (await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'readable' }), { abortSignal })).Body,
      ),
    );
    assert.ok(got.equals(patternBytes(1000, 5)));
    assert.ok(
      trickling.every((raw) => !raw.closed),
      'the four uploads are still under way',
    );

    for (const raw of trickling) raw.stop();
    for (const raw of trickling) {
      const outcome = await withinMs(IDLE_MS + SLACK_MS, 'a stopped upload', () => raw.done);
      assert.equal(outcome.code, 'RequestTimeout');
    }
    await withinMs(SLACK_MS, 'a PUT after the budget freed', (abortSignal) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: 'after', Body: patternBytes(10) }), {
        abortSignal,
      }),
    );
    assert.deepEqual(await unsafeStoredObjects(direct, bucket, marker), []);
    for (const key of ['trickle-0', 'trickle-1', 'trickle-2', 'trickle-3', 'extra']) {
      await assert.rejects(
        direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key })),
        (error: unknown) => httpStatusOf(error) === 404,
        `${key} is not stored`,
      );
    }
  });

  it('a GET whose client stops reading is cut after the idle timeout, never completed', async () => {
    const size = 32 * 1024 * 1024;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'large', Body: patternBytes(size, 6) }));
    const raw = rawClient(
      proxy,
      `GET /${bucket}/large HTTP/1.1\r\nHost: ${new URL(proxy.endpoint).host}\r\n\r\n`,
      {
        read: false,
      },
    );
    open.push(raw);
    const record = await proxy.waitForLogRecord(
      (r) => r.msg === 'client timed out' && r.phase === 'response',
      IDLE_MS + SLACK_MS + 10_000,
    );
    assert.ok(record, 'the proxy gives up on a reader that reads nothing');
    raw.socket.resume();
    const outcome = await withinMs(SLACK_MS + 10_000, 'the stalled GET', () => raw.done);
    assert.equal(outcome.status, 200);
    assert.ok(outcome.bytesReceived < size, `received ${outcome.bytesReceived} of ${size} bytes`);
    const line = await proxy.waitForLogRecord(
      (r) => r.msg === 'request' && r.key === 'large' && r.complete === false,
    );
    assert.ok(line, 'the request is logged as not complete');
  });
});
