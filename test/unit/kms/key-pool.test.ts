import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DataKeyPool, type PoolEvent } from '../../../src/kms/key-pool.ts';
import { KeyServiceError } from '../../../src/kms/key-wrapper.ts';
import type { WrappedDataKey } from '../../../src/kms/transit.ts';

/** The pool's two inputs, under the test's control: what a batch returns and what is known of Vault. */
function harness(options: { capacity: number; version?: number }) {
  const state = {
    version: options.version ?? 1,
    healthy: true,
    sinceAnswerMs: 0,
    failWith: undefined as Error | undefined,
    batches: [] as number[],
    made: [] as Buffer[][],
    now: 0,
    events: [] as PoolEvent[],
  };
  let serial = 0;
  const pool = new DataKeyPool({
    capacity: options.capacity,
    now: () => state.now,
    trustWindowMs: 10_000,
    maxAgeMs: 60_000,
    contact: { healthy: () => state.healthy, sinceAnswerMs: () => state.sinceAnswerMs },
    onEvent: (event) => state.events.push(event),
    wrap: async (count): Promise<WrappedDataKey[]> => {
      state.batches.push(count);
      await new Promise((resolve) => setImmediate(resolve));
      if (state.failWith !== undefined) throw state.failWith;
      // A successful batch is an answer from Vault.
      state.healthy = true;
      state.sinceAnswerMs = 0;
      const keys = Array.from({ length: count }, () => ({
        plaintext: randomBytes(32),
        wrapped: `vault:v${state.version}:${serial++}`,
        keyVersion: state.version,
      }));
      state.made.push(keys.map((key) => key.plaintext));
      return keys;
    },
  });
  return { pool, state };
}

/** Lets pending batches finish: a number of event-loop turns, not a wall-clock wait, so load cannot reorder it. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};
const ZERO = Buffer.alloc(32);

describe('DataKeyPool', () => {
  it('hands out every key exactly once, across many concurrent writes', async () => {
    const { pool } = harness({ capacity: 8 });
    const keys = await Promise.all(Array.from({ length: 100 }, () => pool.take()));
    assert.equal(new Set(keys.map((key) => key.wrapped)).size, 100);
    assert.equal(new Set(keys.map((key) => key.plaintext.toString('hex'))).size, 100);
  });

  it('wraps in batches: Vault calls grow with the number of keys divided by the batch size', async () => {
    const { pool, state } = harness({ capacity: 64 });
    pool.prefill();
    await settle();
    for (let i = 0; i < 1000; i++) {
      await pool.take();
      if (i % 16 === 0) await settle();
    }
    assert.ok(state.batches.length <= 40, `${state.batches.length} batches for 1000 keys`);
    assert.ok(Math.max(...state.batches) <= 64 + 1);
  });

  it('makes a write wait for a new batch when Vault has not answered lately, and hands it a key from that batch', async () => {
    const { pool, state } = harness({ capacity: 4 });
    pool.prefill();
    await settle();
    assert.equal(pool.size, 4);
    state.healthy = false;
    const before = state.batches.length;
    const key = await pool.take();
    assert.equal(state.batches.length, before + 1, 'one batch proves Vault is there');
    assert.ok(key.wrapped.startsWith('vault:v1:'));
    assert.ok(state.events.some((event) => event.type === 'issue' && event.waited));
  });

  it('fails the write with the key service error when Vault cannot be reached, although keys are pooled', async () => {
    const { pool, state } = harness({ capacity: 4 });
    pool.prefill();
    await settle();
    state.healthy = false;
    state.failWith = new KeyServiceError('unavailable', 'connection refused');
    await assert.rejects(pool.take(), (error: unknown) => {
      assert.ok(error instanceof KeyServiceError);
      assert.equal(error.kind, 'unavailable');
      return true;
    });
    assert.equal(pool.size, 4, 'the pooled keys stay for when Vault is back');
    state.failWith = undefined;
    assert.ok((await pool.take()).wrapped.startsWith('vault:'));
  });

  it('retires pooled keys of an older Transit key version once a batch comes back under a newer one', async () => {
    const { pool, state } = harness({ capacity: 4 });
    pool.prefill();
    await settle();
    state.version = 2;
    state.healthy = false; // forces the next take through a new batch
    const key = await pool.take();
    assert.ok(key.wrapped.startsWith('vault:v2:'));
    for (let i = 0; i < 10; i++) assert.ok((await pool.take()).wrapped.startsWith('vault:v2:'));
    const rotated = state.events.find((event) => event.type === 'discard' && event.reason === 'rotated');
    assert.deepEqual(rotated, { type: 'discard', reason: 'rotated', keys: 4 });
    for (const plaintext of state.made[0] ?? []) assert.ok(plaintext.equals(ZERO), 'retired keys are zeroed');
  });

  it('drops keys older than the maximum age instead of using them, zeroed', async () => {
    const { pool, state } = harness({ capacity: 2 });
    pool.prefill();
    await settle();
    state.now = 61_000;
    const key = await pool.take();
    assert.ok(state.events.some((event) => event.type === 'discard' && event.reason === 'expired'));
    for (const plaintext of state.made[0] ?? []) assert.ok(plaintext.equals(ZERO), 'expired keys are zeroed');
    assert.ok(!key.plaintext.equals(ZERO), 'the key handed out comes from a new batch');
  });

  it('tops up in the background before Vault’s last answer leaves the trust window', async () => {
    const { pool, state } = harness({ capacity: 8 });
    pool.prefill();
    await settle();
    state.sinceAnswerMs = 6_000;
    const before = state.batches.length;
    await pool.take();
    await settle();
    assert.equal(state.batches.length, before + 1);
  });

  it('zeroes the pooled keys on close and refuses later takes', async () => {
    const { pool, state } = harness({ capacity: 3 });
    pool.prefill();
    await settle();
    const issued = await pool.take();
    pool.close();
    assert.equal(pool.size, 0);
    const pooled = (state.made[0] ?? []).filter((plaintext) => plaintext !== issued.plaintext);
    assert.equal(pooled.length, 2);
    for (const plaintext of pooled) assert.ok(plaintext.equals(ZERO), 'pooled keys are zeroed');
    assert.ok(!issued.plaintext.equals(ZERO), 'a key already handed out belongs to its writer');
    await assert.rejects(pool.take(), KeyServiceError);
  });
});
