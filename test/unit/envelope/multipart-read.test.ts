import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  createMultipartOpenStream,
  createPartSealStream,
  discoverPartLayout,
  EnvelopeError,
  encodePartHeader,
  KEY_WINDOW,
  PART_HEADER_SIZE,
  type PartHeader,
  type PartLayout,
  partCiphertextSize,
  planMultipartRead,
  SEALED_SEGMENT_SIZE,
  uploadBinding,
} from '../../../src/envelope/index.ts';
import {
  type BuiltObject,
  buildMultipart,
  CHUNKINGS,
  headerFetcher,
  keyService,
  pattern,
  readMultipart,
  run,
  S,
  seededSizes,
  split,
} from './support.ts';

function isCode(error: unknown, code: string): boolean {
  return error instanceof EnvelopeError && error.code === code;
}

async function layoutOf(object: BuiltObject): Promise<PartLayout> {
  return discoverPartLayout(object.stored.length, headerFetcher(object.stored).fetchHeader);
}

const header: PartHeader = {
  wrappedDek: 'vault:v1:seal-test',
  nonce: Buffer.from('a1b2c3d4e5f60718293a4b5c', 'hex'),
  plaintextSize: 3 * S + 7,
  partNumber: 3,
  uploadBinding: uploadBinding('seal-test-upload'),
};
const dek = Buffer.from('4c0ffee5'.repeat(8), 'hex');

describe('createPartSealStream', () => {
  it('writes the encoded header, then exactly partCiphertextSize(p) bytes in all, whatever the write sizes', async () => {
    const plaintext = pattern(header.plaintextSize);
    let reference: Buffer | undefined;
    for (const [name, chunking] of Object.entries(CHUNKINGS)) {
      const outcome = await run(chunking(plaintext), createPartSealStream({ dek, header }));
      assert.equal(outcome.error, undefined, name);
      assert.equal(outcome.output.length, partCiphertextSize(header.plaintextSize), name);
      assert.deepEqual(outcome.output.subarray(0, PART_HEADER_SIZE), encodePartHeader(header), name);
      reference ??= outcome.output;
      assert.ok(outcome.output.equals(reference), `${name} gives the same bytes`);
    }
  });

  it('seals an empty part as its header and one 16-byte tag', async () => {
    const outcome = await run([], createPartSealStream({ dek, header: { ...header, plaintextSize: 0 } }));
    assert.equal(outcome.error, undefined);
    assert.equal(outcome.output.length, PART_HEADER_SIZE + 16);
  });

  it('fails with SIZE_MISMATCH on fewer bytes than the header declares', async () => {
    const outcome = await run(
      split(pattern(header.plaintextSize - 1), [1000]),
      createPartSealStream({ dek, header }),
    );
    assert.ok(isCode(outcome.error, 'SIZE_MISMATCH'));
  });

  it('fails with SIZE_MISMATCH on more bytes than declared, emitting nothing when the first write is too long', async () => {
    const outcome = await run([pattern(header.plaintextSize + 1)], createPartSealStream({ dek, header }));
    assert.ok(isCode(outcome.error, 'SIZE_MISMATCH'));
    assert.equal(outcome.output.length, 0);
    const later = await run(
      split(pattern(header.plaintextSize + 1), [1000]),
      createPartSealStream({ dek, header }),
    );
    assert.ok(isCode(later.error, 'SIZE_MISMATCH'));
  });

  it('refuses a header it cannot encode and a DEK of the wrong length before any input', () => {
    assert.throws(
      () => createPartSealStream({ dek, header: { ...header, partNumber: 0 } }),
      (error: unknown) => isCode(error, 'PART_HEADER_INVALID'),
    );
    assert.throws(() => createPartSealStream({ dek: Buffer.alloc(16), header }), RangeError);
  });
});

const MIXES: Record<string, number[]> = {
  'one part': [3 * S + 7],
  'equal aligned parts': [2 * S, 2 * S, 2 * S],
  'equal parts and a smaller last one': [2 * S + 5, 2 * S + 5, 2 * S + 5, 100],
  'unequal parts': [3 * S + 5, S, 2 * S + 1, 7],
  'a 1-byte last part': [S + 3, 1],
  'a larger last part': [S, S, 3 * S + 1],
  'an empty last part': [2 * S, 0],
  'an empty part in the middle (valid in the format)': [S + 1, 0, 17],
  'one-byte parts': [1, 1, 1, 1],
};

/** Positions where something changes: part and segment boundaries, and the ends. */
function interestingPositions(sizes: number[]): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const positions = new Set<number>([0, 1, total - 2, total - 1]);
  let offset = 0;
  for (const size of sizes) {
    for (const d of [-1, 0, 1]) positions.add(offset + d);
    for (let s = S; s < size; s += S) for (const d of [-1, 0]) positions.add(offset + s + d);
    offset += size;
  }
  return [...positions].filter((p) => p >= 0 && p < total).sort((a, b) => a - b);
}

describe('multipart seal, discover and read', () => {
  for (const [name, sizes] of Object.entries(MIXES)) {
    it(`reads back ${name} (${sizes.join(', ')}) whole, whatever the write sizes`, async () => {
      const object = await buildMultipart(sizes, { uploadId: `upload ${name}` });
      assert.equal(
        object.stored.length,
        sizes.reduce((sum, p) => sum + partCiphertextSize(p), 0),
      );
      const layout = await layoutOf(object);
      assert.equal(layout.parts.length, sizes.length);
      assert.equal(layout.plainSize, object.plaintext.length);
      assert.deepEqual(planMultipartRead(layout, 0, layout.plainSize - 1), {
        cipherStart: 0,
        cipherEndInclusive: object.stored.length - 1,
      });
      for (const [chunkingName, chunking] of Object.entries(CHUNKINGS)) {
        const keys = keyService([object]);
        const outcome = await readMultipart(
          layout,
          object.stored,
          0,
          layout.plainSize - 1,
          keys.dataKey,
          chunking,
        );
        assert.equal(outcome.error, undefined, `${chunkingName}: ${String(outcome.error)}`);
        assert.ok(outcome.output.equals(object.plaintext), chunkingName);
        assert.deepEqual(
          keys.calls,
          sizes.map((_, i) => i),
          `${chunkingName}: one key per part, in order`,
        );
        assert.ok(
          keys.handedOut.every((key) => key.every((byte) => byte === 0)),
          'every key zeroed',
        );
      }
    });

    it(`reads every range between part and segment boundaries of ${name}`, async () => {
      const object = await buildMultipart(sizes, { uploadId: `upload ${name}` });
      const layout = await layoutOf(object);
      const positions = interestingPositions(sizes);
      for (const start of positions) {
        for (const end of positions) {
          if (end < start) continue;
          const keys = keyService([object]);
          const outcome = await readMultipart(layout, object.stored, start, end, keys.dataKey, (data) =>
            split(data, seededSizes(start * 31 + end, 16, 2 * S)),
          );
          assert.equal(outcome.error, undefined, `${start}-${end}: ${String(outcome.error)}`);
          assert.ok(outcome.output.equals(object.plaintext.subarray(start, end + 1)), `${start}-${end}`);
          assert.ok(
            keys.handedOut.every((key) => key.every((byte) => byte === 0)),
            `${start}-${end} keys`,
          );
        }
      }
    });
  }

  it('reads random ranges of 5,000,000-byte parts (not segment-aligned) against slicing', async () => {
    const sizes = [5_000_000, 5_000_000, 5_000_000, 1];
    const object = await buildMultipart(sizes, { uploadId: 'unaligned' });
    const { fetchHeader, log } = headerFetcher(object.stored);
    const layout = await discoverPartLayout(object.stored.length, fetchHeader);
    assert.equal(log.offsets.length, 4);
    const total = layout.plainSize;
    const whole = await readMultipart(
      layout,
      object.stored,
      0,
      total - 1,
      keyService([object]).dataKey,
      (data) => split(data, seededSizes(5, 64, 300_000)),
    );
    assert.ok(whole.output.equals(object.plaintext));
    const randoms = seededSizes(42, 80, total);
    for (let i = 0; i < randoms.length; i += 2) {
      const a = (randoms[i] as number) - 1;
      // Short ranges most of the time, so that they land near boundaries as often as across them.
      const length = i % 4 === 0 ? ((randoms[i + 1] as number) % 300_000) + 1 : (randoms[i + 1] as number);
      const start = Math.min(a, total - 1);
      const end = Math.min(total - 1, start + length - 1);
      const outcome = await readMultipart(
        layout,
        object.stored,
        start,
        end,
        keyService([object]).dataKey,
        (data) => split(data, seededSizes(i, 16, 100_000)),
      );
      assert.equal(outcome.error, undefined, `${start}-${end}`);
      assert.ok(outcome.output.equals(object.plaintext.subarray(start, end + 1)), `${start}-${end}`);
    }
    for (const boundary of [5_000_000, 10_000_000, 15_000_000]) {
      for (let [start, end] of [
        [boundary - 1, boundary],
        [boundary - 1, boundary - 1],
        [boundary, boundary],
        [boundary - 100_000, boundary + 100_000],
      ] as Array<[number, number]>) {
        end = Math.min(end, total - 1);
        const outcome = await readMultipart(layout, object.stored, start, end, keyService([object]).dataKey);
        assert.ok(outcome.output.equals(object.plaintext.subarray(start, end + 1)), `${start}-${end}`);
      }
    }
  });

  it('reads an empty object (one empty part) with the range 0..-1 and refuses 0..-1 for any other', async () => {
    const empty = await buildMultipart([0]);
    const layout = await layoutOf(empty);
    assert.equal(layout.plainSize, 0);
    assert.equal(empty.stored.length, 272);
    assert.deepEqual(planMultipartRead(layout, 0, -1), { cipherStart: 0, cipherEndInclusive: 271 });
    const outcome = await readMultipart(layout, empty.stored, 0, -1, keyService([empty]).dataKey);
    assert.equal(outcome.error, undefined);
    assert.equal(outcome.output.length, 0);
    const missing = await run(
      [],
      createMultipartOpenStream({ layout, start: 0, endInclusive: -1, dataKey: keyService([empty]).dataKey }),
    );
    assert.ok(isCode(missing.error, 'TRUNCATED'));

    const other = await layoutOf(await buildMultipart([5, 5]));
    assert.throws(() => planMultipartRead(other, 0, -1), RangeError);
    assert.throws(() => planMultipartRead(other, 3, 2), RangeError);
    assert.throws(() => planMultipartRead(other, 0, 10), RangeError);
    assert.throws(() => planMultipartRead(other, -1, 2), RangeError);
  });
});

describe('planMultipartRead', () => {
  it('starts at the first needed segment of the first part and takes the later headers inline', async () => {
    const object = await buildMultipart([3 * S, 3 * S, 3 * S]);
    const layout = await layoutOf(object);
    const [, second, third] = layout.parts as [
      unknown,
      PartLayout['parts'][number],
      PartLayout['parts'][number],
    ];
    // Byte S + 5 of part 2: its segment 1, without part 2's header.
    const inside = planMultipartRead(layout, 3 * S + S + 5, 3 * S + S + 9);
    assert.deepEqual(inside, {
      cipherStart: second.storedOffset + PART_HEADER_SIZE + SEALED_SEGMENT_SIZE,
      cipherEndInclusive: second.storedOffset + PART_HEADER_SIZE + 2 * SEALED_SEGMENT_SIZE - 1,
    });
    // From the last byte of part 2 to the first of part 3: two segments and part 3's header between them.
    const across = planMultipartRead(layout, 6 * S - 1, 6 * S);
    assert.deepEqual(across, {
      cipherStart: second.storedOffset + PART_HEADER_SIZE + 2 * SEALED_SEGMENT_SIZE,
      cipherEndInclusive: third.storedOffset + PART_HEADER_SIZE + SEALED_SEGMENT_SIZE - 1,
    });
    assert.equal(
      across.cipherEndInclusive - across.cipherStart + 1,
      2 * SEALED_SEGMENT_SIZE + PART_HEADER_SIZE,
    );
  });

  it('fetches about what a range returns: at most one extra segment at each end and the headers crossed', async () => {
    const sizes = [5_000_000, 5_000_000, 5_000_000, 1];
    const layout = await layoutOf(await buildMultipart(sizes));
    const randoms = seededSizes(9, 400, layout.plainSize);
    for (let i = 0; i < randoms.length; i += 2) {
      const start = (randoms[i] as number) - 1;
      const end = Math.min(layout.plainSize - 1, start + ((randoms[i + 1] as number) % 3_000_000));
      const plan = planMultipartRead(layout, start, end);
      const fetched = plan.cipherEndInclusive - plan.cipherStart + 1;
      const length = end - start + 1;
      const crossed = layout.parts.filter((p) => p.plainOffset > start && p.plainOffset <= end).length;
      const segments = Math.ceil(length / S) + 2 + crossed;
      assert.ok(
        fetched <= length + 2 * S + 16 * segments + PART_HEADER_SIZE * crossed,
        `${start}-${end} fetched ${fetched}`,
      );
      assert.ok(fetched >= length);
    }
  });
});

describe('createMultipartOpenStream and data keys', () => {
  it('asks for the next part’s key while the current part streams, and only for the parts read', async () => {
    const object = await buildMultipart([2 * S, 2 * S, 2 * S, 2 * S]);
    const layout = await layoutOf(object);
    const keys = keyService([object]);
    const releasedWhenAsked: number[] = [];
    let released = 0;
    const dataKey = async (part: PartLayout['parts'][number]) => {
      releasedWhenAsked.push(released);
      return keys.dataKey(part);
    };
    const plan = planMultipartRead(layout, S, 5 * S);
    await pipeline(
      Readable.from(split(object.stored.subarray(plan.cipherStart, plan.cipherEndInclusive + 1), [4096])),
      createMultipartOpenStream({ layout, start: S, endInclusive: 5 * S, dataKey }),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          released += chunk.length;
          callback();
        },
      }),
    );
    assert.deepEqual(keys.calls, [0, 1, 2]);
    assert.equal(released, 4 * S + 1);
    // Part 2's key is requested before any of part 2 could be released, part 3's likewise.
    assert.ok((releasedWhenAsked[1] as number) < S, String(releasedWhenAsked));
    assert.ok((releasedWhenAsked[2] as number) < 3 * S, String(releasedWhenAsked));
  });

  it(`asks for ${KEY_WINDOW} parts’ keys in one turn, and for the next ${KEY_WINDOW} when the last of them begins`, async () => {
    const partCount = KEY_WINDOW + 8;
    const object = await buildMultipart(Array.from({ length: partCount }, () => 1000));
    const layout = await layoutOf(object);
    const keys = keyService([object]);
    // Keys asked for in one turn of the event loop go to Transit as one batch; the input comes one piece per turn.
    let turn = 0;
    let fed = 0;
    async function* onePiecePerTurn() {
      for (const piece of split(object.stored, [700])) {
        fed += piece.length;
        yield piece;
        await new Promise((resolve) => setImmediate(resolve));
        turn++;
      }
    }
    const askedInTurn: number[] = [];
    const fedWhenAsked: number[] = [];
    const dataKey = async (part: PartLayout['parts'][number]) => {
      askedInTurn.push(turn);
      fedWhenAsked.push(fed);
      return keys.dataKey(part);
    };
    const output: Buffer[] = [];
    await pipeline(
      Readable.from(onePiecePerTurn()),
      createMultipartOpenStream({ layout, start: 0, endInclusive: layout.plainSize - 1, dataKey }),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          output.push(chunk);
          callback();
        },
      }),
    );
    assert.ok(Buffer.concat(output).equals(object.plaintext));
    assert.deepEqual(
      keys.calls,
      Array.from({ length: partCount }, (_, i) => i),
    );
    const first = askedInTurn.slice(0, KEY_WINDOW);
    const second = askedInTurn.slice(KEY_WINDOW);
    assert.ok(
      first.every((t) => t === 0),
      `first window asked in turns ${first}`,
    );
    assert.ok(
      second.every((t) => t === second[0]),
      `second window asked in turns ${second}`,
    );
    // Asked for once part 32's segments began arriving, before any of part 33 had.
    const partStored = (layout.parts[1]?.storedOffset ?? 0) - (layout.parts[0]?.storedOffset ?? 0);
    const asked = fedWhenAsked[KEY_WINDOW] as number;
    assert.ok(
      asked > (KEY_WINDOW - 1) * partStored && asked <= KEY_WINDOW * partStored + 700,
      `asked with ${asked} stored bytes fed, parts of ${partStored}`,
    );
  });

  it('fails with the key service’s error and releases nothing of that part; keys fetched ahead are zeroed', async () => {
    const object = await buildMultipart([2 * S, 2 * S, 2 * S]);
    const layout = await layoutOf(object);
    const keys = keyService([object]);
    const failure = new Error('vault says no');
    const dataKey = async (part: PartLayout['parts'][number]) => {
      if (part.index === 1) throw failure;
      return keys.dataKey(part);
    };
    const outcome = await readMultipart(layout, object.stored, 0, layout.plainSize - 1, dataKey, (data) =>
      split(data, [1000]),
    );
    assert.equal(outcome.error, failure);
    // Part 1's final segment is held until part 2's header checked; part 2's key was then missing.
    assert.ok(outcome.output.equals(object.plaintext.subarray(0, 2 * S)));
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(keys.handedOut.every((key) => key.every((byte) => byte === 0)));
  });

  it('zeroes the keys fetched ahead when the stream is destroyed before using them', async () => {
    const object = await buildMultipart([2 * S, 2 * S, S, S, 10]);
    const layout = await layoutOf(object);
    const keys = keyService([object]);
    const stream = createMultipartOpenStream({
      layout,
      start: 0,
      endInclusive: layout.plainSize - 1,
      dataKey: keys.dataKey,
    });
    stream.on('error', () => {});
    stream.write(object.stored.subarray(0, PART_HEADER_SIZE + 100));
    await new Promise((resolve) => setTimeout(resolve, 10));
    stream.destroy(new Error('client went away'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(keys.calls, [0, 1, 2, 3, 4]);
    assert.equal(keys.handedOut.length, 5);
    assert.ok(keys.handedOut.every((key) => key.every((byte) => byte === 0)));
  });

  it('refuses a data key of the wrong length', async () => {
    const object = await buildMultipart([10]);
    const layout = await layoutOf(object);
    const outcome = await readMultipart(layout, object.stored, 0, 9, async () => Buffer.alloc(16));
    assert.ok(outcome.error instanceof RangeError);
    assert.equal(outcome.output.length, 0);
  });
});

describe('multipart streaming in constant memory', () => {
  it('holds back the producer while a slow consumer reads 48 MiB of parts through seal and open', async () => {
    const partSize = 16 * 2 ** 20;
    const uploadId = 'memory-test';
    const parts = [0, 1, 2].map((i) => ({
      dek: randomBytes(32),
      header: {
        wrappedDek: `vault:v1:memory-${i}`,
        nonce: randomBytes(12),
        plaintextSize: partSize,
        partNumber: i + 1,
        uploadBinding: uploadBinding(uploadId),
      },
    }));
    const headers = parts.map((part) => encodePartHeader(part.header));
    const storedPart = partCiphertextSize(partSize);
    const layout: PartLayout = {
      parts: parts.map((part, i) => ({
        index: i,
        header: part.header,
        headerBytes: headers[i] as Buffer,
        storedOffset: i * storedPart,
        storedSize: storedPart,
        plainOffset: i * partSize,
        plainSize: partSize,
      })),
      storedSize: 3 * storedPart,
      plainSize: 3 * partSize,
    };
    const chunk = randomBytes(256 * 1024);
    let produced = 0;
    let consumed = 0;
    let worst = 0;
    // The sealed parts are produced one after another, as an upstream GET would deliver them.
    async function* storedBody() {
      for (const part of parts) {
        const sealer = createPartSealStream(part);
        const feed = (async () => {
          for (let sent = 0; sent < partSize; sent += chunk.length) {
            produced += chunk.length;
            worst = Math.max(worst, produced - consumed);
            if (!sealer.write(chunk)) await new Promise((resolve) => sealer.once('drain', resolve));
          }
          sealer.end();
        })();
        for await (const sealed of sealer) yield sealed as Buffer;
        await feed;
      }
    }
    await pipeline(
      storedBody,
      createMultipartOpenStream({
        layout,
        start: 0,
        endInclusive: layout.plainSize - 1,
        dataKey: async (part) => Buffer.from((parts[part.index] as { dek: Buffer }).dek),
      }),
      new Writable({
        highWaterMark: 1,
        write(data: Buffer, _encoding, callback) {
          consumed += data.length;
          setImmediate(callback);
        },
      }),
    );
    assert.equal(consumed, 3 * partSize);
    assert.ok(worst < 4 * 2 ** 20, `at most ${worst} bytes were in flight`);
  });
});
