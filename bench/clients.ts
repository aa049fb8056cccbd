/**
 * The two clients every row is measured with, side by side: curl (one process per transfer or per batch,
 * signing with --aws-sigv4) and aws-sdk-js v3 with its default settings (aws-chunked uploads with a CRC32
 * trailer, response checksum validation). Bodies are made on the fly (SDK) or read from a file in
 * /dev/shm (curl), so the client's disk does not limit a row.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MiB } from '../test/support/fixtures.ts';
import type { ClientName } from './settings.ts';
import type { Endpoint } from './targets.ts';

export type Range = { start: number; end: number };

export interface BenchClient {
  readonly name: ClientName;
  /** A single-part PUT of `size` bytes. */
  put(target: Endpoint, bucket: string, key: string, size: number): Promise<void>;
  /** A GET of the whole object, checking that `size` bytes arrived. */
  get(target: Endpoint, bucket: string, key: string, size: number): Promise<void>;
  /** A multipart upload in parts of `partSize`, `queue` of them in flight. */
  putMultipart(
    target: Endpoint,
    bucket: string,
    key: string,
    size: number,
    partSize: number,
    queue: number,
  ): Promise<void>;
  /** PUTs of `size` bytes to every key, `concurrency` at a time. */
  putMany(target: Endpoint, bucket: string, keys: string[], size: number, concurrency: number): Promise<void>;
  getMany(target: Endpoint, bucket: string, keys: string[], size: number, concurrency: number): Promise<void>;
  /** Sequential range GETs on one connection; the latency of each in milliseconds. */
  rangeReads(target: Endpoint, bucket: string, key: string, ranges: Range[]): Promise<number[]>;
  close(): void;
}

/**
 * One MiB of random bytes, reused for every block of a generated body. Incompressible on purpose: the proxy
 * always stores ciphertext, so direct must store bytes no store can compress either, or the store does
 * different work for each. Measured: SeaweedFS answers a 4 KiB range of a 256 MiB object of one repeated
 * byte in 8–33 ms, of random bytes in 3–4.
 */
const BLOCK = randomBytes(MiB);

/** A Buffer of `length` bytes of the block, for bodies the SDK sends in one piece. */
export function wholeBody(length: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  for (let offset = 0; offset < length; offset += BLOCK.length) BLOCK.copy(buffer, offset);
  return buffer;
}

/** A body of `length` bytes made on the fly, so the client's memory does not hold the object. */
export function generatedBody(length: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= length) return this.push(null);
      const n = Math.min(BLOCK.length, length - sent);
      sent += n;
      this.push(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n));
    },
  });
}

async function drain(body: unknown, expected: number, what: string): Promise<void> {
  let received = 0;
  await pipeline(
    body as Readable,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        callback();
      },
    }),
  );
  if (received !== expected) throw new Error(`${what}: received ${received} bytes, expected ${expected}`);
}

async function inParallel<T>(
  items: T[],
  concurrency: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await run(item);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failures.length > 0) {
    throw new Error(
      `${failures.length} of ${items.length} requests failed; the first: ${String(failures[0])}`,
    );
  }
}

export function sdkClient(): BenchClient {
  return {
    name: 'sdk',
    async put(target, bucket, key, size) {
      await target
        .sdk()
        .send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: generatedBody(size), ContentLength: size }),
        );
    },
    async get(target, bucket, key, size) {
      const got = await target.sdk().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await drain(got.Body, size, `sdk GET ${target.name} ${key}`);
    },
    async putMultipart(target, bucket, key, size, partSize, queue) {
      await new Upload({
        client: target.sdk(),
        params: { Bucket: bucket, Key: key, Body: generatedBody(size) },
        partSize,
        queueSize: queue,
      }).done();
    },
    async putMany(target, bucket, keys, size, concurrency) {
      const client = target.sdk(concurrency);
      await inParallel(keys, concurrency, async (key) => {
        // A small body as a Buffer, as applications send small objects; a large one streamed.
        const body = size <= BLOCK.length ? BLOCK.subarray(0, size) : generatedBody(size);
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: size }),
        );
      });
    },
    async getMany(target, bucket, keys, size, concurrency) {
      const client = target.sdk(concurrency);
      await inParallel(keys, concurrency, async (key) => {
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        await drain(got.Body, size, `sdk GET ${target.name} ${key}`);
      });
    },
    async rangeReads(target, bucket, key, ranges) {
      const latencies: number[] = [];
      for (const range of ranges) {
        const started = performance.now();
        const got = await target
          .sdk()
          .send(
            new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${range.start}-${range.end}` }),
          );
        await drain(got.Body, range.end - range.start + 1, `sdk range GET ${target.name}`);
        latencies.push(performance.now() - started);
      }
      return latencies;
    },
    close() {},
  };
}

/** A value for a curl config file (`name = "value"`), with the quoting curl's config syntax wants. */
function quote(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function objectUrl(target: Endpoint, bucket: string, key: string, query = ''): string {
  return `${target.endpoint}/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}${query}`;
}

/**
 * curl with SigV4 (`--aws-sigv4`, curl ≥ 7.75). curl 7.x signs the payload hash of an empty body unless told
 * otherwise, so every request says `x-amz-content-sha256: UNSIGNED-PAYLOAD`, as S3 users of curl do.
 */
export function curlClient(): BenchClient {
  const dir = mkdtempSync('/dev/shm/cloudtaser-bench-curl-');
  const files = new Map<number, string>();
  let configs = 0;

  /** A file of `size` bytes of the block, made once per size. */
  const bodyFile = (size: number): string => {
    let path = files.get(size);
    if (path === undefined) {
      path = join(dir, `body-${size}`);
      const fd = openSync(path, 'w');
      try {
        for (let written = 0; written < size; )
          written += writeSync(fd, BLOCK, 0, Math.min(MiB, size - written));
      } finally {
        closeSync(fd);
      }
      files.set(size, path);
    }
    return path;
  };

  const signing = (target: Endpoint): string[] => [
    `aws-sigv4 = ${quote('aws:amz:us-east-1:s3')}`,
    `user = ${quote(`${target.credentials.accessKeyId}:${target.credentials.secretAccessKey}`)}`,
    `header = ${quote('x-amz-content-sha256: UNSIGNED-PAYLOAD')}`,
    'no-progress-meter',
    'show-error',
    // A target that stops answering (rclone did, once SeaweedFS's disk was full) fails the row instead of
    // stalling the benchmark: under 1 byte/s for 2 minutes ends the transfer.
    'speed-limit = 1',
    'speed-time = 120',
  ];

  /** Runs curl on a config file; resolves with the lines `write-out` printed, one per transfer. */
  const run = (lines: string[]): Promise<string[]> => {
    const path = join(dir, `config-${configs++}`);
    writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
    return new Promise((resolve, reject) => {
      const child = spawn('curl', ['--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.once('error', reject);
      child.once('close', (code) => {
        rmSync(path, { force: true });
        if (code !== 0) reject(new Error(`curl exited with ${code}: ${stderr.trim()}`));
        else resolve(stdout.split('\n').filter((line) => line !== ''));
      });
    });
  };

  /** Each write-out line starts with the HTTP status; anything but 2xx fails the transfer. */
  const checkStatuses = (lines: string[], expected: number, what: string): void => {
    const bad = lines.filter((line) => !/^2\d\d\b/.test(line));
    if (lines.length !== expected || bad.length > 0) {
      throw new Error(
        `curl ${what}: ${lines.length} of ${expected} transfers answered, failed: ${bad.slice(0, 3).join(' | ')}`,
      );
    }
  };

  return {
    name: 'curl',
    async put(target, bucket, key, size) {
      const out = await run([
        ...signing(target),
        `url = ${quote(objectUrl(target, bucket, key))}`,
        `upload-file = ${quote(bodyFile(size))}`,
        'output = "/dev/null"',
        'write-out = "%{http_code}\\n"',
      ]);
      checkStatuses(out, 1, `PUT ${target.name}`);
    },
    async get(target, bucket, key, size) {
      const out = await run([
        ...signing(target),
        `url = ${quote(objectUrl(target, bucket, key))}`,
        'output = "/dev/null"',
        'write-out = "%{http_code} %{size_download}\\n"',
      ]);
      checkStatuses(out, 1, `GET ${target.name}`);
      if (out[0] !== `200 ${size}`)
        throw new Error(`curl GET ${target.name} ${key}: ${out[0]}, expected 200 ${size}`);
    },
    async putMultipart(target, bucket, key, size, partSize, queue) {
      // The SDK opens and completes the upload; curl sends every byte of the parts.
      const client = target.sdk();
      const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      const uploadId = created.UploadId as string;
      const parts = Math.ceil(size / partSize);
      const lines = [
        ...signing(target),
        'parallel',
        `parallel-max = ${queue}`,
        'write-out = "%{http_code} %{url} %header{etag}\\n"',
      ];
      for (let part = 1; part <= parts; part++) {
        const length = Math.min(partSize, size - (part - 1) * partSize);
        lines.push(
          `url = ${quote(objectUrl(target, bucket, key, `?partNumber=${part}&uploadId=${encodeURIComponent(uploadId)}`))}`,
          `upload-file = ${quote(bodyFile(length))}`,
          'output = "/dev/null"',
        );
      }
      const out = await run(lines);
      checkStatuses(out, parts, `UploadPart ${target.name}`);
      const etags = new Map<number, string>();
      for (const line of out) {
        const [, url, etag] = line.split(' ');
        const number = Number(/partNumber=(\d+)/.exec(url ?? '')?.[1]);
        etags.set(number, etag ?? '');
      }
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: {
            Parts: Array.from({ length: parts }, (_, i) => ({ PartNumber: i + 1, ETag: etags.get(i + 1) })),
          },
        }),
      );
    },
    async putMany(target, bucket, keys, size, concurrency) {
      const file = bodyFile(size);
      const lines = [
        ...signing(target),
        'parallel',
        `parallel-max = ${concurrency}`,
        'write-out = "%{http_code}\\n"',
      ];
      for (const key of keys)
        lines.push(
          `url = ${quote(objectUrl(target, bucket, key))}`,
          `upload-file = ${quote(file)}`,
          'output = "/dev/null"',
        );
      checkStatuses(await run(lines), keys.length, `PUT ${target.name}`);
    },
    async getMany(target, bucket, keys, size, concurrency) {
      const lines = [
        ...signing(target),
        'parallel',
        `parallel-max = ${concurrency}`,
        'write-out = "%{http_code} %{size_download}\\n"',
      ];
      for (const key of keys)
        lines.push(`url = ${quote(objectUrl(target, bucket, key))}`, 'output = "/dev/null"');
      const out = await run(lines);
      checkStatuses(out, keys.length, `GET ${target.name}`);
      const short = out.filter((line) => line !== `200 ${size}`);
      if (short.length > 0)
        throw new Error(`curl GET ${target.name}: ${short.length} answers were not 200 ${size}: ${short[0]}`);
    },
    async rangeReads(target, bucket, key, ranges) {
      // Options after `next` start afresh, so each transfer repeats the signing options.
      const blocks = ranges.map((range) =>
        [
          ...signing(target),
          `url = ${quote(objectUrl(target, bucket, key))}`,
          `range = ${quote(`${range.start}-${range.end}`)}`,
          'output = "/dev/null"',
          'write-out = "%{http_code} %{size_download} %{time_total}\\n"',
        ].join('\n'),
      );
      const out = await run([blocks.join('\nnext\n')]);
      checkStatuses(out, ranges.length, `range GET ${target.name}`);
      return out.map((line, i) => {
        const [, bytes, seconds] = line.split(' ');
        const range = ranges[i] as Range;
        if (Number(bytes) !== range.end - range.start + 1)
          throw new Error(`curl range GET ${target.name}: ${line}`);
        return Number(seconds) * 1000;
      });
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
