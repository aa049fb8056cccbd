/**
 * `cloudtaser-s3-proxy audit s3://BUCKET[/PREFIX]`: what an auditor needs to see that the storage provider
 * holds only ciphertext. Every object (with --versions every version) is classified from its listing,
 * HEAD and, for multipart objects, part headers; with --verify (or a seeded sample) every stored byte is
 * read and authenticated by the proxy's own reader and the plaintext thrown away. Nothing in the bucket is
 * changed. Records go to a state file as they are made, so an interrupted or bounded audit continues.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config/index.ts';
import { KeyServiceError } from '../kms/key-wrapper.ts';
import { packageVersion } from '../version.ts';
import {
  type AuditChecker,
  auditServices,
  checkObject,
  checkUpload,
  type KeyInfoResult,
} from './audit-check.ts';
import {
  AuditLedger,
  type AuditParams,
  type AuditRecord,
  type AuditStatus,
  addToTotals,
  emptyTotals,
  recordId,
  sampled,
  type TransitKeyRef,
} from './audit-ledger.ts';
import {
  AUDIT_EXIT_CODES,
  type AuditFindings,
  auditOutcome,
  REPORT_LISTED,
  renderReport,
  renderSummary,
  STATUS_LABELS,
} from './audit-report.ts';
import { Progress } from './progress.ts';
import { listIncompleteUploads, listObjectPages, listObjectVersionPages, s3Url } from './s3-objects.ts';
import {
  describeError,
  forEachConcurrent,
  openTools,
  parseCount,
  parseS3Url,
  stopOnSignal,
  UsageError,
} from './tool.ts';

export const AUDIT_USAGE = `Usage: cloudtaser-s3-proxy audit s3://BUCKET[/PREFIX] [options]

Checks that every object under the prefix is stored encrypted, and reports what it finds for people
and for auditors. Read only: nothing in the bucket changes. By default it reads the listing, a HEAD of
every object and, for multipart objects, their part headers (a ranged GET of 256 bytes per part, to
count parts and key versions); no object body is read and Vault is asked only for the key's settings.
Each object is classified as
  encrypted                  the envelope is well-formed, the stored size fits it, the data keys are
                             under key versions Transit still decrypts (and, verified, every byte
                             authenticated)
  not encrypted              no envelope (x-amz-meta-cloudtaser-format)
  malformed envelope         envelope metadata or a part header breaks docs/FORMAT.md
  size mismatch              the stored size does not fit the envelope
  key version retired        a data key under a version below the key's min_decryption_version, read
                             from Transit (GET <mount>/keys/<key>) when the token may; said so when not
  verification failed        --verify: a named failure of docs/FORMAT.md §11 while reading the bytes
  could not be checked       S3 or Vault did not answer or refused, or the object changed meanwhile
Incomplete multipart uploads are listed (S3 cannot read them).

Options:
  --versions                every version of every object (ListObjectVersions), not just the current
  --verify                  also read and authenticate every stored byte of every encrypted object
                            (needs Transit decrypt); plaintext is discarded as it verifies, never written
  --verify-sample P         the same for a random P % (0 < P <= 100) of the encrypted objects
  --seed S                  the seed of that sample: the same seed picks the same objects (default:
                            random, printed in the report)
  --concurrency N           objects checked at once (default 4); each verification streams
  --max-objects N           stop after checking N objects; run again with the same --state to continue
  --state FILE              keep progress in FILE (JSON lines; created if absent): an interrupted or
                            bounded audit run again with the same options and FILE checks only what is
                            left, and its outputs cover every run
  --json FILE               one JSON document: the audit, one record per object, the totals (- : stdout)
  --report FILE             a Markdown report for auditors: what was checked, when, against what, with
                            which tool version, what passed and what did not, what it does not prove
Reads the same environment variables as the proxy (cloudtaser-s3-proxy --help).
Exit status, the first of these that applies (docs/OPERATIONS.md, "Audit"):
${AUDIT_EXIT_CODES.map((entry) => `  ${String(entry.code).padEnd(4)} ${entry.meaning}`).join('\n')}
  2    usage or configuration error
`;

const COUNTERS = [
  'encrypted',
  'not encrypted',
  'malformed',
  'size mismatch',
  'retired',
  'verify failed',
  'not checked',
] as const;
const COUNTER_OF: Record<AuditStatus, (typeof COUNTERS)[number] | undefined> = {
  encrypted: 'encrypted',
  'not-encrypted': 'not encrypted',
  'malformed-envelope': 'malformed',
  'size-mismatch': 'size mismatch',
  'key-version-retired': 'retired',
  'verify-failed': 'verify failed',
  'not-checked': 'not checked',
  'incomplete-upload': undefined,
};

type AuditOptions = {
  versions: boolean;
  verify: AuditParams['verify'];
  samplePercent: number | null;
  seed: string | null;
  concurrency: number;
  maxObjects: number | undefined;
  state: string | undefined;
  json: string | undefined;
  report: string | undefined;
};

/** The command line of `audit`, checked as a whole before anything is read. */
export function auditOptions(
  args: string[],
): { location: { bucket: string; prefix: string }; options: AuditOptions } | 'help' {
  const { values, positionals } = parseArgs({
    args,
    options: {
      versions: { type: 'boolean' },
      verify: { type: 'boolean' },
      'verify-sample': { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      'max-objects': { type: 'string' },
      state: { type: 'string' },
      json: { type: 'string' },
      report: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) return 'help';
  if (positionals.length !== 1)
    throw new UsageError(`audit takes one s3://BUCKET[/PREFIX]\n\n${AUDIT_USAGE}`);
  const location = parseS3Url(positionals[0], 'the location');
  if (values.verify && values['verify-sample'] !== undefined)
    throw new UsageError('give --verify (every object) or --verify-sample P (a sample), not both');
  let samplePercent: number | null = null;
  if (values['verify-sample'] !== undefined) {
    samplePercent = Number(values['verify-sample']);
    if (!/^\d+(\.\d+)?$/.test(values['verify-sample']) || !(samplePercent > 0 && samplePercent <= 100))
      throw new UsageError('--verify-sample must be a percentage, more than 0 and at most 100');
  }
  if (values.seed !== undefined && samplePercent === null)
    throw new UsageError('--seed goes with --verify-sample');
  if (values.seed === '') throw new UsageError('--seed must not be empty');
  if (values['max-objects'] !== undefined && values.state === undefined)
    throw new UsageError('--max-objects needs --state FILE, so that the next run can continue');
  return {
    location,
    options: {
      versions: values.versions === true,
      verify: values.verify ? 'all' : samplePercent === null ? 'none' : 'sample',
      samplePercent,
      seed: values.seed ?? null,
      concurrency: values.concurrency === undefined ? 4 : parseCount(values.concurrency, '--concurrency', 64),
      maxObjects:
        values['max-objects'] === undefined
          ? undefined
          : parseCount(values['max-objects'], '--max-objects', Number.MAX_SAFE_INTEGER),
      state: values.state,
      json: values.json,
      report: values.report,
    },
  };
}

type Run = {
  stopping: boolean;
  interrupted: boolean;
  bounded: boolean;
  fatal: string | undefined;
  listingComplete: boolean;
  /** Objects this run checked, for --max-objects. */
  started: number;
};

export async function audit(args: string[], config: Config): Promise<number> {
  const parsed = auditOptions(args);
  if (parsed === 'help') {
    process.stdout.write(AUDIT_USAGE);
    return 0;
  }
  const { location, options } = parsed;
  const outputs: Output[] = [];
  let written = false;
  let temporaryDir: string | undefined;
  let ledger: AuditLedger | undefined;
  try {
    const json = options.json === undefined ? undefined : await Output.open(options.json);
    if (json !== undefined) outputs.push(json);
    const report = options.report === undefined ? undefined : await Output.open(options.report);
    if (report !== undefined) outputs.push(report);
    if (options.state === undefined) temporaryDir = await mkdtemp(join(tmpdir(), 'cloudtaser-audit-'));
    ledger = await AuditLedger.open(options.state ?? join(temporaryDir as string, 'audit.state.jsonl'), {
      bucket: location.bucket,
      prefix: location.prefix,
      endpoint: config.s3.endpoint.origin,
      transit: { mount: config.transit.mount, key: config.transit.key },
      versions: options.versions,
      verify: options.verify,
      samplePercent: options.samplePercent,
      seed: options.seed,
    });
    const { run, keyInfos } = await auditBucket(ledger, options, config);
    const findings = await collectFindings(ledger, run, options, config, keyInfos, json);
    if (report !== undefined) await report.write(renderReport(findings));
    (options.json === '-' ? process.stderr : process.stdout).write(renderSummary(findings));
    written = true;
    return findings.outcome.exitCode;
  } finally {
    for (const output of outputs) await output.close(written);
    await ledger?.close();
    if (temporaryDir !== undefined) await rm(temporaryDir, { recursive: true, force: true });
  }
}

type KeyInfos = Map<string, { key: TransitKeyRef; result: Promise<KeyInfoResult> }>;

/** Checks every object the ledger does not have yet, as far as the run may go; records go to the ledger. */
async function auditBucket(
  ledger: AuditLedger,
  options: AuditOptions,
  config: Config,
): Promise<{ run: Run; keyInfos: KeyInfos }> {
  const params = ledger.params;
  const { bucket, prefix } = params;
  const configuredKey = params.transit;
  const tools = openTools(config);
  const progress = new Progress({ stream: process.stderr, title: 'audit', counters: COUNTERS });
  const run: Run = {
    stopping: false,
    interrupted: false,
    bounded: false,
    fatal: undefined,
    listingComplete: false,
    started: 0,
  };
  const unhook = stopOnSignal(() => {
    run.stopping = true;
    run.interrupted = true;
  });

  // Transit's key settings, read once per key; the seed's policy may not read them, which is reported.
  const keyInfos: KeyInfos = new Map();
  const keyInfo = (key: TransitKeyRef): Promise<KeyInfoResult> => {
    const id = `${key.mount}\n${key.key}`;
    let entry = keyInfos.get(id);
    if (entry === undefined) {
      // The default key, or any key of CLOUDTASER_S3PROXY_TRANSIT_KEYS that an object records.
      const transit =
        key.mount === configuredKey.mount && key.key === configuredKey.key
          ? tools.transit
          : tools.transits.get(`${key.mount}/${key.key}`);
      const result =
        transit !== undefined
          ? transit.keyInfo().then(
              (info): KeyInfoResult => ({ ok: true, info }),
              (error: unknown): KeyInfoResult => ({
                ok: false,
                reason: describeError(error),
                denied: error instanceof KeyServiceError && error.kind === 'denied',
              }),
            )
          : Promise.resolve<KeyInfoResult>({
              ok: false,
              reason:
                'not a key this proxy is configured with (CLOUDTASER_S3PROXY_TRANSIT_KEY, CLOUDTASER_S3PROXY_TRANSIT_KEYS)',
              denied: false,
            });
      entry = { key, result };
      keyInfos.set(id, entry);
    }
    return entry.result;
  };
  const checker: AuditChecker = {
    bucket,
    services: auditServices(tools.services, options.concurrency),
    configuredKey,
    keyInfo,
    shouldVerify: (key, versionId) =>
      params.verify === 'all' ||
      (params.verify === 'sample' && sampled(params.seed ?? '', key, versionId, params.samplePercent ?? 0)),
    vaultRefusal: undefined,
  };

  const record = async (entry: AuditRecord | undefined, listedKey: string) => {
    if (entry === undefined) {
      progress.note(`gone: ${s3Url(bucket, listedKey)} was deleted after it was listed`);
      return;
    }
    await ledger.add(entry);
    const counter = COUNTER_OF[entry.status];
    if (counter !== undefined) progress.count(counter, entry.storedSize ?? 0);
    if (entry.status !== 'encrypted' && entry.status !== 'incomplete-upload') {
      const version = entry.versionId === null ? '' : ` (version ${entry.versionId})`;
      progress.note(
        `${STATUS_LABELS[entry.status]}: ${s3Url(bucket, entry.key)}${version}: ${entry.failure?.code ?? ''} ${entry.failure?.message ?? ''}`,
      );
    }
  };
  /** Whether this run may start one more object (--max-objects), counting it if so. */
  const mayStart = () => {
    if (run.stopping) return false;
    if (options.maxObjects !== undefined && run.started >= options.maxObjects) {
      run.bounded = true;
      run.stopping = true;
      return false;
    }
    run.started += 1;
    return true;
  };

  try {
    await ledger.startRun(packageVersion());
    if (ledger.carriedOver > 0)
      progress.note(
        `audit ${s3Url(bucket, prefix)}: continuing ${ledger.path}: ${ledger.carriedOver} objects checked by ${ledger.previousRuns.length} earlier run${ledger.previousRuns.length === 1 ? '' : 's'}`,
      );
    await keyInfo(configuredKey);
    const { upstream } = tools.services;
    const pages = params.versions
      ? mapPages(listObjectVersionPages(upstream, bucket, prefix), (page) =>
          page.versions.map((v) => ({ key: v.key, versionId: v.versionId, latest: v.isLatest })),
        )
      : mapPages(listObjectPages(upstream, bucket, prefix), (page) =>
          page.objects.map((o) => ({ key: o.key, versionId: null, latest: null })),
        );
    let listed = 0;
    for await (const { entries, last } of pages) {
      const todo = entries.filter(
        (entry) => !ledger.isDone(recordId({ kind: 'object', uploadId: null, ...entry })),
      );
      // The bar shows this run's work: objects that earlier runs checked are left out.
      listed += todo.length;
      progress.listed(listed, last);
      await forEachConcurrent(todo, options.concurrency, async (entry) => {
        if (!mayStart()) return;
        await record(await checkObject(checker, entry), entry.key);
      });
      if (run.stopping) break;
    }
    if (!run.stopping) {
      const uploads = await listIncompleteUploads(upstream, bucket, prefix);
      const todo = uploads.filter(
        (upload) => !ledger.isDone(recordId({ kind: 'incomplete-upload', versionId: null, ...upload })),
      );
      await forEachConcurrent(todo, options.concurrency, async (upload) => {
        if (!mayStart()) return;
        await record(await checkUpload(checker, upload), upload.key);
      });
      run.listingComplete = !run.stopping;
    }
  } catch (error) {
    run.fatal = describeError(error);
  } finally {
    progress.finish();
    unhook();
    await tools.close();
  }
  if (run.fatal !== undefined) process.stderr.write(`cloudtaser-s3-proxy audit: ${run.fatal}\n`);
  return { run, keyInfos };
}

/** One pass over the ledger: totals, the problems and uploads to list, the JSON document; ends the run. */
async function collectFindings(
  ledger: AuditLedger,
  run: Run,
  options: AuditOptions,
  config: Config,
  keyInfos: KeyInfos,
  jsonOutput: Output | undefined,
): Promise<AuditFindings> {
  const params = ledger.params;
  const toolVersion = packageVersion();
  const totals = emptyTotals();
  const problems: AuditRecord[] = [];
  const uploads: AuditRecord[] = [];
  const json = jsonOutput === undefined ? undefined : new JsonDocument(jsonOutput);
  const keyInfo = await Promise.all(
    [...keyInfos.values()].map(async ({ key, result }) => ({ key, result: await result })),
  );
  await json?.begin({
    tool: 'cloudtaser-s3-proxy audit',
    toolVersion,
    location: `s3://${params.bucket}/${params.prefix}`,
    ...params,
    region: config.s3.region,
    vaultAddr: config.vault.addr,
    keyInfo,
  });
  for await (const entry of ledger.records()) {
    addToTotals(totals, entry);
    await json?.record(entry);
    if (entry.status === 'incomplete-upload') {
      if (uploads.length < REPORT_LISTED) uploads.push(entry);
    } else if (entry.status !== 'encrypted' && problems.length < REPORT_LISTED) problems.push(entry);
  }
  const byName = (a: AuditRecord, b: AuditRecord) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : (a.versionId ?? '').localeCompare(b.versionId ?? '');
  problems.sort(byName);
  uploads.sort(byName);
  await ledger.endRun(run.listingComplete && totals.byStatus['not-checked'].objects === 0);
  const outcome = auditOutcome(totals, {
    fatal: run.fatal !== undefined,
    interrupted: run.interrupted && !run.listingComplete,
    bounded: run.bounded,
  });
  const stopped = stoppedReason(run, options.state);
  await json?.end({
    runs: ledger.runs,
    complete: stopped === undefined,
    totals,
    outcome,
    ...(run.fatal === undefined ? {} : { error: run.fatal }),
  });
  return {
    params,
    totals,
    problems,
    uploads,
    keyInfo,
    runs: ledger.runs,
    toolVersion,
    region: config.s3.region,
    vaultAddr: config.vault.addr,
    outcome,
    stopped,
  };
}

function stoppedReason(run: Run, statePath: string | undefined): string | undefined {
  if (run.listingComplete) return undefined;
  const resume =
    statePath === undefined
      ? 'run again (with --state FILE to be able to continue)'
      : `run again with --state ${statePath} to continue`;
  if (run.fatal !== undefined) return `stopped: ${run.fatal}; ${resume}`;
  if (run.bounded) return `stopped at --max-objects; ${resume}`;
  if (run.interrupted) return `interrupted by a signal; ${resume}`;
  return `stopped before every object was checked; ${resume}`;
}

type Entry = { key: string; versionId: string | null; latest: boolean | null };

async function* mapPages<P extends { last: boolean }>(
  pages: AsyncGenerator<P>,
  entries: (page: P) => Entry[],
): AsyncGenerator<{ entries: Entry[]; last: boolean }> {
  for await (const page of pages) yield { entries: entries(page), last: page.last };
}

/**
 * An output file written beside its path and renamed over it only when complete, so that nobody reads
 * half a report and a failed run leaves the previous file as it was; `-` is standard output.
 */
class Output {
  readonly #path: string;
  readonly #temporary: string | undefined;
  readonly #handle: FileHandle | undefined;

  private constructor(path: string, temporary: string | undefined, handle: FileHandle | undefined) {
    this.#path = path;
    this.#temporary = temporary;
    this.#handle = handle;
  }

  /** Opened before the audit starts, so that an unwritable path fails before any work is done. */
  static async open(path: string): Promise<Output> {
    if (path === '-') return new Output(path, undefined, undefined);
    const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
    return new Output(path, temporary, await open(temporary, 'wx', 0o600));
  }

  write(text: string): Promise<void> {
    if (this.#handle !== undefined) return this.#handle.writeFile(text);
    return new Promise((resolve, reject) =>
      process.stdout.write(text, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Closes the file; renames it over the path when `keep`, removes it otherwise. */
  async close(keep: boolean): Promise<void> {
    if (this.#handle === undefined || this.#temporary === undefined) return;
    await this.#handle.close();
    if (keep) await rename(this.#temporary, this.#path);
    else await rm(this.#temporary, { force: true });
  }
}

/**
 * `--json FILE`: `{"audit": {...}, "objects": [...], "totals": {...}, "keyInfo": [...], "outcome": {...}}`,
 * streamed record by record, so an audit of millions of objects never holds them in memory.
 */
class JsonDocument {
  readonly #output: Output;
  #first = true;

  constructor(output: Output) {
    this.#output = output;
  }

  begin(audit: Record<string, unknown>): Promise<void> {
    return this.#output.write(`{"audit":${JSON.stringify(audit)},\n"objects":[`);
  }

  record(record: AuditRecord): Promise<void> {
    const text = `${this.#first ? '\n' : ',\n'}${JSON.stringify(record)}`;
    this.#first = false;
    return this.#output.write(text);
  }

  end(rest: Record<string, unknown>): Promise<void> {
    const tail = Object.entries(rest)
      .map(([name, value]) => `,\n${JSON.stringify(name)}:${JSON.stringify(value)}`)
      .join('');
    return this.#output.write(`\n]${tail}}\n`);
  }
}
