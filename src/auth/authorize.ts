/**
 * What an authenticated client may do, from the grants of its credential (client-credentials.ts). Pure:
 * a request and grants in, a decision out. The rules (docs/SECURITY.md, "Client credentials"):
 *
 * - Reads are the operations named Get*, Head* and List*; everything else writes (and a read-only grant
 *   refuses it).
 * - An object operation needs a grant on its bucket whose prefixes (if any) contain the key; a copy also
 *   needs read access to its source.
 * - A listing needs its `prefix` to lie inside a granted prefix (a listing of the bucket root, or of a
 *   parent prefix with a delimiter, would show names outside the grant, and is refused).
 * - HeadBucket and GetBucketLocation need any grant on the bucket; other bucket operations (configuration,
 *   CreateBucket, DeleteBucket) a grant on the whole bucket.
 * - ListBuckets is answered with the granted buckets only; DeleteObjects with a per-key AccessDenied in its
 *   result for each key outside the grants, as S3 does.
 */
import type { OperationName } from '../s3/operations.ts';
import type { Grant } from './client-credentials.ts';

export type Access = 'read' | 'write';

export type AccessRequest = {
  readonly operation: OperationName;
  readonly bucket?: string | undefined;
  readonly key?: string | undefined;
  readonly query: ReadonlyArray<readonly [string, string]>;
  /** CopyObject and UploadPartCopy: the object read. */
  readonly copySource?: { readonly bucket: string; readonly key: string } | undefined;
};

export type AccessDecision =
  | { readonly kind: 'allow' }
  | { readonly kind: 'deny'; readonly reason: string }
  /** ListBuckets / ListDirectoryBuckets: answer with the granted buckets only. */
  | { readonly kind: 'filter-buckets' }
  /** DeleteObjects: each key is checked; the ones outside the grants get AccessDenied in the result. */
  | { readonly kind: 'per-key-delete' };

const LISTINGS = new Set<OperationName>([
  'ListObjects',
  'ListObjectsV2',
  'ListObjectVersions',
  'ListMultipartUploads',
]);
const BUCKET_PROBES = new Set<OperationName>(['HeadBucket', 'GetBucketLocation']);

export function accessOf(operation: OperationName): Access {
  return /^(Get|Head|List)/.test(operation) ? 'read' : 'write';
}

export function grantCoversBucket(grant: Grant, bucket: string): boolean {
  if (grant.bucket === '*') return true;
  return grant.bucket.endsWith('*') ? bucket.startsWith(grant.bucket.slice(0, -1)) : grant.bucket === bucket;
}

function permits(grant: Grant, access: Access): boolean {
  return access === 'read' || !grant.readOnly;
}

export function mayAccessObject(
  grants: readonly Grant[],
  bucket: string,
  key: string,
  access: Access,
): boolean {
  return grants.some(
    (grant) =>
      grantCoversBucket(grant, bucket) &&
      permits(grant, access) &&
      (grant.prefixes.length === 0 || grant.prefixes.some((prefix) => key.startsWith(prefix))),
  );
}

/** Whether ListBuckets shows the bucket: any grant on it. */
export function maySeeBucket(grants: readonly Grant[], bucket: string): boolean {
  return grants.some((grant) => grantCoversBucket(grant, bucket));
}

export function decideAccess(request: AccessRequest, grants: readonly Grant[]): AccessDecision {
  const { operation, bucket, key } = request;
  const access = accessOf(operation);
  const deny = (what: string): AccessDecision => ({
    kind: 'deny',
    reason: `${access === 'read' ? 'read' : 'write'} ${what}`,
  });

  if (bucket === undefined) {
    if (operation === 'ListBuckets' || operation === 'ListDirectoryBuckets') {
      return grants.some((grant) => grant.bucket === '*') ? { kind: 'allow' } : { kind: 'filter-buckets' };
    }
    return deny('the service');
  }

  if (key !== undefined) {
    if (!mayAccessObject(grants, bucket, key, access)) return deny(`${bucket}/${key}`);
    const source = request.copySource;
    if (source !== undefined && !mayAccessObject(grants, source.bucket, source.key, 'read')) {
      return { kind: 'deny', reason: `read the copy source ${source.bucket}/${source.key}` };
    }
    return { kind: 'allow' };
  }

  if (LISTINGS.has(operation)) {
    const prefix = request.query.find(([name]) => name === 'prefix')?.[1] ?? '';
    const inside = grants.some(
      (grant) =>
        grantCoversBucket(grant, bucket) &&
        (grant.prefixes.length === 0 || grant.prefixes.some((allowed) => prefix.startsWith(allowed))),
    );
    return inside ? { kind: 'allow' } : deny(`a listing of ${bucket} with prefix "${prefix}"`);
  }
  if (BUCKET_PROBES.has(operation)) {
    return maySeeBucket(grants, bucket) ? { kind: 'allow' } : deny(`bucket ${bucket}`);
  }
  const whole = grants.some(
    (grant) => grantCoversBucket(grant, bucket) && grant.prefixes.length === 0 && permits(grant, access),
  );
  if (operation === 'DeleteObjects') {
    if (whole) return { kind: 'allow' };
    const someWrite = grants.some((grant) => grantCoversBucket(grant, bucket) && !grant.readOnly);
    return someWrite ? { kind: 'per-key-delete' } : deny(`objects of bucket ${bucket}`);
  }
  return whole
    ? { kind: 'allow' }
    : deny(`bucket ${bucket} (${operation} needs a grant on the whole bucket)`);
}
