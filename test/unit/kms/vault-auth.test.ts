import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, mock } from 'node:test';
import { KeyServiceError } from '../../../src/kms/key-wrapper.ts';
import {
  type AuthEvent,
  KubernetesAuth,
  planTokenRefresh,
  retryDelayMs,
  StaticTokenAuth,
} from '../../../src/kms/vault-auth.ts';
import type { TokenGrant } from '../../../src/kms/vault-client.ts';

describe('planTokenRefresh', () => {
  it('renews a renewable token at 60 to 70 % of its lease', () => {
    for (const random of [0, 0.5, 0.999]) {
      const plan = planTokenRefresh(
        { leaseSeconds: 100, renewable: true, capped: false },
        true,
        () => random,
      );
      assert.equal(plan.action, 'renew');
      assert.ok(plan.delayMs >= 60_000 && plan.delayMs < 70_000, String(plan.delayMs));
    }
  });

  it('logs in again when renewal no longer extends the lease (max TTL) or the token does not renew', () => {
    assert.equal(planTokenRefresh({ leaseSeconds: 2, renewable: true, capped: true }, true).action, 'login');
    assert.equal(
      planTokenRefresh({ leaseSeconds: 2, renewable: false, capped: false }, true).action,
      'login',
    );
  });

  it('does nothing for a token without expiry, or for a static token that cannot be renewed', () => {
    assert.equal(planTokenRefresh({ leaseSeconds: 0, renewable: false, capped: false }, true).action, 'none');
    assert.equal(
      planTokenRefresh({ leaseSeconds: 60, renewable: false, capped: false }, false).action,
      'none',
    );
  });
});

describe('retryDelayMs', () => {
  it('backs off from half a second to at most 30 s, with jitter', () => {
    assert.ok(retryDelayMs(1, () => 0) >= 250 && retryDelayMs(1, () => 1) <= 500);
    assert.ok(retryDelayMs(3, () => 1) === 2_000);
    assert.ok(retryDelayMs(50, () => 1) === 30_000);
    assert.ok(retryDelayMs(50, () => 0) === 15_000);
  });
});

/** Lets the promise chains started by a fired timer run to their end. */
async function flush(until?: () => boolean): Promise<void> {
  // A login reads the JWT file: real I/O, which may take many turns of the event loop on a busy machine.
  for (let i = 0; i < (until === undefined ? 10 : 10_000); i++) {
    if (until?.() === true) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function kubernetesHarness() {
  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-auth-'));
  const jwtPath = join(dir, 'token');
  writeFileSync(jwtPath, 'jwt-one\n');
  const logins: Record<string, unknown>[] = [];
  const renewals: string[] = [];
  const events: AuthEvent[] = [];
  const script = {
    login: [] as Array<TokenGrant | Error>,
    renew: [] as Array<TokenGrant | Error>,
  };
  let serial = 0;
  const auth = new KubernetesAuth({
    role: 'app',
    mountPath: '/kubernetes/',
    jwtPath,
    onEvent: (event) => events.push(event),
    random: () => 0.5,
    login: async (path, body) => {
      assert.equal(path, 'auth/kubernetes/login');
      logins.push(body);
      const next = script.login.shift() ?? {
        token: `secret-token-${serial++}`,
        leaseSeconds: 3,
        renewable: true,
      };
      if (next instanceof Error) throw next;
      return next;
    },
    renew: async (token) => {
      renewals.push(token);
      const next = script.renew.shift() ?? { token, leaseSeconds: 3, renewable: true };
      if (next instanceof Error) throw next;
      return next;
    },
  });
  return { auth, jwtPath, logins, renewals, events, script };
}

describe('KubernetesAuth', () => {
  it('logs in with the role and the service-account JWT, re-reading the file at every login', async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    const { auth, jwtPath, logins } = kubernetesHarness();
    try {
      const first = await auth.token();
      assert.deepEqual(logins, [{ role: 'app', jwt: 'jwt-one' }]);
      assert.equal(await auth.token(), first, 'the token is kept while it is valid');
      writeFileSync(jwtPath, 'jwt-two\n');
      mock.timers.tick(2_500);
      assert.equal(auth.invalidate(first), true);
      const second = await auth.token();
      assert.notEqual(second, first);
      assert.deepEqual(logins[1], { role: 'app', jwt: 'jwt-two' });
    } finally {
      auth.close();
      mock.timers.reset();
    }
  });

  it('renews before the lease ends, then logs in again once renewal stops extending it (max TTL)', async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    const { auth, logins, renewals, script, events } = kubernetesHarness();
    try {
      const first = await auth.token();
      script.renew.push({ token: first, leaseSeconds: 3, renewable: true });
      script.renew.push({ token: first, leaseSeconds: 1, renewable: true }); // capped by the max TTL
      mock.timers.tick(1_950); // 65 % of 3 s
      await flush();
      assert.deepEqual(renewals, [first]);
      mock.timers.tick(1_950);
      await flush();
      assert.deepEqual(renewals, [first, first]);
      assert.equal(logins.length, 1);
      mock.timers.tick(650); // 65 % of the 1 s left
      await flush(() => logins.length === 2);
      assert.equal(logins.length, 2, 'logged in again before the capped lease ran out');
      assert.notEqual(await auth.token(), first);
      assert.deepEqual(
        events.map((event) => `${event.type}:${event.outcome}`),
        ['login:ok', 'renewal:ok', 'renewal:ok', 'login:ok'],
      );
      assert.doesNotMatch(JSON.stringify(events), /secret-token/, 'events never carry a token');
    } finally {
      auth.close();
      mock.timers.reset();
    }
  });

  it('never hands out a token in its last second: a late refresh timer makes the request log in first', async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    const { auth, logins, script } = kubernetesHarness();
    try {
      const first = await auth.token();
      script.renew.push({ token: first, leaseSeconds: 1, renewable: true }); // capped by the max TTL
      mock.timers.tick(1_950);
      await flush();
      // Timers stand still (a busy event loop): the login planned at 65 % of the 1 s left has not run.
      mock.timers.setTime(1_000_000 + 1_950 + 100);
      assert.equal(await auth.token(), first, 'well before expiry the token is used');
      mock.timers.setTime(1_000_000 + 1_950 + 1_000 - 260);
      assert.equal(await auth.token(), first);
      mock.timers.setTime(1_000_000 + 1_950 + 1_000 - 240);
      const next = await auth.token();
      assert.notEqual(next, first, 'in the last quarter of a 1 s lease the proxy logs in instead');
      assert.equal(logins.length, 2);
    } finally {
      auth.close();
      mock.timers.reset();
    }
  });

  it('logs in again at once when renewal is refused (revoked or expired token)', async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    const { auth, logins, script } = kubernetesHarness();
    try {
      const first = await auth.token();
      script.renew.push(new KeyServiceError('denied', 'permission denied'));
      mock.timers.tick(1_950);
      await flush();
      mock.timers.tick(0);
      await flush(() => logins.length === 2);
      assert.equal(logins.length, 2);
      assert.notEqual(await auth.token(), first);
    } finally {
      auth.close();
      mock.timers.reset();
    }
  });

  it('keeps renewing through a Vault outage while the token lasts, backing off', async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    const { auth, logins, renewals, script } = kubernetesHarness();
    try {
      const first = await auth.token();
      script.renew.push(new KeyServiceError('unavailable', 'connection refused'));
      mock.timers.tick(1_950);
      await flush();
      assert.equal(renewals.length, 1);
      mock.timers.tick(600); // retry after min(backoff, half the time left)
      await flush();
      assert.equal(renewals.length, 2);
      assert.equal(logins.length, 1);
      assert.equal(await auth.token(), first);
    } finally {
      auth.close();
      mock.timers.reset();
    }
  });

  it('treats a refusal of a brand-new token as policy, not expiry: no login storm', async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    const { auth, logins } = kubernetesHarness();
    try {
      const token = await auth.token();
      assert.equal(auth.invalidate(token), false);
      assert.equal(await auth.token(), token);
      assert.equal(logins.length, 1);
      assert.equal(
        auth.invalidate('some-older-token'),
        true,
        'a token already replaced: retry with the new one',
      );
    } finally {
      auth.close();
      mock.timers.reset();
    }
  });

  it('backs off after a failed login instead of logging in for every request', async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    const { auth, logins, script } = kubernetesHarness();
    try {
      script.login.push(new KeyServiceError('rejected', 'role "app" could not be found'));
      await assert.rejects(auth.token(), (error: unknown) => {
        assert.ok(error instanceof KeyServiceError);
        assert.equal(error.kind, 'denied', 'a refused login is a permission problem of the proxy');
        assert.match(error.message, /login as role app/);
        return true;
      });
      await assert.rejects(auth.token(), KeyServiceError);
      assert.equal(logins.length, 1);
      mock.timers.tick(500);
      await auth.token();
      assert.equal(logins.length, 2);
    } finally {
      auth.close();
      mock.timers.reset();
    }
  });

  it('reports an unreadable service-account token file by its variable and path', async () => {
    const { auth, jwtPath } = kubernetesHarness();
    const missing = `${jwtPath}.missing`;
    const other = new KubernetesAuth({
      role: 'app',
      mountPath: 'kubernetes',
      jwtPath: missing,
      login: async () => assert.fail('no login without a JWT'),
      renew: async () => assert.fail('nothing to renew'),
    });
    auth.close();
    await assert.rejects(other.token(), (error: unknown) => {
      assert.ok(error instanceof KeyServiceError);
      assert.equal(error.kind, 'unavailable');
      assert.ok(error.message.includes(`VAULT_AUTH_TOKEN_PATH=${missing}`));
      assert.match(error.message, /ENOENT/);
      return true;
    });
    other.close();
  });
});

describe('StaticTokenAuth', () => {
  it('uses VAULT_TOKEN at once and renews it before its lease ends when it is renewable', async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    const renewals: string[] = [];
    const auth = new StaticTokenAuth('static-secret', {
      lookup: async (token) => ({ token, leaseSeconds: 10, renewable: true }),
      renew: async (token) => {
        renewals.push(token);
        return { token, leaseSeconds: 10, renewable: true };
      },
    });
    try {
      assert.equal(await auth.token(), 'static-secret');
      await flush();
      mock.timers.tick(7_000);
      await flush();
      assert.deepEqual(renewals, ['static-secret']);
      assert.equal(auth.invalidate(), false, 'a static token has no replacement');
    } finally {
      auth.close();
      mock.timers.reset();
    }
  });

  it('uses VAULT_TOKEN as it is when the token may not look itself up', async () => {
    let lookups = 0;
    const auth = new StaticTokenAuth('static-secret', {
      lookup: async () => {
        lookups++;
        throw new KeyServiceError('denied', 'permission denied');
      },
      renew: async () => assert.fail('unknown lease: nothing to renew'),
    });
    assert.equal(await auth.token(), 'static-secret');
    await flush();
    assert.equal(await auth.token(), 'static-secret');
    await flush();
    assert.equal(lookups, 1);
    auth.close();
  });
});

describe('long-lived tokens', () => {
  it('does not renew at once a token whose lease is beyond the range of Node timers', async () => {
    const renewals: string[] = [];
    const auth = new StaticTokenAuth('static-secret', {
      lookup: async (token) => ({ token, leaseSeconds: 90 * 24 * 3600, renewable: true }),
      renew: async (token) => {
        renewals.push(token);
        return { token, leaseSeconds: 90 * 24 * 3600, renewable: true };
      },
    });
    try {
      await auth.token();
      // Real timers: Node fires a timer longer than 2^31-1 ms after 1 ms.
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(renewals, []);
    } finally {
      auth.close();
    }
  });
});
