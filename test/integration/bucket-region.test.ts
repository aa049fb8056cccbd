/**
 * The wrong-region retry of decision 0008 against a real S3 server that refuses a signature scoped to
 * another region: versitygw (scripts/build-versitygw.sh) with its posix backend, in eu-west-3, as the
 * proxy's upstream, while the proxy is configured for us-east-1. SeaweedFS accepts any region, so only
 * here does the proxy meet a real 400 AuthorizationHeaderMalformed. versitygw's access log (one line a
 * request, with the error code) counts the refused requests.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ciphertextSize } from '../../src/envelope/size.ts';
import {
  bodyBytes,
  createBucket,
  errorCodeOf,
  httpStatusOf,
  MiB,
  patternBytes,
  uniqueBucket,
  uploadParts,
} from '../support/fixtures.ts';
import { freePort } from '../support/ports.ts';
import { assertPresent, type Missing, skipUnlessPresent } from '../support/prerequisites.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type S3Info, useServices } from '../support/services.ts';

const BUILD = resolve(import.meta.dirname, '..', '..', 'scripts', 'build-versitygw.sh');
const BINARY = execFileSync('bash', [BUILD, '--where'], { encoding: 'utf8' }).trim();
const UPSTREAM_REGION = 'eu-west-3';
const PROXY_REGION = 'us-east-1';
const START_TIMEOUT_MS = 15_000;

function versitygwMissing(): Missing {
  try {
    accessSync(BINARY, constants.X_OK);
    return undefined;
  } catch {
    return `versitygw is not built at ${BINARY}: run scripts/build-versitygw.sh (scripts/install-tools.sh does)`;
  }
}

interface AccessLogLine {
  bucket: string;
  operation: string;
  status: number;
  errorCode: string;
}

/** versitygw's S3 access log: `owner bucket [time] ip requester request-id operation key uri status error ...`. */
const ACCESS_LOG_LINE = /^\S+ (\S+) \[[^\]]*\] \S+ \S+ \S+ (\S+) \S+ \S+ (\d{3}) (\S+)/;

interface Versitygw {
  s3: S3Info;
  requests(bucket: string): AccessLogLine[];
  /** Waits until the access log holds `count` requests for `bucket` (it is written after the answer). */
  waitForRequests(bucket: string, count: number): Promise<AccessLogLine[]>;
  stop(): Promise<void>;
}

async function startVersitygw(): Promise<Versitygw> {
  const dir = await mkdtemp(join(tmpdir(), 'versitygw-'));
  const port = await freePort();
  const s3: S3Info = {
    endpoint: `http://127.0.0.1:${port}`,
    region: UPSTREAM_REGION,
    accessKeyId: 'AKIDVERSITYGWROOT',
    secretAccessKey: 'versitygw-root-secret',
  };
  const child: ChildProcess = spawn(
    BINARY,
    [
      '--port',
      `127.0.0.1:${port}`,
      '--access',
      s3.accessKeyId,
      '--secret',
      s3.secretAccessKey,
      '--region',
      UPSTREAM_REGION,
      '--quiet',
      '--access-log',
      'stderr',
      'posix',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  let exited = false;
  const exit = new Promise<void>((resolveExit) => {
    child.once('exit', () => {
      exited = true;
      resolveExit();
    });
  });
  const stop = async () => {
    if (!exited) child.kill('SIGTERM');
    await exit;
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) throw new Error(`versitygw exited before it answered:\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`versitygw did not answer within ${START_TIMEOUT_MS / 1000}s:\n${output}`);
    }
    try {
      const response = await fetch(s3.endpoint, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      break;
    } catch {
      await sleep(50);
    }
  }
  const requests = (bucket: string): AccessLogLine[] =>
    output.split('\n').flatMap((line) => {
      const match = ACCESS_LOG_LINE.exec(line);
      if (match === null || match[1] !== bucket) return [];
      return [{ bucket, operation: match[2] ?? '', status: Number(match[3]), errorCode: match[4] ?? '' }];
    });
  return {
    s3,
    requests,
    async waitForRequests(bucket, count) {
      const until = Date.now() + 5_000;
      while (requests(bucket).length < count && Date.now() < until) await sleep(25);
      return requests(bucket);
    },
    stop,
  };
}

function wrongRegionAnswers(lines: AccessLogLine[]): AccessLogLine[] {
  return lines.filter((line) => line.errorCode === 'AuthorizationHeaderMalformed');
}

const missing = versitygwMissing();

describe(`a proxy signing for ${PROXY_REGION} in front of buckets in ${UPSTREAM_REGION} (versitygw)`, {
  skip: skipUnlessPresent(missing),
}, () => {
  let versitygw: Versitygw;
  let proxy: ProxyProcess;
  /** One attempt only: what the client sees is what the proxy answered, not what an SDK retry hid. */
  let client: S3Client;
  let direct: S3Client;

  before(async () => {
    assertPresent(missing);
    const services = await useServices();
    versitygw = await startVersitygw();
    direct = createS3Client({ s3: versitygw.s3 });
    proxy = await startProxy({ vault: services.vault, s3: { ...versitygw.s3, region: PROXY_REGION } });
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
  });
  after(async () => {
    await proxy?.stop();
    await versitygw?.stop();
  });

  it('a bodiless first request is re-signed for the region AuthorizationHeaderMalformed names and answered at once; later requests are signed for it from the start', async () => {
    const bucket = uniqueBucket('region-learned');
    await createBucket(direct, bucket);

    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.equal(listed.KeyCount, 0);
    const first = await versitygw.waitForRequests(bucket, 3);
    assert.deepEqual(
      first.slice(1).map(({ operation, status, errorCode }) => [operation, status, errorCode]),
      [
        ['s3_ListObjectsV2', 400, 'AuthorizationHeaderMalformed'],
        ['s3_ListObjectsV2', 200, '-'],
      ],
    );

    const plaintext = patternBytes(300_000, 31);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: plaintext }));
    const multipart = patternBytes(5 * MiB + 12_345, 32);
    await uploadParts(client, bucket, 'multipart', [
      multipart.subarray(0, 5 * MiB),
      multipart.subarray(5 * MiB),
    ]);

    const read = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'single' }));
    assert.ok((await bodyBytes(read.Body)).equals(plaintext));
    const readMultipart = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'multipart' }));
    assert.ok((await bodyBytes(readMultipart.Body)).equals(multipart));
    const stored = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'single' }));
    assert.equal(stored.ContentLength, ciphertextSize(plaintext.length));
    assert.ok(stored.Metadata?.['cloudtaser-format'], 'versitygw holds the envelope, not the plaintext');

    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'single' }));
    assert.equal(head.ContentLength, plaintext.length);
    const all = await versitygw.waitForRequests(bucket, first.length + 1);
    assert.equal(all.at(-1)?.operation, 's3_HeadObject');
    assert.equal(wrongRegionAnswers(all).length, 1, 'only the bucket’s first request was refused');
  });

  it('a streamed PUT as the bucket’s first request gets 503 SlowDown naming the region, stores nothing, and its retry is stored and reads back exactly', async () => {
    const bucket = uniqueBucket('region-put-first');
    await createBucket(direct, bucket);
    const created = (await versitygw.waitForRequests(bucket, 1)).length;
    const plaintext = patternBytes(200_000, 33);

    const refused = await client
      .send(new PutObjectCommand({ Bucket: bucket, Key: 'first', Body: plaintext }))
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    assert.equal(httpStatusOf(refused), 503);
    assert.equal(errorCodeOf(refused), 'SlowDown');
    assert.match(String((refused as Error).message), new RegExp(`in region ${UPSTREAM_REGION}`));
    const afterRefusal = await versitygw.waitForRequests(bucket, created + 1);
    assert.deepEqual(
      afterRefusal.slice(created).map(({ operation, errorCode }) => [operation, errorCode]),
      [['s3_PutObject', 'AuthorizationHeaderMalformed']],
    );
    const listedDirectly = await direct.send(new ListObjectsV2Command({ Bucket: bucket }));
    assert.equal(listedDirectly.KeyCount, 0, 'the refused PUT stored nothing');

    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'first', Body: plaintext }));
    const read = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'first' }));
    assert.ok((await bodyBytes(read.Body)).equals(plaintext));
    const all = await versitygw.waitForRequests(bucket, afterRefusal.length + 2);
    assert.equal(all.at(-1)?.status, 200);
    assert.equal(wrongRegionAnswers(all).length, 1, 'the retry and the GET were signed for eu-west-3');
  });
});
