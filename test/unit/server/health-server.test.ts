import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createHealthServer, type ReadinessCheck } from '../../../src/server/health-server.ts';

/** A readiness check the test answers by hand, counting how often it was started. */
function manualCheck(name: string) {
  const state = { started: 0, timeouts: 0, settle: undefined as ((error?: Error) => void) | undefined };
  const check: ReadinessCheck = {
    name,
    check: () => {
      state.started++;
      return new Promise<void>((resolve, reject) => {
        state.settle = (error) => (error === undefined ? resolve() : reject(error));
      });
    },
    onTimeout: () => {
      state.timeouts++;
    },
  };
  return { check, state };
}

/** Waits, a few milliseconds at a time, for what the server does in answer to a probe. */
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 10_000) throw new Error('the condition did not become true within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function serve(checks: ReadinessCheck[], timeoutMs: number, cacheMs = 0) {
  const server = createHealthServer({
    checks,
    registry: new Registry(),
    logger: pino({ level: 'silent' }),
    isShuttingDown: () => false,
    timeoutMs,
    cacheMs,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const probe = async () => {
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(10_000) });
    return { status: response.status, text: await response.text(), ms: performance.now() - started };
  };
  return { server, probe };
}

describe('/readyz', () => {
  const servers: { close(): void }[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  it('answers 503 naming the check once it has not answered within the timeout, and concurrent probes share one run', async () => {
    const vault = manualCheck('vault');
    const { server, probe } = await serve([vault.check], 300);
    servers.push(server);
    const probes = await Promise.all(Array.from({ length: 5 }, probe));
    for (const answer of probes) {
      assert.equal(answer.status, 503);
      assert.match(answer.text, /^vault: no answer within 300 ms/);
      assert.ok(answer.ms < 3_000, `answered after ${Math.round(answer.ms)} ms`);
    }
    assert.equal(vault.state.started, 1, 'one run of the check for five probes');
    assert.equal(vault.state.timeouts, 1, 'the timeout is reported once');
  });

  it('does not start another run behind one that outlasted the timeout: later probes answer 503 at once', async () => {
    const vault = manualCheck('vault');
    const { server, probe } = await serve([vault.check], 200);
    servers.push(server);
    assert.equal((await probe()).status, 503);
    const later = await Promise.all(Array.from({ length: 3 }, probe));
    for (const answer of later) {
      assert.equal(answer.status, 503);
      assert.ok(answer.ms < 2_000, `a probe behind a stuck check answered after ${Math.round(answer.ms)} ms`);
    }
    assert.equal(vault.state.started, 1);

    vault.state.settle?.();
    await new Promise((resolve) => setImmediate(resolve));
    const recovered = probe();
    // The stuck run has ended: this probe starts a new one.
    await until(() => vault.state.started === 2);
    vault.state.settle?.();
    assert.equal((await recovered).status, 200);
  });

  it('reports every failing check, a quick refusal as it is and a silent one by its timeout', async () => {
    const vault = manualCheck('vault');
    const upstream = manualCheck('upstream');
    const { server, probe } = await serve([vault.check, upstream.check], 1_000);
    servers.push(server);
    const answer = probe();
    await until(() => upstream.state.started === 1);
    upstream.state.settle?.(new Error('upstream answered HTTP 500'));
    const { status, text } = await answer;
    assert.equal(status, 503);
    const [first, second, ...rest] = text.trim().split('\n');
    assert.match(first ?? '', /^vault: no answer within 1000 ms/);
    assert.equal(second, 'upstream: upstream answered HTTP 500');
    assert.deepEqual(rest, []);
  });
});
