/**
 * Where the proxy's CPU goes, per GiB: reads the V8 CPU profiles (BENCH_PROFILE_DIR) and the strace -c
 * summaries (BENCH_STRACE_DIR) that `scripts/bench.sh profile` made, one per measured transfer, and prints
 * self time per category and the top functions, and system calls, each per GiB moved.
 *
 *   node bench/profile-summary.ts <profile dir> [<strace dir>] --results <results.json of the profiled run>
 *
 * A profile's label (`put-single-curl-r0`) names the row; the results say how much it moved and its CPU.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type CpuProfile = {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
};

const GiB = 2 ** 30;
const STARTUP = 'startup: module loading and compiling';

/** Categories by where the code lives; a frame without a URL (a native binding, a builtin) takes its caller's. */
const CATEGORIES: Array<[string, (url: string, name: string) => boolean]> = [
  ['GC', (_url, name) => name === '(garbage collector)'],
  ['idle', (_url, name) => name === '(idle)'],
  ['V8/native outside JS (program)', (_url, name) => name === '(program)'],
  [
    STARTUP,
    (url) =>
      /node:internal\/(modules|main|bootstrap|deps\/amaro|process\/pre_execution)|strip-types/.test(url),
  ],
  [
    'cipher (AES-GCM calls)',
    (url) => url.includes('node:internal/crypto/cipher') || url.includes('node:internal/crypto/keys'),
  ],
  [
    'hashing (CRC, MD5, SHA)',
    (url) =>
      url.includes('node:internal/crypto/hash') ||
      /\/(src|dist)\/s3\/checksum\.(ts|js)$/.test(url) ||
      url === 'node:zlib',
  ],
  ['aws-chunked decoding', (url) => /\/(src|dist)\/s3\/aws-chunked\//.test(url)],
  ['envelope framing (seal/open JS)', (url) => /\/(src|dist)\/envelope\//.test(url)],
  ['SigV4 signing', (url) => url.includes('@smithy/signature-v4') || url.includes('@aws-crypto')],
  [
    'undici (upstream client; llhttp is its WebAssembly parser)',
    (url) => url.includes('/undici/') || url.startsWith('wasm://'),
  ],
  ['HTTP server (node:_http_*)', (url) => /node:_http_|node:internal\/http/.test(url)],
  [
    'sockets (net, stream_base writes and reads)',
    (url) => /node:net|node:internal\/stream_base_commons|node:internal\/net/.test(url),
  ],
  ['stream machinery (node:stream)', (url) => url.includes('node:internal/streams') || url === 'node:stream'],
  [
    'buffers and copies (node:buffer)',
    (url) => url === 'node:buffer' || url.includes('node:internal/buffer'),
  ],
  [
    'timers, setImmediate, ticks',
    (url) => /node:internal\/timers|node:timers|node:internal\/process\/task_queues/.test(url),
  ],
  ['events', (url) => url === 'node:events' || url.includes('node:internal/events')],
  [
    'logging and metrics (pino, prom-client)',
    (url) => /\/pino|prom-client|thread-stream|sonic-boom/.test(url),
  ],
  [
    'proxy handlers (src/proxy, src/s3, src/server)',
    (url) => /\/(src|dist)\/(proxy|s3|server|upstream|kms)\//.test(url),
  ],
  ['other node internals', (url) => url.startsWith('node:')],
  ['other dependencies', (url) => url.includes('node_modules')],
  ['other', () => true],
];

function categoryOf(url: string, name: string): string | undefined {
  if (url === '' && !name.startsWith('(')) return undefined;
  return CATEGORIES.find(([, test]) => test(url, name))?.[0];
}

type Summary = { totalMs: number; byCategory: Map<string, number>; byFunction: Map<string, number> };

export function summariseProfile(profile: CpuProfile): Summary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const category = new Map<number, string>();
  const visit = (id: number, inherited: string): void => {
    const node = nodes.get(id) as ProfileNode;
    const own = categoryOf(node.callFrame.url, node.callFrame.functionName) ?? inherited;
    category.set(id, own);
    for (const child of node.children ?? []) visit(child, own);
  };
  visit(profile.nodes[0]?.id as number, 'other');
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of selfMs) {
    const node = nodes.get(id) as ProfileNode;
    const cat = category.get(id) ?? 'other';
    if (cat === 'idle') continue;
    totalMs += ms;
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + ms);
    const { functionName, url, lineNumber } = node.callFrame;
    const where =
      url === '' ? '(native)' : `${url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${lineNumber + 1}`;
    const name = `${functionName || '(anonymous)'} ${where} [${cat}]`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
  }
  return { totalMs, byCategory, byFunction };
}

/** `% time  seconds  usecs/call  calls  errors  syscall` lines of strace -c. */
export function parseStraceSummary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (match !== null && match[2] !== 'total') calls.set(match[2] as string, Number(match[1]));
  }
  return calls;
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index < 0 ? undefined : process.argv[index + 1];
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  '),
    )
    .join('\n');
}

type RunResults = {
  settings: { singleSize: number; multipartSize: number };
  rows: Array<{ id: string; client: string; cpu: { proxy?: { sPerGiB?: number } } }>;
};

/**
 * The profile's sample times are wall-clock: on a loaded machine a descheduled thread's wait is counted to
 * whatever it was running. So the profile gives shares, and the proxy's CPU s/GiB from /proc (the same run's
 * results.json) gives the scale: estimate = share of non-idle, non-startup samples × measured CPU s/GiB.
 */
function main(): void {
  const positional = process.argv
    .slice(2)
    .filter((arg, i, all) => !arg.startsWith('--') && !all[i - 1]?.startsWith('--'));
  const [profileDir, straceDir] = positional;
  const resultsPath = argument('--results');
  if (profileDir === undefined || resultsPath === undefined) {
    console.error(
      'usage: node bench/profile-summary.ts <profile dir> [<strace dir>] --results <cpu run results.json>',
    );
    process.exit(2);
  }
  const run = JSON.parse(readFileSync(resultsPath, 'utf8')) as RunResults;
  const rowOf = (label: string) => {
    const [, id, client] = /^(.*)-(curl|sdk)-r\d+$/.exec(label) ?? [];
    return { id: id ?? label, client: client ?? '' };
  };
  const bytesOf = (label: string) =>
    rowOf(label).id.includes('multipart') ? run.settings.multipartSize : run.settings.singleSize;
  const measuredCpu = (label: string) => {
    const { id, client } = rowOf(label);
    return run.rows.find((row) => row.id === id && row.client === client)?.cpu.proxy?.sPerGiB ?? Number.NaN;
  };
  const profiles = readdirSync(profileDir)
    .filter((file) => file.endsWith('.cpuprofile') && /-r\d+\./.test(file))
    .sort();
  const summaries = profiles.map((file) => {
    const label = basename(file, '.cpuprofile');
    const summary = summariseProfile(JSON.parse(readFileSync(join(profileDir, file), 'utf8')));
    const workMs = summary.totalMs - (summary.byCategory.get(STARTUP) ?? 0);
    return { label, summary, workMs, cpu: measuredCpu(label) };
  });
  const estimate = (s: (typeof summaries)[number], ms: number) => (ms / s.workMs) * s.cpu;
  const categories = [...new Set(summaries.flatMap((s) => [...s.summary.byCategory.keys()]))]
    .filter((cat) => cat !== STARTUP)
    .sort((a, b) => {
      const total = (cat: string) =>
        summaries.reduce((sum, s) => sum + estimate(s, s.summary.byCategory.get(cat) ?? 0), 0);
      return total(b) - total(a);
    });
  console.log(
    'Proxy CPU s/GiB by category: share of the V8 profile (self time, startup left out) × CPU s/GiB from /proc\n',
  );
  console.log(
    table([
      ['category', ...summaries.map((s) => s.label)],
      ...categories.map((cat) => [
        cat,
        ...summaries.map((s) => {
          const ms = s.summary.byCategory.get(cat) ?? 0;
          return `${estimate(s, ms).toFixed(2)} (${((ms / s.workMs) * 100).toFixed(0)}%)`;
        }),
      ]),
      ['total = /proc CPU s/GiB', ...summaries.map((s) => s.cpu.toFixed(2))],
    ]),
  );
  for (const s of summaries) {
    console.log(`\ntop functions by self time, ${s.label} (estimated s/GiB, share of non-startup samples)`);
    const top = [...s.summary.byFunction]
      .filter(([name]) => !name.endsWith(`[${STARTUP}]`))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 20);
    for (const [name, ms] of top) {
      console.log(
        `  ${estimate(s, ms).toFixed(3).padStart(6)}  ${((ms / s.workMs) * 100).toFixed(1).padStart(5)}%  ${name}`,
      );
    }
  }
  if (straceDir === undefined) return;
  const straces = readdirSync(straceDir)
    .filter((file) => file.endsWith('.strace.txt'))
    .sort();
  const parsed = straces.map((file) => {
    const label = basename(file, '.strace.txt');
    return {
      label,
      bytes: bytesOf(label),
      calls: parseStraceSummary(readFileSync(join(straceDir, file), 'utf8')),
    };
  });
  const syscalls = [...new Set(parsed.flatMap((p) => [...p.calls.keys()]))]
    .map((name) => ({
      name,
      total: parsed.reduce((sum, p) => sum + ((p.calls.get(name) ?? 0) * GiB) / p.bytes, 0),
    }))
    .filter((s) => s.total >= 10)
    .sort((a, b) => b.total - a.total);
  console.log('\nsystem calls per GiB (strace -c -f on the proxy, all threads)\n');
  console.log(
    table([
      ['syscall', ...parsed.map((p) => p.label)],
      ...syscalls.map(({ name }) => [
        name,
        ...parsed.map((p) => (((p.calls.get(name) ?? 0) * GiB) / p.bytes).toFixed(0)),
      ]),
    ]),
  );
}

main();
