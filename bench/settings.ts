/**
 * What `npm run bench` runs, from BENCH_* environment variables. The table below is also what
 * `BENCH_HELP=1 npm run bench` prints and what docs/BENCHMARKS.md lists.
 */
import { MiB } from '../test/support/fixtures.ts';

export const ROW_IDS = [
  'put-single',
  'get-single',
  'put-multipart',
  'get-multipart',
  'put-small',
  'get-small',
  'range',
  'upstream-requests',
  'mem-single',
  'mem-multipart',
  'mem-parallel',
  'relay-floor',
] as const;
export type RowId = (typeof ROW_IDS)[number];

export const CLIENT_NAMES = ['curl', 'sdk'] as const;
export type ClientName = (typeof CLIENT_NAMES)[number];

export const TARGET_NAMES = ['direct', 'proxy', 'rclone'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

type Setting = { name: string; default: string; meaning: string };

export const SETTINGS: readonly Setting[] = [
  { name: 'BENCH_ROWS', default: 'all', meaning: `comma-separated rows to run: ${ROW_IDS.join(', ')}` },
  {
    name: 'BENCH_CLIENTS',
    default: 'curl,sdk',
    meaning: 'clients: curl (--aws-sigv4), sdk (aws-sdk-js v3 defaults)',
  },
  {
    name: 'BENCH_TARGETS',
    default: 'direct,proxy,rclone',
    meaning: 'endpoints: SeaweedFS itself, the proxy, rclone serve s3 over crypt',
  },
  {
    name: 'BENCH_ROUNDS',
    default: '3',
    meaning: 'rounds of the single-part, small, range and relay-floor rows (median and spread over them)',
  },
  { name: 'BENCH_MULTIPART_ROUNDS', default: '1', meaning: 'rounds of the multipart rows' },
  {
    name: 'BENCH_SINGLE_MIB',
    default: '256',
    meaning: 'size of the single-part object (also what the relay-floor row moves)',
  },
  { name: 'BENCH_MULTIPART_MIB', default: '1024', meaning: 'size of the multipart object' },
  {
    name: 'BENCH_PART_MIB',
    default: '5',
    meaning: "part size of multipart uploads (5 = lib-storage's default)",
  },
  {
    name: 'BENCH_PART_QUEUE',
    default: '4',
    meaning: "parts in flight at once (4 = lib-storage's default); curl uses the same",
  },
  { name: 'BENCH_SMALL_KIB', default: '4', meaning: 'size of the small objects' },
  {
    name: 'BENCH_SMALL_OPS',
    default: '800',
    meaning: 'small PUTs (then as many GETs) per target, client and round',
  },
  { name: 'BENCH_SMALL_CLIENTS', default: '16', meaning: 'concurrent small requests' },
  {
    name: 'BENCH_RANGE_READS',
    default: '40',
    meaning: 'sequential 4 KiB range GETs per target, client and round',
  },
  { name: 'BENCH_RANGE_OBJECT_MIB', default: '256', meaning: 'size of the object the range reads read from' },
  {
    name: 'BENCH_MEM_SINGLE_MIB',
    default: '1024',
    meaning: 'size of the single-part memory row (fresh proxy)',
  },
  {
    name: 'BENCH_MEM_MULTIPART_MIB',
    default: '5120',
    meaning: 'size of the multipart memory row (fresh proxy)',
  },
  {
    name: 'BENCH_PARALLEL',
    default: '64',
    meaning: 'concurrent transfers of the mem-parallel row (fresh proxy)',
  },
  { name: 'BENCH_PARALLEL_MIB', default: '100', meaning: 'size of each of those transfers' },
  {
    name: 'BENCH_CIPHER_MIB',
    default: '256',
    meaning: 'bytes sealed and opened to measure the raw AES-256-GCM cost',
  },
  {
    name: 'BENCH_RESULTS_DIR',
    default: 'bench/results/<timestamp>',
    meaning: 'where table.txt, results.json and chart.svg go',
  },
  {
    name: 'BENCH_FRESH_PROXY',
    default: '0',
    meaning: '1: a new proxy process for every row and client (set by the profile options)',
  },
  {
    name: 'BENCH_PROFILE_DIR',
    default: '',
    meaning: 'write a V8 CPU profile per proxy process there (implies BENCH_FRESH_PROXY=1)',
  },
  {
    name: 'BENCH_STRACE_DIR',
    default: '',
    meaning: 'attach strace -c -f to the proxy for each row; the summaries go there',
  },
  { name: 'BENCH_HELP', default: '0', meaning: '1: print this table and exit' },
];

export type BenchSettings = {
  rows: ReadonlySet<RowId>;
  clients: readonly ClientName[];
  targets: readonly TargetName[];
  rounds: number;
  multipartRounds: number;
  singleSize: number;
  multipartSize: number;
  partSize: number;
  partQueue: number;
  smallSize: number;
  smallOps: number;
  smallClients: number;
  rangeReads: number;
  rangeObjectSize: number;
  memSingleSize: number;
  memMultipartSize: number;
  parallel: number;
  parallelSize: number;
  cipherSize: number;
  resultsDir: string | undefined;
  freshProxy: boolean;
  profileDir: string | undefined;
  straceDir: string | undefined;
};

function list<T extends string>(name: string, allowed: readonly T[], env: NodeJS.ProcessEnv): T[] {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === 'all') return [...allowed];
  const values = raw.split(',').map((value) => value.trim());
  for (const value of values) {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new Error(`${name}: unknown value "${value}" (known: ${allowed.join(', ')})`);
    }
  }
  return values as T[];
}

function positive(name: string, env: NodeJS.ProcessEnv, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

export function benchSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const profileDir = env.BENCH_PROFILE_DIR || undefined;
  return {
    rows: new Set(list('BENCH_ROWS', ROW_IDS, env)),
    clients: list('BENCH_CLIENTS', CLIENT_NAMES, env),
    targets: list('BENCH_TARGETS', TARGET_NAMES, env),
    rounds: Math.round(positive('BENCH_ROUNDS', env, 3)),
    multipartRounds: Math.round(positive('BENCH_MULTIPART_ROUNDS', env, 1)),
    singleSize: Math.round(positive('BENCH_SINGLE_MIB', env, 256) * MiB),
    multipartSize: Math.round(positive('BENCH_MULTIPART_MIB', env, 1024) * MiB),
    partSize: Math.round(positive('BENCH_PART_MIB', env, 5) * MiB),
    partQueue: Math.round(positive('BENCH_PART_QUEUE', env, 4)),
    smallSize: Math.round(positive('BENCH_SMALL_KIB', env, 4) * 1024),
    smallOps: Math.round(positive('BENCH_SMALL_OPS', env, 800)),
    smallClients: Math.round(positive('BENCH_SMALL_CLIENTS', env, 16)),
    rangeReads: Math.round(positive('BENCH_RANGE_READS', env, 40)),
    rangeObjectSize: Math.round(positive('BENCH_RANGE_OBJECT_MIB', env, 256) * MiB),
    memSingleSize: Math.round(positive('BENCH_MEM_SINGLE_MIB', env, 1024) * MiB),
    memMultipartSize: Math.round(positive('BENCH_MEM_MULTIPART_MIB', env, 5120) * MiB),
    parallel: Math.round(positive('BENCH_PARALLEL', env, 64)),
    parallelSize: Math.round(positive('BENCH_PARALLEL_MIB', env, 100) * MiB),
    cipherSize: Math.round(positive('BENCH_CIPHER_MIB', env, 256) * MiB),
    resultsDir: env.BENCH_RESULTS_DIR || undefined,
    freshProxy: env.BENCH_FRESH_PROXY === '1' || profileDir !== undefined,
    profileDir,
    straceDir: env.BENCH_STRACE_DIR || undefined,
  };
}

export function settingsHelp(): string {
  const width = Math.max(...SETTINGS.map((s) => s.name.length));
  return SETTINGS.map((s) => `${s.name.padEnd(width)}  ${s.meaning} (default: ${s.default || 'unset'})`).join(
    '\n',
  );
}
