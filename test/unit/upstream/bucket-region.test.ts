import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BucketRegions, hostnameForRegion, regionFromAnswer } from '../../../src/upstream/bucket-region.ts';

// The error bodies are S3's documented answers (COMPAT 20), as AWS S3 sends them.
const MALFORMED = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region><RequestId>R</RequestId><HostId>H</HostId></Error>`;
const REDIRECT = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message><Endpoint>b.s3.eu-central-1.amazonaws.com</Endpoint><Bucket>b</Bucket><RequestId>R</RequestId></Error>`;

describe('regionFromAnswer: which upstream answers name the bucket region', () => {
  it('a 400 AuthorizationHeaderMalformed names the region in <Region>', () => {
    assert.equal(regionFromAnswer(400, undefined, MALFORMED), 'eu-west-1');
  });
  it('a 301 PermanentRedirect names it in x-amz-bucket-region, also for a HEAD without a body', () => {
    assert.equal(regionFromAnswer(301, 'eu-central-1', REDIRECT), 'eu-central-1');
    assert.equal(regionFromAnswer(301, 'eu-central-1', undefined), 'eu-central-1');
  });
  it('a HEAD answered 400 with x-amz-bucket-region and no body is a wrong-region answer', () => {
    assert.equal(regionFromAnswer(400, 'ap-southeast-2', undefined), 'ap-southeast-2');
  });
  it('other 400 errors and every 403 are not, even with x-amz-bucket-region', () => {
    const invalid = '<Error><Code>InvalidArgument</Code><Message>x</Message></Error>';
    assert.equal(regionFromAnswer(400, 'eu-west-1', invalid), undefined);
    assert.equal(regionFromAnswer(403, 'eu-west-1', undefined), undefined);
    assert.equal(regionFromAnswer(403, 'eu-west-1', '<Error><Code>AccessDenied</Code></Error>'), undefined);
  });
  it('2xx, 404 and 5xx answers are never wrong-region answers', () => {
    for (const status of [200, 204, 404, 500, 503])
      assert.equal(regionFromAnswer(status, 'eu-west-1', MALFORMED), undefined);
  });
  it('a value that is not a region name is ignored', () => {
    assert.equal(regionFromAnswer(301, 'evil.example.com/x', undefined), undefined);
    assert.equal(
      regionFromAnswer(400, undefined, MALFORMED.replace('eu-west-1</Region>', '../../x</Region>')),
      undefined,
    );
  });
});

describe('hostnameForRegion: AWS endpoints are per region, others are kept', () => {
  it('AWS regional, legacy dash, global and dualstack endpoints move to the region', () => {
    assert.equal(hostnameForRegion('s3.eu-west-1.amazonaws.com', 'us-east-2'), 's3.us-east-2.amazonaws.com');
    assert.equal(hostnameForRegion('s3-eu-west-1.amazonaws.com', 'us-east-2'), 's3.us-east-2.amazonaws.com');
    assert.equal(hostnameForRegion('s3.amazonaws.com', 'eu-north-1'), 's3.eu-north-1.amazonaws.com');
    assert.equal(
      hostnameForRegion('s3.dualstack.eu-west-1.amazonaws.com', 'us-west-2'),
      's3.dualstack.us-west-2.amazonaws.com',
    );
  });
  it('any other endpoint keeps its hostname', () => {
    for (const host of [
      '127.0.0.1',
      'minio.internal',
      'storage.googleapis.com',
      's3.eu-central-1.wasabisys.com',
    ])
      assert.equal(hostnameForRegion(host, 'us-east-2'), host);
  });
});

describe('BucketRegions', () => {
  it('answers the configured region until a bucket region is learned, then that one for that bucket only', () => {
    const regions = new BucketRegions('us-east-1');
    assert.equal(regions.regionOf('a'), 'us-east-1');
    assert.equal(regions.regionOf(undefined), 'us-east-1');
    regions.remember('a', 'eu-west-1');
    assert.equal(regions.regionOf('a'), 'eu-west-1');
    assert.equal(regions.regionOf('b'), 'us-east-1');
  });
  it('stays bounded however many buckets it is told about', () => {
    const regions = new BucketRegions('us-east-1');
    for (let i = 0; i < 10_050; i++) regions.remember(`bucket-${i}`, 'eu-west-1');
    assert.equal(regions.regionOf('bucket-0'), 'us-east-1', 'the oldest entries were forgotten');
    assert.equal(regions.regionOf('bucket-10049'), 'eu-west-1');
  });
});
