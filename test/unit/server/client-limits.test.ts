import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Parsed } from '../../../src/config/parse.ts';
import { SETTINGS } from '../../../src/config/settings.ts';
import {
  type ClientLimits,
  type Progress,
  RequestBudget,
  timeoutOf,
} from '../../../src/server/client-limits.ts';

/** The limits the settings table gives by default, parsed as the proxy parses them. */
function defaults(): ClientLimits {
  const value = (setting: { default: string; parse: (raw: string) => Parsed<number> }): number => {
    const parsed = setting.parse(setting.default);
    assert.ok(parsed.ok);
    return parsed.value;
  };
  return {
    idleTimeoutMs: value(SETTINGS.clientIdleTimeout),
    minBodyRate: value(SETTINGS.clientMinBodyRate),
    maxRequests: value(SETTINGS.maxRequests),
    maxUploads: value(SETTINGS.maxUploads),
  };
}

/**
 * Feeds `timeoutOf` a body sent at `bytesPerSecond`, arriving in bursts every `everyMs`, for up to
 * `forMs`; returns when (and why) it is ended, or undefined if it never is.
 */
function sendBody(
  limits: ClientLimits,
  pattern: { bytesPerSecond: number; everyMs: number; forMs: number; tickMs?: number },
): { atMs: number; reason: string } | undefined {
  const tickMs = pattern.tickMs ?? 100;
  const progress: Progress = { bodyTurnMs: 0, bodyBytes: 0, stalledMs: 0 };
  for (let at = tickMs; at <= pattern.forMs; at += tickMs) {
    progress.bodyTurnMs += tickMs;
    const due =
      at % pattern.everyMs < tickMs ? Math.floor((pattern.bytesPerSecond * at) / 1000) : progress.bodyBytes;
    progress.stalledMs = due > progress.bodyBytes ? 0 : progress.stalledMs + tickMs;
    progress.bodyBytes = due;
    const timeout = timeoutOf(progress, 'client sends', limits);
    if (timeout !== undefined) return { atMs: at, reason: timeout.reason };
  }
  return undefined;
}

describe('client timeouts with the default settings', () => {
  const limits = defaults();

  it('let a slow but honest WAN upload through: 56 kbit/s for an hour, and 8 kbit/s with 15 s stalls', () => {
    assert.equal(
      sendBody(limits, { bytesPerSecond: 7_000, everyMs: 100, forMs: 3_600_000, tickMs: 1000 }),
      undefined,
    );
    assert.equal(sendBody(limits, { bytesPerSecond: 1_000, everyMs: 15_000, forMs: 600_000 }), undefined);
  });

  it('end a body trickling one byte every 2 s after about 20 s, as too slow', () => {
    const ended = sendBody(limits, { bytesPerSecond: 0.5, everyMs: 2_000, forMs: 120_000 });
    assert.equal(ended?.reason, 'too slow');
    assert.ok(ended.atMs > 20_000 && ended.atMs < 21_000, `ended at ${ended.atMs} ms`);
  });

  it('end a body that stops for 20 s, however much came before', () => {
    const progress: Progress = { bodyTurnMs: 60_000, bodyBytes: 100 * 1024 * 1024, stalledMs: 19_999 };
    assert.equal(timeoutOf(progress, 'client sends', limits), undefined);
    progress.stalledMs = 20_000;
    assert.deepEqual(timeoutOf(progress, 'client sends', limits), { phase: 'request body', reason: 'idle' });
  });

  it('end a reader that takes no byte for 20 s, with no minimum rate for reads', () => {
    const progress: Progress = { bodyTurnMs: 0, bodyBytes: 0, stalledMs: 19_000 };
    assert.equal(timeoutOf({ ...progress, bodyTurnMs: 600_000 }, 'client reads', limits), undefined);
    assert.deepEqual(timeoutOf({ ...progress, stalledMs: 20_000 }, 'client reads', limits), {
      phase: 'response',
      reason: 'idle',
    });
  });

  it('never count against the client the time the proxy is waiting', () => {
    const progress: Progress = { bodyTurnMs: 10_000_000, bodyBytes: 0, stalledMs: 10_000_000 };
    assert.equal(timeoutOf(progress, 'proxy', limits), undefined);
  });

  it('leave room for 256 requests without a body whatever the uploads do', () => {
    assert.equal(limits.maxRequests - limits.maxUploads, 256);
  });
});

describe('timeoutOf', () => {
  it('applies no minimum rate when it is 0, only the idle timeout', () => {
    const limits = { idleTimeoutMs: 1_000, minBodyRate: 0 };
    assert.equal(
      timeoutOf({ bodyTurnMs: 1e9, bodyBytes: 0, stalledMs: 999 }, 'client sends', limits),
      undefined,
    );
    assert.equal(
      timeoutOf({ bodyTurnMs: 1e9, bodyBytes: 0, stalledMs: 1_000 }, 'client sends', limits)?.reason,
      'idle',
    );
  });

  it('gives every byte received 1/rate seconds more after the grace', () => {
    const limits = { idleTimeoutMs: 1_000, minBodyRate: 100 };
    // 1 s of grace + 50 bytes × 10 ms = 1.5 s of the client's time.
    assert.equal(
      timeoutOf({ bodyTurnMs: 1_500, bodyBytes: 50, stalledMs: 0 }, 'client sends', limits),
      undefined,
    );
    assert.equal(
      timeoutOf({ bodyTurnMs: 1_501, bodyBytes: 50, stalledMs: 0 }, 'client sends', limits)?.reason,
      'too slow',
    );
  });
});

describe('RequestBudget', () => {
  it('refuses requests beyond the total, and requests with a body beyond the upload budget', () => {
    const budget = new RequestBudget({ maxRequests: 3, maxUploads: 1 });
    const upload = budget.admit(true);
    assert.equal(typeof upload, 'object');
    assert.equal(budget.admit(true), 'uploads', 'a second body waits for the first');
    const get = budget.admit(false);
    assert.equal(typeof get, 'object', 'a request without a body still has room');
    assert.equal(typeof budget.admit(false), 'object');
    assert.equal(budget.admit(false), 'requests');
    assert.deepEqual([budget.requests, budget.uploads], [3, 1]);
  });

  it('frees the upload slot when the body is in, and the request slot when the response is done, each once', () => {
    const budget = new RequestBudget({ maxRequests: 2, maxUploads: 1 });
    const upload = budget.admit(true);
    assert.ok(typeof upload === 'object');
    upload.bodyDone();
    upload.bodyDone();
    assert.deepEqual([budget.requests, budget.uploads], [1, 0]);
    const next = budget.admit(true);
    assert.ok(typeof next === 'object', 'the next upload may start while the first is being answered');
    upload.done();
    upload.done();
    next.done();
    assert.deepEqual([budget.requests, budget.uploads], [0, 0]);
  });
});
