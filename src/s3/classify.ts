/**
 * Request → S3 operation (R-S3-1), path-style and virtual-hosted-style, following the HTTP bindings of
 * the S3 API model (method, sub-resource query keys, a few headers). The one place that decides what a
 * request is: anything it cannot name exactly becomes `Unknown`, which the operations table refuses.
 *
 * The key is cut from the raw request target and percent-decoded once, never normalised: `a//b`, `./x`,
 * `../y` and a trailing `/` are distinct S3 keys, and WHATWG `URL` would resolve or merge them.
 */
import { S3Error } from './errors.ts';
import type { OperationName } from './operations.ts';

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
  readonly bucket?: string;
  readonly key?: string;
  /** Decoded name/value pairs in the order received; a valueless sub-resource (`?uploads`) has value ''. */
  readonly query: [string, string][];
  /** Everything after the first `?`, exactly as received. */
  readonly rawQuery: string;
  /** Why the operation is `Unknown`, for the refusal message and the log. */
  readonly unknownReason?: string;
}

/**
 * Query keys that select an operation. Any two of them together name no operation, so a request carrying
 * an unexpected combination is Unknown rather than guessed at.
 */
const SUBRESOURCES = new Set([
  'abac',
  'accelerate',
  'acl',
  'analytics',
  'annotation',
  'attributes',
  'cors',
  'delete',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'lifecycle',
  'list-type',
  'location',
  'logging',
  'metadataAnnotationTable',
  'metadataConfiguration',
  'metadataInventoryTable',
  'metadataJournalTable',
  'metadataTable',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'partNumber',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'renameObject',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'select',
  'session',
  'tagging',
  'torrent',
  'uploadId',
  'uploads',
  'versioning',
  'versions',
  'website',
]);

/**
 * Query parameters that refine an operation without changing which one it is. Anything outside these two
 * sets (other than S3's ignored `x-*` parameters) may be a sub-resource this proxy does not know, so the
 * request is Unknown.
 */
const PARAMETERS = new Set([
  // listings
  'bucket-region',
  'continuation-token',
  'delimiter',
  'encoding-type',
  'fetch-owner',
  'key-marker',
  'marker',
  'max-buckets',
  'max-directory-buckets',
  'max-keys',
  'max-parts',
  'max-uploads',
  'part-number-marker',
  'prefix',
  'start-after',
  'upload-id-marker',
  'version-id-marker',
  // objects and configurations
  'annotation-prefix',
  'annotationName',
  'id',
  'max-annotation-results',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
  'select-type',
  'versionId',
  // presigned SigV2 (SigV4 presigning uses X-Amz-*, covered by the x- rule)
  'AWSAccessKeyId',
  'Expires',
  'Signature',
]);

/** S3 ignores query parameters that begin with `x-` (SDKs send `x-id`, presigned URLs `X-Amz-*`). */
const isIgnoredParameter = (name: string): boolean =>
  name.length >= 2 && (name[0] === 'x' || name[0] === 'X') && name[1] === '-';

type Rule = OperationName | { readonly withId: OperationName; readonly withoutId: OperationName };

/** Bucket-level rules by method, keyed by the one sub-resource present ('' for none). */
const BUCKET_RULES: Readonly<Record<string, Readonly<Record<string, Rule>>>> = {
  GET: {
    '': 'ListObjects',
    'list-type': 'ListObjectsV2',
    versions: 'ListObjectVersions',
    uploads: 'ListMultipartUploads',
    location: 'GetBucketLocation',
    session: 'CreateSession',
    abac: 'GetBucketAbac',
    accelerate: 'GetBucketAccelerateConfiguration',
    acl: 'GetBucketAcl',
    analytics: { withId: 'GetBucketAnalyticsConfiguration', withoutId: 'ListBucketAnalyticsConfigurations' },
    cors: 'GetBucketCors',
    encryption: 'GetBucketEncryption',
    'intelligent-tiering': {
      withId: 'GetBucketIntelligentTieringConfiguration',
      withoutId: 'ListBucketIntelligentTieringConfigurations',
    },
    inventory: { withId: 'GetBucketInventoryConfiguration', withoutId: 'ListBucketInventoryConfigurations' },
    lifecycle: 'GetBucketLifecycleConfiguration',
    logging: 'GetBucketLogging',
    metadataConfiguration: 'GetBucketMetadataConfiguration',
    metadataTable: 'GetBucketMetadataTableConfiguration',
    metrics: { withId: 'GetBucketMetricsConfiguration', withoutId: 'ListBucketMetricsConfigurations' },
    notification: 'GetBucketNotificationConfiguration',
    'object-lock': 'GetObjectLockConfiguration',
    ownershipControls: 'GetBucketOwnershipControls',
    policy: 'GetBucketPolicy',
    policyStatus: 'GetBucketPolicyStatus',
    publicAccessBlock: 'GetPublicAccessBlock',
    replication: 'GetBucketReplication',
    requestPayment: 'GetBucketRequestPayment',
    tagging: 'GetBucketTagging',
    versioning: 'GetBucketVersioning',
    website: 'GetBucketWebsite',
  },
  HEAD: { '': 'HeadBucket' },
  PUT: {
    '': 'CreateBucket',
    abac: 'PutBucketAbac',
    accelerate: 'PutBucketAccelerateConfiguration',
    acl: 'PutBucketAcl',
    analytics: 'PutBucketAnalyticsConfiguration',
    cors: 'PutBucketCors',
    encryption: 'PutBucketEncryption',
    'intelligent-tiering': 'PutBucketIntelligentTieringConfiguration',
    inventory: 'PutBucketInventoryConfiguration',
    lifecycle: 'PutBucketLifecycleConfiguration',
    logging: 'PutBucketLogging',
    metadataAnnotationTable: 'UpdateBucketMetadataAnnotationTableConfiguration',
    metadataInventoryTable: 'UpdateBucketMetadataInventoryTableConfiguration',
    metadataJournalTable: 'UpdateBucketMetadataJournalTableConfiguration',
    metrics: 'PutBucketMetricsConfiguration',
    notification: 'PutBucketNotificationConfiguration',
    'object-lock': 'PutObjectLockConfiguration',
    ownershipControls: 'PutBucketOwnershipControls',
    policy: 'PutBucketPolicy',
    publicAccessBlock: 'PutPublicAccessBlock',
    replication: 'PutBucketReplication',
    requestPayment: 'PutBucketRequestPayment',
    tagging: 'PutBucketTagging',
    versioning: 'PutBucketVersioning',
    website: 'PutBucketWebsite',
  },
  DELETE: {
    '': 'DeleteBucket',
    analytics: 'DeleteBucketAnalyticsConfiguration',
    cors: 'DeleteBucketCors',
    encryption: 'DeleteBucketEncryption',
    'intelligent-tiering': 'DeleteBucketIntelligentTieringConfiguration',
    inventory: 'DeleteBucketInventoryConfiguration',
    lifecycle: 'DeleteBucketLifecycle',
    metadataConfiguration: 'DeleteBucketMetadataConfiguration',
    metadataTable: 'DeleteBucketMetadataTableConfiguration',
    metrics: 'DeleteBucketMetricsConfiguration',
    ownershipControls: 'DeleteBucketOwnershipControls',
    policy: 'DeleteBucketPolicy',
    publicAccessBlock: 'DeletePublicAccessBlock',
    replication: 'DeleteBucketReplication',
    tagging: 'DeleteBucketTagging',
    website: 'DeleteBucketWebsite',
  },
  POST: {
    delete: 'DeleteObjects',
    metadataConfiguration: 'CreateBucketMetadataConfiguration',
    metadataTable: 'CreateBucketMetadataTableConfiguration',
  },
};

/** Object-level rules by method; the sub-resource-less PUT and POST depend on headers and are decided in code. */
const OBJECT_RULES: Readonly<Record<string, Readonly<Record<string, Rule>>>> = {
  GET: {
    '': 'GetObject',
    uploadId: 'ListParts',
    acl: 'GetObjectAcl',
    annotation: { withId: 'GetObjectAnnotation', withoutId: 'ListObjectAnnotations' },
    attributes: 'GetObjectAttributes',
    'legal-hold': 'GetObjectLegalHold',
    retention: 'GetObjectRetention',
    tagging: 'GetObjectTagging',
    torrent: 'GetObjectTorrent',
  },
  HEAD: { '': 'HeadObject' },
  PUT: {
    acl: 'PutObjectAcl',
    annotation: 'PutObjectAnnotation',
    encryption: 'UpdateObjectEncryption',
    'legal-hold': 'PutObjectLegalHold',
    renameObject: 'RenameObject',
    retention: 'PutObjectRetention',
    tagging: 'PutObjectTagging',
  },
  DELETE: {
    '': 'DeleteObject',
    uploadId: 'AbortMultipartUpload',
    annotation: 'DeleteObjectAnnotation',
    tagging: 'DeleteObjectTagging',
  },
  POST: {
    uploads: 'CreateMultipartUpload',
    uploadId: 'CompleteMultipartUpload',
    restore: 'RestoreObject',
  },
};

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

interface Decision {
  readonly operation: OperationName;
  readonly unknownReason?: string;
}

const unknown = (unknownReason: string): Decision => ({ operation: 'Unknown', unknownReason });

function pick(rule: Rule, query: readonly [string, string][], idParameter: string): OperationName {
  if (typeof rule === 'string') return rule;
  return query.some(([name]) => name === idParameter) ? rule.withId : rule.withoutId;
}

function decide(
  method: string,
  level: 'service' | 'bucket' | 'object',
  query: readonly [string, string][],
  headers: ClassifiableRequest['headers'],
): Decision {
  const subresources = new Set<string>();
  for (const [name] of query) {
    // A part of an object is still GetObject/HeadObject; elsewhere partNumber selects UploadPart.
    if (name === 'partNumber' && level === 'object' && (method === 'GET' || method === 'HEAD')) continue;
    if (SUBRESOURCES.has(name)) {
      subresources.add(name);
    } else if (!PARAMETERS.has(name) && !isIgnoredParameter(name)) {
      return unknown(`unrecognised query parameter "${name}"`);
    }
  }
  const signature = [...subresources].sort().join('&');
  const target = level === 'service' ? 'the service' : level === 'bucket' ? 'a bucket' : 'an object';
  const describe = `${method} on ${target}${signature === '' ? '' : ` with ?${signature}`}`;

  if (level === 'service') {
    if (method !== 'GET' || signature !== '') return unknown(describe);
    const xId = query.find(([name]) => name === 'x-id')?.[1];
    return { operation: xId === 'ListDirectoryBuckets' ? 'ListDirectoryBuckets' : 'ListBuckets' };
  }

  const parameter = (name: string): string | undefined => query.find(([n]) => n === name)?.[1];
  if (signature === 'list-type' && parameter('list-type') !== '2') {
    return unknown(`${describe}=${parameter('list-type')}`);
  }
  if (signature === 'select' && (method !== 'POST' || parameter('select-type') !== '2')) {
    return unknown(describe);
  }

  if (level === 'bucket') {
    if (method === 'POST' && signature === '') {
      const contentType = headerValue(headers, 'content-type')?.toLowerCase() ?? '';
      return contentType.startsWith('multipart/form-data') ? { operation: 'PostObject' } : unknown(describe);
    }
    const rule = BUCKET_RULES[method]?.[signature];
    return rule === undefined ? unknown(describe) : { operation: pick(rule, query, 'id') };
  }

  if (method === 'PUT') {
    const copySource = headerValue(headers, 'x-amz-copy-source') !== undefined;
    if (signature === '') {
      if (headerValue(headers, 'x-amz-write-offset-bytes') !== undefined) {
        return { operation: 'AppendObject' };
      }
      return { operation: copySource ? 'CopyObject' : 'PutObject' };
    }
    if (signature === 'partNumber&uploadId') {
      return { operation: copySource ? 'UploadPartCopy' : 'UploadPart' };
    }
  }
  if (method === 'POST' && signature === 'select') return { operation: 'SelectObjectContent' };
  const rule = OBJECT_RULES[method]?.[signature];
  return rule === undefined ? unknown(describe) : { operation: pick(rule, query, 'annotationName') };
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
    operation: decision.operation,
    ...(bucket === undefined ? {} : { bucket }),
    ...(key === undefined ? {} : { key }),
    query,
    rawQuery: target.rawQuery,
    ...(decision.unknownReason === undefined ? {} : { unknownReason: decision.unknownReason }),
  };
}
