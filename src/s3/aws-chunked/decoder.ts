/**
 * Decodes an aws-chunked request body (SigV4 streaming, with or without chunk signatures and trailers) into
 * the data it carries, as a Transform stream with constant memory: chunk data is passed on as slices of the
 * input as it arrives (a chunk may be 8 MiB or more), and only chunk lines and the trailer section, each under a
 * small bound, are ever copied.
 *
 * Wire format (AWS "sigv4-streaming" and "sigv4-streaming-trailers"), which is HTTP/1.1 chunked coding with
 * S3's extension:
 *
 *     <hex-size>[;chunk-signature=<sig>]\r\n <data> \r\n      repeated, then the final chunk
 *     0[;chunk-signature=<sig>]\r\n
 *     <name>:<value>\r\n ...                                     trailers (x-amz-checksum-*, x-amz-trailer-signature)
 *     \r\n
 *
 * Where real clients differ we are liberal, and only there:
 * - aws-sdk-js v3 without a checksum ends the body right after `0\r\n`, with no closing empty line.
 * - minio-go, depending on its version, ends trailer lines with a bare `\n`, puts an empty line between the
 *   final chunk and the trailers, or between a trailer and `x-amz-trailer-signature`, and may or may not send
 *   the closing empty line. So after the final chunk, the trailer section runs to the end of the body: lines end
 *   with `\n` or `\r\n`, empty lines are skipped, and the body may end after any complete line.
 * Everything else is strict, each failure an `IncompleteBody`: a chunk size that is not hexadecimal, a chunk
 * line over 4 KiB or not ended by CRLF, a missing or unexpected chunk signature, data not followed by CRLF,
 * trailer lines in a stream without trailers, a trailer section over 16 KiB, a body that ends before the final
 * chunk or inside a line, and data whose total differs from `x-amz-decoded-content-length`.
 *
 * Chunk and trailer signatures are verified by a `ChunkSignatureVerifier` when one is given (inbound
 * authentication, src/s3/sigv4/chunk-signature.ts): it sees each chunk's data as it streams and its signature
 * when the chunk ends, and the trailers at the end. Without one (no client credentials configured) only their
 * shape is checked, so that a signed stream cannot be confused with an unsigned one.
 *
 * Error messages never quote the body: a misframed body would put plaintext in them.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from '../errors.ts';

/** Checks the signature chain of a signed stream; each method throws the S3 error of a signature that does not verify. */
export interface ChunkSignatureVerifier {
  /** Data of the current chunk, in order, as it streams. */
  update(data: Uint8Array): void;
  /** A chunk whose line carried `signature` has ended (all its data went through `update`). */
  chunk(signature: string): void;
  /** The trailer fields in the order sent (without the signature), and `x-amz-trailer-signature`. */
  trailer(fields: ReadonlyArray<readonly [string, string]>, signature: string | undefined): void;
}

export interface AwsChunkedDecoderOptions {
  /**
   * Every chunk carries `;chunk-signature=<sig>` (STREAMING-AWS4-*): 64 hex digits for HMAC, up to 144 hex
   * digits and `*` padding for ECDSA. Otherwise no chunk may carry an extension.
   */
  readonly signed: boolean;
  /** Trailer lines may follow the final chunk (the *-TRAILER payload types). */
  readonly trailer: boolean;
  /** `x-amz-decoded-content-length`, when the client sent it: the total of the chunk data must equal it. */
  readonly decodedContentLength?: number;
  /** Largest chunk accepted, in bytes (default 5 GiB, S3's largest single PUT). Memory does not depend on it. */
  readonly maxChunkSize?: number;
  /** Trailer names (lower-case, usually from `x-amz-trailer`) the body must end with. */
  readonly expectedTrailers?: readonly string[];
  /** Verifies chunk and trailer signatures of a signed stream as it passes. */
  readonly signatures?: ChunkSignatureVerifier;
}

/** A chunk line holds a size in hex and, signed, 81 more bytes: 4 KiB is generous. */
export const MAX_CHUNK_LINE_BYTES = 4 * 1024;
/** All trailer lines together, line ends included. A few checksums and a signature take under 300 bytes. */
export const MAX_TRAILER_SECTION_BYTES = 16 * 1024;
export const DEFAULT_MAX_CHUNK_SIZE = 5 * 1024 * 1024 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const CHUNK_SIGNATURE_PREFIX = 'chunk-signature=';
const TRAILER_SIGNATURE = 'x-amz-trailer-signature';
/** SigV4 (HMAC): 64 hex digits. SigV4a (ECDSA): a DER signature in hex, padded with '*' to 144 (aws-c-auth). */
const HMAC_SIGNATURE = /^[0-9a-fA-F]{64}$/;
const ECDSA_SIGNATURE = /^[0-9a-fA-F]{64,144}\**$/;
const ECDSA_SIGNATURE_MAX_LENGTH = 144;
const TRAILER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
// Field values: visible ASCII, obs-text, space and tab only.
const TRAILER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

type State = 'chunk-line' | 'chunk-data' | 'chunk-cr' | 'chunk-lf' | 'trailer-section' | 'failed';

function isChunkSignature(extension: string): boolean {
  if (!extension.startsWith(CHUNK_SIGNATURE_PREFIX)) return false;
  const signature = extension.slice(CHUNK_SIGNATURE_PREFIX.length);
  return (
    HMAC_SIGNATURE.test(signature) ||
    (signature.length <= ECDSA_SIGNATURE_MAX_LENGTH && ECDSA_SIGNATURE.test(signature))
  );
}

function incomplete(message: string): S3Error {
  return new S3Error('IncompleteBody', `Malformed aws-chunked body: ${message}.`);
}

export class AwsChunkedDecoder extends Transform {
  /** Trailer fields by lower-case name, complete once the stream has ended ('finish'/'end'). */
  readonly trailers = new Map<string, string>();

  readonly #signed: boolean;
  readonly #trailer: boolean;
  readonly #decodedContentLength: number | undefined;
  readonly #maxChunkSize: number;
  readonly #expectedTrailers: readonly string[];
  readonly #signatures: ChunkSignatureVerifier | undefined;
  #chunkSignature = '';

  #state: State = 'chunk-line';
  /** The line being read, copied out of the input because it may be split across reads at any byte. */
  readonly #line = Buffer.alloc(MAX_CHUNK_LINE_BYTES);
  #lineLength = 0;
  #remainingInChunk = 0;
  #decodedLength = 0;
  #trailerSectionBytes = 0;

  constructor(options: AwsChunkedDecoderOptions) {
    super();
    this.#signed = options.signed;
    this.#trailer = options.trailer;
    this.#decodedContentLength = options.decodedContentLength;
    this.#maxChunkSize = options.maxChunkSize ?? DEFAULT_MAX_CHUNK_SIZE;
    this.#expectedTrailers = options.expectedTrailers ?? [];
    this.#signatures = options.signed ? options.signatures : undefined;
  }

  /** Bytes of data decoded so far: the plaintext length once the stream has ended. */
  get decodedLength(): number {
    return this.#decodedLength;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#state === 'failed') {
      callback(incomplete('data after a framing error'));
      return;
    }
    try {
      this.#consume(chunk);
      callback();
    } catch (error) {
      this.#state = 'failed';
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#finish();
      callback();
    } catch (error) {
      this.#state = 'failed';
      callback(error as Error);
    }
  }

  #consume(input: Buffer): void {
    let position = 0;
    while (position < input.length) {
      switch (this.#state) {
        case 'chunk-line': {
          const next = this.#readLine(
            input,
            position,
            MAX_CHUNK_LINE_BYTES,
            'a chunk line is longer than 4096 bytes',
          );
          if (next < 0) return;
          position = next;
          this.#onChunkLine();
          break;
        }
        case 'chunk-data': {
          // Zero-copy: the slice shares the input's memory, so writers must not reuse their buffers (Node's
          // HTTP request streams do not).
          const take = Math.min(this.#remainingInChunk, input.length - position);
          const data = input.subarray(position, position + take);
          this.#signatures?.update(data);
          this.push(data);
          position += take;
          this.#remainingInChunk -= take;
          this.#decodedLength += take;
          if (this.#remainingInChunk === 0) {
            this.#signatures?.chunk(this.#chunkSignature);
            this.#state = 'chunk-cr';
          }
          break;
        }
        case 'chunk-cr':
          if (input[position] !== CR) throw incomplete('chunk data is not followed by CRLF');
          position += 1;
          this.#state = 'chunk-lf';
          break;
        case 'chunk-lf':
          if (input[position] !== LF) throw incomplete('chunk data is not followed by CRLF');
          position += 1;
          this.#state = 'chunk-line';
          break;
        case 'trailer-section': {
          const left = MAX_TRAILER_SECTION_BYTES - this.#trailerSectionBytes;
          const room = Math.min(MAX_CHUNK_LINE_BYTES, left);
          const tooLong =
            room < MAX_CHUNK_LINE_BYTES
              ? 'the trailer section is longer than 16384 bytes'
              : 'a trailer line is longer than 4096 bytes';
          if (room <= 0) throw incomplete(tooLong);
          const next = this.#readLine(input, position, room, tooLong);
          if (next < 0) return;
          this.#trailerSectionBytes += this.#lineLength + 1;
          position = next;
          this.#onTrailerLine();
          break;
        }
        case 'failed':
          throw incomplete('data after a framing error');
      }
    }
  }

  /**
   * Appends input up to the next LF to the line buffer. Returns the position after the LF, or -1 when the
   * input ended first (the line continues in the next read). The LF is not stored.
   */
  #readLine(input: Buffer, position: number, limit: number, tooLong: string): number {
    const window = input.subarray(position, Math.min(input.length, position + limit - this.#lineLength + 1));
    const lf = window.indexOf(LF);
    const end = lf === -1 ? window.length : lf;
    if (this.#lineLength + end > limit) throw incomplete(tooLong);
    window.copy(this.#line, this.#lineLength, 0, end);
    this.#lineLength += end;
    return lf === -1 ? -1 : position + lf + 1;
  }

  #onChunkLine(): void {
    const length = this.#lineLength;
    this.#lineLength = 0;
    if (length === 0 || this.#line[length - 1] !== CR)
      throw incomplete('a chunk line does not end with CRLF');
    const text = this.#line.toString('latin1', 0, length - 1);
    const semicolon = text.indexOf(';');
    const sizeText = semicolon === -1 ? text : text.slice(0, semicolon);
    const extension = semicolon === -1 ? undefined : text.slice(semicolon + 1);

    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw incomplete('a chunk size is not hexadecimal');
    const digits = sizeText.replace(/^0+(?=.)/, '');
    // Twelve hex digits already exceed 256 TiB; beyond them, parseInt would lose precision.
    const size = digits.length > 12 ? Number.POSITIVE_INFINITY : Number.parseInt(digits, 16);
    if (size > this.#maxChunkSize) throw incomplete(`a chunk is larger than ${this.#maxChunkSize} bytes`);

    if (this.#signed) {
      if (extension === undefined || !isChunkSignature(extension)) {
        throw incomplete('a chunk of a signed stream lacks a valid chunk-signature');
      }
      this.#chunkSignature = extension.slice(CHUNK_SIGNATURE_PREFIX.length);
    } else if (extension !== undefined) {
      throw incomplete('a chunk of an unsigned stream carries an extension');
    }

    if (size === 0) {
      this.#signatures?.chunk(this.#chunkSignature);
      this.#state = 'trailer-section';
      return;
    }
    if (this.#decodedContentLength !== undefined && this.#decodedLength + size > this.#decodedContentLength) {
      throw incomplete(
        `the chunks carry more than the ${this.#decodedContentLength} bytes announced by x-amz-decoded-content-length`,
      );
    }
    this.#remainingInChunk = size;
    this.#state = 'chunk-data';
  }

  #onTrailerLine(): void {
    let length = this.#lineLength;
    this.#lineLength = 0;
    if (length > 0 && this.#line[length - 1] === CR) length -= 1;
    if (length === 0) return;
    if (!this.#trailer) throw incomplete('data follows the final chunk of a stream without trailers');
    const text = this.#line.toString('latin1', 0, length);
    const colon = text.indexOf(':');
    if (colon <= 0) throw incomplete('a trailer line is not of the form name:value');
    const name = text.slice(0, colon).toLowerCase();
    const value = text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!TRAILER_NAME.test(name) || !TRAILER_VALUE.test(value))
      throw incomplete('a trailer line is malformed');
    if (this.trailers.has(name)) throw incomplete(`the trailer ${name} appears twice`);
    this.trailers.set(name, value);
  }

  #finish(): void {
    switch (this.#state) {
      case 'chunk-line':
        throw incomplete('the body ended before the final zero-length chunk');
      case 'chunk-data':
        throw incomplete('the body ended inside a chunk');
      case 'chunk-cr':
      case 'chunk-lf':
        throw incomplete('the body ended before the CRLF that closes a chunk');
      case 'failed':
        throw incomplete('data after a framing error');
      case 'trailer-section':
        break;
    }
    if (this.#lineLength > 0) throw incomplete('the body ended inside a trailer line');
    if (this.#decodedContentLength !== undefined && this.#decodedLength !== this.#decodedContentLength) {
      throw incomplete(
        `the chunks carry ${this.#decodedLength} bytes, x-amz-decoded-content-length announced ${this.#decodedContentLength}`,
      );
    }
    for (const name of this.#expectedTrailers) {
      if (!this.trailers.has(name.toLowerCase())) {
        throw incomplete(
          `the body ended without the ${name.toLowerCase()} trailer announced in x-amz-trailer`,
        );
      }
    }
    if (this.#signatures !== undefined && this.#trailer) {
      const fields = [...this.trailers].filter(([name]) => name !== TRAILER_SIGNATURE);
      this.#signatures.trailer(fields, this.trailers.get(TRAILER_SIGNATURE));
    }
  }
}

export function createAwsChunkedDecoder(options: AwsChunkedDecoderOptions): AwsChunkedDecoder {
  return new AwsChunkedDecoder(options);
}
