import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createMultipartOpenStream,
  discoverPartLayout,
  EnvelopeError,
  type EnvelopeErrorCode,
  type LayoutPart,
  PART_HEADER_SIZE,
  type PartLayout,
  planMultipartRead,
  SEALED_SEGMENT_SIZE,
} from '../../../src/envelope/index.ts';
import { type BuiltObject, buildMultipart, CHUNKINGS, headerFetcher, keyService, run, S } from './support.ts';

const SIZES = [2 * S + 5, 2 * S + 5, 2 * S + 5, 100];
const object = await buildMultipart(SIZES, { uploadId: 'upload-U' });
// The same plaintext and part sizes uploaded again in another upload: same layout, other headers.
const other = await buildMultipart(SIZES, { uploadId: 'upload-V' });
// The same plaintext of part 2 uploaded into upload U as part number 4 (a part the client re-uploaded
// under another number, which the provider still holds).
const asFour = await buildMultipart(SIZES, {
  uploadId: 'upload-U',
  numbers: [1, 4, 3, 4],
  label: 'upload-U-renumbered',
});
const keys = keyService([object, other, asFour]);

const part = (built: BuiltObject, i: number) => (built.parts[i] as { stored: Buffer }).stored;
const plainOffset = (i: number) => SIZES.slice(0, i).reduce((a, b) => a + b, 0);
const storedOffset = (i: number) => object.parts.slice(0, i).reduce((sum, p) => sum + p.stored.length, 0);
/** What may be released when part i fails at its header: everything before it except its predecessor's final segment. */
const beforeHeaderOf = (i: number) => plainOffset(i) - ((SIZES[i - 1] as number) % S || S);

type Outcome = { stage: 'layout' | 'read' | 'success'; code?: EnvelopeErrorCode; released: Buffer };

/**
 * Keys by wrapped DEK; an edited wrapped DEK still gets the part's true key, standing in for a key
 * service that unwrapped it anyway, so that the test shows the header (the AAD) catching the edit.
 */
const dataKey = async (p: LayoutPart) =>
  keys.keys.has(p.header.wrappedDek)
    ? keys.dataKey(p)
    : Buffer.from((object.parts[p.index] as { dek: Buffer }).dek);

/** Locates the parts of `stored` as the proxy does, then reads it whole under several chunkings. */
async function attempt(stored: Buffer, layoutFrom: Buffer = stored): Promise<Outcome> {
  let layout: PartLayout;
  try {
    layout = await discoverPartLayout(layoutFrom.length, headerFetcher(layoutFrom).fetchHeader);
  } catch (error) {
    assert.ok(error instanceof EnvelopeError, String(error));
    return { stage: 'layout', code: error.code, released: Buffer.alloc(0) };
  }
  const outcomes: Outcome[] = [];
  for (const [name, chunking] of Object.entries(CHUNKINGS)) {
    if (name === '1-byte writes') continue;
    const plan = planMultipartRead(layout, 0, layout.plainSize - 1);
    const fetched = stored.subarray(plan.cipherStart, plan.cipherEndInclusive + 1);
    const outcome = await run(
      chunking(fetched),
      createMultipartOpenStream({ layout, start: 0, endInclusive: layout.plainSize - 1, dataKey }),
    );
    if (outcome.error === undefined) {
      outcomes.push({ stage: 'success', released: outcome.output });
    } else {
      assert.ok(outcome.error instanceof EnvelopeError, String(outcome.error));
      outcomes.push({ stage: 'read', code: outcome.error.code, released: outcome.output });
    }
  }
  const first = outcomes[0] as Outcome;
  for (const outcome of outcomes) {
    assert.equal(outcome.code, first.code, 'the same failure whatever the chunking');
    assert.ok(outcome.released.equals(first.released), 'the same released bytes whatever the chunking');
  }
  return first;
}

function flipped(data: Buffer, offset: number, mask = 0x01): Buffer {
  const copy = Buffer.from(data);
  copy[offset] = (copy[offset] as number) ^ mask;
  return copy;
}

function expectFailure(
  outcome: Outcome,
  stage: 'layout' | 'read',
  code: EnvelopeErrorCode,
  released: number,
) {
  assert.equal(outcome.stage, stage, `stage (got ${outcome.code})`);
  assert.equal(outcome.code, code);
  assert.equal(outcome.released.length, released, 'released length');
  assert.ok(
    outcome.released.equals(object.plaintext.subarray(0, released)),
    'released only a verified prefix',
  );
}

describe('a multipart object whose parts were moved', () => {
  const p = (i: number) => part(object, i);
  const cases: Array<[string, Buffer, EnvelopeErrorCode]> = [
    ['parts 1 and 2 swapped', Buffer.concat([p(1), p(0), p(2), p(3)]), 'PART_ORDER'],
    ['parts 2 and 3 swapped', Buffer.concat([p(0), p(2), p(1), p(3)]), 'PART_ORDER'],
    ['parts reordered 1, 3, 4, 2', Buffer.concat([p(0), p(2), p(3), p(1)]), 'PART_ORDER'],
    ['part 2 dropped from the middle', Buffer.concat([p(0), p(2), p(3)]), 'PART_ORDER'],
    ['part 2 repeated', Buffer.concat([p(0), p(1), p(1), p(2), p(3)]), 'PART_ORDER'],
    ['part 1 appended after the last part', Buffer.concat([p(0), p(1), p(2), p(3), p(0)]), 'PART_ORDER'],
    [
      'part 2 spliced in from another upload (same number and size, another binding)',
      Buffer.concat([p(0), part(other, 1), p(2), p(3)]),
      'PART_UPLOAD_MISMATCH',
    ],
    [
      'part 2 replaced by the same data re-uploaded as part 4 of the same upload',
      Buffer.concat([p(0), part(asFour, 1), p(2), p(3)]),
      'PART_ORDER',
    ],
    [
      'every part from another upload but part 4',
      Buffer.concat([part(other, 0), part(other, 1), part(other, 2), p(3)]),
      'PART_UPLOAD_MISMATCH',
    ],
  ];
  for (const [what, stored, code] of cases) {
    it(`fails with ${code} on ${what}, before any byte is read`, async () => {
      expectFailure(await attempt(stored), 'layout', code, 0);
    });
  }

  it('fails with SEGMENT_AUTH_FAILED when part 3 takes part 2’s place with its number rewritten to 2', async () => {
    const renumbered = flipped(p(2), 31);
    assert.equal(renumbered.readUInt32BE(28), 2);
    const outcome = await attempt(Buffer.concat([p(0), renumbered, p(2), p(3)]));
    expectFailure(outcome, 'read', 'SEGMENT_AUTH_FAILED', plainOffset(1));
  });

  it('does not detect the removal of whole trailing parts (the residual risk of FORMAT.md section 13)', async () => {
    const outcome = await attempt(Buffer.concat([p(0), p(1), p(2)]));
    assert.equal(outcome.stage, 'success');
    assert.ok(outcome.released.equals(object.plaintext.subarray(0, plainOffset(3))));
  });
});

describe('a multipart object with a flipped header byte', () => {
  // Header fields (FORMAT.md section 9.2) and the byte flipped in each.
  const fields: Array<[field: string, offset: number, mask?: number]> = [
    ['magic', 0],
    ['plaintext size', 15],
    ['nonce', 20],
    ['part number', 31],
    ['upload binding', 40],
    ['wrapped-DEK length', 49],
    ['wrapped DEK', 56],
    ['padding', 255],
  ];
  // [part index][field] -> expected stage, code and released length.
  const expected = (i: number, field: string): [stage: 'layout' | 'read', EnvelopeErrorCode, number] => {
    switch (field) {
      case 'magic':
      case 'wrapped-DEK length':
      case 'padding':
        return ['layout', 'PART_HEADER_INVALID', 0];
      case 'plaintext size':
        // Another size moves where the next part would start; the last part then runs past the end.
        return i === SIZES.length - 1 ? ['layout', 'TRUNCATED', 0] : ['layout', 'PART_HEADER_INVALID', 0];
      case 'part number':
        return i === 0 ? ['layout', 'PART_HEADER_INVALID', 0] : ['layout', 'PART_ORDER', 0];
      case 'upload binding':
        return ['layout', 'PART_UPLOAD_MISMATCH', 0];
      default:
        // Nonce and wrapped DEK pass every structural check; the segments fail, since the header is their AAD.
        return ['read', 'SEGMENT_AUTH_FAILED', plainOffset(i)];
    }
  };
  for (const i of [0, 1, 3]) {
    for (const [field, offset, mask] of fields) {
      const [stage, code, released] = expected(i, field);
      it(`fails with ${code} on part ${i + 1}'s ${field}${stage === 'layout' ? ', before reading' : ''}`, async () => {
        const stored = flipped(object.stored, storedOffset(i) + offset, mask);
        expectFailure(await attempt(stored), stage, code, released);
      });
    }
  }
});

describe('a multipart object that changes between discovery and read', () => {
  const swappedPart2 = Buffer.concat([part(object, 0), part(other, 1), part(object, 2), part(object, 3)]);

  it('fails with PART_LAYOUT_CHANGED when a header read inline differs from the located one', async () => {
    const outcome = await attempt(swappedPart2, object.stored);
    expectFailure(outcome, 'read', 'PART_LAYOUT_CHANGED', beforeHeaderOf(1));
  });

  it('fails with SEGMENT_AUTH_FAILED when a range starts inside the changed part (its header is not re-read)', async () => {
    const layout = await discoverPartLayout(object.stored.length, headerFetcher(object.stored).fetchHeader);
    const start = plainOffset(1) + S + 1;
    const end = plainOffset(2) + 10;
    const plan = planMultipartRead(layout, start, end);
    const outcome = await run(
      [swappedPart2.subarray(plan.cipherStart, plan.cipherEndInclusive + 1)],
      createMultipartOpenStream({ layout, start, endInclusive: end, dataKey }),
    );
    assert.ok(outcome.error instanceof EnvelopeError && outcome.error.code === 'SEGMENT_AUTH_FAILED');
    assert.equal(outcome.output.length, 0);
  });
});

describe('a multipart object with damaged segments or length', () => {
  it('fails with SEGMENT_AUTH_FAILED on a flipped byte in any segment, releasing the segments before it', async () => {
    for (const [i, segment] of [
      [0, 0],
      [0, 2],
      [2, 1],
      [3, 0],
    ] as Array<[number, number]>) {
      const offset = storedOffset(i) + PART_HEADER_SIZE + segment * SEALED_SEGMENT_SIZE + 3;
      const outcome = await attempt(flipped(object.stored, offset));
      expectFailure(outcome, 'read', 'SEGMENT_AUTH_FAILED', plainOffset(i) + segment * S);
    }
  });

  it('fails with SEGMENT_AUTH_FAILED when a part’s key unwraps to another key', async () => {
    const layout = await discoverPartLayout(object.stored.length, headerFetcher(object.stored).fetchHeader);
    const wrongForPart3 = async (p: LayoutPart) =>
      p.index === 2 ? Buffer.from((object.parts[0] as { dek: Buffer }).dek) : keys.dataKey(p);
    const outcome = await run(
      [object.stored],
      createMultipartOpenStream({
        layout,
        start: 0,
        endInclusive: layout.plainSize - 1,
        dataKey: wrongForPart3,
      }),
    );
    assert.ok(outcome.error instanceof EnvelopeError && outcome.error.code === 'SEGMENT_AUTH_FAILED');
    assert.ok(outcome.output.equals(object.plaintext.subarray(0, plainOffset(2))));
  });

  it('fails with TRUNCATED when the stored bytes end early, never releasing a part’s final segment', async () => {
    const layout = await discoverPartLayout(object.stored.length, headerFetcher(object.stored).fetchHeader);
    for (const [cut, released] of [
      [storedOffset(2), beforeHeaderOf(2)],
      [storedOffset(2) + 100, beforeHeaderOf(2)],
      [storedOffset(2) + PART_HEADER_SIZE, plainOffset(2)],
      [object.stored.length - 1, plainOffset(3)],
    ] as Array<[number, number]>) {
      const outcome = await run(
        [object.stored.subarray(0, cut)],
        createMultipartOpenStream({ layout, start: 0, endInclusive: layout.plainSize - 1, dataKey }),
      );
      assert.ok(
        outcome.error instanceof EnvelopeError && outcome.error.code === 'TRUNCATED',
        `cut at ${cut}`,
      );
      assert.ok(outcome.output.equals(object.plaintext.subarray(0, released)), `cut at ${cut}`);
    }
  });

  it('fails with TRAILING_DATA on bytes after the planned range, holding back the last segment', async () => {
    const layout = await discoverPartLayout(object.stored.length, headerFetcher(object.stored).fetchHeader);
    const outcome = await run(
      [object.stored, Buffer.from([0])],
      createMultipartOpenStream({ layout, start: 0, endInclusive: layout.plainSize - 1, dataKey }),
    );
    assert.ok(outcome.error instanceof EnvelopeError && outcome.error.code === 'TRAILING_DATA');
    assert.ok(outcome.output.equals(object.plaintext.subarray(0, plainOffset(3))));
    const ranged = planMultipartRead(layout, 10, plainOffset(1) + 10);
    const rangedOutcome = await run(
      [object.stored.subarray(ranged.cipherStart, ranged.cipherEndInclusive + 2)],
      createMultipartOpenStream({ layout, start: 10, endInclusive: plainOffset(1) + 10, dataKey }),
    );
    assert.ok(rangedOutcome.error instanceof EnvelopeError && rangedOutcome.error.code === 'TRAILING_DATA');
    assert.ok(rangedOutcome.output.equals(object.plaintext.subarray(10, plainOffset(1))));
  });
});
