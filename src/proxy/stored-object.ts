import type { Transform } from 'node:stream';
import {
  ciphertextSize,
  createMultipartOpenStream,
  createOpenStream,
  discoverPartLayout,
  EnvelopeError,
  type PartLayout,
  planMultipartRead,
  planWindow,
  type StoredEnvelope,
} from '../envelope/index.ts';
import type { KeyWrapper } from '../kms/key-wrapper.ts';
import { S3Error } from '../s3/errors.ts';
import type { UpstreamClient } from '../upstream/client.ts';

export type PlainRange = { start: number; end: number };

/**
 * An encrypted object as the read paths need it, whichever its layout: its plaintext size, the stored bytes
 * a plaintext range needs, and a stream that turns exactly those bytes into verified plaintext.
 */
export type EncryptedObject = {
  readonly plainSize: number;
  /** Multipart objects only: the number of parts (x-amz-mp-parts-count). */
  readonly partCount: number | undefined;
  /** The plaintext range of part `partNumber` (1-based); undefined for the empty object. */
  partRange(partNumber: number, resource: string): PlainRange | undefined;
  /** Stored bytes (inclusive) to fetch for a plaintext range; undefined range = the whole object. */
  storedRange(range: PlainRange | undefined): PlainRange;
  /** Unwraps the data key (for multipart: the first part's) before returning, so a Vault fault comes before any header. */
  open(range: PlainRange | undefined): Promise<Transform>;
};

export type ObjectIdentity = {
  bucket: string;
  key: string;
  etag: string;
  versionId: string | undefined;
  storedSize: number;
};

export async function encryptedObject(
  envelope: StoredEnvelope,
  identity: ObjectIdentity,
  services: { keys: KeyWrapper; upstream: UpstreamClient; layouts: LayoutCache },
): Promise<EncryptedObject> {
  if (envelope.format === 'v1') {
    if (identity.storedSize !== ciphertextSize(envelope.plaintextSize)) {
      throw new EnvelopeError(
        'SIZE_MISMATCH',
        `stored length ${identity.storedSize} does not match the envelope's plaintext size`,
      );
    }
    return {
      plainSize: envelope.plaintextSize,
      partCount: undefined,
      partRange(partNumber, resource) {
        // A single-part object has exactly one part; S3 answers part 1 as a range over the whole object.
        if (partNumber !== 1)
          throw new S3Error('InvalidRange', 'The requested partnumber is not satisfiable', { resource });
        return envelope.plaintextSize === 0 ? undefined : { start: 0, end: envelope.plaintextSize - 1 };
      },
      storedRange(range) {
        if (range === undefined) return { start: 0, end: identity.storedSize - 1 };
        const window = planWindow(envelope.plaintextSize, range.start, range.end);
        return { start: window.cipherStart, end: window.cipherEndInclusive };
      },
      async open(range) {
        const dek = await services.keys.unwrapKey(envelope.wrappedDek);
        const stream = createOpenStream({
          dek,
          nonce: envelope.nonce,
          plaintextSize: envelope.plaintextSize,
          ...(range === undefined
            ? {}
            : { window: planWindow(envelope.plaintextSize, range.start, range.end) }),
        });
        stream.once('close', () => dek.fill(0));
        return stream;
      },
    };
  }
  return multipartObject(await storedPartLayout(identity, services), services.keys);
}

/** The part layout of a stored multipart object, from its part headers (cached per stored version). */
export function storedPartLayout(
  identity: ObjectIdentity,
  services: { upstream: UpstreamClient; layouts: LayoutCache },
): Promise<PartLayout> {
  return services.layouts.get(identity, () =>
    discoverPartLayout(identity.storedSize, (offset) =>
      fetchStoredBytes(services.upstream, identity, offset, 256),
    ),
  );
}

/** A multipart object whose parts are located; the tools also build one from a local file's layout. */
export function multipartObject(layout: PartLayout, keys: KeyWrapper): EncryptedObject {
  const whole = (range: PlainRange | undefined): PlainRange =>
    range ?? { start: 0, end: layout.plainSize - 1 };
  return {
    plainSize: layout.plainSize,
    partCount: layout.parts.length,
    partRange(partNumber, resource) {
      const part = layout.parts[partNumber - 1];
      if (part === undefined)
        throw new S3Error('InvalidRange', 'The requested partnumber is not satisfiable', { resource });
      return part.plainSize === 0
        ? undefined
        : { start: part.plainOffset, end: part.plainOffset + part.plainSize - 1 };
    },
    storedRange(range) {
      if (range === undefined) return { start: 0, end: layout.storedSize - 1 };
      const planned = planMultipartRead(layout, range.start, range.end);
      return { start: planned.cipherStart, end: planned.cipherEndInclusive };
    },
    async open(range) {
      const { start, end } = whole(range);
      const firstPart = layout.parts.find((p) => p.plainOffset + p.plainSize > start) ?? layout.parts[0];
      const firstKey =
        firstPart === undefined ? undefined : await keys.unwrapKey(firstPart.header.wrappedDek);
      let firstHandedOut = false;
      return createMultipartOpenStream({
        layout,
        start,
        endInclusive: end,
        dataKey: async (part) => {
          if (part === firstPart && firstKey !== undefined && !firstHandedOut) {
            firstHandedOut = true;
            return firstKey;
          }
          return keys.unwrapKey(part.header.wrappedDek);
        },
      });
    },
  };
}

/** A small ranged read of what is stored, pinned to the version the caller looked at. */
async function fetchStoredBytes(
  upstream: UpstreamClient,
  identity: ObjectIdentity,
  offset: number,
  length: number,
): Promise<Buffer> {
  const end = Math.min(offset + length, identity.storedSize) - 1;
  if (end < offset) return Buffer.alloc(0);
  const response = await upstream.send({
    method: 'GET',
    bucket: identity.bucket,
    key: identity.key,
    query: identity.versionId === undefined ? [] : [['versionId', identity.versionId]],
    headers: { range: `bytes=${offset}-${end}`, 'if-match': identity.etag },
  });
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  if (response.status !== 206 && response.status !== 200) {
    throw new EnvelopeError('TRUNCATED', `reading part headers: upstream answered HTTP ${response.status}`);
  }
  return Buffer.concat(chunks);
}

/**
 * Part layouts found by reading part headers, kept per stored object version (bucket, key, ETag, version):
 * a changed object has another ETag, so an entry can never describe other bytes than its own.
 */
export class LayoutCache {
  readonly #entries = new Map<string, Promise<PartLayout>>();
  readonly #capacity: number;

  constructor(capacity = 1024) {
    this.#capacity = capacity;
  }

  get(identity: ObjectIdentity, discover: () => Promise<PartLayout>): Promise<PartLayout> {
    const key = [
      identity.bucket,
      identity.key,
      identity.etag,
      identity.versionId ?? '',
      identity.storedSize,
    ].join('\n');
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached;
    }
    const pending = discover();
    pending.catch(() => this.#entries.delete(key));
    this.#entries.set(key, pending);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return pending;
  }
}
