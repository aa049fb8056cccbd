import { PassThrough, pipeline, Readable, type Transform } from 'node:stream';
import {
  ciphertextSize,
  createPartSealStream,
  createSealStream,
  multipartEnvelopeHeaders,
  partCiphertextSize,
  uploadBinding,
} from '../envelope/index.ts';
import { S3Error } from '../s3/errors.ts';
import {
  parseUpstreamMultipartReply,
  serializeCompleteMultipartUpload,
} from '../s3/xml/complete-multipart.ts';
import { drainBody } from '../upstream/client.ts';
import { streamedClientBody } from './client-body.ts';
import { type FreshDataKey, freshDataKey, singlePartEnvelopeHeaders } from './data-key.ts';
import { answerUpload, sendEncrypted } from './encrypted-upload.ts';
import { translateConditions } from './etag.ts';
import { type Exchange, objectResource } from './exchange.ts';
import { forwardableRequestHeaders } from './headers.ts';
import { firstString } from './object-read.ts';
import { readUpstreamText, relayResponse } from './relay.ts';
import { objectKeyHeaders } from './server-side-encryption.ts';
import { checksumToStore } from './stored-checksum.ts';
import { checkMetadataSize } from './user-metadata.ts';

/**
 * Plaintext per upstream part when the length is unknown: S3's smallest part, so that one request holds
 * at most this much in memory. A body that ends within the first part is stored as an ordinary object.
 */
export const STREAMED_PART_SIZE = 5 * 1024 * 1024;

/** Conditions of a PutObject; on the multipart path they belong on CompleteMultipartUpload. */
const WRITE_CONDITIONS = ['if-match', 'if-none-match'];

/**
 * PutObject whose plaintext length the headers do not tell (aws-chunked without
 * x-amz-decoded-content-length, or plain chunked transfer): docs/decisions/0007-uploads-of-unknown-length.md.
 * The body is read a part at a time. If it ends within the first part, it is stored as an ordinary
 * single-part object; otherwise as a multipart upload upstream, each part sealed under its own key, and
 * completed only after the client's checksums verified. Any failure aborts the upload: nothing is stored.
 */
export async function putStreamedObject(exchange: Exchange): Promise<void> {
  const { req, deps, s3 } = exchange;
  const body = streamedClientBody(exchange);
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  translateConditions(headers);
  // A key is wrapped before the body is read, so an unavailable Vault costs the client only a 503.
  let key: FreshDataKey | undefined = await freshDataKey(deps.keys, s3);
  exchange.continueBody();
  const parts = partsOf(exchange, body.stages, STREAMED_PART_SIZE, deps.maxObjectSize);
  let uploadId: string | undefined;
  try {
    const first = await parts.next();
    const second = first.done ? undefined : await parts.next();
    if (first.done || second?.done) {
      const plaintext = first.done ? Buffer.alloc(0) : first.value;
      body.verify();
      const sealing = key;
      const { dek, nonce } = sealing;
      key = undefined;
      // The whole plaintext is held and verified here, so a trailer's checksum is known too (FORMAT.md 7.1).
      const checksum = checksumToStore(body.verifiedChecksumHeaders());
      Object.assign(headers, singlePartEnvelopeHeaders(sealing, plaintext.length, checksum));
      checkMetadataSize(headers, objectResource(s3));
      const response = await sendEncrypted(exchange, {
        source: Readable.from([plaintext]),
        stages: [],
        seal: createSealStream({ dek, nonce, plaintextSize: plaintext.length }),
        storedSize: ciphertextSize(plaintext.length),
        verify: () => {},
        request: { bucket: s3.bucket, key: s3.key, query: s3.query, headers },
        done: () => dek.fill(0),
      });
      if (response.status !== 200) return await relayResponse(exchange, response);
      exchange.bytesIn += plaintext.length;
      return answerUpload(exchange, response, body.verifiedChecksumHeaders());
    }

    const conditions: Record<string, string> = {};
    for (const name of WRITE_CONDITIONS) {
      const value = headers[name];
      if (value === undefined) continue;
      conditions[name] = value;
      delete headers[name];
    }
    Object.assign(headers, multipartEnvelopeHeaders(key.transitKey));
    checkMetadataSize(headers, objectResource(s3));
    const created = await deps.upstream.send({
      method: 'POST',
      bucket: s3.bucket,
      key: s3.key,
      query: [['uploads', '']],
      headers,
    });
    if (created.status !== 200) return await relayResponse(exchange, created);
    uploadId = parseUpstreamMultipartReply(await readUpstreamText(created)).uploadId;
    if (uploadId === undefined)
      throw new S3Error('InternalError', 'The upstream started no multipart upload.');

    const completed: { partNumber: number; etag: string }[] = [];
    let pending: IteratorResult<Buffer> = first;
    let following: IteratorResult<Buffer> | undefined = second;
    while (!pending.done) {
      const plaintext = pending.value;
      const partNumber = completed.length + 1;
      const { dek, nonce, wrappedDek } = key ?? (await freshDataKey(deps.keys, s3));
      key = undefined;
      const header = {
        wrappedDek,
        nonce,
        plaintextSize: plaintext.length,
        partNumber,
        uploadBinding: uploadBinding(uploadId),
      };
      const response = await sendEncrypted(exchange, {
        source: Readable.from([plaintext]),
        stages: [],
        seal: createPartSealStream({ dek, header }),
        storedSize: partCiphertextSize(plaintext.length),
        verify: () => {},
        request: {
          bucket: s3.bucket,
          key: s3.key,
          query: [
            ['partNumber', String(partNumber)],
            ['uploadId', uploadId],
          ],
          headers: objectKeyHeaders(req.headers),
        },
        done: () => dek.fill(0),
      });
      if (response.status !== 200) return await relayResponse(exchange, response);
      drainBody(response.body);
      const etag = firstString(response.headers.etag);
      if (etag === undefined)
        throw new S3Error('InternalError', `The upstream gave part ${partNumber} no ETag.`);
      completed.push({ partNumber, etag });
      exchange.bytesIn += plaintext.length;
      pending = following ?? (await parts.next());
      following = undefined;
    }
    // Only now has the whole body, and any checksum trailer, arrived.
    body.verify();
    const complete = await deps.upstream.send({
      method: 'POST',
      bucket: s3.bucket,
      key: s3.key,
      query: [['uploadId', uploadId]],
      headers: { ...objectKeyHeaders(req.headers), ...conditions },
      body: Buffer.from(serializeCompleteMultipartUpload(completed)),
    });
    if (complete.status !== 200) return await relayResponse(exchange, complete);
    // CompleteMultipartUpload can fail after its 200 with an <Error> body (COMPAT 13).
    const { etag, errorCode } = parseUpstreamMultipartReply(await readUpstreamText(complete));
    if (etag === undefined) {
      throw new S3Error(
        'InternalError',
        `The upstream did not complete the upload (${errorCode ?? 'no ETag'}).`,
      );
    }
    uploadId = undefined;
    complete.headers.etag = etag;
    delete complete.headers['content-type'];
    answerUpload(exchange, complete, body.verifiedChecksumHeaders());
  } finally {
    key?.dek.fill(0);
    await parts.return(undefined);
    if (uploadId !== undefined) await abortUpload(exchange, uploadId);
  }
}

async function abortUpload(exchange: Exchange, uploadId: string): Promise<void> {
  const { deps, s3, log } = exchange;
  try {
    const response = await deps.upstream.send({
      method: 'DELETE',
      bucket: s3.bucket,
      key: s3.key,
      query: [['uploadId', uploadId]],
    });
    drainBody(response.body);
    if (response.status >= 300)
      log.warn({ uploadId, status: response.status }, 'upstream abort of a failed upload refused');
  } catch (error) {
    log.warn({ uploadId, err: error }, 'upstream abort of a failed upload failed');
  }
}

/**
 * The client's checked plaintext in pieces of exactly `size` bytes (the last one shorter, never empty),
 * read only as fast as they are taken. Stops with EntityTooLarge past `maxTotal`, and with IncompleteBody
 * if the client goes away before the end.
 */
async function* partsOf(
  exchange: Exchange,
  stages: Transform[],
  size: number,
  maxTotal: number,
): AsyncGenerator<Buffer, void, undefined> {
  const { req } = exchange;
  // A stage of its own between the request and the reader, so that stopping early never destroys the
  // request (and with it the connection the error answer goes out on).
  const [head, ...rest] = stages.length > 0 ? stages : [new PassThrough()];
  if (head === undefined) throw new Error('no body stages');
  const tail: Readable = rest.at(-1) ?? head;
  req.on('close', () => {
    if (!req.complete)
      head.destroy(
        new S3Error('IncompleteBody', 'The client closed the connection before sending the whole body.'),
      );
  });
  req.on('error', (error) => head.destroy(error));
  req.pipe(head);
  if (rest.length > 0) pipeline([head, ...rest], () => {});
  let pieces: Buffer[] = [];
  let held = 0;
  let total = 0;
  try {
    for await (const chunk of tail) {
      const piece = chunk as Buffer;
      total += piece.length;
      if (total > maxTotal) {
        throw new S3Error(
          'EntityTooLarge',
          `The object is larger than this proxy accepts in one PUT (${maxTotal} bytes, CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE).`,
          { resource: objectResource(exchange.s3) },
        );
      }
      pieces.push(piece);
      held += piece.length;
      while (held >= size) {
        const joined = Buffer.concat(pieces);
        yield joined.subarray(0, size);
        pieces = joined.length > size ? [joined.subarray(size)] : [];
        held -= size;
      }
    }
    if (held > 0) yield Buffer.concat(pieces);
  } finally {
    req.unpipe(head);
    if (!tail.readableEnded) head.destroy();
  }
}
