/**
 * The canonicalisation and signature arithmetic of the inbound verifier, checked against AWS's own SigV4
 * test suite (test/fixtures/aws-sig-v4-test-suite, vendored from awslabs/aws-c-auth), as smithy's signer
 * checks its outbound side. Each case is verified the way the proxy verifies a request: canonical request
 * from the raw target and raw header lines, string to sign, signature under the derived key.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUriCandidates,
  type RawHeaders,
  splitRequestTarget,
} from '../../../src/s3/sigv4/canonical.ts';
import {
  requestStringToSign,
  sha256Hex,
  signaturesEqual,
  signingKey,
  signString,
} from '../../../src/s3/sigv4/signature.ts';
import { authorizationFields } from '../../../src/s3/sigv4/verify.ts';

const SUITE = join(import.meta.dirname, '..', '..', 'fixtures', 'aws-sig-v4-test-suite');
const CONTEXT = JSON.parse(
  readFileSync(join(SUITE, 'get-relative-unnormalized', 'context.json'), 'utf8'),
) as {
  credentials: { access_key_id: string; secret_access_key: string };
  region: string;
  service: string;
};
const SCOPE = { date: '20150830', region: CONTEXT.region, service: CONTEXT.service };
const KEY = signingKey(CONTEXT.credentials.secret_access_key, SCOPE);
/** S3 never normalises paths: a signature over the normalised form must not verify. */
const NORMALISED = new Set(['get-relative-normalized']);

type FixtureRequest = { method: string; target: string; rawHeaders: string[]; body: string };

/**
 * The suite's request format: a request line, `Name:value` lines, a blank line, the body. A line that
 * starts with whitespace continues the previous header (obs-fold, which the suite signs as another value
 * of that header; Node's parser refuses it on the wire).
 */
function parseFixture(text: string): FixtureRequest {
  const end = text.indexOf('\n\n');
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end + 2);
  const [requestLine = '', ...lines] = head.split('\n');
  const method = requestLine.slice(0, requestLine.indexOf(' '));
  const target = requestLine.slice(method.length + 1, requestLine.lastIndexOf(' HTTP/'));
  const rawHeaders: string[] = [];
  for (const line of lines) {
    if (/^\s/.test(line)) {
      rawHeaders.push(rawHeaders[rawHeaders.length - 2] as string, line.trim());
      continue;
    }
    const colon = line.indexOf(':');
    rawHeaders.push(line.slice(0, colon), line.slice(colon + 1));
  }
  return { method, target, rawHeaders, body };
}

function header(rawHeaders: RawHeaders, name: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2)
    if ((rawHeaders[i] as string).toLowerCase() === name) return (rawHeaders[i + 1] as string).trim();
  return undefined;
}

type Signed = {
  request: FixtureRequest;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  presigned: boolean;
};

function signedParts(request: FixtureRequest, presigned: boolean): Signed {
  if (!presigned) {
    const fields = authorizationFields(header(request.rawHeaders, 'authorization') ?? '');
    return {
      request,
      signedHeaders: (fields.signedHeaders ?? '').split(';'),
      signature: fields.signature ?? '',
      amzDate: header(request.rawHeaders, 'x-amz-date') ?? '',
      presigned,
    };
  }
  const query = new URLSearchParams(splitRequestTarget(request.target).rawQuery);
  return {
    request,
    signedHeaders: (query.get('X-Amz-SignedHeaders') ?? '').split(';'),
    signature: query.get('X-Amz-Signature') ?? '',
    amzDate: query.get('X-Amz-Date') ?? '',
    presigned,
  };
}

/** The canonical requests the proxy would try, each with whether it verifies the signature. */
function verify(signed: Signed): { canonical: string; stringToSign: string; verifies: boolean }[] {
  const { request } = signed;
  const { path, rawQuery } = splitRequestTarget(request.target);
  const payloadHash = header(request.rawHeaders, 'x-amz-content-sha256') ?? sha256Hex(request.body);
  return canonicalUriCandidates(path).map((canonicalUri) => {
    const canonical = canonicalRequest({
      method: request.method,
      canonicalUri,
      canonicalQuery: canonicalQuery(rawQuery, signed.presigned ? 'X-Amz-Signature' : undefined),
      signedHeaders: signed.signedHeaders,
      rawHeaders: request.rawHeaders,
      payloadHash,
    });
    const stringToSign = requestStringToSign(signed.amzDate, SCOPE, canonical);
    return {
      canonical,
      stringToSign,
      verifies: signaturesEqual(signString(KEY, stringToSign), signed.signature),
    };
  });
}

const cases = readdirSync(SUITE, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe('AWS SigV4 test suite: the signed requests verify as the proxy canonicalises them', () => {
  for (const name of cases) {
    for (const form of ['header', 'query'] as const) {
      let text: string;
      try {
        text = readFileSync(join(SUITE, name, `${form}-signed-request.txt`), 'utf8');
      } catch {
        continue;
      }
      const signed = signedParts(parseFixture(text), form === 'query');
      if (NORMALISED.has(name)) {
        it(`${name} (${form}): a signature over the normalised path does not verify, as S3 never normalises`, () => {
          assert.deepEqual(
            verify(signed).map((c) => c.verifies),
            verify(signed).map(() => false),
          );
        });
        continue;
      }
      it(`${name} (${form}-signed) verifies`, () => {
        const candidates = verify(signed);
        assert.ok(
          candidates.some((c) => c.verifies),
          `no canonical form verifies:\n${candidates.map((c) => c.canonical).join('\n---\n')}`,
        );
        const expectedCanonical = readOptional(join(SUITE, name, `${form}-canonical-request.txt`));
        if (expectedCanonical !== undefined) {
          assert.ok(
            candidates.some((c) => c.verifies && c.canonical === expectedCanonical),
            `the verifying canonical request differs from ${form}-canonical-request.txt`,
          );
        }
        const expectedStringToSign = readOptional(join(SUITE, name, `${form}-string-to-sign.txt`));
        if (expectedStringToSign !== undefined) {
          assert.ok(candidates.some((c) => c.verifies && c.stringToSign === expectedStringToSign));
        }
      });
      it(`${name} (${form}-signed) no longer verifies once the method, a signed header or the query changes`, () => {
        const tampered: FixtureRequest[] = [
          { ...signed.request, method: signed.request.method === 'GET' ? 'PUT' : 'GET' },
          { ...signed.request, target: tamperTarget(signed.request.target) },
          {
            ...signed.request,
            rawHeaders: signed.request.rawHeaders.map((value, i) =>
              i % 2 === 1 && (signed.request.rawHeaders[i - 1] as string).toLowerCase() === 'host'
                ? `x${value}`
                : value,
            ),
          },
        ];
        for (const request of tampered) {
          assert.ok(
            verify({ ...signed, request }).every((c) => !c.verifies),
            `${request.method} ${request.target}`,
          );
        }
      });
    }
  }
});

describe('canonical URIs: the path as sent, and the strict re-encoding when a client sends another encoding', () => {
  it('keeps percent-escapes, slashes and dot segments exactly as received', () => {
    assert.deepEqual(canonicalUriCandidates('/b/a%2Fb//./../c%7e'), [
      '/b/a%2Fb//./../c%7e',
      '/b/a%2Fb//./../c~',
    ]);
  });
  it('encodes what cannot be sent bare, as the signer did (a space, non-ASCII)', () => {
    assert.deepEqual(canonicalUriCandidates('/example space/ሴ'), ['/example%20space/%E1%88%B4']);
  });
  it('offers one candidate when the wire form is already the strict one', () => {
    assert.deepEqual(canonicalUriCandidates('/bucket/key%20with%2Bplus'), ['/bucket/key%20with%2Bplus']);
  });
});

function tamperTarget(target: string): string {
  return target.includes('?') ? target.replace('?', '?zz=1&') : `${target}?zz=1`;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
