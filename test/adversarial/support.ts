/**
 * The adversarial suite's one question, asked the same way by every probe: after a crafted request went
 * through the proxy, does the real SeaweedFS hold anything that is not ciphertext under the envelope?
 *
 * A probe puts a unique marker into its plaintext (body, form field, file name), sends its request, then
 * calls `tally.check(...)`, which reads every object of the bucket directly (every version, and the
 * metadata) and counts the probe as having stored something if any object lacks the envelope or carries
 * the marker anywhere. New probes are one line: `await tally.probe(name, () => send(...))`.
 */
import { randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { META_FORMAT } from '../../src/envelope/constants.ts';
import { bodyBytes } from '../support/fixtures.ts';

/** A marker no ciphertext contains by chance (24 random hex characters, unique per call). */
export function plaintextMarker(label = 'probe'): string {
  return `CLOUDTASER-PLAINTEXT-${label}-${randomBytes(12).toString('hex')}`;
}

export type StoredFinding = {
  key: string;
  versionId: string | undefined;
  reason: 'no envelope' | 'marker in body' | 'marker in metadata';
};

/** Every object (every version where the bucket keeps versions) and why it is not safely stored, if it is not. */
export async function unsafeStoredObjects(
  direct: S3Client,
  bucket: string,
  marker: string,
  options: { allowUnencrypted?: ReadonlySet<string> } = {},
): Promise<StoredFinding[]> {
  const findings: StoredFinding[] = [];
  const needle = Buffer.from(marker, 'utf8');
  for (const { key, versionId } of await storedVersions(direct, bucket)) {
    const got = await direct.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
    );
    const body = await bodyBytes(got.Body);
    const metadata = got.Metadata ?? {};
    const metadataText = JSON.stringify(metadata);
    if (body.includes(needle)) findings.push({ key, versionId, reason: 'marker in body' });
    else if (metadataText.includes(marker)) findings.push({ key, versionId, reason: 'marker in metadata' });
    else if (
      metadata[META_FORMAT.slice('x-amz-meta-'.length)] === undefined &&
      !options.allowUnencrypted?.has(key)
    )
      findings.push({ key, versionId, reason: 'no envelope' });
  }
  return findings;
}

async function storedVersions(
  direct: S3Client,
  bucket: string,
): Promise<{ key: string; versionId: string | undefined }[]> {
  const found: { key: string; versionId: string | undefined }[] = [];
  const versioned = await direct
    .send(new ListObjectVersionsCommand({ Bucket: bucket }))
    .then((listing) => listing.Versions ?? [])
    .catch(() => undefined);
  if (versioned !== undefined && versioned.length > 0) {
    for (const version of versioned) {
      if (version.Key === undefined) continue;
      found.push({
        key: version.Key,
        versionId: version.VersionId === 'null' ? undefined : version.VersionId,
      });
    }
    return found;
  }
  let token: string | undefined;
  do {
    const page = await direct.send(
      new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const object of page.Contents ?? [])
      if (object.Key !== undefined) found.push({ key: object.Key, versionId: undefined });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return found;
}

export type ProbeOutcome = { name: string; stored: StoredFinding[]; detail?: string };

/**
 * Counts probes and what each left behind in one bucket. `probe` runs a request, then scans the bucket
 * for the probe's marker and for objects without the envelope; `summary()` is the line the suite prints.
 */
export class ProbeTally {
  readonly outcomes: ProbeOutcome[] = [];
  readonly #direct: S3Client;
  readonly #bucket: string;
  readonly #allowUnencrypted: Set<string>;

  constructor(direct: S3Client, bucket: string, allowUnencrypted: Iterable<string> = []) {
    this.#direct = direct;
    this.#bucket = bucket;
    this.#allowUnencrypted = new Set(allowUnencrypted);
  }

  /** Runs `send(marker)` and records what the bucket holds afterwards. Returns the findings of this probe. */
  async probe(name: string, send: (marker: string) => Promise<string | undefined>): Promise<ProbeOutcome> {
    const marker = plaintextMarker();
    let detail: string | undefined;
    try {
      detail = await send(marker);
    } catch (error) {
      detail = `request failed: ${(error as Error).message}`;
    }
    const stored = await unsafeStoredObjects(this.#direct, this.#bucket, marker, {
      allowUnencrypted: this.#allowUnencrypted,
    });
    const outcome: ProbeOutcome = { name, stored, ...(detail === undefined ? {} : { detail }) };
    this.outcomes.push(outcome);
    // What one probe left behind must not be counted against the next one.
    for (const finding of stored) {
      await this.#direct.send(
        new DeleteObjectCommand({
          Bucket: this.#bucket,
          Key: finding.key,
          ...(finding.versionId ? { VersionId: finding.versionId } : {}),
        }),
      );
    }
    return outcome;
  }

  /** The probes that left plaintext or an envelope-less object behind. */
  failures(): ProbeOutcome[] {
    return this.outcomes.filter((outcome) => outcome.stored.length > 0);
  }

  summary(suite: string): string {
    return `${suite}: ${this.outcomes.length} probes ran, ${this.failures().length} stored anything unsafe`;
  }
}
