/**
 * The signature chain of a signed aws-chunked body (AWS "sigv4-streaming" and "sigv4-streaming-trailers"):
 * chunk n is signed over the signature of chunk n-1 (the request's own signature seeds the chain), so
 * chunks can be neither altered, dropped, reordered nor added:
 *
 *     AWS4-HMAC-SHA256-PAYLOAD \n <x-amz-date> \n <scope> \n <previous signature> \n <hash of ""> \n <hash of chunk data>
 *
 * The trailer section is signed once more over the final chunk's signature and the canonical trailers
 * (`name:value\n` each, in the order sent, without `x-amz-trailer-signature`):
 *
 *     AWS4-HMAC-SHA256-TRAILER \n <x-amz-date> \n <scope> \n <previous signature> \n <hash of canonical trailers>
 *
 * Chunk data is hashed as it streams; each signature is checked as soon as its chunk has ended.
 */
import { createHash, type Hash, type KeyObject } from 'node:crypto';
import { EVENT_ALGORITHM_IDENTIFIER } from '@smithy/signature-v4';
import type { ChunkSignatureVerifier } from '../aws-chunked/decoder.ts';
import { ClientRefusal } from './refusal.ts';
import {
  type CredentialScope,
  SIGV4_ALGORITHM,
  scopeString,
  sha256Hex,
  signaturesEqual,
  signString,
} from './signature.ts';

const CHUNK_ALGORITHM = EVENT_ALGORITHM_IDENTIFIER;
const TRAILER_ALGORITHM = `${SIGV4_ALGORITHM}-TRAILER`;
const EMPTY_SHA256 = sha256Hex('');

export type ChunkChainSeed = {
  readonly signingKey: KeyObject;
  readonly amzDate: string;
  readonly scope: CredentialScope;
  /** The signature of the request itself (the seed signature). */
  readonly seedSignature: string;
};

export class ChunkSignatureChain implements ChunkSignatureVerifier {
  readonly #key: KeyObject;
  readonly #prefix: string;
  #previous: string;
  #hash: Hash = createHash('sha256');
  #chunks = 0;

  constructor(seed: ChunkChainSeed) {
    this.#key = seed.signingKey;
    this.#prefix = `${seed.amzDate}\n${scopeString(seed.scope)}\n`;
    this.#previous = seed.seedSignature;
  }

  update(data: Uint8Array): void {
    this.#hash.update(data);
  }

  chunk(signature: string): void {
    this.#chunks += 1;
    const dataHash = this.#hash.digest('hex');
    this.#hash = createHash('sha256');
    const expected = signString(
      this.#key,
      `${CHUNK_ALGORITHM}\n${this.#prefix}${this.#previous}\n${EMPTY_SHA256}\n${dataHash}`,
    );
    if (!signaturesEqual(expected, signature.toLowerCase())) {
      throw new ClientRefusal(
        'chunk_signature_mismatch',
        'SignatureDoesNotMatch',
        `The chunk signature of chunk ${this.#chunks} of the aws-chunked body does not match the signature we calculated; the upload is aborted and nothing is stored.`,
      );
    }
    this.#previous = expected;
  }

  trailer(fields: ReadonlyArray<readonly [string, string]>, signature: string | undefined): void {
    if (signature === undefined) {
      throw new ClientRefusal(
        'chunk_signature_mismatch',
        'SignatureDoesNotMatch',
        'The aws-chunked body ends without x-amz-trailer-signature, which STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER requires; nothing is stored.',
      );
    }
    const canonical = fields.map(([name, value]) => `${name}:${value}\n`).join('');
    const expected = signString(
      this.#key,
      `${TRAILER_ALGORITHM}\n${this.#prefix}${this.#previous}\n${sha256Hex(canonical)}`,
    );
    if (!signaturesEqual(expected, signature.toLowerCase())) {
      throw new ClientRefusal(
        'chunk_signature_mismatch',
        'SignatureDoesNotMatch',
        'The trailer signature of the aws-chunked body does not match the signature we calculated; nothing is stored.',
      );
    }
  }
}
