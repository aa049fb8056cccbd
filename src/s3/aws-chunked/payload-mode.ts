/**
 * What `x-amz-content-sha256` says about the shape of the body. aws-chunked is detected by the `STREAMING-`
 * prefix alone: minio-go sends signed chunks without `Content-Encoding: aws-chunked`, so that header cannot be
 * trusted to announce them.
 */
import { S3Error } from '../errors.ts';

export type PayloadMode =
  | { readonly chunked: false }
  | { readonly chunked: true; readonly signed: boolean; readonly trailer: boolean };

const STREAMING_MODES: Readonly<Record<string, { signed: boolean; trailer: boolean }>> = {
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER': { signed: false, trailer: true },
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': { signed: true, trailer: false },
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': { signed: true, trailer: true },
  'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD': { signed: true, trailer: false },
  'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER': { signed: true, trailer: true },
};

export function payloadMode(xAmzContentSha256: string | undefined): PayloadMode {
  const value = xAmzContentSha256?.trim();
  if (value === undefined || !value.startsWith('STREAMING-')) return { chunked: false };
  const mode = STREAMING_MODES[value];
  if (mode === undefined) {
    throw new S3Error(
      'NotImplemented',
      `The payload type x-amz-content-sha256: ${value} is not supported by this proxy.`,
    );
  }
  return { chunked: true, ...mode };
}

/**
 * `x-amz-decoded-content-length`, the length of the data inside the aws-chunked framing. Missing is allowed
 * (aws-sdk-js v3 omits it for streams of unknown length).
 */
export function parseDecodedContentLength(value: string | readonly string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = (typeof value === 'string' ? value : value.join(',')).trim();
  const length = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(length)) {
    throw new S3Error('InvalidArgument', 'x-amz-decoded-content-length must be a non-negative integer.');
  }
  return length;
}

/**
 * The `Content-Encoding` to keep once the aws-chunked framing is removed: the `aws-chunked` token goes (it
 * describes the framing we decode), other codings such as `gzip` stay. undefined when nothing is left.
 */
export function contentEncodingWithoutAwsChunked(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const kept = value
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token !== '' && token.toLowerCase() !== 'aws-chunked');
  return kept.length === 0 ? undefined : kept.join(', ');
}
