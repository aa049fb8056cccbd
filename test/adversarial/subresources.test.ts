/**
 * Every S3 sub-resource name on every method, at object and bucket level, with and without bodies, sent
 * raw through the real proxy to the real SeaweedFS: the names the operations table knows, the ones S3 or
 * SeaweedFS know besides, unknown names, odd casing, valued and repeated forms. Each request is followed by
 * a direct read of everything SeaweedFS stored (ProbeTally): nothing may lack the envelope or contain the
 * probe's plaintext marker. Object reads must not release the stored ciphertext or an unencrypted object.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { KNOWN_SUBRESOURCES, OPERATION_ROWS } from '../../src/s3/operations.ts';
import { bodyBytes, createBucket, MiB, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { type RawResponse, rawRequest } from '../support/raw-http.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import { contentMd5, describeResponse, formUpload, type ProbeOutcome, ProbeTally } from './support.ts';

/** Sub-resources S3 or SeaweedFS know beyond the table's own, names nobody knows, and odd casing. */
const EXTRA_NAMES = [
  'annotation',
  'encryption',
  'restore',
  'metadataTable',
  'metadataConfiguration',
  'select',
  'torrent',
  'renameObject',
  'uploads',
  'uploadId',
  'partNumber',
  'versionId',
  'website',
  'seaweedfs-quota',
  'x-id',
  'newfeature',
  'Tagging',
  'ACL',
  'Acl',
  'partnumber',
  'PartNumber',
  'UploadId',
  'uploadid',
  'Uploads',
  'Restore',
  'Encryption',
  'Annotation',
  'Versioning',
];

/** Names that take a value in some row get one; `uploadId` gets the lane's real upload. */
const VALUED = new Set(
  OPERATION_ROWS.flatMap((row) => [
    ...row.parameters,
    ...row.requires.filter((r) => r.value.kind !== 'empty').map((r) => r.name),
  ]),
);

const UPLOAD = '{upload}';

function queryFor(name: string): string {
  if (name === 'uploadId') return `uploadId=${UPLOAD}`;
  if (name === 'list-type' || name === 'select-type') return `${name}=2`;
  return VALUED.has(name) ? `${name}=1` : name;
}

/** Forms the table treats specially: combinations, values, repeats, headers moved into the query. */
const EXTRA_QUERIES = [
  '',
  'tagging=x',
  'uploads=1',
  'tagging&versionId=1',
  'acl&tagging',
  `partNumber=1&uploadId=${UPLOAD}`,
  `partNumber=1&uploadId=${UPLOAD}&tagging`,
  'select&select-type=2',
  'list-type=1',
  'annotation&annotationName=n',
  'x-amz-copy-source=%2Fsource%2Fencrypted',
  'x-amz-meta-owner=me',
  'X-Amz-Write-Offset-Bytes=0',
  `partNumber=2&partNumber=1&uploadId=${UPLOAD}`,
  `partNumber=1&uploadId=${UPLOAD}&uploadId=other`,
  'versionId=a&versionId=b',
  'tagging&tagging',
  'acl&acl',
  'restore&restore',
  'encryption&encryption',
  'x-id=PutObject&x-id=GetObject',
  'prefix=a&prefix=b',
];

const QUERIES = [
  ...new Set([
    ...[...new Set([...KNOWN_SUBRESOURCES, ...EXTRA_NAMES])].sort().map(queryFor),
    ...EXTRA_QUERIES,
  ]),
];

type Probe = {
  name: string;
  method: string;
  level: 'bucket' | 'object';
  query: string;
  variant: 'no body' | 'plaintext body' | 'copy REPLACE' | 'form' | 'form > 8 MiB';
  /** The object-level read target ('encrypted' or 'legacy'), or 'target' for writes. */
  key: string;
};

function probesFor(query: string): Probe[] {
  const probes: Probe[] = [];
  const add = (method: string, level: Probe['level'], variant: Probe['variant'], key = 'target') =>
    probes.push({
      name: `${method} ${level}${query === '' ? '' : `?${query}`} ${variant}${level === 'object' ? ` (${key})` : ''}`,
      method,
      level,
      query,
      variant,
      key,
    });
  for (const method of ['GET', 'HEAD']) {
    add(method, 'bucket', 'no body');
    add(method, 'object', 'no body', 'encrypted');
    add(method, 'object', 'no body', 'legacy');
  }
  for (const method of ['PUT', 'POST', 'DELETE']) {
    for (const level of ['bucket', 'object'] as const) {
      // DELETE /bucket would be DeleteBucket: the probe needs its bucket (its body variant is refused unread).
      if (!(method === 'DELETE' && level === 'bucket' && query === '')) add(method, level, 'no body');
      add(method, level, 'plaintext body');
      if (method === 'POST') add(method, level, 'form');
    }
  }
  add('PUT', 'object', 'copy REPLACE');
  return probes;
}

/** 9 MiB forms (above the size passthrough used to stream unchecked) on the POST forms an upstream takes. */
const LARGE_FORMS: Probe[] = [
  '',
  'restore',
  'uploads',
  'delete',
  'metadataTable',
  'metadataConfiguration',
  'newfeature',
].flatMap((query) =>
  (['bucket', 'object'] as const).map((level) => ({
    name: `POST ${level}${query === '' ? '' : `?${query}`} form > 8 MiB`,
    method: 'POST',
    level,
    query,
    variant: 'form > 8 MiB' as const,
    key: 'target',
  })),
);

/** One bucket and its tally: probes in a lane run one after another; lanes run side by side. */
type Lane = { bucket: string; tally: ProbeTally; uploadId: string; ciphertextHead: Buffer };
const LANES = 4;
/** The unencrypted object's contents: not a probe marker (the final scan looks for those everywhere). */
const LEGACY_PLAINTEXT = `LEGACY-OBJECT-${randomBytes(12).toString('hex')}`;

describe('adversarial: every sub-resource on every method stores no plaintext and releases nothing', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const lanes: Lane[] = [];
  const released: string[] = [];

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services, { env: { CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS: 'refuse' } });
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(services);
    for (let i = 0; i < LANES; i++) {
      const bucket = uniqueBucket(`subresources-${i}`);
      await createBucket(client, bucket);
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'encrypted', Body: patternBytes(2000, i) }),
      );
      await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'legacy', Body: LEGACY_PLAINTEXT }));
      const stored = await bodyBytes(
        (await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'encrypted' }))).Body,
      );
      const { UploadId } = await client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'target' }),
      );
      assert.ok(UploadId);
      lanes.push({
        bucket,
        tally: new ProbeTally(direct, bucket, ['legacy']),
        uploadId: UploadId,
        ciphertextHead: stored.subarray(0, 48),
      });
    }
  });
  after(async () => {
    await proxy?.stop();
  });

  async function send(lane: Lane, probe: Probe, marker: string): Promise<RawResponse> {
    // A DELETE of the lane's upload would end it for every later probe; it gets an id of its own.
    const uploadId = probe.method === 'DELETE' ? 'not-the-lane-upload' : lane.uploadId;
    const query = probe.query.replaceAll(UPLOAD, encodeURIComponent(uploadId));
    const path = probe.level === 'bucket' ? `/${lane.bucket}` : `/${lane.bucket}/${probe.key}`;
    const target = query === '' ? path : `${path}?${query}`;
    const headers: Record<string, string> = {};
    let body: Buffer | undefined;
    let expectContinue = false;
    switch (probe.variant) {
      case 'plaintext body':
        body = Buffer.from(`plaintext ${marker}`);
        headers['content-type'] = 'text/plain';
        break;
      case 'copy REPLACE':
        headers['x-amz-copy-source'] = `/${lane.bucket}/encrypted`;
        headers['x-amz-metadata-directive'] = 'REPLACE';
        break;
      case 'form':
      case 'form > 8 MiB': {
        const file =
          probe.variant === 'form'
            ? Buffer.from(`form file ${marker}`)
            : Buffer.concat([Buffer.from(marker), Buffer.alloc(9 * MiB, 0x61), Buffer.from(marker)]);
        const form = formUpload('formed', file, services.s3);
        body = form.body;
        headers['content-type'] = form.contentType;
        headers['content-md5'] = contentMd5(file);
        if (probe.variant === 'form > 8 MiB') headers.expect = '100-continue';
        expectContinue = probe.variant === 'form > 8 MiB';
        break;
      }
    }
    return rawRequest(`${proxy.endpoint}${target}`, {
      method: probe.method,
      headers,
      expectContinue,
      ...(body ? { body } : {}),
    });
  }

  async function runLane(lane: Lane, probes: readonly Probe[]): Promise<void> {
    for (const probe of probes) {
      await lane.tally.probe(probe.name, async (marker) => {
        const response = await send(lane, probe, marker);
        if (response.bytes.includes(LEGACY_PLAINTEXT) || response.bytes.includes(lane.ciphertextHead))
          released.push(`${probe.name}: ${describeResponse(response)}`);
        return describeResponse(response);
      });
    }
  }

  /** Runs `probes` spread over the lanes and asserts of them what the suite promises. */
  async function runAndCheck(probes: readonly Probe[]): Promise<ProbeOutcome[]> {
    const releasedBefore = released.length;
    const outcomes = await Promise.all(
      lanes.map(async (lane, i) => {
        const from = lane.tally.outcomes.length;
        await runLane(
          lane,
          probes.filter((_, n) => n % LANES === i),
        );
        return lane.tally.outcomes.slice(from);
      }),
    ).then((perLane) => perLane.flat());
    assert.deepEqual(
      outcomes
        .filter((outcome) => outcome.stored.length > 0)
        .map((outcome) => `${outcome.name} → ${outcome.detail}: ${JSON.stringify(outcome.stored)}`),
      [],
    );
    assert.deepEqual(released.slice(releasedBefore), []);
    // A probe that got no answer proves nothing: every request must have been answered by a live proxy.
    assert.deepEqual(
      outcomes
        .filter((outcome) => outcome.detail?.startsWith('request failed'))
        .map((outcome) => `${outcome.name}: ${outcome.detail}`),
      [],
    );
    assert.equal(proxy.process.exitCode, null, 'the proxy is still serving');
    return outcomes;
  }

  const ALL = [...QUERIES.flatMap(probesFor), ...LARGE_FORMS];
  for (const method of ['GET', 'HEAD', 'PUT', 'POST', 'DELETE']) {
    const probes = ALL.filter((probe) => probe.method === method);
    it(`${method} with every sub-resource form (${probes.length} probes) stores nothing unsafe and releases no stored bytes`, async () => {
      const outcomes = await runAndCheck(probes);
      assert.equal(outcomes.length, probes.length);
    });
  }

  it('parts of uploads left in progress hold no plaintext either; summary of the suite', async (t) => {
    for (const lane of lanes) await lane.tally.completeUploads();
    const outcomes = lanes.flatMap((lane) => lane.tally.outcomes);
    const failures = lanes.flatMap((lane) => lane.tally.failures());
    const answers = new Map<string, number>();
    for (const outcome of outcomes) {
      const status = outcome.detail?.split(' ')[0] ?? '?';
      answers.set(status, (answers.get(status) ?? 0) + 1);
    }
    t.diagnostic(
      `${outcomes.length} probes ran (${QUERIES.length} query forms, ${LANES} buckets), ${failures.length} stored anything, ` +
        `${released.length} released stored bytes; answers: ` +
        [...answers].map(([status, count]) => `${status} ×${count}`).join(', '),
    );
    assert.deepEqual(
      failures.map((outcome) => `${outcome.name} → ${outcome.detail}: ${JSON.stringify(outcome.stored)}`),
      [],
    );
    assert.deepEqual(released, []);
    assert.ok(outcomes.length > 1500, `${outcomes.length} probes`);
  });
});
