import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { gcTotalsFrom } from '../../../bench/targets.ts';

describe("the benchmark's count of the proxy's collections", () => {
  it("reads prom-client's GC histogram as the proxy exposes it: scavenges, mark-compacts and their time", async () => {
    // The proxy's own registry setup (src/server/metrics.ts): default metrics under its prefix.
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'cloudtaser_s3proxy_' });
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
    gc({ type: 'minor' }); // the observer is in place once it has seen one
    await sleep(50);
    const before = gcTotalsFrom(await registry.metrics());
    // Node reports a collection to the observer in a later task; collections forced within one task are
    // reported as one, so each gets its own.
    for (const type of ['minor', 'minor', 'major'] as const) {
      await sleep(20);
      gc({ type });
    }
    await sleep(50);
    const after = gcTotalsFrom(await registry.metrics());
    assert.ok(after.scavenges - before.scavenges >= 2, `scavenges ${before.scavenges} → ${after.scavenges}`);
    assert.ok(
      after.markCompacts - before.markCompacts >= 1,
      `mark-compacts ${before.markCompacts} → ${after.markCompacts}`,
    );
    assert.ok(after.pauseMs > before.pauseMs);
  });

  it('counts nothing in metrics without the GC histogram', () => {
    assert.deepEqual(gcTotalsFrom('cloudtaser_s3proxy_process_cpu_seconds_total 1.5\n'), {
      scavenges: 0,
      markCompacts: 0,
      pauseMs: 0,
    });
  });
});
