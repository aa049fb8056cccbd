/**
 * The relay floor: the CPU that a process costs per GiB when it only relays a transfer to SeaweedFS, with no
 * crypto and no re-signing, measured the way the proxy's CPU is measured (/proc/<pid>/stat of a child process
 * that runs the proxy's Node binary with the proxy's V8 flag). Two relays:
 * - `tcp`: each client connection is piped to a new connection to SeaweedFS's S3 port, both ways, unparsed;
 * - `http`: node:http and an undici Agent as the proxy uses them (256 KiB high-water marks), forwarding
 *   method, path, headers and body unchanged.
 * Issue 10 asks that the proxy's CPU per GiB be at most 2× the raw cipher's; these figures show what no relay
 * process can go below on the same machine in the same run, whatever its crypto costs.
 *
 * Both relays pass the Host header on unchanged, so the client's SigV4 signature (made for the relay's
 * address) still verifies at SeaweedFS, as it does through test/support/counting-relay.ts.
 *
 * Run as a child: `node --max-semi-space-size=1 bench/relay-floor.ts <tcp|http> <upstream endpoint>`; it
 * prints `listening <port>` and exits when its stdin closes (so it does not outlive the benchmark).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import type { BenchClient } from './clients.ts';
import { cpuTimes } from './proc.ts';
import { type Credentials, type Endpoint, sdkClient } from './targets.ts';

export const RELAY_KINDS = ['tcp', 'http'] as const;
export type RelayKind = (typeof RELAY_KINDS)[number];

export const RELAY_DESCRIPTIONS: Readonly<Record<RelayKind, string>> = {
  tcp: 'node:net pipe of each connection to SeaweedFS, no HTTP parsing',
  http: 'node:http server + undici Agent, headers and body forwarded unchanged (body.pipe(res))',
};

/** CPU seconds per GiB moved, user + system and apart. */
export type CpuPerGiB = { total: number; user: number; system: number };

export type RelayTransferFigures = {
  /** The round with the least CPU: the least disturbed, as close to the floor as this run got. */
  lowest: CpuPerGiB;
  /** The round with the median CPU. */
  median: CpuPerGiB;
  /** Throughput of the median round; the CPU is what matters here, this only says the run was sane. */
  medianMiBPerS: number;
  samples: Array<CpuPerGiB & { mibPerS: number }>;
};

export type RelayFloor = {
  client: 'curl';
  bytes: number;
  rounds: number;
  relays: Partial<
    Record<RelayKind, { description: string; put: RelayTransferFigures; get: RelayTransferFigures }>
  >;
  /** Relays whose transfers failed, with the first error. */
  failures: Partial<Record<RelayKind, string>>;
};

/** The proxy's V8 flags (test/support/proxy-process.ts, docs/decisions/0015-v8-heap-flags.md), so both heaps behave alike. */
const NODE_FLAGS = ['--max-semi-space-size=1', '--initial-old-space-size=64'];
/** As STREAM_HIGH_WATER_MARK in src/server/proxy-server.ts and RESPONSE_HIGH_WATER_MARK in src/upstream/client.ts. */
const HIGH_WATER_MARK = 256 * 1024;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const GiB = 2 ** 30;
const MiB = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// The relays (child side).

function tcpRelay(upstream: URL): Server {
  return createTcpServer((client) => {
    const server = connect(Number(upstream.port), upstream.hostname);
    // Bytes both ways; an end or error on either side ends both (nothing of its own to report).
    pipeline(client, server, client, () => {});
  });
}

/**
 * Headers a hop may not forward (RFC 9110 §7.6.1), which undici also refuses to be given; `expect` is
 * answered here (Node sends 100 Continue itself when no `checkContinue` listener is set) and is not signed
 * by curl.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'expect',
  'te',
  'trailer',
]);

function endToEnd(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) kept[name] = value;
  }
  return kept;
}

function httpRelay(upstream: URL): ReturnType<typeof createHttpServer> {
  const agent = new Agent();
  return createHttpServer({ highWaterMark: HIGH_WATER_MARK, requestTimeout: 0 }, (req, res) => {
    const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
    agent
      .request({
        origin: upstream.origin,
        path: req.url ?? '/',
        method: req.method as Dispatcher.HttpMethod,
        // Host included: the client signed it, and SeaweedFS checks the signature against what it receives.
        headers: endToEnd(req.headers),
        body: hasBody ? req : null,
        highWaterMark: HIGH_WATER_MARK,
      })
      .then((answer) => {
        res.writeHead(answer.statusCode, endToEnd(answer.headers));
        pipeline(answer.body, res, () => {});
      })
      .catch(() => res.destroy());
  });
}

async function serveRelay(kind: RelayKind, upstream: URL): Promise<void> {
  const server = kind === 'tcp' ? tcpRelay(upstream) : httpRelay(upstream);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  console.log(`listening ${(server.address() as AddressInfo).port}`);
  // The benchmark holds our stdin: when it closes (the benchmark ended, however), so do we.
  process.stdin.resume().once('end', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// Starting a relay and measuring it (benchmark side).

type RunningRelay = Endpoint & { readonly pid: number; close(): Promise<void> };

async function startRelay(kind: RelayKind, upstream: Endpoint): Promise<RunningRelay> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...NODE_FLAGS, import.meta.filename, kind, upstream.endpoint],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let port: number;
  try {
    const [line] = (await once(lines, 'line', { signal: AbortSignal.timeout(START_TIMEOUT_MS) })) as [string];
    port = Number(/^listening (\d+)$/.exec(line)?.[1]);
    if (!Number.isInteger(port)) throw new Error(`the ${kind} relay said "${line}", not its port`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials: Credentials = upstream.credentials;
  const sdk = sdkClient(endpoint, credentials, undefined);
  return {
    name: `${kind} relay`,
    endpoint,
    credentials,
    pid: child.pid as number,
    sdk: () => sdk,
    async close() {
      sdk.destroy();
      const exited = once(child, 'exit');
      child.stdin?.end();
      await Promise.race([exited, sleep(STOP_TIMEOUT_MS)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function perGiB(cpu: { user: number; system: number }, bytes: number): CpuPerGiB {
  const scale = GiB / bytes;
  return { total: (cpu.user + cpu.system) * scale, user: cpu.user * scale, system: cpu.system * scale };
}

function figures(samples: Array<CpuPerGiB & { mibPerS: number }>): RelayTransferFigures {
  const sorted = [...samples].sort((a, b) => a.total - b.total);
  const lowest = sorted[0] as CpuPerGiB & { mibPerS: number };
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as CpuPerGiB & { mibPerS: number };
  const cpu = ({ total, user, system }: CpuPerGiB): CpuPerGiB => ({ total, user, system });
  return { lowest: cpu(lowest), median: cpu(median), medianMiBPerS: median.mibPerS, samples };
}

/**
 * For each relay in turn (never both at once, so neither is measured under the other's load): `rounds` ×
 * (PUT, GET) of one `size`-byte object with `client` through it into `bucket` on `upstream` (SeaweedFS).
 */
export async function measureRelayFloor(
  upstream: Endpoint,
  bucket: string,
  size: number,
  rounds: number,
  client: BenchClient,
): Promise<RelayFloor> {
  const floor: RelayFloor = { client: 'curl', bytes: size, rounds, relays: {}, failures: {} };
  for (const kind of RELAY_KINDS) {
    const relay = await startRelay(kind, upstream);
    try {
      const samples: Record<'put' | 'get', Array<CpuPerGiB & { mibPerS: number }>> = { put: [], get: [] };
      for (let round = 0; round < rounds; round++) {
        for (const verb of ['put', 'get'] as const) {
          const before = cpuTimes(relay.pid);
          const started = performance.now();
          if (verb === 'put') await client.put(relay, bucket, `relay-floor-${kind}`, size);
          else await client.get(relay, bucket, `relay-floor-${kind}`, size);
          const seconds = (performance.now() - started) / 1000;
          const after = cpuTimes(relay.pid);
          const cpu = { user: after.user - before.user, system: after.system - before.system };
          samples[verb].push({ ...perGiB(cpu, size), mibPerS: size / MiB / seconds });
          console.error(`relay-floor-${kind}-${verb}-r${round}: ${seconds.toFixed(2)} s`);
        }
      }
      floor.relays[kind] = {
        description: RELAY_DESCRIPTIONS[kind],
        put: figures(samples.put),
        get: figures(samples.get),
      };
    } catch (error) {
      console.error(`relay-floor ${kind} failed: ${error instanceof Error ? error.message : error}`);
      floor.failures[kind] = error instanceof Error ? error.message : String(error);
    } finally {
      await relay.close();
    }
  }
  return floor;
}

if (import.meta.main) {
  const [kind, upstream] = process.argv.slice(2);
  if (!(RELAY_KINDS as readonly string[]).includes(kind ?? '') || upstream === undefined) {
    console.error('usage: node bench/relay-floor.ts <tcp|http> <upstream endpoint>');
    process.exit(2);
  }
  await serveRelay(kind as RelayKind, new URL(upstream));
}
