import type { Readable } from 'node:stream';
import {
  createPartSealStream,
  envelopeToHeaders,
  multipartEnvelopeHeaders,
  partCiphertextSize,
  readEnvelope,
  uploadBinding,
} from '../envelope/index.ts';
import { S3Error } from '../s3/errors.ts';
import { parseRange } from '../s3/range.ts';
import { withoutChecksumElements } from '../s3/xml/complete-multipart.ts';
import { escapeXml } from '../s3/xml/error.ts';
import { abandonBody, drainBody, type UpstreamResponse } from '../upstream/client.ts';
import { copyUnderAnotherKey } from './copy-rekey.ts';
import { freshDataKey } from './data-key.ts';
import { sendEncrypted } from './encrypted-upload.ts';
import { presentETag, translateConditions, upstreamETagCondition } from './etag.ts';
import { type Exchange, objectResource } from './exchange.ts';
import { firstHeader, forwardableRequestHeaders } from './headers.ts';
import { MAX_PART_PLAINTEXT, partTarget } from './multipart.ts';
import { encryptedObjectOf, firstString, unencryptedRefusal } from './object-read.ts';
import { answerXml, readUpstreamText, relayResponse } from './relay.ts';
import { copySourceKeyHeaders } from './server-side-encryption.ts';
import { checkMetadataSize } from './user-metadata.ts';

type CopySource = { bucket: string; key: string; versionId: string | undefined };

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded. */
export function parseCopySource(value: string | undefined): CopySource {
  if (value === undefined) throw new S3Error('InvalidArgument', 'x-amz-copy-source is missing.');
  const [path = '', query = ''] = value.replace(/^\//, '').split('?', 2);
  const slash = path.indexOf('/');
  if (slash <= 0 || slash === path.length - 1)
    throw new S3Error('InvalidArgument', 'x-amz-copy-source must name a bucket and a key.');
  let bucket: string;
  let key: string;
  try {
    bucket = decodeURIComponent(path.slice(0, slash));
    key = decodeURIComponent(path.slice(slash + 1));
  } catch {
    throw new S3Error('InvalidArgument', 'x-amz-copy-source is not valid URL encoding.');
  }
  const versionId = new URLSearchParams(query).get('versionId') ?? undefined;
  return { bucket, key, versionId };
}

/** The source's upstream HEAD, with the client's copy-source conditions applied as ordinary conditions. */
async function headSource(exchange: Exchange, source: CopySource): Promise<UpstreamResponse> {
  const conditions: Record<string, string> = {};
  for (const [from, to] of [
    ['x-amz-copy-source-if-match', 'if-match'],
    ['x-amz-copy-source-if-none-match', 'if-none-match'],
    ['x-amz-copy-source-if-modified-since', 'if-modified-since'],
    ['x-amz-copy-source-if-unmodified-since', 'if-unmodified-since'],
  ] as const) {
    const value = firstHeader(exchange.req.headers, from);
    if (value !== undefined) conditions[to] = to.includes('match') ? upstreamETagCondition(value) : value;
  }
  const response = await exchange.deps.upstream.send({
    method: 'HEAD',
    bucket: source.bucket,
    key: source.key,
    query: source.versionId === undefined ? [] : [['versionId', source.versionId]],
    headers: { ...copySourceKeyHeaders(exchange.req.headers), ...conditions },
  });
  drainBody(response.body);
  return response;
}

/**
 * CopyObject: a server-side copy of the stored bytes. With COPY the envelope travels with the metadata;
 * with REPLACE the proxy adds the source's envelope to the client's new metadata. The copy is pinned to
 * the source version the envelope was read from.
 */
export async function copyObject(exchange: Exchange): Promise<void> {
  const { req, s3, deps } = exchange;
  const source = parseCopySource(firstHeader(req.headers, 'x-amz-copy-source'));
  const head = await headSource(exchange, source);
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  translateConditions(headers);
  const envelope = head.status === 200 ? readEnvelope(head.headers) : undefined;
  if (envelope !== undefined) {
    // The source must be readable where it is; a copy to a location of another Transit key is sealed again.
    const recorded = deps.keys.recordedKey(source.bucket, source.key, envelope.transitKey);
    if (recorded !== deps.keys.forWrite(s3.bucket ?? '', s3.key ?? '').transitKey)
      return copyUnderAnotherKey(exchange, source, head, headers);
  }
  if (head.status === 200) headers['x-amz-copy-source-if-match'] ??= firstString(head.headers.etag) ?? '';
  if ((headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase() === 'REPLACE' && envelope !== undefined) {
    Object.assign(
      headers,
      envelope.format === 'v1' ? envelopeToHeaders(envelope) : multipartEnvelopeHeaders(envelope.transitKey),
    );
    checkMetadataSize(headers, objectResource(s3));
  }
  const response = await deps.upstream.send({
    method: 'PUT',
    bucket: s3.bucket,
    key: s3.key,
    query: s3.query,
    headers,
  });
  if (response.status !== 200) {
    await relayResponse(exchange, response);
    return;
  }
  let xml = withoutChecksumElements(await readUpstreamText(response));
  if (envelope !== undefined) {
    xml = xml.replace(/<ETag>([^<]*)<\/ETag>/, (_whole, etag: string) => {
      const presented = presentETag(etag.replaceAll('&quot;', '"')) ?? etag;
      return `<ETag>${escapeXml(presented)}</ETag>`;
    });
  }
  answerXml(exchange, response, xml);
}

/**
 * UploadPartCopy: the requested plaintext range of the source is decrypted through the proxy and sealed as
 * a new part under its own data key. A server-side copy of stored bytes would put ciphertext under another
 * object's keys and in another layout; rclone and s3transfer use this for large copies, so it is done, not refused.
 */
export async function uploadPartCopy(exchange: Exchange): Promise<void> {
  const { req, s3, deps } = exchange;
  const { partNumber, uploadId } = partTarget(exchange);
  const source = parseCopySource(firstHeader(req.headers, 'x-amz-copy-source'));
  const sourceKey = copySourceKeyHeaders(req.headers);
  const head = await headSource(exchange, source);
  if (head.status !== 200) {
    if (head.status === 304 || head.status === 412) {
      throw new S3Error('PreconditionFailed', undefined, { resource: `/${source.bucket}/${source.key}` });
    }
    const probe = await deps.upstream.send({
      method: 'GET',
      bucket: source.bucket,
      key: source.key,
      headers: { ...sourceKey, range: 'bytes=0-0' },
    });
    await relayResponse(exchange, probe);
    return;
  }
  const object = await encryptedObjectOf(exchange, head, {
    sizes: 'authenticated',
    target: { ...source, readHeaders: sourceKey },
  });
  if (object === undefined && deps.unencryptedObjects === 'refuse')
    throw unencryptedRefusal(`/${source.bucket}/${source.key}`);
  const sourceSize = object?.plainSize ?? Number(firstString(head.headers['content-length']));
  const range = copyRange(firstHeader(req.headers, 'x-amz-copy-source-range'), sourceSize);
  const size = range === undefined ? sourceSize : range.end - range.start + 1;
  if (size > MAX_PART_PLAINTEXT) {
    throw new S3Error(
      'EntityTooLarge',
      `The copied range is ${size} bytes; an encrypted part may carry at most ${MAX_PART_PLAINTEXT}.`,
    );
  }
  const etag = firstString(head.headers.etag) ?? '';
  const storedRange = object === undefined ? range : object.storedRange(range);
  const fetched = await deps.upstream.send({
    method: 'GET',
    bucket: source.bucket,
    key: source.key,
    query: source.versionId === undefined ? [] : [['versionId', source.versionId]],
    headers: {
      ...sourceKey,
      'if-match': etag,
      ...(storedRange === undefined ? {} : { range: `bytes=${storedRange.start}-${storedRange.end}` }),
    },
  });
  if (fetched.status !== 200 && fetched.status !== 206) {
    await relayResponse(exchange, fetched);
    return;
  }
  let plaintext: Readable = fetched.body;
  if (object !== undefined) {
    const open = await object.open(range).catch((error: unknown) => {
      abandonBody(fetched.body);
      throw error;
    });
    fetched.body.on('error', (error) => open.destroy(error));
    plaintext = fetched.body.pipe(open);
  }
  const { dek, nonce, wrappedDek } = await freshDataKey(deps.keys, s3);
  const header = {
    wrappedDek,
    nonce,
    plaintextSize: size,
    partNumber,
    uploadBinding: uploadBinding(uploadId),
  };
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  for (const name of Object.keys(headers)) if (name.startsWith('x-amz-copy-source')) delete headers[name];
  const response = await sendEncrypted(exchange, {
    source: plaintext,
    stages: [],
    seal: createPartSealStream({ dek, header }),
    storedSize: partCiphertextSize(size),
    verify: () => {},
    request: { bucket: s3.bucket, key: s3.key, query: s3.query, headers },
    done: () => dek.fill(0),
  });
  if (response.status !== 200) {
    await relayResponse(exchange, response);
    return;
  }
  drainBody(response.body);
  const partETag = presentETag(firstString(response.headers.etag)) ?? '';
  const lastModified = new Date(firstString(response.headers.date) ?? Date.now()).toISOString();
  answerXml(
    exchange,
    response,
    `<?xml version="1.0" encoding="UTF-8"?>\n<CopyPartResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>${lastModified}</LastModified><ETag>${escapeXml(partETag)}</ETag></CopyPartResult>`,
  );
}

/** `x-amz-copy-source-range: bytes=first-last`, in the source's plaintext coordinates; S3 accepts no other form. */
function copyRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const parsed = parseRange(header);
  if (parsed === undefined || parsed === 'invalid' || parsed.kind !== 'bounded') {
    throw new S3Error(
      'InvalidArgument',
      'The x-amz-copy-source-range value must be of the form bytes=first-last.',
    );
  }
  if (parsed.last >= size) {
    throw new S3Error('InvalidArgument', `Range specified is not valid for source object of size: ${size}`);
  }
  return { start: parsed.first, end: parsed.last };
}
