import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Handling,
  handlingOf,
  isOperationName,
  OPERATION_NAMES,
  OPERATIONS,
  type OperationHandling,
  type OperationName,
} from '../../../src/s3/operations.ts';

// Type-level: a missing or extra operation in the table fails type checking (tsc).
const declared: Readonly<Record<OperationName, OperationHandling>> = OPERATIONS;
type NoExtraKeys = Exclude<keyof typeof OPERATIONS, OperationName> extends never ? true : false;
const noExtraKeys: NoExtraKeys = true;

/** Every operation whose request body becomes stored object (or object-attached) data. */
const WRITES_OBJECT_DATA: readonly OperationName[] = [
  'PutObject',
  'AppendObject',
  'CopyObject',
  'RenameObject',
  'PostObject',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'PutObjectAnnotation',
];

/** Every operation whose response carries stored object data or facts derived from the ciphertext. */
const READS_OBJECT_DATA: readonly OperationName[] = [
  'GetObject',
  'HeadObject',
  'SelectObjectContent',
  'GetObjectTorrent',
  'GetObjectAttributes',
  'ListParts',
  'ListObjects',
  'ListObjectsV2',
  'ListObjectVersions',
];

describe('OPERATIONS', () => {
  it('declares every operation name exactly once', () => {
    assert.ok(declared && noExtraKeys);
    assert.equal(new Set(OPERATION_NAMES).size, OPERATION_NAMES.length);
    assert.deepEqual(Object.keys(OPERATIONS).sort(), [...OPERATION_NAMES].sort());
  });

  it('never passes through an operation that writes object data', () => {
    for (const operation of WRITES_OBJECT_DATA) {
      assert.ok(['encrypt', 'envelope', 'refuse'].includes(OPERATIONS[operation].handling), operation);
    }
  });

  it('never passes through an operation that returns object data or ciphertext facts', () => {
    for (const operation of READS_OBJECT_DATA) {
      assert.notEqual(OPERATIONS[operation].handling, 'passthrough', operation);
    }
  });

  it('handles exactly these operations other than by passing them through', () => {
    const notPassthrough = Object.fromEntries(
      Object.entries(OPERATIONS)
        .filter(([, value]) => value.handling !== 'passthrough')
        .map(([name, value]) => [name, value.handling]),
    );
    const expected: Record<string, Handling> = {
      PutObject: 'encrypt',
      GetObject: 'decrypt',
      HeadObject: 'head',
      ListObjects: 'rewrite-listing',
      ListObjectsV2: 'rewrite-listing',
      ListObjectVersions: 'rewrite-listing',
      PostObject: 'refuse',
      CreateSession: 'refuse',
      AppendObject: 'refuse',
      CopyObject: 'envelope',
      RenameObject: 'refuse',
      GetObjectAttributes: 'head',
      PutObjectAnnotation: 'refuse',
      SelectObjectContent: 'refuse',
      GetObjectTorrent: 'refuse',
      CreateMultipartUpload: 'envelope',
      UploadPart: 'encrypt',
      UploadPartCopy: 'encrypt',
      CompleteMultipartUpload: 'envelope',
      ListParts: 'rewrite-listing',
      Unknown: 'refuse',
    };
    assert.deepEqual(notPassthrough, expected);
  });

  it('gives every refusal a reason and nothing else one', () => {
    for (const [name, value] of Object.entries(OPERATIONS)) {
      if (value.handling === 'refuse') assert.ok((value.reason ?? '').length > 20, `${name} says why`);
      else assert.equal(value.reason, undefined, name);
    }
  });

  it('refuses Unknown so that no object data can pass unencrypted', () => {
    assert.equal(handlingOf('Unknown').handling, 'refuse');
    assert.match(handlingOf('Unknown').reason ?? '', /unknown operation/);
  });

  it('lets clients clean up multipart uploads: abort and list uploads pass through', () => {
    assert.equal(handlingOf('AbortMultipartUpload').handling, 'passthrough');
    assert.equal(handlingOf('ListMultipartUploads').handling, 'passthrough');
  });

  it('is frozen, entries included', () => {
    assert.ok(Object.isFrozen(OPERATIONS));
    for (const value of Object.values(OPERATIONS)) assert.ok(Object.isFrozen(value));
  });

  it('recognises operation names and nothing else', () => {
    assert.ok(isOperationName('GetObject'));
    assert.ok(!isOperationName('getobject'));
    assert.ok(!isOperationName('WriteGetObjectResponse'));
  });
});
