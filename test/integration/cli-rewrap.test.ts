import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { TransitKeyWrapper } from '../../src/kms/transit.ts';
import { StaticTokenAuth } from '../../src/kms/vault-auth.ts';
import { VaultClient } from '../../src/kms/vault-client.ts';
import { createBucket, KiB, MiB, patternBytes, sha256, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import {
  readThrough,
  rewrapToken,
  runTool,
  type Stored,
  stored,
  storedLayout,
  summaryOf,
  toolEnv,
  uploadParts,
  versionOf,
} from './cli-support.ts';
import { bao, ownTransitKey } from './vault-support.ts';

/** Every wrapped key version an object carries: its metadata's, or each part header's. */
async function keyVersions(direct: S3Client, bucket: string, key: string): Promise<number[]> {
  const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const format = head.Metadata?.['cloudtaser-format'];
  if (format === 'v1') return [versionOf(head.Metadata?.['cloudtaser-dek']) ?? -1];
  if (format === 'v1-multipart')
    return (await storedLayout(direct, bucket, key)).parts.map(
      (part) => versionOf(part.header.wrappedDek) ?? -1,
    );
  return [];
}

describe('rewrap moves every wrapped data key to the newest Transit key version', () => {
  let services: Services;
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  let dir: string;
  let transitKey: string;
  let proxyToken: string;
  let toolToken: string;
  const bucket = uniqueBucket('cli-rewrap');
  const plaintexts = new Map<string, Buffer>();
  const multipartSizes = new Map<string, number[]>();

  const put = async (
    key: string,
    body: Buffer,
    extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {},
  ) => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...extra }));
    plaintexts.set(key, body);
  };
  const putParts = async (key: string, parts: Buffer[]) => {
    await uploadParts(client, bucket, key, parts);
    plaintexts.set(key, Buffer.concat(parts));
    multipartSizes.set(
      key,
      parts.map((part) => part.length),
    );
  };
  const snapshot = async (): Promise<Map<string, Stored>> => {
    const listed = await direct.send(new ListObjectsV2Command({ Bucket: bucket }));
    const all = new Map<string, Stored>();
    for (const entry of listed.Contents ?? [])
      all.set(entry.Key ?? '', await stored(direct, bucket, entry.Key ?? ''));
    return all;
  };
  const rewrap = (args: string[], token = toolToken) =>
    runTool(['rewrap', `s3://${bucket}`, '--json', ...args], {
      ...toolEnv(services, { CLOUDTASER_S3PROXY_TRANSIT_KEY: transitKey, VAULT_TOKEN: token }),
    });

  before(async () => {
    services = await useServices();
    ({ key: transitKey, token: proxyToken } = await ownTransitKey(
      services.vault,
      `rewrap-${randomBytes(4).toString('hex')}`,
    ));
    toolToken = await rewrapToken(services.vault, transitKey);
    proxy = await startProxy(services, {
      env: { CLOUDTASER_S3PROXY_TRANSIT_KEY: transitKey, VAULT_TOKEN: proxyToken },
    });
    client = proxyS3Client(proxy);
    direct = createS3Client(services);
    dir = await mkdtemp(join(tmpdir(), 'cli-rewrap-'));
    await createBucket(client, bucket);

    // Written under key version 1.
    await put('v1/empty', Buffer.alloc(0));
    await put('v1/small', patternBytes(100, 1), {
      ContentType: 'text/x-rewrap',
      CacheControl: 'max-age=60',
      ContentDisposition: 'attachment; filename="small.bin"',
      Metadata: { owner: 'team-a', purpose: 'rotation test' },
      Tagging: 'classification=secret&team=a',
    });
    await put('v1/segments', patternBytes(200_000, 2));
    // Over the single-copy limit given below: copied server-side in parts.
    await put('v1/large', patternBytes(12 * MiB + 5, 3), { ContentType: 'application/x-large' });
    await putParts('v1/multipart', [
      patternBytes(5 * MiB, 4),
      patternBytes(5 * MiB, 5),
      patternBytes(300 * KiB, 6),
    ]);
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain/old', Body: 'never encrypted' }));

    await bao(services.vault, 'POST', `${services.vault.transitMount}/keys/${transitKey}/rotate`);
    // Written after the rotation (some may still use keys the proxy wrapped ahead of time under version 1).
    await put('v2/after-rotate', patternBytes(70_000, 7));
    await putParts('v2/multipart', [patternBytes(5 * MiB, 8), patternBytes(1, 9)]);
  });
  after(async () => {
    await proxy?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('--dry-run reports what would change and changes nothing', async () => {
    const before = await snapshot();
    const run = await rewrap(['--dry-run', '--max-single-size', '8MiB', '--part-size', '5MiB']);
    assert.equal(run.code, 0, run.stderr);
    const summary = summaryOf(run);
    assert.equal(summary.dryRun, true);
    assert.equal(summary.keyVersion, 2);
    assert.equal(summary.scanned, 8);
    assert.equal(summary.unencrypted, 1);
    assert.ok((summary.rewrapped as number) >= 4, `rewrapped ${summary.rewrapped}`);
    assert.ok((summary.reEncrypted as number) >= 1);
    assert.equal(summary.failed, 0);
    assert.match(
      run.stderr,
      /would re-encrypt s3:\/\/[^ ]+\/v1\/multipart \(multipart, 3 parts: v1 → v2; the part headers are inside the stored bytes\)/,
    );
    const afterRun = await snapshot();
    for (const [key, was] of before) {
      const now = afterRun.get(key);
      assert.equal(now?.etag, was.etag, `${key}: ETag unchanged`);
      assert.deepEqual(now?.metadata, was.metadata, `${key}: metadata unchanged`);
    }
  });

  it('needs update on <mount>/rewrap/<key>: with only the proxy policy it stops and names Vault', async () => {
    const run = await rewrap([], proxyToken);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /Transit rewrap: Vault denied/);
    assert.match(run.stderr, /policy/);
  });

  it('rewraps single-part objects metadata-only and re-encrypts multipart ones; every object then reads at min_decryption_version 2', async () => {
    const before = await snapshot();
    const tagsBefore = await direct.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'v1/small' }));
    const run = await rewrap(['--max-single-size', '8MiB', '--part-size', '5MiB']);
    assert.equal(run.code, 0, run.stderr);
    const summary = summaryOf(run);
    assert.equal(summary.failed, 0, run.stderr);
    assert.equal(summary.unencrypted, 1);
    assert.equal(summary.scanned, 8);
    assert.equal(
      (summary.rewrapped as number) + (summary.reEncrypted as number) + (summary.skipped as number),
      7,
    );
    assert.match(run.stderr, /rewrapped s3:\/\/[^ ]+\/v1\/small \(v1 → v2, metadata only\)/);
    assert.match(run.stderr, /re-encrypted s3:\/\/[^ ]+\/v1\/multipart \(multipart, 3 parts: v1 → v2\)/);

    const afterRun = await snapshot();
    for (const key of plaintexts.keys()) {
      assert.deepEqual(
        new Set(await keyVersions(direct, bucket, key)),
        new Set([2]),
        `${key}: every wrapped key at version 2`,
      );
      const was = before.get(key) as Stored;
      const now = afterRun.get(key) as Stored;
      if (multipartSizes.has(key)) {
        const layout = await storedLayout(direct, bucket, key);
        assert.deepEqual(
          layout.parts.map((part) => part.plainSize),
          multipartSizes.get(key),
          `${key}: same part sizes`,
        );
        assert.notEqual(sha256(now.bytes), sha256(was.bytes), `${key}: re-encrypted`);
      } else {
        assert.equal(sha256(now.bytes), sha256(was.bytes), `${key}: the stored bytes were not rewritten`);
        assert.equal(now.metadata['cloudtaser-nonce'], was.metadata['cloudtaser-nonce']);
        assert.equal(now.metadata['cloudtaser-size'], was.metadata['cloudtaser-size']);
        // The sealed checksum (FORMAT.md 7.1) is under the DEK, which a rewrap keeps: it stays as it was.
        assert.equal(now.metadata['cloudtaser-checksum'], was.metadata['cloudtaser-checksum']);
      }
      assert.equal(now.contentType, was.contentType, `${key}: content type kept`);
    }
    assert.ok(
      (afterRun.get('v1/small') as Stored).metadata['cloudtaser-checksum'],
      'v1/small has a checksum',
    );
    const small = afterRun.get('v1/small') as Stored;
    assert.equal(small.metadata.owner, 'team-a');
    assert.equal(small.metadata.purpose, 'rotation test');
    const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'v1/small' }));
    assert.equal(head.CacheControl, 'max-age=60');
    assert.equal(head.ContentDisposition, 'attachment; filename="small.bin"');
    const tagsAfter = await direct.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'v1/small' }));
    assert.deepEqual(tagsAfter.TagSet, tagsBefore.TagSet, 'tags kept');
    assert.equal((afterRun.get('plain/old') as Stored).bytes.toString(), 'never encrypted');

    await bao(services.vault, 'POST', `${services.vault.transitMount}/keys/${transitKey}/config`, {
      body: { min_decryption_version: 2 },
    });
    // A new proxy, so that no data key unwrapped before the change is still cached.
    const fresh = await startProxy(services, {
      env: { CLOUDTASER_S3PROXY_TRANSIT_KEY: transitKey, VAULT_TOKEN: proxyToken },
    });
    try {
      const freshClient = proxyS3Client(fresh);
      for (const [key, plaintext] of plaintexts) {
        assert.equal(
          sha256(await readThrough(freshClient, bucket, key)),
          sha256(plaintext),
          `${key} through the proxy`,
        );
        const output = join(dir, key.replaceAll('/', '_'));
        const decrypted = await runTool(['decrypt', `s3://${bucket}/${key}`, '-o', output], {
          ...toolEnv(services, { CLOUDTASER_S3PROXY_TRANSIT_KEY: transitKey, VAULT_TOKEN: proxyToken }),
        });
        assert.equal(decrypted.code, 0, `${key}: ${decrypted.stderr}`);
        assert.equal(sha256(await readFile(output)), sha256(plaintext), `${key} through decrypt`);
      }
    } finally {
      await fresh.stop();
    }
  });

  it('run again, it changes nothing: every object is skipped', async () => {
    const before = await snapshot();
    const run = await rewrap(['--max-single-size', '8MiB', '--part-size', '5MiB']);
    assert.equal(run.code, 0, run.stderr);
    const summary = summaryOf(run);
    assert.deepEqual(
      [summary.rewrapped, summary.reEncrypted, summary.skipped, summary.unencrypted, summary.failed],
      [0, 0, 7, 1, 0],
    );
    const afterRun = await snapshot();
    for (const [key, was] of before) {
      assert.equal(afterRun.get(key)?.etag, was.etag, `${key}: ETag unchanged`);
      assert.deepEqual(afterRun.get(key)?.metadata, was.metadata, `${key}: metadata unchanged`);
    }
  });
});

describe('Transit rewrap (the call behind the rewrap command)', () => {
  it('rewraps a batch, and reports each refused item alone: a retired version by its number, garbage as rejected', async () => {
    const services = await useServices();
    const { key } = await ownTransitKey(services.vault, `rewrap-batch-${randomBytes(4).toString('hex')}`);
    const vault = new VaultClient({
      addr: services.vault.directAddr,
      skipVerify: false,
      timeoutMs: 10_000,
      maxRetries: 0,
    });
    vault.useAuth(new StaticTokenAuth(await rewrapToken(services.vault, key)));
    const transit = new TransitKeyWrapper(vault, { mount: services.vault.transitMount, key });
    try {
      const [v1] = await transit.wrapNewKeys(1);
      await bao(services.vault, 'POST', `${services.vault.transitMount}/keys/${key}/rotate`);
      const [v2] = await transit.wrapNewKeys(1);
      assert.equal(await transit.newestKeyVersion(), 2);
      const rewrapped = await transit.rewrap([v1?.wrapped ?? '', v2?.wrapped ?? '']);
      assert.deepEqual(
        rewrapped.map((result) => (result.ok ? result.keyVersion : result.error.kind)),
        [2, 2],
      );
      const back = await transit.unwrapKey(rewrapped[0]?.ok ? rewrapped[0].wrapped : '');
      assert.ok(back.equals(v1?.plaintext as Buffer), 'the rewrapped key unwraps to the same data key');

      await bao(services.vault, 'POST', `${services.vault.transitMount}/keys/${key}/config`, {
        body: { min_decryption_version: 2 },
      });
      const mixed = await transit.rewrap([v1?.wrapped ?? '', 'not-a-wrapped-key', v2?.wrapped ?? '']);
      assert.deepEqual(
        mixed.map((result) => (result.ok ? `ok v${result.keyVersion}` : result.error.kind)),
        ['retired', 'rejected', 'ok v2'],
      );
      const retired = mixed[0];
      assert.ok(retired !== undefined && !retired.ok && retired.error.keyVersion === 1);
      // Every item refused: Vault may answer the whole batch with an error; each is still reported alone.
      const refused = await transit.rewrap([v1?.wrapped ?? '', 'not-a-wrapped-key']);
      assert.deepEqual(
        refused.map((result) => (result.ok ? 'ok' : result.error.kind)),
        ['retired', 'rejected'],
      );
    } finally {
      await vault.close();
    }
  });
});
