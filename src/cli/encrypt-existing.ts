/**
 * `cloudtaser-s3-proxy encrypt-existing s3://BUCKET[/PREFIX]`: encrypts, in place, the objects stored
 * without the envelope (written before the proxy, or around it), so that an interruption at any moment
 * leaves every object readable through the proxy:
 *
 * 1. the plaintext (read pinned to the ETag seen) is encrypted into a temporary key
 *    `<temp-prefix><key>` while its SHA-256 is taken;
 * 2. the temporary object is read back through the proxy's reader and must decrypt to the same SHA-256;
 * 3. it replaces the original by a server-side copy with the original's metadata, content type and tags,
 *    conditional on the original's ETag (If-Match), so a write that happened meanwhile is never lost;
 * 4. the temporary object is deleted.
 *
 * Until step 3 the key holds the original plaintext; after it, the encrypted object: S3 replaces an object
 * atomically. A run killed between 3 and 4 leaves a temporary object, which the next run deletes first.
 */
import { parseArgs } from 'node:util';
import type { Config } from '../config/index.ts';
import {
  ciphertextSize,
  envelopeToHeaders,
  maxPartPlaintextSize,
  multipartEnvelopeHeaders,
  SEGMENT_SIZE,
} from '../envelope/index.ts';
import { storedPartLayout } from '../proxy/stored-object.ts';
import { abandonBody } from '../upstream/client.ts';
import { Progress } from './progress.ts';
import {
  abortMultipartUpload,
  copyStored,
  Digest,
  deleteObject,
  envelopeOf,
  HashTap,
  hashStream,
  headObject,
  identityOf,
  isPreconditionFailure,
  type ListedObject,
  listIncompleteUploads,
  listObjectPages,
  MAX_SINGLE_REQUEST_SIZE,
  objectTagging,
  openEncrypted,
  preservedHeaders,
  putEncrypted,
  readPlaintext,
  readStored,
  type StoredObject,
  s3Url,
  uploadEncryptedParts,
  type WrittenObject,
} from './s3-objects.ts';
import {
  describeError,
  forEachConcurrent,
  type Location,
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

export const DEFAULT_TEMP_PREFIX = '.cloudtaser-encrypt-existing/';

export const ENCRYPT_EXISTING_USAGE = `Usage: cloudtaser-s3-proxy encrypt-existing s3://BUCKET[/PREFIX] [options]

Encrypts in place every object under the prefix that is stored without the envelope, keeping its
user metadata, content type and other descriptive headers, and tags. Each object is encrypted into a
temporary key, read back and checked (SHA-256 of the plaintext), then copied over the original only if
the original is unchanged (If-Match on its ETag), then the temporary key is deleted. Interrupted at any
moment, every object stays readable through the proxy; run it again to finish (it first deletes the
temporary objects an interrupted run left). Run one at a time per bucket.

Options:
  --dry-run                 report what would be encrypted, change nothing
  --temp-prefix PREFIX      where temporary objects go (default ${DEFAULT_TEMP_PREFIX}); never encrypted
                            or listed as objects of the migration
  --concurrency N           objects handled at once (default 4)
  --max-single-size BYTES   largest encrypted object written with one PUT and copied with one
                            CopyObject (default and S3 limit 5GiB); larger ones become multipart objects
  --part-size BYTES         plaintext per part of those (default 512MiB, rounded down to 64KiB)
  --json                    print the summary as one JSON object
  --quiet, -q               no line per object that went well (failures are always shown)
Reads the same environment variables as the proxy (cloudtaser-s3-proxy --help).
Exit status: 0 all done, 1 some objects failed, 2 usage, 130 interrupted.
`;

const COUNTERS = ['encrypted', 'skipped', 'failed'] as const;

type Run = { stopping: boolean; fatal: string | undefined; scanned: number; temporaries: number };

export async function encryptExisting(args: string[], config: Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...SWEEP_OPTION_SPEC, 'temp-prefix': { type: 'string' } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(ENCRYPT_EXISTING_USAGE);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError(`encrypt-existing takes one s3://BUCKET[/PREFIX]\n\n${ENCRYPT_EXISTING_USAGE}`);
  const location = parseS3Url(positionals[0], 'the location');
  const options = sweepOptions(values);
  const tempPrefix = values['temp-prefix'] ?? DEFAULT_TEMP_PREFIX;
  if (tempPrefix === '' || location.prefix.startsWith(tempPrefix))
    throw new UsageError('--temp-prefix must be non-empty and outside the prefix being encrypted');
  const tools = openTools(config);
  const progress = new Progress({
    stream: process.stderr,
    title: 'encrypt-existing',
    counters: COUNTERS,
    quiet: options.quiet,
  });
  const run: Run = { stopping: false, fatal: undefined, scanned: 0, temporaries: 0 };
  const unhook = stopOnSignal(() => {
    run.stopping = true;
  });
  const context: Context = { location, options, tools, progress, run, tempPrefix };
  try {
    await removeTemporaries(context);
    let listed = 0;
    for await (const page of listObjectPages(tools.services.upstream, location.bucket, location.prefix)) {
      const objects = page.objects.filter((entry) => !entry.key.startsWith(tempPrefix));
      listed += objects.length;
      progress.listed(listed, page.last);
      if (run.stopping) break;
      await forEachConcurrent(objects, options.concurrency, (entry) => encryptOne(context, entry));
      if (run.stopping) break;
    }
  } catch (error) {
    run.fatal = describeError(error);
  } finally {
    progress.finish();
    unhook();
    await tools.close();
  }
  if (run.fatal !== undefined) process.stderr.write(`cloudtaser-s3-proxy encrypt-existing: ${run.fatal}\n`);
  printSummary(
    {
      command: 'encrypt-existing',
      location,
      dryRun: options.dryRun,
      interrupted: run.stopping && run.fatal === undefined,
      scanned: run.scanned,
      tally: { ...progress.tally, 'temporaries removed': run.temporaries },
      ...(run.fatal === undefined ? {} : { extra: { error: run.fatal } }),
    },
    options.json,
  );
  if (run.fatal !== undefined || (progress.tally.failed ?? 0) > 0) return 1;
  return run.stopping ? 130 : 0;
}

type Context = {
  location: Location;
  options: SweepOptions;
  tools: ToolContext;
  progress: Progress;
  run: Run;
  tempPrefix: string;
};

/**
 * Temporary objects of an interrupted run: each is a copy, the original is either untouched or already
 * replaced. Multipart uploads under the temporary prefix are the tool's own too (large objects).
 */
async function removeTemporaries(context: Context): Promise<void> {
  const { tools, location, tempPrefix, progress, options, run } = context;
  const { upstream } = tools.services;
  for (const upload of await listIncompleteUploads(
    upstream,
    location.bucket,
    `${tempPrefix}${location.prefix}`,
  )) {
    if (!options.dryRun) await abortMultipartUpload(upstream, location.bucket, upload.key, upload.uploadId);
  }
  for await (const page of listObjectPages(upstream, location.bucket, `${tempPrefix}${location.prefix}`)) {
    for (const entry of page.objects) {
      if (!options.dryRun) await deleteObject(upstream, location.bucket, entry.key);
      run.temporaries += 1;
      progress.note(
        `${options.dryRun ? 'would remove' : 'removed'} temporary ${s3Url(location.bucket, entry.key)} of an interrupted run`,
      );
    }
  }
}

async function encryptOne(context: Context, entry: ListedObject): Promise<void> {
  const { tools, progress, run, options, location } = context;
  const { upstream } = tools.services;
  if (run.stopping) return;
  run.scanned += 1;
  const where = s3Url(location.bucket, entry.key);
  try {
    const object = await headObject(upstream, location.bucket, entry.key);
    if (object === undefined) {
      progress.count('skipped');
      return;
    }
    // A malformed envelope throws here: such an object is reported, never re-encrypted as if it were plaintext.
    if (envelopeOf(object) !== undefined) {
      progress.count('skipped', object.storedSize);
      return;
    }
    if (options.dryRun) {
      progress.detail(`would encrypt ${where}`);
      progress.count('encrypted', object.storedSize);
      return;
    }
    await encryptInPlace(context, object);
    progress.detail(`encrypted ${where}`);
    progress.count('encrypted', object.storedSize);
  } catch (error) {
    const reason = isPreconditionFailure(error)
      ? 'the object changed while it was being encrypted; it was left as it is (run encrypt-existing again)'
      : describeError(error);
    progress.note(`failed ${where}: ${reason}`);
    progress.count('failed');
  }
}

async function encryptInPlace(context: Context, original: StoredObject): Promise<void> {
  const { tools, options, tempPrefix } = context;
  const { services } = tools;
  const { upstream } = services;
  const bucket = original.bucket;
  const tempKey = `${tempPrefix}${original.key}`;
  if (Buffer.byteLength(tempKey) > 1024)
    throw new UsageError(`the temporary key would exceed S3's 1024 bytes; choose a shorter --temp-prefix`);
  const plainSize = original.storedSize;
  const tags = await objectTagging(upstream, original);

  // 1. The encrypted copy, written from the plaintext as stored now (pinned by ETag), hashed on the way.
  const digest = new Digest();
  const tapped = async (range?: { start: number; end: number }) => {
    const source = await readStored(upstream, original, range);
    const tap = new HashTap(digest);
    source.on('error', (error) => tap.destroy(error));
    tap.on('close', () => {
      if (!source.readableEnded) abandonBody(source);
    });
    return source.pipe(tap);
  };
  // The temporary object is written and checked under the Transit key of the object it replaces.
  const asOriginal = { ...services, keys: services.keys.as(original.key) };
  let temp: WrittenObject;
  if (ciphertextSize(plainSize) <= options.maxSingleSize) {
    temp = await putEncrypted(asOriginal, { bucket, key: tempKey, headers: {} }, await tapped(), plainSize);
  } else {
    temp = await uploadEncryptedParts(
      asOriginal,
      { bucket, key: tempKey, headers: {} },
      plainParts(plainSize, options.partSize).map((range) => ({
        plainSize: range.end - range.start + 1,
        // Parts are written one after another, so the digest sees the plaintext in order.
        plaintext: () => tapped(range),
      })),
    );
  }
  const expected = { sha256: digest.hex(), bytes: digest.bytes };
  try {
    // 2. Read back through the proxy's reader: the copy must decrypt to exactly what was read.
    const stored = await headObject(upstream, bucket, tempKey, temp.versionId);
    const envelope = stored === undefined ? undefined : envelopeOf(stored);
    if (stored === undefined || envelope === undefined)
      throw new Error(`the temporary object ${s3Url(bucket, tempKey)} is missing or has no envelope`);
    const encrypted = await openEncrypted(stored, envelope, asOriginal);
    const actual = await hashStream(await readPlaintext(upstream, stored, encrypted));
    if (actual.sha256 !== expected.sha256 || actual.bytes !== plainSize || expected.bytes !== plainSize)
      throw new Error(
        'verification failed: the encrypted copy does not decrypt to the original bytes; original left as it is',
      );

    // 3. Replace the original with the verified copy, only if the original is still what was read.
    const headers = {
      ...preservedHeaders(original),
      ...(envelope.format === 'v1'
        ? envelopeToHeaders(envelope)
        : multipartEnvelopeHeaders(envelope.transitKey)),
    };
    if (tags !== undefined) headers['x-amz-tagging'] = tags;
    if (envelope.format === 'v1') {
      await copyStored(upstream, {
        bucket,
        key: original.key,
        source: stored,
        headers,
        ifMatch: original.etag,
      });
    } else {
      // One copied part per encrypted part keeps the ETag's part count equal to the format's, which
      // listings use to report the plaintext size.
      const layout = await storedPartLayout(identityOf(stored), services);
      await copyStored(upstream, {
        bucket,
        key: original.key,
        source: stored,
        headers,
        ifMatch: original.etag,
        ranges: layout.parts.map((part) => ({
          start: part.storedOffset,
          end: part.storedOffset + part.storedSize - 1,
        })),
      });
    }
  } finally {
    // 4. The temporary object goes whether or not the original was replaced.
    await deleteObject(upstream, bucket, tempKey, temp.versionId).catch(() => undefined);
  }
}

/** Plaintext ranges of a large object's parts: whole segments each (exact listing sizes), at most 10,000. */
function plainParts(size: number, wanted: number): Array<{ start: number; end: number }> {
  const largest = Math.floor(maxPartPlaintextSize(MAX_SINGLE_REQUEST_SIZE) / SEGMENT_SIZE) * SEGMENT_SIZE;
  let partSize = Math.max(SEGMENT_SIZE, Math.floor(wanted / SEGMENT_SIZE) * SEGMENT_SIZE);
  const fewest = Math.ceil(Math.ceil(size / 10_000) / SEGMENT_SIZE) * SEGMENT_SIZE;
  partSize = Math.min(largest, Math.max(partSize, fewest));
  const ranges: Array<{ start: number; end: number }> = [];
  for (let start = 0; start < size; start += partSize)
    ranges.push({ start, end: Math.min(size, start + partSize) - 1 });
  return ranges;
}
