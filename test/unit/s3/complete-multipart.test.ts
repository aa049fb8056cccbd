import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { S3Error } from '../../../src/s3/errors.ts';
import {
  parseCompleteMultipartUpload,
  serializeCompleteMultipartUpload,
  withoutChecksumElements,
} from '../../../src/s3/xml/complete-multipart.ts';

describe('CompleteMultipartUpload bodies', () => {
  it('reads part numbers, ETags and checksums as the AWS SDKs write them', () => {
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      '<Part><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ETag>&quot;0123456789abcdef0123456789abcdef-0&quot;</ETag><PartNumber>1</PartNumber></Part>' +
      '<Part><ETag>"fedcba9876543210fedcba9876543210-0"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>';
    assert.deepEqual(parseCompleteMultipartUpload(xml), [
      {
        partNumber: 1,
        etag: '"0123456789abcdef0123456789abcdef-0"',
        checksums: { ChecksumCRC32: 'AAAAAA==' },
      },
      { partNumber: 2, etag: '"fedcba9876543210fedcba9876543210-0"', checksums: {} },
    ]);
  });

  it("decodes the numeric quote references Go's encoding/xml writes (rclone, minio-go)", () => {
    const xml =
      '<CompleteMultipartUpload><Part><ETag>&#34;0123456789abcdef0123456789abcdef-0&#34;</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>';
    assert.equal(parseCompleteMultipartUpload(xml)[0]?.etag, '"0123456789abcdef0123456789abcdef-0"');
  });

  it('answers MalformedXML for anything else', () => {
    for (const xml of [
      '',
      '<x/>',
      '<CompleteMultipartUpload><Part><PartNumber>a</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>',
      '<CompleteMultipartUpa/',
    ]) {
      assert.throws(
        () => parseCompleteMultipartUpload(xml),
        (error: unknown) => error instanceof S3Error && error.code === 'MalformedXML',
        xml,
      );
    }
  });

  it('writes the upstream part list with escaped ETags and no checksums', () => {
    const xml = serializeCompleteMultipartUpload([{ partNumber: 1, etag: '"abc"' }]);
    assert.match(xml, /<Part><ETag>&quot;abc&quot;<\/ETag><PartNumber>1<\/PartNumber><\/Part>/);
    assert.equal(
      withoutChecksumElements('<R><ETag>x</ETag><ChecksumCRC64NVME>y</ChecksumCRC64NVME></R>'),
      '<R><ETag>x</ETag></R>',
    );
  });
});
