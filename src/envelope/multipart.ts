import { Transform, type TransformCallback } from 'node:stream';
import { MAX_PART_NUMBER, PART_HEADER_SIZE, SEGMENT_SIZE } from './constants.ts';
import { EnvelopeError, isEnvelopeError } from './errors.ts';
import { decodePartHeader, type PartHeader } from './part-header.ts';
import { SegmentOpener } from './segment-opener.ts';
import { finalSegmentStoredSize, partCiphertextSize, partPlaintextSize, segmentCount } from './size.ts';
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

/** Returns the stored bytes start..endExclusive (fewer only at the end of the object). */
export type FetchStored = (start: number, endExclusive: number) => Promise<Buffer>;

const DEFAULT_CONCURRENCY = 8;

/** Calls `fn` now; a synchronous throw becomes a rejection like a failure that comes later. */
function callAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

function checkedConcurrency(concurrency: number | undefined): number {
  const value = concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`concurrency ${value} is not a positive integer`);
  }
  return value;
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
 * (PART_HEADER_INVALID, PART_ORDER, PART_UPLOAD_MISMATCH or TRUNCATED). Its headers are not
 * authenticated: authenticatePartLayout is what makes their sizes safe to use for offsets.
 */
export async function discoverPartLayout(
  storedSize: number,
  fetchHeader: FetchHeader,
  options: { concurrency?: number } = {},
): Promise<PartLayout> {
  return walkParts(storedSize, async (offset) => ({ header: await fetchHeader(offset), before: EMPTY }), {
    concurrency: checkedConcurrency(options.concurrency),
  });
}

/**
 * Locates the parts as discoverPartLayout does and authenticates every header on the way
 * (docs/FORMAT.md section 9.4): a header is the AAD of its part's segments, so opening one segment
 * of a part under the header's own DEK proves the whole header (size, part number, upload binding)
 * was written with that part. The segment opened is the part's final one, which lies directly
 * before the next part's header: one ranged request fetches "final segment of part k - 1, header of
 * part k", so N parts cost N + 1 requests (the last for the final segment of part N), and N data
 * keys, asked for `concurrency` at a time in one turn (so a batching key service makes one call of
 * each group); at most 2 x `concurrency` final segments wait for keys. A final segment that fails fails the whole layout
 * (SEGMENT_AUTH_FAILED, or TRUNCATED when the stored bytes end early), as do the failures of
 * discovery and of `dataKey`; nothing of the plaintext is released.
 *
 * `known`, a layout discovered earlier for the same stored bytes, only steers where to fetch: every
 * header is still read again and checked.
 */
export async function authenticatePartLayout(
  storedSize: number,
  fetchStored: FetchStored,
  dataKey: (part: LayoutPart) => Promise<Buffer>,
  options: { concurrency?: number; known?: PartLayout } = {},
): Promise<PartLayout> {
  const concurrency = checkedConcurrency(options.concurrency);
  // Keys are asked for `concurrency` parts at a time, in one turn of the event loop, so that a key
  // service that batches (Transit's batch_input) makes one call of them.
  const keys: PartKey[] = [];
  const unasked: PartKey[] = [];
  const askForKeys = () => {
    for (const key of unasked.splice(0)) key.ask();
  };
  const pending = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const verify = (part: LayoutPart, sealed: Buffer): void => {
    const check = (keys[part.index] as PartKey).dek
      .then((dek) => {
        try {
          openFinalSegment(part, dek, sealed);
        } finally {
          dek.fill(0);
        }
      })
      .catch((error: unknown) => {
        failure ??= { error };
      });
    pending.add(check);
    void check.finally(() => pending.delete(check));
  };
  const throwIfFailed = () => {
    if (failure !== undefined) throw failure.error;
  };

  let previous: LayoutPart | undefined;
  try {
    const layout = await walkParts(
      storedSize,
      async (offset, previousStoredSize) => {
        // Final segments wait here for their keys; fetching further ahead would only hold more of them.
        while (pending.size >= 2 * concurrency) {
          askForKeys();
          await Promise.race(pending);
        }
        throwIfFailed();
        const tail =
          previousStoredSize === undefined
            ? 0
            : finalSegmentStoredSize(partPlaintextSize(previousStoredSize));
        const bytes = await fetchStored(offset - tail, offset + PART_HEADER_SIZE);
        return { before: bytes.subarray(0, tail), header: bytes.subarray(tail) };
      },
      {
        concurrency,
        ...(options.known === undefined
          ? {}
          : { sizeGuess: (index) => options.known?.parts[index]?.storedSize }),
        onPart: (part, before) => {
          throwIfFailed();
          const key = new PartKey(() => dataKey(part));
          keys[part.index] = key;
          unasked.push(key);
          if (previous !== undefined) verify(previous, before);
          if (unasked.length >= concurrency) askForKeys();
          previous = part;
        },
      },
    );
    askForKeys();
    const last = layout.parts[layout.parts.length - 1] as LayoutPart;
    verify(last, await fetchStored(storedSize - finalSegmentStoredSize(last.plainSize), storedSize));
    while (pending.size > 0) await Promise.race(pending);
    throwIfFailed();
    return layout;
  } finally {
    // After a failure, keys not asked for yet are not asked for at all, and what waits for them ends.
    for (const key of unasked.splice(0)) key.drop();
    await Promise.allSettled(pending);
    // Keys of parts whose final segment was never checked are zeroed as well.
    for (const key of keys) key?.zero();
  }
}

/** A part's data key, asked for only when `ask` is called (so that several are asked for in one turn). */
class PartKey {
  readonly dek: Promise<Buffer>;
  #ask: () => void = () => {};
  #drop: () => void = () => {};
  #asked = false;

  constructor(fetchKey: () => Promise<Buffer>) {
    this.dek = new Promise<Buffer>((resolve, reject) => {
      this.#ask = () => callAsync(fetchKey).then(resolve, reject);
      this.#drop = () => reject(new Error('the key was not needed'));
    });
    this.dek.catch(() => {});
  }

  ask(): void {
    this.#asked = true;
    this.#ask();
  }

  drop(): void {
    this.#drop();
  }

  zero(): void {
    if (this.#asked)
      this.dek.then(
        (dek) => dek.fill(0),
        () => {},
      );
  }
}

const EMPTY = Buffer.alloc(0);

/** Opens the final sealed segment of `part` with its header as AAD, and drops the plaintext. */
function openFinalSegment(part: LayoutPart, dek: Buffer, sealed: Buffer): void {
  const size = part.plainSize;
  const window =
    size === 0 ? fullWindow(0) : planWindow(size, (segmentCount(size) - 1) * SEGMENT_SIZE, size - 1);
  const opener = new SegmentOpener({
    dek,
    nonce: part.header.nonce,
    aad: part.headerBytes,
    plaintextSize: size,
    window,
  });
  try {
    if (sealed.length !== opener.storedLength) {
      throw new EnvelopeError(
        'TRUNCATED',
        `part ${part.index + 1}: its final segment needs ${opener.storedLength} stored bytes, got ${sealed.length}`,
      );
    }
    try {
      opener.write(sealed, 0, () => {});
      opener.takeHeld().fill(0);
    } catch (error) {
      if (!isEnvelopeError(error)) throw error;
      throw new EnvelopeError(error.code, `part ${part.index + 1}: ${error.message}`);
    }
  } finally {
    opener.dispose();
  }
}

/** What the walk reads at a part's offset: the header there, and what the caller fetched before it. */
type Probe = { header: Buffer; before: Buffer };

type WalkOptions = {
  concurrency: number;
  /** The stored size to expect of the part at `index` (0-based); default: the size of the last part located. */
  sizeGuess?: (index: number) => number | undefined;
  /** Called in order for every part located, with what its probe fetched before its header. */
  onPart?: (part: LayoutPart, before: Buffer) => void;
};

/**
 * The walk of discoverPartLayout. `probe(offset, previousStoredSize)` is called at every offset where a
 * header is expected, with the stored size the part before it is assumed to have (undefined for part
 * 1); its result is used only if that assumption held.
 */
async function walkParts(
  storedSize: number,
  probe: (offset: number, previousStoredSize: number | undefined) => Promise<Probe>,
  options: WalkOptions,
): Promise<PartLayout> {
  if (!Number.isSafeInteger(storedSize) || storedSize < 0) {
    throw new RangeError(`stored size ${storedSize} is not a non-negative integer`);
  }
  const { concurrency } = options;

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
  const located = (probed: Probe, storedOffset: number): LayoutPart => {
    const part = accept(probed.header, storedOffset);
    options.onPart?.(part, probed.before);
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
  const firstPart = located(await probe(0, undefined), 0);

  let next = firstPart.storedSize;
  let window = concurrency;
  let launchAt = next;
  let launchAfter = firstPart.storedSize;
  const guess = (index: number) =>
    options.sizeGuess?.(index) ?? (parts[parts.length - 1] as LayoutPart).storedSize;
  // Probes in offset order, each at the offset the walk reaches if every size before it was guessed right.
  const queue: Array<{ probed: Promise<Probe>; guessedSize: number }> = [];
  while (next < storedSize) {
    while (queue.length < window && fits(launchAt) && parts.length + queue.length < MAX_PART_NUMBER) {
      const offset = launchAt;
      const previousStoredSize = launchAfter;
      const probed = callAsync(() => probe(offset, previousStoredSize));
      // A guessed offset may turn out wrong and never be awaited; its failure must not go unhandled.
      probed.catch(() => {});
      const guessedSize = guess(parts.length + queue.length);
      queue.push({ probed, guessedSize });
      launchAt += guessedSize;
      launchAfter = guessedSize;
    }
    const pending = queue.shift();
    if (pending === undefined) throw cannotContinue(next);
    const part = located(await pending.probed, next);
    next += part.storedSize;
    if (part.storedSize === pending.guessedSize) {
      window = Math.min(concurrency, window * 2);
      continue;
    }
    // The probes launched beyond this one were placed by a size that did not hold.
    await Promise.allSettled(queue.splice(0).map((entry) => entry.probed));
    launchAt = next;
    launchAfter = part.storedSize;
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

/** Parts whose keys are asked for together while reading (their plaintext keys are held until used). */
export const KEY_WINDOW = 32;

export type MultipartOpenOptions = {
  layout: PartLayout;
  start: number;
  endInclusive: number;
  /**
   * The part's unwrapped DEK. Called once per part read, ahead of the part: for KEY_WINDOW parts at a time,
   * in one turn of the event loop, the next window while the last part of the current one streams. The
   * stream zeroes the buffer when done with the part (or when it ends early), so return one it may own.
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
    this.#requestKeysFrom(0);
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
        this.#requestKeysFrom(this.#step + 1);
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

  /**
   * Asks for the keys of KEY_WINDOW parts from `step` on, unless `step`'s is asked for already: asked in one
   * turn, they go to Transit as one batch, so a cold read of many parts costs a call per window, not per part.
   */
  #requestKeysFrom(step: number): void {
    if (this.#keyRequests[step] !== undefined) return;
    for (let ahead = step; ahead < Math.min(step + KEY_WINDOW, this.#steps.length); ahead++) {
      this.#requestKey(ahead);
    }
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
