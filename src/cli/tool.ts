/** What the command-line tools share: arguments, the services they build from the configuration, errors, signals. */

import type { Config } from '../config/index.ts';
import { EnvelopeError } from '../envelope/index.ts';
import { KeyServiceError } from '../kms/key-wrapper.ts';
import type { TransitKeyWrapper } from '../kms/transit.ts';
import { LayoutCache } from '../proxy/stored-object.ts';
import { MAX_SINGLE_REQUEST_SIZE, type ToolServices, UpstreamError } from './s3-objects.ts';
import { createKeyServices, createUpstreamClient } from './wiring.ts';

/** A usage or input problem: reported as it is, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type Location = { bucket: string; prefix: string };

/** `s3://BUCKET[/PREFIX]`, taken literally (no percent-decoding), as the AWS CLI does. */
export function parseS3Url(text: string | undefined, what: string): Location {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(text ?? '');
  if (match === null)
    throw new UsageError(`${what} must be s3://BUCKET[/PREFIX], not ${JSON.stringify(text ?? '')}`);
  return { bucket: match[1] as string, prefix: match[2] ?? '' };
}

/** Bytes, optionally with a binary suffix: 5368709120, 5GiB, 512M, 64k. */
export function parseByteSize(text: string, what: string): number {
  const match = /^(\d+)\s*(k|ki|kib|m|mi|mib|g|gi|gib|t|ti|tib)?$/i.exec(text.trim());
  const power = { k: 1, m: 2, g: 3, t: 4 }[(match?.[2]?.[0] ?? '').toLowerCase() as 'k'] ?? 0;
  const value = match === null ? Number.NaN : Number(match[1]) * 1024 ** power;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new UsageError(`${what} must be a size in bytes (e.g. 512MiB), not ${JSON.stringify(text)}`);
  return value;
}

export function parseCount(text: string, what: string, max: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1 || value > max)
    throw new UsageError(`${what} must be an integer in 1..${max}`);
  return value;
}

export type ToolContext = {
  services: ToolServices;
  /** Direct Transit calls of the default key. */
  transit: TransitKeyWrapper;
  /** Direct Transit calls of each configured key, by recorded name (`<mount>/<key>`). */
  transits: ReadonlyMap<string, TransitKeyWrapper>;
  close(): Promise<void>;
};

/** The proxy's own Vault client, key service and upstream client, from the same configuration. */
export function openTools(config: Config): ToolContext {
  const { vault, keys, transit, transits } = createKeyServices(config);
  const upstream = createUpstreamClient(config);
  return {
    services: { upstream, keys, layouts: new LayoutCache() },
    transit,
    transits,
    async close() {
      // Pooled and cached data keys are zeroed before the process goes.
      keys.close();
      await Promise.allSettled([upstream.close(), vault.close()]);
    },
  };
}

/** One line for a person: what failed and, where it helps, what to do. */
export function describeError(error: unknown): string {
  if (error instanceof EnvelopeError) return `${error.code}: ${error.message}`;
  if (error instanceof KeyServiceError) {
    const hint =
      error.kind === 'denied'
        ? ' (check the Vault policy of this token or role)'
        : error.kind === 'retired'
          ? ' (lower min_decryption_version to read it, then rewrap)'
          : '';
    return `Vault ${error.kind}: ${error.message}${hint}`;
  }
  if (error instanceof UpstreamError || error instanceof UsageError) return error.message;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/**
 * The first SIGINT/SIGTERM asks the tool to stop starting objects and finish the ones under way (so that
 * nothing is left half-done that a rerun could not pick up); a second one ends the process at once.
 */
export function stopOnSignal(onStop: () => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = true;
    process.stderr.write(`\n${signal}: finishing the objects under way; send it again to stop at once\n`);
    onStop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Runs `fn` over `items` with at most `limit` at a time; resolves when all have settled. */
export async function forEachConcurrent<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Options the bucket-wide tools share. */
export type SweepOptions = {
  dryRun: boolean;
  concurrency: number;
  /** Stored size above which an object is written or copied in parts rather than by one request. */
  maxSingleSize: number;
  /** Bytes per part when a tool chooses part sizes. */
  partSize: number;
  json: boolean;
  quiet: boolean;
};

export const SWEEP_OPTION_SPEC = {
  'dry-run': { type: 'boolean' },
  concurrency: { type: 'string' },
  'max-single-size': { type: 'string' },
  'part-size': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const DEFAULT_PART_SIZE = 512 * 1024 ** 2;
const MIN_PART_SIZE = 5 * 1024 ** 2;

export function sweepOptions(values: {
  'dry-run'?: boolean | undefined;
  concurrency?: string | undefined;
  'max-single-size'?: string | undefined;
  'part-size'?: string | undefined;
  json?: boolean | undefined;
  quiet?: boolean | undefined;
}): SweepOptions {
  const maxSingleSize =
    values['max-single-size'] === undefined
      ? MAX_SINGLE_REQUEST_SIZE
      : parseByteSize(values['max-single-size'], '--max-single-size');
  const partSize =
    values['part-size'] === undefined ? DEFAULT_PART_SIZE : parseByteSize(values['part-size'], '--part-size');
  if (maxSingleSize > MAX_SINGLE_REQUEST_SIZE)
    throw new UsageError('--max-single-size may be at most 5GiB (S3 limit of one PUT or CopyObject)');
  if (partSize < MIN_PART_SIZE || partSize > MAX_SINGLE_REQUEST_SIZE / 2)
    throw new UsageError('--part-size must be 5MiB (S3 minimum for all but the last part) to 2.5GiB');
  return {
    dryRun: values['dry-run'] === true,
    concurrency: values.concurrency === undefined ? 4 : parseCount(values.concurrency, '--concurrency', 64),
    maxSingleSize,
    partSize,
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

/** The closing summary on stdout: one line for people, or one JSON object with --json. */
export function printSummary(
  summary: {
    command: string;
    location: Location;
    dryRun: boolean;
    interrupted: boolean;
    scanned: number;
    tally: Record<string, number>;
    extra?: Record<string, unknown>;
  },
  json: boolean,
): void {
  const where = `s3://${summary.location.bucket}/${summary.location.prefix}`;
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        command: summary.command,
        location: where,
        dryRun: summary.dryRun,
        interrupted: summary.interrupted,
        scanned: summary.scanned,
        ...Object.fromEntries(Object.entries(summary.tally).map(([name, value]) => [camelCase(name), value])),
        ...summary.extra,
      })}\n`,
    );
    return;
  }
  const counts = Object.entries(summary.tally)
    .map(([name, value]) => `${name} ${value}`)
    .join(', ');
  const flags = [summary.dryRun ? 'dry run, nothing changed' : '', summary.interrupted ? 'interrupted' : '']
    .filter((flag) => flag !== '')
    .join(', ');
  process.stdout.write(
    `${summary.command} ${where}${flags === '' ? '' : ` (${flags})`}: scanned ${summary.scanned}, ${counts}\n`,
  );
}

/** `re-encrypted` → `reEncrypted`, `temporaries removed` → `temporariesRemoved`. */
function camelCase(name: string): string {
  return name.replace(/[- ]+(.)/g, (_whole, letter: string) => letter.toUpperCase());
}
