import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from '../errors.ts';
import { escapeXml } from './error.ts';

export type CompletedPart = { partNumber: number; etag: string; checksums: Record<string, string> };

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => name === 'Part',
  processEntities: true,
  // Go's encoding/xml (rclone, minio-go) writes the quotes of ETags as numeric references (&#34;).
  htmlEntities: true,
});

/** The part list of a CompleteMultipartUpload request body. */
export function parseCompleteMultipartUpload(xml: string): CompletedPart[] {
  let document: { CompleteMultipartUpload?: { Part?: Array<Record<string, string>> } };
  try {
    if (XMLValidator.validate(xml) !== true) throw new S3Error('MalformedXML');
    document = parser.parse(xml) as typeof document;
  } catch {
    // The validator and the parser throw plain errors on some malformed input (found by the fuzz test).
    throw new S3Error('MalformedXML');
  }
  const root = document.CompleteMultipartUpload;
  if (root === undefined || typeof root !== 'object') throw new S3Error('MalformedXML');
  return (root.Part ?? []).map((part) => {
    const number = part.PartNumber ?? '';
    if (!/^\d{1,5}$/.test(number) || typeof part.ETag !== 'string') throw new S3Error('MalformedXML');
    const checksums: Record<string, string> = {};
    for (const [name, value] of Object.entries(part))
      if (name.startsWith('Checksum')) checksums[name] = String(value);
    return { partNumber: Number(number), etag: part.ETag, checksums };
  });
}

export function serializeCompleteMultipartUpload(
  parts: ReadonlyArray<{ partNumber: number; etag: string }>,
): string {
  const body = parts
    .map((p) => `<Part><ETag>${escapeXml(p.etag)}</ETag><PartNumber>${p.partNumber}</PartNumber></Part>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${body}</CompleteMultipartUpload>`;
}

/** Checksum elements of an upstream reply describe ciphertext; SDKs would validate them against plaintext. */
export function withoutChecksumElements(xml: string): string {
  return xml.replace(/<(Checksum[A-Za-z0-9]*)>[^<]*<\/\1>/g, '');
}

/** What an upstream reply to CreateMultipartUpload or CompleteMultipartUpload says, or the error it carries. */
export type UpstreamMultipartReply = { uploadId?: string; etag?: string; errorCode?: string };

/**
 * Reads the upload id of an InitiateMultipartUploadResult, the ETag of a CompleteMultipartUploadResult, or
 * the code of an <Error> (a CompleteMultipartUpload can fail after its 200, COMPAT 13).
 */
export function parseUpstreamMultipartReply(xml: string): UpstreamMultipartReply {
  let document: Record<string, Record<string, unknown> | undefined>;
  try {
    document = parser.parse(xml) as typeof document;
  } catch {
    return { errorCode: 'MalformedXML' };
  }
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const error = document.Error;
  if (error !== undefined) return { errorCode: text(error.Code) ?? 'InternalError' };
  const reply: UpstreamMultipartReply = {};
  const uploadId = text(document.InitiateMultipartUploadResult?.UploadId);
  const etag = text(document.CompleteMultipartUploadResult?.ETag);
  if (uploadId !== undefined) reply.uploadId = uploadId;
  if (etag !== undefined) reply.etag = etag;
  return reply;
}

/** One page of an upstream ListParts reply: part numbers and their (upstream) ETags. */
export type ListedParts = {
  parts: Array<{ partNumber: number; etag: string }>;
  /** Where the next page starts, when the reply is truncated. */
  nextMarker: string | undefined;
};

export function parseListPartsReply(xml: string): ListedParts {
  let document: { ListPartsResult?: Record<string, unknown> };
  try {
    document = parser.parse(xml) as typeof document;
  } catch {
    throw new S3Error('InternalError', 'The upstream ListParts reply is not XML.');
  }
  const root = document.ListPartsResult;
  if (root === undefined || typeof root !== 'object')
    throw new S3Error('InternalError', 'The upstream ListParts reply has no ListPartsResult.');
  const parts = ((root.Part ?? []) as Array<Record<string, unknown>>).map((part) => ({
    partNumber: Number(part.PartNumber),
    etag: String(part.ETag ?? ''),
  }));
  const truncated = String(root.IsTruncated ?? '') === 'true';
  const marker = root.NextPartNumberMarker;
  return { parts, nextMarker: truncated && typeof marker === 'string' && marker !== '' ? marker : undefined };
}
