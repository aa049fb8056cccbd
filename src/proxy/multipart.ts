import {
  createPartSealStream,
  maxPartPlaintextSize,
  multipartEnvelopeHeaders,
  partCiphertextSize,
  uploadBinding,
} from '../envelope/index.ts';
import { S3Error } from '../s3/errors.ts';
import {
  type CompletedPart,
  parseCompleteMultipartUpload,
  parseListPartsReply,
  serializeCompleteMultipartUpload,
  withoutChecksumElements,
} from '../s3/xml/complete-multipart.ts';
import { clientBody } from './client-body.ts';
import { freshDataKey } from './data-key.ts';
import { uploadClientBody } from './encrypted-upload.ts';
import { translateConditions, upstreamETagCondition } from './etag.ts';
import { type Exchange, objectResource, partNumberOf, queryValue } from './exchange.ts';
import { firstHeader, forwardableRequestHeaders } from './headers.ts';
import { bufferedRequestBody } from './passthrough-body.ts';
import { answerXml, readUpstreamText, relayResponse } from './relay.ts';
import { checkMetadataSize } from './user-metadata.ts';

/** S3's largest part, counted in what is stored: the part header and the tags come out of it. */
const MAX_STORED_PART_SIZE = 5 * 1024 ** 3;
export const MAX_PART_PLAINTEXT = maxPartPlaintextSize(MAX_STORED_PART_SIZE);

/**
 * CreateMultipartUpload: marks the object as multipart-encrypted. A checksum algorithm the client names
 * is not passed on: the upstream would then demand checksums of ciphertext parts; the proxy verifies the
 * client's part checksums over the plaintext instead.
 */
export async function createMultipartUpload(exchange: Exchange): Promise<void> {
  const { req, s3, deps } = exchange;
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  // The parts' data keys are wrapped by this location's key; the object records it for its readers.
  Object.assign(
    headers,
    multipartEnvelopeHeaders(deps.keys.forWrite(s3.bucket ?? '', s3.key ?? '').transitKey),
  );
  checkMetadataSize(headers, objectResource(s3));
  const response = await deps.upstream.send({
    method: 'POST',
    bucket: s3.bucket,
    key: s3.key,
    query: s3.query,
    headers,
  });
  const algorithm = firstHeader(req.headers, 'x-amz-checksum-algorithm');
  if (response.status === 200 && algorithm !== undefined)
    response.headers['x-amz-checksum-algorithm'] = algorithm;
  await relayResponse(exchange, response, { dropIntegrity: false });
}

/**
 * UploadPart: every part is sealed under its own fresh data key and nonce, behind a part header that
 * binds it to its part number and upload (docs/FORMAT.md §9). Nothing is kept between requests, so parts
 * may arrive in any order, be retried, or go through different proxy replicas.
 */
export async function uploadPart(exchange: Exchange): Promise<void> {
  const { req, deps, s3 } = exchange;
  const { partNumber, uploadId } = partTarget(exchange);
  const body = clientBody(exchange, {
    maxSize: MAX_PART_PLAINTEXT,
    describe: (size) =>
      `Part ${partNumber} is ${size} bytes; with the encryption overhead a part may carry at most ${MAX_PART_PLAINTEXT} bytes (S3's 5 GiB part limit).`,
  });
  const { dek, nonce, wrappedDek } = await freshDataKey(deps.keys, s3);
  const header = {
    wrappedDek,
    nonce,
    plaintextSize: body.size,
    partNumber,
    uploadBinding: uploadBinding(uploadId),
  };
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  await uploadClientBody(exchange, body, {
    seal: createPartSealStream({ dek, header }),
    storedSize: partCiphertextSize(body.size),
    headers,
    dek,
  });
}

export function partTarget(exchange: Exchange): { partNumber: number; uploadId: string } {
  const partNumber = partNumberOf(exchange.s3);
  if (partNumber === undefined) throw new S3Error('InvalidArgument', 'partNumber is missing.');
  const uploadId = queryValue(exchange.s3, 'uploadId') ?? '';
  if (uploadId === '') throw new S3Error('InvalidArgument', 'uploadId must not be empty.');
  return { partNumber, uploadId };
}

/**
 * CompleteMultipartUpload: part ETags are mapped back to what the upstream knows, part checksums (of
 * plaintext, verified when each part arrived) are dropped, and the part list must be 1..N without gaps,
 * which lets a reader detect reordered, dropped or foreign parts.
 */
export async function completeMultipartUpload(exchange: Exchange): Promise<void> {
  const { req, s3, deps } = exchange;
  const { body } = await bufferedRequestBody(exchange);
  const parts = parseCompleteMultipartUpload(body.toString('utf8'));
  if (parts.length === 0) throw new S3Error('MalformedXML', 'The part list is empty.');
  for (const [index, part] of parts.entries()) {
    if (index > 0 && part.partNumber <= (parts[index - 1]?.partNumber ?? 0)) {
      throw new S3Error(
        'InvalidPartOrder',
        'The list of parts was not in ascending order. Parts must be ordered by part number.',
        { resource: objectResource(s3) },
      );
    }
  }
  if (parts.some((part, index) => part.partNumber !== index + 1)) return refuseGap(exchange, parts);
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  translateConditions(headers);
  const upstreamBody = Buffer.from(
    serializeCompleteMultipartUpload(
      parts.map((p) => ({ partNumber: p.partNumber, etag: upstreamETagCondition(p.etag) })),
    ),
  );
  const response = await deps.upstream.send({
    method: 'POST',
    bucket: s3.bucket,
    key: s3.key,
    query: s3.query,
    headers,
    body: upstreamBody,
  });
  if (response.status !== 200) {
    await relayResponse(exchange, response);
    return;
  }
  // A 200 may still carry an <Error> (S3 reports late failures that way); it is passed on as it is.
  answerXml(exchange, response, withoutChecksumElements(await readUpstreamText(response)));
}

/**
 * A part list in ascending order but with a gap: S3 would complete it, the proxy does not (a reader requires
 * parts 1..N, docs/FORMAT.md section 9.3). If the list names a part the upload does not have, or with another
 * ETag, the answer is S3's for that list, InvalidPart; otherwise the proxy's own refusal, InvalidPartOrder.
 */
async function refuseGap(exchange: Exchange, parts: readonly CompletedPart[]): Promise<void> {
  const { s3, deps } = exchange;
  const uploaded = new Map<number, string>();
  let marker: string | undefined;
  // At most 10,000 parts, 1,000 a page; a few pages more cannot hurt, an upstream that never ends can.
  for (let page = 0; page < 12; page++) {
    const response = await deps.upstream.send({
      method: 'GET',
      bucket: s3.bucket,
      key: s3.key,
      query: [
        ['uploadId', queryValue(s3, 'uploadId') ?? ''],
        ...(marker === undefined ? [] : [['part-number-marker', marker] as [string, string]]),
      ],
    });
    if (response.status !== 200) return relayResponse(exchange, response);
    const listed = parseListPartsReply(await readUpstreamText(response));
    for (const part of listed.parts) uploaded.set(part.partNumber, unquoted(part.etag));
    marker = listed.nextMarker;
    if (marker === undefined) break;
  }
  for (const part of parts) {
    if (uploaded.get(part.partNumber) !== unquoted(upstreamETagCondition(part.etag))) {
      throw new S3Error(
        'InvalidPart',
        `Part ${part.partNumber} could not be found: it was not uploaded, or its ETag is not ${part.etag}.`,
        { resource: objectResource(s3) },
      );
    }
  }
  const missing = parts.findIndex((part, index) => part.partNumber !== index + 1) + 1;
  throw new S3Error(
    'InvalidPartOrder',
    `Part ${missing} is missing from the list: the encryption proxy completes uploads whose parts are numbered 1..N without gaps.`,
    { resource: objectResource(s3) },
  );
}

function unquoted(etag: string): string {
  return etag.trim().replaceAll('"', '');
}
