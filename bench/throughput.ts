/**
 * `npm run bench`: the proxy against SeaweedFS directly and against rclone serve s3 over crypt, with curl
 * and with aws-sdk-js v3 defaults, on real OpenBao and SeaweedFS, in one run (issue 10, R-PERF-1..4).
 * For each row: the three figures, proxy/direct, proxy ≥ rclone, the proxy's CPU per GiB from /proc against
 * the raw AES-256-GCM cost measured in this run, and peak RSS. Prints one table and writes it as
 * table.txt, results.json and chart.svg into a folder it names. Settings: bench/settings.ts
 * (`BENCH_HELP=1 npm run bench`), documented in docs/BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startCountingRelay } from '../test/support/counting-relay.ts';
import { MiB, seededRandom, uniqueBucket } from '../test/support/fixtures.ts';
import { loadServices, REPO_ROOT, type Services } from '../test/support/services.ts';
import { type CipherCost, measureCipherCost } from './cipher-cost.ts';
import { type BenchClient, curlClient, generatedBody, type Range, sdkClient, wholeBody } from './clients.ts';
import { currentLoad, describeMachine } from './machine.ts';
import {
  cpuTimes,
  machineCpuSeconds,
  peakRssMiB,
  resetPeakRss,
  rssMiB,
  type ServicePids,
  servicePids,
} from './proc.ts';
import { measureRelayFloor, type RelayFloor } from './relay-floor.ts';
import {
  type Results,
  type RowResult,
  renderGc,
  renderMachineCpu,
  renderRelayFloor,
  renderSvg,
  renderTable,
  renderUpstreamCounts,
  stats,
  tableRows,
  type UpstreamCount,
} from './report.ts';
import {
  type BenchSettings,
  benchSettings,
  type ClientName,
  type RowId,
  settingsHelp,
  type TargetName,
} from './settings.ts';
import {
  directTarget,
  type GcTotals,
  type ProxyTarget,
  proxyGcTotals,
  proxyTarget,
  rcloneTarget,
  type Target,
} from './targets.ts';

const GiB = 2 ** 30;

type Sample = {
  seconds: number;
  /** User + system CPU seconds of the target's process, and the system part of them. */
  cpu: number | undefined;
  cpuSystem: number | undefined;
  peakMiB: number | undefined;
  /** The proxy's collections during the transfer (its /metrics before and after). */
  gc: GcTotals | undefined;
  /** CPU seconds the services and the client spent meanwhile (undefined when the services are not ours). */
  machine: MachineCpu | undefined;
};

type MachineCpu = { seaweedfs: number; openbao: number; client: number };

type RowSpec = {
  id: RowId;
  client: ClientName;
  label: string;
  unit: RowResult['unit'];
  higherIsBetter?: boolean;
  ratioTarget?: number;
  cipher?: 'seal' | 'open';
  rssTargetMiB?: number;
};

/** Collects one row's samples per target; CPU and GC are summed over everything the row moved. */
class Row {
  readonly #spec: RowSpec;
  readonly #figures = new Map<TargetName, number[]>();
  readonly #failures = new Map<TargetName, string>();
  readonly #cpu = new Map<
    'proxy' | 'rclone',
    { seconds: number; systemSeconds: number; bytes: number; ops: number }
  >();
  readonly #peak = new Map<'proxy' | 'rclone', number>();
  readonly #machine = new Map<TargetName, MachineCpu & { target: number; bytes: number; ops: number }>();
  #gc: (GcTotals & { bytes: number; ops: number }) | undefined;
  #idleRssMiB: number | undefined;

  constructor(spec: RowSpec) {
    this.#spec = spec;
  }

  /** RSS of a fresh proxy before the row's transfer: what the peak holds besides the transfer. */
  idleRss(mib: number): void {
    this.#idleRssMiB = mib;
  }

  fail(target: TargetName, error: unknown): void {
    if (!this.#failures.has(target))
      this.#failures.set(target, error instanceof Error ? error.message : String(error));
  }

  add(target: TargetName, sample: Sample, figure: number, amount: { bytes?: number; ops?: number }): void {
    this.#figures.set(target, [...(this.#figures.get(target) ?? []), figure]);
    if (sample.machine !== undefined) {
      const m = this.#machine.get(target) ?? {
        seaweedfs: 0,
        openbao: 0,
        client: 0,
        target: 0,
        bytes: 0,
        ops: 0,
      };
      m.seaweedfs += sample.machine.seaweedfs;
      m.openbao += sample.machine.openbao;
      m.client += sample.machine.client;
      m.target += sample.cpu ?? 0;
      m.bytes += amount.bytes ?? 0;
      m.ops += amount.ops ?? 0;
      this.#machine.set(target, m);
    }
    if (target === 'direct') return;
    if (sample.cpu !== undefined) {
      const cpu = this.#cpu.get(target) ?? { seconds: 0, systemSeconds: 0, bytes: 0, ops: 0 };
      cpu.seconds += sample.cpu;
      cpu.systemSeconds += sample.cpuSystem ?? 0;
      cpu.bytes += amount.bytes ?? 0;
      cpu.ops += amount.ops ?? 0;
      this.#cpu.set(target, cpu);
    }
    if (sample.peakMiB !== undefined)
      this.#peak.set(target, Math.max(this.#peak.get(target) ?? 0, sample.peakMiB));
    if (sample.gc !== undefined) {
      const gc = this.#gc ?? { scavenges: 0, markCompacts: 0, pauseMs: 0, bytes: 0, ops: 0 };
      gc.scavenges += sample.gc.scavenges;
      gc.markCompacts += sample.gc.markCompacts;
      gc.pauseMs += sample.gc.pauseMs;
      gc.bytes += amount.bytes ?? 0;
      gc.ops += amount.ops ?? 0;
      this.#gc = gc;
    }
  }

  result(cipher: CipherCost): RowResult {
    const spec = this.#spec;
    const cpu: RowResult['cpu'] = {};
    for (const [target, c] of this.#cpu) {
      const systemShare = c.seconds > 0 ? c.systemSeconds / c.seconds : 0;
      cpu[target] =
        c.bytes > 0
          ? { sPerGiB: (c.seconds * GiB) / c.bytes, systemShare }
          : { msPerOp: (c.seconds * 1000) / c.ops, systemShare };
    }
    const perGiB = (value: number, bytes: number): number => (value * GiB) / bytes;
    const machineCpu: RowResult['machineCpu'] = {};
    for (const [target, m] of this.#machine) {
      const per = (seconds: number) => (m.bytes > 0 ? perGiB(seconds, m.bytes) : (seconds * 1000) / m.ops);
      machineCpu[target] = {
        unit: m.bytes > 0 ? 's/GiB' : 'ms/op',
        target: per(m.target),
        seaweedfs: per(m.seaweedfs),
        openbao: per(m.openbao),
        client: per(m.client),
        total: per(m.target + m.seaweedfs + m.openbao + m.client),
      };
    }
    return {
      id: spec.id,
      client: spec.client,
      label: spec.label,
      unit: spec.unit,
      higherIsBetter: spec.higherIsBetter ?? true,
      ratioTarget: spec.ratioTarget,
      figures: Object.fromEntries(
        [...this.#figures]
          .filter(([target]) => !this.#failures.has(target))
          .map(([target, values]) => [target, stats(values)]),
      ),
      failures: Object.fromEntries(this.#failures),
      cpu,
      cipher:
        spec.cipher === undefined
          ? undefined
          : {
              operation: spec.cipher,
              sPerGiB: spec.cipher === 'seal' ? cipher.sealSPerGiB : cipher.openSPerGiB,
            },
      peakRssMiB: Object.fromEntries(this.#peak),
      machineCpu,
      rssTargetMiB: spec.rssTargetMiB,
      idleRssMiB: this.#idleRssMiB,
      gc: this.#gc === undefined ? undefined : gcRates(this.#gc),
    };
  }
}

function gcBetween(before: GcTotals, after: GcTotals): GcTotals {
  return {
    scavenges: after.scavenges - before.scavenges,
    markCompacts: after.markCompacts - before.markCompacts,
    pauseMs: after.pauseMs - before.pauseMs,
  };
}

/** A row's collections per GiB moved, or per 1000 requests for the rows of small objects. */
function gcRates(gc: GcTotals & { bytes: number; ops: number }): NonNullable<RowResult['gc']> {
  const per = gc.bytes > 0 ? GiB / gc.bytes : 1000 / gc.ops;
  return {
    per: gc.bytes > 0 ? 'GiB' : '1000 requests',
    scavenges: gc.scavenges * per,
    markCompacts: gc.markCompacts * per,
    pauseMs: gc.pauseMs * per,
  };
}

/** strace -c -f attached to `pid` until the returned function is called; the summary goes to `file`. */
async function attachStrace(pid: number, file: string): Promise<() => Promise<void>> {
  const child = spawn('strace', ['-c', '-f', '-p', String(pid), '-o', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 5_000;
  while (!stderr.includes('attached') && Date.now() < deadline && child.exitCode === null) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!stderr.includes('attached')) throw new Error(`strace did not attach to ${pid}: ${stderr}`);
  return async () => {
    child.kill('SIGINT');
    await exited;
  };
}

class Bench {
  readonly settings: BenchSettings;
  readonly services: Services;
  readonly targets: Target[];
  readonly proxy: ProxyTarget;
  readonly clients: BenchClient[];
  readonly buckets = new Map<TargetName, string>();
  readonly rows: Row[] = [];
  readonly upstreamCounts: UpstreamCount[] = [];
  readonly notes: string[] = [];
  #peakResetWorks = true;
  /** The SeaweedFS and OpenBao processes, when this benchmark started them (not when it attached to others). */
  readonly #services: ServicePids | undefined;

  constructor(settings: BenchSettings, services: Services, targets: Target[], proxy: ProxyTarget) {
    this.settings = settings;
    this.services = services;
    this.targets = targets;
    this.proxy = proxy;
    this.clients = settings.clients.map((name) => (name === 'curl' ? curlClient() : sdkClient()));
    const pids = servicePids();
    this.#services = pids.seaweedfs.length > 0 && pids.openbao.length > 0 ? pids : undefined;
  }

  row(spec: RowSpec): Row {
    const row = new Row(spec);
    this.rows.push(row);
    return row;
  }

  bucket(target: Target): string {
    return this.buckets.get(target.name) as string;
  }

  /** The targets in another order each round, so that none always runs right after another's load. */
  order(round: number): Target[] {
    const shift = round % this.targets.length;
    return [...this.targets.slice(shift), ...this.targets.slice(0, shift)];
  }

  /** Runs one measured transfer on `target`, with its process's CPU, peak RSS and (proxy) GC around it. */
  async measure(target: Target, label: string, work: () => Promise<void>): Promise<Sample> {
    const proxy = target.name === 'proxy' ? (target as ProxyTarget) : undefined;
    if (proxy !== undefined && this.settings.freshProxy) await proxy.restart(this.proxyRun(label));
    const pid = target.pid;
    if (pid !== undefined && !resetPeakRss(pid)) this.#peakResetWorks = false;
    // Read outside the CPU window: rendering /metrics is the proxy's work, not the transfer's.
    const gcBefore = proxy === undefined ? undefined : await proxyGcTotals(proxy.process.healthEndpoint);
    const cpuBefore = pid === undefined ? undefined : cpuTimes(pid);
    const machineBefore = this.#services === undefined ? undefined : machineCpuSeconds(this.#services);
    const stopStrace =
      proxy !== undefined && pid !== undefined && this.settings.straceDir !== undefined
        ? await attachStrace(pid, join(this.settings.straceDir, `${label}.strace.txt`))
        : undefined;
    const started = performance.now();
    try {
      await work();
    } finally {
      await stopStrace?.();
    }
    const seconds = (performance.now() - started) / 1000;
    console.error(`${label} ${target.name}: ${seconds.toFixed(2)} s`);
    const cpuAfter = pid === undefined ? undefined : cpuTimes(pid);
    const machineAfter = this.#services === undefined ? undefined : machineCpuSeconds(this.#services);
    const gcAfter = proxy === undefined ? undefined : await proxyGcTotals(proxy.process.healthEndpoint);
    return {
      machine:
        machineBefore === undefined || machineAfter === undefined
          ? undefined
          : {
              seaweedfs: machineAfter.seaweedfs - machineBefore.seaweedfs,
              openbao: machineAfter.openbao - machineBefore.openbao,
              client: machineAfter.client - machineBefore.client,
            },
      seconds,
      ...cpuBetween(cpuBefore, cpuAfter),
      peakMiB: pid === undefined ? undefined : peakRssMiB(pid),
      gc: gcBefore === undefined || gcAfter === undefined ? undefined : gcBetween(gcBefore, gcAfter),
    };
  }

  /**
   * Measures `work` into `row` (when the row is reported); a failure is recorded for that target and the run
   * goes on. Returns false when the work failed, so what depends on it can be skipped.
   */
  async attempt(
    row: Row | undefined,
    target: Target,
    label: string,
    work: () => Promise<void>,
    figure: (sample: Sample) => number,
    amount: { bytes?: number; ops?: number },
  ): Promise<boolean> {
    try {
      const sample = await this.measure(target, label, work);
      row?.add(target.name, sample, figure(sample), amount);
      return true;
    } catch (error) {
      console.error(`${label} on ${target.name} failed: ${error instanceof Error ? error.message : error}`);
      row?.fail(target.name, error);
      return false;
    }
  }

  proxyRun(label: string, maxObjectSize = 16 * GiB) {
    return { label, profileDir: this.settings.profileDir, maxObjectSize };
  }

  /** PUT then GET of one object per client and target, `rounds` times; `put` decides single-part or multipart. */
  async transferRows(
    ids: { put: RowId; get: RowId },
    what: string,
    size: number,
    rounds: number,
    put: (client: BenchClient, target: Target, bucket: string, key: string) => Promise<void>,
  ): Promise<void> {
    const { rows } = this.settings;
    if (!rows.has(ids.put) && !rows.has(ids.get)) return;
    const sizeText = size >= GiB ? `${size / GiB} GiB` : `${size / MiB} MiB`;
    for (const client of this.clients) {
      const putRow = rows.has(ids.put)
        ? this.row({
            id: ids.put,
            client: client.name,
            label: `PUT ${sizeText} ${what}`,
            unit: 'MiB/s',
            ratioTarget: 0.9,
            cipher: 'seal',
          })
        : undefined;
      const getRow = rows.has(ids.get)
        ? this.row({
            id: ids.get,
            client: client.name,
            label: `GET ${sizeText} ${what}`,
            unit: 'MiB/s',
            ratioTarget: 0.9,
            cipher: 'open',
          })
        : undefined;
      const key = `${ids.put}-${client.name}`;
      const stored = new Set<TargetName>();
      const rate = (sample: Sample) => size / MiB / sample.seconds;
      for (let round = 0; round < rounds; round++) {
        if (putRow !== undefined || round === 0) {
          for (const target of this.order(round)) {
            const bucket = this.bucket(target);
            const label = `${ids.put}-${client.name}-r${round}`;
            if (
              await this.attempt(putRow, target, label, () => put(client, target, bucket, key), rate, {
                bytes: size,
              })
            )
              stored.add(target.name);
          }
        }
        if (getRow === undefined) continue;
        for (const target of this.order(round)) {
          if (!stored.has(target.name)) {
            getRow.fail(target.name, 'the PUT before it failed');
            continue;
          }
          const label = `${ids.get}-${client.name}-r${round}`;
          await this.attempt(
            getRow,
            target,
            label,
            () => client.get(target, this.bucket(target), key, size),
            rate,
            {
              bytes: size,
            },
          );
        }
      }
    }
  }

  async smallRows(): Promise<void> {
    const { rows, smallOps, smallSize, smallClients, rounds } = this.settings;
    if (!rows.has('put-small') && !rows.has('get-small')) return;
    const sizeText = `${smallSize / 1024} KiB`;
    for (const client of this.clients) {
      const keys = Array.from({ length: smallOps }, (_, i) => `small-${client.name}/${i}`);
      const label = (verb: string) => `${verb} ${sizeText}, ${smallClients} clients`;
      const putRow = rows.has('put-small')
        ? this.row({
            id: 'put-small',
            client: client.name,
            label: label('PUT'),
            unit: 'ops/s',
            ratioTarget: 0.8,
          })
        : undefined;
      const getRow = rows.has('get-small')
        ? this.row({
            id: 'get-small',
            client: client.name,
            label: label('GET'),
            unit: 'ops/s',
            ratioTarget: 0.8,
          })
        : undefined;
      const stored = new Set<TargetName>();
      const rate = (sample: Sample) => keys.length / sample.seconds;
      for (let round = 0; round < rounds; round++) {
        if (putRow !== undefined || round === 0) {
          for (const target of this.order(round)) {
            const label = `put-small-${client.name}-r${round}`;
            const work = () => client.putMany(target, this.bucket(target), keys, smallSize, smallClients);
            if (await this.attempt(putRow, target, label, work, rate, { ops: keys.length }))
              stored.add(target.name);
          }
        }
        if (getRow === undefined) continue;
        for (const target of this.order(round)) {
          if (!stored.has(target.name)) {
            getRow.fail(target.name, 'the PUTs before it failed');
            continue;
          }
          const label = `get-small-${client.name}-r${round}`;
          const work = () => client.getMany(target, this.bucket(target), keys, smallSize, smallClients);
          await this.attempt(getRow, target, label, work, rate, { ops: keys.length });
        }
      }
    }
  }

  async rangeRows(): Promise<void> {
    const { rows, rangeReads, rangeObjectSize, rounds } = this.settings;
    if (!rows.has('range')) return;
    const key = 'range-object';
    // A Buffer body goes with a plain Content-Length, which every target takes (rclone refuses aws-chunked).
    const body = wholeBody(rangeObjectSize);
    for (const target of this.targets) {
      await target.sdk().send(new PutObjectCommand({ Bucket: this.bucket(target), Key: key, Body: body }));
    }
    const random = seededRandom(10);
    const blocks = rangeObjectSize / 4096;
    const ranges: Range[] = Array.from({ length: rangeReads }, () => {
      const start = Math.floor(random() * (blocks - 1)) * 4096;
      return { start, end: start + 4095 };
    });
    const sizeText = `${rangeObjectSize / MiB} MiB`;
    for (const client of this.clients) {
      const row = this.row({
        id: 'range',
        client: client.name,
        label: `range 4 KiB of ${sizeText} single-part, median latency`,
        unit: 'ms',
        higherIsBetter: false,
      });
      for (let round = 0; round < rounds; round++) {
        for (const target of this.order(round)) {
          let latencies: number[] = [];
          const work = async () => {
            latencies = await client.rangeReads(target, this.bucket(target), key, ranges);
          };
          const median = () => stats(latencies).median;
          await this.attempt(row, target, `range-${client.name}-r${round}`, work, median, {
            ops: ranges.length,
          });
        }
      }
    }
  }

  /** How many upstream requests one client request costs, seen by a relay between a proxy of its own and SeaweedFS. */
  async upstreamRequestRows(): Promise<void> {
    if (!this.settings.rows.has('upstream-requests')) return;
    const relay = await startCountingRelay(this.services.s3.endpoint);
    const proxy = await proxyTarget(this.services, {
      ...this.proxyRun('upstream-requests'),
      profileDir: undefined,
      upstreamEndpoint: relay.endpoint,
    });
    try {
      const client = proxy.sdk();
      const bucket = uniqueBucket('bench-count');
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      await sdkClient().put(proxy, bucket, 'single', MiB);
      await new Upload({
        client,
        params: { Bucket: bucket, Key: 'multipart', Body: generatedBody(6 * MiB) },
        partSize: 5 * MiB,
      }).done();
      const count = async (
        request: string,
        key: string,
        extra: { Range?: string; PartNumber?: number },
        target?: number,
      ) => {
        relay.reset();
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
        await got.Body?.transformToByteArray();
        const upstream = relay
          .seen()
          .map((seen) => `${seen.method}${seen.range === undefined ? '' : ` ${seen.range}`}`);
        this.upstreamCounts.push({ request, upstream, target });
      };
      await count('GET of a whole single-part object', 'single', {}, 1);
      await count('range GET bytes=4096-8191, single-part', 'single', { Range: 'bytes=4096-8191' }, 1);
      await count('suffix range GET bytes=-4096, single-part', 'single', { Range: 'bytes=-4096' });
      await count('range GET bytes=4096-8191, multipart, first read', 'multipart', {
        Range: 'bytes=4096-8191',
      });
      await count('range GET bytes=4096-8191, multipart, layout cached', 'multipart', {
        Range: 'bytes=4096-8191',
      });
      await count('GET partNumber=2, multipart', 'multipart', { PartNumber: 2 });
    } finally {
      await proxy.close();
      await relay.close();
    }
  }

  /**
   * What a relay with no crypto costs per GiB on this machine, with curl and the single-part size: the floor
   * under the proxy's CPU, shown beside the raw cipher (bench/relay-floor.ts).
   */
  async relayFloorRow(direct: Target): Promise<RelayFloor | undefined> {
    if (!this.settings.rows.has('relay-floor')) return undefined;
    const bucket = uniqueBucket('bench-relay-floor');
    await direct.sdk().send(new CreateBucketCommand({ Bucket: bucket }));
    const curl = this.clients.find((client) => client.name === 'curl') ?? curlClient();
    try {
      const floor = await measureRelayFloor(
        direct,
        bucket,
        this.settings.singleSize,
        this.settings.rounds,
        curl,
      );
      for (const [kind, error] of Object.entries(floor.failures))
        this.notes.push(`relay floor: the ${kind} relay failed: ${error.split('\n')[0]?.slice(0, 200)}`);
      return floor;
    } finally {
      if (!this.clients.includes(curl)) curl.close();
    }
  }

  /** R-PERF-2: peak RSS of a fresh proxy for each PUT and each GET, with the SDK as client. */
  async memoryRows(): Promise<void> {
    const { rows, memSingleSize, memMultipartSize, parallel, parallelSize, partSize, partQueue } =
      this.settings;
    const sdk = sdkClient();
    const gib = (size: number) => (size >= GiB ? `${size / GiB} GiB` : `${size / MiB} MiB`);
    const cases: Array<{
      id: RowId;
      what: string;
      bytes: number;
      rssTargetMiB: number;
      put: (target: Target, bucket: string) => Promise<void>;
      get: (target: Target, bucket: string) => Promise<void>;
    }> = [
      {
        id: 'mem-single',
        what: `${gib(memSingleSize)} single-part`,
        bytes: memSingleSize,
        rssTargetMiB: 100,
        put: (target, bucket) => sdk.put(target, bucket, 'mem-single', memSingleSize),
        get: (target, bucket) => sdk.get(target, bucket, 'mem-single', memSingleSize),
      },
      {
        id: 'mem-multipart',
        what: `${gib(memMultipartSize)} multipart`,
        bytes: memMultipartSize,
        rssTargetMiB: 100,
        put: (target, bucket) =>
          sdk.putMultipart(target, bucket, 'mem-multipart', memMultipartSize, partSize, partQueue),
        get: (target, bucket) => sdk.get(target, bucket, 'mem-multipart', memMultipartSize),
      },
      {
        id: 'mem-parallel',
        what: `${parallel}×${gib(parallelSize)} concurrent`,
        bytes: parallel * parallelSize,
        rssTargetMiB: 512,
        put: (target, bucket) => sdk.putMany(target, bucket, keysOf(parallel), parallelSize, parallel),
        get: (target, bucket) => sdk.getMany(target, bucket, keysOf(parallel), parallelSize, parallel),
      },
    ];
    for (const memory of cases) {
      if (!rows.has(memory.id)) continue;
      const proxy = await proxyTarget(this.services, this.proxyRun(`${memory.id}-put`, memory.bytes));
      try {
        const bucket = uniqueBucket('bench-mem');
        await proxy.sdk().send(new CreateBucketCommand({ Bucket: bucket }));
        for (const [verb, work] of [
          ['PUT', memory.put],
          ['GET', memory.get],
        ] as const) {
          const row = this.row({
            id: memory.id,
            client: 'sdk',
            label: `${verb} ${memory.what}, fresh proxy`,
            unit: 'MiB/s',
            cipher: verb === 'PUT' ? 'seal' : 'open',
            rssTargetMiB: memory.rssTargetMiB,
          });
          if (verb === 'GET') await proxy.restart(this.proxyRun(`${memory.id}-get`, memory.bytes));
          // No reset of the peak: a fresh process's peak includes what it holds from the start.
          const pid = proxy.pid as number;
          row.idleRss(rssMiB(pid));
          const gcBefore = await proxyGcTotals(proxy.process.healthEndpoint);
          const cpuBefore = cpuTimes(pid);
          const started = performance.now();
          await work(proxy, bucket);
          const seconds = (performance.now() - started) / 1000;
          const cpu = cpuBetween(cpuBefore, cpuTimes(pid));
          const peakMiB = peakRssMiB(pid);
          const gcAfter = await proxyGcTotals(proxy.process.healthEndpoint);
          const sample = { seconds, ...cpu, peakMiB, gc: gcBetween(gcBefore, gcAfter), machine: undefined };
          row.add('proxy', sample, memory.bytes / MiB / seconds, { bytes: memory.bytes });
        }
      } finally {
        await proxy.close();
      }
    }
  }

  finish(cipher: CipherCost): RowResult[] {
    if (!this.#peakResetWorks) {
      this.notes.push(
        '/proc/<pid>/clear_refs was not writable: the peak RSS of a row includes earlier rows.',
      );
    }
    if (this.settings.straceDir !== undefined) {
      this.notes.push('strace was attached to the proxy: its throughput and CPU figures are not comparable.');
    }
    if (this.settings.freshProxy) {
      this.notes.push('a fresh proxy per measurement: its CPU includes one Vault unwrap per transfer.');
    }
    const results = this.rows.map((row) => row.result(cipher));
    for (const row of results) {
      for (const [target, error] of Object.entries(row.failures)) {
        this.notes.push(
          `${row.label} (${row.client}) failed on ${target}: ${error.split('\n')[0]?.slice(0, 200)}`,
        );
      }
    }
    return results;
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}

/** The CPU a process used between two readings of cpuTimes, for a Sample. */
function cpuBetween(
  before: { user: number; system: number } | undefined,
  after: { user: number; system: number } | undefined,
): Pick<Sample, 'cpu' | 'cpuSystem'> {
  if (before === undefined || after === undefined) return { cpu: undefined, cpuSystem: undefined };
  const system = after.system - before.system;
  return { cpu: after.user - before.user + system, cpuSystem: system };
}

function keysOf(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `parallel-${i}`);
}

function combineCipher(a: CipherCost, b: CipherCost): CipherCost {
  const sealSamples = [...a.sealSamples, ...b.sealSamples];
  const openSamples = [...a.openSamples, ...b.openSamples];
  return {
    sealSPerGiB: Math.min(...sealSamples),
    openSPerGiB: Math.min(...openSamples),
    sealSamples,
    openSamples,
    bytes: a.bytes,
  };
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/[:]/g, '').replace(/\..*/, 'Z');
}

async function main(): Promise<void> {
  if (process.env.BENCH_HELP === '1') {
    console.log(settingsHelp());
    return;
  }
  const settings = benchSettings();
  const startedAt = new Date();
  const machine = describeMachine();
  const resultsDir = settings.resultsDir ?? join(REPO_ROOT, 'bench', 'results', timestamp(startedAt));
  mkdirSync(resultsDir, { recursive: true });
  for (const dir of [settings.profileDir, settings.straceDir])
    if (dir !== undefined) mkdirSync(dir, { recursive: true });
  console.log(`cipher cost (before): measuring ${settings.cipherSize / MiB} MiB…`);
  const cipherBefore = measureCipherCost(settings.cipherSize);

  const services = await loadServices();
  const opened: Target[] = [];
  let bench: Bench | undefined;
  let relayFloor: RelayFloor | undefined;
  try {
    const direct = directTarget(services);
    opened.push(direct);
    const proxy = await proxyTarget(services, {
      label: 'proxy',
      profileDir: settings.freshProxy ? undefined : settings.profileDir,
      maxObjectSize: 16 * GiB,
    });
    opened.push(proxy);
    if (settings.targets.includes('rclone')) opened.push(await rcloneTarget(services));
    const targets = opened.filter((target) => settings.targets.includes(target.name));
    bench = new Bench(settings, services, targets, proxy);
    for (const target of targets) {
      const bucket = uniqueBucket(`bench-${target.name}`);
      await target.sdk().send(new CreateBucketCommand({ Bucket: bucket }));
      bench.buckets.set(target.name, bucket);
    }
    // First, before the proxy has served anything: the relays are measured on the machine as the rows find it.
    relayFloor = await bench.relayFloorRow(direct);
    const { singleSize, multipartSize, partSize, partQueue } = settings;
    await bench.transferRows(
      { put: 'put-single', get: 'get-single' },
      'single-part',
      singleSize,
      settings.rounds,
      (c, t, b, k) => c.put(t, b, k, singleSize),
    );
    await bench.transferRows(
      { put: 'put-multipart', get: 'get-multipart' },
      `multipart (${partSize / MiB} MiB parts)`,
      multipartSize,
      settings.multipartRounds,
      (c, t, b, k) => c.putMultipart(t, b, k, multipartSize, partSize, partQueue),
    );
    await bench.smallRows();
    await bench.rangeRows();
    await bench.upstreamRequestRows();
    await bench.memoryRows();
  } finally {
    bench?.close();
    for (const target of opened.reverse()) await target.close();
    await services.stop();
  }

  const cipher = combineCipher(cipherBefore, measureCipherCost(settings.cipherSize));
  machine.load.end = currentLoad();
  const results: Results = {
    startedAt: startedAt.toISOString(),
    machine,
    settings: { ...settings, rows: [...settings.rows] },
    cipher,
    relayFloor,
    rows: bench.finish(cipher),
    upstreamRequests: bench.upstreamCounts,
    notes: bench.notes,
  };
  const text = [
    `cloudtaser-s3-proxy benchmark, ${results.startedAt}`,
    `machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB; Linux ${machine.kernel}; Node ${machine.node}; SeaweedFS ${machine.seaweedfs}; ${machine.rclone}; ${machine.curl}`,
    `load average (1 min): ${machine.load.start.toFixed(2)} at the start, ${machine.load.end.toFixed(2)} at the end`,
    `raw AES-256-GCM, one cipher per 64 KiB segment, this Node: seal ${cipher.sealSPerGiB.toFixed(3)} s/GiB, open ${cipher.openSPerGiB.toFixed(3)} s/GiB (lowest of ${cipher.sealSamples.length}; seal ${Math.max(...cipher.sealSamples).toFixed(3)}, open ${Math.max(...cipher.openSamples).toFixed(3)} at most)`,
    ...(relayFloor === undefined ? [] : renderRelayFloor(relayFloor, cipher)),
    'figures: median ±half the spread over rounds; ratio = proxy speed / direct speed (latency rows: direct ms / proxy ms);',
    'CPU = user+system seconds of the process (/proc/<pid>/stat) per GiB moved, or per request (sys: the system part); peak RSS = VmHWM over the row',
    ...(results.rows.length === 0 ? [] : ['', renderTable(tableRows(results.rows))]),
    ...((machineLines) => (machineLines.length === 0 ? [] : ['', ...machineLines]))(
      renderMachineCpu(results.rows, machine.cores),
    ),
    ...((gcLines) => (gcLines.length === 0 ? [] : ['', ...gcLines]))(renderGc(results.rows)),
    ...(results.upstreamRequests.length === 0
      ? []
      : ['', 'upstream requests per client request:', renderUpstreamCounts(results.upstreamRequests)]),
    ...(results.notes.length === 0 ? [] : ['', ...results.notes.map((note) => `note: ${note}`)]),
    '',
    `results: ${resultsDir}`,
  ].join('\n');
  console.log(`\n${text}`);
  writeFileSync(join(resultsDir, 'table.txt'), `${text}\n`);
  writeFileSync(join(resultsDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(resultsDir, 'chart.svg'), renderSvg(results));
}

await main();
