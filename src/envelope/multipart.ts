import { Transform, type TransformCallback } from 'node:stream';
import { MAX_PART_NUMBER, PART_HEADER_SIZE } from './constants.ts';
import { EnvelopeError, isEnvelopeError } from './errors.ts';
import { decodePartHeader, type PartHeader } from './part-header.ts';
import { SegmentOpener } from './segment-opener.ts';
import { partCiphertextSize } from './size.ts';
import { fullWindow, planWindow, type SegmentWindow } from './window.ts';

/** One part of a multipart object, located by discoverPartLayout. */
export type LayoutPart = {
  /** 0-based position in the body; the part's number is index + 1. */
  index: number;
  header: PartHeader;
  /** The 256 stored header bytes: the AAD of the part's segments. */
  headerBytes: Buffer;
  storedOffset: number;
  /** 256 + C(plainSize). */
  storedSize: number;
  plainOffset: number;
  plainSize: number;
};

export type PartLayout = { parts: ReadonlyArray<LayoutPart>; storedSize: number; plainSize: number };

/** Returns up to 256 stored bytes from `storedOffset` (fewer only at the end of the object). */
export type FetchHeader = (storedOffset: number) => Promise<Buffer>;

const DEFAULT_CONCURRENCY = 8;

/** Calls `fn` now; a synchronous throw becomes a rejection like a failure that comes later. */
function callAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Finds every part header of a multipart object of `storedSize` stored bytes without reading a part
 * body (docs/FORMAT.md section 9.4). Part 1's header is read first; the others are guessed to follow
 * at multiples of part 1's stored size (SDKs upload equal parts) and fetched in parallel, at most
 * `concurrency` at a time. A header that says another size ends the guess: from there the walk
 * continues at the offset that header implies, guessing its size, one request ahead at first and more
 * as guesses hold. So N equal parts cost N requests; each change of part size wastes at most
 * `concurrency - 1`.
 *
 * The layout is accepted only if every header decodes, the k-th carries part number k, all carry part
 * 1's upload binding, and the parts end exactly at storedSize; otherwise an EnvelopeError
 * (PART_HEADER_INVALID, PART_ORDER, PART_UPLOAD_MISMATCH or TRUNCATED). Headers are authenticated only
 * later, by the segments that use them as AAD.
 */
export async function discoverPartLayout(
  storedSize: number,
  fetchHeader: FetchHeader,
  options: { concurrency?: number } = {},
): Promise<PartLayout> {
  if (!Number.isSafeInteger(storedSize) || storedSize < 0) {
    throw new RangeError(`stored size ${storedSize} is not a non-negative integer`);
  }
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency ${concurrency} is not a positive integer`);
  }

  const parts: LayoutPart[] = [];
  let plainOffset = 0;
  const accept = (bytes: Buffer, storedOffset: number): LayoutPart => {
    const header = decodePartHeader(bytes);
    const position = parts.length + 1;
    if (header.partNumber !== position) {
      throw new EnvelopeError(
        'PART_ORDER',
        `part ${position} of the body carries part number ${header.partNumber}`,
      );
    }
    const first = parts[0];
    if (first && !header.uploadBinding.equals(first.header.uploadBinding)) {
      throw new EnvelopeError(
        'PART_UPLOAD_MISMATCH',
        `part ${position} belongs to another upload than part 1`,
      );
    }
    const size = partCiphertextSize(header.plaintextSize);
    if (storedOffset + size > storedSize) {
      throw new EnvelopeError(
        'TRUNCATED',
        `part ${position} needs ${size} stored bytes from ${storedOffset}, the object has ${storedSize}`,
      );
    }
    const part: LayoutPart = {
      index: parts.length,
      header,
      headerBytes: Buffer.from(bytes.subarray(0, PART_HEADER_SIZE)),
      storedOffset,
      storedSize: size,
      plainOffset,
      plainSize: header.plaintextSize,
    };
    parts.push(part);
    plainOffset += header.plaintextSize;
    return part;
  };
  const fits = (offset: number) => offset + PART_HEADER_SIZE <= storedSize;
  const cannotContinue = (offset: number): EnvelopeError =>
    parts.length >= MAX_PART_NUMBER && fits(offset)
      ? new EnvelopeError('PART_ORDER', `the body continues after part ${MAX_PART_NUMBER}`)
      : new EnvelopeError(
          'TRUNCATED',
          `stored data ends ${storedSize - offset} bytes after part ${parts.length}, inside a part header`,
        );

  if (!fits(0)) throw cannotContinue(0);
  const firstPart = accept(await fetchHeader(0), 0);

  let next = firstPart.storedSize;
  let guess = firstPart.storedSize;
  let window = concurrency;
  let launchAt = next;
  // Header fetches in offset order, each at the offset the walk reaches if every size before it was `guess`.
  const queue: Array<Promise<Buffer>> = [];
  while (next < storedSize) {
    while (queue.length < window && fits(launchAt) && parts.length + queue.length < MAX_PART_NUMBER) {
      const offset = launchAt;
      const bytes = callAsync(() => fetchHeader(offset));
      // A guessed offset may turn out wrong and never be awaited; its failure must not go unhandled.
      bytes.catch(() => {});
      queue.push(bytes);
      launchAt += guess;
    }
    const pending = queue.shift();
    if (pending === undefined) throw cannotContinue(next);
    const part = accept(await pending, next);
    next += part.storedSize;
    if (part.storedSize === guess) {
      window = Math.min(concurrency, window * 2);
      continue;
    }
    // The headers fetched beyond this one were guessed from a size that no longer holds.
    await Promise.allSettled(queue.splice(0));
    guess = part.storedSize;
    launchAt = next;
    window = 1;
  }
  return { parts, storedSize, plainSize: plainOffset };
}

type ReadStep = { part: LayoutPart; headerInline: boolean; window: SegmentWindow };
type ReadPlan = { steps: ReadStep[]; cipherStart: number; cipherEndInclusive: number };

/** The first part whose plaintext ends after `position`; empty parts end where they start. */
function partContaining(parts: ReadonlyArray<LayoutPart>, position: number): number {
  let low = 0;
  let high = parts.length - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const part = parts[middle] as LayoutPart;
    if (part.plainOffset + part.plainSize > position) high = middle;
    else low = middle + 1;
  }
  return low;
}

function planSteps(layout: PartLayout, start: number, endInclusive: number): ReadPlan {
  const parts = layout.parts;
  if (parts.length === 0) throw new RangeError('a part layout has at least one part');
  if (start === 0 && endInclusive === layout.plainSize - 1) {
    // The whole object, which is also how an empty one is read: every header inline, from byte 0.
    return {
      steps: parts.map((part) => ({ part, headerInline: true, window: fullWindow(part.plainSize) })),
      cipherStart: 0,
      cipherEndInclusive: layout.storedSize - 1,
    };
  }
  if (
    !Number.isSafeInteger(start) ||
    !Number.isSafeInteger(endInclusive) ||
    start < 0 ||
    start > endInclusive ||
    endInclusive >= layout.plainSize
  ) {
    throw new RangeError(`plaintext range ${start}-${endInclusive} is not within 0..${layout.plainSize - 1}`);
  }
  const first = partContaining(parts, start);
  const last = partContaining(parts, endInclusive);
  const steps: ReadStep[] = [];
  for (let i = first; i <= last; i++) {
    const part = parts[i] as LayoutPart;
    const window =
      part.plainSize === 0
        ? fullWindow(0)
        : planWindow(
            part.plainSize,
            Math.max(start, part.plainOffset) - part.plainOffset,
            Math.min(endInclusive, part.plainOffset + part.plainSize - 1) - part.plainOffset,
          );
    steps.push({ part, headerInline: i !== first, window });
  }
  const head = steps[0] as ReadStep;
  const tail = steps[steps.length - 1] as ReadStep;
  return {
    steps,
    cipherStart: head.part.storedOffset + PART_HEADER_SIZE + head.window.cipherStart,
    cipherEndInclusive: tail.part.storedOffset + PART_HEADER_SIZE + tail.window.cipherEndInclusive,
  };
}

/**
 * The stored bytes to fetch for plaintext bytes start..endInclusive of a multipart object: from the
 * first needed segment of the first part involved (its header is in the layout already) through the
 * last needed segment of the last part, with the headers of the parts in between inline. The whole
 * object (start = 0, endInclusive = plainSize - 1, so 0..-1 for an empty object) is read from stored
 * byte 0, headers included.
 */
export function planMultipartRead(
  layout: PartLayout,
  start: number,
  endInclusive: number,
): { cipherStart: number; cipherEndInclusive: number } {
  const { cipherStart, cipherEndInclusive } = planSteps(layout, start, endInclusive);
  return { cipherStart, cipherEndInclusive };
}

export type MultipartOpenOptions = {
  layout: PartLayout;
  start: number;
  endInclusive: number;
  /**
   * The part's unwrapped DEK. Called once per part read, for the next part while the current one
   * streams. The stream zeroes the buffer when done with the part, so return one the stream may own.
   */
  dataKey: (part: LayoutPart) => Promise<Buffer>;
};

/**
 * The stored bytes planMultipartRead names in, verified plaintext start..endInclusive out. Each part
 * is opened by the shared SegmentOpener with its own DEK and its header as AAD; every header met inline
 * must equal the layout's (else PART_LAYOUT_CHANGED: the object changed since discovery). The final
 * segment of each part is held until the next header has checked, the last one until the input has
 * ended exactly where planned (TRUNCATED, TRAILING_DATA), so nothing unverified is released and a
 * failure never looks like a complete read.
 */
export function createMultipartOpenStream(options: MultipartOpenOptions): Transform {
  return new MultipartOpenStream(options);
}

class MultipartOpenStream extends Transform {
  readonly #steps: ReadStep[];
  readonly #expectedStored: number;
  readonly #dataKey: (part: LayoutPart) => Promise<Buffer>;
  /** Per step: the request for its key, and the key once it arrived. */
  readonly #keyRequests: Array<Promise<Buffer> | undefined> = [];
  readonly #keys: Array<Buffer | undefined> = [];
  readonly #headerBuffer = Buffer.alloc(PART_HEADER_SIZE);
  readonly #release = (plaintext: Buffer) => {
    this.push(plaintext);
  };
  #headerFilled = 0;
  #step = 0;
  #phase: 'header' | 'segments' | 'done';
  #opener: SegmentOpener | undefined;
  #held: Buffer | undefined;
  #received = 0;

  constructor(options: MultipartOpenOptions) {
    super();
    const plan = planSteps(options.layout, options.start, options.endInclusive);
    this.#steps = plan.steps;
    this.#expectedStored = plan.cipherEndInclusive - plan.cipherStart + 1;
    this.#dataKey = options.dataKey;
    this.#phase = (plan.steps[0] as ReadStep).headerInline ? 'header' : 'segments';
    this.#requestKey(0);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#process(chunk, 0, callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#phase !== 'done') {
      callback(
        new EnvelopeError(
          'TRUNCATED',
          `stored data ended after ${this.#received} of the expected ${this.#expectedStored} bytes`,
        ),
      );
      return;
    }
    this.#releaseHeld();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#endPart();
    this.#held = undefined;
    for (let step = this.#step; step < this.#steps.length; step++) {
      this.#keys[step]?.fill(0);
      this.#keyRequests[step]?.then(
        (key) => key.fill(0),
        () => {},
      );
    }
    callback(error);
  }

  /** Synchronous while keys are at hand (the usual case); waits only for a key still on its way. */
  #process(chunk: Buffer, offset: number, callback: TransformCallback): void {
    let stoppedAt: number;
    try {
      stoppedAt = this.#consume(chunk, offset);
    } catch (error) {
      callback(error as Error);
      return;
    }
    if (stoppedAt === chunk.length) {
      callback();
      return;
    }
    (this.#requestKey(this.#step) as Promise<Buffer>).then(
      () => {
        if (!this.destroyed) this.#process(chunk, stoppedAt, callback);
      },
      (error: unknown) => callback(error as Error),
    );
  }

  /** Consumes from `offset`; returns chunk.length, or where it stopped to wait for the current part's key. */
  #consume(chunk: Buffer, offset: number): number {
    while (offset < chunk.length) {
      if (this.#phase === 'done') {
        throw new EnvelopeError(
          'TRAILING_DATA',
          `stored data continues after the expected ${this.#expectedStored} bytes`,
        );
      }
      const step = this.#steps[this.#step] as ReadStep;
      if (this.#phase === 'header') {
        const take = Math.min(PART_HEADER_SIZE - this.#headerFilled, chunk.length - offset);
        chunk.copy(this.#headerBuffer, this.#headerFilled, offset, offset + take);
        this.#headerFilled += take;
        this.#received += take;
        offset += take;
        if (this.#headerFilled < PART_HEADER_SIZE) continue;
        if (!this.#headerBuffer.equals(step.part.headerBytes)) {
          throw new EnvelopeError(
            'PART_LAYOUT_CHANGED',
            `the header of part ${step.part.index + 1} differs from the one located before reading`,
          );
        }
        this.#headerFilled = 0;
        this.#releaseHeld();
        this.#phase = 'segments';
        continue;
      }
      if (this.#opener === undefined) {
        const key = this.#keys[this.#step];
        if (key === undefined) return offset;
        this.#opener = new SegmentOpener({
          dek: key,
          nonce: step.part.header.nonce,
          aad: step.part.headerBytes,
          plaintextSize: step.part.plainSize,
          window: step.window,
        });
        this.#requestKey(this.#step + 1);
      }
      const opener = this.#opener;
      let used: number;
      try {
        used = opener.write(chunk, offset, this.#release);
      } catch (error) {
        if (!isEnvelopeError(error)) throw error;
        throw new EnvelopeError(error.code, `part ${step.part.index + 1}: ${error.message}`);
      }
      this.#received += used;
      offset += used;
      if (!opener.done) continue;
      this.#held = opener.takeHeld();
      this.#endPart();
      this.#step += 1;
      this.#phase = this.#step < this.#steps.length ? 'header' : 'done';
    }
    return offset;
  }

  /** Done with the current part: its opener's buffer and its key are zeroed. */
  #endPart(): void {
    this.#opener?.dispose();
    this.#opener = undefined;
    this.#keys[this.#step]?.fill(0);
    this.#keys[this.#step] = undefined;
  }

  #requestKey(step: number): Promise<Buffer> | undefined {
    const planned = this.#steps[step];
    if (planned === undefined) return undefined;
    const existing = this.#keyRequests[step];
    if (existing) return existing;
    const request = callAsync(() => this.#dataKey(planned.part)).then((key) => {
      if (this.destroyed || step < this.#step) key.fill(0);
      else this.#keys[step] = key;
      return key;
    });
    // Fetched ahead; if the stream fails before it is needed, nobody awaits it.
    request.catch(() => {});
    this.#keyRequests[step] = request;
    return request;
  }

  #releaseHeld(): void {
    if (this.#held !== undefined && this.#held.length > 0) this.push(this.#held);
    this.#held = undefined;
  }
}
