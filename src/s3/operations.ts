/**
 * Every S3 operation the classifier can name, and what the proxy does with it (R-S3-6). Refuse by default:
 * an operation is passed through only when it carries no object data either way, and anything the proxy
 * cannot keep encrypted is refused with a reason that says what would go wrong.
 */

export const OPERATION_NAMES = [
  // service
  'ListBuckets',
  'ListDirectoryBuckets',
  // bucket
  'CreateBucket',
  'DeleteBucket',
  'HeadBucket',
  'ListObjects',
  'ListObjectsV2',
  'ListObjectVersions',
  'ListMultipartUploads',
  'DeleteObjects',
  'PostObject',
  'CreateSession',
  'GetBucketLocation',
  'GetBucketAbac',
  'PutBucketAbac',
  'GetBucketAccelerateConfiguration',
  'PutBucketAccelerateConfiguration',
  'GetBucketAcl',
  'PutBucketAcl',
  'GetBucketAnalyticsConfiguration',
  'ListBucketAnalyticsConfigurations',
  'PutBucketAnalyticsConfiguration',
  'DeleteBucketAnalyticsConfiguration',
  'GetBucketCors',
  'PutBucketCors',
  'DeleteBucketCors',
  'GetBucketEncryption',
  'PutBucketEncryption',
  'DeleteBucketEncryption',
  'GetBucketIntelligentTieringConfiguration',
  'ListBucketIntelligentTieringConfigurations',
  'PutBucketIntelligentTieringConfiguration',
  'DeleteBucketIntelligentTieringConfiguration',
  'GetBucketInventoryConfiguration',
  'ListBucketInventoryConfigurations',
  'PutBucketInventoryConfiguration',
  'DeleteBucketInventoryConfiguration',
  'GetBucketLifecycleConfiguration',
  'PutBucketLifecycleConfiguration',
  'DeleteBucketLifecycle',
  'GetBucketLogging',
  'PutBucketLogging',
  'GetBucketMetadataConfiguration',
  'CreateBucketMetadataConfiguration',
  'DeleteBucketMetadataConfiguration',
  'GetBucketMetadataTableConfiguration',
  'CreateBucketMetadataTableConfiguration',
  'DeleteBucketMetadataTableConfiguration',
  'UpdateBucketMetadataAnnotationTableConfiguration',
  'UpdateBucketMetadataInventoryTableConfiguration',
  'UpdateBucketMetadataJournalTableConfiguration',
  'GetBucketMetricsConfiguration',
  'ListBucketMetricsConfigurations',
  'PutBucketMetricsConfiguration',
  'DeleteBucketMetricsConfiguration',
  'GetBucketNotificationConfiguration',
  'PutBucketNotificationConfiguration',
  'GetObjectLockConfiguration',
  'PutObjectLockConfiguration',
  'GetBucketOwnershipControls',
  'PutBucketOwnershipControls',
  'DeleteBucketOwnershipControls',
  'GetBucketPolicy',
  'PutBucketPolicy',
  'DeleteBucketPolicy',
  'GetBucketPolicyStatus',
  'GetPublicAccessBlock',
  'PutPublicAccessBlock',
  'DeletePublicAccessBlock',
  'GetBucketReplication',
  'PutBucketReplication',
  'DeleteBucketReplication',
  'GetBucketRequestPayment',
  'PutBucketRequestPayment',
  'GetBucketTagging',
  'PutBucketTagging',
  'DeleteBucketTagging',
  'GetBucketVersioning',
  'PutBucketVersioning',
  'GetBucketWebsite',
  'PutBucketWebsite',
  'DeleteBucketWebsite',
  // object
  'GetObject',
  'HeadObject',
  'PutObject',
  'AppendObject',
  'CopyObject',
  'RenameObject',
  'DeleteObject',
  'GetObjectTagging',
  'PutObjectTagging',
  'DeleteObjectTagging',
  'GetObjectAcl',
  'PutObjectAcl',
  'GetObjectAttributes',
  'GetObjectRetention',
  'PutObjectRetention',
  'GetObjectLegalHold',
  'PutObjectLegalHold',
  'GetObjectAnnotation',
  'ListObjectAnnotations',
  'PutObjectAnnotation',
  'DeleteObjectAnnotation',
  'UpdateObjectEncryption',
  'RestoreObject',
  'SelectObjectContent',
  'GetObjectTorrent',
  // multipart
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'AbortMultipartUpload',
  'ListParts',
  'Unknown',
] as const;

export type OperationName = (typeof OPERATION_NAMES)[number];

/**
 * - encrypt: the request body is object data, encrypted before it goes upstream.
 * - decrypt: the response body is object data, decrypted before it reaches the client.
 * - head: object metadata, with plaintext sizes and ETags in place of the stored ones.
 * - rewrite-listing: a listing whose sizes (and ETags) are rewritten to the plaintext's.
 * - envelope: carries no object data, but the envelope's bookkeeping: metadata added or kept, ETags mapped.
 * - passthrough: carries no object data either way; forwarded as it is, re-signed.
 * - refuse: answered with an S3 error naming `reason`, never forwarded.
 */
export type Handling =
  | 'encrypt'
  | 'decrypt'
  | 'head'
  | 'rewrite-listing'
  | 'envelope'
  | 'passthrough'
  | 'refuse';

export interface OperationHandling {
  readonly handling: Handling;
  /** Present exactly when `handling` is `refuse`: what would go wrong if the proxy forwarded the request. */
  readonly reason?: string;
}

const handled = (handling: Exclude<Handling, 'refuse'>): OperationHandling => Object.freeze({ handling });
const passthrough = handled('passthrough');
const refuse = (reason: string): OperationHandling => Object.freeze({ handling: 'refuse', reason });

export const OPERATIONS: Readonly<Record<OperationName, OperationHandling>> = Object.freeze({
  ListBuckets: passthrough,
  ListDirectoryBuckets: passthrough,

  CreateBucket: passthrough,
  DeleteBucket: passthrough,
  HeadBucket: passthrough,
  ListObjects: handled('rewrite-listing'),
  ListObjectsV2: handled('rewrite-listing'),
  ListObjectVersions: handled('rewrite-listing'),
  ListMultipartUploads: passthrough,
  DeleteObjects: passthrough,
  PostObject: refuse(
    'browser form uploads (POST Object) would store plaintext: the proxy cannot encrypt a file inside a form body',
  ),
  CreateSession: refuse(
    "S3 Express session credentials would be the proxy's own, letting the client write around the proxy; " +
      'disable S3 Express session authentication in the client',
  ),
  GetBucketLocation: passthrough,
  GetBucketAbac: passthrough,
  PutBucketAbac: passthrough,
  GetBucketAccelerateConfiguration: passthrough,
  PutBucketAccelerateConfiguration: passthrough,
  GetBucketAcl: passthrough,
  PutBucketAcl: passthrough,
  GetBucketAnalyticsConfiguration: passthrough,
  ListBucketAnalyticsConfigurations: passthrough,
  PutBucketAnalyticsConfiguration: passthrough,
  DeleteBucketAnalyticsConfiguration: passthrough,
  GetBucketCors: passthrough,
  PutBucketCors: passthrough,
  DeleteBucketCors: passthrough,
  GetBucketEncryption: passthrough,
  PutBucketEncryption: passthrough,
  DeleteBucketEncryption: passthrough,
  GetBucketIntelligentTieringConfiguration: passthrough,
  ListBucketIntelligentTieringConfigurations: passthrough,
  PutBucketIntelligentTieringConfiguration: passthrough,
  DeleteBucketIntelligentTieringConfiguration: passthrough,
  GetBucketInventoryConfiguration: passthrough,
  ListBucketInventoryConfigurations: passthrough,
  PutBucketInventoryConfiguration: passthrough,
  DeleteBucketInventoryConfiguration: passthrough,
  GetBucketLifecycleConfiguration: passthrough,
  PutBucketLifecycleConfiguration: passthrough,
  DeleteBucketLifecycle: passthrough,
  GetBucketLogging: passthrough,
  PutBucketLogging: passthrough,
  GetBucketMetadataConfiguration: passthrough,
  CreateBucketMetadataConfiguration: passthrough,
  DeleteBucketMetadataConfiguration: passthrough,
  GetBucketMetadataTableConfiguration: passthrough,
  CreateBucketMetadataTableConfiguration: passthrough,
  DeleteBucketMetadataTableConfiguration: passthrough,
  UpdateBucketMetadataAnnotationTableConfiguration: passthrough,
  UpdateBucketMetadataInventoryTableConfiguration: passthrough,
  UpdateBucketMetadataJournalTableConfiguration: passthrough,
  GetBucketMetricsConfiguration: passthrough,
  ListBucketMetricsConfigurations: passthrough,
  PutBucketMetricsConfiguration: passthrough,
  DeleteBucketMetricsConfiguration: passthrough,
  GetBucketNotificationConfiguration: passthrough,
  PutBucketNotificationConfiguration: passthrough,
  GetObjectLockConfiguration: passthrough,
  PutObjectLockConfiguration: passthrough,
  GetBucketOwnershipControls: passthrough,
  PutBucketOwnershipControls: passthrough,
  DeleteBucketOwnershipControls: passthrough,
  GetBucketPolicy: passthrough,
  PutBucketPolicy: passthrough,
  DeleteBucketPolicy: passthrough,
  GetBucketPolicyStatus: passthrough,
  GetPublicAccessBlock: passthrough,
  PutPublicAccessBlock: passthrough,
  DeletePublicAccessBlock: passthrough,
  GetBucketReplication: passthrough,
  PutBucketReplication: passthrough,
  DeleteBucketReplication: passthrough,
  GetBucketRequestPayment: passthrough,
  PutBucketRequestPayment: passthrough,
  GetBucketTagging: passthrough,
  PutBucketTagging: passthrough,
  DeleteBucketTagging: passthrough,
  GetBucketVersioning: passthrough,
  PutBucketVersioning: passthrough,
  GetBucketWebsite: passthrough,
  PutBucketWebsite: passthrough,
  DeleteBucketWebsite: passthrough,

  GetObject: handled('decrypt'),
  HeadObject: handled('head'),
  PutObject: handled('encrypt'),
  AppendObject: refuse(
    'appending (x-amz-write-offset-bytes) would add bytes after the end of the encrypted object, outside its envelope',
  ),
  CopyObject: handled('envelope'),
  RenameObject: refuse(
    'renaming objects is not supported yet by this proxy version: it has not been verified that a renamed object keeps a readable envelope',
  ),
  DeleteObject: passthrough,
  GetObjectTagging: passthrough,
  PutObjectTagging: passthrough,
  DeleteObjectTagging: passthrough,
  GetObjectAcl: passthrough,
  PutObjectAcl: passthrough,
  GetObjectAttributes: handled('head'),
  GetObjectRetention: passthrough,
  PutObjectRetention: passthrough,
  GetObjectLegalHold: passthrough,
  PutObjectLegalHold: passthrough,
  GetObjectAnnotation: passthrough,
  ListObjectAnnotations: passthrough,
  PutObjectAnnotation: refuse(
    'annotation payloads would be stored in plaintext: the proxy does not encrypt them',
  ),
  DeleteObjectAnnotation: passthrough,
  UpdateObjectEncryption: passthrough,
  // A restore request carries no object data; a SELECT-type restore would only query ciphertext, which
  // yields nothing readable, so passing it through exposes nothing.
  RestoreObject: passthrough,
  SelectObjectContent: refuse(
    'S3 Select would run the query over ciphertext: the storage cannot read the data',
  ),
  GetObjectTorrent: refuse(
    'a torrent would describe and distribute the stored ciphertext, not the object that was written',
  ),

  CreateMultipartUpload: handled('envelope'),
  UploadPart: handled('encrypt'),
  // The source range is decrypted and re-encrypted as a part: a server-side copy would splice foreign ciphertext.
  UploadPartCopy: handled('encrypt'),
  CompleteMultipartUpload: handled('envelope'),
  // Aborting and listing uploads carry no object data, and let clients clean up uploads begun before the proxy.
  AbortMultipartUpload: passthrough,
  ListParts: handled('rewrite-listing'),

  Unknown: refuse('unknown operation: refused so that no object data can pass unencrypted'),
} satisfies Record<OperationName, OperationHandling>);

export function handlingOf(operation: OperationName): OperationHandling {
  return OPERATIONS[operation];
}

export function isOperationName(value: string): value is OperationName {
  return (OPERATION_NAMES as readonly string[]).includes(value);
}
