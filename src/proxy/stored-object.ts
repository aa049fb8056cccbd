import type { Transform } from 'node:stream';
import {
  authenticatePartLayout,
  ciphertextSize,
  createMultipartOpenStream,
  createOpenStream,
  discoverPartLayout,
  EnvelopeError,
  openChecksum,
  PART_HEADER_SIZE,
  type PartLayout,
  type PlainChecksum,
  planMultipartRead,
  planWindow,
  type StoredEnvelope,
} from '../envelope/index.ts';
import type { KeyChoice } from '../kms/key-ring.ts';
import type { KeyWrapper } from '../kms/key-wrapper.ts';
import { S3Error } from '../s3/errors.ts';
import { abandonBody, drainBody, type UpstreamClient } from '../upstream/client.ts';

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
  /**
   * Unwraps the data key (for multipart: the first part's) before returning, so a Vault fault comes before any
   * header. `skip`: stored bytes before storedRange(range) that the body fed in starts with (single-part only).
   */
  open(range: PlainRange | undefined, skip?: number): Promise<Transform>;
  /**
   * The client's checksum of the whole plaintext, opened from the envelope (docs/FORMAT.md 7.1); undefined
   * when none was stored (always, for a multipart object). Rejects when the sealed value does not open.
   */
  checksum(): Promise<PlainChecksum | undefined>;
};

export type ObjectIdentity = {
  bucket: string;
  key: string;
  etag: string;
  versionId: string | undefined;
  storedSize: number;
  /**
   * What every read of the stored bytes carries besides the range and If-Match: the reader's SSE-C key
   * (server-side-encryption.ts). Not part of the version's identity: the layout cache holds one entry per
   * version whoever read it, and is consulted only after the upstream accepted this reader's own request.
   */
  readHeaders?: Readonly<Record<string, string>>;
};

/**
 * Which part sizes of a multipart object a read may rely on: `located` takes them from the part headers
 * as stored (enough for a read of the whole object, whose stream authenticates every header before it
 * releases that part's bytes); `authenticated` first proves every header (docs/FORMAT.md section 9.4),
 * as a range, a partNumber, or any size reported without reading the whole body needs.
 */
export type PartSizes = 'located' | 'authenticated';

export async function encryptedObject(
  envelope: StoredEnvelope,
  identity: ObjectIdentity,
  ring: { keys: KeyChoice; upstream: UpstreamClient; layouts: LayoutCache },
  sizes: PartSizes = 'located',
): Promise<EncryptedObject> {
  // The one place a read chooses its Transit key: refused here, before any Vault call, unless this location accepts it.
  const services = {
    ...ring,
    keys: ring.keys.forRead(identity.bucket, identity.key, envelope.transitKey),
  };
  if (envelope.format === 'v1') {
    if (identity.storedSize !== ciphertextSize(envelope.plaintextSize)) {
      throw new EnvelopeError(
        'SIZE_MISMATCH',
        `stored length ${identity.storedSize} does not match the envelope's plaintext size`,
      );
    }
    let openedChecksum: Promise<PlainChecksum | undefined> | undefined;
    return {
      plainSize: envelope.plaintextSize,
      partCount: undefined,
      partRange(partNumber, resource) {
        // A single-part object has exactly one part; S3 answers part 1 as a range over the whole object.
        if (partNumber !== 1) throw new S3Error('InvalidPartNumber', undefined, { resource });
        return envelope.plaintextSize === 0 ? undefined : { start: 0, end: envelope.plaintextSize - 1 };
      },
      storedRange(range) {
        if (range === undefined) return { start: 0, end: identity.storedSize - 1 };
        const window = planWindow(envelope.plaintextSize, range.start, range.end);
        return { start: window.cipherStart, end: window.cipherEndInclusive };
      },
      async open(range, skip) {
        const dek = await services.keys.unwrapKey(envelope.wrappedDek);
        // A GET returns the sealed checksum too: open it with this key rather than unwrap a second time.
        if (envelope.checksum !== undefined && openedChecksum === undefined) {
          const sealed = envelope.checksum;
          openedChecksum = (async () => openChecksum(dek, sealed))();
          openedChecksum.catch(() => undefined);
        }
        const stream = createOpenStream({
          dek,
          nonce: envelope.nonce,
          plaintextSize: envelope.plaintextSize,
          ...(range === undefined
            ? {}
            : { window: planWindow(envelope.plaintextSize, range.start, range.end) }),
          ...(skip === undefined ? {} : { skip }),
        });
        stream.once('close', () => dek.fill(0));
        return stream;
      },
      async checksum() {
        if (envelope.checksum === undefined) return undefined;
        if (openedChecksum !== undefined) return openedChecksum;
        const dek = await services.keys.unwrapKey(envelope.wrappedDek);
        try {
          return openChecksum(dek, envelope.checksum);
        } finally {
          dek.fill(0);
        }
      },
    };
  }
  const layout =
    sizes === 'authenticated'
      ? await authenticatedPartLayout(identity, services)
      : await storedPartLayout(identity, services);
  return multipartObject(layout, services.keys);
}

/** The part layout of a stored multipart object, from its part headers as stored (cached per stored version). */
export function storedPartLayout(
  identity: ObjectIdentity,
  services: { upstream: UpstreamClient; layouts: LayoutCache },
): Promise<PartLayout> {
  return services.layouts.located(identity, () =>
    discoverPartLayout(identity.storedSize, (offset) =>
      fetchStoredBytes(services.upstream, identity, offset, offset + PART_HEADER_SIZE),
    ),
  );
}

/**
 * The part layout with every part header authenticated (cached per stored version): N + 1 ranged reads
 * and the N part keys the first time, nothing after. A layout located before steers the reads.
 */
export function authenticatedPartLayout(
  identity: ObjectIdentity,
  services: { keys: KeyWrapper; upstream: UpstreamClient; layouts: LayoutCache },
): Promise<PartLayout> {
  return services.layouts.authenticated(identity, (known) =>
    authenticatePartLayout(
      identity.storedSize,
      (start, endExclusive) => fetchStoredBytes(services.upstream, identity, start, endExclusive),
      (part) => services.keys.unwrapKey(part.header.wrappedDek),
      known === undefined ? {} : { known },
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
      if (part === undefined) throw new S3Error('InvalidPartNumber', undefined, { resource });
      return part.plainSize === 0
        ? undefined
        : { start: part.plainOffset, end: part.plainOffset + part.plainSize - 1 };
    },
    storedRange(range) {
      if (range === undefined) return { start: 0, end: layout.storedSize - 1 };
      const planned = planMultipartRead(layout, range.start, range.end);
      return { start: planned.cipherStart, end: planned.cipherEndInclusive };
    },
    async open(range, skip) {
      if (skip) throw new RangeError('a multipart read starts at its first needed byte');
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
    async checksum() {
      return undefined;
    },
  };
}

/** Stored bytes start..endExclusive (fewer at the end of the object), pinned to the version the caller looked at. */
async function fetchStoredBytes(
  upstream: UpstreamClient,
  identity: ObjectIdentity,
  start: number,
  endExclusive: number,
): Promise<Buffer> {
  const end = Math.min(endExclusive, identity.storedSize) - 1;
  if (end < start) return Buffer.alloc(0);
  const response = await upstream.send({
    method: 'GET',
    bucket: identity.bucket,
    key: identity.key,
    query: identity.versionId === undefined ? [] : [['versionId', identity.versionId]],
    headers: { ...identity.readHeaders, range: `bytes=${start}-${end}`, 'if-match': identity.etag },
  });
  if (response.status !== 206 && response.status !== 200) {
    drainBody(response.body);
    throw new EnvelopeError('TRUNCATED', `reading part headers: upstream answered HTTP ${response.status}`);
  }
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response.body) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    // A 200 is the whole object: only the bytes asked for are kept.
    if (response.status === 200 && length > end + 1) {
      abandonBody(response.body);
      break;
    }
  }
  const bytes = Buffer.concat(chunks);
  return response.status === 200 ? bytes.subarray(start, end + 1) : bytes;
}

type CachedLayouts = { located?: Promise<PartLayout>; authenticated?: Promise<PartLayout> };

/**
 * Part layouts of multipart objects, kept per stored object version (bucket, key, ETag, version, size): a
 * changed object has another ETag, so an entry can never describe other bytes than its own. An
 * authenticated layout also answers for a located one.
 */
export class LayoutCache {
  readonly #entries = new Map<string, CachedLayouts>();
  readonly #capacity: number;

  constructor(capacity = 1024) {
    this.#capacity = capacity;
  }

  located(identity: ObjectIdentity, discover: () => Promise<PartLayout>): Promise<PartLayout> {
    const entry = this.#entry(identity);
    entry.located ??= this.#settle(identity, entry, 'located', discover());
    return entry.authenticated ?? entry.located;
  }

  authenticated(
    identity: ObjectIdentity,
    authenticate: (known: PartLayout | undefined) => Promise<PartLayout>,
  ): Promise<PartLayout> {
    const entry = this.#entry(identity);
    if (entry.authenticated === undefined) {
      const known = entry.located?.catch(() => undefined) ?? Promise.resolve(undefined);
      entry.authenticated = this.#settle(identity, entry, 'authenticated', known.then(authenticate));
    }
    return entry.authenticated;
  }

  /** Whether some version of this object had a multipart layout found here (a hint, nothing is trusted from it). */
  knowsMultipart(bucket: string, key: string): boolean {
    const prefix = `${bucket}\n${key}\n`;
    for (const name of this.#entries.keys()) if (name.startsWith(prefix)) return true;
    return false;
  }

  /** The entry of a version, as the most recently used one. */
  #entry(identity: ObjectIdentity): CachedLayouts {
    const key = cacheKey(identity);
    const entry = this.#entries.get(key) ?? {};
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return entry;
  }

  /** A failed discovery is not kept: the next read tries again. */
  #settle(
    identity: ObjectIdentity,
    entry: CachedLayouts,
    kind: keyof CachedLayouts,
    pending: Promise<PartLayout>,
  ): Promise<PartLayout> {
    pending.catch(() => {
      if (entry[kind] === pending) delete entry[kind];
      if (entry.located === undefined && entry.authenticated === undefined)
        this.#entries.delete(cacheKey(identity));
    });
    return pending;
  }
}

function cacheKey(identity: ObjectIdentity): string {
  return [identity.bucket, identity.key, identity.etag, identity.versionId ?? '', identity.storedSize].join(
    '\n',
  );
}
