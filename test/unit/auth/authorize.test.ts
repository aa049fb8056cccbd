import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AccessRequest, accessOf, decideAccess } from '../../../src/auth/authorize.ts';
import type { Grant } from '../../../src/auth/client-credentials.ts';
import { OPERATION_NAMES } from '../../../src/s3/operations.ts';

const grant = (bucket: string, prefixes: string[] = [], readOnly = false): Grant => ({
  bucket,
  prefixes,
  readOnly,
});
const GRANTS = [grant('app'), grant('shared', ['reports/'], true), grant('team-*', ['in/'])];
const decide = (request: Partial<AccessRequest> & Pick<AccessRequest, 'operation'>) =>
  decideAccess({ query: [], ...request }, GRANTS).kind;

describe('which operations read', () => {
  it('Get*, Head* and List* read; every other operation writes', () => {
    const reads = OPERATION_NAMES.filter((name) => accessOf(name) === 'read');
    assert.ok(reads.every((name) => /^(Get|Head|List)/.test(name)));
    for (const write of [
      'PutObject',
      'DeleteObject',
      'DeleteObjects',
      'CopyObject',
      'UploadPartCopy',
      'RestoreObject',
      'CreateBucket',
      'PutBucketPolicy',
      'AbortMultipartUpload',
      'Unknown',
    ] as const) {
      assert.equal(accessOf(write), 'write', write);
    }
  });
});

describe('grants', () => {
  const table: [string, Partial<AccessRequest> & Pick<AccessRequest, 'operation'>, string][] = [
    ['object read in a whole-bucket grant', { operation: 'GetObject', bucket: 'app', key: 'a' }, 'allow'],
    ['object write in a whole-bucket grant', { operation: 'PutObject', bucket: 'app', key: 'a' }, 'allow'],
    ['a bucket without a grant', { operation: 'GetObject', bucket: 'other', key: 'a' }, 'deny'],
    [
      'read inside a read-only prefix',
      { operation: 'GetObject', bucket: 'shared', key: 'reports/q1' },
      'allow',
    ],
    [
      'write inside a read-only prefix',
      { operation: 'PutObject', bucket: 'shared', key: 'reports/q1' },
      'deny',
    ],
    [
      'multipart write inside a read-only prefix',
      { operation: 'UploadPart', bucket: 'shared', key: 'reports/q1' },
      'deny',
    ],
    ['read outside the prefix', { operation: 'GetObject', bucket: 'shared', key: 'private/x' }, 'deny'],
    [
      'a pattern bucket, inside its prefix',
      { operation: 'PutObject', bucket: 'team-a', key: 'in/x' },
      'allow',
    ],
    [
      'a pattern bucket, outside its prefix',
      { operation: 'PutObject', bucket: 'team-a', key: 'out/x' },
      'deny',
    ],
    [
      'a name that only looks like the pattern',
      { operation: 'GetObject', bucket: 'teamx', key: 'in/x' },
      'deny',
    ],
    ['listing a whole-bucket grant', { operation: 'ListObjectsV2', bucket: 'app' }, 'allow'],
    [
      'listing inside the prefix',
      { operation: 'ListObjectsV2', bucket: 'shared', query: [['prefix', 'reports/2026/']] },
      'allow',
    ],
    [
      'listing the root of a prefix grant',
      { operation: 'ListObjectsV2', bucket: 'shared', query: [['prefix', '']] },
      'deny',
    ],
    [
      'listing a parent of the prefix with a delimiter',
      {
        operation: 'ListObjects',
        bucket: 'shared',
        query: [
          ['prefix', 'rep'],
          ['delimiter', '/'],
        ],
      },
      'deny',
    ],
    [
      'listing uploads inside the prefix',
      { operation: 'ListMultipartUploads', bucket: 'shared', query: [['prefix', 'reports/']] },
      'allow',
    ],
    ['HeadBucket with a prefix grant', { operation: 'HeadBucket', bucket: 'shared' }, 'allow'],
    ['GetBucketLocation without a grant', { operation: 'GetBucketLocation', bucket: 'other' }, 'deny'],
    ['bucket configuration with a prefix grant', { operation: 'GetBucketPolicy', bucket: 'shared' }, 'deny'],
    [
      'bucket configuration with a whole-bucket grant',
      { operation: 'PutBucketPolicy', bucket: 'app' },
      'allow',
    ],
    [
      'CreateBucket named by a pattern grant with prefixes',
      { operation: 'CreateBucket', bucket: 'team-b' },
      'deny',
    ],
    ['CreateBucket with a whole-bucket grant', { operation: 'CreateBucket', bucket: 'app' }, 'allow'],
    ['ListBuckets without a "*" grant', { operation: 'ListBuckets' }, 'filter-buckets'],
    ['DeleteObjects with a whole-bucket grant', { operation: 'DeleteObjects', bucket: 'app' }, 'allow'],
    ['DeleteObjects with a prefix grant', { operation: 'DeleteObjects', bucket: 'team-a' }, 'per-key-delete'],
    ['DeleteObjects with a read-only grant', { operation: 'DeleteObjects', bucket: 'shared' }, 'deny'],
    [
      'a copy from a readable source',
      {
        operation: 'CopyObject',
        bucket: 'app',
        key: 'c',
        copySource: { bucket: 'shared', key: 'reports/q1' },
      },
      'allow',
    ],
    [
      'a copy from an unreadable source',
      {
        operation: 'CopyObject',
        bucket: 'app',
        key: 'c',
        copySource: { bucket: 'shared', key: 'private/x' },
      },
      'deny',
    ],
    [
      'a part copy into a read-only destination',
      {
        operation: 'UploadPartCopy',
        bucket: 'shared',
        key: 'reports/x',
        copySource: { bucket: 'app', key: 'a' },
      },
      'deny',
    ],
    [
      'an unknown operation on a writable key (refused later as NotImplemented)',
      { operation: 'Unknown', bucket: 'app', key: 'a' },
      'allow',
    ],
    ['an unknown operation elsewhere', { operation: 'Unknown', bucket: 'other', key: 'a' }, 'deny'],
  ];
  for (const [name, request, expected] of table) {
    it(`${name}: ${expected}`, () => assert.equal(decide(request), expected));
  }

  it('a "*" grant sees every bucket, so ListBuckets is passed through unfiltered', () => {
    assert.equal(decideAccess({ operation: 'ListBuckets', query: [] }, [grant('*')]).kind, 'allow');
  });

  it('a denial says what was refused', () => {
    const decision = decideAccess(
      { operation: 'PutObject', bucket: 'shared', key: 'reports/q', query: [] },
      GRANTS,
    );
    assert.deepEqual(decision, { kind: 'deny', reason: 'write shared/reports/q' });
  });
});
