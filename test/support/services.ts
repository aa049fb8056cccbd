/**
 * The real services the integration and compatibility tests run against: an OpenBao dev server with
 * Transit, and SeaweedFS (master, filer and S3 gateway, plus a volume server), on free loopback ports.
 *
 * In a test file:      const services = await useServices();
 * From a shell:        node test/support/services.ts up --state .run/services.json
 * Then in the tests:   CLOUDTASER_TEST_SERVICES=.run/services.json makes useServices() attach to that set.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  existsSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { freePortPair, freePorts } from './ports.ts';
import { proxyEnv } from './proxy-process.ts';
import { type PauseMode, type Relay, startRelay } from './relay.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const VENV_BIN = join(REPO_ROOT, '.venv', 'bin');
const TRANSIT_MOUNT = 'transit';
const TRANSIT_KEY = 'cloudtaser-test';
const PROXY_POLICY = 'cloudtaser-s3';
const START_TIMEOUT_MS = 60_000;
const START_ATTEMPTS = 3;

export interface VaultInfo {
  /** What the proxy under test should use as VAULT_ADDR: a relay that `pauseVault()` can switch off. */
  addr: string;
  /** The OpenBao server itself, for the test's own setup calls (never paused). */
  directAddr: string;
  rootToken: string;
  /** A token holding only the seed's policy (encrypt + decrypt on the key), plus OpenBao's `default`. */
  proxyToken: string;
  transitMount: string;
  transitKey: string;
}

export interface S3Info {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface ServicesState {
  vault: VaultInfo;
  s3: S3Info;
  dir: string;
  /** Log files (SeaweedFS: master/filer/S3 and volume server, space-separated). */
  logs: { openbao: string; seaweedfs: string };
}

export interface Services extends ServicesState {
  /** True when this process started the services; false when it attached to a running set. */
  readonly owned: boolean;
  /** Makes `vault.addr` unreachable (by default: connection refused) until `resumeVault()`. */
  pauseVault(mode?: PauseMode): Promise<void>;
  resumeVault(): Promise<void>;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Cleanup that also runs when the test process dies of a signal or a failed test ends it early.

const exitCleanups = new Set<() => void>();
let exitHooksInstalled = false;

function runExitCleanups(): void {
  for (const cleanup of [...exitCleanups]) {
    try {
      cleanup();
    } catch {
      // best effort on the way out
    }
  }
  exitCleanups.clear();
}

function onProcessExit(cleanup: () => void): () => void {
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    process.on('exit', runExitCleanups);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const handler = (): void => {
        runExitCleanups();
        // Alone, we restore the default death by this signal; others (the test runner) decide themselves.
        if (process.listenerCount(signal) === 1) {
          process.off(signal, handler);
          process.kill(process.pid, signal);
        }
      };
      process.on(signal, handler);
    }
  }
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

// ---------------------------------------------------------------------------------------------
// Service processes.

/**
 * Each service runs in its own process group with a watchdog that, within a second of this process
 * disappearing (even by SIGKILL, when no exit handler runs), kills the service and removes what it
 * leaves behind, so no server outlives its test run. Arguments: parent pid, count of leftover paths,
 * the paths, then the command. After `exec`, `$$` is the service's own pid.
 */
const WATCHDOG = `parent=$1; count=$2; shift 2
( while kill -0 "$parent" 2>/dev/null; do sleep 1; done
  kill -KILL $$ 2>/dev/null; sleep 0.5
  while [ "$count" -gt 0 ]; do rm -rf "$1"; shift; count=$((count - 1)); done ) </dev/null >/dev/null 2>&1 &
shift "$count"
exec "$@" </dev/null`;

interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited(): boolean;
  killSync(): void;
  kill(): Promise<void>;
}

/** Every service process not yet killed, whoever started it: the exit cleanup kills them all. */
const liveServices = new Set<ServiceProcess>();

function serviceEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(VAULT_|BAO_|AWS_)/.test(key)) continue;
    env[key] = value;
  }
  return env;
}

function spawnService(
  name: string,
  command: string,
  args: string[],
  /**
   * `files`: what the service leaves outside `dir`, removed whenever it is killed. `leftovers`: what
   * else the watchdog removes if this process dies without its exit handlers.
   */
  opts: { logPath: string; log: boolean; cwd: string; files?: string[]; leftovers: string[] },
): ServiceProcess {
  const argv = [
    '-c',
    WATCHDOG,
    'watchdog',
    String(process.pid),
    String(opts.leftovers.length + (opts.files ?? []).length),
    ...opts.leftovers,
    ...(opts.files ?? []),
    command,
    ...args,
  ];
  let child: ChildProcess;
  if (opts.log) {
    child = spawn('/bin/sh', argv, {
      cwd: opts.cwd,
      env: serviceEnv(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const file = createWriteStream(opts.logPath);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      stream.on('data', (chunk: Buffer) => {
        file.write(chunk);
        process.stderr.write(chunk);
      });
      (stream as unknown as { unref?: () => void }).unref?.();
    }
  } else {
    const fd = openSync(opts.logPath, 'a');
    try {
      child = spawn('/bin/sh', argv, {
        cwd: opts.cwd,
        env: serviceEnv(),
        detached: true,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
  }
  child.unref();
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolveExit(exitInfo);
    });
    child.once('error', () => {
      exitInfo = { code: null, signal: null };
      resolveExit(exitInfo);
    });
  });
  const killSync = (): void => {
    liveServices.delete(service);
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // group already gone
      }
    }
    removeFiles(opts.files ?? []);
  };
  const service: ServiceProcess = {
    name,
    child,
    logPath: opts.logPath,
    exit,
    exited: () => exitInfo !== null,
    killSync,
    async kill() {
      killSync();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exit, new Promise((resolveLate) => (timer = setTimeout(resolveLate, 5_000)))]);
      clearTimeout(timer);
    },
  };
  liveServices.add(service);
  onProcessExit(killLiveServices);
  return service;
}

function killLiveServices(): void {
  for (const service of [...liveServices]) service.killSync();
}

function logTail(path: string, lines = 25): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function startFailure(services: ServiceProcess[], reason: string): Error {
  const names = services.map((service) => service.name).join(' + ');
  const logs = services.map(
    (service) =>
      `log of ${service.name}: ${service.logPath}\n--- last lines ---\n${logTail(service.logPath)}`,
  );
  return new Error(`${names} did not start: ${reason}\n${logs.join('\n')}`);
}

/** True when a log says a port was taken between our probe and the server's bind. */
function lostPortRace(services: ServiceProcess[]): boolean {
  return services.some((service) => /address already in use/i.test(logTail(service.logPath, 200)));
}

/** Polls `probe` until it answers true ('ready') or a service exits ('exited'); throws at the deadline. */
async function waitUntil(
  services: ServiceProcess[],
  deadline: number,
  probe: () => Promise<boolean>,
): Promise<'ready' | 'exited'> {
  let lastError = '';
  while (Date.now() < deadline) {
    if (services.some((service) => service.exited())) return 'exited';
    try {
      if (await probe()) return 'ready';
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  const last = lastError ? ` (last error: ${lastError})` : '';
  throw startFailure(services, `not ready after ${START_TIMEOUT_MS / 1000}s${last}`);
}

function randomToken(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString('hex');
}

function randomAccessKey(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return `CT${[...randomBytes(18)].map((byte) => alphabet[byte % alphabet.length]).join('')}`;
}

function requireTool(name: string): string {
  const path = join(VENV_BIN, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/install-tools.sh`);
  return path;
}

// ---------------------------------------------------------------------------------------------
// OpenBao.

export interface VaultResponse {
  status: number;
  body: Record<string, unknown> | null;
}

/** One call to the OpenBao HTTP API (`path` without `/v1/`), by default as root on the server itself. */
export async function vaultRequest(
  vault: Pick<VaultInfo, 'directAddr' | 'rootToken'>,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; addr?: string } = {},
): Promise<VaultResponse> {
  const response = await fetch(`${opts.addr ?? vault.directAddr}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': opts.token ?? vault.rootToken, 'Content-Type': 'application/json' },
    body: opts.body === undefined ? null : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

async function vaultCall(
  vault: Pick<VaultInfo, 'directAddr' | 'rootToken'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown> | null> {
  const response = await vaultRequest(vault, method, path, { body });
  if (response.status >= 300) {
    throw new Error(
      `OpenBao ${method} /v1/${path} answered ${response.status}: ${JSON.stringify(response.body)}`,
    );
  }
  return response.body;
}

interface RunningVault {
  process: ServiceProcess;
  directAddr: string;
  rootToken: string;
  proxyToken: string;
}

async function startOpenBao(dir: string, log: boolean, leftovers: string[]): Promise<RunningVault> {
  const bao = requireTool('bao');
  for (let attempt = 1; ; attempt++) {
    const port = await freePortPair();
    const rootToken = randomToken('root-', 16);
    const directAddr = `http://127.0.0.1:${port}`;
    const service = spawnService(
      'OpenBao',
      bao,
      [
        'server',
        '-dev',
        `-dev-root-token-id=${rootToken}`,
        `-dev-listen-address=127.0.0.1:${port}`,
        '-dev-no-store-token',
        '-log-level=info',
      ],
      {
        logPath: join(dir, attempt === 1 ? 'openbao.log' : `openbao.${attempt}.log`),
        log,
        cwd: dir,
        leftovers,
      },
    );
    const outcome = await waitUntil([service], Date.now() + START_TIMEOUT_MS, async () => {
      const response = await fetch(`${directAddr}/v1/sys/health`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      return response.status === 200;
    });
    if (outcome === 'exited') {
      await service.kill();
      if (lostPortRace([service]) && attempt < START_ATTEMPTS) continue;
      throw startFailure([service], 'the process exited');
    }
    try {
      const vault = { directAddr, rootToken };
      await vaultCall(vault, 'POST', `sys/mounts/${TRANSIT_MOUNT}`, { type: 'transit' });
      await vaultCall(vault, 'POST', `${TRANSIT_MOUNT}/keys/${TRANSIT_KEY}`, { type: 'aes256-gcm96' });
      await vaultCall(vault, 'PUT', `sys/policies/acl/${PROXY_POLICY}`, {
        policy: [
          `path "${TRANSIT_MOUNT}/encrypt/${TRANSIT_KEY}" {`,
          '  capabilities = ["update"]',
          '}',
          `path "${TRANSIT_MOUNT}/decrypt/${TRANSIT_KEY}" {`,
          '  capabilities = ["update"]',
          '}',
        ].join('\n'),
      });
      const created = await vaultCall(vault, 'POST', 'auth/token/create', {
        policies: [PROXY_POLICY],
        display_name: 'cloudtaser-s3-proxy-test',
        renewable: true,
        ttl: '768h',
      });
      const auth = created?.auth as { client_token?: unknown } | undefined;
      if (typeof auth?.client_token !== 'string') throw new Error('token create returned no client_token');
      return { process: service, directAddr, rootToken, proxyToken: auth.client_token };
    } catch (error) {
      await service.kill();
      throw startFailure(
        [service],
        `setting up Transit failed: ${error instanceof Error ? error.message : error}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// SeaweedFS.

interface RunningSeaweed {
  processes: ServiceProcess[];
  s3: S3Info;
}

function s3ClientFor(s3: S3Info, timeoutMs?: number): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    ...(timeoutMs === undefined
      ? {}
      : { maxAttempts: 1, requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs } }),
  });
}

async function fetchJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  return (await response.json()) as T;
}

interface MasterTopology {
  Topology?: { DataCenters?: Array<{ Racks?: Array<{ DataNodes?: unknown[] }> }> };
}

function dataNodeCount(status: MasterTopology): number {
  const racks = (status.Topology?.DataCenters ?? []).flatMap((center) => center.Racks ?? []);
  return racks.flatMap((rack) => rack.DataNodes ?? []).length;
}

async function startSeaweed(dir: string, log: boolean, leftovers: string[]): Promise<RunningSeaweed> {
  const weed = requireTool('weed');
  const configDir = join(dir, 'seaweedfs-config');
  const dataDir = join(dir, 'seaweedfs-data');
  const volumeDir = join(dir, 'seaweedfs-volumes');
  for (const path of [configDir, dataDir, volumeDir]) await mkdir(path, { recursive: true });
  const credentials = {
    region: 'us-east-1',
    accessKeyId: randomAccessKey(),
    secretAccessKey: randomBytes(30).toString('base64url'),
  };
  writeFileSync(
    join(configDir, 's3.json'),
    JSON.stringify({
      identities: [
        {
          name: 'admin',
          credentials: [{ accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
  );
  // SeaweedFS maps each bucket to a collection and by default grows 7 volumes for it at once; tests
  // make many buckets, so one volume per growth keeps file handles and volume slots in check. Volumes
  // of up to 1 GiB (-master.volumeSizeLimitMB) leave a growing one time to arrive while 64 concurrent
  // 100 MiB writes (the benchmark's mem-parallel row) fill the last: with 64 MiB volumes most of them
  // failed with "no writable volumes".
  writeFileSync(
    join(configDir, 'master.toml'),
    '[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 2\ncopy_3 = 3\ncopy_other = 1\n',
  );

  for (let attempt = 1; ; attempt++) {
    const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3Port, s3Grpc] = (await freePorts(
      8,
    )) as [number, number, number, number, number, number, number, number];
    const s3: S3Info = { endpoint: `http://127.0.0.1:${s3Port}`, ...credentials };
    const masterUrl = `http://127.0.0.1:${master}`;
    // SeaweedFS also opens unix sockets named after its gRPC ports in /tmp, whatever -dir says.
    const grpcSocket = (server: string, port: number): string =>
      join('/tmp', `seaweedfs-${server}-grpc-${port}.sock`);
    const logPath = (name: string): string =>
      join(dir, attempt === 1 ? `${name}.log` : `${name}.${attempt}.log`);
    const started: ServiceProcess[] = [];
    const client = s3ClientFor(s3, 2_000);
    const deadline = Date.now() + START_TIMEOUT_MS;
    try {
      // Master, filer and S3 gateway in one process, and the volume server once the master leads:
      // started together, the volume server often calls before the master has elected itself, backs
      // off for 5 s, and the first write to a new bucket waits for it.
      started.push(
        spawnService(
          'SeaweedFS',
          weed,
          [
            '-logtostderr',
            `-config_dir=${configDir}`,
            'server',
            '-volume=false',
            `-dir=${dataDir}`,
            '-ip=127.0.0.1',
            '-ip.bind=127.0.0.1',
            `-master.port=${master}`,
            `-master.port.grpc=${masterGrpc}`,
            '-master.volumeSizeLimitMB=1024',
            '-master.telemetry=false',
            '-filer',
            `-filer.port=${filer}`,
            `-filer.port.grpc=${filerGrpc}`,
            `-filer.localSocket=${join(dir, `filer-${attempt}.sock`)}`,
            '-s3',
            `-s3.port=${s3Port}`,
            `-s3.port.grpc=${s3Grpc}`,
            '-s3.port.iceberg=0',
            '-s3.port.lance=0',
            `-s3.localSocket=${join(dir, `s3-${attempt}.sock`)}`,
            `-s3.config=${join(configDir, 's3.json')}`,
            // Real S3 behaviour: no bucket appears by itself, and a bucket with objects cannot be deleted.
            '-s3.autoCreateBucket=false',
            '-s3.allowDeleteBucketNotEmpty=false',
            // Lets a virtual-hosted-style client (`<bucket>.localhost:<port>`) talk to SeaweedFS directly.
            '-s3.domainName=localhost',
          ],
          {
            logPath: logPath('seaweedfs'),
            log,
            cwd: dir,
            files: [
              grpcSocket('master', masterGrpc),
              grpcSocket('filer', filerGrpc),
              grpcSocket('s3', s3Grpc),
            ],
            leftovers,
          },
        ),
      );
      let outcome = await waitUntil(started, deadline, async () => {
        const status = await fetchJson<{ IsLeader?: boolean }>(`${masterUrl}/cluster/status`);
        return status.IsLeader === true;
      });
      if (outcome === 'ready') {
        started.push(
          spawnService(
            'SeaweedFS volume server',
            weed,
            [
              '-logtostderr',
              `-config_dir=${configDir}`,
              'volume',
              `-dir=${volumeDir}`,
              '-ip=127.0.0.1',
              '-ip.bind=127.0.0.1',
              `-master=127.0.0.1:${master}.${masterGrpc}`,
              `-port=${volume}`,
              `-port.grpc=${volumeGrpc}`,
              // Volumes are sparse files: the count only bounds how many buckets can hold data. A fixed
              // count, as -max=0 would allow only free disk / 1 GiB of them.
              '-max=1000',
              '-preStopSeconds=0',
            ],
            {
              logPath: logPath('seaweedfs-volume'),
              log,
              cwd: dir,
              files: [grpcSocket('volume', volumeGrpc)],
              leftovers: [],
            },
          ),
        );
        outcome = await waitUntil(started, deadline, async () => {
          if (dataNodeCount(await fetchJson<MasterTopology>(`${masterUrl}/dir/status`)) === 0) return false;
          await client.send(new ListBucketsCommand({}));
          return true;
        });
      }
      if (outcome === 'ready') return { processes: started, s3 };
      await Promise.all(started.map((service) => service.kill()));
      if (lostPortRace(started) && attempt < START_ATTEMPTS) continue;
      throw startFailure(
        started.filter((service) => service.exited()),
        'the process exited',
      );
    } catch (error) {
      await Promise.all(started.map((service) => service.kill()));
      throw error;
    } finally {
      client.destroy();
    }
  }
}

function removeFiles(paths: string[]): void {
  for (const path of paths) rmSync(path, { force: true });
}

// ---------------------------------------------------------------------------------------------
// The set.

/**
 * Starts OpenBao and SeaweedFS for this process. `dir` (default: a new temporary directory, removed
 * by `stop()`) holds their data and logs; a given `dir` is kept, logs included. `log` also copies the
 * services' output to this process's stderr.
 */
export async function startServices(opts: { dir?: string; log?: boolean } = {}): Promise<Services> {
  const ownsDir = opts.dir === undefined;
  const dir =
    opts.dir === undefined ? await mkdtemp(join(tmpdir(), 'cloudtaser-services-')) : resolve(opts.dir);
  await mkdir(dir, { recursive: true });
  const log = opts.log ?? false;
  const processes: ServiceProcess[] = [];
  const cleanupSync = (): void => {
    for (const service of processes) service.killSync();
    if (ownsDir) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  };
  const forget = onProcessExit(cleanupSync);
  const fail = async (error: unknown): Promise<never> => {
    await Promise.all(processes.map((service) => service.kill()));
    cleanupSync();
    forget();
    throw error;
  };

  // What the watchdogs remove if this process dies without running its exit handlers.
  const leftovers = ownsDir ? [dir] : [];
  const [vaultStart, seaweedStart] = await Promise.allSettled([
    startOpenBao(dir, log, leftovers),
    startSeaweed(dir, log, leftovers),
  ]);
  if (vaultStart.status === 'fulfilled') processes.push(vaultStart.value.process);
  if (seaweedStart.status === 'fulfilled') {
    processes.push(...seaweedStart.value.processes);
  }
  if (vaultStart.status === 'rejected') return fail(vaultStart.reason);
  if (seaweedStart.status === 'rejected') return fail(seaweedStart.reason);
  const vault = vaultStart.value;
  const seaweed = seaweedStart.value;
  let relay: Relay;
  try {
    relay = await startRelay({ host: '127.0.0.1', port: Number(new URL(vault.directAddr).port) });
  } catch (error) {
    return fail(error);
  }

  let stopped = false;
  return {
    owned: true,
    dir,
    logs: {
      openbao: vault.process.logPath,
      seaweedfs: seaweed.processes.map((service) => service.logPath).join(' '),
    },
    vault: {
      addr: relay.addr,
      directAddr: vault.directAddr,
      rootToken: vault.rootToken,
      proxyToken: vault.proxyToken,
      transitMount: TRANSIT_MOUNT,
      transitKey: TRANSIT_KEY,
    },
    s3: seaweed.s3,
    pauseVault: (mode?: PauseMode) => relay.pause(mode),
    resumeVault: () => relay.resume(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await relay.close();
      await Promise.all(processes.map((service) => service.kill()));
      cleanupSync();
      forget();
    },
  };
}

/**
 * Attaches to services another process started (`services.ts up`). Vault gets a relay of its own in
 * this process, so pausing it here cuts off only this process's proxies, not other test files'.
 */
export async function attachServices(statePath: string): Promise<Services> {
  let state: ServicesState;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as ServicesState;
  } catch (error) {
    throw new Error(
      `cannot read the services state ${statePath}: ${error instanceof Error ? error.message : error}`,
    );
  }
  try {
    const response = await fetch(`${state.vault.directAddr}/v1/sys/health`, {
      signal: AbortSignal.timeout(3_000),
    });
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`health answered ${response.status}`);
  } catch (error) {
    throw new Error(
      `the services in ${statePath} are not running (OpenBao at ${state.vault.directAddr}: ${error instanceof Error ? error.message : error})`,
    );
  }
  const relay = await startRelay({ host: '127.0.0.1', port: Number(new URL(state.vault.directAddr).port) });
  return {
    ...state,
    owned: false,
    vault: { ...state.vault, addr: relay.addr },
    pauseVault: (mode?: PauseMode) => relay.pause(mode),
    resumeVault: () => relay.resume(),
    stop: () => relay.close(),
  };
}

/** Attaches to the set named by CLOUDTASER_TEST_SERVICES when it is set; otherwise starts one. */
export function loadServices(statePath = process.env.CLOUDTASER_TEST_SERVICES): Promise<Services> {
  return statePath ? attachServices(statePath) : startServices();
}

let shared: Promise<Services> | null = null;

/**
 * One set per test process, shared by all its tests, stopped when the process exits (calling
 * `stop()` is optional; the next `useServices()` after it gets a new set).
 */
export function useServices(): Promise<Services> {
  if (shared === null) {
    const loading = loadServices().then((services) => ({
      ...services,
      stop: async () => {
        if (shared === loading) shared = null;
        await services.stop();
      },
    }));
    shared = loading;
    loading.catch(() => {
      if (shared === loading) shared = null;
    });
  }
  return shared;
}

/** A plain client talking to SeaweedFS directly, to see and change exactly what is stored. */
export function createS3Client(services: Pick<ServicesState, 's3'>): S3Client {
  return s3ClientFor(services.s3);
}

export function toState(services: Services): ServicesState {
  return { vault: services.vault, s3: services.s3, dir: services.dir, logs: services.logs };
}

// ---------------------------------------------------------------------------------------------
// Command line.

function argValue(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  if (index >= 0) return args[index + 1];
  const inline = args.find((arg) => arg.startsWith(`${name}=`));
  return inline?.slice(name.length + 1);
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

async function cliUp(args: string[]): Promise<void> {
  const statePath = resolve(argValue(args, '--state') ?? join(REPO_ROOT, '.run', 'services.json'));
  const dirArg = argValue(args, '--dir');
  let services: Services | null = null;
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    rmSync(statePath, { force: true });
    await services?.stop();
    runExitCleanups();
    process.stdout.write(`services stopped (${signal})\n`);
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));

  rmSync(statePath, { force: true });
  const started = Date.now();
  services = await startServices({
    ...(dirArg === undefined ? {} : { dir: dirArg }),
    log: args.includes('--log'),
  });
  await mkdir(dirname(statePath), { recursive: true });
  // Written whole and renamed, so a reader polling for the file never sees half of it.
  writeFileSync(`${statePath}.tmp`, `${JSON.stringify(toState(services), null, 2)}\n`);
  renameSync(`${statePath}.tmp`, statePath);
  process.stdout.write(
    `services up in ${((Date.now() - started) / 1000).toFixed(1)}s: OpenBao ${services.vault.directAddr} ` +
      `(relay ${services.vault.addr}), SeaweedFS S3 ${services.s3.endpoint}; state ${statePath}; logs ${services.dir}\n`,
  );
  // Stay in the foreground until a signal, or until the process that asked for us is gone (a script
  // killed with SIGKILL runs no trap to stop us).
  const exitWith = Number(argValue(args, '--exit-with') ?? Number.NaN);
  setInterval(() => {
    if (!Number.isInteger(exitWith)) return;
    try {
      process.kill(exitWith, 0);
    } catch {
      void stop(`process ${exitWith} is gone`);
    }
  }, 1_000);
}

async function cliProxyEnv(args: string[]): Promise<void> {
  const statePath = argValue(args, '--state') ?? process.env.CLOUDTASER_TEST_SERVICES;
  if (!statePath) throw new Error('proxy-env needs --state <file>');
  const state = JSON.parse(await readFile(statePath, 'utf8')) as ServicesState;
  const env = proxyEnv(state, {
    listenAddr: argValue(args, '--listen') ?? '127.0.0.1:8190',
    healthAddr: argValue(args, '--health') ?? '127.0.0.1:8191',
    logLevel: argValue(args, '--log-level') ?? 'info',
  });
  for (const [key, value] of Object.entries(env))
    process.stdout.write(`export ${key}=${shellQuote(value)}\n`);
}

const USAGE = `usage: node test/support/services.ts up [--state FILE] [--dir DIR] [--log] [--exit-with PID]
       node test/support/services.ts proxy-env --state FILE [--listen ADDR] [--health ADDR] [--log-level LEVEL]`;

if (import.meta.main) {
  const [command, ...args] = process.argv.slice(2);
  const run = command === 'up' ? cliUp : command === 'proxy-env' ? cliProxyEnv : null;
  if (run === null) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  run(args).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
