import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  contentRange,
  type ParsedRange,
  parseRange,
  rangeLength,
  resolveRange,
  unsatisfiableContentRange,
} from '../../../src/s3/range.ts';

describe('parseRange', () => {
  const cases: [string | undefined, ParsedRange | undefined | 'invalid'][] = [
    [undefined, undefined],
    ['bytes=0-0', { kind: 'bounded', first: 0, last: 0 }],
    ['bytes=0-5242879', { kind: 'bounded', first: 0, last: 5242879 }],
    ['bytes=100-', { kind: 'from', first: 100 }],
    ['bytes=-20', { kind: 'suffix', length: 20 }],
    ['bytes=-0', { kind: 'suffix', length: 0 }],
    ['bytes=007-010', { kind: 'bounded', first: 7, last: 10 }],
    ['Bytes=1-2', { kind: 'bounded', first: 1, last: 2 }],
    ['  bytes = 1-2 ', { kind: 'bounded', first: 1, last: 2 }],
    ['bytes=5-5', { kind: 'bounded', first: 5, last: 5 }],
    ['bytes=0-99999999999999999999999', { kind: 'bounded', first: 0, last: Number.MAX_SAFE_INTEGER }],
  ];
  for (const [header, expected] of cases) {
    it(`parses ${JSON.stringify(header)}`, () => {
      assert.deepEqual(parseRange(header), expected);
    });
  }

  // S3 ignores these and answers 200 with the whole object.
  const ignored = [
    '',
    'bytes=',
    'bytes=-',
    'bytes=abc',
    'bytes=1-0',
    'bytes=5-2',
    'bytes=0-1,5-6',
    'bytes=0-1, 5-6',
    'bytes=0-5,',
    'items=0-5',
    'bytes 0-5',
    'bytes=--5',
    'bytes=1.5-2',
    'bytes=+1-2',
    'bytes=0x10-20',
    'bytes=1 -2',
  ];
  for (const header of ignored) {
    it(`treats ${JSON.stringify(header)} as a header S3 ignores`, () => {
      assert.equal(parseRange(header), 'invalid');
    });
  }
});

describe('resolveRange', () => {
  const resolve = (header: string, size: number) => {
    const parsed = parseRange(header);
    assert.ok(parsed !== undefined && parsed !== 'invalid', header);
    return resolveRange(parsed, size);
  };

  const cases: [string, number, ReturnType<typeof resolveRange>][] = [
    // bounded
    ['bytes=0-0', 1, { start: 0, end: 0 }],
    ['bytes=0-0', 100, { start: 0, end: 0 }],
    ['bytes=0-99', 100, { start: 0, end: 99 }],
    ['bytes=0-100', 100, { start: 0, end: 99 }],
    ['bytes=50-1000', 100, { start: 50, end: 99 }],
    ['bytes=99-99', 100, { start: 99, end: 99 }],
    ['bytes=100-100', 100, 'unsatisfiable'],
    ['bytes=100-200', 100, 'unsatisfiable'],
    ['bytes=0-5242879', 3, { start: 0, end: 2 }],
    ['bytes=0-5242879', 0, 'unsatisfiable'],
    ['bytes=0-0', 0, 'unsatisfiable'],
    ['bytes=0-99999999999999999999999', 10, { start: 0, end: 9 }],
    ['bytes=99999999999999999999999-99999999999999999999999', 10, 'unsatisfiable'],
    // from
    ['bytes=0-', 100, { start: 0, end: 99 }],
    ['bytes=99-', 100, { start: 99, end: 99 }],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=0-', 1, { start: 0, end: 0 }],
    // suffix
    ['bytes=-1', 100, { start: 99, end: 99 }],
    ['bytes=-20', 100, { start: 80, end: 99 }],
    ['bytes=-100', 100, { start: 0, end: 99 }],
    ['bytes=-150', 100, { start: 0, end: 99 }],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=-0', 0, 'unsatisfiable'],
    ['bytes=-1', 0, 'whole'],
    ['bytes=-5242880', 0, 'whole'],
  ];
  for (const [header, size, expected] of cases) {
    it(`resolves ${header} on ${size} bytes to ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(resolve(header, size), expected);
    });
  }

  it('never yields a range outside the object, over a matrix of ranges and sizes', () => {
    const sizes = [0, 1, 2, 3, 15, 16, 17, 65535, 65536, 65537];
    const positions = [0, 1, 2, 3, 15, 16, 17, 65535, 65536, 65537, 1e9];
    for (const size of sizes) {
      for (const first of positions) {
        for (const last of positions) {
          const parsed: ParsedRange[] = [
            { kind: 'from', first },
            { kind: 'suffix', length: first },
          ];
          if (last >= first) parsed.push({ kind: 'bounded', first, last });
          for (const range of parsed) {
            const resolved = resolveRange(range, size);
            if (typeof resolved === 'string') continue;
            assert.ok(
              resolved.start >= 0 && resolved.start <= resolved.end && resolved.end < size,
              `${size}`,
            );
            assert.ok(rangeLength(resolved) >= 1);
          }
        }
      }
    }
  });

  it('refuses a size that is not a non-negative safe integer', () => {
    assert.throws(() => resolveRange({ kind: 'from', first: 0 }, -1), RangeError);
    assert.throws(() => resolveRange({ kind: 'from', first: 0 }, 1.5), RangeError);
  });
});

describe('Content-Range', () => {
  it('formats a 206 answer', () => {
    assert.equal(contentRange(0, 5242879, 104857600), 'bytes 0-5242879/104857600');
    assert.equal(contentRange(2, 2, 3), 'bytes 2-2/3');
  });

  it('formats a 416 answer', () => {
    assert.equal(unsatisfiableContentRange(0), 'bytes */0');
    assert.equal(unsatisfiableContentRange(3), 'bytes */3');
  });

  it('counts the bytes of an inclusive range', () => {
    assert.equal(rangeLength({ start: 0, end: 0 }), 1);
    assert.equal(rangeLength({ start: 80, end: 99 }), 20);
  });
});
