import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKeyServices, type KeyServices } from '../../src/cli/wiring.ts';
import { loadConfig } from '../../src/config/index.ts';
import { KeyServiceError } from '../../src/kms/key-wrapper.ts';
import { MAX_BATCH } from '../../src/kms/transit.ts';
import { proxyEnv } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';

/** Unwrapping many data keys at once (a multipart object has one per part), against the real OpenBao. */
describe('Transit unwraps many data keys in one batch call', () => {
  let services: KeyServices;
  const calls: string[] = [];

  before(async () => {
    const state = await useServices();
    const loaded = loadConfig(proxyEnv(state, { listenAddr: '127.0.0.1:0', healthAddr: '127.0.0.1:0' }));
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    services = createKeyServices(loaded.config, { onVaultCall: (call) => calls.push(call.path) });
  });
  after(async () => {
    services?.keys.close();
    await services?.vault.close();
  });

  const decryptCalls = () => calls.filter((path) => path.includes('/decrypt/')).length;

  it(`unwraps ${MAX_BATCH + 44} keys in two decrypt calls, each into the key that was wrapped`, async () => {
    const wrapped = [
      ...(await services.transit.wrapNewKeys(MAX_BATCH)),
      ...(await services.transit.wrapNewKeys(44)),
    ];
    const before = decryptCalls();
    const results = [
      ...(await services.transit.unwrapKeys(wrapped.slice(0, MAX_BATCH).map((key) => key.wrapped))),
      ...(await services.transit.unwrapKeys(wrapped.slice(MAX_BATCH).map((key) => key.wrapped))),
    ];
    assert.equal(decryptCalls() - before, 2);
    assert.equal(results.length, wrapped.length);
    for (const [i, result] of results.entries()) {
      assert.ok(result.ok, `key ${i}`);
      assert.ok(result.key.equals(wrapped[i]?.plaintext as Buffer), `key ${i} is the one wrapped`);
    }
  });

  it('refuses a key Transit cannot unwrap alone: the others of its batch are unwrapped', async () => {
    const wrapped = await services.transit.wrapNewKeys(4);
    const garbage = `vault:v1:${Buffer.alloc(60, 3).toString('base64')}`;
    const inputs = [wrapped[0]?.wrapped, garbage, wrapped[1]?.wrapped, 'not a wrapped key'] as string[];
    const results = await services.transit.unwrapKeys(inputs);
    assert.deepEqual(
      results.map((result) => result.ok),
      [true, false, true, false],
    );
    for (const result of results)
      if (!result.ok) assert.ok(result.error instanceof KeyServiceError && result.error.kind === 'rejected');
    assert.ok(results[0]?.ok && results[0].key.equals(wrapped[0]?.plaintext as Buffer));
  });

  it('the key service sends the unwraps of one turn (20 parts of an object) as one decrypt call', async () => {
    const wrapped = await services.transit.wrapNewKeys(20);
    const before = decryptCalls();
    const keys = await Promise.all(
      wrapped.map((key) => services.keys.forRecorded(undefined).unwrapKey(key.wrapped)),
    );
    assert.equal(decryptCalls() - before, 1);
    for (const [i, key] of keys.entries()) assert.ok(key.equals(wrapped[i]?.plaintext as Buffer));
  });
});
