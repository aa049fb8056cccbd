import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { ciphertextSize, SEGMENT_SIZE } from '../../src/envelope/index.ts';
import { createBucket, MiB, patternBytes, uniqueBucket, uploadParts } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, useServices } from '../support/services.ts';
import {
  type ClientView,
  forgedPart,
  parseContentRange,
  readStoredParts,
  readThroughProxy,
  readViolations,
  type StoredMultipart,
  type StoredPart,
  storeDirectly,
  storedBody,
} from './stored-multipart.ts';

type Read = { name: string; query?: string; headers?: Record<string, string>; method?: 'GET' | 'HEAD' };

/** Range and partNumber reads of every kind around the part boundaries of an object with these part sizes. */
function readsFor(partSizes: readonly number[]): Read[] {
  const total = partSizes.reduce((a, b) => a + b, 0);
  const starts = partSizes.map((_, i) => partSizes.slice(0, i).reduce((a, b) => a + b, 0));
  const ranges = new Set<string>(['bytes=0-0', 'bytes=0-99', 'bytes=10-', 'bytes=-1', 'bytes=-100']);
  const last = partSizes.length - 1;
  for (const [i, start] of starts.entries()) {
    const size = partSizes[i] as number;
    if (i > 0) {
      ranges.add(`bytes=${start - 1}-${start}`); // crossing into part i + 1
      ranges.add(`bytes=${start}-${start + 9}`); // the first bytes of a part, skipping the ones before
      ranges.add(`bytes=${start}-`); // from a part boundary to the end
      ranges.add(`bytes=${start - 70_000}-${start + 70_000}`); // whole segments either side
    }
    ranges.add(`bytes=${start + Math.floor(size / 2)}-${start + Math.floor(size / 2) + 1000}`);
    ranges.add(`bytes=${start + SEGMENT_SIZE}-${start + SEGMENT_SIZE}`); // one byte at a segment start
  }
  const lastStart = starts[last] as number;
  ranges.add(`bytes=${lastStart + 1}-${total - 2}`); // inside the last part
  ranges.add(`bytes=-${(partSizes[last] as number) + 5}`); // a suffix reaching into the part before
  ranges.add(`bytes=${total - 1}-${total + 1000}`);
  const reads: Read[] = [...ranges].map((range) => ({ name: `GET ${range}`, headers: { range } }));
  for (let part = 1; part <= partSizes.length; part++)
    reads.push({ name: `GET partNumber=${part}`, query: `partNumber=${part}` });
  reads.push({ name: 'HEAD bytes=100-200', method: 'HEAD', headers: { range: 'bytes=100-200' } });
  reads.push({
    name: `HEAD partNumber=${partSizes.length}`,
    method: 'HEAD',
    query: `partNumber=${last + 1}`,
  });
  return reads;
}

/** A HEAD carries no body: only its sizes can be wrong. */
function headViolations(view: ClientView, original: Buffer): string[] {
  if (!view.statusLine) return [`no status line (${view.error})`];
  if (view.status >= 300) return [];
  const range = parseContentRange(view.headers['content-range']);
  if (view.status === 206 && range?.total !== original.length)
    return [
      `HEAD Content-Range ${String(view.headers['content-range'])}, the object has ${original.length} bytes`,
    ];
  if (view.status === 200 && Number(view.headers['content-length']) !== original.length)
    return [`HEAD Content-Length ${String(view.headers['content-length'])} for ${original.length} bytes`];
  return [];
}

const S = SEGMENT_SIZE;

/** What the provider does to the stored parts of a 4-part object, each a way to move plaintext offsets. */
const TAMPERINGS: Array<[string, (stored: StoredMultipart) => StoredPart[]]> = [
  [
    'part 1 replaced by a forged header of size 0 and 16 bytes',
    ({ parts: [p1, ...rest] }) => [
      forgedPart(p1 as StoredPart, { plaintextSize: 0 }, randomBytes(16)),
      ...rest,
    ],
  ],
  [
    'part 2 replaced by a forged header of size 0 and 16 bytes',
    ({ parts: [p1, p2, ...rest] }) => [
      p1 as StoredPart,
      forgedPart(p2 as StoredPart, { plaintextSize: 0 }, randomBytes(16)),
      ...rest,
    ],
  ],
  [
    'part 1 shrunk by one segment, its body cut to match',
    ({ parts: [p1, ...rest] }) => {
      const size = (p1 as StoredPart).header.plaintextSize - S;
      return [
        forgedPart(p1 as StoredPart, { plaintextSize: size }, p1?.sealed.subarray(0, ciphertextSize(size))),
        ...rest,
      ];
    },
  ],
  [
    'part 1 shrunk to 1 byte, its body cut to match',
    ({ parts: [p1, ...rest] }) => [
      forgedPart(p1 as StoredPart, { plaintextSize: 1 }, p1?.sealed.subarray(0, ciphertextSize(1))),
      ...rest,
    ],
  ],
  [
    'part 3 shrunk by one segment, its body cut to match',
    ({ parts: [p1, p2, p3, ...rest] }) => {
      const size = (p3 as StoredPart).header.plaintextSize - S;
      return [
        p1 as StoredPart,
        p2 as StoredPart,
        forgedPart(p3 as StoredPart, { plaintextSize: size }, p3?.sealed.subarray(0, ciphertextSize(size))),
        ...rest,
      ];
    },
  ],
  [
    'part 1 one segment shorter and part 2 one segment longer, so the total is unchanged',
    ({ parts: [p1, p2, ...rest] }) => {
      const one = p1 as StoredPart;
      const two = p2 as StoredPart;
      const size = one.header.plaintextSize - S;
      const kept = ciphertextSize(size);
      return [
        forgedPart(one, { plaintextSize: size }, one.sealed.subarray(0, kept)),
        forgedPart(
          two,
          { plaintextSize: two.header.plaintextSize + S },
          Buffer.concat([one.sealed.subarray(kept), two.sealed]),
        ),
        ...rest,
      ];
    },
  ],
  [
    "part 1's header size one byte larger",
    ({ parts: [p1, ...rest] }) => [
      forgedPart(p1 as StoredPart, { plaintextSize: (p1 as StoredPart).header.plaintextSize + 1 }),
      ...rest,
    ],
  ],
  [
    "part 2's header size one byte smaller",
    ({ parts: [p1, p2, ...rest] }) => [
      p1 as StoredPart,
      forgedPart(p2 as StoredPart, { plaintextSize: (p2 as StoredPart).header.plaintextSize - 1 }),
      ...rest,
    ],
  ],
  ['parts 2 and 3 swapped', ({ parts: [p1, p2, p3, ...rest] }) => [p1, p3, p2, ...rest] as StoredPart[]],
  [
    'parts 2 and 3 swapped, their headers renumbered to pass the order check',
    ({ parts: [p1, p2, p3, ...rest] }) => [
      p1 as StoredPart,
      forgedPart(p3 as StoredPart, { partNumber: 2 }),
      forgedPart(p2 as StoredPart, { partNumber: 3 }),
      ...rest,
    ],
  ],
  [
    'part 2 duplicated in place of part 3',
    ({ parts: [p1, p2, , ...rest] }) => [p1, p2, p2, ...rest] as StoredPart[],
  ],
  [
    'part 2 duplicated in place of part 3, the copy renumbered 3',
    ({ parts: [p1, p2, , ...rest] }) => [
      p1 as StoredPart,
      p2 as StoredPart,
      forgedPart(p2 as StoredPart, { partNumber: 3 }),
      ...rest,
    ],
  ],
  [
    'part 2 appended again after the last part, renumbered 5',
    ({ parts }) => [...parts, forgedPart(parts[1] as StoredPart, { partNumber: 5 })],
  ],
  [
    'part 2 removed and the parts after it renumbered',
    ({ parts: [p1, , p3, p4] }) => [
      p1 as StoredPart,
      forgedPart(p3 as StoredPart, { partNumber: 2 }),
      forgedPart(p4 as StoredPart, { partNumber: 3 }),
    ],
  ],
];

/**
 * The storage provider rewrites the part headers and parts of multipart objects. Whatever it does, a
 * range or partNumber read through the proxy must never release a byte that differs from what the
 * client wrote at the offset its Content-Range claims, nor claim a wrong total.
 */
describe('range and partNumber reads of a tampered multipart object never release bytes at a wrong offset', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('mp-tamper');
  const shapes: Array<{ name: string; partSizes: number[] }> = [
    // SeaweedFS, like S3, wants every part but the last to hold at least 5 MiB.
    { name: 'unaligned parts', partSizes: [5 * MiB + 1000, 5 * MiB + 1000, 5 * MiB + 1000, 70_000] },
    { name: 'segment-aligned parts', partSizes: [5 * MiB, 5 * MiB, 5 * MiB, 5] },
  ];
  const originals = new Map<string, { plaintext: Buffer; stored: StoredMultipart }>();
  let readsRun = 0;

  /** Every read's violations, and the reads that were answered with data rather than an S3 error. */
  const readAll = async (key: string, plaintext: Buffer, reads: Read[]) => {
    const violations: string[] = [];
    const answered: string[] = [];
    for (const read of reads) {
      const path = `/${bucket}/${key}${read.query === undefined ? '' : `?${read.query}`}`;
      const view = await readThroughProxy(proxy.endpoint, path, {
        method: read.method ?? 'GET',
        headers: read.headers ?? {},
      });
      readsRun += 1;
      const problems =
        read.method === 'HEAD' ? headViolations(view, plaintext) : readViolations(view, plaintext);
      for (const problem of problems) violations.push(`${read.name}: ${problem}`);
      if (view.status < 400) answered.push(`${read.name}: HTTP ${view.status}`);
    }
    return { violations, answered };
  };

  before(async () => {
    const services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
    for (const [index, shape] of shapes.entries()) {
      const parts = shape.partSizes.map((size, i) => patternBytes(size, 100 * index + i + 1));
      await uploadParts(client, bucket, shape.name, parts);
      originals.set(shape.name, {
        plaintext: Buffer.concat(parts),
        stored: await readStoredParts(direct, bucket, shape.name),
      });
    }
  });
  after(async () => {
    console.log(`multipart-tamper: ${readsRun} reads of tampered and intact multipart objects`);
    await proxy?.stop();
  });

  for (const shape of shapes) {
    it(`the intact object (${shape.name}) answers every read with the right bytes`, async () => {
      const { plaintext } = originals.get(shape.name) as { plaintext: Buffer };
      const { violations } = await readAll(shape.name, plaintext, readsFor(shape.partSizes));
      assert.deepEqual(violations, []);
    });

    for (const [tampering, tamper] of TAMPERINGS) {
      it(`${shape.name}, ${tampering}: no read releases wrong bytes or a wrong total, and every read is refused`, async () => {
        const { plaintext, stored } = originals.get(shape.name) as {
          plaintext: Buffer;
          stored: StoredMultipart;
        };
        const key = `${shape.name}/${tampering}`;
        await storeDirectly(direct, bucket, key, storedBody(tamper(stored)), stored.metadata);
        const { violations, answered } = await readAll(key, plaintext, readsFor(shape.partSizes));
        assert.deepEqual(violations, []);
        assert.deepEqual(answered, [], 'the tampered layout is refused before any byte is released');
      });
    }
  }
});
