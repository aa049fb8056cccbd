import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTransitKeyMapping, TransitKeyMap, transitKeyRef } from '../../../src/config/transit-keys.ts';
import { KeyRing } from '../../../src/kms/key-ring.ts';
import { KeyServiceError, type KeyWrapper } from '../../../src/kms/key-wrapper.ts';

/** A key service that records which key was asked; its "wrapped" keys name the key, so a mix-up shows. */
function fakeService(ref: string, calls: string[], fail?: KeyServiceError): KeyWrapper {
  return {
    newDataKey: async () => {
      calls.push(`wrap ${ref}`);
      if (fail) throw fail;
      return { plaintext: Buffer.alloc(32, 1), wrapped: `vault:v1:${ref}` };
    },
    unwrapKey: async (wrapped) => {
      calls.push(`unwrap ${ref} ${wrapped}`);
      if (fail) throw fail;
      return Buffer.alloc(32, 2);
    },
    checkReady: async () => {
      calls.push(`ready ${ref}`);
      if (fail) throw fail;
    },
  };
}

function ring(raw: string, failing: Record<string, KeyServiceError> = {}) {
  const parsed = parseTransitKeyMapping(raw);
  assert.ok(parsed.ok);
  const calls: string[] = [];
  const keys = new KeyRing(new TransitKeyMap({ mount: 'transit', key: 'default' }, parsed.value), (name) =>
    fakeService(transitKeyRef(name), calls, failing[transitKeyRef(name)]),
  );
  return { keys, calls };
}

describe('KeyRing', () => {
  it('wraps with the key of the location and names it for the object to record', async () => {
    const { keys, calls } = ring('bucket-a=key-a');
    const write = keys.forWrite('bucket-a', 'o');
    assert.equal(write.transitKey, 'transit/key-a');
    await write.keys.newDataKey();
    assert.equal(keys.forWrite('bucket-c', 'o').transitKey, 'transit/default');
    assert.deepEqual(calls, ['wrap transit/key-a']);
  });

  it('unwraps with the recorded key where the location accepts it, and refuses before any Vault call otherwise', async () => {
    const { keys, calls } = ring('bucket-a=key-a,bucket-b=key-b');
    await keys.forRead('bucket-a', 'o', 'transit/key-a').unwrapKey('w');
    assert.throws(
      () => keys.forRead('bucket-a', 'moved', 'transit/key-b'),
      (error: unknown) =>
        error instanceof KeyServiceError &&
        error.kind === 'denied' &&
        /does not accept for bucket-a/.test(error.clientMessage ?? ''),
    );
    assert.throws(
      () => keys.forRead('bucket-a', 'o', 'transit/unknown'),
      (error: unknown) =>
        error instanceof KeyServiceError && /not configured with/.test(error.clientMessage ?? ''),
    );
    assert.deepEqual(calls, ['unwrap transit/key-a w']);
  });

  it("names the Transit key in a failure of that key's service", async () => {
    const { keys } = ring('bucket-b=key-b', {
      'transit/key-b': new KeyServiceError('denied', 'Vault transit/decrypt/key-b: permission denied'),
    });
    await assert.rejects(keys.forRead('bucket-b', 'o', 'transit/key-b').unwrapKey('w'), (error: unknown) => {
      assert.ok(error instanceof KeyServiceError);
      assert.equal(error.kind, 'denied');
      assert.equal(error.transitKey, 'transit/key-b');
      return true;
    });
  });

  it('is ready only when every configured key is, and names each failing key', async () => {
    const { keys, calls } = ring('bucket-a=key-a,bucket-b=key-b', {
      'transit/key-b': new KeyServiceError('denied', 'permission denied'),
    });
    await assert.rejects(keys.checkReady(), /Transit key transit\/key-b: permission denied/);
    assert.deepEqual(calls.sort(), ['ready transit/default', 'ready transit/key-a', 'ready transit/key-b']);
  });
});
