/** The benchmark's results as one printed table, as JSON, and as an SVG chart of the ratios. */
import type { CipherCost } from './cipher-cost.ts';
import type { Machine } from './machine.ts';
import { RELAY_KINDS, type RelayFloor, type RelayTransferFigures } from './relay-floor.ts';
import type { ClientName, RowId, TargetName } from './settings.ts';

export type Stats = { median: number; min: number; max: number; samples: number[] };

export type RowResult = {
  id: RowId;
  client: ClientName;
  label: string;
  unit: 'MiB/s' | 'ops/s' | 'ms';
  /** Throughput and ops/s: higher is better; latency (ms): lower is better, and ratios are direct ÷ proxy. */
  higherIsBetter: boolean;
  /** The ratio proxy/direct this row must reach (R-PERF-1: 0.9, R-PERF-3: 0.8). */
  ratioTarget: number | undefined;
  figures: Partial<Record<TargetName, Stats>>;
  /** Targets where a transfer of this row failed, with the first error: the row shows "failed" for them. */
  failures: Partial<Record<TargetName, string>>;
  /** CPU of the proxy and of rclone over the row: per GiB moved, or per operation; systemShare = system ÷ (user + system). */
  cpu: Partial<Record<'proxy' | 'rclone', { sPerGiB?: number; msPerOp?: number; systemShare: number }>>;
  /** The raw AES-256-GCM cost this row's proxy CPU is compared with. */
  cipher: { operation: 'seal' | 'open'; sPerGiB: number } | undefined;
  peakRssMiB: Partial<Record<'proxy' | 'rclone', number>>;
  /** R-PERF-2's limits for the memory rows. */
  rssTargetMiB: number | undefined;
  /** Memory rows: RSS of the fresh proxy just before the transfer. */
  idleRssMiB: number | undefined;
  /**
   * The proxy's collections over the row, per GiB moved or per 1000 requests: scavenges, mark-compacts
   * (full collections) and the time V8 reported for all of them (docs/decisions/0015-v8-heap-flags.md).
   */
  gc: { per: 'GiB' | '1000 requests'; scavenges: number; markCompacts: number; pauseMs: number } | undefined;
  /**
   * CPU of every process the row kept busy, per GiB moved or per operation: the target's own (the proxy,
   * rclone; 0 for direct), SeaweedFS, OpenBao and the client (curl, or the SDK in the benchmark process).
   */
  machineCpu: Partial<Record<TargetName, MachineCpuFigures>>;
};

export type MachineCpuFigures = {
  unit: 's/GiB' | 'ms/op';
  target: number;
  seaweedfs: number;
  openbao: number;
  client: number;
  total: number;
};

export type UpstreamCount = { request: string; upstream: string[]; target: number | undefined };

export type Results = {
  startedAt: string;
  machine: Machine;
  settings: Record<string, unknown>;
  cipher: CipherCost;
  /** What a relay with no crypto costs in CPU on this machine (the relay-floor row); undefined when not run. */
  relayFloor: RelayFloor | undefined;
  rows: RowResult[];
  upstreamRequests: UpstreamCount[];
  notes: string[];
};

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    samples,
  };
}

/** proxy or rclone against direct, as "how many times direct's speed" (≥ 1 is faster than direct). */
export function speedRatio(row: RowResult, target: 'proxy' | 'rclone'): number | undefined {
  const direct = row.figures.direct?.median;
  const other = row.figures[target]?.median;
  if (direct === undefined || other === undefined) return undefined;
  return row.higherIsBetter ? other / direct : direct / other;
}

function number(value: number): string {
  if (!Number.isFinite(value)) return '-';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function figure(s: Stats | undefined): string {
  if (s === undefined) return '-';
  if (s.samples.length < 2 || s.median === 0) return number(s.median);
  const spread = ((s.max - s.min) / 2 / s.median) * 100;
  return `${number(s.median)} ±${spread.toFixed(0)}%`;
}

const mark = (ok: boolean): string => (ok ? '✓' : '✗');

function cpuText(cpu: RowResult['cpu']['proxy']): string {
  if (cpu === undefined) return '-';
  const system = `sys ${(cpu.systemShare * 100).toFixed(0)}%`;
  if (cpu.sPerGiB !== undefined) return `${number(cpu.sPerGiB)} s/GiB (${system})`;
  if (cpu.msPerOp !== undefined) return `${number(cpu.msPerOp)} ms/op (${system})`;
  return '-';
}

/**
 * The header lines of the relay-floor row: each relay's lowest CPU per GiB for a PUT and a GET, split into
 * user and system, and as a multiple of the raw cipher (seal for the PUT, open for the GET), the ratio the
 * table's CPU/cipher column gives the proxy.
 */
export function renderRelayFloor(floor: RelayFloor, cipher: CipherCost): string[] {
  const transfer = (verb: 'PUT' | 'GET', f: RelayTransferFigures): string => {
    const raw = verb === 'PUT' ? cipher.sealSPerGiB : cipher.openSPerGiB;
    const { total, user, system } = f.lowest;
    return `${verb} ${number(total)} (user ${number(user)} + sys ${number(system)}) = ${(total / raw).toFixed(1)}×`;
  };
  const names = { tcp: 'TCP pipe:  ', http: 'HTTP relay:' } as const;
  return [
    `relay floor, no crypto, this machine (${floor.client}, ${floor.bytes / 2 ** 20} MiB, lowest of ${floor.rounds}): CPU s/GiB of the relay process, × the raw cipher (seal for PUT, open for GET)`,
    ...RELAY_KINDS.map((kind) => {
      const relay = floor.relays[kind];
      if (relay === undefined) return `  ${names[kind]} failed (${floor.failures[kind]?.split('\n')[0]})`;
      return `  ${names[kind]} ${transfer('PUT', relay.put)}, ${transfer('GET', relay.get)}`;
    }),
  ];
}

/**
 * What the whole machine spends per GiB or per request, direct and through the proxy (and rclone), and the
 * proxy/direct ratio those costs allow when the machine's cores are what bounds both: the client and the
 * services run on the same cores as the proxy, so what they spend counts against it.
 */
export function renderMachineCpu(rows: RowResult[], cores: number): string[] {
  const lines: string[] = [];
  const names = { proxy: 'proxy', rclone: 'rclone' } as const;
  const parts = (target: TargetName, m: MachineCpuFigures): string =>
    [
      ...(target === 'direct' ? [] : [`${names[target]} ${number(m.target)}`]),
      `SeaweedFS ${number(m.seaweedfs)}`,
      ...(m.openbao >= 0.005 ? [`OpenBao ${number(m.openbao)}`] : []),
      `client ${number(m.client)}`,
    ].join(' + ');
  for (const row of rows) {
    const direct = row.machineCpu.direct;
    const proxy = row.machineCpu.proxy;
    if (direct === undefined || proxy === undefined || !row.higherIsBetter) continue;
    const unit = direct.unit;
    const most = (m: MachineCpuFigures) =>
      unit === 'ms/op'
        ? `${number((cores * 1000) / m.total)} ops/s`
        : `${number((cores * 1024) / m.total)} MiB/s`;
    const rclone = row.machineCpu.rclone;
    lines.push(
      `  ${row.label} (${row.client}), ${unit}: direct ${number(direct.total)} (${parts('direct', direct)}); proxy ${number(proxy.total)} (${parts('proxy', proxy)})` +
        (rclone === undefined ? '' : `; rclone-crypt ${number(rclone.total)} (${parts('rclone', rclone)})`) +
        `. ${cores} cores allow ${most(direct)} direct, ${most(proxy)} through the proxy: proxy/direct ≤ ${(direct.total / proxy.total).toFixed(2)} when CPU-bound`,
    );
  }
  return lines.length === 0
    ? []
    : [
        'CPU of every process per GiB moved or per request, the same rows (user+system, /proc; the client runs on the same cores):',
        ...lines,
      ];
}

/** One line per row: what the proxy's collector did over it. */
export function renderGc(rows: RowResult[]): string[] {
  const lines = rows.flatMap((row) => {
    const gc = row.gc;
    if (gc === undefined) return [];
    return [
      `  ${row.label} (${row.client}): ${number(gc.scavenges)} scavenges, ${number(gc.markCompacts)} mark-compacts, ${number(gc.pauseMs)} ms in GC per ${gc.per}`,
    ];
  });
  return lines.length === 0
    ? []
    : [
        "The proxy's collections over the same rows (its /metrics: nodejs_gc_duration_seconds by kind):",
        ...lines,
      ];
}

export function tableRows(rows: RowResult[]): string[][] {
  const header = [
    'row',
    'client',
    'direct',
    'proxy',
    'rclone-crypt',
    'proxy/direct',
    'rclone/direct',
    'proxy ≥ rclone',
    'proxy CPU',
    'raw cipher',
    'CPU/cipher',
    'proxy peak RSS',
    'rclone CPU',
    'rclone peak RSS',
  ];
  const lines = rows.map((row) => {
    const proxyRatio = speedRatio(row, 'proxy');
    const rcloneRatio = speedRatio(row, 'rclone');
    const proxy = row.figures.proxy?.median;
    const rclone = row.figures.rclone?.median;
    const faster =
      proxy === undefined || rclone === undefined
        ? '-'
        : (row.higherIsBetter ? proxy >= rclone : proxy <= rclone)
          ? 'yes'
          : 'no';
    const cpuRatio =
      row.cpu.proxy?.sPerGiB !== undefined && row.cipher !== undefined
        ? row.cpu.proxy.sPerGiB / row.cipher.sPerGiB
        : undefined;
    const rss = row.peakRssMiB.proxy;
    return [
      `${row.label} [${row.unit}]`,
      row.client,
      row.failures.direct === undefined ? figure(row.figures.direct) : 'failed',
      row.failures.proxy === undefined ? figure(row.figures.proxy) : 'FAILED',
      row.failures.rclone === undefined ? figure(row.figures.rclone) : 'failed',
      proxyRatio === undefined
        ? '-'
        : `${proxyRatio.toFixed(2)}${row.ratioTarget === undefined ? '' : ` ${mark(proxyRatio >= row.ratioTarget)}`}`,
      rcloneRatio === undefined ? '-' : rcloneRatio.toFixed(2),
      faster,
      cpuText(row.cpu.proxy),
      row.cipher === undefined ? '-' : `${row.cipher.operation} ${number(row.cipher.sPerGiB)}`,
      cpuRatio === undefined ? '-' : `${cpuRatio.toFixed(1)}× ${mark(cpuRatio <= 2)}`,
      rss === undefined
        ? '-'
        : `${rss.toFixed(0)} MiB${row.rssTargetMiB === undefined ? '' : ` ${mark(rss < row.rssTargetMiB)} <${row.rssTargetMiB}`}${row.idleRssMiB === undefined ? '' : ` (idle ${row.idleRssMiB.toFixed(0)})`}`,
      cpuText(row.cpu.rclone),
      row.peakRssMiB.rclone === undefined ? '-' : `${row.peakRssMiB.rclone.toFixed(0)} MiB`,
    ];
  });
  return [header, ...lines];
}

/** A plain-text table with aligned columns (also valid Markdown). */
export function renderTable(rows: string[][]): string {
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => [...(row[column] ?? '')].length))) ?? [];
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, i) => cell + ' '.repeat((widths[i] ?? 0) - [...cell].length)).join(' | ')} |`;
  const [header, ...body] = rows;
  return [line(header ?? []), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join(
    '\n',
  );
}

export function renderUpstreamCounts(counts: UpstreamCount[]): string {
  return counts
    .map(
      (c) =>
        `  ${c.request}: ${c.upstream.length} upstream request${c.upstream.length === 1 ? '' : 's'} (${c.upstream.join(', ')})${c.target === undefined ? '' : ` ${mark(c.upstream.length <= c.target)} target ${c.target}`}`,
    )
    .join('\n');
}

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Bars of proxy/direct and rclone/direct for every row that has a direct figure, with the 0.9 line. */
export function renderSvg(results: Results): string {
  const rows = results.rows.filter((row) => row.figures.direct !== undefined);
  const barWidth = 16;
  const groupWidth = barWidth * 2 + 14;
  const left = 50;
  const top = 40;
  const plotHeight = 260;
  const labelSpace = 170;
  const width = left + rows.length * groupWidth + 20;
  const height = top + plotHeight + labelSpace;
  const ratios = rows.flatMap((row) => [speedRatio(row, 'proxy') ?? 0, speedRatio(row, 'rclone') ?? 0]);
  const maxRatio = Math.max(1.2, ...ratios.filter(Number.isFinite));
  const y = (ratio: number): number => top + plotHeight - (Math.min(ratio, maxRatio) / maxRatio) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    '<title>cloudtaser-s3-proxy benchmark: proxy and rclone-crypt speed relative to direct SeaweedFS</title>',
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="18" font-size="13">Speed relative to direct SeaweedFS (1.0 = direct); ${escapeXml(results.machine.cpuModel)}, ${results.machine.cores} cores, ${results.startedAt}</text>`,
    `<rect x="${left}" y="24" width="10" height="10" fill="#2b6cb0"/><text x="${left + 14}" y="33">proxy/direct</text>`,
    `<rect x="${left + 100}" y="24" width="10" height="10" fill="#a0aec0"/><text x="${left + 114}" y="33">rclone-crypt/direct</text>`,
    `<text x="${left + 240}" y="33" fill="#c53030">red line: 0.9 (R-PERF-1 target; small objects: 0.8)</text>`,
  ];
  for (let tick = 0; tick <= maxRatio + 1e-9; tick += 0.2) {
    parts.push(
      `<line x1="${left}" x2="${width - 20}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e2e8f0"/>`,
      `<text x="${left - 6}" y="${y(tick) + 4}" text-anchor="end">${tick.toFixed(1)}</text>`,
    );
  }
  rows.forEach((row, i) => {
    const x = left + i * groupWidth + 7;
    for (const [j, target, color] of [
      [0, 'proxy', '#2b6cb0'],
      [1, 'rclone', '#a0aec0'],
    ] as const) {
      const ratio = speedRatio(row, target);
      if (ratio === undefined) continue;
      const barX = x + j * barWidth;
      parts.push(
        `<rect x="${barX}" y="${y(ratio)}" width="${barWidth - 2}" height="${top + plotHeight - y(ratio)}" fill="${color}"><title>${escapeXml(`${row.label} (${row.client}) ${target}/direct ${ratio.toFixed(2)}`)}</title></rect>`,
      );
    }
    const labelX = x + barWidth;
    parts.push(
      `<text transform="translate(${labelX},${top + plotHeight + 8}) rotate(60)" text-anchor="start">${escapeXml(`${row.label} · ${row.client}`)}</text>`,
    );
  });
  parts.push(
    `<line x1="${left}" x2="${width - 20}" y1="${y(0.9)}" y2="${y(0.9)}" stroke="#c53030" stroke-width="1.5" stroke-dasharray="6 3"/>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotHeight}" stroke="#4a5568"/>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
