/**
 * What an audit found, object by object: one record per object version (and per incomplete multipart
 * upload) checked, appended as a JSON line to a state file the moment it is done. A run that stops for
 * any reason (a signal, --max-objects, a crash, SIGKILL) leaves every finished record there, so the next
 * run with the same state file checks only what is left, and its totals, JSON and report cover every run.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { UsageError } from './tool.ts';

/** How each object came out, in the order the reports list them. */
export const AUDIT_STATUSES = [
  'encrypted',
  'not-encrypted',
  'malformed-envelope',
  'size-mismatch',
  'key-version-retired',
  'verify-failed',
  'not-checked',
  'incomplete-upload',
] as const;
export type AuditStatus = (typeof AUDIT_STATUSES)[number];

/** The findings that make an audit fail as "integrity failures". */
export const INTEGRITY_STATUSES: readonly AuditStatus[] = [
  'malformed-envelope',
  'size-mismatch',
  'verify-failed',
];

export type TransitKeyRef = { mount: string; key: string };

export type AuditRecord = {
  kind: 'object' | 'incomplete-upload';
  key: string;
  /** With --versions: the version audited; null for the current object of a bucket without versions. */
  versionId: string | null;
  /** With --versions: whether it is the current version. */
  latest: boolean | null;
  /** Incomplete uploads only: the upload, and when it was started. */
  uploadId: string | null;
  initiated: string | null;
  status: AuditStatus;
  storedSize: number | null;
  etag: string | null;
  format: 'v1' | 'v1-multipart' | null;
  plaintextSize: number | null;
  /** Multipart objects: the number of parts located; incomplete uploads: the parts uploaded so far. */
  parts: number | null;
  /** The Transit key that wrapped the data keys, and whether the object names it or it is the configured one. */
  transit: (TransitKeyRef & { recordedInObject: boolean }) | null;
  /** The Transit key version of every wrapped data key seen (`vault:vN:`), in order; null where not of that form. */
  keyVersions: Array<number | null>;
  /** True when every stored byte was read and authenticated by this audit. */
  verified: boolean;
  failure: { code: string; message: string } | null;
  checkedAt: string;
};

/** What an audit is: a state file continues only the audit it was started for. */
export type AuditParams = {
  bucket: string;
  prefix: string;
  endpoint: string;
  transit: TransitKeyRef;
  versions: boolean;
  verify: 'none' | 'all' | 'sample';
  samplePercent: number | null;
  seed: string | null;
};

export type RunInfo = {
  startedAt: string;
  endedAt: string | undefined;
  toolVersion: string;
  /** Records this run added. */
  checked: number;
};

type Line =
  | { audit: AuditParams; createdAt: string }
  | { run: { startedAt: string; toolVersion: string } }
  | { record: AuditRecord }
  | { runEnd: { at: string } }
  | { finished: string };

export function recordId(record: Pick<AuditRecord, 'kind' | 'key' | 'versionId' | 'uploadId'>): string {
  return record.kind === 'incomplete-upload'
    ? `upload\n${record.key}\n${record.uploadId ?? ''}`
    : `object\n${record.key}\n${record.versionId ?? ''}`;
}

/**
 * Whether `--verify-sample percent` picks this object: HMAC-SHA256 keyed by the seed over the object's key
 * and version, read as a number in [0, 1). Each object is picked or not by itself, so the same seed picks
 * the same objects in any order, at any concurrency and across resumptions; without the seed nobody can
 * tell in advance which objects will be read.
 */
export function sampled(seed: string, key: string, versionId: string | null, percent: number): boolean {
  if (percent >= 100) return true;
  const digest = createHmac('sha256', seed)
    .update(`${key}\n${versionId ?? ''}`)
    .digest();
  return digest.readUIntBE(0, 6) / 2 ** 48 < percent / 100;
}

type Tally = { objects: number; storedBytes: number };

export type AuditTotals = {
  /** Object versions audited (incomplete uploads are counted apart). */
  objects: number;
  storedBytes: number;
  byStatus: Record<AuditStatus, Tally>;
  verified: { objects: number; plaintextBytes: number };
  /** Per Transit key and version: objects that have at least one data key of it, and data keys. */
  keyVersions: Array<TransitKeyRef & { version: number | null; objects: number; dataKeys: number }>;
  incompleteUploads: { uploads: number; parts: number; storedBytes: number };
};

export function emptyTotals(): AuditTotals {
  return {
    objects: 0,
    storedBytes: 0,
    byStatus: Object.fromEntries(
      AUDIT_STATUSES.map((status) => [status, { objects: 0, storedBytes: 0 }]),
    ) as Record<AuditStatus, Tally>,
    verified: { objects: 0, plaintextBytes: 0 },
    keyVersions: [],
    incompleteUploads: { uploads: 0, parts: 0, storedBytes: 0 },
  };
}

export function addToTotals(totals: AuditTotals, record: AuditRecord): void {
  const stored = record.storedSize ?? 0;
  const tally = totals.byStatus[record.status];
  tally.objects += 1;
  tally.storedBytes += stored;
  if (record.kind === 'incomplete-upload') {
    totals.incompleteUploads.uploads += 1;
    totals.incompleteUploads.parts += record.parts ?? 0;
    totals.incompleteUploads.storedBytes += stored;
    return;
  }
  totals.objects += 1;
  totals.storedBytes += stored;
  if (record.verified) {
    totals.verified.objects += 1;
    totals.verified.plaintextBytes += record.plaintextSize ?? 0;
  }
  if (record.transit === null) return;
  const counted = new Set<number | null>();
  for (const version of record.keyVersions) {
    let entry = totals.keyVersions.find(
      (row) =>
        row.mount === record.transit?.mount && row.key === record.transit.key && row.version === version,
    );
    if (entry === undefined) {
      entry = { mount: record.transit.mount, key: record.transit.key, version, objects: 0, dataKeys: 0 };
      totals.keyVersions.push(entry);
      totals.keyVersions.sort(
        (a, b) =>
          a.mount.localeCompare(b.mount) ||
          a.key.localeCompare(b.key) ||
          (a.version ?? Number.MAX_SAFE_INTEGER) - (b.version ?? Number.MAX_SAFE_INTEGER),
      );
    }
    entry.dataKeys += 1;
    if (!counted.has(version)) entry.objects += 1;
    counted.add(version);
  }
}

/**
 * The state file. Lines: the audit's parameters, then per run a `run` line, the records it finished and
 * (unless it was killed) a `runEnd` line; `finished` once every object was checked. A record line cut off
 * by a kill is ignored (its object is checked again). An object that could not be checked is checked
 * again by the next run, whose record replaces it.
 */
export class AuditLedger {
  readonly path: string;
  readonly params: AuditParams;
  readonly createdAt: string;
  /** Runs before this one. */
  readonly previousRuns: RunInfo[];
  /** Objects finished by earlier runs that this run does not check again. */
  readonly carriedOver: number;
  readonly #handle: FileHandle;
  /** Record id → line number of its latest record, and whether that record is final (not `not-checked`). */
  readonly #latest: Map<string, { line: number; final: boolean }>;
  #lines: number;
  #writing: Promise<void> = Promise.resolve();
  #run: RunInfo | undefined;

  private constructor(
    path: string,
    handle: FileHandle,
    loaded: {
      params: AuditParams;
      createdAt: string;
      runs: RunInfo[];
      latest: Map<string, { line: number; final: boolean }>;
      lines: number;
    },
  ) {
    this.path = path;
    this.#handle = handle;
    this.params = loaded.params;
    this.createdAt = loaded.createdAt;
    this.previousRuns = loaded.runs;
    this.#latest = loaded.latest;
    this.#lines = loaded.lines;
    this.carriedOver = [...loaded.latest.values()].filter((entry) => entry.final).length;
  }

  /**
   * Opens the state file of the audit `wanted` describes, or starts one. A file of another audit, or of
   * one that has finished, is refused (a UsageError): it is evidence, never overwritten. A sampled audit
   * without a seed continues with the seed in the file, or starts with a random one.
   */
  static async open(path: string, wanted: AuditParams): Promise<AuditLedger> {
    const handle = await open(path, 'a+', 0o600);
    try {
      const { size } = await handle.stat();
      let params = wanted;
      if (size === 0) {
        if (params.verify === 'sample' && params.seed === null)
          params = { ...params, seed: randomBytes(8).toString('hex') };
        const createdAt = new Date().toISOString();
        await handle.appendFile(`${JSON.stringify({ audit: params, createdAt } satisfies Line)}\n`);
        return new AuditLedger(path, handle, { params, createdAt, runs: [], latest: new Map(), lines: 1 });
      }
      const loaded = await load(path);
      if (params.verify === 'sample' && params.seed === null)
        params = { ...params, seed: loaded.params.seed };
      const differences = differencesOf(loaded.params, params);
      if (differences.length > 0)
        throw new UsageError(
          `${path} is the state of another audit (${differences.join('; ')}); give the same options to continue it, or another --state file`,
        );
      if (loaded.finished !== undefined)
        throw new UsageError(
          `${path} is the state of an audit that finished at ${loaded.finished}; remove it (or use another --state file) to audit again`,
        );
      if (loaded.partialLastLine) await handle.appendFile('\n');
      return new AuditLedger(path, handle, loaded);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** True when an earlier run (or this one) has a final record of this object. */
  isDone(id: string): boolean {
    return this.#latest.get(id)?.final === true;
  }

  get runs(): RunInfo[] {
    return this.#run === undefined ? this.previousRuns : [...this.previousRuns, this.#run];
  }

  async startRun(toolVersion: string): Promise<void> {
    const startedAt = new Date().toISOString();
    this.#run = { startedAt, endedAt: undefined, toolVersion, checked: 0 };
    await this.#append({ run: { startedAt, toolVersion } });
  }

  async add(record: AuditRecord): Promise<void> {
    const line = this.#lines;
    await this.#append({ record });
    this.#latest.set(recordId(record), { line, final: record.status !== 'not-checked' });
    if (this.#run !== undefined) this.#run.checked += 1;
  }

  /** Ends this run; `finished` when every object is checked, after which the file is not continued. */
  async endRun(finished: boolean): Promise<void> {
    const at = new Date().toISOString();
    if (this.#run !== undefined) this.#run.endedAt = at;
    await this.#append({ runEnd: { at } });
    if (finished) await this.#append({ finished: at });
  }

  /** Every object's latest record, in the order they were checked. */
  async *records(): AsyncGenerator<AuditRecord> {
    await this.#writing;
    let number = 0;
    for await (const text of lines(this.path)) {
      const line = number++;
      const parsed = parseLine(text);
      if (parsed === undefined || !('record' in parsed)) continue;
      if (this.#latest.get(recordId(parsed.record))?.line === line) yield parsed.record;
    }
  }

  async close(): Promise<void> {
    await this.#writing.catch(() => undefined);
    await this.#handle.close();
  }

  #append(line: Line): Promise<void> {
    // One write at a time, each a whole line, so that concurrent workers never interleave.
    const next = this.#writing.then(() => this.#handle.appendFile(`${JSON.stringify(line)}\n`));
    this.#writing = next.catch(() => undefined);
    this.#lines += 1;
    return next;
  }
}

async function* lines(path: string): AsyncGenerator<string> {
  const reader = createInterface({
    input: createReadStream(path, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  yield* reader;
}

function parseLine(text: string): Line | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' ? (parsed as Line) : undefined;
  } catch {
    return undefined;
  }
}

async function load(path: string): Promise<{
  params: AuditParams;
  createdAt: string;
  runs: RunInfo[];
  latest: Map<string, { line: number; final: boolean }>;
  lines: number;
  finished: string | undefined;
  partialLastLine: boolean;
}> {
  let params: AuditParams | undefined;
  let createdAt = '';
  const runs: RunInfo[] = [];
  const latest = new Map<string, { line: number; final: boolean }>();
  let finished: string | undefined;
  let number = 0;
  let partialLastLine = false;
  for await (const text of lines(path)) {
    const line = number++;
    const parsed = parseLine(text);
    partialLastLine = parsed === undefined && text !== '';
    if (parsed === undefined) continue;
    if ('audit' in parsed) {
      params = parsed.audit;
      createdAt = parsed.createdAt;
    } else if ('run' in parsed) {
      runs.push({ ...parsed.run, endedAt: undefined, checked: 0 });
    } else if ('record' in parsed) {
      latest.set(recordId(parsed.record), { line, final: parsed.record.status !== 'not-checked' });
      const run = runs.at(-1);
      if (run !== undefined) {
        run.checked += 1;
        // A run that was killed has no runEnd: its last record says when it was last seen working.
        run.endedAt = parsed.record.checkedAt;
      }
    } else if ('runEnd' in parsed) {
      const run = runs.at(-1);
      if (run !== undefined) run.endedAt = parsed.runEnd.at;
    } else if ('finished' in parsed) {
      finished = parsed.finished;
    }
  }
  if (params === undefined) throw new UsageError(`${path} is not the state file of an audit`);
  // A line cut off by a kill is not counted: the next append starts a new line (see open).
  return { params, createdAt, runs, latest, lines: number, finished, partialLastLine };
}

function differencesOf(stored: AuditParams, wanted: AuditParams): string[] {
  const differences: string[] = [];
  for (const name of Object.keys(wanted) as Array<keyof AuditParams>) {
    const a = JSON.stringify(stored[name]);
    const b = JSON.stringify(wanted[name]);
    if (a !== b) differences.push(`${name} ${a} there, ${b} now`);
  }
  return differences;
}
