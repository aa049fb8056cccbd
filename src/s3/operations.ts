/**
 * The one table that decides what the proxy does with a request (R-S3-1, R-S3-6). A row is keyed by
 * method, level (service, bucket, object) and the exact set of sub-resources; it names the S3 operation,
 * its treatment, the query parameters it accepts besides, the headers that select it, what its request
 * body must be, and for object-level reads that are passed through, what the upstream's answer must be.
 *
 * Refuse by default: a request that matches no row exactly is refused (src/s3/classify.ts), and so is
 * any row that would let object data pass unencrypted. The upstream does not read a request the way the
 * proxy does: a sub-resource it does not know falls back to the plain object operation (SeaweedFS stores
 * `PUT key?encryption` as a PutObject and answers `GET key?annotation` with the object). So a passthrough
 * row exists only where a fallback could store or release nothing, its body is checked against the row
 * before it is forwarded, and an object-level read's answer is checked before it is relayed.
 *
 * docs/S3-OPERATIONS.md is generated from this table: node src/s3/operations-reference.ts --write
 */

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
export type Level = 'service' | 'bucket' | 'object';

/**
 * - encrypt: the request body is object data, encrypted before it goes upstream.
 * - decrypt: the response body is object data, decrypted before it reaches the client.
 * - head: object metadata, with plaintext sizes and ETags in place of the stored ones.
 * - rewrite-listing: a listing whose sizes (and ETags) are rewritten to the plaintext's.
 * - envelope: carries no object data, but the envelope's bookkeeping: metadata added or kept, ETags mapped.
 * - passthrough: carries no object data either way; forwarded re-signed, its body checked first.
 * - refuse: answered with 501 NotImplemented naming `reason`, never forwarded.
 */
export type Treatment =
  | 'encrypt'
  | 'decrypt'
  | 'head'
  | 'rewrite-listing'
  | 'envelope'
  | 'passthrough'
  | 'refuse';

/** What a request or response body must be. XML is checked by its root element, JSON by being an object. */
export type XmlDocumentRule = {
  readonly kind: 'xml';
  readonly root: string;
  readonly maxBytes: number;
  readonly optional: boolean;
};
export type JsonDocumentRule = {
  readonly kind: 'json';
  readonly maxBytes: number;
  readonly optional: boolean;
};
export type DocumentRule = XmlDocumentRule | JsonDocumentRule;

/**
 * - none: no body; one that arrives is refused (passthrough) or never read (handled rows).
 * - object-data: the object's bytes, encrypted on the way (encrypt rows only).
 * - a document: forwarded (passthrough) or read by the handler only if it is that document.
 */
export type BodyRule = { readonly kind: 'none' } | { readonly kind: 'object-data' } | DocumentRule;

/**
 * Headers that make S3 (or an upstream's fallback route) run another operation on the same URL: a copy,
 * an append, a rename. Each row says whether it needs one ('present'), refuses one ('absent', the
 * default) or does not care ('any'); so `PUT key?tagging` with `x-amz-copy-source` matches no row.
 */
export const SELECTING_HEADERS = [
  'x-amz-copy-source',
  'x-amz-write-offset-bytes',
  'x-amz-rename-source',
] as const;
export type SelectingHeader = (typeof SELECTING_HEADERS)[number];
export type HeaderCondition = 'present' | 'absent' | 'any';

/** One query name a row requires: valueless (`?tagging`, value ''), any value (`uploadId=*`) or one value (`list-type=2`). */
export type QueryRequirement = {
  readonly name: string;
  readonly value:
    | { readonly kind: 'empty' }
    | { readonly kind: 'any' }
    | { readonly kind: 'exactly'; readonly value: string };
};

type RowBase<O extends string> = {
  readonly method: Method;
  readonly level: Level;
  /** The sub-resources (and required parameters) as written in the table: `partNumber=*&uploadId=*`. */
  readonly query: string;
  readonly requires: readonly QueryRequirement[];
  /** Further query parameters the operation accepts, with any value. */
  readonly parameters: readonly string[];
  readonly headers: Readonly<Record<SelectingHeader, HeaderCondition>>;
  /** Only for PostObject: the row needs `Content-Type: multipart/form-data`. */
  readonly formUpload: boolean;
  /**
   * The SDKs' `x-id` query parameter, which only breaks a tie between rows of the same shape and the same
   * treatment (ListBuckets and ListDirectoryBuckets); it never changes what the proxy does.
   */
  readonly xId?: string;
  readonly operation: O;
  readonly body: BodyRule;
};

export type HandledRow<O extends string = string> = RowBase<O> & {
  readonly treatment: Exclude<Treatment, 'passthrough' | 'refuse'>;
  /** For object-level reads the handler rewrites: the document the upstream's answer must be. */
  readonly response?: XmlDocumentRule;
};
export type PassthroughRow<O extends string = string> = RowBase<O> & {
  readonly treatment: 'passthrough';
  /** Object-level GETs: the document the upstream's answer must be before it is relayed. */
  readonly response?: XmlDocumentRule;
};
export type RefusedRow<O extends string = string> = RowBase<O> & {
  readonly treatment: 'refuse';
  /** What would go wrong if the proxy forwarded the request. */
  readonly reason: string;
};
type AnyRow<O extends string = string> = HandledRow<O> | PassthroughRow<O> | RefusedRow<O>;

const KiB = 1024;
const MiB = 1024 * KiB;
/** Object-level documents and the small bucket switches: a tag set, an ACL, a retention date. */
const SMALL_DOCUMENT = 64 * KiB;
/** Bucket configurations with many rules (lifecycle, replication, inventory, CORS, policy). */
const CONFIGURATION = 1 * MiB;
/** DeleteObjects: 1,000 keys of up to 1,024 bytes each, XML-escaped. */
const DELETE_LIST = 8 * MiB;
/** Upstream answers the proxy reads whole before relaying them (object-level GET passthrough). */
export const MAX_CHECKED_RESPONSE = 1 * MiB;

export const NO_BODY: BodyRule = Object.freeze({ kind: 'none' });
const OBJECT_DATA: BodyRule = Object.freeze({ kind: 'object-data' });
const xml = (root: string, maxBytes: number, optional = false): XmlDocumentRule =>
  Object.freeze({ kind: 'xml', root, maxBytes, optional });
const json = (maxBytes: number): DocumentRule => Object.freeze({ kind: 'json', maxBytes, optional: false });
const answer = (root: string): XmlDocumentRule => xml(root, MAX_CHECKED_RESPONSE);

function parseRequirements(query: string): QueryRequirement[] {
  if (query === '') return [];
  return query.split('&').map((part): QueryRequirement => {
    const eq = part.indexOf('=');
    if (eq < 0) return { name: part, value: { kind: 'empty' } };
    const value = part.slice(eq + 1);
    return {
      name: part.slice(0, eq),
      value: value === '*' ? { kind: 'any' } : { kind: 'exactly', value },
    };
  });
}

type RowOptions = {
  readonly parameters?: readonly string[];
  readonly headers?: Partial<Record<SelectingHeader, HeaderCondition>>;
  readonly formUpload?: boolean;
  readonly xId?: string;
  readonly body?: BodyRule;
};

function base<const O extends string>(
  method: Method,
  level: Level,
  query: string,
  operation: O,
  options: RowOptions,
): RowBase<O> {
  return {
    method,
    level,
    query,
    requires: Object.freeze(parseRequirements(query)),
    parameters: Object.freeze([...(options.parameters ?? [])]),
    headers: Object.freeze({
      'x-amz-copy-source': 'absent',
      'x-amz-write-offset-bytes': 'absent',
      'x-amz-rename-source': 'absent',
      ...options.headers,
    }),
    formUpload: options.formUpload ?? false,
    ...(options.xId === undefined ? {} : { xId: options.xId }),
    operation,
    body: options.body ?? NO_BODY,
  };
}

function pass<const O extends string>(
  method: Method,
  level: Level,
  query: string,
  operation: O,
  options: RowOptions & { readonly response?: XmlDocumentRule } = {},
): PassthroughRow<O> {
  return Object.freeze({
    ...base(method, level, query, operation, options),
    treatment: 'passthrough',
    ...(options.response === undefined ? {} : { response: options.response }),
  });
}

function handle<const O extends HandledOperation>(
  treatment: HandledRow['treatment'],
  method: Method,
  level: Level,
  query: string,
  operation: O,
  options: RowOptions & { readonly response?: XmlDocumentRule } = {},
): HandledRow<O> {
  return Object.freeze({
    ...base(method, level, query, operation, options),
    treatment,
    ...(options.response === undefined ? {} : { response: options.response }),
  });
}

function refuse<const O extends string>(
  method: Method,
  level: Level,
  query: string,
  operation: O,
  reason: string,
  options: RowOptions = {},
): RefusedRow<O> {
  return Object.freeze({ ...base(method, level, query, operation, options), treatment: 'refuse', reason });
}

/** The operations the proxy implements itself (src/proxy/router.ts has one handler for each). */
export const HANDLED_OPERATIONS = [
  'GetObject',
  'HeadObject',
  'PutObject',
  'CopyObject',
  'GetObjectAttributes',
  'ListObjects',
  'ListObjectsV2',
  'ListObjectVersions',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'ListParts',
] as const;
export type HandledOperation = (typeof HANDLED_OPERATIONS)[number];

const LISTING = ['delimiter', 'encoding-type', 'max-keys', 'prefix'];
const OBJECT_READ = [
  'versionId',
  'partNumber',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
];
const VERSION = ['versionId'];
const PAGE = ['continuation-token'];

const FALLBACK =
  'an upstream that does not know this sub-resource runs the plain object operation instead (SeaweedFS does)';

export const OPERATION_ROWS = [
  // service
  pass('GET', 'service', '', 'ListBuckets', {
    parameters: ['bucket-region', 'continuation-token', 'max-buckets', 'prefix'],
  }),
  pass('GET', 'service', '', 'ListDirectoryBuckets', {
    parameters: ['continuation-token', 'max-directory-buckets'],
    xId: 'ListDirectoryBuckets',
  }),

  // bucket: the bucket itself and its listings
  pass('PUT', 'bucket', '', 'CreateBucket', {
    body: xml('CreateBucketConfiguration', CONFIGURATION, true),
  }),
  pass('HEAD', 'bucket', '', 'HeadBucket'),
  pass('DELETE', 'bucket', '', 'DeleteBucket'),
  handle('rewrite-listing', 'GET', 'bucket', '', 'ListObjects', { parameters: [...LISTING, 'marker'] }),
  handle('rewrite-listing', 'GET', 'bucket', 'list-type=2', 'ListObjectsV2', {
    parameters: [...LISTING, 'continuation-token', 'fetch-owner', 'start-after'],
  }),
  handle('rewrite-listing', 'GET', 'bucket', 'versions', 'ListObjectVersions', {
    parameters: [...LISTING, 'key-marker', 'version-id-marker'],
  }),
  pass('GET', 'bucket', 'uploads', 'ListMultipartUploads', {
    parameters: ['delimiter', 'encoding-type', 'key-marker', 'max-uploads', 'prefix', 'upload-id-marker'],
  }),
  pass('POST', 'bucket', 'delete', 'DeleteObjects', { body: xml('Delete', DELETE_LIST) }),
  refuse(
    'POST',
    'bucket',
    '',
    'PostObject',
    'browser form uploads (POST Object) would store plaintext: the proxy cannot encrypt a file inside a form body',
    { formUpload: true },
  ),
  refuse(
    'GET',
    'bucket',
    'session',
    'CreateSession',
    "S3 Express session credentials would be the proxy's own, letting the client write around the proxy; " +
      'disable S3 Express session authentication in the client',
  ),
  pass('GET', 'bucket', 'location', 'GetBucketLocation'),

  // bucket configuration
  pass('GET', 'bucket', 'abac', 'GetBucketAbac'),
  pass('PUT', 'bucket', 'abac', 'PutBucketAbac', { body: xml('AbacStatus', SMALL_DOCUMENT) }),
  pass('GET', 'bucket', 'accelerate', 'GetBucketAccelerateConfiguration'),
  pass('PUT', 'bucket', 'accelerate', 'PutBucketAccelerateConfiguration', {
    body: xml('AccelerateConfiguration', SMALL_DOCUMENT),
  }),
  pass('GET', 'bucket', 'acl', 'GetBucketAcl'),
  pass('PUT', 'bucket', 'acl', 'PutBucketAcl', { body: xml('AccessControlPolicy', SMALL_DOCUMENT, true) }),
  pass('GET', 'bucket', 'analytics&id=*', 'GetBucketAnalyticsConfiguration'),
  pass('GET', 'bucket', 'analytics', 'ListBucketAnalyticsConfigurations', { parameters: PAGE }),
  pass('PUT', 'bucket', 'analytics&id=*', 'PutBucketAnalyticsConfiguration', {
    body: xml('AnalyticsConfiguration', CONFIGURATION),
  }),
  pass('DELETE', 'bucket', 'analytics&id=*', 'DeleteBucketAnalyticsConfiguration'),
  pass('GET', 'bucket', 'cors', 'GetBucketCors'),
  pass('PUT', 'bucket', 'cors', 'PutBucketCors', { body: xml('CORSConfiguration', CONFIGURATION) }),
  pass('DELETE', 'bucket', 'cors', 'DeleteBucketCors'),
  pass('GET', 'bucket', 'encryption', 'GetBucketEncryption'),
  pass('PUT', 'bucket', 'encryption', 'PutBucketEncryption', {
    body: xml('ServerSideEncryptionConfiguration', SMALL_DOCUMENT),
  }),
  pass('DELETE', 'bucket', 'encryption', 'DeleteBucketEncryption'),
  pass('GET', 'bucket', 'intelligent-tiering&id=*', 'GetBucketIntelligentTieringConfiguration'),
  pass('GET', 'bucket', 'intelligent-tiering', 'ListBucketIntelligentTieringConfigurations', {
    parameters: PAGE,
  }),
  pass('PUT', 'bucket', 'intelligent-tiering&id=*', 'PutBucketIntelligentTieringConfiguration', {
    body: xml('IntelligentTieringConfiguration', CONFIGURATION),
  }),
  pass('DELETE', 'bucket', 'intelligent-tiering&id=*', 'DeleteBucketIntelligentTieringConfiguration'),
  pass('GET', 'bucket', 'inventory&id=*', 'GetBucketInventoryConfiguration'),
  pass('GET', 'bucket', 'inventory', 'ListBucketInventoryConfigurations', { parameters: PAGE }),
  pass('PUT', 'bucket', 'inventory&id=*', 'PutBucketInventoryConfiguration', {
    body: xml('InventoryConfiguration', CONFIGURATION),
  }),
  pass('DELETE', 'bucket', 'inventory&id=*', 'DeleteBucketInventoryConfiguration'),
  pass('GET', 'bucket', 'lifecycle', 'GetBucketLifecycleConfiguration'),
  pass('PUT', 'bucket', 'lifecycle', 'PutBucketLifecycleConfiguration', {
    body: xml('LifecycleConfiguration', CONFIGURATION, true),
  }),
  pass('DELETE', 'bucket', 'lifecycle', 'DeleteBucketLifecycle'),
  pass('GET', 'bucket', 'logging', 'GetBucketLogging'),
  pass('PUT', 'bucket', 'logging', 'PutBucketLogging', { body: xml('BucketLoggingStatus', SMALL_DOCUMENT) }),
  pass('GET', 'bucket', 'metadataConfiguration', 'GetBucketMetadataConfiguration'),
  pass('POST', 'bucket', 'metadataConfiguration', 'CreateBucketMetadataConfiguration', {
    body: xml('MetadataConfiguration', CONFIGURATION),
  }),
  pass('DELETE', 'bucket', 'metadataConfiguration', 'DeleteBucketMetadataConfiguration'),
  pass('GET', 'bucket', 'metadataTable', 'GetBucketMetadataTableConfiguration'),
  pass('POST', 'bucket', 'metadataTable', 'CreateBucketMetadataTableConfiguration', {
    body: xml('MetadataTableConfiguration', CONFIGURATION),
  }),
  pass('DELETE', 'bucket', 'metadataTable', 'DeleteBucketMetadataTableConfiguration'),
  pass('PUT', 'bucket', 'metadataAnnotationTable', 'UpdateBucketMetadataAnnotationTableConfiguration', {
    body: xml('AnnotationTableConfiguration', CONFIGURATION),
  }),
  pass('PUT', 'bucket', 'metadataInventoryTable', 'UpdateBucketMetadataInventoryTableConfiguration', {
    body: xml('InventoryTableConfiguration', CONFIGURATION),
  }),
  pass('PUT', 'bucket', 'metadataJournalTable', 'UpdateBucketMetadataJournalTableConfiguration', {
    body: xml('JournalTableConfiguration', CONFIGURATION),
  }),
  pass('GET', 'bucket', 'metrics&id=*', 'GetBucketMetricsConfiguration'),
  pass('GET', 'bucket', 'metrics', 'ListBucketMetricsConfigurations', { parameters: PAGE }),
  pass('PUT', 'bucket', 'metrics&id=*', 'PutBucketMetricsConfiguration', {
    body: xml('MetricsConfiguration', CONFIGURATION),
  }),
  pass('DELETE', 'bucket', 'metrics&id=*', 'DeleteBucketMetricsConfiguration'),
  pass('GET', 'bucket', 'notification', 'GetBucketNotificationConfiguration'),
  pass('PUT', 'bucket', 'notification', 'PutBucketNotificationConfiguration', {
    body: xml('NotificationConfiguration', CONFIGURATION),
  }),
  pass('GET', 'bucket', 'object-lock', 'GetObjectLockConfiguration'),
  pass('PUT', 'bucket', 'object-lock', 'PutObjectLockConfiguration', {
    body: xml('ObjectLockConfiguration', SMALL_DOCUMENT, true),
  }),
  pass('GET', 'bucket', 'ownershipControls', 'GetBucketOwnershipControls'),
  pass('PUT', 'bucket', 'ownershipControls', 'PutBucketOwnershipControls', {
    body: xml('OwnershipControls', SMALL_DOCUMENT),
  }),
  pass('DELETE', 'bucket', 'ownershipControls', 'DeleteBucketOwnershipControls'),
  pass('GET', 'bucket', 'policy', 'GetBucketPolicy'),
  pass('PUT', 'bucket', 'policy', 'PutBucketPolicy', { body: json(CONFIGURATION) }),
  pass('DELETE', 'bucket', 'policy', 'DeleteBucketPolicy'),
  pass('GET', 'bucket', 'policyStatus', 'GetBucketPolicyStatus'),
  pass('GET', 'bucket', 'publicAccessBlock', 'GetPublicAccessBlock'),
  pass('PUT', 'bucket', 'publicAccessBlock', 'PutPublicAccessBlock', {
    body: xml('PublicAccessBlockConfiguration', SMALL_DOCUMENT),
  }),
  pass('DELETE', 'bucket', 'publicAccessBlock', 'DeletePublicAccessBlock'),
  pass('GET', 'bucket', 'replication', 'GetBucketReplication'),
  pass('PUT', 'bucket', 'replication', 'PutBucketReplication', {
    body: xml('ReplicationConfiguration', CONFIGURATION),
  }),
  pass('DELETE', 'bucket', 'replication', 'DeleteBucketReplication'),
  pass('GET', 'bucket', 'requestPayment', 'GetBucketRequestPayment'),
  pass('PUT', 'bucket', 'requestPayment', 'PutBucketRequestPayment', {
    body: xml('RequestPaymentConfiguration', SMALL_DOCUMENT),
  }),
  pass('GET', 'bucket', 'tagging', 'GetBucketTagging'),
  pass('PUT', 'bucket', 'tagging', 'PutBucketTagging', { body: xml('Tagging', SMALL_DOCUMENT) }),
  pass('DELETE', 'bucket', 'tagging', 'DeleteBucketTagging'),
  pass('GET', 'bucket', 'versioning', 'GetBucketVersioning'),
  pass('PUT', 'bucket', 'versioning', 'PutBucketVersioning', {
    body: xml('VersioningConfiguration', SMALL_DOCUMENT),
  }),
  pass('GET', 'bucket', 'website', 'GetBucketWebsite'),
  pass('PUT', 'bucket', 'website', 'PutBucketWebsite', { body: xml('WebsiteConfiguration', CONFIGURATION) }),
  pass('DELETE', 'bucket', 'website', 'DeleteBucketWebsite'),

  // object: data
  handle('decrypt', 'GET', 'object', '', 'GetObject', { parameters: OBJECT_READ }),
  handle('head', 'HEAD', 'object', '', 'HeadObject', { parameters: OBJECT_READ }),
  handle('encrypt', 'PUT', 'object', '', 'PutObject', { body: OBJECT_DATA }),
  handle('envelope', 'PUT', 'object', '', 'CopyObject', { headers: { 'x-amz-copy-source': 'present' } }),
  refuse(
    'PUT',
    'object',
    '',
    'AppendObject',
    'appending (x-amz-write-offset-bytes) would add bytes after the end of the encrypted object, outside its envelope',
    { headers: { 'x-amz-write-offset-bytes': 'present', 'x-amz-copy-source': 'any' } },
  ),
  refuse(
    'PUT',
    'object',
    'renameObject',
    'RenameObject',
    'renaming objects is not supported yet by this proxy version: it has not been verified that a renamed object keeps a readable envelope',
    { headers: { 'x-amz-rename-source': 'any' } },
  ),
  pass('DELETE', 'object', '', 'DeleteObject', { parameters: VERSION }),
  handle('head', 'GET', 'object', 'attributes', 'GetObjectAttributes', {
    parameters: VERSION,
    response: answer('GetObjectAttributesResponse'),
  }),
  refuse(
    'POST',
    'object',
    'select&select-type=2',
    'SelectObjectContent',
    'S3 Select would run the query over ciphertext: the storage cannot read the data',
  ),
  refuse(
    'GET',
    'object',
    'torrent',
    'GetObjectTorrent',
    'a torrent would describe and distribute the stored ciphertext, not the object that was written',
  ),

  // object: subresources that carry no object data
  pass('GET', 'object', 'tagging', 'GetObjectTagging', { parameters: VERSION, response: answer('Tagging') }),
  pass('PUT', 'object', 'tagging', 'PutObjectTagging', {
    parameters: VERSION,
    body: xml('Tagging', SMALL_DOCUMENT),
  }),
  pass('DELETE', 'object', 'tagging', 'DeleteObjectTagging', { parameters: VERSION }),
  pass('GET', 'object', 'acl', 'GetObjectAcl', {
    parameters: VERSION,
    response: answer('AccessControlPolicy'),
  }),
  pass('PUT', 'object', 'acl', 'PutObjectAcl', {
    parameters: VERSION,
    body: xml('AccessControlPolicy', SMALL_DOCUMENT, true),
  }),
  pass('GET', 'object', 'retention', 'GetObjectRetention', {
    parameters: VERSION,
    response: answer('Retention'),
  }),
  pass('PUT', 'object', 'retention', 'PutObjectRetention', {
    parameters: VERSION,
    body: xml('Retention', SMALL_DOCUMENT, true),
  }),
  pass('GET', 'object', 'legal-hold', 'GetObjectLegalHold', {
    parameters: VERSION,
    response: answer('LegalHold'),
  }),
  pass('PUT', 'object', 'legal-hold', 'PutObjectLegalHold', {
    parameters: VERSION,
    body: xml('LegalHold', SMALL_DOCUMENT, true),
  }),
  // A restore request carries no object data; a SELECT-type restore would only query ciphertext, which
  // yields nothing readable. An upstream without the route answers an error: a form body, which its
  // form-upload route would store, never gets past the body check.
  pass('POST', 'object', 'restore', 'RestoreObject', {
    parameters: VERSION,
    body: xml('RestoreRequest', SMALL_DOCUMENT, true),
  }),
  refuse(
    'GET',
    'object',
    'annotation&annotationName=*',
    'GetObjectAnnotation',
    `annotations are not supported by this proxy, and ${FALLBACK}: it would return the object itself`,
    { parameters: VERSION },
  ),
  refuse(
    'GET',
    'object',
    'annotation',
    'ListObjectAnnotations',
    `annotations are not supported by this proxy, and ${FALLBACK}: it would return the object itself`,
    { parameters: [...VERSION, ...PAGE, 'annotation-prefix', 'max-annotation-results'] },
  ),
  refuse(
    'PUT',
    'object',
    'annotation',
    'PutObjectAnnotation',
    `annotation payloads would be stored in plaintext, and ${FALLBACK}: it would store the payload as the object`,
    { parameters: ['annotationName', ...VERSION] },
  ),
  refuse(
    'DELETE',
    'object',
    'annotation',
    'DeleteObjectAnnotation',
    `annotations are not supported by this proxy, and ${FALLBACK}: it would delete the object`,
    { parameters: ['annotationName', ...VERSION] },
  ),
  refuse(
    'PUT',
    'object',
    'encryption',
    'UpdateObjectEncryption',
    `changing the server-side encryption of stored objects is not supported by this proxy, and ${FALLBACK}: ` +
      'it would store the request body, unencrypted, as the object',
    { parameters: VERSION },
  ),

  // multipart uploads
  handle('envelope', 'POST', 'object', 'uploads', 'CreateMultipartUpload'),
  handle('encrypt', 'PUT', 'object', 'partNumber=*&uploadId=*', 'UploadPart', { body: OBJECT_DATA }),
  // The source range is decrypted and re-encrypted as a part: a server-side copy would splice foreign ciphertext.
  handle('encrypt', 'PUT', 'object', 'partNumber=*&uploadId=*', 'UploadPartCopy', {
    headers: { 'x-amz-copy-source': 'present' },
  }),
  handle('envelope', 'POST', 'object', 'uploadId=*', 'CompleteMultipartUpload', {
    body: xml('CompleteMultipartUpload', DELETE_LIST),
  }),
  // Aborting and listing uploads carry no object data, and let clients clean up uploads begun before the proxy.
  pass('DELETE', 'object', 'uploadId=*', 'AbortMultipartUpload'),
  handle('rewrite-listing', 'GET', 'object', 'uploadId=*', 'ListParts', {
    parameters: ['max-parts', 'part-number-marker'],
    response: answer('ListPartsResult'),
  }),
] as const satisfies readonly AnyRow[];

/** S3 operations that no request to the proxy can name: no row matches them, and why that is right. */
export const UNROUTED_OPERATIONS = Object.freeze({
  WriteGetObjectResponse:
    "S3 Object Lambda's call back to S3 from inside a Lambda function, sent to the Object Lambda endpoint, never an application's request to storage",
} as const);

export type OperationName =
  | (typeof OPERATION_ROWS)[number]['operation']
  | keyof typeof UNROUTED_OPERATIONS
  | 'Unknown';

/** A row of the table, as classification hands it to the router. */
export type OperationRow =
  | HandledRow<HandledOperation>
  | PassthroughRow<OperationName>
  | RefusedRow<OperationName>;

/** The document an object-level read's answer must be, where the row declares one. */
export function responseRuleOf(row: OperationRow | undefined): XmlDocumentRule | undefined {
  return row !== undefined && 'response' in row ? row.response : undefined;
}

/** `PUT ?tagging on an object`: how refusals and the docs name a row. */
export function describeRow(row: OperationRow): string {
  const target =
    row.level === 'service' ? 'the service' : `a${row.level === 'object' ? 'n' : ''} ${row.level}`;
  return `${row.method} on ${target}${row.query === '' ? '' : ` with ?${row.query}`}`;
}

export const OPERATION_NAMES: readonly OperationName[] = Object.freeze([
  ...OPERATION_ROWS.map((row) => row.operation),
  ...(Object.keys(UNROUTED_OPERATIONS) as (keyof typeof UNROUTED_OPERATIONS)[]),
  'Unknown',
]);

export function isOperationName(value: string): value is OperationName {
  return (OPERATION_NAMES as readonly string[]).includes(value);
}

export function rowOf(operation: OperationName): OperationRow | undefined {
  return OPERATION_ROWS.find((row) => row.operation === operation);
}

/** Every query name some row requires: the sub-resources S3 (and this table) know. */
export const KNOWN_SUBRESOURCES: ReadonlySet<string> = new Set(
  OPERATION_ROWS.flatMap((row) => row.requires.map((requirement) => requirement.name)),
);

/** Every query name some row requires or accepts. */
export const KNOWN_QUERY_NAMES: ReadonlySet<string> = new Set([
  ...KNOWN_SUBRESOURCES,
  ...OPERATION_ROWS.flatMap((row) => row.parameters),
]);
