/**
 * What the storage provider can do to a multipart object, done the way it would: objects are written
 * through the proxy, read back directly from SeaweedFS, cut into their stored parts, rearranged or
 * forged, and stored again directly under the same envelope metadata. And what a client then sees of a
 * read through the proxy, down to whether a status line arrived at all.
 */
import { request } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  decodePartHeader,
  encodePartHeader,
  PART_HEADER_SIZE,
  type PartHeader,
  partCiphertextSize,
} from '../../src/envelope/index.ts';
import { bodyBytes } from '../support/fixtures.ts';

/** One stored part: its header (decoded and as stored) and its sealed segments. */
export type StoredPart = { header: PartHeader; headerBytes: Buffer; sealed: Buffer };

export type StoredMultipart = { parts: StoredPart[]; metadata: Record<string, string> };

/** The stored body of `key`, read directly, cut into parts by their headers. */
export async function readStoredParts(
  direct: S3Client,
  bucket: string,
  key: string,
): Promise<StoredMultipart> {
  const got = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = await bodyBytes(got.Body);
  const parts: StoredPart[] = [];
  for (let offset = 0; offset < body.length; ) {
    const headerBytes = Buffer.from(body.subarray(offset, offset + PART_HEADER_SIZE));
    const header = decodePartHeader(headerBytes);
    const end = offset + partCiphertextSize(header.plaintextSize);
    parts.push({ header, headerBytes, sealed: Buffer.from(body.subarray(offset + PART_HEADER_SIZE, end)) });
    offset = end;
  }
  return { parts, metadata: got.Metadata ?? {} };
}

/** A part whose header says what `changes` say, over the sealed bytes given (the original's by default). */
export function forgedPart(part: StoredPart, changes: Partial<PartHeader>, sealed = part.sealed): StoredPart {
  const header = { ...part.header, ...changes };
  return { header, headerBytes: encodePartHeader(header), sealed };
}

export function storedBody(parts: readonly StoredPart[]): Buffer {
  return Buffer.concat(parts.flatMap((part) => [part.headerBytes, part.sealed]));
}

/** Stores `body` directly under `key` with the envelope metadata of the original, as the provider could. */
export async function storeDirectly(
  direct: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  metadata: Record<string, string>,
): Promise<void> {
  await direct.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, Metadata: metadata }));
}

/** What reached the client of one read through the proxy, exactly. */
export type ClientView = {
  /** False when the connection closed before a status line arrived. */
  statusLine: boolean;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The whole response as framed (Content-Length) arrived; false for a cut body. */
  complete: boolean;
  error: string | undefined;
};

/** A GET or HEAD through the proxy, seen at the HTTP level: no client library retries or hides anything. */
export function readThroughProxy(
  endpoint: string,
  path: string,
  options: { method?: 'GET' | 'HEAD'; headers?: Record<string, string> } = {},
): Promise<ClientView> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (view: Omit<ClientView, 'body'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...view, body: Buffer.concat(chunks) });
    };
    const req = request(`${endpoint}${path}`, {
      method: options.method ?? 'GET',
      headers: options.headers ?? {},
      agent: false,
    });
    req.on('response', (res) => {
      const seen = { statusLine: true, status: res.statusCode ?? 0, headers: res.headers };
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => finish({ ...seen, complete: res.complete, error: undefined }));
      res.on('error', (error) => finish({ ...seen, complete: false, error: error.message }));
      res.on('close', () => finish({ ...seen, complete: res.complete, error: 'closed' }));
    });
    req.on('error', (error) =>
      finish({ statusLine: false, status: 0, headers: {}, complete: false, error: error.message }),
    );
    req.end();
  });
}

/** `bytes a-b/total` of a 206. */
export function parseContentRange(
  value: string | string[] | undefined,
): { start: number; end: number; total: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(value ?? ''));
  if (match === null) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) };
}

/**
 * What is wrong with a read of `original` (the plaintext the client wrote) as the client saw it: a
 * missing status line, bytes that differ from the original at the offset the response claims, a wrong
 * total, or a complete-looking response that is short. An S3 error with a status line is never wrong.
 */
export function readViolations(view: ClientView, original: Buffer): string[] {
  if (!view.statusLine) return [`no status line (${view.error})`];
  if (view.status >= 300) {
    const text = view.body.toString('utf8');
    return view.body.length === 0 || /<Code>[^<]+<\/Code>/.test(text)
      ? []
      : [`HTTP ${view.status} without an S3 error document`];
  }
  const problems: string[] = [];
  let start = 0;
  let length = original.length;
  if (view.status === 206) {
    const range = parseContentRange(view.headers['content-range']);
    if (range === undefined) return [`206 with Content-Range ${String(view.headers['content-range'])}`];
    if (range.total !== original.length)
      problems.push(`Content-Range total ${range.total}, the object has ${original.length} bytes`);
    start = range.start;
    length = range.end - range.start + 1;
  }
  const declared = Number(view.headers['content-length']);
  if (view.complete && (declared !== length || view.body.length !== length))
    problems.push(
      `a complete-looking response of ${view.body.length} bytes (Content-Length ${declared}) for ${length}`,
    );
  const expected = original.subarray(start, start + view.body.length);
  if (view.body.length > length || !view.body.equals(expected)) {
    const at = [...view.body].findIndex((byte, i) => byte !== expected[i]);
    problems.push(
      `${view.body.length} bytes released at offset ${start} differ from the plaintext there (first at +${at})`,
    );
  }
  return problems;
}

/**
 * A TCP relay in front of the upstream that, once armed, cuts the first connection (or, armed for
 * every transfer, each connection until stopped) that carries more than `bytes` bytes towards the proxy:
 * an upstream connection lost in the middle of a body.
 */
export type CuttingRelay = {
  readonly endpoint: string;
  cutNextTransferAfter(bytes: number): void;
  cutEveryTransferAfter(bytes: number): void;
  stopCutting(): void;
  close(): Promise<void>;
};

export async function startCuttingRelay(target: string): Promise<CuttingRelay> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let limit: number | undefined;
  let once = true;
  const counted = new Map<Socket, number>();
  const server = createServer((client) => {
    const upstream = connect({ host: hostname, port: Number(port) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined).on('close', () => sockets.delete(socket));
    }
    const teardown = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', teardown);
    upstream.on('close', teardown);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (limit !== undefined) {
        const seen = (counted.get(client) ?? 0) + chunk.length;
        counted.set(client, seen);
        if (seen > limit) {
          if (once) {
            limit = undefined;
            counted.clear();
          }
          teardown();
          return;
        }
      }
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    cutNextTransferAfter(bytes) {
      counted.clear();
      limit = bytes;
      once = true;
    },
    cutEveryTransferAfter(bytes) {
      counted.clear();
      limit = bytes;
      once = false;
    },
    stopCutting() {
      limit = undefined;
      counted.clear();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
