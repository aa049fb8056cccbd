import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  discoverPartLayout,
  EnvelopeError,
  encodePartHeader,
  MAX_PART_NUMBER,
  PART_HEADER_SIZE,
  type PartHeader,
  partCiphertextSize,
  segmentCount,
  segmentNonce,
  uploadBinding,
} from '../../../src/envelope/index.ts';
import { derived, headerFetcher, pattern, S, seededSizes } from './support.ts';

/**
 * Seals parts directly with AES-GCM (not through the seal stream), which is quick enough for 10,000
 * parts and is a second, simple writer of section 9.2.
 */
function sealParts(sizes: number[], uploadId = 'discovery-upload'): { stored: Buffer; headers: Buffer[] } {
  const pieces: Buffer[] = [];
  const headers: Buffer[] = [];
  for (const [i, size] of sizes.entries()) {
    const header: PartHeader = {
      wrappedDek: `vault:v1:discovery-${i}`,
      nonce: derived(`discovery nonce ${i}`, 12),
      plaintextSize: size,
      partNumber: i + 1,
      uploadBinding: uploadBinding(uploadId),
    };
    const encoded = encodePartHeader(header);
    headers.push(encoded);
    pieces.push(encoded);
    const dek = derived(`discovery dek ${i}`, 32);
    const plaintext = pattern(size);
    const count = segmentCount(size);
    for (let s = 0; s < count; s++) {
      const cipher = createCipheriv('aes-256-gcm', dek, segmentNonce(header.nonce, s, s === count - 1));
      cipher.setAAD(encoded);
      pieces.push(cipher.update(plaintext.subarray(s * S, (s + 1) * S)));
      cipher.final();
      pieces.push(cipher.getAuthTag());
    }
  }
  return { stored: Buffer.concat(pieces), headers };
}

function isCode(code: string) {
  return (error: unknown) => error instanceof EnvelopeError && error.code === code;
}

describe('discoverPartLayout', () => {
  it('locates every part with offsets, sizes and the stored header bytes', async () => {
    const sizes = [2 * S + 5, 0, S, 17];
    const { stored, headers } = sealParts(sizes);
    const layout = await discoverPartLayout(stored.length, headerFetcher(stored).fetchHeader);
    assert.equal(layout.storedSize, stored.length);
    assert.equal(layout.plainSize, 3 * S + 22);
    let storedOffset = 0;
    let plainOffset = 0;
    for (const [i, part] of layout.parts.entries()) {
      const size = sizes[i] as number;
      assert.equal(part.index, i);
      assert.equal(part.header.partNumber, i + 1);
      assert.equal(part.storedOffset, storedOffset);
      assert.equal(part.storedSize, partCiphertextSize(size));
      assert.equal(part.plainOffset, plainOffset);
      assert.equal(part.plainSize, size);
      assert.deepEqual(part.headerBytes, headers[i]);
      storedOffset += part.storedSize;
      plainOffset += size;
    }
  });

  it('makes N requests for N equal parts: part 1 alone, then the rest in parallel within the concurrency', async () => {
    const { stored } = sealParts(Array.from({ length: 20 }, () => 3 * S + 1));
    const { fetchHeader, log } = headerFetcher(stored);
    const layout = await discoverPartLayout(stored.length, fetchHeader, { concurrency: 4 });
    assert.equal(layout.parts.length, 20);
    assert.equal(log.offsets.length, 20);
    assert.equal(log.offsets[0], 0);
    assert.deepEqual(
      log.offsets,
      layout.parts.map((part) => part.storedOffset),
    );
    assert.equal(log.maxInFlight, 4);
  });

  it('makes N requests for equal parts with a smaller last part, and for a single part', async () => {
    for (const sizes of [[...Array.from({ length: 9 }, () => 5_000), 1], [4 * S], [0]]) {
      const { stored } = sealParts(sizes);
      const { fetchHeader, log } = headerFetcher(stored);
      const layout = await discoverPartLayout(stored.length, fetchHeader);
      assert.equal(layout.parts.length, sizes.length);
      assert.equal(log.offsets.length, sizes.length, sizes.join(','));
    }
  });

  it('wastes at most concurrency - 1 requests on a last part larger than the others', async () => {
    const concurrency = 4;
    const sizes = [...Array.from({ length: 6 }, () => 1000), 5000];
    const { stored } = sealParts(sizes);
    const { fetchHeader, log } = headerFetcher(stored);
    const layout = await discoverPartLayout(stored.length, fetchHeader, { concurrency });
    assert.equal(layout.parts.length, sizes.length);
    assert.ok(log.offsets.length <= sizes.length + concurrency - 1, `${log.offsets.length} requests`);
    assert.ok(log.maxInFlight <= concurrency);
  });

  it('walks unequal parts with a bounded number of requests', async () => {
    const concurrency = 8;
    const distinct = seededSizes(3, 30, 4 * S);
    const blocks = [...Array.from({ length: 15 }, () => 3000), ...Array.from({ length: 15 }, () => 7000), 10];
    for (const [what, sizes, bound] of [
      ['every part a different size', distinct, distinct.length + concurrency - 1],
      ['two runs of equal parts', blocks, blocks.length + 2 * (concurrency - 1)],
    ] as Array<[string, number[], number]>) {
      const { stored } = sealParts(sizes);
      const { fetchHeader, log } = headerFetcher(stored);
      const layout = await discoverPartLayout(stored.length, fetchHeader, { concurrency });
      assert.deepEqual(
        layout.parts.map((part) => part.plainSize),
        sizes,
        what,
      );
      assert.ok(log.offsets.length <= bound, `${what}: ${log.offsets.length} requests, bound ${bound}`);
      assert.ok(log.maxInFlight <= concurrency, what);
    }
  });

  it('accepts 10,000 parts and refuses a body that continues after part 10,000', async () => {
    const { stored } = sealParts(Array.from({ length: MAX_PART_NUMBER }, () => 0));
    const { fetchHeader, log } = headerFetcher(stored);
    const layout = await discoverPartLayout(stored.length, fetchHeader, { concurrency: 32 });
    assert.equal(layout.parts.length, MAX_PART_NUMBER);
    assert.equal(log.offsets.length, MAX_PART_NUMBER);
    const longer = Buffer.concat([stored, stored.subarray(0, partCiphertextSize(0))]);
    const again = headerFetcher(longer);
    await assert.rejects(
      discoverPartLayout(longer.length, again.fetchHeader, { concurrency: 32 }),
      isCode('PART_ORDER'),
    );
    assert.ok(again.log.offsets.length <= MAX_PART_NUMBER, 'part 10,001 is not even fetched');
  });

  it('fails with TRUNCATED without a request when the object cannot hold a part header', async () => {
    for (const size of [0, 1, 255]) {
      const { fetchHeader, log } = headerFetcher(Buffer.alloc(size));
      await assert.rejects(discoverPartLayout(size, fetchHeader), isCode('TRUNCATED'));
      assert.equal(log.offsets.length, 0);
    }
  });

  it('fails with TRUNCATED when a part ends past the object, or fewer than 256 bytes follow the last one', async () => {
    const { stored } = sealParts([S, S, 10]);
    await assert.rejects(
      discoverPartLayout(stored.length - 1, headerFetcher(stored).fetchHeader),
      isCode('TRUNCATED'),
    );
    const extended = Buffer.concat([stored, Buffer.alloc(255)]);
    await assert.rejects(
      discoverPartLayout(extended.length, headerFetcher(extended).fetchHeader),
      isCode('TRUNCATED'),
    );
  });

  it('fails with PART_HEADER_INVALID when 256 or more bytes that are no header follow the last part', async () => {
    const { stored } = sealParts([S, S, 10]);
    const extended = Buffer.concat([stored, Buffer.alloc(300)]);
    await assert.rejects(
      discoverPartLayout(extended.length, headerFetcher(extended).fetchHeader),
      isCode('PART_HEADER_INVALID'),
    );
  });

  it('fails with TRUNCATED when fetchHeader returns fewer bytes than the object should have there', async () => {
    const { stored } = sealParts([S, S, 10]);
    const fetchHeader = async (offset: number) =>
      offset === 0 ? stored.subarray(0, PART_HEADER_SIZE) : stored.subarray(offset, offset + 100);
    await assert.rejects(discoverPartLayout(stored.length, fetchHeader), isCode('TRUNCATED'));
  });

  it('passes on the failure of a header it needs, and ignores failures at guesses that turned out wrong', async () => {
    const { stored } = sealParts([1000, 1000, 1000, 1000, 5000]);
    const layoutOffsets = new Set([0]);
    let offset = 0;
    for (const size of [1000, 1000, 1000, 1000]) {
      offset += partCiphertextSize(size);
      layoutOffsets.add(offset);
    }
    const failure = new Error('upstream reset');
    const wrongGuessesFail = async (at: number) => {
      if (!layoutOffsets.has(at)) throw failure;
      return stored.subarray(at, at + PART_HEADER_SIZE);
    };
    const layout = await discoverPartLayout(stored.length, wrongGuessesFail);
    assert.equal(layout.parts.length, 5);
    const third = partCiphertextSize(1000) * 2;
    const neededFails = (at: number) => {
      if (at === third) throw failure;
      return Promise.resolve(stored.subarray(at, at + PART_HEADER_SIZE));
    };
    await assert.rejects(discoverPartLayout(stored.length, neededFails), (error) => error === failure);
  });

  it('refuses a negative stored size and a concurrency below 1', async () => {
    await assert.rejects(
      discoverPartLayout(-1, async () => Buffer.alloc(0)),
      RangeError,
    );
    await assert.rejects(
      discoverPartLayout(1000, async () => Buffer.alloc(0), { concurrency: 0 }),
      RangeError,
    );
  });
});
