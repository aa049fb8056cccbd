import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { SEALED_SEGMENT_SIZE, SEGMENT_SIZE } from '../../src/envelope/index.ts';
import {
  bodyBytes,
  createBucket,
  MiB,
  patternBytes,
  uniqueBucket,
  uploadParts,
} from '../support/fixtures.ts';
import {
  type ProxyProcess,
  proxyEnv,
  proxyS3Client,
  runProxyCli,
  startProxy,
} from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import {
  type ClientView,
  forgedPart,
  readStoredParts,
  readThroughProxy,
  readViolations,
  type StoredMultipart,
  startCuttingRelay,
  storeDirectly,
  storedBody,
} from './stored-multipart.ts';

const S = SEGMENT_SIZE;
const B = SEALED_SEGMENT_SIZE;
const REFUSE = { CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS: 'refuse' };

type Original = {
  plaintext: Buffer;
  body: Buffer;
  metadata: Record<string, string>;
  parts?: StoredMultipart;
};
type Variant = {
  name: string;
  of: 'single' | 'multipart';
  make: (original: Original) => Omit<Original, 'plaintext'>;
};

const flip = (data: Buffer, offset: number): Buffer => {
  const copy = Buffer.from(data);
  copy[offset] = (copy[offset] ?? 0) ^ 0x01;
  return copy;
};
const withoutEnvelope = (metadata: Record<string, string>) =>
  Object.fromEntries(Object.entries(metadata).filter(([name]) => !name.startsWith('cloudtaser-')));
const REFUSED_DEK = `vault:v1:${Buffer.alloc(60, 7).toString('base64')}`;

/** Everything the provider can do to a stored object that a reader must survive. */
const VARIANTS: Variant[] = [
  {
    name: 'the envelope metadata removed',
    of: 'single',
    make: (o) => ({ ...o, metadata: withoutEnvelope(o.metadata) }),
  },
  {
    name: 'the envelope metadata removed',
    of: 'multipart',
    make: (o) => ({ ...o, metadata: withoutEnvelope(o.metadata) }),
  },
  {
    name: 'a garbled nonce in the envelope',
    of: 'single',
    make: (o) => ({ ...o, metadata: { ...o.metadata, 'cloudtaser-nonce': '!!not-base64!!!!' } }),
  },
  {
    name: 'a garbled format in the envelope',
    of: 'multipart',
    make: (o) => ({ ...o, metadata: { ...o.metadata, 'cloudtaser-format': 'v1' } }),
  },
  {
    name: 'the body truncated by 7 bytes',
    of: 'single',
    make: (o) => ({ ...o, body: o.body.subarray(0, -7) }),
  },
  {
    name: 'the body truncated by 7 bytes',
    of: 'multipart',
    make: (o) => ({ ...o, body: o.body.subarray(0, -7) }),
  },
  {
    name: 'a flipped byte in the first segment',
    of: 'single',
    make: (o) => ({ ...o, body: flip(o.body, 10) }),
  },
  {
    name: 'a flipped byte in a middle segment',
    of: 'single',
    make: (o) => ({ ...o, body: flip(o.body, B + 10) }),
  },
  {
    name: 'a flipped byte in the last segment',
    of: 'single',
    make: (o) => ({ ...o, body: flip(o.body, o.body.length - 20) }),
  },
  {
    name: "a flipped byte in part 1's first segment",
    of: 'multipart',
    make: (o) => ({ ...o, body: flip(o.body, 300) }),
  },
  {
    name: 'a flipped byte in a middle segment of part 2',
    of: 'multipart',
    make: (o) => ({ ...o, body: flip(o.body, partOffset(o, 2) + 256 + 40 * B + 5) }),
  },
  {
    name: 'a flipped byte in the last segment of the last part',
    of: 'multipart',
    make: (o) => ({ ...o, body: flip(o.body, o.body.length - 20) }),
  },
  {
    name: 'a forged header of part 2 (its size one segment smaller, its body cut to match)',
    of: 'multipart',
    make: (o) => {
      const [p1, p2, ...rest] = (o.parts as StoredMultipart).parts;
      if (p1 === undefined || p2 === undefined) throw new Error('needs two parts');
      const size = p2.header.plaintextSize - S;
      const forged = forgedPart(
        p2,
        { plaintextSize: size },
        p2.sealed.subarray(0, size + 16 * Math.ceil(size / S)),
      );
      return { ...o, body: storedBody([p1, forged, ...rest]) };
    },
  },
  {
    name: 'part 2 missing',
    of: 'multipart',
    make: (o) => {
      const [p1, , ...rest] = (o.parts as StoredMultipart).parts;
      return { ...o, body: storedBody([p1, ...rest].filter((p) => p !== undefined)) };
    },
  },
  {
    name: 'a wrapped data key that Vault refuses',
    of: 'single',
    make: (o) => ({ ...o, metadata: { ...o.metadata, 'cloudtaser-dek': REFUSED_DEK } }),
  },
  {
    name: "a wrapped data key that Vault refuses in part 2's header",
    of: 'multipart',
    make: (o) => {
      const [p1, p2, ...rest] = (o.parts as StoredMultipart).parts;
      if (p1 === undefined || p2 === undefined) throw new Error('needs two parts');
      return { ...o, body: storedBody([p1, forgedPart(p2, { wrappedDek: REFUSED_DEK }), ...rest]) };
    },
  },
];

/** One UploadPartCopy of `source` (or a range of it) as part 1 of a new upload of `target`. */
async function copyPart(
  client: S3Client,
  bucket: string,
  source: string,
  target: string,
  range?: { start: number; end: number },
): Promise<{ uploadId: string | undefined; etag: string | undefined; error: string | undefined }> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: target }));
  try {
    const copied = await client.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: target,
        UploadId,
        PartNumber: 1,
        CopySource: `${bucket}/${source}`,
        ...(range === undefined ? {} : { CopySourceRange: `bytes=${range.start}-${range.end}` }),
      }),
    );
    return { uploadId: UploadId, etag: copied.CopyPartResult?.ETag, error: undefined };
  } catch (error) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: target, UploadId }));
    return { uploadId: UploadId, etag: undefined, error: (error as Error).name };
  }
}

function partOffset(original: Original, partNumber: number): number {
  let offset = 0;
  for (const part of (original.parts as StoredMultipart).parts.slice(0, partNumber - 1))
    offset += 256 + part.sealed.length;
  return offset;
}

/**
 * The storage provider breaks stored objects in every way it can. Every read path of the proxy (GET,
 * range, partNumber, HEAD, CopyObject and UploadPartCopy sources, the decrypt tool) must answer with an
 * error, never with wrong bytes, and the proxy must go on serving.
 */
describe('no failure the storage provider can cause in a read takes the proxy down', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('read-failures');
  const originals = new Map<'single' | 'multipart', Original>();
  const control = patternBytes(100_000, 5);
  let probes = 0;

  const stillServing = async (after: string) => {
    probes += 1;
    assert.equal(
      proxy.process.exitCode,
      null,
      `the proxy exited after ${after}:\n${proxy.logs().slice(-3000)}`,
    );
    const view = await readThroughProxy(proxy.endpoint, `/${bucket}/control`);
    assert.equal(view.status, 200, `a normal GET after ${after} answered ${view.status} (${view.error})`);
    assert.ok(view.complete && view.body.equals(control), `a normal GET after ${after} returned other bytes`);
  };

  before(async () => {
    services = await useServices();
    proxy = await startProxy(services, { env: REFUSE });
    // One attempt: a retried failure would only repeat it.
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(services);
    await createBucket(client, bucket);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'control', Body: control }));
    const single = patternBytes(3 * S + 1000, 6);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: single }));
    const singleStored = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'single' }));
    originals.set('single', {
      plaintext: single,
      body: await bodyBytes(singleStored.Body),
      metadata: singleStored.Metadata ?? {},
    });
    const parts = [patternBytes(5 * MiB + 1000, 7), patternBytes(5 * MiB + 1000, 8), patternBytes(70_000, 9)];
    await uploadParts(client, bucket, 'multipart', parts);
    const stored = await readStoredParts(direct, bucket, 'multipart');
    originals.set('multipart', {
      plaintext: Buffer.concat(parts),
      body: storedBody(stored.parts),
      metadata: stored.metadata,
      parts: stored,
    });
  });
  after(async () => {
    console.log(`read-failures: ${probes} failing reads, the proxy served after each`);
    await proxy?.stop();
  });

  /** The read paths, each a request that must fail safely; each returns what was wrong with the answer. */
  const readPaths = (key: string, original: Original, of: 'single' | 'multipart') => {
    const size = original.plaintext.length;
    const boundary = of === 'multipart' ? 5 * MiB + 1000 : S;
    const get =
      (query = '', headers: Record<string, string> = {}) =>
      async () =>
        readViolations(
          await readThroughProxy(proxy.endpoint, `/${bucket}/${key}${query}`, { headers }),
          original.plaintext,
        );
    const head =
      (query = '') =>
      async () => {
        const view: ClientView = await readThroughProxy(proxy.endpoint, `/${bucket}/${key}${query}`, {
          method: 'HEAD',
        });
        return view.statusLine ? [] : [`HEAD${query}: no status line`];
      };
    return [
      ['GET', get()],
      ['GET of a range across a boundary', get('', { range: `bytes=${boundary - 100}-${boundary + 100}` })],
      ['GET of a suffix range', get('', { range: `bytes=-${Math.min(size, 1000)}` })],
      ['GET partNumber=1', get('?partNumber=1')],
      ...(of === 'multipart' ? [['GET partNumber=2', get('?partNumber=2')] as const] : []),
      ['HEAD', head()],
      ['HEAD partNumber=1', head('?partNumber=1')],
      [
        'CopyObject with it as the source',
        async () => {
          await client
            .send(
              new CopyObjectCommand({
                Bucket: bucket,
                Key: `copy-of/${key}`,
                CopySource: `${bucket}/${key}`,
              }),
            )
            .catch(() => undefined);
          return [];
        },
      ],
      ['UploadPartCopy of all of it', () => partCopyViolations(key, original, undefined)],
      [
        'UploadPartCopy of a range',
        () => partCopyViolations(key, original, { start: boundary - 10, end: boundary + 10 }),
      ],
    ] as Array<readonly [string, () => Promise<string[]>]>;
  };

  /** An UploadPartCopy must fail, or the completed copy must hold exactly the source's plaintext range. */
  const partCopyViolations = async (
    key: string,
    original: Original,
    range: { start: number; end: number } | undefined,
  ): Promise<string[]> => {
    const target = `part-copy-of/${key}`;
    const copied = await copyPart(client, bucket, key, target, range);
    if (copied.error !== undefined) return [];
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: target,
        UploadId: copied.uploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: copied.etag }] },
      }),
    );
    const got = await bodyBytes(
      (await client.send(new GetObjectCommand({ Bucket: bucket, Key: target }))).Body,
    );
    const expected =
      range === undefined ? original.plaintext : original.plaintext.subarray(range.start, range.end + 1);
    return got.equals(expected) ? [] : ['UploadPartCopy stored bytes that differ from the source plaintext'];
  };

  for (const variant of VARIANTS) {
    it(`${variant.of}, ${variant.name}: every read path fails safely and the proxy goes on serving`, async () => {
      const original = originals.get(variant.of) as Original;
      const key = `${variant.of}/${variant.name}`;
      const broken = variant.make(original);
      await storeDirectly(direct, bucket, key, broken.body, broken.metadata);
      const violations: string[] = [];
      for (const [path, read] of readPaths(key, original, variant.of)) {
        for (const problem of await read()) violations.push(`${path}: ${problem}`);
        await stillServing(`${path} of ${key}`);
      }
      assert.deepEqual(violations, []);
    });
  }

  it('the decrypt tool fails with a message, writes no file and does not crash, for every broken object', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'read-failures-'));
    try {
      const env = {
        ...proxyEnv(services, { listenAddr: '127.0.0.1:0', healthAddr: '127.0.0.1:0' }),
        ...REFUSE,
      };
      const runs = await Promise.all(
        VARIANTS.map(async (variant, index) => {
          const output = join(dir, `out-${index}`);
          const run = await runProxyCli(
            ['decrypt', `s3://${bucket}/${variant.of}/${variant.name}`, '--output', output],
            env,
            {
              timeoutMs: 120_000,
            },
          );
          return { variant, run, written: existsSync(output) };
        }),
      );
      const problems = runs
        .filter(
          ({ run, written }) =>
            run.code !== 1 ||
            written ||
            !/cloudtaser-s3-proxy decrypt: /.test(run.stderr) ||
            /Unhandled|node:internal/.test(run.stderr),
        )
        .map(
          ({ variant, run, written }) =>
            `${variant.of}, ${variant.name}: exit ${run.code}, file ${written}, ${run.stderr.trim().slice(0, 400)}`,
        );
      assert.deepEqual(problems, []);
      assert.deepEqual(await readdir(dir), [], 'no partial output is left behind');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** An upstream connection that breaks in the middle of a body is a failure like any other. */
describe('an upstream connection cut in the middle of a body fails the read and nothing else', () => {
  let services: Services;
  let relay: Awaited<ReturnType<typeof startCuttingRelay>>;
  let proxy: ProxyProcess;
  let client: S3Client;
  const bucket = uniqueBucket('cut-upstream');
  const single = patternBytes(24 * MiB, 21);
  const parts = [
    patternBytes(5 * MiB, 22),
    patternBytes(5 * MiB, 23),
    patternBytes(5 * MiB, 24),
    patternBytes(9 * MiB, 25),
  ];
  const multipart = Buffer.concat(parts);
  const control = patternBytes(10_000, 26);

  before(async () => {
    services = await useServices();
    relay = await startCuttingRelay(services.s3.endpoint);
    proxy = await startProxy(services, {
      env: { ...REFUSE, CLOUDTASER_S3PROXY_S3_ENDPOINT: relay.endpoint },
    });
    // One attempt: a retry would go through the relay, which cuts only once.
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    await createBucket(client, bucket);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'control', Body: control }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: single }));
    await uploadParts(client, bucket, 'multipart', parts);
  });
  after(async () => {
    await proxy?.stop();
    await relay?.close();
  });

  const stillServing = async () => {
    assert.equal(proxy.process.exitCode, null, proxy.logs().slice(-3000));
    const view = await readThroughProxy(proxy.endpoint, `/${bucket}/control`);
    assert.ok(
      view.complete && view.body.equals(control),
      `a normal GET answered ${view.status} (${view.error})`,
    );
  };

  for (const [key, plaintext] of [
    ['single', single],
    ['multipart', multipart],
  ] as const) {
    for (const [name, query, headers] of [
      ['GET', '', {}],
      ['GET of a range', '', { range: `bytes=1000-${plaintext.length - 1000}` }],
      ['GET partNumber=1', '?partNumber=1', {}],
    ] as const) {
      it(`${name} of the ${key} object: a cut upstream body cuts the response short, the proxy goes on`, async () => {
        // Every transfer: a range read of a multipart object first meets a GET planned for a
        // single-part one, whose body it drops.
        relay.cutEveryTransferAfter(3 * MiB);
        const view = await readThroughProxy(proxy.endpoint, `/${bucket}/${key}${query}`, {
          headers,
        }).finally(() => relay.stopCutting());
        assert.deepEqual(readViolations(view, plaintext), []);
        assert.equal(view.complete, false, `the read answered ${view.status} and looked complete`);
        await stillServing();
      });
    }

    it(`UploadPartCopy from the ${key} object: a cut upstream body fails the copy, the proxy goes on`, async () => {
      relay.cutNextTransferAfter(3 * MiB);
      const copied = await copyPart(client, bucket, key, `copy-of-${key}`);
      assert.notEqual(copied.error, undefined, 'the part copy succeeded although its source was cut');
      await stillServing();
    });
  }
});

/**
 * What a client gets from a read that fails: before the first byte is released an S3 error with its
 * status; after the status line, a body cut short of its Content-Length, never one that looks complete.
 * The request log says the same.
 */
describe('a failing read is an S3 error before its first byte and a visibly cut body after it', () => {
  let proxy: ProxyProcess;
  let direct: S3Client;
  const bucket = uniqueBucket('read-outcome');
  const parts = [
    patternBytes(5 * MiB + 1000, 31),
    patternBytes(5 * MiB + 1000, 32),
    patternBytes(70_000, 33),
  ];
  const plaintext = Buffer.concat(parts);
  const part2 = 5 * MiB + 1000;
  let stored: StoredMultipart;

  before(async () => {
    const services = await useServices();
    proxy = await startProxy(services);
    const client = proxyS3Client(proxy);
    direct = createS3Client(services);
    await createBucket(client, bucket);
    await uploadParts(client, bucket, 'original', parts);
    stored = await readStoredParts(direct, bucket, 'original');
    // Read once, so that the part keys are in the proxy's key cache and a failure comes without a pause.
    const whole = await readThroughProxy(proxy.endpoint, `/${bucket}/original`);
    assert.ok(whole.complete && whole.body.equals(plaintext));
  });
  after(async () => {
    await proxy?.stop();
  });

  /** Part `index` (0-based) with a flipped byte in its segment `segment`. */
  const withFlippedSegment = (index: number, segment: number) =>
    storedBody(
      stored.parts.map((part, i) =>
        i === index ? { ...part, sealed: flip(part.sealed, segment * B + 7) } : part,
      ),
    );
  const logged = async (key: string) => {
    const record = await proxy.waitForLogRecord((r) => r.msg === 'request' && r.key === key, 5000);
    return { status: record?.status, complete: record?.complete, bytesOut: record?.bytesOut };
  };
  /** A status line, 500 InvalidEncryptedObject, no plaintext; and the request log says just that. */
  const refusedBeforeAnyByte = async (key: string, view: ClientView) => {
    assert.equal(view.statusLine, true, `no status line: ${view.error}`);
    assert.equal(view.status, 500);
    assert.match(view.body.toString(), /<Code>InvalidEncryptedObject<\/Code>/);
    assert.deepEqual(await logged(key), { status: 500, complete: true, bytesOut: 0 });
  };

  it('a range read that fails in the first segment it would release answers 500 InvalidEncryptedObject', async () => {
    const key = 'part-2-first-segment-flipped/range';
    await storeDirectly(direct, bucket, key, withFlippedSegment(1, 0), stored.metadata);
    const view = await readThroughProxy(proxy.endpoint, `/${bucket}/${key}`, {
      headers: { range: `bytes=${part2 - 10}-${part2 + 10}` },
    });
    await refusedBeforeAnyByte(key, view);
  });

  it('a range read across a part forged as empty answers with a status line: 500 InvalidEncryptedObject', async () => {
    const key = 'part-2-forged-empty';
    const [p1, p2, p3] = stored.parts;
    if (p1 === undefined || p2 === undefined || p3 === undefined) throw new Error('three parts expected');
    const forged = forgedPart(p2, { plaintextSize: 0 }, Buffer.alloc(16, 1));
    await storeDirectly(direct, bucket, key, storedBody([p1, forged, p3]), stored.metadata);
    const view = await readThroughProxy(proxy.endpoint, `/${bucket}/${key}`, {
      headers: { range: `bytes=${part2 - 1}-${part2}` },
    });
    await refusedBeforeAnyByte(key, view);
  });

  it('a partNumber read that fails in its first segment answers 500 InvalidEncryptedObject', async () => {
    const key = 'part-2-first-segment-flipped/part';
    await storeDirectly(direct, bucket, key, withFlippedSegment(1, 0), stored.metadata);
    const view = await readThroughProxy(proxy.endpoint, `/${bucket}/${key}?partNumber=2`);
    await refusedBeforeAnyByte(key, view);
  });

  it('a range read that fails after releasing bytes shows its 206 and a body cut short, and the log says so', async () => {
    const key = 'part-2-middle-segment-flipped';
    await storeDirectly(direct, bucket, key, withFlippedSegment(1, 40), stored.metadata);
    const view = await readThroughProxy(proxy.endpoint, `/${bucket}/${key}`, {
      headers: { range: `bytes=${part2 - 1000}-${part2 + 60 * S}` },
    });
    assert.equal(view.statusLine, true, `no status line: ${view.error}`);
    assert.equal(view.status, 206);
    assert.equal(view.complete, false, 'the cut body must not look complete');
    assert.ok(view.body.length > 0 && view.body.length < 41 * S, `${view.body.length} bytes arrived`);
    assert.deepEqual(readViolations(view, plaintext), []);
    assert.deepEqual(await logged(key), { status: 206, complete: false, bytesOut: view.body.length });
  });

  it('a whole-object GET whose last part is forged as an empty one never looks complete', async () => {
    const key = 'last-part-forged-empty';
    const [p1, p2, p3] = stored.parts;
    if (p1 === undefined || p2 === undefined || p3 === undefined) throw new Error('three parts expected');
    const forged = forgedPart(p3, { plaintextSize: 0 }, Buffer.alloc(16, 1));
    await storeDirectly(direct, bucket, key, storedBody([p1, p2, forged]), stored.metadata);
    const view = await readThroughProxy(proxy.endpoint, `/${bucket}/${key}`);
    assert.equal(view.statusLine, true, `no status line: ${view.error}`);
    assert.equal(
      view.complete,
      false,
      `answered ${view.status} with ${view.body.length} bytes and looked complete`,
    );
    assert.ok(
      view.body.equals(plaintext.subarray(0, view.body.length)),
      'what arrived is a prefix of the plaintext',
    );
    const record = await logged(key);
    assert.deepEqual(record, { status: view.status, complete: false, bytesOut: view.body.length });
  });
});
