import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CopyObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  bodyBytes,
  createBucket,
  MiB,
  patternBytes,
  uniqueBucket,
  uploadParts,
} from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';
import { runTool, summaryOf, toolEnv } from './cli-support.ts';
import {
  createTransitKey,
  firstPartDek,
  storedMetadata,
  tokenForKeys,
  unwrapsUnder,
} from './transit-keys-support.ts';
import { bao } from './vault-support.ts';

describe('the tools honour CLOUDTASER_S3PROXY_TRANSIT_KEYS', () => {
  let services: Services;
  let direct: S3Client;
  let dir: string;
  const id = randomBytes(4).toString('hex');
  const keyOld = `tools-old-${id}`;
  const keyNew = `tools-new-${id}`;
  const keyOther = `tools-other-${id}`;
  const bucket = uniqueBucket('tools-tenant');
  const otherBucket = uniqueBucket('tools-other');
  let token: string;
  const proxies: ProxyProcess[] = [];
  const single = patternBytes(150_000, 21);
  const parts = [patternBytes(5 * MiB, 22), patternBytes(1000, 23)];

  const proxyWith = async (mapping: string): Promise<S3Client> => {
    const proxy = await startProxy(services, {
      env: { CLOUDTASER_S3PROXY_TRANSIT_KEYS: mapping, VAULT_TOKEN: token },
    });
    proxies.push(proxy);
    return proxyS3Client(proxy, { config: { maxAttempts: 1 } });
  };
  const env = (mapping: string) =>
    toolEnv(services, { CLOUDTASER_S3PROXY_TRANSIT_KEYS: mapping, VAULT_TOKEN: token });

  before(async () => {
    services = await useServices();
    direct = createS3Client(services);
    dir = await mkdtemp(join(tmpdir(), 'cloudtaser-tools-tenants-'));
    for (const key of [keyOld, keyNew, keyOther]) await createTransitKey(services.vault, key);
    const mount = services.vault.transitMount;
    token = await tokenForKeys(services.vault, `tools-tenants-${id}`, [
      services.vault.transitKey,
      keyOld,
      keyNew,
      keyOther,
    ]);
    // rewrap's own verb on the keys it rewraps, and reading the key settings for the audit.
    const rules = [keyOld, keyNew, keyOther].flatMap((key) => [
      `path "${mount}/encrypt/${key}" { capabilities = ["update"] }`,
      `path "${mount}/decrypt/${key}" { capabilities = ["update"] }`,
      `path "${mount}/rewrap/${key}" { capabilities = ["update"] }`,
      `path "${mount}/keys/${key}" { capabilities = ["read"] }`,
    ]);
    await bao(services.vault, 'PUT', `sys/policies/acl/tools-tenants-${id}`, {
      body: { policy: rules.join('\n') },
    });
    await createBucket(direct, bucket);
    await createBucket(direct, otherBucket);
    const old = await proxyWith(`${bucket}=${keyOld},${otherBucket}=${keyOther}`);
    await old.send(new PutObjectCommand({ Bucket: bucket, Key: 'data/single.bin', Body: single }));
    await uploadParts(old, bucket, 'data/multi.bin', parts);
    await old.send(new PutObjectCommand({ Bucket: otherBucket, Key: 'theirs.txt', Body: 'other tenant' }));
    old.destroy();
  });

  after(async () => {
    direct?.destroy();
    await Promise.all(proxies.map((proxy) => proxy.stop()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('audit finds an object planted from another tenant without reading it: malformed-envelope, TRANSIT_KEY_NOT_ACCEPTED, exit 4', async () => {
    await direct.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'audit-planted/theirs.txt',
        CopySource: `${otherBucket}/theirs.txt`,
      }),
    );
    const json = join(dir, 'audit-planted.json');
    const run = await runTool(
      ['audit', `s3://${bucket}/audit-planted/`, '--json', json],
      env(`${bucket}=${keyOld},${otherBucket}=${keyOther}`),
    );
    assert.equal(run.code, 4, `${run.stdout}\n${run.stderr}`);
    const document = JSON.parse(await readFile(json, 'utf8')) as {
      objects: Array<{ key: string; status: string; failure: { code: string; message: string } | null }>;
    };
    assert.equal(document.objects[0]?.status, 'malformed-envelope');
    assert.equal(document.objects[0]?.failure?.code, 'TRANSIT_KEY_NOT_ACCEPTED');
    assert.match(document.objects[0]?.failure?.message ?? '', new RegExp(`transit/${keyOther}`));
  });

  it('audit reports the key each object records', async () => {
    const json = join(dir, 'audit.json');
    const run = await runTool(['audit', `s3://${bucket}/data/`, '--json', json], env(`${bucket}=${keyOld}`));
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const document = JSON.parse(await readFile(json, 'utf8')) as {
      objects: Array<{ key: string; transit: { mount: string; key: string; recordedInObject: boolean } }>;
    };
    for (const record of document.objects)
      assert.deepEqual(
        record.transit,
        { mount: services.vault.transitMount, key: keyOld, recordedInObject: true },
        record.key,
      );
  });

  it('decrypt reads with the key the object records where its location accepts it, and refuses a planted object', async () => {
    const out = join(dir, 'single.out');
    const run = await runTool(
      ['decrypt', `s3://${bucket}/data/single.bin`, '--output', out],
      env(`${bucket}=${keyOld}`),
    );
    assert.equal(run.code, 0, run.stderr);
    assert.ok((await readFile(out)).equals(single));

    await direct.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'planted.txt', CopySource: `${otherBucket}/theirs.txt` }),
    );
    const planted = join(dir, 'planted.out');
    const refused = await runTool(
      ['decrypt', `s3://${bucket}/planted.txt`, '--output', planted],
      env(`${bucket}=${keyOld},${otherBucket}=${keyOther}`),
    );
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(`records Transit key transit/${keyOther}, which the mapping does not accept`),
    );
    await assert.rejects(readFile(planted), 'nothing written');
  });

  it("after a mapping change, rewrap moves a location's objects from its former key to its new key; they then read without the former key", async () => {
    const moving = `${bucket}/data/=${keyNew}|${keyOld}`;
    const run = await runTool(['rewrap', `s3://${bucket}/data/`, '--json'], env(moving));
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const summary = summaryOf(run);
    assert.deepEqual([summary.rewrapped, summary.reEncrypted, summary.failed], [1, 1, 0]);

    const singleMeta = await storedMetadata(direct, bucket, 'data/single.bin');
    assert.equal(singleMeta['cloudtaser-transit-key'], `transit/${keyNew}`);
    assert.equal(await unwrapsUnder(services.vault, keyNew, singleMeta['cloudtaser-dek'] as string), true);
    assert.equal(
      (await storedMetadata(direct, bucket, 'data/multi.bin'))['cloudtaser-transit-key'],
      `transit/${keyNew}`,
    );
    assert.equal(
      await unwrapsUnder(services.vault, keyNew, await firstPartDek(direct, bucket, 'data/multi.bin')),
      true,
    );

    const fresh = await proxyWith(`${bucket}/data/=${keyNew}`);
    try {
      const got = await fresh.send(new GetObjectCommand({ Bucket: bucket, Key: 'data/single.bin' }));
      assert.ok((await bodyBytes(got.Body)).equals(single));
      const multi = await fresh.send(new GetObjectCommand({ Bucket: bucket, Key: 'data/multi.bin' }));
      assert.ok((await bodyBytes(multi.Body)).equals(Buffer.concat(parts)));
    } finally {
      fresh.destroy();
    }
  });

  it('encrypt-existing encrypts under the key the mapping gives the object, not its temporary key (single-part and multipart)', async () => {
    const large = patternBytes(9 * MiB, 24);
    await direct.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'plain/readme.txt', Body: 'was plaintext' }),
    );
    await direct.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain/large.bin', Body: large }));
    const mapping = `${bucket}=${keyOld},${bucket}/plain/=${keyOther}`;
    const run = await runTool(
      [
        'encrypt-existing',
        `s3://${bucket}/plain/`,
        '--json',
        '--max-single-size',
        '8MiB',
        '--part-size',
        '5MiB',
      ],
      env(mapping),
    );
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const meta = await storedMetadata(direct, bucket, 'plain/readme.txt');
    assert.equal(meta['cloudtaser-transit-key'], `transit/${keyOther}`);
    assert.equal(await unwrapsUnder(services.vault, keyOther, meta['cloudtaser-dek'] as string), true);
    const largeMeta = await storedMetadata(direct, bucket, 'plain/large.bin');
    assert.equal(largeMeta['cloudtaser-format'], 'v1-multipart');
    assert.equal(largeMeta['cloudtaser-transit-key'], `transit/${keyOther}`);
    assert.equal(
      await unwrapsUnder(services.vault, keyOther, await firstPartDek(direct, bucket, 'plain/large.bin')),
      true,
    );
    const reader = await proxyWith(mapping);
    try {
      const got = await reader.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain/large.bin' }));
      assert.ok((await bodyBytes(got.Body)).equals(large));
    } finally {
      reader.destroy();
    }
  });
});
