import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { copySourceKeyHeaders, objectKeyHeaders } from '../../../src/proxy/server-side-encryption.ts';

const request = {
  'x-amz-server-side-encryption-customer-algorithm': 'AES256',
  'x-amz-server-side-encryption-customer-key': 'a2V5',
  'x-amz-server-side-encryption-customer-key-md5': 'bWQ1',
  'x-amz-copy-source-server-side-encryption-customer-algorithm': 'AES256',
  'x-amz-copy-source-server-side-encryption-customer-key': 'c291cmNl',
  'x-amz-copy-source-server-side-encryption-customer-key-md5': 'c21k',
  'x-amz-server-side-encryption': 'aws:kms',
  'x-amz-server-side-encryption-aws-kms-key-id': 'alias/app',
  'x-amz-server-side-encryption-context': 'e30=',
  'x-amz-server-side-encryption-bucket-key-enabled': 'true',
};

describe('the encryption headers the proxy adds to its own upstream requests', () => {
  it("the object's SSE-C key, and nothing of SSE-KMS, which S3 refuses on reads and UploadPart does not take", () => {
    assert.deepEqual(objectKeyHeaders(request), {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': 'a2V5',
      'x-amz-server-side-encryption-customer-key-md5': 'bWQ1',
    });
  });

  it("a copy source's SSE-C key under the names a plain read of the source takes", () => {
    assert.deepEqual(copySourceKeyHeaders(request), {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': 'c291cmNl',
      'x-amz-server-side-encryption-customer-key-md5': 'c21k',
    });
  });

  it('nothing for a request without SSE-C', () => {
    assert.deepEqual(objectKeyHeaders({ 'x-amz-server-side-encryption': 'aws:kms' }), {});
    assert.deepEqual(copySourceKeyHeaders({}), {});
  });
});
