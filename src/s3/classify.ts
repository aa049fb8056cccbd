/**
 * Request → row of the operations table (R-S3-1), path-style and virtual-hosted-style. The target is cut
 * into bucket, key and query here; which operation that is, and what happens to it, is the table's
 * (src/s3/operations.ts). A request that matches no row exactly becomes `Unknown`, which is refused.
 *
 * The key is cut from the raw request target and percent-decoded once, never normalised: `a//b`, `./x`,
 * `../y` and a trailing `/` are distinct S3 keys, and WHATWG `URL` would resolve or merge them.
 */
import { isSigV4QueryParameter } from './client-auth.ts';
import { S3Error } from './errors.ts';
import {
  KNOWN_QUERY_NAMES,
  KNOWN_SUBRESOURCES,
  type Level,
  OPERATION_ROWS,
  type OperationName,
  type OperationRow,
  type QueryRequirement,
  SELECTING_HEADERS,
} from './operations.ts';

export interface ClassifiableRequest {
  readonly method: string;
  /** The request target as received: origin-form `/path?query`, or absolute-form `http://host/path?query`. */
  readonly rawUrl: string;
  /** The authority (`Host` header or HTTP/2 `:authority`); when absent, `headers.host` is used. */
  readonly host?: string;
  /** Lower-case names, as Node delivers them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface ClassifyOptions {
  /** Base domains under which `Host: <bucket>.<domain>` names a bucket. */
  readonly virtualHostDomains: readonly string[];
}

export interface S3Request {
  readonly operation: OperationName;
  /** The row of the operations table the request matched; absent exactly when `operation` is `Unknown`. */
  readonly row?: OperationRow;
  readonly bucket?: string;
  readonly key?: string;
  /**
   * Decoded name/value pairs in the order received; a valueless sub-resource (`?uploads`) has value ''.
   * S3's ignored `x-` parameters are left out: they select nothing here and are never forwarded.
   */
  readonly query: [string, string][];
  /** Everything after the first `?`, exactly as received. */
  readonly rawQuery: string;
  /** Why the operation is `Unknown`, for the refusal message and the log. */
  readonly unknownReason?: string;
}

/** Bucket names as S3 has ever allowed them (legacy us-east-1 names included); anything else could alter the upstream URL. */
const BUCKET_NAME = /^[A-Za-z0-9._-]{1,255}$/;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/**
 * Percent-decodes once. `+` is a space only in the query (form encoding, which S3 applies to query
 * parameters); in the path it is a literal `+`. Characters outside ASCII (which Node's HTTP/1 parser
 * refuses, but HTTP/2 or a caller may pass) are taken as UTF-8. `ignoreBOM` keeps a leading U+FEFF,
 * which is a legitimate first character of a key.
 */
function percentDecode(raw: string, plusIsSpace: boolean, what: string): string {
  let plain = true;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 || c > 0x7e || (plusIsSpace && c === 0x2b)) {
      plain = false;
      break;
    }
  }
  if (plain) return raw;
  const bytes = new Uint8Array(raw.length * 3);
  let length = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) {
        throw new S3Error(
          'InvalidURI',
          `Couldn't parse the specified URI: malformed percent-encoding in the ${what}.`,
        );
      }
      bytes[length++] = hi * 16 + lo;
      i += 2;
    } else if (plusIsSpace && c === 0x2b) {
      bytes[length++] = 0x20;
    } else if (c < 0x80) {
      bytes[length++] = c;
    } else {
      const codePoint = raw.codePointAt(i) ?? c;
      if (codePoint > 0xffff) i++;
      const encoded = utf8Encoder.encode(String.fromCodePoint(codePoint));
      bytes.set(encoded, length);
      length += encoded.length;
    }
  }
  try {
    return utf8.decode(bytes.subarray(0, length));
  } catch {
    throw new S3Error(
      'InvalidURI',
      `Couldn't parse the specified URI: the ${what} is not valid UTF-8 once decoded.`,
    );
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

export function parseQuery(rawQuery: string): [string, string][] {
  const pairs: [string, string][] = [];
  if (rawQuery === '') return pairs;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = percentDecode(eq < 0 ? part : part.slice(0, eq), true, 'query');
    const value = eq < 0 ? '' : percentDecode(part.slice(eq + 1), true, 'query');
    pairs.push([name, value]);
  }
  return pairs;
}

function headerValue(headers: ClassifiableRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The bucket named by a virtual-hosted-style Host, or undefined for a path-style request. */
export function virtualHostBucket(host: string | undefined, domains: readonly string[]): string | undefined {
  if (host === undefined || host === '' || host.startsWith('[')) return undefined;
  const colon = host.lastIndexOf(':');
  const name = (colon < 0 ? host : host.slice(0, colon)).replace(/\.$/, '');
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestLength = -1;
  for (const domain of domains) {
    const suffix = `.${domain.toLowerCase()}`;
    // The longest matching domain wins, so `b.s3.localhost` is bucket `b` when both `localhost` and `s3.localhost` are configured.
    if (lower.length > suffix.length && lower.endsWith(suffix) && suffix.length > bestLength) {
      best = name.slice(0, name.length - suffix.length);
      bestLength = suffix.length;
    }
  }
  return best;
}

interface Target {
  readonly host: string | undefined;
  readonly path: string;
  readonly rawQuery: string;
}

function splitTarget(request: ClassifiableRequest): Target {
  let rest = request.rawUrl;
  let host = request.host ?? headerValue(request.headers, 'host');
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(rest);
  if (scheme !== null) {
    // Absolute-form (a client using the proxy as an HTTP proxy): the authority in the target overrides Host (RFC 9112 §3.2.2).
    const afterScheme = rest.slice(scheme[0].length);
    const end = afterScheme.search(/[/?]/);
    const authority = end < 0 ? afterScheme : afterScheme.slice(0, end);
    host = authority.slice(authority.lastIndexOf('@') + 1);
    rest = end < 0 ? '/' : afterScheme.slice(end);
    if (rest.startsWith('?')) rest = `/${rest}`;
  }
  const question = rest.indexOf('?');
  const path = question < 0 ? rest : rest.slice(0, question);
  const rawQuery = question < 0 ? '' : rest.slice(question + 1);
  if (!path.startsWith('/')) {
    throw new S3Error(
      'InvalidURI',
      "Couldn't parse the specified URI: the request target must start with '/'.",
    );
  }
  return { host, path, rawQuery };
}

/** S3 ignores query parameters that begin with `x-` (SDKs send `x-id`, presigned URLs `X-Amz-*`). */
const isIgnoredParameter = (name: string): boolean =>
  name.length >= 2 && (name[0] === 'x' || name[0] === 'X') && name[1] === '-';

/** Presigned SigV2 URLs for the proxy (their signature is replaced, src/s3/client-auth.ts). */
const SIGV2_QUERY = new Set(['AWSAccessKeyId', 'Expires', 'Signature']);

/** Every query name S3 knows, lower-cased, to name odd casing (`?Tagging`, `?partnumber`) in a refusal. */
const KNOWN_BY_LOWER_CASE = new Map([...KNOWN_QUERY_NAMES].map((name) => [name.toLowerCase(), name]));

type Decision = { readonly row: OperationRow } | { readonly unknownReason: string };

/** The table's rows by method and level (`GET object`), in table order: a request is matched against its own. */
const ROWS_BY_METHOD_AND_LEVEL: ReadonlyMap<string, readonly OperationRow[]> = Map.groupBy(
  OPERATION_ROWS,
  (row) => `${row.method} ${row.level}`,
);

function satisfies(requirement: QueryRequirement, value: string): boolean {
  switch (requirement.value.kind) {
    case 'empty':
      return value === '';
    case 'any':
      return true;
    case 'exactly':
      return value === requirement.value.value;
  }
}

function queryMatches(row: OperationRow, pairs: ReadonlyMap<string, string>): boolean {
  for (const requirement of row.requires) {
    const value = pairs.get(requirement.name);
    if (value === undefined || !satisfies(requirement, value)) return false;
  }
  for (const name of pairs.keys()) {
    if (!row.parameters.includes(name) && !row.requires.some((r) => r.name === name)) return false;
  }
  return true;
}

function headersMatch(row: OperationRow, headers: ClassifiableRequest['headers']): boolean {
  for (const name of SELECTING_HEADERS) {
    const condition = row.headers[name];
    const present = headerValue(headers, name) !== undefined;
    if ((condition === 'present' && !present) || (condition === 'absent' && present)) return false;
  }
  if (row.formUpload) {
    const contentType = headerValue(headers, 'content-type')?.trim().toLowerCase() ?? '';
    if (!contentType.startsWith('multipart/form-data')) return false;
  }
  return true;
}

/**
 * The one row of the operations table this request matches exactly, or why there is none. Refused before
 * any row is looked at: a query name given twice (no S3 operation takes a repeated parameter, and the
 * proxy and the upstream could each read another occurrence), and an `x-amz-*` header moved into the
 * query string, which the proxy would not see but an upstream might apply.
 */
function decide(
  method: string,
  level: Level,
  query: readonly [string, string][],
  headers: ClassifiableRequest['headers'],
): Decision {
  const named = query.filter(([name]) => !isIgnoredParameter(name) && !SIGV2_QUERY.has(name));
  // The request as a refusal names it; only refusals need it.
  const described = () => {
    const target = level === 'service' ? 'the service' : level === 'bucket' ? 'a bucket' : 'an object';
    return `${method} on ${target}${named.length === 0 ? '' : ` with ?${named.map(([n]) => n).join('&')}`}`;
  };
  const seen = new Set<string>();
  for (const [name] of query) {
    if (seen.has(name)) {
      return {
        unknownReason: `${described()}: query parameter "${name}" is given more than once; S3 takes each parameter once, and the upstream could read another occurrence than the proxy`,
      };
    }
    seen.add(name);
  }
  let xId: string | undefined;
  for (const [name, value] of query) {
    if (!isIgnoredParameter(name)) continue;
    const lower = name.toLowerCase();
    if (lower === 'x-id') xId = value;
    else if (lower.startsWith('x-amz-') && !isSigV4QueryParameter(name)) {
      return {
        unknownReason: `${described()}: query parameter "${name}" is a request header moved into the query string (as presigners do); the proxy applies no header given that way, so send it as a header`,
      };
    }
  }
  const pairs = new Map(named);
  const shape = (ROWS_BY_METHOD_AND_LEVEL.get(`${method} ${level}`) ?? []).filter((row) =>
    queryMatches(row, pairs),
  );
  const matching = shape.filter((row) => headersMatch(row, headers));
  const tied = matching.filter((row) => row.xId === xId);
  const chosen = matching.length === 1 ? matching : tied.length > 0 ? tied : matching.filter((r) => !r.xId);
  if (chosen.length === 1 && chosen[0] !== undefined) return { row: chosen[0] };
  return { unknownReason: explain(described(), pairs, headers, shape) };
}

function explain(
  request: string,
  pairs: ReadonlyMap<string, string>,
  headers: ClassifiableRequest['headers'],
  shape: readonly OperationRow[],
): string {
  for (const name of pairs.keys()) {
    if (KNOWN_QUERY_NAMES.has(name)) continue;
    const known = KNOWN_BY_LOWER_CASE.get(name.toLowerCase());
    return known === undefined
      ? `${request}: unknown query parameter "${name}"`
      : `${request}: query parameter "${name}" is not "${known}" (S3 names are case-sensitive; the upstream may read it either way)`;
  }
  for (const [name, value] of pairs) {
    if (value !== '' && KNOWN_SUBRESOURCES.has(name) && !OPERATION_ROWS.some((row) => takesValue(row, name)))
      return `${request}: sub-resource "${name}" takes no value`;
  }
  const row = shape[0];
  if (row !== undefined) {
    const present = SELECTING_HEADERS.filter((name) => headerValue(headers, name) !== undefined);
    return present.length === 0
      ? `${request}: only ${row.operation} has this form, with ${row.formUpload ? 'a multipart/form-data body' : 'other headers'}`
      : `${request} and ${present.join(', ')}: ${row.operation} does not take ${present.length === 1 ? 'this header' : 'these headers'}`;
  }
  return `${request}: no S3 operation has this form`;
}

function takesValue(row: OperationRow, name: string): boolean {
  return (
    row.parameters.includes(name) || row.requires.some((r) => r.name === name && r.value.kind !== 'empty')
  );
}

/**
 * Names the S3 operation of a request. Throws S3Error `InvalidURI` for a target that cannot be decoded and
 * `InvalidBucketName` for a bucket that no S3 bucket could have.
 */
export function classifyRequest(request: ClassifiableRequest, options: ClassifyOptions): S3Request {
  if (request.rawUrl === '*') {
    return {
      operation: 'Unknown',
      query: [],
      rawQuery: '',
      unknownReason: `${request.method} with target "*"`,
    };
  }
  const target = splitTarget(request);
  const query = parseQuery(target.rawQuery);
  const hostBucket = virtualHostBucket(target.host, options.virtualHostDomains);

  let bucket: string | undefined;
  let rawKey: string | undefined;
  if (hostBucket !== undefined) {
    bucket = hostBucket;
    rawKey = target.path.slice(1);
  } else if (target.path !== '/') {
    const slash = target.path.indexOf('/', 1);
    bucket = percentDecode(
      slash < 0 ? target.path.slice(1) : target.path.slice(1, slash),
      false,
      'bucket name',
    );
    rawKey = slash < 0 ? '' : target.path.slice(slash + 1);
  }
  if (bucket !== undefined && !BUCKET_NAME.test(bucket)) {
    throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', { resource: target.path });
  }
  // `/bucket/` is the bucket itself, as in S3: a key is never empty.
  const key = rawKey === undefined || rawKey === '' ? undefined : percentDecode(rawKey, false, 'object key');
  const level = bucket === undefined ? 'service' : key === undefined ? 'bucket' : 'object';
  const decision = decide(request.method, level, query, request.headers);
  return {
    ...('row' in decision
      ? { operation: decision.row.operation, row: decision.row }
      : { operation: 'Unknown', unknownReason: decision.unknownReason }),
    ...(bucket === undefined ? {} : { bucket }),
    ...(key === undefined ? {} : { key }),
    query: query.filter(([name]) => !isIgnoredParameter(name)),
    rawQuery: target.rawQuery,
  };
}
