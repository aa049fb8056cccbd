/**
 * The three endpoints every row measures: SeaweedFS itself (direct), the proxy, and the peer, rclone serve s3
 * over a crypt remote on the same SeaweedFS, with its default crypt settings. Each knows the process whose CPU
 * and memory count (the proxy's or rclone's), and gives an S3 client with aws-sdk-js v3 defaults.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePorts } from '../test/support/ports.ts';
import { type ProxyProcess, startProxy } from '../test/support/proxy-process.ts';
import { createS3Client, REPO_ROOT, type Services } from '../test/support/services.ts';
import type { TargetName } from './settings.ts';

export type Credentials = { accessKeyId: string; secretAccessKey: string };

/** What a client needs to talk to an S3 endpoint: a target of the table, or a relay of the relay-floor row. */
export interface Endpoint {
  /** Names the endpoint in the clients' error messages. */
  readonly name: string;
  readonly endpoint: string;
  readonly credentials: Credentials;
  /** An aws-sdk-js v3 client with default settings; `sockets` raises the agent's connection limit. */
  sdk(sockets?: number): S3Client;
}

export interface Target extends Endpoint {
  readonly name: TargetName;
  /** The process whose CPU and memory this target's figures report; undefined for SeaweedFS itself. */
  readonly pid: number | undefined;
  close(): Promise<void>;
}

/** One client per endpoint and socket limit, made on first use. */
function clientCache(make: (sockets: number | undefined) => S3Client) {
  const clients = new Map<string, S3Client>();
  return {
    get(endpoint: string, sockets?: number): S3Client {
      const key = `${endpoint} ${sockets ?? ''}`;
      let client = clients.get(key);
      if (client === undefined) {
        client = make(sockets);
        clients.set(key, client);
      }
      return client;
    },
    destroy(): void {
      for (const client of clients.values()) client.destroy();
      clients.clear();
    },
  };
}

export function sdkClient(endpoint: string, credentials: Credentials, sockets: number | undefined): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials,
    forcePathStyle: true,
    ...(sockets === undefined
      ? {}
      : { requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: sockets }) } }),
  });
}

export function directTarget(services: Services): Target {
  const credentials = { accessKeyId: services.s3.accessKeyId, secretAccessKey: services.s3.secretAccessKey };
  const cache = clientCache((sockets) =>
    sockets === undefined ? createS3Client(services) : sdkClient(services.s3.endpoint, credentials, sockets),
  );
  return {
    name: 'direct',
    endpoint: services.s3.endpoint,
    credentials,
    pid: undefined,
    sdk: (sockets) => cache.get(services.s3.endpoint, sockets),
    close: async () => cache.destroy(),
  };
}

export type ProxyRun = {
  /** Names the CPU profile of this process (BENCH_PROFILE_DIR). */
  label: string;
  profileDir?: string | undefined;
  /** Another upstream than SeaweedFS's own endpoint (the counting relay). */
  upstreamEndpoint?: string;
  maxObjectSize: number;
};

export interface ProxyTarget extends Target {
  readonly process: ProxyProcess;
  /** Stops this proxy process and starts a new one (new pid, port, peak RSS and profile). */
  restart(run: ProxyRun): Promise<void>;
}

/** Credentials the proxy's clients sign with; the proxy signs anew with its own for the upstream. */
const PROXY_CLIENT_CREDENTIALS = { accessKeyId: 'AKIDPROXYCLIENT', secretAccessKey: 'proxy-client-secret' };

function proxyEnv(run: ProxyRun, services: Services): Record<string, string> {
  const nodeOptions: string[] = [];
  if (run.profileDir !== undefined) {
    nodeOptions.push(
      '--cpu-prof',
      `--cpu-prof-dir=${resolve(run.profileDir)}`,
      `--cpu-prof-name=${run.label}.cpuprofile`,
    );
  }
  return {
    CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE: String(run.maxObjectSize),
    CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn',
    CLOUDTASER_S3PROXY_S3_ENDPOINT: run.upstreamEndpoint ?? services.s3.endpoint,
    ...(nodeOptions.length === 0 ? {} : { NODE_OPTIONS: nodeOptions.join(' ') }),
  };
}

export async function proxyTarget(services: Services, run: ProxyRun): Promise<ProxyTarget> {
  let current = await startProxy(services, { env: proxyEnv(run, services) });
  const cache = clientCache((sockets) => sdkClient(current.endpoint, PROXY_CLIENT_CREDENTIALS, sockets));
  const stop = async (): Promise<void> => {
    cache.destroy();
    const exit = await current.stop();
    if (exit.code !== 0) console.error(`proxy exit: ${JSON.stringify(exit)}\n${current.logs().slice(-2000)}`);
  };
  return {
    name: 'proxy',
    get endpoint() {
      return current.endpoint;
    },
    credentials: PROXY_CLIENT_CREDENTIALS,
    get pid() {
      return current.process.pid;
    },
    get process() {
      return current;
    },
    sdk: (sockets) => cache.get(current.endpoint, sockets),
    async restart(next) {
      await stop();
      current = await startProxy(services, { env: proxyEnv(next, services) });
    },
    close: stop,
  };
}

export type GcTotals = { scavenges: number; markCompacts: number; pauseMs: number };

const GC_METRIC = /^cloudtaser_s3proxy_nodejs_gc_duration_seconds_(count|sum)\{kind="(\w+)"\} (\S+)$/;

/**
 * The proxy's collections since it started, from its /metrics: prom-client's
 * nodejs_gc_duration_seconds, fed by V8's GC events (`minor` is a scavenge, `major` a mark-compact,
 * `incremental` a step of the marking before one). Read before and after a transfer, the difference is
 * what the transfer cost in collections, for every row of every run.
 */
export async function proxyGcTotals(healthEndpoint: string): Promise<GcTotals> {
  return gcTotalsFrom(await (await fetch(`${healthEndpoint}/metrics`)).text());
}

/** The collections in a Prometheus exposition of the proxy's metrics. */
export function gcTotalsFrom(metrics: string): GcTotals {
  const totals = { scavenges: 0, markCompacts: 0, pauseMs: 0 };
  for (const line of metrics.split('\n')) {
    const match = GC_METRIC.exec(line);
    if (match === null) continue;
    const [, field, kind, value] = match as unknown as [string, string, string, string];
    if (field === 'sum') totals.pauseMs += Number(value) * 1000;
    else if (kind === 'minor') totals.scavenges += Number(value);
    else if (kind === 'major') totals.markCompacts += Number(value);
  }
  return totals;
}

const RCLONE = join(REPO_ROOT, '.venv', 'bin', 'rclone');
const RCLONE_START_TIMEOUT_MS = 30_000;

/**
 * rclone serve s3 over `crypt` on a SeaweedFS bucket of its own. S3 buckets of the served side are
 * directories of the crypt remote. Configured by environment only (no config file of the user's is read).
 */
export async function rcloneTarget(services: Services): Promise<Target> {
  const backingBucket = `bench-rclone-${randomBytes(4).toString('hex')}`;
  await createS3Client(services).send(new CreateBucketCommand({ Bucket: backingBucket }));
  const [port] = (await freePorts(1)) as [number];
  const credentials = { accessKeyId: 'rclonebenchaccesskey', secretAccessKey: 'rclonebenchsecretkey' };
  const password = execFileSync(RCLONE, ['obscure', randomBytes(16).toString('hex')], {
    encoding: 'utf8',
  }).trim();
  // Through a shell that watches this process and kills rclone when it is gone, even by a signal that
  // runs no exit handler; after `exec`, the shell's pid is rclone's.
  const watchdog =
    'parent=$1; shift; ( while kill -0 "$parent" 2>/dev/null; do sleep 1; done; kill $$ ) </dev/null >/dev/null 2>&1 & exec "$@"';
  const child: ChildProcess = spawn(
    '/bin/sh',
    [
      '-c',
      watchdog,
      'watchdog',
      String(process.pid),
      RCLONE,
      'serve',
      's3',
      'crypt:',
      `--addr=127.0.0.1:${port}`,
      `--auth-key=${credentials.accessKeyId},${credentials.secretAccessKey}`,
      '--config=/dev/null',
      '--log-level=NOTICE',
    ],
    {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: services.dir,
        RCLONE_CONFIG_UPSTREAM_TYPE: 's3',
        RCLONE_CONFIG_UPSTREAM_PROVIDER: 'SeaweedFS',
        RCLONE_CONFIG_UPSTREAM_ENDPOINT: services.s3.endpoint,
        RCLONE_CONFIG_UPSTREAM_REGION: services.s3.region,
        RCLONE_CONFIG_UPSTREAM_ACCESS_KEY_ID: services.s3.accessKeyId,
        RCLONE_CONFIG_UPSTREAM_SECRET_ACCESS_KEY: services.s3.secretAccessKey,
        RCLONE_CONFIG_CRYPT_TYPE: 'crypt',
        RCLONE_CONFIG_CRYPT_REMOTE: `upstream:${backingBucket}`,
        RCLONE_CONFIG_CRYPT_PASSWORD: password,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  for (const stream of [child.stdout, child.stderr])
    stream?.setEncoding('utf8').on('data', (c: string) => (output += c));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + RCLONE_START_TIMEOUT_MS;
  while (!output.includes('Starting s3 server')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`rclone serve s3 did not start:\n${output}`);
    }
    await sleep(50);
  }
  const cache = clientCache((sockets) => sdkClient(endpoint, credentials, sockets));
  return {
    name: 'rclone',
    endpoint,
    credentials,
    pid: child.pid,
    sdk: (sockets) => cache.get(endpoint, sockets),
    async close() {
      cache.destroy();
      process.off('exit', killOnExit);
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      child.kill('SIGKILL');
    },
  };
}
