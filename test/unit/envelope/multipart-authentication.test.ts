import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  authenticatePartLayout,
  discoverPartLayout,
  EnvelopeError,
  encodePartHeader,
  finalSegmentStoredSize,
  PART_HEADER_SIZE,
  type PartHeader,
  partCiphertextSize,
} from '../../../src/envelope/index.ts';
import { type BuiltObject, buildMultipart, headerFetcher, keyService, S } from './support.ts';

type RangeLog = { ranges: Array<[number, number]>; inFlight: number; maxInFlight: number };

/** fetchStored over a stored body, answering on a later turn so that parallel calls overlap. */
function storedFetcher(stored: Buffer, log: RangeLog = { ranges: [], inFlight: 0, maxInFlight: 0 }) {
  const fetchStored = async (start: number, endExclusive: number): Promise<Buffer> => {
    log.ranges.push([start, endExclusive]);
    log.inFlight += 1;
    log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    log.inFlight -= 1;
    return Buffer.from(stored.subarray(start, endExclusive));
  };
  return { fetchStored, log };
}

function isCode(code: string, part?: number) {
  return (error: unknown) =>
    error instanceof EnvelopeError &&
    error.code === code &&
    (part === undefined || error.message.startsWith(`part ${part}:`));
}

/** The stored parts of `object` with part `index` (0-based) replaced by a header with `changes` over `sealed`. */
function withForgedPart(
  object: BuiltObject,
  index: number,
  changes: Partial<PartHeader>,
  sealed?: Buffer,
): Buffer {
  return Buffer.concat(
    object.parts.map((part, i) => {
      if (i !== index) return part.stored;
      const header = encodePartHeader({ ...part.header, ...changes });
      return Buffer.concat([header, sealed ?? part.stored.subarray(PART_HEADER_SIZE)]);
    }),
  );
}

describe('authenticatePartLayout', () => {
  it('gives the same layout as discovery, from N + 1 requests: part 1, then final segment k - 1 with header k, then the last final segment', async () => {
    const object = await buildMultipart([2 * S + 5, 2 * S + 5, 2 * S + 5, 0, 17]);
    const { fetchStored, log } = storedFetcher(object.stored);
    const keys = keyService([object]);
    const layout = await authenticatePartLayout(object.stored.length, fetchStored, keys.dataKey);
    const located = await discoverPartLayout(object.stored.length, headerFetcher(object.stored).fetchHeader);
    assert.deepEqual(layout, located);
    const expected: Array<[number, number]> = [[0, PART_HEADER_SIZE]];
    for (const part of layout.parts.slice(1)) {
      const previous = layout.parts[part.index - 1];
      const tail = finalSegmentStoredSize(previous?.plainSize ?? 0);
      expected.push([part.storedOffset - tail, part.storedOffset + PART_HEADER_SIZE]);
    }
    const last = layout.parts[layout.parts.length - 1];
    expected.push([
      object.stored.length - finalSegmentStoredSize(last?.plainSize ?? 0),
      object.stored.length,
    ]);
    // Guesses of equal parts can be wrong where the sizes change; the requests used are exactly these.
    for (const range of expected)
      assert.ok(
        log.ranges.some(([a, b]) => a === range[0] && b === range[1]),
        `${range}`,
      );
    assert.deepEqual(keys.calls, [0, 1, 2, 3, 4], 'one key per part, in order');
    assert.ok(
      keys.handedOut.every((key) => key.every((byte) => byte === 0)),
      'every key is zeroed when checked',
    );
  });

  it('makes exactly N + 1 requests for N equal parts, and for any parts when it is given the layout located before', async () => {
    const equal = await buildMultipart(Array.from({ length: 12 }, () => 3 * S + 1));
    const first = storedFetcher(equal.stored);
    await authenticatePartLayout(equal.stored.length, first.fetchStored, keyService([equal]).dataKey, {
      concurrency: 4,
    });
    assert.equal(first.log.ranges.length, 13);
    assert.ok(first.log.maxInFlight <= 4);

    const uneven = await buildMultipart([S, 3 * S + 9, 10, 2 * S, 2 * S, 5, S + 1]);
    const known = await discoverPartLayout(uneven.stored.length, headerFetcher(uneven.stored).fetchHeader);
    const second = storedFetcher(uneven.stored);
    const layout = await authenticatePartLayout(
      uneven.stored.length,
      second.fetchStored,
      keyService([uneven]).dataKey,
      {
        known,
      },
    );
    assert.deepEqual(layout, known);
    assert.equal(second.log.ranges.length, uneven.parts.length + 1);
  });

  it('refuses a part replaced by a forged header of size 0 and 16 bytes, which discovery accepts', async () => {
    const object = await buildMultipart([2 * S, 2 * S, 3 * S + 1]);
    for (const index of [0, 1, 2]) {
      const stored = withForgedPart(object, index, { plaintextSize: 0 }, Buffer.alloc(16, 9));
      const located = await discoverPartLayout(stored.length, headerFetcher(stored).fetchHeader);
      assert.equal(located.parts[index]?.plainSize, 0, 'discovery takes the forged size');
      await assert.rejects(
        authenticatePartLayout(
          stored.length,
          storedFetcher(stored).fetchStored,
          keyService([object]).dataKey,
        ),
        isCode('SEGMENT_AUTH_FAILED', index + 1),
      );
    }
  });

  it('refuses a part shrunk by a segment with its body cut to match, and a header renumbered to pass the order check', async () => {
    const object = await buildMultipart([3 * S + 100, 3 * S + 100, 50]);
    const part1 = object.parts[0];
    if (part1 === undefined) throw new Error('no part 1');
    const shrunk = Buffer.concat([
      encodePartHeader({ ...part1.header, plaintextSize: 2 * S + 100 }),
      part1.stored.subarray(PART_HEADER_SIZE, PART_HEADER_SIZE + 2 * (S + 16) + 116),
      ...object.parts.slice(1).map((part) => part.stored),
    ]);
    await assert.rejects(
      authenticatePartLayout(shrunk.length, storedFetcher(shrunk).fetchStored, keyService([object]).dataKey),
      isCode('SEGMENT_AUTH_FAILED', 1),
    );
    const [a, b, c] = object.parts;
    if (a === undefined || b === undefined || c === undefined) throw new Error('three parts');
    const swapped = Buffer.concat([
      a.stored,
      encodePartHeader({ ...c.header, partNumber: 2 }),
      c.stored.subarray(PART_HEADER_SIZE),
      encodePartHeader({ ...b.header, partNumber: 3 }),
      b.stored.subarray(PART_HEADER_SIZE),
    ]);
    await assert.rejects(
      authenticatePartLayout(
        swapped.length,
        storedFetcher(swapped).fetchStored,
        keyService([object]).dataKey,
      ),
      isCode('SEGMENT_AUTH_FAILED', 2),
    );
  });

  it('fails with TRUNCATED when the stored bytes of a final segment come back short', async () => {
    const object = await buildMultipart([S + 1, 20]);
    const { fetchStored } = storedFetcher(object.stored);
    const short = async (start: number, end: number) =>
      end === object.stored.length ? (await fetchStored(start, end)).subarray(1) : fetchStored(start, end);
    await assert.rejects(
      authenticatePartLayout(object.stored.length, short, keyService([object]).dataKey),
      isCode('TRUNCATED', 2),
    );
  });

  it('passes on a failure of the key service and zeroes every key it was given', async () => {
    const object = await buildMultipart([S, S, S, S]);
    const keys = keyService([object]);
    const refusal = new Error('Vault refused the key');
    const dataKey = async (part: Parameters<typeof keys.dataKey>[0]) => {
      if (part.index === 2) throw refusal;
      return keys.dataKey(part);
    };
    await assert.rejects(
      authenticatePartLayout(object.stored.length, storedFetcher(object.stored).fetchStored, dataKey),
      (error) => error === refusal,
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(keys.handedOut.length > 0);
    assert.ok(keys.handedOut.every((key) => key.every((byte) => byte === 0)));
  });

  it('holds at most 2 x concurrency final segments waiting for their keys, and fetches no further meanwhile', async () => {
    const object = await buildMultipart(Array.from({ length: 30 }, () => S));
    const keys = keyService([object]);
    const waiting: Array<() => void> = [];
    const slowKey = (part: Parameters<typeof keys.dataKey>[0]) =>
      new Promise<Buffer>((resolve) => waiting.push(() => resolve(keys.dataKey(part))));
    const { fetchStored, log } = storedFetcher(object.stored);
    const authenticated = authenticatePartLayout(object.stored.length, fetchStored, slowKey, {
      concurrency: 4,
    });
    for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(log.ranges.length <= 1 + 2 * 4 + 4, `${log.ranges.length} requests while no key has come`);
    for (;;) {
      const release = waiting.shift();
      if (release === undefined) {
        await new Promise((resolve) => setImmediate(resolve));
        if (waiting.length === 0 && log.ranges.length === object.parts.length + 1) break;
        continue;
      }
      release();
    }
    const layout = await authenticated;
    assert.equal(layout.parts.length, 30);
    assert.equal(log.ranges.length, 31);
  });

  it('asks for the part keys `concurrency` at a time, each group in one turn, so a batching key service makes one call of it', async () => {
    const object = await buildMultipart(Array.from({ length: 30 }, () => S + 3));
    const keys = keyService([object]);
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn += 1;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const turns = new Map<number, number>();
    const dataKey = (part: Parameters<typeof keys.dataKey>[0]) => {
      turns.set(turn, (turns.get(turn) ?? 0) + 1);
      return keys.dataKey(part);
    };
    await authenticatePartLayout(object.stored.length, storedFetcher(object.stored).fetchStored, dataKey, {
      concurrency: 4,
    });
    ticking = false;
    const groups = [...turns.values()];
    assert.equal(
      groups.reduce((a, b) => a + b, 0),
      30,
    );
    assert.ok(groups.length <= Math.ceil(30 / 4) + 1, `keys asked for in ${groups.length} turns: ${groups}`);
    assert.ok(
      groups.every((size) => size <= 4),
      `${groups}`,
    );
  });

  it('checks the part sizes as stored: partCiphertextSize of each part adds up to the object', async () => {
    const object = await buildMultipart([5, S, 2 * S - 1]);
    const layout = await authenticatePartLayout(
      object.stored.length,
      storedFetcher(object.stored).fetchStored,
      keyService([object]).dataKey,
    );
    assert.equal(
      layout.parts.reduce((sum, part) => sum + partCiphertextSize(part.plainSize), 0),
      object.stored.length,
    );
  });
});
