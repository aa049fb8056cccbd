import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetObjectTaggingCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import pino from 'pino';
import type { Exchange } from '../../src/proxy/exchange.ts';
import { checkUpstreamAnswer, readAtMost } from '../../src/proxy/passthrough-response.ts';
import { rowOf, type XmlDocumentRule } from '../../src/s3/operations.ts';
import { UpstreamClient } from '../../src/upstream/client.ts';
import { describeResponse } from '../adversarial/support.ts';
import { createBucket, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { createS3Client, type Services, useServices } from '../support/services.ts';

const TAGGING = '<Tagging><TagSet><Tag><Key>team</Key><Value>blue</Value></Tag></TagSet></Tagging>';

describe('passthrough bodies are checked against the operations table before they go upstream', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('checked');

  before(async () => {
    proxy = await startProxy(await useServices());
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(await useServices());
    await createBucket(client, bucket);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'data' }));
  });
  after(async () => {
    await proxy?.stop();
  });

  const tagsOf = async () =>
    (await direct.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'k' }))).TagSet ?? [];

  it('real clients set and read tags, ACLs and policies through the checks', async () => {
    await client.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: 'k',
        Tagging: { TagSet: [{ Key: 'team', Value: 'blue' }] },
      }),
    );
    assert.deepEqual(await tagsOf(), [{ Key: 'team', Value: 'blue' }]);
    await client.send(
      new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: 'a', Value: 'b' }] } }),
    );
    const bucketTags = await client.send(new GetBucketTaggingCommand({ Bucket: bucket }));
    assert.deepEqual(bucketTags.TagSet, [{ Key: 'a', Value: 'b' }]);
    // A canned ACL travels in a header; the optional AccessControlPolicy body is absent.
    await client.send(new PutObjectAclCommand({ Bucket: bucket, Key: 'k', ACL: 'private' }));
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` },
      ],
    });
    await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policy }));
    const stored = await client.send(new GetBucketPolicyCommand({ Bucket: bucket }));
    assert.equal(JSON.parse(stored.Policy ?? '{}').Statement?.[0]?.Action, 's3:GetObject');
  });

  it('refuses any other body, names what it expected, and forwards nothing', async () => {
    const before = await tagsOf();
    const cases: [string, string, Record<string, string>, string, RegExp][] = [
      [
        'PUT',
        '/k?tagging',
        {},
        '<Retention><Mode>GOVERNANCE</Mode></Retention>',
        /root element is <Retention>, not <Tagging>/,
      ],
      ['PUT', '/k?tagging', {}, 'plaintext, not a document', /not well-formed XML/],
      ['PUT', '/k?tagging', {}, `<Tagging>${'x'.repeat(70 * 1024)}</Tagging>`, /limited to 65536 bytes/],
      [
        'PUT',
        '/k?tagging',
        { 'content-type': 'multipart/form-data; boundary=x' },
        TAGGING,
        /multipart\/form-data/,
      ],
      ['PUT', '/k?tagging', {}, '', /takes an XML document with root element <Tagging>/],
      ['DELETE', '/k?tagging', {}, TAGGING, /takes no request body/],
      ['PUT', '?policy', {}, '["not", "an", "object"]', /JSON policy/],
      ['PUT', '?tagging', { 'content-type': 'Multipart/Form-Data; boundary=x' }, TAGGING, /multipart/i],
    ];
    for (const [method, path, headers, body, message] of cases) {
      const target = `/${bucket}${path}`;
      const response = await rawRequest(`${proxy.endpoint}${target}`, {
        method,
        headers,
        body: Buffer.from(body),
      });
      assert.ok(
        response.status >= 400 && response.status < 502,
        `${method} ${path}: ${describeResponse(response)}`,
      );
      const text = response.body.toString().replaceAll('&lt;', '<').replaceAll('&gt;', '>');
      assert.match(text, message, `${method} ${path}`);
    }
    assert.deepEqual(await tagsOf(), before);
  });

  it('answers EntityTooLarge before reading a body whose announced length is over the limit', async () => {
    const response = await rawRequest(`${proxy.endpoint}/${bucket}/k?tagging`, {
      method: 'PUT',
      headers: { 'content-length': String(10 * 1024 * 1024), expect: '100-continue' },
      expectContinue: true,
    });
    assert.equal(describeResponse(response), '400 EntityTooLarge');
  });
});

describe('object-level answers are relayed only if they are the document the operation returns', () => {
  let services: Services;
  let upstream: UpstreamClient;
  let proxy: ProxyProcess;
  const bucket = uniqueBucket('answers');
  const logged: Record<string, unknown>[] = [];
  const exchange = {
    log: pino({ level: 'error' }, { write: (line: string) => logged.push(JSON.parse(line)) }),
  } as unknown as Exchange;
  const rule = (operation: 'GetObjectTagging' | 'GetObjectAcl'): XmlDocumentRule => {
    const declared = rowOf(operation);
    assert.ok(declared && 'response' in declared && declared.response);
    return declared.response;
  };

  before(async () => {
    services = await useServices();
    const endpoint = new URL(services.s3.endpoint);
    upstream = new UpstreamClient({
      endpoint: { protocol: 'http:', hostname: endpoint.hostname, port: Number(endpoint.port), basePath: '' },
      region: services.s3.region,
      addressing: 'path',
      credentials: async () => ({
        accessKeyId: services.s3.accessKeyId,
        secretAccessKey: services.s3.secretAccessKey,
      }),
    });
    proxy = await startProxy(services);
    const client = proxyS3Client(proxy);
    await createBucket(client, bucket);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'encrypted', Body: 'secret' }));
    await createS3Client(services).send(
      new PutObjectCommand({ Bucket: bucket, Key: 'plain', Body: 'plain' }),
    );
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  const answer = async (key: string, query: [string, string][]) => {
    const response = await upstream.send({ method: 'GET', bucket, key, query });
    return { response, body: await readAtMost(response, 1024 * 1024) };
  };

  it("takes SeaweedFS's own GetObjectTagging and GetObjectAcl answers", async () => {
    for (const [operation, query] of [
      ['GetObjectTagging', 'tagging'],
      ['GetObjectAcl', 'acl'],
    ] as const) {
      const { response, body } = await answer('encrypted', [[query, '']]);
      assert.equal(response.status, 200);
      checkUpstreamAnswer(exchange, response, body, operation, rule(operation));
    }
    const missing = await answer('absent', [['tagging', '']]);
    assert.equal(missing.response.status, 404);
    checkUpstreamAnswer(
      exchange,
      missing.response,
      missing.body,
      'GetObjectTagging',
      rule('GetObjectTagging'),
    );
  });

  it("refuses SeaweedFS's GetObject answer offered as GetObjectTagging: encrypted or not, nothing is relayed", async () => {
    for (const key of ['encrypted', 'plain']) {
      const { response, body } = await answer(key, []);
      assert.throws(
        () => checkUpstreamAnswer(exchange, response, body, 'GetObjectTagging', rule('GetObjectTagging')),
        /InternalError|not a <Tagging> document/,
      );
    }
    assert.ok(
      logged.some(
        (record) => record.msg === 'upstream answer refused: not the document the operation returns',
      ),
    );
    assert.ok(logged.some((record) => String(record.problem).includes('x-amz-meta-cloudtaser-')));
  });
});
