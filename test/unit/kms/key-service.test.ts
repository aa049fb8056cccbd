import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { VaultKeyService } from '../../../src/kms/key-service.ts';
import { KeyServiceError } from '../../../src/kms/key-wrapper.ts';
import type { TransitKeyWrapper, UnwrapResult, WrappedDataKey } from '../../../src/kms/transit.ts';
import { StaticTokenAuth } from '../../../src/kms/vault-auth.ts';
import { VaultContact } from '../../../src/kms/vault-client.ts';

/**
 * The key service in front of a Transit whose calls the test answers by hand (`release`), so that a
 * Vault that stays silent, and one that answers late, can be played exactly.
 */
function harness(options: { poolSize: number; keyTimeoutMs: number; cache?: boolean }) {
  const pending: Array<() => void> = [];
  const handed: Buffer[] = [];
  const wrapNewKeys = (count: number) =>
    new Promise<WrappedDataKey[]>((resolve) => {
      pending.push(() => {
        const keys = Array.from({ length: count }, (_, i) => ({
          plaintext: randomBytes(32),
          wrapped: `vault:v1:${handed.length + i}`,
          keyVersion: 1,
        }));
        handed.push(...keys.map((key) => key.plaintext));
        resolve(keys);
      });
    });
  const transit = {
    wrapNewKeys,
    newDataKey: async () => (await wrapNewKeys(1))[0] as WrappedDataKey,
    // Reads go through the batcher, which asks for every key of a turn at once.
    unwrapKeys: (wrapped: readonly string[]) =>
      new Promise<UnwrapResult[]>((resolve) => {
        pending.push(() => {
          const keys = wrapped.map(() => randomBytes(32));
          handed.push(...keys);
          resolve(keys.map((key) => ({ ok: true, key })));
        });
      }),
  } as unknown as TransitKeyWrapper;
  const contact = new VaultContact();
  contact.answered();
  const keys = new VaultKeyService({
    transit,
    auth: new StaticTokenAuth('token'),
    contact,
    poolSize: options.poolSize,
    keyTimeoutMs: options.keyTimeoutMs,
    cache: { enabled: options.cache ?? false, maxEntries: 10, ttlMs: 60_000 },
  });
  const release = () => {
    for (const answer of pending.splice(0)) answer();
  };
  return { keys, contact, handed, release };
}

const ZERO = Buffer.alloc(32);
const unavailable = (error: unknown) =>
  error instanceof KeyServiceError &&
  error.kind === 'unavailable' &&
  /CLOUDTASER_S3PROXY_KEY_TIMEOUT/.test(error.message);

describe('VaultKeyService with a silent Vault', () => {
  for (const poolSize of [0, 4]) {
    it(`fails a write as unavailable once the key timeout passes (pool size ${poolSize}), and no key is left with the request that gave up`, async () => {
      const { keys, contact, handed, release } = harness({ poolSize, keyTimeoutMs: 50 });
      const started = performance.now();
      await assert.rejects(keys.newDataKey(), unavailable);
      assert.ok(performance.now() - started < 1_000);
      assert.equal(
        contact.healthy(60_000),
        false,
        'Vault counts as in trouble: pooled keys wait for its answer',
      );
      release();
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (poolSize === 0) assert.ok(handed[0]?.equals(ZERO), 'the late key is zeroed');
      else
        assert.ok(
          handed.length > 0 && handed.every((key) => !key.equals(ZERO)),
          'no pooled key is taken for the request that gave up: the late batch stays in the pool',
        );
      keys.close();
    });
  }

  it('fails a read of a key not cached as unavailable once the key timeout passes', async () => {
    const { keys, handed, release } = harness({ poolSize: 0, keyTimeoutMs: 50 });
    await assert.rejects(keys.unwrapKey('vault:v1:x'), unavailable);
    release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(handed[0]?.equals(ZERO), 'the late key is zeroed');
  });

  it('serves a cached key however silent Vault is, and a late unwrap still fills the cache', async () => {
    const { keys, release } = harness({ poolSize: 0, keyTimeoutMs: 50, cache: true });
    const first = keys.unwrapKey('vault:v1:x');
    // The batcher sends the unwraps of a turn together, one turn later.
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const key = await first;
    // Vault falls silent: nothing is released any more.
    const again = await keys.unwrapKey('vault:v1:x');
    assert.ok(again.equals(key));
    await assert.rejects(keys.unwrapKey('vault:v1:y'), unavailable);
    release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const late = keys.unwrapKey('vault:v1:y');
    assert.equal((await late).length, 32, 'the unwrap that came late is served from the cache');
    keys.close();
  });

  it('hands out the key when Vault answers within the timeout', async () => {
    const { keys, release } = harness({ poolSize: 0, keyTimeoutMs: 5_000 });
    const pending = keys.newDataKey();
    setTimeout(release, 20);
    const key = await pending;
    assert.notDeepEqual(key.plaintext, ZERO);
    assert.match(key.wrapped, /^vault:v1:/);
  });
});
