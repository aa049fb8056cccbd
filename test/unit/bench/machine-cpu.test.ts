import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type MachineCpuFigures, type RowResult, renderMachineCpu } from '../../../bench/report.ts';

function row(label: string, machineCpu: RowResult['machineCpu'], higherIsBetter = true): RowResult {
  return {
    id: 'get-small',
    client: 'curl',
    label,
    unit: 'ops/s',
    higherIsBetter,
    ratioTarget: 0.8,
    figures: {},
    failures: {},
    cpu: {},
    cipher: undefined,
    peakRssMiB: {},
    rssTargetMiB: undefined,
    idleRssMiB: undefined,
    gc: undefined,
    machineCpu,
  };
}

const perOp = (target: number, seaweedfs: number, openbao: number, client: number): MachineCpuFigures => ({
  unit: 'ms/op',
  target,
  seaweedfs,
  openbao,
  client,
  total: target + seaweedfs + openbao + client,
});

describe('renderMachineCpu', () => {
  it('adds up every process per request and bounds proxy/direct by the two totals', () => {
    const lines = renderMachineCpu(
      [row('GET 4 KiB, 16 clients', { direct: perOp(0, 0.8, 0, 0.2), proxy: perOp(1.2, 1.3, 0.5, 0.2) })],
      2,
    );
    assert.equal(lines.length, 2);
    const line = lines[1] ?? '';
    assert.match(line, /direct 1\.00 \(SeaweedFS 0\.80 \+ client 0\.20\)/);
    assert.match(line, /proxy 3\.20 \(proxy 1\.20 \+ SeaweedFS 1\.30 \+ OpenBao 0\.50 \+ client 0\.20\)/);
    assert.match(line, /2 cores allow 2000 ops\/s direct, 625 ops\/s through the proxy/);
    assert.match(line, /proxy\/direct ≤ 0\.31 when CPU-bound/);
  });

  it('leaves out rows without both figures and latency rows', () => {
    const figures = { direct: perOp(0, 1, 0, 0), proxy: perOp(1, 1, 0, 0) };
    assert.deepEqual(
      renderMachineCpu(
        [row('only the proxy', { proxy: perOp(1, 1, 0, 0) }), row('range latency', figures, false)],
        2,
      ),
      [],
    );
  });
});
