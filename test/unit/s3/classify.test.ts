import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as S3 from '@aws-sdk/client-s3';
import { type ClassifiableRequest, classifyRequest, virtualHostBucket } from '../../../src/s3/classify.ts';
import { S3Error } from '../../../src/s3/errors.ts';
import { isOperationName, type OperationName } from '../../../src/s3/operations.ts';

const options = { virtualHostDomains: ['localhost'] };
type Headers = ClassifiableRequest['headers'];

function classify(method: string, rawUrl: string, headers: Headers = {}, host = 'localhost:8190') {
  return classifyRequest({ method, rawUrl, headers: { host, ...headers } }, options);
}

/** Encodes a key the way the SDKs do: every byte outside the unreserved set, segment by segment. */
function encodeKey(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/');
}

type Case = readonly [
  method: string,
  level: 'bucket' | 'object',
  query: string,
  expected: OperationName,
  headers?: Headers,
];

const CASES: readonly Case[] = [
  ['GET', 'bucket', '', 'ListObjects'],
  ['GET', 'bucket', 'prefix=a%2Fb&delimiter=%2F&max-keys=10&marker=m&encoding-type=url', 'ListObjects'],
  ['GET', 'bucket', 'list-type=2', 'ListObjectsV2'],
  ['GET', 'bucket', 'list-type=2&continuation-token=t&start-after=s&fetch-owner=true', 'ListObjectsV2'],
  ['GET', 'bucket', 'versions', 'ListObjectVersions'],
  ['GET', 'bucket', 'versions&key-marker=k&version-id-marker=v', 'ListObjectVersions'],
  ['GET', 'bucket', 'uploads', 'ListMultipartUploads'],
  ['GET', 'bucket', 'uploads=&max-uploads=5&upload-id-marker=u', 'ListMultipartUploads'],
  ['GET', 'bucket', 'location', 'GetBucketLocation'],
  ['GET', 'bucket', 'session', 'CreateSession'],
  ['PUT', 'bucket', '', 'CreateBucket'],
  ['DELETE', 'bucket', '', 'DeleteBucket'],
  ['HEAD', 'bucket', '', 'HeadBucket'],
  ['POST', 'bucket', 'delete', 'DeleteObjects'],
  ['POST', 'bucket', '', 'PostObject', { 'content-type': 'multipart/form-data; boundary=xyz' }],
  ['GET', 'bucket', 'abac', 'GetBucketAbac'],
  ['PUT', 'bucket', 'abac', 'PutBucketAbac'],
  ['GET', 'bucket', 'accelerate', 'GetBucketAccelerateConfiguration'],
  ['PUT', 'bucket', 'accelerate', 'PutBucketAccelerateConfiguration'],
  ['GET', 'bucket', 'acl', 'GetBucketAcl'],
  ['PUT', 'bucket', 'acl', 'PutBucketAcl'],
  ['GET', 'bucket', 'analytics&id=a', 'GetBucketAnalyticsConfiguration'],
  ['GET', 'bucket', 'analytics', 'ListBucketAnalyticsConfigurations'],
  ['PUT', 'bucket', 'analytics&id=a', 'PutBucketAnalyticsConfiguration'],
  ['DELETE', 'bucket', 'analytics&id=a', 'DeleteBucketAnalyticsConfiguration'],
  ['GET', 'bucket', 'cors', 'GetBucketCors'],
  ['PUT', 'bucket', 'cors', 'PutBucketCors'],
  ['DELETE', 'bucket', 'cors', 'DeleteBucketCors'],
  ['GET', 'bucket', 'encryption', 'GetBucketEncryption'],
  ['PUT', 'bucket', 'encryption', 'PutBucketEncryption'],
  ['DELETE', 'bucket', 'encryption', 'DeleteBucketEncryption'],
  ['GET', 'bucket', 'intelligent-tiering&id=i', 'GetBucketIntelligentTieringConfiguration'],
  ['GET', 'bucket', 'intelligent-tiering', 'ListBucketIntelligentTieringConfigurations'],
  ['PUT', 'bucket', 'intelligent-tiering&id=i', 'PutBucketIntelligentTieringConfiguration'],
  ['DELETE', 'bucket', 'intelligent-tiering&id=i', 'DeleteBucketIntelligentTieringConfiguration'],
  ['GET', 'bucket', 'inventory&id=i', 'GetBucketInventoryConfiguration'],
  ['GET', 'bucket', 'inventory', 'ListBucketInventoryConfigurations'],
  ['PUT', 'bucket', 'inventory&id=i', 'PutBucketInventoryConfiguration'],
  ['DELETE', 'bucket', 'inventory&id=i', 'DeleteBucketInventoryConfiguration'],
  ['GET', 'bucket', 'lifecycle', 'GetBucketLifecycleConfiguration'],
  ['PUT', 'bucket', 'lifecycle', 'PutBucketLifecycleConfiguration'],
  ['DELETE', 'bucket', 'lifecycle', 'DeleteBucketLifecycle'],
  ['GET', 'bucket', 'logging', 'GetBucketLogging'],
  ['PUT', 'bucket', 'logging', 'PutBucketLogging'],
  ['GET', 'bucket', 'metadataConfiguration', 'GetBucketMetadataConfiguration'],
  ['POST', 'bucket', 'metadataConfiguration', 'CreateBucketMetadataConfiguration'],
  ['DELETE', 'bucket', 'metadataConfiguration', 'DeleteBucketMetadataConfiguration'],
  ['GET', 'bucket', 'metadataTable', 'GetBucketMetadataTableConfiguration'],
  ['POST', 'bucket', 'metadataTable', 'CreateBucketMetadataTableConfiguration'],
  ['DELETE', 'bucket', 'metadataTable', 'DeleteBucketMetadataTableConfiguration'],
  ['PUT', 'bucket', 'metadataAnnotationTable', 'UpdateBucketMetadataAnnotationTableConfiguration'],
  ['PUT', 'bucket', 'metadataInventoryTable', 'UpdateBucketMetadataInventoryTableConfiguration'],
  ['PUT', 'bucket', 'metadataJournalTable', 'UpdateBucketMetadataJournalTableConfiguration'],
  ['GET', 'bucket', 'metrics&id=m', 'GetBucketMetricsConfiguration'],
  ['GET', 'bucket', 'metrics', 'ListBucketMetricsConfigurations'],
  ['PUT', 'bucket', 'metrics&id=m', 'PutBucketMetricsConfiguration'],
  ['DELETE', 'bucket', 'metrics&id=m', 'DeleteBucketMetricsConfiguration'],
  ['GET', 'bucket', 'notification', 'GetBucketNotificationConfiguration'],
  ['PUT', 'bucket', 'notification', 'PutBucketNotificationConfiguration'],
  ['GET', 'bucket', 'object-lock', 'GetObjectLockConfiguration'],
  ['PUT', 'bucket', 'object-lock', 'PutObjectLockConfiguration'],
  ['GET', 'bucket', 'ownershipControls', 'GetBucketOwnershipControls'],
  ['PUT', 'bucket', 'ownershipControls', 'PutBucketOwnershipControls'],
  ['DELETE', 'bucket', 'ownershipControls', 'DeleteBucketOwnershipControls'],
  ['GET', 'bucket', 'policy', 'GetBucketPolicy'],
  ['PUT', 'bucket', 'policy', 'PutBucketPolicy'],
  ['DELETE', 'bucket', 'policy', 'DeleteBucketPolicy'],
  ['GET', 'bucket', 'policyStatus', 'GetBucketPolicyStatus'],
  ['GET', 'bucket', 'publicAccessBlock', 'GetPublicAccessBlock'],
  ['PUT', 'bucket', 'publicAccessBlock', 'PutPublicAccessBlock'],
  ['DELETE', 'bucket', 'publicAccessBlock', 'DeletePublicAccessBlock'],
  ['GET', 'bucket', 'replication', 'GetBucketReplication'],
  ['PUT', 'bucket', 'replication', 'PutBucketReplication'],
  ['DELETE', 'bucket', 'replication', 'DeleteBucketReplication'],
  ['GET', 'bucket', 'requestPayment', 'GetBucketRequestPayment'],
  ['PUT', 'bucket', 'requestPayment', 'PutBucketRequestPayment'],
  ['GET', 'bucket', 'tagging', 'GetBucketTagging'],
  ['PUT', 'bucket', 'tagging', 'PutBucketTagging'],
  ['DELETE', 'bucket', 'tagging', 'DeleteBucketTagging'],
  ['GET', 'bucket', 'versioning', 'GetBucketVersioning'],
  ['PUT', 'bucket', 'versioning', 'PutBucketVersioning'],
  ['GET', 'bucket', 'website', 'GetBucketWebsite'],
  ['PUT', 'bucket', 'website', 'PutBucketWebsite'],
  ['DELETE', 'bucket', 'website', 'DeleteBucketWebsite'],

  ['GET', 'object', '', 'GetObject'],
  ['GET', 'object', 'x-id=GetObject', 'GetObject'],
  [
    'GET',
    'object',
    'versionId=v1&partNumber=2&response-content-type=text%2Fplain&response-expires=x',
    'GetObject',
  ],
  ['HEAD', 'object', '', 'HeadObject'],
  ['HEAD', 'object', 'partNumber=1&versionId=v1', 'HeadObject'],
  ['PUT', 'object', '', 'PutObject'],
  ['PUT', 'object', 'x-id=PutObject', 'PutObject'],
  ['PUT', 'object', '', 'CopyObject', { 'x-amz-copy-source': '/src/key' }],
  ['PUT', 'object', '', 'AppendObject', { 'x-amz-write-offset-bytes': '5' }],
  ['PUT', 'object', 'renameObject', 'RenameObject', { 'x-amz-rename-source': '/b/old' }],
  ['DELETE', 'object', '', 'DeleteObject'],
  ['DELETE', 'object', 'versionId=v1', 'DeleteObject'],
  ['GET', 'object', 'tagging', 'GetObjectTagging'],
  ['PUT', 'object', 'tagging', 'PutObjectTagging'],
  ['DELETE', 'object', 'tagging', 'DeleteObjectTagging'],
  ['GET', 'object', 'acl', 'GetObjectAcl'],
  ['PUT', 'object', 'acl', 'PutObjectAcl'],
  ['GET', 'object', 'attributes', 'GetObjectAttributes'],
  ['GET', 'object', 'retention', 'GetObjectRetention'],
  ['PUT', 'object', 'retention', 'PutObjectRetention'],
  ['GET', 'object', 'legal-hold', 'GetObjectLegalHold'],
  ['PUT', 'object', 'legal-hold', 'PutObjectLegalHold'],
  ['GET', 'object', 'annotation&annotationName=n', 'GetObjectAnnotation'],
  ['GET', 'object', 'annotation', 'ListObjectAnnotations'],
  ['PUT', 'object', 'annotation&annotationName=n', 'PutObjectAnnotation'],
  ['DELETE', 'object', 'annotation&annotationName=n', 'DeleteObjectAnnotation'],
  ['PUT', 'object', 'encryption', 'UpdateObjectEncryption'],
  ['POST', 'object', 'restore', 'RestoreObject'],
  ['POST', 'object', 'select&select-type=2', 'SelectObjectContent'],
  ['GET', 'object', 'torrent', 'GetObjectTorrent'],
  ['POST', 'object', 'uploads', 'CreateMultipartUpload'],
  ['PUT', 'object', 'partNumber=1&uploadId=u', 'UploadPart'],
  ['PUT', 'object', 'uploadId=u&partNumber=1', 'UploadPartCopy', { 'x-amz-copy-source': '/src/key' }],
  ['POST', 'object', 'uploadId=u', 'CompleteMultipartUpload'],
  ['DELETE', 'object', 'uploadId=u', 'AbortMultipartUpload'],
  ['GET', 'object', 'uploadId=u&max-parts=10&part-number-marker=2', 'ListParts'],
];

describe('classifyRequest, operation by operation', () => {
  const key = 'dir/file.txt';
  for (const [method, level, query, expected, headers] of CASES) {
    const suffix = query === '' ? '' : `?${query}`;
    const keyPath = level === 'object' ? `/${key}` : '';
    it(`names ${method} ${level}${suffix} ${expected} (path-style)`, () => {
      const request = classify(method, `/my-bucket${keyPath}${suffix}`, headers);
      assert.equal(request.operation, expected, request.unknownReason);
      assert.equal(request.bucket, 'my-bucket');
      assert.equal(request.key, level === 'object' ? key : undefined);
    });
    it(`names ${method} ${level}${suffix} ${expected} (virtual-hosted)`, () => {
      const request = classify(
        method,
        `${keyPath === '' ? '/' : keyPath}${suffix}`,
        headers,
        'my-bucket.localhost:8190',
      );
      assert.equal(request.operation, expected, request.unknownReason);
      assert.equal(request.bucket, 'my-bucket');
      assert.equal(request.key, level === 'object' ? key : undefined);
    });
  }

  it('names GET / ListBuckets, with or without listing parameters', () => {
    const listBuckets = classify('GET', '/');
    assert.deepEqual(
      [listBuckets.operation, listBuckets.query, listBuckets.rawQuery],
      ['ListBuckets', [], ''],
    );
    assert.equal(listBuckets.row?.treatment, 'passthrough');
    assert.equal(classify('GET', '/?max-buckets=10&prefix=a').operation, 'ListBuckets');
    assert.equal(classify('GET', '/?x-id=ListDirectoryBuckets').operation, 'ListDirectoryBuckets');
  });
});

describe('classifyRequest against the AWS SDK for JavaScript', () => {
  /** Serialises a command exactly as the SDK would send it, without sending it anywhere. */
  async function serialise(forcePathStyle: boolean, command: object): Promise<ClassifiableRequest> {
    const seen: { request?: Record<string, unknown> } = {};
    const client = new S3.S3Client({
      region: 'eu-west-1',
      endpoint: 'http://localhost:8190',
      forcePathStyle,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      maxAttempts: 1,
      requestHandler: {
        handle: async (request: Record<string, unknown>) => {
          seen.request = request;
          throw new Error('serialised, not sent');
        },
      } as unknown as S3.S3ClientConfig['requestHandler'],
    });
    // biome-ignore lint/suspicious/noExplicitAny: commands of every input type go through one client
    await client.send(command as any).catch(() => undefined);
    const captured = seen.request;
    assert.ok(captured, 'the SDK produced a request');
    const query = Object.entries((captured.query ?? {}) as Record<string, string | string[] | null>)
      .flatMap(([name, value]) =>
        Array.isArray(value) ? value.map((v) => [name, v] as const) : [[name, value] as const],
      )
      .map(([name, value]) =>
        value === null
          ? encodeURIComponent(name)
          : `${encodeURIComponent(name)}=${encodeURIComponent(value)}`,
      )
      .join('&');
    const headers = Object.fromEntries(
      Object.entries(captured.headers as Record<string, string>).map(([name, value]) => [
        name.toLowerCase(),
        value,
      ]),
    );
    const host =
      captured.port === undefined ? String(captured.hostname) : `${captured.hostname}:${captured.port}`;
    return {
      method: String(captured.method),
      rawUrl: `${captured.path}${query === '' ? '' : `?${query}`}`,
      headers: { ...headers, host },
    };
  }

  // Every query member the SDK has, so that each command is serialised with all the parameters it can carry.
  const input = {
    VersionId: 'v1',
    MaxKeys: 10,
    Prefix: 'p/',
    Delimiter: '/',
    EncodingType: 'url',
    Marker: 'm',
    StartAfter: 's',
    ContinuationToken: 't',
    FetchOwner: true,
    KeyMarker: 'k',
    VersionIdMarker: 'vm',
    UploadIdMarker: 'um',
    MaxUploads: 5,
    MaxParts: 5,
    PartNumberMarker: '2',
    MaxBuckets: 3,
    BucketRegion: 'eu-west-1',
    MaxDirectoryBuckets: 3,
    MaxAnnotationResults: 3,
    AnnotationPrefix: 'a',
    ResponseContentType: 'text/plain',
    ResponseCacheControl: 'no-cache',
    ResponseContentDisposition: 'inline',
    ResponseContentEncoding: 'identity',
    ResponseContentLanguage: 'en',
    ResponseExpires: new Date(0),
    Bucket: 'my-bucket',
    Key: 'dir/a b+c.txt',
    UploadId: 'upload-1',
    PartNumber: 1,
    CopySource: 'src-bucket/src-key',
    RenameSource: 'my-bucket/old',
    Id: 'config-1',
    AnnotationName: 'note',
    Body: 'hello',
    Delete: { Objects: [{ Key: 'k' }] },
    RequestRoute: 'route',
    RequestToken: 'token',
  };
  const commandNames = Object.keys(S3)
    .filter((name) => name.endsWith('Command') && name !== 'Command' && name !== '$Command')
    .map((name) => name.slice(0, -'Command'.length));

  it('knows every command of the SDK by name', () => {
    // WriteGetObjectResponse is S3 Object Lambda's call back to S3, never an application's request to storage.
    const unnamed = commandNames.filter(
      (name) => !isOperationName(name) && name !== 'WriteGetObjectResponse',
    );
    assert.deepEqual(unnamed, []);
  });

  for (const forcePathStyle of [true, false]) {
    const style = forcePathStyle ? 'path-style' : 'virtual-hosted';
    it(`names every SDK command as the SDK does (${style})`, async () => {
      const mismatches: string[] = [];
      for (const name of commandNames) {
        const Command = (S3 as unknown as Record<string, new (input: object) => object>)[`${name}Command`];
        assert.ok(Command);
        // ListDirectoryBuckets takes no bucket; given one, the SDK opens an S3 Express session for it first.
        const commandInput = name === 'ListDirectoryBuckets' ? {} : input;
        const request = classifyRequest(await serialise(forcePathStyle, new Command(commandInput)), options);
        const expected = name === 'WriteGetObjectResponse' ? 'Unknown' : name;
        if (request.operation !== expected) {
          mismatches.push(`${name} → ${request.operation} (${request.unknownReason})`);
        }
      }
      assert.deepEqual(mismatches, []);
    });

    it(`names the SDK's PutObject with WriteOffsetBytes AppendObject (${style})`, async () => {
      const command = new S3.PutObjectCommand({
        Bucket: 'my-bucket',
        Key: 'log',
        Body: 'more',
        WriteOffsetBytes: 5,
      });
      assert.equal(
        classifyRequest(await serialise(forcePathStyle, command), options).operation,
        'AppendObject',
      );
    });

    it(`recovers every awkward key exactly as the SDK meant it (${style})`, async () => {
      for (const key of AWKWARD_KEYS) {
        const request = classifyRequest(
          await serialise(forcePathStyle, new S3.GetObjectCommand({ Bucket: 'my-bucket', Key: key })),
          options,
        );
        assert.equal(request.key, key);
        assert.equal(request.operation, 'GetObject');
      }
    });
  }
});

/** COMPAT item 18 and R-S3-8: keys that normalisation, double decoding or `+` handling would change. */
const AWKWARD_KEYS = [
  'a//b',
  '//leading',
  './x',
  '../y',
  'a/./b/../c',
  '.',
  '..',
  'a+b',
  'a b',
  ' ',
  'trailing/',
  '100%',
  '%25',
  '%2F',
  'a%20b',
  'ключ/ファイル/🔑.bin',
  '\uFEFFbom-first',
  'question?mark#hash&amp=eq;semi',
  'quote\'"<tag>',
  'tab\there',
  'x'.repeat(1024),
];

describe('classifyRequest, keys', () => {
  for (const key of AWKWARD_KEYS) {
    it(`recovers key ${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)} exactly`, () => {
      assert.equal(classify('PUT', `/my-bucket/${encodeKey(key)}`).key, key);
      assert.equal(classify('PUT', `/${encodeKey(key)}`, {}, 'my-bucket.localhost').key, key);
    });
  }

  it('takes the raw path as it comes: %2F is part of a key, `+` is a plus sign, nothing is resolved', () => {
    assert.equal(classify('GET', '/b/a%2Fb').key, 'a/b');
    assert.equal(classify('GET', '/b/a+b').key, 'a+b');
    assert.equal(classify('GET', '/b/x/../y/./z').key, 'x/../y/./z');
    assert.equal(classify('GET', '/b/%2525').key, '%25');
  });

  it('keeps slashes after the bucket: /bucket//a has key /a, virtual-hosted //a too', () => {
    assert.equal(classify('GET', '/b//a').key, '/a');
    assert.equal(classify('GET', '//a', {}, 'b.localhost').key, '/a');
  });

  it('treats /bucket/ and /bucket as the bucket itself, with no key', () => {
    for (const target of ['/b/', '/b', '/b/?acl']) {
      const request = classify('GET', target);
      assert.equal(request.bucket, 'b');
      assert.equal(request.key, undefined);
    }
    assert.equal(classify('GET', '/b/').operation, 'ListObjects');
    assert.equal(classify('PUT', '/b/').operation, 'CreateBucket');
  });

  it('refuses malformed percent-encoding with InvalidURI', () => {
    for (const target of ['/b/a%', '/b/a%2', '/b/a%zz', '/b/k?prefix=%G0', '/b%/k']) {
      assert.throws(
        () => classify('GET', target),
        (error: unknown) => error instanceof S3Error && error.code === 'InvalidURI' && error.status === 400,
        target,
      );
    }
  });

  it('refuses a key that is not UTF-8 once decoded with InvalidURI', () => {
    for (const target of ['/b/%FF', '/b/%C3', '/b/%ED%A0%80']) {
      assert.throws(
        () => classify('GET', target),
        (error: unknown) => error instanceof S3Error && error.code === 'InvalidURI',
      );
    }
  });

  it('refuses a bucket name no bucket could have with InvalidBucketName', () => {
    for (const target of ['/a%2Fb/k', '/a%40evil.com/k', '/bad%20name', '//k']) {
      assert.throws(
        () => classify('GET', target),
        (error: unknown) => error instanceof S3Error && error.code === 'InvalidBucketName',
        target,
      );
    }
    assert.throws(() => classify('GET', '/k', {}, 'ev/il.localhost'), S3Error);
  });

  it('refuses a request target that is not a path with InvalidURI', () => {
    assert.throws(
      () => classify('GET', 'b/k'),
      (error: unknown) => error instanceof S3Error && error.code === 'InvalidURI',
    );
  });

  it('takes bucket and key from an absolute-form target, whose authority overrides Host', () => {
    const request = classify('GET', 'http://my-bucket.localhost:8190/a%20b?tagging', {}, 'elsewhere');
    assert.deepEqual(
      [request.operation, request.bucket, request.key],
      ['GetObjectTagging', 'my-bucket', 'a b'],
    );
    assert.equal(classify('GET', 'http://localhost:8190/b/k', {}, 'x.localhost').bucket, 'b');
    assert.equal(classify('GET', 'http://localhost:8190').operation, 'ListBuckets');
  });
});

describe('classifyRequest, query', () => {
  it('decodes query pairs once, in order, with `+` as a space, and keeps the raw query', () => {
    const request = classify('GET', '/b?list-type=2&prefix=a+b%2Bc%2F&uploads&delimiter=%2F&x=');
    assert.deepEqual(request.query, [
      ['list-type', '2'],
      ['prefix', 'a b+c/'],
      ['uploads', ''],
      ['delimiter', '/'],
      ['x', ''],
    ]);
    assert.equal(request.rawQuery, 'list-type=2&prefix=a+b%2Bc%2F&uploads&delimiter=%2F&x=');
  });

  it('ignores x-* parameters and presigned-URL parameters when naming the operation', () => {
    const v4 =
      'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=abc';
    assert.equal(classify('PUT', `/b/k?${v4}`).operation, 'PutObject');
    assert.equal(classify('GET', `/b/k?${v4}&x-id=GetObject`).operation, 'GetObject');
    assert.equal(
      classify('GET', '/b/k?AWSAccessKeyId=AKID&Expires=1700000000&Signature=abc%3D').operation,
      'GetObject',
    );
    assert.equal(classify('GET', '/b?x-custom-log=1&list-type=2').operation, 'ListObjectsV2');
  });

  it('forwards no x-* parameter: they select nothing, and an upstream could read them', () => {
    const request = classify('GET', '/b/k?x-id=GetObject&X-Custom=1&versionId=v&X-Amz-Date=20260101T000000Z');
    assert.deepEqual(request.query, [['versionId', 'v']]);
  });

  it('refuses a header moved into the query (x-amz-* other than the presigned signature and checksums)', () => {
    for (const name of ['x-amz-acl', 'x-amz-meta-owner', 'x-amz-copy-source', 'X-Amz-Write-Offset-Bytes']) {
      const request = classify('PUT', `/b/k?${name}=v`);
      assert.equal(request.operation, 'Unknown', name);
      assert.match(
        request.unknownReason ?? '',
        new RegExp(`"${name}" is a request header moved into the query`),
      );
    }
    assert.equal(classify('GET', '/b/k?x-amz-checksum-mode=ENABLED').operation, 'GetObject');
    assert.equal(
      classify('PUT', '/b/k?x-amz-sdk-checksum-algorithm=CRC32&x-amz-checksum-crc32=AAAAAA%3D%3D').operation,
      'PutObject',
    );
  });

  it('refuses any query name given twice, naming it: no S3 operation takes a repeated parameter', () => {
    for (const [method, target, name] of [
      ['PUT', '/b/k?partNumber=2&partNumber=1&uploadId=u', 'partNumber'],
      ['PUT', '/b/k?partNumber=1&uploadId=u&uploadId=v', 'uploadId'],
      ['GET', '/b/k?versionId=a&versionId=b', 'versionId'],
      ['GET', '/b/k?tagging&tagging', 'tagging'],
      ['PUT', '/b/k?tagging&tagging=', 'tagging'],
      ['GET', '/b?list-type=2&prefix=a&prefix=b', 'prefix'],
      ['GET', '/b/k?x-id=GetObject&x-id=PutObject', 'x-id'],
      ['GET', '/?max-buckets=1&max-buckets=2', 'max-buckets'],
    ] as const) {
      const request = classify(method, target);
      assert.equal(request.operation, 'Unknown', target);
      assert.match(request.unknownReason ?? '', new RegExp(`"${name}" is given more than once`), target);
    }
  });

  it('refuses odd casing of a known name, saying which name was meant', () => {
    for (const [method, target, given, known] of [
      ['PUT', '/b/k?Tagging', 'Tagging', 'tagging'],
      ['GET', '/b/k?partnumber=1', 'partnumber', 'partNumber'],
      ['PUT', '/b/k?PartNumber=1&uploadId=u', 'PartNumber', 'partNumber'],
      ['GET', '/b/k?VersionId=v', 'VersionId', 'versionId'],
      ['PUT', '/b?ACL', 'ACL', 'acl'],
    ] as const) {
      const request = classify(method, target);
      assert.equal(request.operation, 'Unknown', target);
      assert.match(request.unknownReason ?? '', new RegExp(`"${given}" is not "${known}"`), target);
    }
  });

  it('refuses a value on a sub-resource that takes none (?tagging=x), and a wrong fixed value', () => {
    for (const target of ['/b/k?tagging=x', '/b/k?acl=1', '/b/k?uploads=1']) {
      const request = classify(target.endsWith('uploads=1') ? 'POST' : 'PUT', target);
      assert.equal(request.operation, 'Unknown', target);
      assert.match(request.unknownReason ?? '', /takes no value/, target);
    }
    assert.equal(classify('GET', '/b/k?tagging=').operation, 'GetObjectTagging');
    assert.equal(classify('GET', '/b?list-type=1').operation, 'Unknown');
  });

  it('refuses every unknown sub-resource, at every level, naming it', () => {
    for (const method of ['GET', 'HEAD', 'PUT', 'POST', 'DELETE']) {
      for (const target of [
        '/b/k?metadataTable',
        '/b/k?website',
        '/b/k?seaweedfs-quota',
        '/b?newfeature',
        '/?tagging',
      ]) {
        const request = classify(method, target);
        assert.equal(request.operation, 'Unknown', `${method} ${target}`);
        assert.match(request.unknownReason ?? '', new RegExp(`with \\?${target.split('?')[1]}`), target);
      }
    }
  });

  it('refuses headers that select another operation on rows that do not take them', () => {
    const copy = { 'x-amz-copy-source': '/b/src', 'x-amz-metadata-directive': 'REPLACE' };
    for (const [method, target] of [
      ['PUT', '/b/k?tagging'],
      ['PUT', '/b/k?acl'],
      ['PUT', '/b/k?encryption'],
      ['POST', '/b/k?uploads'],
      ['POST', '/b/k?restore'],
      ['PUT', '/b?policy'],
      ['GET', '/b/k'],
    ] as const) {
      const request = classify(method, target, copy);
      assert.equal(request.operation, 'Unknown', `${method} ${target}`);
      assert.match(request.unknownReason ?? '', /x-amz-copy-source/, target);
    }
    assert.equal(classify('PUT', '/b/k?tagging', { 'x-amz-write-offset-bytes': '0' }).operation, 'Unknown');
    assert.equal(classify('PUT', '/b/k', { 'x-amz-rename-source': '/b/old' }).operation, 'Unknown');
  });

  it('names a request with an unrecognised query parameter Unknown, saying which', () => {
    const request = classify('PUT', '/b/k?newfeature');
    assert.equal(request.operation, 'Unknown');
    assert.match(request.unknownReason ?? '', /"newfeature"/);
    assert.equal(classify('GET', '/b?Acl').operation, 'Unknown');
  });

  it('names combinations that are no S3 operation Unknown', () => {
    const unknown: [string, string, Headers?][] = [
      ['GET', '/b/k?acl&tagging'],
      ['GET', '/b?versions&uploads'],
      ['GET', '/b?list-type=1'],
      ['GET', '/b?delete'],
      ['PUT', '/b/k?partNumber=1'],
      ['PUT', '/b/k?uploadId=u'],
      ['HEAD', '/b/k?uploadId=u'],
      ['HEAD', '/b?acl'],
      ['HEAD', '/'],
      ['PUT', '/'],
      ['POST', '/b/k'],
      ['POST', '/b/k?select'],
      ['POST', '/b/k?select&select-type=1'],
      ['GET', '/b/k?select&select-type=2'],
      ['POST', '/b', { 'content-type': 'application/xml' }],
      ['POST', '/b/k?delete'],
      ['DELETE', '/b?versioning'],
      ['DELETE', '/b/k?partNumber=1'],
      ['GET', '/b?torrent'],
      ['OPTIONS', '/b/k'],
      ['PATCH', '/b/k'],
      ['GET', '/?acl'],
    ];
    for (const [method, target, headers] of unknown) {
      const request = classify(method, target, headers);
      assert.equal(request.operation, 'Unknown', `${method} ${target}`);
      assert.ok(request.unknownReason, `${method} ${target} says why`);
    }
    assert.equal(
      classifyRequest({ method: 'OPTIONS', rawUrl: '*', headers: {} }, options).operation,
      'Unknown',
    );
  });

  it('takes the first value of a repeated header', () => {
    assert.equal(classify('PUT', '/b/k', { 'x-amz-copy-source': ['/s/k', '/t/k'] }).operation, 'CopyObject');
  });
});

describe('virtualHostBucket', () => {
  const domains = ['localhost', 's3.local'];

  it('names the bucket left of a configured domain, ignoring port, case of the domain and a trailing dot', () => {
    assert.equal(virtualHostBucket('my-bucket.localhost:8190', domains), 'my-bucket');
    assert.equal(virtualHostBucket('my-bucket.LOCALHOST', domains), 'my-bucket');
    assert.equal(virtualHostBucket('my-bucket.localhost.', domains), 'my-bucket');
    assert.equal(virtualHostBucket('my.dotted.bucket.s3.local', domains), 'my.dotted.bucket');
  });

  it('treats the domain itself, other hosts and IP literals as path-style', () => {
    for (const host of [
      'localhost:8190',
      's3.local',
      'example.com',
      'bucket.example.com',
      '127.0.0.1:8190',
      '[::1]:8190',
      '',
      undefined,
    ]) {
      assert.equal(virtualHostBucket(host, domains), undefined, String(host));
    }
  });

  it('prefers the longest matching domain', () => {
    assert.equal(virtualHostBucket('b.s3.localhost', ['localhost', 's3.localhost']), 'b');
    assert.equal(virtualHostBucket('b.s3.localhost', ['s3.localhost', 'localhost']), 'b');
  });

  it('uses the request Host when classifying, and path style for any other host', () => {
    const virtual = classifyRequest(
      { method: 'GET', rawUrl: '/k', headers: { host: 'ignored.localhost' }, host: 'b.localhost' },
      options,
    );
    assert.deepEqual([virtual.bucket, virtual.key], ['b', 'k']);
    const path = classify('GET', '/b/k', {}, 'proxy.svc.cluster.local:8190');
    assert.deepEqual([path.bucket, path.key], ['b', 'k']);
  });
});
