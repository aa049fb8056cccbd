import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientCredentialsStore, type CredentialsEvent } from '../../../src/auth/credentials-store.ts';
import { type CredentialSpec, mountCredentials } from '../../support/client-credentials.ts';

const key = (accessKeyId: string): CredentialSpec => ({
  accessKeyId,
  secretAccessKey: `${accessKeyId.toLowerCase()}-secret-0123456789`,
  allow: [{ bucket: 'b' }],
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('the credentials store, on a Secret mounted the way the kubelet mounts it', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  for (const [how, reloadIntervalMs, watch] of [
    ['by the directory watch', 60_000, true],
    ['by the interval alone', 50, false],
  ] as const) {
    it(`follows a ..data swap ${how}; a bad file keeps the credentials in force and is reported once`, async () => {
      const mounted = await mountCredentials([key('FIRSTKEY')]);
      cleanups.push(mounted.remove);
      const events: CredentialsEvent[] = [];
      const store = await ClientCredentialsStore.open({
        path: mounted.path,
        reloadIntervalMs,
        onEvent: (event) => events.push(event),
      });
      cleanups.push(async () => store.close());
      if (watch) store.start();
      else {
        // The interval alone: start() also watches, so poll by hand at the same pace instead.
        const timer = setInterval(() => void store.reload(), reloadIntervalMs);
        cleanups.push(async () => clearInterval(timer));
      }
      assert.deepEqual(events, [{ type: 'loaded', keys: 1, initial: true }]);
      assert.ok(store.lookup('FIRSTKEY'));

      await mounted.update([key('FIRSTKEY'), key('SECONDKEY')]);
      await until(() => store.lookup('SECONDKEY') !== undefined, 'the new key');
      await mounted.update([key('SECONDKEY')]);
      await until(() => store.lookup('FIRSTKEY') === undefined, 'the removed key to go');

      await mounted.update('credentials: [oops');
      await until(() => events.some((e) => e.type === 'failed'), 'the failure');
      await sleep(watch ? 200 : 300);
      assert.equal(events.filter((e) => e.type === 'failed').length, 1, 'reported once');
      assert.ok(store.lookup('SECONDKEY'), 'the credentials in force stay');
      const failure = events.find((e) => e.type === 'failed');
      assert.match(failure?.type === 'failed' ? failure.reason : '', /not valid YAML/);

      await mounted.update([key('THIRDKEY')]);
      await until(() => store.lookup('THIRDKEY') !== undefined, 'recovery');
      assert.equal(store.size, 1);
    });
  }

  it('cannot be opened on a file that does not parse: the proxy must not start unauthenticated', async () => {
    const mounted = await mountCredentials('credentials: 3\n');
    cleanups.push(mounted.remove);
    await assert.rejects(ClientCredentialsStore.open({ path: mounted.path, reloadIntervalMs: 1000 }), {
      name: 'CredentialsFileError',
    });
  });
});
