import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyServiceError } from '../../../src/kms/key-wrapper.ts';
import { MAX_BATCH, type UnwrapResult } from '../../../src/kms/transit.ts';
import { UnwrapBatcher } from '../../../src/kms/unwrap-batch.ts';

/** An unwrapMany that records its batches and answers each key with its own name as bytes. */
function recorder(refuse: ReadonlySet<string> = new Set()) {
  const batches: string[][] = [];
  const unwrapMany = async (wrapped: readonly string[]): Promise<UnwrapResult[]> => {
    batches.push([...wrapped]);
    return wrapped.map((key) =>
      refuse.has(key)
        ? { ok: false, error: new KeyServiceError('rejected', `refused ${key}`) }
        : { ok: true, key: Buffer.from(key) },
    );
  };
  return { batches, unwrapMany };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('UnwrapBatcher', () => {
  it('sends the unwraps asked for in one turn as one batch and gives each caller its own key', async () => {
    const { batches, unwrapMany } = recorder();
    const batcher = new UnwrapBatcher(unwrapMany);
    const keys = await Promise.all(['a', 'b', 'c'].map((name) => batcher.unwrap(name)));
    assert.deepEqual(batches, [['a', 'b', 'c']]);
    assert.deepEqual(
      keys.map((key) => key.toString()),
      ['a', 'b', 'c'],
    );
  });

  it('sends unwraps of different turns in different batches', async () => {
    const { batches, unwrapMany } = recorder();
    const batcher = new UnwrapBatcher(unwrapMany);
    const first = batcher.unwrap('a');
    await nextTurn();
    await Promise.all([first, batcher.unwrap('b')]);
    assert.deepEqual(batches, [['a'], ['b']]);
  });

  it('splits more than MAX_BATCH keys into batches of at most MAX_BATCH', async () => {
    const { batches, unwrapMany } = recorder();
    const batcher = new UnwrapBatcher(unwrapMany);
    const names = Array.from({ length: MAX_BATCH + 10 }, (_, i) => `key-${i}`);
    await Promise.all(names.map((name) => batcher.unwrap(name)));
    assert.deepEqual(
      batches.map((batch) => batch.length),
      [MAX_BATCH, 10],
    );
  });

  it('fails only the caller whose key was refused, and every caller of a batch whose call failed', async () => {
    const { unwrapMany } = recorder(new Set(['bad']));
    const batcher = new UnwrapBatcher(unwrapMany);
    const [good, bad] = await Promise.allSettled([batcher.unwrap('good'), batcher.unwrap('bad')]);
    assert.equal(good.status, 'fulfilled');
    assert.ok(bad.status === 'rejected' && bad.reason instanceof KeyServiceError);

    const down = new KeyServiceError('unavailable', 'Vault is down');
    const failing = new UnwrapBatcher(async () => {
      throw down;
    });
    const outcomes = await Promise.allSettled([failing.unwrap('x'), failing.unwrap('y')]);
    assert.deepEqual(
      outcomes.map((outcome) => (outcome.status === 'rejected' ? outcome.reason : undefined)),
      [down, down],
    );
  });
});
