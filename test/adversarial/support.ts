/**
 * The adversarial suite's one question, asked the same way by every probe: after a crafted request went
 * through the proxy, does the real SeaweedFS hold anything that is not ciphertext under the envelope?
 *
 * A probe puts a unique marker into its plaintext (body, form field, file name), sends its request, then
 * calls `tally.check(...)`, which reads every object of the bucket directly (every version, and the
 * metadata) and counts the probe as having stored something if any object lacks the envelope or carries
 * the marker anywhere. New probes are one line: `await tally.probe(name, () => send(...))`.
 */
import { AssertionError } from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { META_FORMAT } from '../../src/envelope/constants.ts';
import { bodyBytes } from '../support/fixtures.ts';
import type { RawResponse } from '../support/raw-http.ts';

/** What every marker begins with: a scan for it finds any probe's plaintext. */
export const MARKER_PREFIX = 'CLOUDTASER-PLAINTEXT-';

/** A marker no ciphertext contains by chance (24 random hex characters, unique per call). */
export function plaintextMarker(label = 'probe'): string {
  return `${MARKER_PREFIX}${label}-${randomBytes(12).toString('hex')}`;
}

export type StoredFinding = {
  key: string;
  versionId: string | undefined;
  reason: 'no envelope' | 'marker in body' | 'marker in metadata';
};

/**
 * Every object (every version where the bucket keeps versions) and why it is not safely stored, if it is
 * not. `safe` holds the listing fingerprints (key, version, ETag, size, last modified) of objects already
 * read and found safe: an object written since has another fingerprint and is read again, the rest are
 * not, so that a scan after each of a thousand probes costs a listing, not a read of every object.
 */
export async function unsafeStoredObjects(
  direct: S3Client,
  bucket: string,
  marker: string,
  options: { allowUnencrypted?: ReadonlySet<string>; safe?: Set<string> } = {},
): Promise<StoredFinding[]> {
  const findings: StoredFinding[] = [];
  const needle = Buffer.from(marker, 'utf8');
  for (const { key, versionId, fingerprint } of await storedVersions(direct, bucket)) {
    if (options.safe?.has(fingerprint)) continue;
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
    else options.safe?.add(fingerprint);
  }
  return findings;
}

type StoredVersion = { key: string; versionId: string | undefined; fingerprint: string };

async function storedVersions(direct: S3Client, bucket: string): Promise<StoredVersion[]> {
  const found: StoredVersion[] = [];
  const add = (entry: {
    Key?: string;
    VersionId?: string;
    ETag?: string;
    Size?: number;
    LastModified?: Date;
  }) => {
    if (entry.Key === undefined) return;
    const versionId = entry.VersionId === 'null' ? undefined : entry.VersionId;
    const fingerprint = JSON.stringify([
      entry.Key,
      versionId,
      entry.ETag,
      entry.Size,
      entry.LastModified?.getTime(),
    ]);
    found.push({ key: entry.Key, versionId, fingerprint });
  };
  const versioned = await direct
    .send(new ListObjectVersionsCommand({ Bucket: bucket }))
    .then((listing) => listing.Versions ?? [])
    .catch(() => undefined);
  if (versioned !== undefined && versioned.length > 0) {
    for (const version of versioned) add(version);
    return found;
  }
  let token: string | undefined;
  do {
    const page = await direct.send(
      new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const object of page.Contents ?? []) add(object);
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
  /** Fingerprints of objects read and found safe (see unsafeStoredObjects). */
  readonly #safe = new Set<string>();

  constructor(direct: S3Client, bucket: string, allowUnencrypted: Iterable<string> = []) {
    this.#direct = direct;
    this.#bucket = bucket;
    this.#allowUnencrypted = new Set(allowUnencrypted);
  }

  /**
   * Runs `send(marker)` and records what the bucket holds afterwards. Returns the findings of this probe.
   * A request that fails (a reset) is recorded as such; an assertion `send` made about the answer is
   * rethrown once the bucket has been scanned, so the probe is counted either way.
   */
  async probe(
    name: string,
    send: (marker: string) => Promise<string | undefined>,
    marker = plaintextMarker(),
  ): Promise<ProbeOutcome> {
    let detail: string | undefined;
    let failedAssertion: unknown;
    try {
      detail = await send(marker);
    } catch (error) {
      if (error instanceof AssertionError) failedAssertion = error;
      detail = `request failed: ${(error as Error).message}`;
    }
    // The final scan for any marker reads everything again.
    const stored = await unsafeStoredObjects(this.#direct, this.#bucket, marker, {
      allowUnencrypted: this.#allowUnencrypted,
      ...(marker === MARKER_PREFIX ? {} : { safe: this.#safe }),
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
    if (failedAssertion !== undefined) throw failedAssertion;
    return outcome;
  }

  /**
   * Parts of uploads still in progress are not objects, and no scan sees them. This completes every such
   * upload directly, as the provider could, and scans the bucket for any probe's marker and for objects
   * without the envelope; it counts as one more probe.
   */
  async completeUploads(name = 'parts of uploads left in progress, completed'): Promise<ProbeOutcome> {
    const uploads =
      (await this.#direct.send(new ListMultipartUploadsCommand({ Bucket: this.#bucket }))).Uploads ?? [];
    for (const { Key, UploadId } of uploads) {
      const parts =
        (await this.#direct.send(new ListPartsCommand({ Bucket: this.#bucket, Key, UploadId }))).Parts ?? [];
      if (parts.length === 0) {
        await this.#direct.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key, UploadId }));
        continue;
      }
      await this.#direct.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.#bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
        }),
      );
    }
    return this.probe(name, async () => `completed ${uploads.length} uploads`, MARKER_PREFIX);
  }

  /** The probes that left plaintext or an envelope-less object behind. */
  failures(): ProbeOutcome[] {
    return this.outcomes.filter((outcome) => outcome.stored.length > 0);
  }

  summary(suite: string): string {
    return `${suite}: ${this.outcomes.length} probes ran, ${this.failures().length} stored anything unsafe`;
  }
}

/** `200 PutObject`, or the status and S3 error code of a refusal: what a probe reports. */
export function describeResponse(response: RawResponse): string {
  const code = /<Code>([^<]*)<\/Code>/.exec(response.body)?.[1];
  return `${response.status}${code === undefined ? '' : ` ${code}`}`;
}

export type FormCredentials = { accessKeyId: string; secretAccessKey: string; region: string };

/**
 * A browser-form upload body (multipart/form-data): a `key` field and a file, and, given credentials,
 * a SigV4 POST policy signed with them, so that an upstream reached by the form would accept it.
 */
export function formUpload(
  key: string,
  file: Buffer,
  credentials?: FormCredentials,
): { body: Buffer; contentType: string } {
  const fields: [string, string][] = [['key', key]];
  if (credentials !== undefined) {
    const now = new Date();
    const date = now
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    const day = date.slice(0, 8);
    const credential = `${credentials.accessKeyId}/${day}/${credentials.region}/s3/aws4_request`;
    const policy = Buffer.from(
      JSON.stringify({
        expiration: new Date(now.getTime() + 3_600_000).toISOString(),
        conditions: [
          ['starts-with', '$key', ''],
          { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
          { 'x-amz-credential': credential },
          { 'x-amz-date': date },
        ],
      }),
    ).toString('base64');
    let signingKey = hmac(`AWS4${credentials.secretAccessKey}`, day);
    for (const part of [credentials.region, 's3', 'aws4_request']) signingKey = hmac(signingKey, part);
    fields.push(
      ['policy', policy],
      ['x-amz-algorithm', 'AWS4-HMAC-SHA256'],
      ['x-amz-credential', credential],
      ['x-amz-date', date],
      ['x-amz-signature', hmac(signingKey, policy).toString('hex')],
    );
  }
  const boundary = `----cloudtaser${randomBytes(8).toString('hex')}`;
  const head = fields
    .map(
      ([name, value]) =>
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
    )
    .join('');
  const body = Buffer.concat([
    Buffer.from(
      `${head}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="probe.txt"\r\n` +
        'Content-Type: text/plain\r\n\r\n',
    ),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function contentMd5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('base64');
}
