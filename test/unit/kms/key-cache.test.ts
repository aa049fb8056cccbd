import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, mock } from 'node:test';
import { UnwrapCache } from '../../../src/kms/key-cache.ts';
import { KeyServiceError } from '../../../src/kms/key-wrapper.ts';

const ZERO = Buffer.alloc(32);

function harness(options: { maxEntries?: number; ttlMs?: number; now?: () => number } = {}) {
  const calls: string[] = [];
  const given = new Map<string, Buffer[]>();
  const lookups: string[] = [];
  let fail: Error | undefined;
  const cache = new UnwrapCache({
    maxEntries: options.maxEntries ?? 100,
    ttlMs: options.ttlMs ?? 60_000,
    onLookup: (result) => lookups.push(result),
    ...(options.now === undefined ? {} : { now: options.now }),
    unwrap: async (wrapped) => {
      calls.push(wrapped);
      await new Promise((resolve) => setImmediate(resolve));
      if (fail !== undefined) throw fail;
      const key = randomBytes(32);
      given.set(wrapped, [...(given.get(wrapped) ?? []), key]);
      return Buffer.from(key);
    },
  });
  return {
    cache,
    calls,
    lookups,
    given,
    failWith: (error: Error | undefined) => {
      fail = error;
    },
  };
}

describe('UnwrapCache', () => {
  it('asks the key service once per wrapped key, however often and however concurrently it is read', async () => {
    const { cache, calls, lookups } = harness();
    const first = await Promise.all(Array.from({ length: 10 }, () => cache.get('vault:v1:a')));
    const later = await cache.get('vault:v1:a');
    assert.deepEqual(calls, ['vault:v1:a']);
    for (const key of [...first, later]) assert.ok(key.equals(later));
    assert.deepEqual(
      lookups.filter((result) => result === 'miss'),
      ['miss'],
    );
    assert.equal(lookups.length, 11);
  });

  it('gives every reader its own copy, so that a reader zeroing its key does not touch the cache or others', async () => {
    const { cache } = harness();
    const [one, two] = await Promise.all([cache.get('vault:v1:a'), cache.get('vault:v1:a')]);
    assert.ok(one !== undefined && two !== undefined);
    const expected = Buffer.from(one);
    one.fill(0);
    assert.ok(two.equals(expected));
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok((await cache.get('vault:v1:a')).equals(expected));
  });

  it('keeps at most maxEntries keys, dropping the least recently used', async () => {
    const { cache, calls } = harness({ maxEntries: 2 });
    await cache.get('a');
    await cache.get('b');
    await cache.get('a');
    await cache.get('c');
    assert.equal(cache.size, 2);
    await cache.get('a');
    await cache.get('b');
    assert.deepEqual(calls, ['a', 'b', 'c', 'b']);
  });

  it('forgets a key after its TTL, counted from the unwrap and not refreshed by reads', async () => {
    mock.timers.enable({ apis: ['Date', 'setInterval'], now: 1_000_000 });
    try {
      const { cache, calls } = harness({ ttlMs: 1_000, now: Date.now });
      await cache.get('a');
      mock.timers.tick(600);
      await cache.get('a');
      mock.timers.tick(600);
      await cache.get('a');
      assert.deepEqual(calls, ['a', 'a']);
      cache.clear();
    } finally {
      mock.timers.reset();
    }
  });

  it('zeroes its own copy of a key when it drops it: evicted, expired unread, or cleared', async () => {
    mock.timers.enable({ apis: ['Date', 'setInterval'], now: 1_000_000 });
    const originalFrom = Buffer.from;
    let copies: Buffer[] = [];
    // The cache's copy is the first Buffer.from(<32-byte key>) of each miss; the reader's copy comes next.
    const spy = mock.method(Buffer, 'from', (...args: Parameters<typeof Buffer.from>) => {
      const made = (originalFrom as (...a: unknown[]) => Buffer)(...args);
      if (Buffer.isBuffer(args[0]) && made.length === 32) copies.push(made);
      return made;
    });
    const cacheCopyOf = async (cache: UnwrapCache, wrapped: string): Promise<Buffer> => {
      copies = [];
      await cache.get(wrapped);
      assert.equal(copies.length, 2);
      return copies[0] as Buffer;
    };
    try {
      const cache = new UnwrapCache({
        maxEntries: 2,
        ttlMs: 4_000,
        unwrap: async () => randomBytes(32),
        now: Date.now,
      });
      const a = await cacheCopyOf(cache, 'a');
      const b = await cacheCopyOf(cache, 'b');
      assert.ok(!a.equals(ZERO) && !b.equals(ZERO));
      const c = await cacheCopyOf(cache, 'c');
      assert.ok(a.equals(ZERO), 'evicted');
      mock.timers.tick(5_000);
      assert.equal(cache.size, 0);
      assert.ok(b.equals(ZERO) && c.equals(ZERO), 'expired');
      const d = await cacheCopyOf(cache, 'd');
      cache.clear();
      assert.ok(d.equals(ZERO), 'cleared');
    } finally {
      spy.mock.restore();
      mock.timers.reset();
    }
  });

  it('caches no failure: the next read asks again', async () => {
    const { cache, calls, failWith } = harness();
    failWith(new KeyServiceError('unavailable', 'down'));
    await assert.rejects(cache.get('a'), KeyServiceError);
    failWith(undefined);
    await cache.get('a');
    assert.deepEqual(calls, ['a', 'a']);
  });
});
