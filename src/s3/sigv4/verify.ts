/**
 * Inbound SigV4 verification (R-REL-5): is this request signed with one of the client credentials, in any
 * form real S3 clients use? The `Authorization` header (payload `UNSIGNED-PAYLOAD`, a hex SHA-256, or the
 * `STREAMING-*` aws-chunked forms), or a presigned URL (SigV4 in the query). Every refusal is the S3 error
 * S3 gives for it.
 *
 * Decisions (docs/decisions/0010-inbound-authentication.md):
 * - SigV2 is verified in presigned URLs only (boto3 presigns with it by default, src/s3/sigv2/presigned.ts);
 *   the SigV2 Authorization header and SigV4a are refused: every client here signs requests with SigV4, and
 *   SigV4a would need ECDSA keys derived from each secret, which no S3 client uses against custom endpoints.
 * - `x-amz-security-token` is refused: the proxy issues no sessions, so a token can only be a mistake.
 * - Any region in the credential scope is accepted (clients are configured with the upstream's region or
 *   us-east-1); the service must be `s3`.
 * - Every `x-amz-*` header present must be signed, as S3 requires, so that a captured request cannot gain a
 *   copy source or metadata; `host` must be signed.
 * - What the error echoes: the key id, the string to sign, the signature provided and the canonical
 *   request, as S3 does (all of it the client's own request); never anything derived from a secret.
 */
import { MAX_PRESIGNED_TTL, UNSIGNED_PAYLOAD } from '@smithy/signature-v4';
import { payloadMode } from '../aws-chunked/payload-mode.ts';
import { isPresignedV2, verifyPresignedV2 } from '../sigv2/presigned.ts';
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUriCandidates,
  headerValues,
  type RawHeaders,
  splitRequestTarget,
} from './canonical.ts';
import { ChunkSignatureChain } from './chunk-signature.ts';
import { ClientRefusal } from './refusal.ts';
import {
  type CredentialScope,
  requestStringToSign,
  SIGV4_ALGORITHM,
  signaturesEqual,
  signingKey,
  signString,
} from './signature.ts';

/** S3's allowance between the request's time and the server's. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export type SignedRequest = {
  readonly method: string;
  /** The request target as received. */
  readonly rawUrl: string;
  readonly rawHeaders: RawHeaders;
  /** The bucket a virtual-hosted-style Host names (SigV2 signs `/bucket/key` whatever the style). */
  readonly virtualHostBucket?: string | undefined;
};

export type VerifiedSignature = {
  readonly accessKeyId: string;
  readonly form: 'header' | 'presigned';
  /** The signed payload hash: a hex SHA-256 the body must match, `UNSIGNED-PAYLOAD`, or a `STREAMING-` value. */
  readonly payloadHash: string;
  /** The chain that checks chunk and trailer signatures, for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`. */
  readonly chunkSignatures?: () => ChunkSignatureChain;
};

/** The secret of an access key id, or undefined for a key that is not listed. */
export type SecretLookup = (accessKeyId: string) => string | undefined;

type ParsedAuth = {
  readonly form: 'header' | 'presigned';
  readonly accessKeyId: string;
  readonly scope: CredentialScope;
  readonly amzDate: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  readonly payloadHash: string;
  /** Presigned only. */
  readonly expiresSeconds?: number;
};

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const UNSUPPORTED_MECHANISM =
  'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.';

export function verifyRequestSignature(
  request: SignedRequest,
  lookup: SecretLookup,
  now: Date = new Date(),
): VerifiedSignature {
  const { path, rawQuery } = splitRequestTarget(request.rawUrl);
  if (
    headerValues(request.rawHeaders, 'authorization').length === 0 &&
    !/(^|&)X-Amz-(Algorithm|Signature)=/.test(rawQuery) &&
    isPresignedV2(rawQuery)
  ) {
    const v2 = verifyPresignedV2({ ...request, path, rawQuery }, lookup, now);
    return { accessKeyId: v2.accessKeyId, form: 'presigned', payloadHash: v2.payloadHash };
  }
  const auth = parseAuth(request, rawQuery);
  const secret = lookup(auth.accessKeyId);
  if (secret === undefined) {
    throw new ClientRefusal('unknown_key', 'InvalidAccessKeyId', undefined, {
      details: [['AWSAccessKeyId', auth.accessKeyId]],
    });
  }
  checkTime(auth, now);
  checkSignedHeaders(request.rawHeaders, auth);

  const key = signingKey(secret, auth.scope);
  const query = canonicalQuery(rawQuery, auth.form === 'presigned' ? 'X-Amz-Signature' : undefined);
  const build = (canonicalUri: string) =>
    canonicalRequest({
      method: request.method,
      canonicalUri,
      canonicalQuery: query,
      signedHeaders: auth.signedHeaders,
      rawHeaders: request.rawHeaders,
      payloadHash: auth.payloadHash,
    });
  let expected: string | undefined;
  let refused: { canonical: string; stringToSign: string } | undefined;
  for (const canonicalUri of canonicalUriCandidates(path)) {
    const canonical = build(canonicalUri);
    const stringToSign = requestStringToSign(auth.amzDate, auth.scope, canonical);
    const signature = signString(key, stringToSign);
    if (signaturesEqual(signature, auth.signature)) {
      expected = signature;
      break;
    }
    refused ??= { canonical, stringToSign };
  }
  if (expected === undefined) {
    throw new ClientRefusal('signature_mismatch', 'SignatureDoesNotMatch', undefined, {
      details: [
        ['AWSAccessKeyId', auth.accessKeyId],
        ['StringToSign', refused?.stringToSign ?? ''],
        ['SignatureProvided', auth.signature],
        ['CanonicalRequest', refused?.canonical ?? ''],
      ],
    });
  }

  const mode = payloadMode(auth.payloadHash);
  const seedSignature = expected;
  return {
    accessKeyId: auth.accessKeyId,
    form: auth.form,
    payloadHash: auth.payloadHash,
    ...(mode.chunked && mode.signed
      ? {
          chunkSignatures: () =>
            new ChunkSignatureChain({
              signingKey: key,
              amzDate: auth.amzDate,
              scope: auth.scope,
              seedSignature,
            }),
        }
      : {}),
  };
}

function parseAuth(request: SignedRequest, rawQuery: string): ParsedAuth {
  const authorization = headerValues(request.rawHeaders, 'authorization');
  const query = new Map<string, string>();
  for (const part of rawQuery.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq);
    if (/^(X-Amz-|AWSAccessKeyId$|Signature$)/i.test(name))
      query.set(name, decodeQueryValue(part.slice(eq + 1)));
  }
  const presigned = query.has('X-Amz-Algorithm') || query.has('X-Amz-Signature');
  const presignedV2 = query.has('AWSAccessKeyId') || query.has('Signature');
  if (authorization.length > 0 && (presigned || presignedV2)) {
    throw new ClientRefusal(
      'malformed',
      'InvalidArgument',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
    );
  }
  if (authorization.length > 1) {
    throw malformedHeader('the request carries more than one Authorization header.');
  }
  if (authorization.length === 1)
    return parseAuthorizationHeader(authorization[0] as string, request.rawHeaders);
  if (presigned) return parsePresignedQuery(query, request.rawHeaders);
  throw new ClientRefusal(
    'unsigned',
    'AccessDenied',
    'Access Denied: this proxy accepts only requests signed (AWS Signature Version 4) with one of its client credentials.',
  );
}

function parseAuthorizationHeader(value: string, rawHeaders: RawHeaders): ParsedAuth {
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm === 'AWS' || algorithm === 'AWS4-ECDSA-P256-SHA256') {
    throw new ClientRefusal('unsupported_signature', 'InvalidRequest', UNSUPPORTED_MECHANISM);
  }
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new ClientRefusal('unsupported_signature', 'InvalidArgument', 'Unsupported Authorization Type', {
      details: [
        ['ArgumentName', 'Authorization'],
        ['ArgumentValue', algorithm],
      ],
    });
  }
  const { credential, signedHeaders, signature } = authorizationFields(value);
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw malformedHeader(
      `the Authorization header must carry Credential, SignedHeaders and Signature, got "${value.slice(0, 200)}"`,
    );
  }
  const { accessKeyId, scope } = parseCredential(credential, malformedHeader);
  const amzDate = headerValues(rawHeaders, 'x-amz-date')[0];
  if (amzDate === undefined || !validAmzDate(amzDate)) {
    throw new ClientRefusal(
      'malformed',
      'AccessDenied',
      'AWS authentication requires a valid Date or x-amz-date header',
    );
  }
  if (scope.date !== amzDate.slice(0, 8)) {
    throw malformedHeader('Invalid credential date. Date is not the same as X-Amz-Date.');
  }
  const payloadHashes = headerValues(rawHeaders, 'x-amz-content-sha256');
  if (payloadHashes.length > 1 || headerValues(rawHeaders, 'x-amz-date').length > 1) {
    throw malformedHeader('x-amz-content-sha256 and x-amz-date must each be sent once.');
  }
  const payloadHash = payloadHashes[0];
  if (payloadHash === undefined) {
    throw new ClientRefusal(
      'malformed',
      'InvalidRequest',
      'Missing required header for this request: x-amz-content-sha256',
    );
  }
  checkPayloadHash(payloadHash);
  return {
    form: 'header',
    accessKeyId,
    scope,
    amzDate,
    signedHeaders: parseSignedHeaders(signedHeaders, malformedHeader),
    signature,
    payloadHash,
  };
}

/** `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`: the three fields, as written. */
export function authorizationFields(value: string): {
  credential?: string;
  signedHeaders?: string;
  signature?: string;
} {
  const fields = new Map<string, string>();
  const space = value.indexOf(' ');
  for (const part of value.slice(space + 1).split(',')) {
    const trimmed = part.trim();
    const eq = trimmed.indexOf('=');
    if (eq > 0) fields.set(trimmed.slice(0, eq), trimmed.slice(eq + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  return {
    ...(credential === undefined ? {} : { credential }),
    ...(signedHeaders === undefined ? {} : { signedHeaders }),
    ...(signature === undefined ? {} : { signature }),
  };
}

function parsePresignedQuery(query: ReadonlyMap<string, string>, rawHeaders: RawHeaders): ParsedAuth {
  const get = (name: string) => query.get(name);
  const algorithm = get('X-Amz-Algorithm');
  const credential = get('X-Amz-Credential');
  const amzDate = get('X-Amz-Date');
  const expires = get('X-Amz-Expires');
  const signedHeaders = get('X-Amz-SignedHeaders');
  const signature = get('X-Amz-Signature');
  if (
    algorithm === undefined ||
    credential === undefined ||
    amzDate === undefined ||
    expires === undefined ||
    signedHeaders === undefined ||
    signature === undefined
  ) {
    throw new ClientRefusal(
      'malformed',
      'AuthorizationQueryParametersError',
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new ClientRefusal(
      'unsupported_signature',
      'AuthorizationQueryParametersError',
      `X-Amz-Algorithm only supports "${SIGV4_ALGORITHM}"`,
    );
  }
  const malformed = (detail: string) =>
    new ClientRefusal('malformed', 'AuthorizationQueryParametersError', detail);
  const { accessKeyId, scope } = parseCredential(credential, (detail) =>
    malformed(`Error parsing the X-Amz-Credential parameter; ${detail}`),
  );
  if (!validAmzDate(amzDate)) {
    throw malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  }
  if (scope.date !== amzDate.slice(0, 8)) {
    throw malformed('Invalid credential date. Date is not the same as X-Amz-Date.');
  }
  if (!/^\d{1,7}$/.test(expires) || Number(expires) === 0) {
    throw malformed('X-Amz-Expires must be a whole number of seconds, at least 1.');
  }
  if (Number(expires) > MAX_PRESIGNED_TTL) {
    throw malformed(`X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGNED_TTL}`);
  }
  const hoisted = [...query].find(([name]) => name.toLowerCase() === 'x-amz-content-sha256')?.[1];
  const payloadHash = hoisted ?? UNSIGNED_PAYLOAD;
  checkPayloadHash(payloadHash);
  if (payloadMode(payloadHash).chunked) {
    throw new ClientRefusal(
      'malformed',
      'InvalidRequest',
      'Presigned URLs cannot carry an aws-chunked (STREAMING-*) payload.',
    );
  }
  const header = headerValues(rawHeaders, 'x-amz-content-sha256')[0];
  if (header !== undefined && header !== payloadHash) {
    throw new ClientRefusal(
      'malformed',
      'InvalidRequest',
      'The x-amz-content-sha256 header differs from the X-Amz-Content-Sha256 the URL was presigned with.',
    );
  }
  if (query.has('X-Amz-Security-Token')) throw sessionTokenRefused();
  return {
    form: 'presigned',
    accessKeyId,
    scope,
    amzDate,
    signedHeaders: parseSignedHeaders(signedHeaders, malformed),
    signature,
    payloadHash,
    expiresSeconds: Number(expires),
  };
}

function parseCredential(
  credential: string,
  malformed: (detail: string) => ClientRefusal,
): { accessKeyId: string; scope: CredentialScope } {
  const parts = credential.split('/');
  const [accessKeyId = '', date = '', region = '', service = '', terminal = ''] = parts;
  if (parts.length !== 5 || accessKeyId === '' || !/^\d{8}$/.test(date) || region === '') {
    throw malformed(
      `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request", got "${credential.slice(0, 200)}".`,
    );
  }
  if (service !== 's3') {
    throw malformed(`incorrect service "${service}". This endpoint belongs to "s3".`);
  }
  if (terminal !== 'aws4_request') {
    throw malformed(`incorrect terminal "${terminal}". This endpoint uses "aws4_request".`);
  }
  return { accessKeyId, scope: { date, region, service } };
}

function parseSignedHeaders(value: string, malformed: (detail: string) => ClientRefusal): string[] {
  const names = value.split(';');
  if (names.some((name) => !HEADER_NAME.test(name))) {
    throw malformed(
      `SignedHeaders must be lower-case header names separated by ";", got "${value.slice(0, 200)}".`,
    );
  }
  return names;
}

function checkPayloadHash(value: string): void {
  if (/^[0-9a-f]{64}$/i.test(value) || value === UNSIGNED_PAYLOAD) return;
  const mode = payloadMode(value);
  if (!mode.chunked) {
    throw new ClientRefusal(
      'malformed',
      'InvalidArgument',
      'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- value, or the hex SHA-256 of the payload.',
    );
  }
  if (value.includes('-ECDSA-'))
    throw new ClientRefusal('unsupported_signature', 'InvalidRequest', UNSUPPORTED_MECHANISM);
}

function checkTime(auth: ParsedAuth, now: Date): void {
  const signed = amzDateToMs(auth.amzDate);
  const serverTime = now.toISOString();
  if (auth.form === 'header') {
    if (Math.abs(now.getTime() - signed) > MAX_CLOCK_SKEW_MS) {
      throw new ClientRefusal('clock_skew', 'RequestTimeTooSkewed', undefined, {
        details: [
          ['RequestTime', auth.amzDate],
          ['ServerTime', serverTime],
          ['MaxAllowedSkewMilliseconds', String(MAX_CLOCK_SKEW_MS)],
        ],
      });
    }
    return;
  }
  if (signed - now.getTime() > MAX_CLOCK_SKEW_MS) {
    throw new ClientRefusal('not_yet_valid', 'AccessDenied', 'Request is not valid yet', {
      details: [
        ['X-Amz-Date', auth.amzDate],
        ['ServerTime', serverTime],
      ],
    });
  }
  const expiresAt = signed + (auth.expiresSeconds ?? 0) * 1000;
  if (now.getTime() > expiresAt) {
    throw new ClientRefusal('expired', 'AccessDenied', 'Request has expired', {
      details: [
        ['X-Amz-Expires', String(auth.expiresSeconds)],
        ['Expires', new Date(expiresAt).toISOString()],
        ['ServerTime', serverTime],
      ],
    });
  }
}

/** Every `x-amz-*` header present is signed, and so is `host`; a session token is refused outright. */
function checkSignedHeaders(rawHeaders: RawHeaders, auth: ParsedAuth): void {
  const signed = new Set(auth.signedHeaders);
  const unsigned = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (name === 'x-amz-security-token') throw sessionTokenRefused();
    if (name.startsWith('x-amz-') && !signed.has(name)) unsigned.add(name);
  }
  if (!signed.has('host')) unsigned.add('host');
  if (unsigned.size > 0) {
    throw new ClientRefusal(
      'unsigned_headers',
      'AccessDenied',
      'There were headers present in the request which were not signed',
      {
        details: [['HeadersNotSigned', [...unsigned].join(', ')]],
      },
    );
  }
}

function sessionTokenRefused(): ClientRefusal {
  return new ClientRefusal(
    'session_token',
    'InvalidToken',
    'The provided token is malformed or otherwise invalid: this proxy issues no sessions, so requests are signed with a listed access key and no x-amz-security-token.',
  );
}

function malformedHeader(detail: string): ClientRefusal {
  return new ClientRefusal(
    'malformed',
    'AuthorizationHeaderMalformed',
    `The authorization header is malformed; ${detail}`,
  );
}

function validAmzDate(value: string): boolean {
  return AMZ_DATE.test(value) && !Number.isNaN(amzDateToMs(value));
}

function amzDateToMs(value: string): number {
  const match = AMZ_DATE.exec(value);
  if (match === null) return Number.NaN;
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = match.slice(1).map(Number);
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  return back.getUTCMonth() === mo - 1 && back.getUTCDate() === d ? ms : Number.NaN;
}

function decodeQueryValue(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    throw new ClientRefusal(
      'malformed',
      'AuthorizationQueryParametersError',
      'A presigning query parameter is not valid URL encoding.',
    );
  }
}
