import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { S3Error } from '../../../src/s3/errors.ts';
import { liftHoistedHeaders } from '../../../src/s3/presigned-headers.ts';

const SIGNED = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc&X-Amz-SignedHeaders=host';

describe('headers a presigner moved into the query', () => {
  it('are lifted from a presigned SigV4 URL, decoded and lower-cased, and leave its target', () => {
    const { rawUrl, lifted } = liftHoistedHeaders(
      `/b/k?${SIGNED}&x-amz-meta-Colour=dark%20red&X-Amz-Tagging=a%3D1%26b%3D2&x-amz-copy-source=%2Fb%2Fsrc&x-id=PutObject`,
      {},
    );
    assert.deepEqual(lifted, {
      'x-amz-meta-colour': 'dark red',
      'x-amz-tagging': 'a=1&b=2',
      'x-amz-copy-source': '/b/src',
    });
    assert.equal(rawUrl, `/b/k?${SIGNED}&x-id=PutObject`);
  });

  it("keep the URL's own signature and checksum parameters in place, but lift checksum mode", () => {
    const url = `/b/k?${SIGNED}&x-amz-checksum-crc32=AAAAAA%3D%3D&x-amz-sdk-checksum-algorithm=CRC32&x-amz-checksum-mode=ENABLED`;
    const { rawUrl, lifted } = liftHoistedHeaders(url, {});
    assert.deepEqual(lifted, { 'x-amz-checksum-mode': 'ENABLED' });
    assert.equal(
      rawUrl,
      `/b/k?${SIGNED}&x-amz-checksum-crc32=AAAAAA%3D%3D&x-amz-sdk-checksum-algorithm=CRC32`,
    );
  });

  it('are left alone in a request that is not presigned (the operations table refuses them there)', () => {
    const url = '/b/k?x-amz-meta-colour=red';
    assert.deepEqual(liftHoistedHeaders(url, {}), { rawUrl: url, lifted: {} });
    assert.deepEqual(liftHoistedHeaders('/b/k', {}), { rawUrl: '/b/k', lifted: {} });
  });

  it('agree with a header the request also sends with the same value', () => {
    const { lifted } = liftHoistedHeaders(`/b/k?${SIGNED}&x-amz-acl=private`, { 'x-amz-acl': 'private' });
    assert.deepEqual(lifted, { 'x-amz-acl': 'private' });
  });

  for (const [what, url, headers] of [
    ['an SSE-C key', `/b/k?${SIGNED}&x-amz-server-side-encryption-customer-key=a2V5`, {}],
    [
      "a copy source's SSE-C key",
      `/b/k?${SIGNED}&X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key=a2V5`,
      {},
    ],
    ['x-amz-decoded-content-length', `/b/k?${SIGNED}&x-amz-decoded-content-length=3`, {}],
    ['x-amz-trailer', `/b/k?${SIGNED}&x-amz-trailer=x-amz-checksum-crc32`, {}],
    [
      'a value another than the header of that name',
      `/b/k?${SIGNED}&x-amz-acl=public-read`,
      { 'x-amz-acl': 'private' },
    ],
    ['a name given twice', `/b/k?${SIGNED}&x-amz-acl=private&X-Amz-Acl=private`, {}],
  ] as const) {
    it(`refuse ${what} with InvalidArgument`, () => {
      assert.throws(
        () => liftHoistedHeaders(url, headers),
        (error: unknown) => error instanceof S3Error && error.code === 'InvalidArgument',
      );
    });
  }
});
