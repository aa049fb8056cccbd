/**
 * `cloudtaser-s3-proxy rewrap s3://BUCKET[/PREFIX]`: moves every wrapped data key under the prefix to the
 * newest version of the Transit key, so that `min_decryption_version` can be raised afterwards.
 *
 * - Single-part objects keep their wrapped key in metadata: Transit `rewrap` (batched) gives the new
 *   wrapped key without the data key leaving Vault, and a CopyObject of the object onto itself with
 *   MetadataDirective REPLACE stores it: the stored bytes are not rewritten. Objects over the single-copy
 *   limit (5 GiB) are copied server-side in parts.
 * - Multipart objects keep a wrapped key in every part header, inside the stored bytes and authenticated as
 *   the AAD of the part's segments: changing it means re-sealing the part. They are re-encrypted: each part
 *   decrypted and sealed again under a fresh data key (wrapped under the newest version) into a new
 *   multipart upload with the same part sizes, which replaces the object when it completes.
 *
 * Every replacement is conditional on the ETag the tool read, so a concurrent write wins and the object is
 * reported as failed (a rerun picks it up). Objects already at the newest version are skipped, which makes
 * the command idempotent and a rerun a resumption.
 */
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Config } from '../config/index.ts';
import type { PartLayout } from '../envelope/index.ts';
import { type Envelope, envelopeToHeaders } from '../envelope/index.ts';
import { KeyServiceError, wrappedKeyVersion } from '../kms/key-wrapper.ts';
import { MAX_BATCH, type TransitKeyWrapper } from '../kms/transit.ts';
import { multipartObject, storedPartLayout } from '../proxy/stored-object.ts';
import { Progress } from './progress.ts';
import {
  copyStored,
  envelopeOf,
  headObject,
  identityOf,
  isPreconditionFailure,
  type ListedObject,
  listObjectPages,
  objectTagging,
  preservedHeaders,
  readPlaintext,
  type StoredObject,
  s3Url,
  splitRanges,
  uploadEncryptedParts,
} from './s3-objects.ts';
import {
  describeError,
  forEachConcurrent,
  openTools,
  parseS3Url,
  printSummary,
  SWEEP_OPTION_SPEC,
  type SweepOptions,
  stopOnSignal,
  sweepOptions,
  type ToolContext,
  UsageError,
} from './tool.ts';

export const REWRAP_USAGE = `Usage: cloudtaser-s3-proxy rewrap s3://BUCKET[/PREFIX] [options]

Moves the wrapped data key of every object under the prefix to the newest version of the Transit key
(CLOUDTASER_S3PROXY_TRANSIT_MOUNT/KEY), so that min_decryption_version can then be raised.
  single-part objects  metadata only: Transit rewrap, then CopyObject onto itself (MetadataDirective
                       REPLACE, pinned to the ETag read); the stored bytes are not rewritten
  multipart objects    re-encrypted: their wrapped keys sit in authenticated part headers inside the
                       stored bytes, so every part is decrypted and sealed again under a new data key
                       (same part sizes) into a multipart upload that replaces the object
Objects already at the newest version are skipped: running it again changes nothing, and after an
interruption continues where it stopped. Needs "update" on <mount>/rewrap/<key> besides the proxy's policy.

Options:
  --dry-run                 report what would change, change nothing
  --concurrency N           objects handled at once (default 4)
  --max-single-size BYTES   largest object copied with one CopyObject (default and S3 limit 5GiB)
  --part-size BYTES         part size of the copies of larger objects (default 512MiB)
  --json                    print the summary as one JSON object
  --quiet, -q               no line per object that went well (failures are always shown)
Reads the same environment variables as the proxy (cloudtaser-s3-proxy --help).
Exit status: 0 all done, 1 some objects failed (or Vault/S3 refused), 2 usage, 130 interrupted.
`;

const COUNTERS = ['rewrapped', 're-encrypted', 'skipped', 'unencrypted', 'failed'] as const;

type SingleCandidate = { object: StoredObject; envelope: Envelope; version: number | undefined };
type MultipartCandidate = { object: StoredObject; layout: PartLayout; versions: string; recorded: string };
/** A single-part object under a former key of its location: its data key moves to the location's key. */
type MoveCandidate = { object: StoredObject; envelope: Envelope; recorded: string };

export async function rewrap(args: string[], config: Config): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: SWEEP_OPTION_SPEC, allowPositionals: true });
  if (values.help) {
    process.stdout.write(REWRAP_USAGE);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError(`rewrap takes one s3://BUCKET[/PREFIX]\n\n${REWRAP_USAGE}`);
  const location = parseS3Url(positionals[0], 'the location');
  const options = sweepOptions(values);
  const tools = openTools(config);
  const progress = new Progress({
    stream: process.stderr,
    title: 'rewrap',
    counters: COUNTERS,
    quiet: options.quiet,
  });
  const run = { stopping: false, fatal: undefined as string | undefined, scanned: 0 };
  const unhook = stopOnSignal(() => {
    run.stopping = true;
  });
  let newest = 0;
  // The key CLOUDTASER_S3PROXY_TRANSIT_KEYS gives the location; objects that record another are left alone.
  const transitKey = tools.services.keys.forWrite(location.bucket, location.prefix).transitKey;
  const transit = tools.transits.get(transitKey) ?? tools.transit;
  try {
    newest = await transit.newestKeyVersion();
    progress.note(
      `rewrap ${s3Url(location.bucket, location.prefix)}: data keys go to version ${newest} of Transit key ` +
        `${transitKey}${options.dryRun ? ' (dry run: nothing is changed)' : ''}`,
    );
    let listed = 0;
    for await (const page of listObjectPages(tools.services.upstream, location.bucket, location.prefix)) {
      listed += page.objects.length;
      progress.listed(listed, page.last);
      if (run.stopping) break;
      await rewrapPage(page.objects, {
        location,
        options,
        tools,
        progress,
        newest,
        run,
        transit,
        transitKey,
      });
      if (run.stopping) break;
    }
  } catch (error) {
    run.fatal = describeError(error);
  } finally {
    progress.finish();
    unhook();
    await tools.close();
  }
  if (run.fatal !== undefined) process.stderr.write(`cloudtaser-s3-proxy rewrap: ${run.fatal}\n`);
  printSummary(
    {
      command: 'rewrap',
      location,
      dryRun: options.dryRun,
      interrupted: run.stopping && run.fatal === undefined,
      scanned: run.scanned,
      tally: progress.tally,
      extra: { keyVersion: newest, ...(run.fatal === undefined ? {} : { error: run.fatal }) },
    },
    options.json,
  );
  if (run.fatal !== undefined || (progress.tally.failed ?? 0) > 0) return 1;
  return run.stopping ? 130 : 0;
}

type PageContext = {
  location: { bucket: string };
  options: SweepOptions;
  tools: ToolContext;
  progress: Progress;
  newest: number;
  run: { stopping: boolean; fatal: string | undefined; scanned: number };
  /** The Transit key of the location, and its recorded name. */
  transit: TransitKeyWrapper;
  transitKey: string;
};

/**
 * One listing page: HEAD every object (and locate the parts of multipart ones), rewrap the wrapped keys
 * of the single-part ones in Transit batches, then replace them; re-encrypt the multipart ones.
 */
async function rewrapPage(page: readonly ListedObject[], context: PageContext): Promise<void> {
  const { options, tools, progress, newest, run, transit, transitKey } = context;
  const { services } = tools;
  const bucket = context.location.bucket;
  const singles: SingleCandidate[] = [];
  const moves: MoveCandidate[] = [];
  const multiparts: MultipartCandidate[] = [];
  const fail = (key: string, error: unknown) => {
    progress.note(`failed ${s3Url(bucket, key)}: ${describeError(error)}`);
    progress.count('failed');
  };

  await forEachConcurrent(page, options.concurrency, async (entry) => {
    if (run.stopping) return;
    run.scanned += 1;
    try {
      const object = await headObject(services.upstream, bucket, entry.key);
      if (object === undefined) {
        progress.count('skipped');
        return;
      }
      const envelope = envelopeOf(object);
      if (envelope === undefined) {
        progress.count('unencrypted', object.storedSize);
        return;
      }
      const mapped = services.keys.forWrite(bucket, entry.key).transitKey;
      if (mapped !== transitKey) {
        // A longer prefix with a key of its own: its own run (rewrap s3://bucket/prefix) moves it.
        progress.note(
          `skipped ${s3Url(bucket, entry.key)}: CLOUDTASER_S3PROXY_TRANSIT_KEYS maps it to ${mapped}; this run moves data keys to ${transitKey} (run rewrap on its prefix)`,
        );
        progress.count('skipped', object.storedSize);
        return;
      }
      // Refused (not unwrapped) unless the location accepts the key the object records.
      const recorded = services.keys.recordedKey(bucket, entry.key, envelope.transitKey);
      if (recorded !== transitKey) {
        // A former key of the location (listed after "|"): the object moves to the location's key.
        if (envelope.format === 'v1') moves.push({ object, envelope, recorded });
        else {
          const layout = await storedPartLayout(identityOf(object), services);
          multiparts.push({ object, layout, versions: `${recorded}`, recorded });
        }
        return;
      }
      if (envelope.format === 'v1') {
        const version = wrappedKeyVersion(envelope.wrappedDek);
        if (version !== undefined && version >= newest) progress.count('skipped', object.storedSize);
        else singles.push({ object, envelope, version });
        return;
      }
      const layout = await storedPartLayout(identityOf(object), services);
      const versions = layout.parts.map((part) => wrappedKeyVersion(part.header.wrappedDek));
      if (versions.every((version) => version !== undefined && version >= newest)) {
        progress.count('skipped', object.storedSize);
        return;
      }
      multiparts.push({ object, layout, versions: versionList(versions), recorded });
    } catch (error) {
      fail(entry.key, error);
    }
  });

  for (let start = 0; start < singles.length && !run.stopping; start += MAX_BATCH) {
    const batch = singles.slice(start, start + MAX_BATCH);
    if (options.dryRun) {
      for (const { object, version } of batch) {
        progress.detail(
          `would rewrap ${s3Url(bucket, object.key)} (v${version ?? '?'} → v${newest}, metadata only)`,
        );
        progress.count('rewrapped', object.storedSize);
      }
      continue;
    }
    let results: Awaited<ReturnType<typeof transit.rewrap>>;
    try {
      results = await transit.rewrap(batch.map((candidate) => candidate.envelope.wrappedDek));
    } catch (error) {
      // Vault unreachable after retries, or the token may not rewrap: every other object would fail the same way.
      run.fatal = `Transit rewrap: ${describeError(error)}`;
      run.stopping = true;
      return;
    }
    await forEachConcurrent(
      batch.map((candidate, i) => ({ candidate, result: results[i] })),
      options.concurrency,
      async ({ candidate, result }) => {
        const { object, envelope, version } = candidate;
        const where = s3Url(bucket, object.key);
        if (result === undefined || !result.ok) {
          fail(object.key, result?.error ?? new KeyServiceError('rejected', 'no rewrap result'));
          return;
        }
        if (version !== undefined && result.keyVersion <= version) {
          progress.count('skipped', object.storedSize);
          return;
        }
        try {
          await replaceMetadata(context, object, { ...envelope, wrappedDek: result.wrapped, transitKey });
          progress.detail(`rewrapped ${where} (v${version ?? '?'} → v${result.keyVersion}, metadata only)`);
          progress.count('rewrapped', object.storedSize);
        } catch (error) {
          fail(object.key, changedOr(error));
        }
      },
    );
  }

  await forEachConcurrent(moves, options.concurrency, async ({ object, envelope, recorded }) => {
    if (run.stopping) return;
    const where = s3Url(bucket, object.key);
    if (options.dryRun) {
      progress.detail(`would move ${where} from Transit key ${recorded} to ${transitKey} (metadata only)`);
      progress.count('rewrapped', object.storedSize);
      return;
    }
    try {
      const dek = await services.keys
        .forRead(bucket, object.key, envelope.transitKey)
        .unwrapKey(envelope.wrappedDek);
      let wrapped: string;
      try {
        const [moved] = await transit.wrapDataKeys([dek]);
        moved?.plaintext.fill(0);
        if (moved === undefined) throw new KeyServiceError('unavailable', 'Transit wrapped no key');
        wrapped = moved.wrapped;
      } finally {
        dek.fill(0);
      }
      await replaceMetadata(context, object, { ...envelope, wrappedDek: wrapped, transitKey });
      progress.detail(`moved ${where} from Transit key ${recorded} to ${transitKey} (metadata only)`);
      progress.count('rewrapped', object.storedSize);
    } catch (error) {
      fail(object.key, changedOr(error));
    }
  });

  await forEachConcurrent(multiparts, options.concurrency, async ({ object, layout, versions, recorded }) => {
    if (run.stopping) return;
    const where = s3Url(bucket, object.key);
    const summary = `multipart, ${layout.parts.length} part${layout.parts.length === 1 ? '' : 's'}: ${versions} → ${recorded === transitKey ? '' : `${transitKey} `}v${newest}`;
    if (options.dryRun) {
      progress.detail(`would re-encrypt ${where} (${summary}; the part headers are inside the stored bytes)`);
      progress.count('re-encrypted', object.storedSize);
      return;
    }
    try {
      await reencrypt(context, object, layout, recorded);
      progress.detail(`re-encrypted ${where} (${summary})`);
      progress.count('re-encrypted', object.storedSize);
    } catch (error) {
      fail(object.key, changedOr(error));
    }
  });
}

/** The same stored bytes under new metadata: the object copied onto itself, pinned to the ETag read. */
async function replaceMetadata(
  context: PageContext,
  object: StoredObject,
  envelope: Envelope,
): Promise<void> {
  const { upstream } = context.tools.services;
  const headers = { ...preservedHeaders(object), ...envelopeToHeaders(envelope) };
  if (object.storedSize <= context.options.maxSingleSize) {
    // Tags stay (x-amz-tagging-directive defaults to COPY).
    await copyStored(upstream, {
      bucket: object.bucket,
      key: object.key,
      source: object,
      headers,
      ifMatch: object.etag,
    });
    return;
  }
  // A multipart copy starts a new object: its tags are given again.
  const tags = await objectTagging(upstream, object);
  if (tags !== undefined) headers['x-amz-tagging'] = tags;
  const partSize = Math.max(context.options.partSize, Math.ceil(object.storedSize / 10_000));
  await copyStored(upstream, {
    bucket: object.bucket,
    key: object.key,
    source: object,
    headers,
    ifMatch: object.etag,
    ranges: splitRanges(object.storedSize, partSize),
  });
}

/** Every part decrypted and sealed again under a fresh data key, same part sizes, completed only if unchanged. */
async function reencrypt(
  context: PageContext,
  object: StoredObject,
  layout: PartLayout,
  recorded: string,
): Promise<void> {
  const { services } = context.tools;
  // Read under the key the object records (accepted by its location), sealed again under the location's.
  const encrypted = multipartObject(layout, services.keys.forRead(object.bucket, object.key, recorded));
  const headers = preservedHeaders(object);
  const tags = await objectTagging(services.upstream, object);
  if (tags !== undefined) headers['x-amz-tagging'] = tags;
  await uploadEncryptedParts(
    services,
    { bucket: object.bucket, key: object.key, headers, ifMatch: object.etag },
    layout.parts.map((part) => ({
      plainSize: part.plainSize,
      plaintext: async () =>
        part.plainSize === 0
          ? Readable.from([])
          : readPlaintext(services.upstream, object, encrypted, {
              start: part.plainOffset,
              end: part.plainOffset + part.plainSize - 1,
            }),
    })),
  );
}

function changedOr(error: unknown): unknown {
  return isPreconditionFailure(error)
    ? new Error('the object changed while it was being rewrapped; it was left as it is (run rewrap again)')
    : error;
}

/** `v1`, `v1–v2`: the key versions found in an object's part headers. */
function versionList(versions: Array<number | undefined>): string {
  const known = versions.filter((version): version is number => version !== undefined);
  if (known.length === 0) return 'v?';
  const low = Math.min(...known);
  const high = Math.max(...known);
  return low === high ? `v${low}` : `v${low}–v${high}`;
}
