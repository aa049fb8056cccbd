import type { IncomingHttpHeaders } from 'node:http';
import type { Transform } from 'node:stream';
import {
  type ChunkSignatureVerifier,
  createAwsChunkedDecoder,
  payloadMode,
} from '../s3/aws-chunked/index.ts';
import {
  type ChecksumAlgorithm,
  createChecksumTap,
  type ExpectedChecksum,
  expectedChecksums,
  expectedTrailerChecksum,
  trailerChecksumAlgorithm,
  verifyChecksums,
} from '../s3/checksum.ts';
import { S3Error } from '../s3/errors.ts';
import type { Exchange } from './exchange.ts';
import { firstHeader } from './headers.ts';

/**
 * The plaintext a client is about to upload, as far as the headers tell before the body is read: its
 * size, and the stages that turn the raw request body into checked plaintext (aws-chunked decoding, a
 * tap computing every checksum the client declared).
 */
export type ClientBody = {
  readonly size: number;
  /** Raw request body in, plaintext out; to be piped from the request in this order (none: the body is the plaintext). */
  readonly stages: Transform[];
  /** Throws the S3 error for a checksum mismatch; valid once the last stage has ended. */
  verify(): void;
  /** The client's own checksum headers, verified, to echo in the response (SDKs collect part checksums). */
  verifiedChecksumHeaders(): Record<string, string>;
};

export function clientBody(
  exchange: Exchange,
  limit: { maxSize: number; describe: (size: number) => string },
): ClientBody {
  const mode = payloadMode(firstHeader(exchange.req.headers, 'x-amz-content-sha256'));
  const size = declaredPlaintextSize(exchange.req.headers, mode.chunked);
  if (size > limit.maxSize) throw new S3Error('EntityTooLarge', limit.describe(size));
  return { size, ...checkedPlaintext(exchange, size) };
}

/** A body whose plaintext length the headers do not give (see `declaresPlaintextLength`). */
export type StreamedClientBody = Omit<ClientBody, 'size'>;

export function streamedClientBody(exchange: Exchange): StreamedClientBody {
  return checkedPlaintext(exchange, undefined);
}

/** True when the request says how long its plaintext is: Content-Length, or x-amz-decoded-content-length for aws-chunked. */
export function declaresPlaintextLength(headers: IncomingHttpHeaders): boolean {
  const mode = payloadMode(firstHeader(headers, 'x-amz-content-sha256'));
  return firstHeader(headers, mode.chunked ? 'x-amz-decoded-content-length' : 'content-length') !== undefined;
}

function checkedPlaintext(exchange: Exchange, size: number | undefined): StreamedClientBody {
  const { req } = exchange;
  const mode = payloadMode(firstHeader(req.headers, 'x-amz-content-sha256'));
  const expected = expectedChecksums(req.headers);
  const trailerAlgorithm = mode.chunked && mode.trailer ? trailerChecksumAlgorithm(req.headers) : undefined;
  const signatures = mode.chunked ? chunkSignaturesFor(exchange, mode.signed) : undefined;
  const decoder = mode.chunked
    ? createAwsChunkedDecoder({
        signed: mode.signed,
        trailer: mode.trailer,
        ...(size === undefined ? {} : { decodedContentLength: size }),
        ...(signatures === undefined ? {} : { signatures }),
      })
    : undefined;
  const algorithms = new Set<ChecksumAlgorithm>(expected.map((e) => e.algorithm));
  if (trailerAlgorithm !== undefined) algorithms.add(trailerAlgorithm);
  // Without a declared checksum there is nothing to compute, and no stage to pass the body through.
  const tap = algorithms.size === 0 ? undefined : createChecksumTap(algorithms);
  let verified: ExpectedChecksum[] = [];
  return {
    stages: [decoder, tap].filter((stage) => stage !== undefined),
    verify() {
      const all = [...expected];
      if (trailerAlgorithm !== undefined && decoder !== undefined)
        all.push(expectedTrailerChecksum(trailerAlgorithm, decoder.trailers));
      if (tap !== undefined) verifyChecksums(tap, all);
      verified = all;
    },
    verifiedChecksumHeaders() {
      const headers: Record<string, string> = {};
      for (const check of verified) {
        if (check.source === 'x-amz-checksum-header' || check.source === 'x-amz-checksum-trailer') {
          headers[check.name] = check.digest.toString('base64');
        }
      }
      return headers;
    },
  };
}

function declaredPlaintextSize(headers: IncomingHttpHeaders, chunked: boolean): number {
  const name = chunked ? 'x-amz-decoded-content-length' : 'content-length';
  const value = firstHeader(headers, name);
  if (value === undefined) {
    throw new S3Error(
      'MissingContentLength',
      chunked
        ? 'aws-chunked uploads through the encryption proxy need x-amz-decoded-content-length; for streams of unknown length use a multipart upload.'
        : undefined,
    );
  }
  if (!/^\d{1,16}$/.test(value))
    throw new S3Error(
      'InvalidArgument',
      `${name} must be a non-negative integer, got "${value.slice(0, 40)}".`,
    );
  return Number(value);
}

/**
 * The verifier of a signed aws-chunked body's chunk signatures, when the client authenticated. A signed body
 * of an authenticated request without one cannot happen (the verifier comes from the same signed header);
 * should it, the request is refused rather than its chunks taken unverified.
 */
export function chunkSignaturesFor(exchange: Exchange, signed: boolean): ChunkSignatureVerifier | undefined {
  const { client } = exchange;
  if (client === undefined || !signed) return undefined;
  if (client.chunkSignatures === undefined) {
    throw new S3Error('InternalError', 'A signed aws-chunked body arrived without its signature chain.');
  }
  return client.chunkSignatures();
}
