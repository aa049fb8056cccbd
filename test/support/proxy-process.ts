/**
 * The proxy under test, run as users run it: `node dist/main.js serve` (the build of src/, as `npm start`
 * and the image run it), configured only by its
 * environment, talking to the real OpenBao and SeaweedFS from services.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { Agent } from 'node:http';
import type { LookupFunction } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { freePorts } from './ports.ts';
import type { ServicesState } from './services.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = 'dist/main.js';
/** The same V8 flags as `npm start` and the container image (docs/decisions/0015-v8-heap-flags.md). */
const NODE_FLAGS = ['--max-semi-space-size=1', '--initial-old-space-size=64'];
const HEALTH_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export interface ProxyExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProxyProcess {
  /** `http://127.0.0.1:<port>`: the S3 endpoint to give clients. */
  endpoint: string;
  /** `http://127.0.0.1:<port>`: where `/healthz`, `/readyz` and `/metrics` answer. */
  healthEndpoint: string;
  /** Everything the proxy wrote so far, stdout and stderr interleaved as they arrived. */
  logs(): string;
  /** The stdout lines that parse as JSON (the proxy's structured log). */
  logRecords(): Record<string, unknown>[];
  /**
   * The first log record that matches, waiting up to `timeoutMs` for it: a line the proxy wrote just before
   * answering can still be in the pipe when the client has its answer.
   */
  waitForLogRecord(
    matches: (record: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown> | undefined>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL if it has not exited after 15 s. */
  stop(signal?: NodeJS.Signals): Promise<ProxyExit>;
  /** Resolves when the process exits, however that happens. */
  exited: Promise<ProxyExit>;
  process: ChildProcess;
}

/** Options to change or remove (value `undefined`) any variable of the proxy's environment. */
export interface ProxyOptions {
  env?: Record<string, string | undefined>;
}

/**
 * The environment `services` imply for a proxy on the given addresses: token auth with the
 * least-privileged token, and SeaweedFS's credentials as the upstream credentials.
 */
export function proxyEnv(
  services: Pick<ServicesState, 'vault' | 's3'>,
  opts: { listenAddr: string; healthAddr: string; logLevel?: string },
): Record<string, string> {
  return {
    CLOUDTASER_S3PROXY_S3_ENDPOINT: services.s3.endpoint,
    CLOUDTASER_S3PROXY_S3_REGION: services.s3.region,
    VAULT_ADDR: services.vault.addr,
    CLOUDTASER_S3PROXY_TRANSIT_KEY: services.vault.transitKey,
    CLOUDTASER_S3PROXY_TRANSIT_MOUNT: services.vault.transitMount,
    VAULT_AUTH_METHOD: 'token',
    VAULT_TOKEN: services.vault.proxyToken,
    CLOUDTASER_S3PROXY_LISTEN_ADDR: opts.listenAddr,
    CLOUDTASER_S3PROXY_HEALTH_ADDR: opts.healthAddr,
    AWS_ACCESS_KEY_ID: services.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: services.s3.secretAccessKey,
    CLOUDTASER_S3PROXY_LOG_LEVEL: opts.logLevel ?? 'info',
  };
}

/**
 * Only what the proxy is meant to read: nothing of the developer's own AWS, Vault or proxy settings
 * leaks in from the shell that runs the tests.
 */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return env;
}

function mergeEnv(...layers: Array<Record<string, string | undefined>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
  }
  return env;
}

const liveProxies = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  liveProxies.add(child);
  child.once('exit', () => liveProxies.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const proxy of liveProxies) proxy.kill('SIGKILL');
    });
  }
}

let buildChecked = false;

/** A test of a build older than the sources would test code that is no longer there. */
function checkBuild(): void {
  if (buildChecked) return;
  const built = statSync(resolve(REPO_ROOT, MAIN), { throwIfNoEntry: false })?.mtimeMs;
  const sources = readdirSync(resolve(REPO_ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => statSync(resolve(REPO_ROOT, 'src', name)).mtimeMs);
  if (built === undefined || Math.max(...sources) > built) {
    throw new Error(
      `${MAIN} is missing or older than src/: run \`npm run build\` (npm test and npm run bench build first)`,
    );
  }
  buildChecked = true;
}

function spawnProxy(args: string[], env: Record<string, string>): ChildProcess {
  checkBuild();
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  return child;
}

export async function startProxy(
  services: Pick<ServicesState, 'vault' | 's3'>,
  opts: ProxyOptions = {},
): Promise<ProxyProcess> {
  const [port, healthPort] = (await freePorts(2)) as [number, number];
  const env = mergeEnv(
    baseEnv(),
    proxyEnv(services, { listenAddr: `127.0.0.1:${port}`, healthAddr: `127.0.0.1:${healthPort}` }),
    opts.env ?? {},
  );
  const child = spawnProxy(['serve'], env);
  let output = '';
  let stdoutBuffer = '';
  const records: Record<string, unknown>[] = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    stdoutBuffer += chunk;
    const lines = stdoutBuffer.split('\n');
    stdoutBuffer = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const record: unknown = JSON.parse(line);
        if (record !== null && typeof record === 'object') records.push(record as Record<string, unknown>);
      } catch {
        // not a log record
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  // A test that fails before stop() must not keep its process alive: the exit hook kills the proxy.
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();

  let exitInfo: ProxyExit | null = null;
  const exited = new Promise<ProxyExit>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolveExit(exitInfo);
    });
    child.once('error', (error) => {
      output += `\nspawn failed: ${error.message}\n`;
      exitInfo = { code: null, signal: null };
      resolveExit(exitInfo);
    });
  });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<ProxyExit> => {
    if (exitInfo !== null) return exitInfo;
    child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await exited;
    } finally {
      clearTimeout(killer);
    }
  };

  const healthEndpoint = `http://127.0.0.1:${healthPort}`;
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let lastError = '';
  for (;;) {
    if (exitInfo !== null) {
      const { code, signal } = exitInfo as ProxyExit;
      throw new Error(`the proxy exited before it was healthy (code ${code}, signal ${signal})\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop('SIGKILL');
      throw new Error(
        `the proxy was not healthy after ${HEALTH_TIMEOUT_MS / 1000}s (${lastError})\n${output}`,
      );
    }
    try {
      const response = await fetch(`${healthEndpoint}/healthz`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.status === 200) break;
      lastError = `/healthz answered ${response.status}`;
    } catch (error) {
      lastError =
        error instanceof Error ? `${error.message}${error.cause ? `: ${String(error.cause)}` : ''}` : '';
    }
    await sleep(50);
  }

  return {
    endpoint: `http://127.0.0.1:${port}`,
    healthEndpoint,
    logs: () => output,
    logRecords: () => [...records],
    async waitForLogRecord(matches, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = records.find(matches);
        if (found !== undefined || Date.now() > deadline) return found;
        await sleep(25);
      }
    },
    stop,
    exited,
    process: child,
  };
}

/**
 * Runs the proxy's command line to its end, e.g. `runProxyCli(['serve'], env)` for start-up
 * failures. `env` is the whole environment apart from PATH.
 */
export async function runProxyCli(
  args: string[],
  env: Record<string, string | undefined>,
  opts: { timeoutMs?: number } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawnProxy(args, mergeEnv(baseEnv(), env));
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolveExit, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': the output is complete only when both pipes have ended.
    child.once('close', (exitCode, exitSignal) => resolveExit([exitCode, exitSignal]));
  }).finally(() => clearTimeout(killer));
  return { code, signal, stdout, stderr };
}

/** `*.localhost` is loopback by RFC 6761, but this machine's resolver does not know it. */
const localhostLookup: LookupFunction = (hostname, options, callback) => {
  const loopback = hostname === 'localhost' || hostname.endsWith('.localhost');
  if (!loopback) {
    callback(new Error(`only *.localhost is resolved here, not ${hostname}`), '', 4);
    return;
  }
  if (options.all)
    (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
      { address: '127.0.0.1', family: 4 },
    ]);
  else callback(null, '127.0.0.1', 4);
};

/**
 * An AWS SDK v3 client with its default settings (checksums, retries, aws-chunked uploads) pointed
 * at the proxy. Path-style by default; `virtualHost: true` addresses buckets as
 * `<bucket>.localhost:<port>`, resolved to 127.0.0.1 by the client itself.
 */
export function proxyS3Client(
  proxy: Pick<ProxyProcess, 'endpoint'>,
  opts: { virtualHost?: boolean; config?: Partial<S3ClientConfig> } = {},
): S3Client {
  const base: S3ClientConfig = {
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDPROXYCLIENT', secretAccessKey: 'proxy-client-secret' },
  };
  if (opts.virtualHost) {
    const port = new URL(proxy.endpoint).port;
    return new S3Client({
      ...base,
      endpoint: `http://localhost:${port}`,
      forcePathStyle: false,
      requestHandler: { httpAgent: new Agent({ keepAlive: true, lookup: localhostLookup }) },
      ...opts.config,
    });
  }
  return new S3Client({ ...base, endpoint: proxy.endpoint, forcePathStyle: true, ...opts.config });
}
