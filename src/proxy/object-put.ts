import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { DEK_SIZE, NONCE_SIZE } from '../envelope/constants.ts';
import { envelopeToHeaders, isEnvelopeHeader } from '../envelope/metadata.ts';
import { createSealStream } from '../envelope/seal.ts';
import { ciphertextSize } from '../envelope/size.ts';
import { createAwsChunkedDecoder, payloadMode } from '../s3/aws-chunked/index.ts';
import {
  createChecksumTap,
  expectedChecksums,
  expectedTrailerChecksum,
  trailerChecksumAlgorithm,
  verifyChecksums,
} from '../s3/checksum.ts';
import { S3Error } from '../s3/errors.ts';
import { presentETag, translateConditions } from './etag.ts';
import { type Exchange, objectResource } from './exchange.ts';
import { clientResponseHeaders, firstHeader, forwardableRequestHeaders } from './headers.ts';
import { relayResponse } from './relay.ts';

/** S3 limits user metadata to 2 KB, counted as the UTF-8 bytes of names (without the prefix) and values. */
const USER_METADATA_LIMIT = 2048;

/**
 * PutObject: the body is decoded (aws-chunked), checked against the client's checksums and sealed while
 * it streams; the upstream sees only ciphertext with an exact Content-Length. The data key is wrapped
 * before the first byte is read, so an unavailable Vault costs the client nothing but a 503.
 */
export async function putObject(exchange: Exchange): Promise<void> {
  const { req, deps, s3 } = exchange;
  refuseEnvelopeHeaders(req.headers);
  const mode = payloadMode(firstHeader(req.headers, 'x-amz-content-sha256'));
  const plaintextSize = declaredPlaintextSize(req.headers, mode.chunked);
  if (plaintextSize > deps.maxObjectSize) {
    throw new S3Error(
      'EntityTooLarge',
      `The object is ${plaintextSize} bytes; this proxy accepts single PUTs up to ${deps.maxObjectSize} bytes (CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE).`,
      { resource: objectResource(s3) },
    );
  }
  const expected = expectedChecksums(req.headers);
  const trailerAlgorithm = mode.chunked && mode.trailer ? trailerChecksumAlgorithm(req.headers) : undefined;

  const dek = randomBytes(DEK_SIZE);
  const nonce = randomBytes(NONCE_SIZE);
  let wrappedDek: string;
  try {
    wrappedDek = await deps.keys.wrapKey(dek);
  } catch (error) {
    dek.fill(0);
    throw error;
  }

  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  translateConditions(headers);
  Object.assign(headers, envelopeToHeaders({ format: 'v1', wrappedDek, nonce, plaintextSize }));
  checkMetadataSize(headers, objectResource(s3));

  exchange.continueBody();
  const decoder = mode.chunked
    ? createAwsChunkedDecoder({
        signed: mode.signed,
        trailer: mode.trailer,
        decodedContentLength: plaintextSize,
      })
    : undefined;
  const algorithms = [
    ...new Set([
      ...expected.map((e) => e.algorithm),
      ...(trailerAlgorithm === undefined ? [] : [trailerAlgorithm]),
    ]),
  ];
  const tap = createChecksumTap(algorithms);
  const seal = createSealStream({ dek, nonce, plaintextSize });
  const gate = new HoldTailUntil(() => {
    const all = [...expected];
    if (trailerAlgorithm !== undefined && decoder !== undefined)
      all.push(expectedTrailerChecksum(trailerAlgorithm, decoder.trailers));
    verifyChecksums(tap, all);
  });

  let bodyError: unknown;
  const abort = new AbortController();
  const first = decoder ?? tap;
  const stages: Transform[] = decoder === undefined ? [tap, seal, gate] : [decoder, tap, seal, gate];
  // The client's request is piped, not put in the pipeline: a failure must not destroy the socket the
  // S3 error response still has to go out on.
  req.on('error', (error) => first.destroy(error));
  req.on('close', () => {
    if (!req.complete)
      first.destroy(
        new S3Error('IncompleteBody', 'The client closed the connection before sending the whole body.'),
      );
  });
  req.pipe(first);
  pipeline(stages, (error) => {
    dek.fill(0);
    if (error) {
      bodyError = error;
      req.unpipe(first);
      abort.abort(error);
    }
  });

  let response: Awaited<ReturnType<typeof deps.upstream.send>>;
  try {
    response = await deps.upstream.send({
      method: 'PUT',
      bucket: s3.bucket,
      key: s3.key,
      query: s3.query,
      headers,
      body: gate,
      contentLength: ciphertextSize(plaintextSize),
      signal: abort.signal,
    });
  } catch (error) {
    throw bodyError ?? error;
  }
  if (bodyError !== undefined) {
    response.body.resume();
    throw bodyError;
  }
  exchange.bytesIn += plaintextSize;
  if (response.status !== 200) {
    // The upstream refused early (no such bucket, access denied): stop reading the client's body.
    gate.destroy();
    await relayResponse(exchange, response);
    return;
  }
  response.body.resume();
  const out = clientResponseHeaders(response.headers, { dropIntegrity: true });
  const etag = presentETag(firstValue(response.headers.etag));
  if (etag !== undefined) out.etag = etag;
  out['content-length'] = '0';
  out['x-amz-request-id'] ??= exchange.id;
  exchange.res.writeHead(200, out);
  exchange.res.end();
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function refuseEnvelopeHeaders(headers: IncomingHttpHeaders): void {
  for (const name of Object.keys(headers)) {
    if (isEnvelopeHeader(name)) {
      throw new S3Error(
        'InvalidArgument',
        `The metadata header ${name} is reserved for the encryption envelope and cannot be set by clients.`,
      );
    }
  }
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

function checkMetadataSize(headers: Record<string, string>, resource: string): void {
  let size = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-'))
      size += Buffer.byteLength(name.slice('x-amz-meta-'.length)) + Buffer.byteLength(value);
  }
  if (size > USER_METADATA_LIMIT) {
    throw new S3Error(
      'MetadataTooLarge',
      `User metadata and the encryption envelope together take ${size} bytes; S3 allows ${USER_METADATA_LIMIT}.`,
      { resource },
    );
  }
}

/**
 * Withholds the last chunk of the upstream body until `check` passes. Checksums in a trailer arrive only
 * after the whole body, so without this the upstream could receive every byte (and commit the object)
 * before a mismatch is known; withholding the tail keeps the upstream request short of its
 * Content-Length, and an aborted short request stores nothing.
 */
export class HoldTailUntil extends Transform {
  readonly #check: () => void | Promise<void>;
  #tail: Buffer | undefined;

  constructor(check: () => void | Promise<void>) {
    super();
    this.#check = check;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const previous = this.#tail;
    this.#tail = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    Promise.resolve()
      .then(this.#check)
      .then(
        () => callback(null, this.#tail),
        (error: unknown) => callback(error as Error),
      );
  }
}
