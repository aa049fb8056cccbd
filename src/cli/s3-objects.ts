/**
 * The S3 operations the command-line tools (decrypt, rewrap, encrypt-existing) perform on stored objects,
 * through the proxy's own upstream client (SigV4 from the AWS credential chain) and the proxy's own
 * envelope reader and writer: listing, HEAD, pinned reads of plaintext, encrypted writes (one PUT or a
 * multipart upload), and server-side copies that replace an object only if it has not changed.
 */
import { createHash, type Hash } from 'node:crypto';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { XMLParser } from 'fast-xml-parser';
import {
  ciphertextSize,
  createPartSealStream,
  createSealStream,
  envelopeToHeaders,
  multipartEnvelopeHeaders,
  partCiphertextSize,
  readEnvelope,
  type StoredEnvelope,
  uploadBinding,
} from '../envelope/index.ts';
import type { KeyChoice } from '../kms/key-ring.ts';
import { preservedHeaders as preservedHeadersOf } from '../proxy/copied-headers.ts';
import { freshDataKey } from '../proxy/data-key.ts';
import {
  type EncryptedObject,
  encryptedObject,
  type LayoutCache,
  type ObjectIdentity,
  type PlainRange,
} from '../proxy/stored-object.ts';
import { encodeKeyPath, encodeRfc3986 } from '../s3/uri.ts';
import { serializeCompleteMultipartUpload } from '../s3/xml/complete-multipart.ts';
import {
  abandonBody,
  drainBody,
  headerValue,
  type UpstreamClient,
  type UpstreamResponse,
} from '../upstream/client.ts';

/** S3's limit for one PutObject, one CopyObject and one part. */
export const MAX_SINGLE_REQUEST_SIZE = 5 * 1024 ** 3;

export type ToolServices = { upstream: UpstreamClient; keys: KeyChoice; layouts: LayoutCache };

/** An upstream answer other than the one expected, with S3's error code when the body carried one. */
export class UpstreamError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(status: number, code: string | undefined, message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.status = status;
    this.code = code;
  }
}

export function isPreconditionFailure(error: unknown): boolean {
  return error instanceof UpstreamError && (error.status === 412 || error.code === 'PreconditionFailed');
}

const xml = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  isArray: (name) => ['Contents', 'Tag', 'Upload', 'Version', 'Part'].includes(name),
});

async function failure(response: UpstreamResponse, what: string): Promise<UpstreamError> {
  const text = await response.body.text().catch(() => '');
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  const detail = [code, message].filter((part) => part !== undefined && part !== '').join(': ');
  return new UpstreamError(
    response.status,
    code,
    `${what}: S3 answered HTTP ${response.status}${detail === '' ? '' : ` (${detail})`}`,
  );
}

/** The body of a 200 that may still be an error: CopyObject and CompleteMultipartUpload report late failures so. */
async function successBody(response: UpstreamResponse, what: string): Promise<string> {
  if (response.status !== 200) throw await failure(response, what);
  const text = await response.body.text();
  if (/<Error>/.test(text)) {
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
    throw new UpstreamError(
      500,
      code,
      `${what}: S3 reported ${code ?? 'an error'} after accepting the request`,
    );
  }
  return text;
}

export function s3Url(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

// ---------------------------------------------------------------------------------------------
// Listing

export type ListedObject = { key: string; size: number; etag: string };

export type ListedPage = { objects: ListedObject[] /** No page follows. */; last: boolean };

/**
 * The pages of a listing, each `fetchPage(marker)` giving items and the marker of the next page (none
 * after the last). The next page is requested while the caller works on this one.
 */
async function* pagesAhead<T, M>(
  fetchPage: (marker: M | undefined) => Promise<{ items: T[]; next: M | undefined }>,
): AsyncGenerator<{ items: T[]; last: boolean }> {
  let pending = fetchPage(undefined);
  for (;;) {
    const { items, next } = await pending;
    if (next === undefined) {
      yield { items, last: true };
      return;
    }
    pending = fetchPage(next);
    // Fetched ahead: if the caller stops early nobody awaits it.
    pending.catch(() => undefined);
    yield { items, last: false };
  }
}

/** Every current object under `prefix`, a page (up to 1000) at a time (ListObjectsV2). */
export async function* listObjectPages(
  upstream: UpstreamClient,
  bucket: string,
  prefix: string,
): AsyncGenerator<ListedPage> {
  const pages = pagesAhead(async (token: string | undefined) => {
    const query: Array<[string, string]> = [
      ['list-type', '2'],
      ['prefix', prefix],
    ];
    if (token !== undefined) query.push(['continuation-token', token]);
    const response = await upstream.send({ method: 'GET', bucket, query });
    if (response.status !== 200) throw await failure(response, `listing s3://${bucket}/${prefix}`);
    const parsed = xml.parse(await response.body.text()) as {
      ListBucketResult?: {
        Contents?: Array<{ Key?: string; Size?: string; ETag?: string }>;
        IsTruncated?: string;
        NextContinuationToken?: string;
      };
    };
    const result = parsed.ListBucketResult;
    if (result === undefined) throw new UpstreamError(200, undefined, 'listing: not a ListBucketResult');
    const items = (result.Contents ?? []).map((entry) => ({
      key: String(entry.Key ?? ''),
      size: Number(entry.Size),
      etag: String(entry.ETag ?? ''),
    }));
    const next = result.IsTruncated === 'true' ? result.NextContinuationToken : undefined;
    return { items, next: next === '' ? undefined : next };
  });
  for await (const { items, last } of pages) yield { objects: items, last };
}

export type ListedVersion = { key: string; versionId: string; isLatest: boolean; size: number; etag: string };

export type ListedVersionPage = { versions: ListedVersion[] /** No page follows. */; last: boolean };

/**
 * Every version of every object under `prefix` (ListObjectVersions), a page at a time. Delete markers
 * hold no data and are left out.
 */
export async function* listObjectVersionPages(
  upstream: UpstreamClient,
  bucket: string,
  prefix: string,
): AsyncGenerator<ListedVersionPage> {
  type Entry = { Key?: string; VersionId?: string; IsLatest?: string; Size?: string; ETag?: string };
  const pages = pagesAhead(async (markers: Array<[string, string]> | undefined) => {
    const response = await upstream.send({
      method: 'GET',
      bucket,
      query: [['versions', ''], ['prefix', prefix], ...(markers ?? [])],
    });
    if (response.status !== 200)
      throw await failure(response, `listing versions of s3://${bucket}/${prefix}`);
    const parsed = xml.parse(await response.body.text()) as {
      ListVersionsResult?: {
        Version?: Entry[];
        IsTruncated?: string;
        NextKeyMarker?: string;
        NextVersionIdMarker?: string;
      };
    };
    const result = parsed.ListVersionsResult;
    if (result === undefined)
      throw new UpstreamError(200, undefined, 'listing versions: not a ListVersionsResult');
    const items = (result.Version ?? []).map((entry) => ({
      key: String(entry.Key ?? ''),
      versionId: String(entry.VersionId ?? 'null'),
      isLatest: entry.IsLatest === 'true',
      size: Number(entry.Size),
      etag: String(entry.ETag ?? ''),
    }));
    const next: Array<[string, string]> | undefined =
      result.IsTruncated === 'true' && result.NextKeyMarker
        ? [
            ['key-marker', result.NextKeyMarker],
            ['version-id-marker', result.NextVersionIdMarker ?? ''],
          ]
        : undefined;
    return { items, next };
  });
  for await (const { items, last } of pages) yield { versions: items, last };
}

export type IncompleteUpload = { key: string; uploadId: string; initiated: string | undefined };

/** Multipart uploads under `prefix` that were started and neither completed nor aborted. */
export async function listIncompleteUploads(
  upstream: UpstreamClient,
  bucket: string,
  prefix: string,
): Promise<IncompleteUpload[]> {
  const uploads: IncompleteUpload[] = [];
  let markers: Array<[string, string]> = [];
  for (;;) {
    const response = await upstream.send({
      method: 'GET',
      bucket,
      query: [['uploads', ''], ['prefix', prefix], ...markers],
    });
    if (response.status !== 200)
      throw await failure(response, `listing multipart uploads of s3://${bucket}/${prefix}`);
    const parsed = xml.parse(await response.body.text()) as {
      ListMultipartUploadsResult?: {
        Upload?: Array<{ Key?: string; UploadId?: string; Initiated?: string }>;
        IsTruncated?: string;
        NextKeyMarker?: string;
        NextUploadIdMarker?: string;
      };
    };
    const result = parsed.ListMultipartUploadsResult;
    for (const upload of result?.Upload ?? [])
      uploads.push({
        key: String(upload.Key ?? ''),
        uploadId: String(upload.UploadId ?? ''),
        initiated: upload.Initiated === undefined ? undefined : String(upload.Initiated),
      });
    if (result?.IsTruncated !== 'true' || !result.NextKeyMarker) return uploads;
    markers = [
      ['key-marker', result.NextKeyMarker],
      ['upload-id-marker', result.NextUploadIdMarker ?? ''],
    ];
  }
}

/** The parts an incomplete multipart upload holds so far (ListParts): how many, and their stored bytes. */
export async function listUploadParts(
  upstream: UpstreamClient,
  bucket: string,
  upload: { key: string; uploadId: string },
): Promise<{ parts: number; storedBytes: number }> {
  let parts = 0;
  let storedBytes = 0;
  let marker: Array<[string, string]> = [];
  for (;;) {
    const response = await upstream.send({
      method: 'GET',
      bucket,
      key: upload.key,
      query: [['uploadId', upload.uploadId], ...marker],
    });
    if (response.status !== 200)
      throw await failure(
        response,
        `listing the parts of upload ${upload.uploadId} of ${s3Url(bucket, upload.key)}`,
      );
    const parsed = xml.parse(await response.body.text()) as {
      ListPartsResult?: {
        Part?: Array<{ Size?: string }>;
        IsTruncated?: string;
        NextPartNumberMarker?: string;
      };
    };
    const result = parsed.ListPartsResult;
    for (const part of result?.Part ?? []) {
      parts += 1;
      storedBytes += Number(part.Size ?? 0);
    }
    if (result?.IsTruncated !== 'true' || !result.NextPartNumberMarker) return { parts, storedBytes };
    marker = [['part-number-marker', result.NextPartNumberMarker]];
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/** What a HEAD says about one stored object version. */
export type StoredObject = {
  bucket: string;
  key: string;
  etag: string;
  versionId: string | undefined;
  storedSize: number;
  headers: Record<string, string | string[] | undefined>;
};

/** HEAD of the current (or the given) version; undefined when there is none. */
export async function headObject(
  upstream: UpstreamClient,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<StoredObject | undefined> {
  const response = await upstream.send({
    method: 'HEAD',
    bucket,
    key,
    query: versionId === undefined ? [] : [['versionId', versionId]],
  });
  drainBody(response.body);
  if (response.status === 404) return undefined;
  if (response.status !== 200) throw await failure(response, `HEAD ${s3Url(bucket, key)}`);
  const etag = headerValue(response.headers, 'etag');
  const length = Number(headerValue(response.headers, 'content-length'));
  if (etag === undefined || !Number.isSafeInteger(length))
    throw new UpstreamError(200, undefined, `HEAD ${s3Url(bucket, key)}: no ETag or Content-Length`);
  return {
    bucket,
    key,
    etag,
    versionId: headerValue(response.headers, 'x-amz-version-id') ?? versionId,
    storedSize: length,
    headers: response.headers,
  };
}

export function envelopeOf(object: StoredObject): StoredEnvelope | undefined {
  return readEnvelope(object.headers);
}

export function identityOf(object: StoredObject): ObjectIdentity {
  return {
    bucket: object.bucket,
    key: object.key,
    etag: object.etag,
    versionId: object.versionId,
    storedSize: object.storedSize,
  };
}

/** The encrypted object behind a HEAD (multipart: its parts located), ready to open any plaintext range. */
export function openEncrypted(
  object: StoredObject,
  envelope: StoredEnvelope,
  services: ToolServices,
): Promise<EncryptedObject> {
  return encryptedObject(envelope, identityOf(object), services);
}

/** Stored bytes start..end (inclusive; the whole object when absent) of exactly the version HEAD saw. */
export async function readStored(
  upstream: UpstreamClient,
  object: StoredObject,
  range?: PlainRange,
): Promise<Readable> {
  const headers: Record<string, string> = { 'if-match': object.etag };
  if (range !== undefined) headers.range = `bytes=${range.start}-${range.end}`;
  const response = await upstream.send({
    method: 'GET',
    bucket: object.bucket,
    key: object.key,
    query: object.versionId === undefined ? [] : [['versionId', object.versionId]],
    headers,
  });
  if (response.status !== 200 && response.status !== 206)
    throw await failure(response, `GET ${s3Url(object.bucket, object.key)}`);
  return response.body;
}

/** Verified plaintext of a range (undefined: all) of an encrypted object; the stream fails on any tampering. */
export async function readPlaintext(
  upstream: UpstreamClient,
  object: StoredObject,
  encrypted: EncryptedObject,
  range?: PlainRange,
): Promise<Readable> {
  const open = await encrypted.open(range);
  let stored: Readable;
  try {
    // An empty single-part object is one 16-byte tag: its "whole object" is still a read.
    stored = await readStored(upstream, object, encrypted.storedRange(range));
  } catch (error) {
    open.destroy();
    throw error;
  }
  stored.on('error', (error) => open.destroy(error));
  open.on('close', () => {
    if (!stored.readableEnded) abandonBody(stored);
  });
  stored.pipe(open);
  return open;
}

/** A running SHA-256 and byte count, which several streams (the parts of one object, in order) may feed. */
export class Digest {
  readonly #hash: Hash = createHash('sha256');
  bytes = 0;

  update(chunk: Buffer): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
  }

  hex(): string {
    return this.#hash.digest('hex');
  }
}

/** Passes bytes through while feeding them to a Digest. */
export class HashTap extends Transform {
  readonly digest: Digest;

  constructor(digest: Digest = new Digest()) {
    super();
    this.digest = digest;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.digest.update(chunk);
    callback(null, chunk);
  }
}

/** SHA-256 and length of a stream, consumed to its end (it fails if the stream does). */
export async function hashStream(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const tap = new HashTap();
  await pipeline(stream, tap, async (source: AsyncIterable<Buffer>) => {
    for await (const _chunk of source) {
      // drained: only the hash is wanted
    }
  });
  return { sha256: tap.digest.hex(), bytes: tap.digest.bytes };
}

/**
 * Reads a stream of verified plaintext to its end (it fails if the stream does) and keeps nothing: each
 * chunk is counted and zeroed. Returns the byte count.
 */
export async function discardStream(stream: Readable): Promise<number> {
  let bytes = 0;
  await pipeline(stream, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      bytes += chunk.length;
      chunk.fill(0);
    }
  });
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// What a replacement keeps

/** The user metadata and descriptive headers of a stored object, as a replacement must repeat them. */
export function preservedHeaders(object: StoredObject): Record<string, string> {
  return preservedHeadersOf(object.headers);
}

/** The object's tags as an `x-amz-tagging` value, or undefined when it has none. */
export async function objectTagging(
  upstream: UpstreamClient,
  object: StoredObject,
): Promise<string | undefined> {
  const count = Number(headerValue(object.headers, 'x-amz-tagging-count') ?? '0');
  if (!(count > 0)) return undefined;
  const query: Array<[string, string]> = [['tagging', '']];
  if (object.versionId !== undefined) query.push(['versionId', object.versionId]);
  const response = await upstream.send({ method: 'GET', bucket: object.bucket, key: object.key, query });
  if (response.status !== 200)
    throw await failure(response, `GET tags of ${s3Url(object.bucket, object.key)}`);
  const parsed = xml.parse(await response.body.text()) as {
    Tagging?: { TagSet?: { Tag?: Array<{ Key?: string; Value?: string }> } };
  };
  const tags = parsed.Tagging?.TagSet?.Tag ?? [];
  if (tags.length === 0) return undefined;
  return tags
    .map((tag) => `${encodeRfc3986(String(tag.Key ?? ''))}=${encodeRfc3986(String(tag.Value ?? ''))}`)
    .join('&');
}

// ---------------------------------------------------------------------------------------------
// Writing

export type WrittenObject = { etag: string; versionId: string | undefined };

function written(response: UpstreamResponse, etag: string | undefined): WrittenObject {
  return {
    etag: etag ?? headerValue(response.headers, 'etag') ?? '',
    versionId: headerValue(response.headers, 'x-amz-version-id'),
  };
}

/**
 * Streams `body` (exactly `length` bytes) into an upstream PUT. A failing body aborts the request, so
 * S3 stores nothing; a refusal by S3 stops reading the body.
 */
async function putStream(
  upstream: UpstreamClient,
  request: { bucket: string; key: string; query?: Array<[string, string]>; headers: Record<string, string> },
  source: Readable,
  stages: Transform[],
  length: number,
  what: string,
): Promise<UpstreamResponse> {
  const abort = new AbortController();
  const last = stages[stages.length - 1];
  if (last === undefined) throw new RangeError('putStream needs at least one stage');
  let bodyError: unknown;
  const flowing = pipeline([source, ...stages] as unknown as [Readable, Transform]).catch(
    (error: unknown) => {
      bodyError = error;
      abort.abort(error);
    },
  );
  let response: UpstreamResponse;
  try {
    response = await upstream.send({
      method: 'PUT',
      ...request,
      body: last,
      contentLength: length,
      signal: abort.signal,
    });
  } catch (error) {
    // The request failed (connection lost, or aborted because the body failed): stop producing the body.
    source.destroy();
    for (const stage of stages) stage.destroy();
    await flowing;
    throw bodyError ?? error;
  }
  if (response.status !== 200) {
    source.destroy();
    for (const stage of stages) stage.destroy();
    throw await failure(response, what);
  }
  await flowing;
  if (bodyError !== undefined) throw bodyError;
  drainBody(response.body);
  return response;
}

/**
 * Writes `plaintext` (exactly `plainSize` bytes) as a single-part (`v1`) encrypted object under a fresh
 * data key, with `headers` (descriptive headers, user metadata, tagging) beside the envelope.
 */
export async function putEncrypted(
  services: ToolServices,
  target: { bucket: string; key: string; headers: Record<string, string> },
  plaintext: Readable,
  plainSize: number,
): Promise<WrittenObject> {
  let key: Awaited<ReturnType<typeof freshDataKey>>;
  try {
    key = await freshDataKey(services.keys, target);
  } catch (error) {
    plaintext.destroy();
    throw error;
  }
  const { dek, nonce, wrappedDek, transitKey } = key;
  try {
    const headers = {
      ...target.headers,
      ...envelopeToHeaders({ format: 'v1', wrappedDek, nonce, plaintextSize: plainSize, transitKey }),
    };
    const response = await putStream(
      services.upstream,
      { bucket: target.bucket, key: target.key, headers },
      plaintext,
      [createSealStream({ dek, nonce, plaintextSize: plainSize })],
      ciphertextSize(plainSize),
      `PUT ${s3Url(target.bucket, target.key)}`,
    );
    return written(response, undefined);
  } finally {
    dek.fill(0);
  }
}

export type PlainPart = { plainSize: number; plaintext: () => Promise<Readable> };

/**
 * Writes parts of plaintext as a `v1-multipart` object: a multipart upload whose part `i` is sealed under
 * its own fresh data key behind a header bound to `i` and the upload (docs/FORMAT.md §9). Completed with
 * `If-Match: ifMatch` when given, so an object changed meanwhile is not replaced; on any failure the
 * upload is aborted and the key keeps what it had.
 */
export async function uploadEncryptedParts(
  services: ToolServices,
  target: { bucket: string; key: string; headers: Record<string, string>; ifMatch?: string | undefined },
  parts: readonly PlainPart[],
): Promise<WrittenObject> {
  const { upstream } = services;
  const { bucket, key } = target;
  const where = s3Url(bucket, key);
  const uploadId = await createMultipartUpload(upstream, bucket, key, {
    ...target.headers,
    ...multipartEnvelopeHeaders(services.keys.forWrite(bucket, key).transitKey),
  });
  try {
    const binding = uploadBinding(uploadId);
    const etags: Array<{ partNumber: number; etag: string }> = [];
    for (const [index, part] of parts.entries()) {
      const partNumber = index + 1;
      const { dek, nonce, wrappedDek } = await freshDataKey(services.keys, target);
      try {
        const header = {
          wrappedDek,
          nonce,
          plaintextSize: part.plainSize,
          partNumber,
          uploadBinding: binding,
        };
        const response = await putStream(
          upstream,
          {
            bucket,
            key,
            query: [
              ['partNumber', String(partNumber)],
              ['uploadId', uploadId],
            ],
            headers: {},
          },
          await part.plaintext(),
          [createPartSealStream({ dek, header })],
          partCiphertextSize(part.plainSize),
          `upload part ${partNumber} of ${where}`,
        );
        etags.push({ partNumber, etag: headerValue(response.headers, 'etag') ?? '' });
      } finally {
        dek.fill(0);
      }
    }
    return await completeMultipartUpload(upstream, bucket, key, uploadId, etags, target.ifMatch);
  } catch (error) {
    await abortMultipartUpload(upstream, bucket, key, uploadId);
    throw error;
  }
}

async function createMultipartUpload(
  upstream: UpstreamClient,
  bucket: string,
  key: string,
  headers: Record<string, string>,
): Promise<string> {
  const response = await upstream.send({ method: 'POST', bucket, key, query: [['uploads', '']], headers });
  const text = await successBody(response, `create multipart upload of ${s3Url(bucket, key)}`);
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(text)?.[1];
  if (uploadId === undefined) throw new UpstreamError(200, undefined, 'CreateMultipartUpload: no UploadId');
  return uploadId;
}

async function completeMultipartUpload(
  upstream: UpstreamClient,
  bucket: string,
  key: string,
  uploadId: string,
  parts: Array<{ partNumber: number; etag: string }>,
  ifMatch: string | undefined,
): Promise<WrittenObject> {
  const response = await upstream.send({
    method: 'POST',
    bucket,
    key,
    query: [['uploadId', uploadId]],
    headers: ifMatch === undefined ? {} : { 'if-match': ifMatch },
    body: Buffer.from(serializeCompleteMultipartUpload(parts)),
  });
  const text = await successBody(response, `complete multipart upload of ${s3Url(bucket, key)}`);
  const etag = /<ETag>([^<]*)<\/ETag>/.exec(text)?.[1]?.replaceAll('&quot;', '"').replaceAll('&#34;', '"');
  return written(response, etag);
}

export async function abortMultipartUpload(
  upstream: UpstreamClient,
  bucket: string,
  key: string,
  uploadId: string,
): Promise<void> {
  try {
    const response = await upstream.send({ method: 'DELETE', bucket, key, query: [['uploadId', uploadId]] });
    drainBody(response.body);
  } catch {
    // The upload stays incomplete: invisible to readers, removed by an AbortIncompleteMultipartUpload rule.
  }
}

function copySource(bucket: string, key: string, versionId: string | undefined): string {
  const source = `${encodeRfc3986(bucket)}/${encodeKeyPath(key)}`;
  return versionId === undefined ? source : `${source}?versionId=${encodeRfc3986(versionId)}`;
}

export type CopyRequest = {
  bucket: string;
  /** Destination key. */
  key: string;
  /** The stored version to copy, pinned by its ETag. */
  source: StoredObject;
  /** Destination headers: metadata (REPLACE), descriptive headers, `x-amz-tagging` if any. */
  headers: Record<string, string>;
  /** Replace the destination only while its ETag is this (S3 conditional write). */
  ifMatch: string | undefined;
  /** Copy in these stored ranges (a multipart copy) instead of one CopyObject. */
  ranges?: readonly PlainRange[] | undefined;
};

/**
 * A server-side copy of stored bytes with new metadata: one CopyObject (MetadataDirective REPLACE), or,
 * when `ranges` are given (objects over 5 GiB, or parts that must stay parts), a multipart upload of
 * UploadPartCopy requests. The source is pinned by its ETag, the destination by `ifMatch`.
 */
export async function copyStored(upstream: UpstreamClient, request: CopyRequest): Promise<WrittenObject> {
  const { bucket, key, source } = request;
  const where = s3Url(bucket, key);
  const sourceHeader = copySource(source.bucket, source.key, source.versionId);
  if (request.ranges === undefined) {
    const headers: Record<string, string> = {
      ...request.headers,
      'x-amz-copy-source': sourceHeader,
      'x-amz-copy-source-if-match': source.etag,
      'x-amz-metadata-directive': 'REPLACE',
    };
    if (headers['x-amz-tagging'] !== undefined) headers['x-amz-tagging-directive'] = 'REPLACE';
    if (request.ifMatch !== undefined) headers['if-match'] = request.ifMatch;
    const response = await upstream.send({ method: 'PUT', bucket, key, headers });
    const text = await successBody(response, `copy onto ${where}`);
    const etag = /<ETag>([^<]*)<\/ETag>/.exec(text)?.[1]?.replaceAll('&quot;', '"').replaceAll('&#34;', '"');
    return written(response, etag);
  }
  const uploadId = await createMultipartUpload(upstream, bucket, key, request.headers);
  try {
    const parts: Array<{ partNumber: number; etag: string }> = [];
    for (const [index, range] of request.ranges.entries()) {
      const partNumber = index + 1;
      const response = await upstream.send({
        method: 'PUT',
        bucket,
        key,
        query: [
          ['partNumber', String(partNumber)],
          ['uploadId', uploadId],
        ],
        headers: {
          'x-amz-copy-source': sourceHeader,
          'x-amz-copy-source-if-match': source.etag,
          'x-amz-copy-source-range': `bytes=${range.start}-${range.end}`,
        },
      });
      const text = await successBody(response, `copy part ${partNumber} onto ${where}`);
      const etag = /<ETag>([^<]*)<\/ETag>/
        .exec(text)?.[1]
        ?.replaceAll('&quot;', '"')
        .replaceAll('&#34;', '"');
      parts.push({ partNumber, etag: etag ?? '' });
    }
    return await completeMultipartUpload(upstream, bucket, key, uploadId, parts, request.ifMatch);
  } catch (error) {
    await abortMultipartUpload(upstream, bucket, key, uploadId);
    throw error;
  }
}

/** Equal ranges of at most `partSize` bytes covering `0 .. size - 1`. */
export function splitRanges(size: number, partSize: number): PlainRange[] {
  const ranges: PlainRange[] = [];
  for (let start = 0; start < size; start += partSize)
    ranges.push({ start, end: Math.min(size, start + partSize) - 1 });
  return ranges;
}

export async function deleteObject(
  upstream: UpstreamClient,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<void> {
  const response = await upstream.send({
    method: 'DELETE',
    bucket,
    key,
    query: versionId === undefined ? [] : [['versionId', versionId]],
  });
  if (response.status !== 204 && response.status !== 200 && response.status !== 404)
    throw await failure(response, `DELETE ${s3Url(bucket, key)}`);
  drainBody(response.body);
}
