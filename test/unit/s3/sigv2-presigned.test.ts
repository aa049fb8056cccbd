import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientRefusal } from '../../../src/s3/sigv4/refusal.ts';
import { verifyRequestSignature } from '../../../src/s3/sigv4/verify.ts';

// AWS's example of query-string authentication (S3 "Signing and authenticating REST requests").
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const lookup = (id: string) => (id === 'AKIAIOSFODNN7EXAMPLE' ? SECRET : undefined);
const EXPIRES = 1175139620;
const example = {
  method: 'GET',
  rawUrl: `/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=${EXPIRES}&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D`,
  rawHeaders: ['Host', 'johnsmith.s3.amazonaws.com'],
  virtualHostBucket: 'johnsmith',
};
const before = (seconds: number) => new Date((EXPIRES - seconds) * 1000);

function reasonOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof ClientRefusal) return `${error.reason}/${error.code}`;
    throw error;
  }
  return undefined;
}

describe('presigned URLs of Signature Version 2 (boto3 makes them by default)', () => {
  it("verifies AWS's example, virtual-hosted, and as a path-style request for the same resource", () => {
    assert.deepEqual(verifyRequestSignature(example, lookup, before(3600)), {
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      form: 'presigned',
      payloadHash: 'UNSIGNED-PAYLOAD',
    });
    const pathStyle = { ...example, rawUrl: `/johnsmith${example.rawUrl}`, virtualHostBucket: undefined };
    assert.equal(verifyRequestSignature(pathStyle, lookup, before(3600)).accessKeyId, 'AKIAIOSFODNN7EXAMPLE');
  });

  it('refuses it once expired, more than 7 days ahead, for another key, method, sub-resource or x-amz header', () => {
    assert.equal(
      reasonOf(() => verifyRequestSignature(example, lookup, before(-1))),
      'expired/AccessDenied',
    );
    assert.equal(
      reasonOf(() => verifyRequestSignature(example, lookup, before(8 * 86400))),
      'malformed/AuthorizationQueryParametersError',
    );
    const altered = [
      { ...example, rawUrl: example.rawUrl.replace('puppy', 'kitten') },
      { ...example, method: 'PUT' },
      { ...example, rawUrl: `${example.rawUrl}&acl` },
      { ...example, rawHeaders: [...example.rawHeaders, 'x-amz-acl', 'public-read'] },
      { ...example, rawHeaders: [...example.rawHeaders, 'Content-Type', 'text/html'] },
    ];
    for (const request of altered) {
      assert.equal(
        reasonOf(() => verifyRequestSignature(request, lookup, before(60))),
        'signature_mismatch/SignatureDoesNotMatch',
      );
    }
    assert.equal(
      reasonOf(() =>
        verifyRequestSignature(
          { ...example, rawUrl: `${example.rawUrl}&x-amz-security-token=t` },
          lookup,
          before(60),
        ),
      ),
      'session_token/InvalidToken',
    );
    assert.equal(
      reasonOf(() => verifyRequestSignature(example, () => undefined, before(60))),
      'unknown_key/InvalidAccessKeyId',
    );
  });

  it('still refuses the SigV2 Authorization header', () => {
    assert.equal(
      reasonOf(() =>
        verifyRequestSignature(
          {
            method: 'GET',
            rawUrl: '/photos/puppy.jpg',
            rawHeaders: ['Host', 'h', 'Authorization', 'AWS AKIAIOSFODNN7EXAMPLE:c2ln'],
          },
          lookup,
          before(60),
        ),
      ),
      'unsupported_signature/InvalidRequest',
    );
  });
});
