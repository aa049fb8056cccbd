/**
 * Buckets outside the configured region (COMPAT 20). S3 says so in three ways: a 301 PermanentRedirect
 * (regional endpoint of another region), a 400 AuthorizationHeaderMalformed naming the expected region
 * (signature scoped to the wrong region), or any 3xx/400/403 with `x-amz-bucket-region`. The proxy
 * learns the bucket's region from the answer, keeps it, and signs (and, on AWS, addresses) the bucket's
 * requests for that region from then on.
 */

/** Upper bound on remembered buckets: a proxy serves a handful; the bound only keeps a hostile client from growing it. */
const MAX_REMEMBERED_BUCKETS = 10_000;
const REGION = /^[a-z]{2}(-[a-z0-9]+){1,4}$/;

export class BucketRegions {
  readonly #regions = new Map<string, string>();
  readonly #configured: string;

  constructor(configured: string) {
    this.#configured = configured;
  }

  regionOf(bucket: string | undefined): string {
    return (bucket === undefined ? undefined : this.#regions.get(bucket)) ?? this.#configured;
  }

  remember(bucket: string, region: string): void {
    if (this.#regions.size >= MAX_REMEMBERED_BUCKETS && !this.#regions.has(bucket)) {
      const oldest = this.#regions.keys().next().value;
      if (oldest !== undefined) this.#regions.delete(oldest);
    }
    this.#regions.set(bucket, region);
  }
}

/** Whether an answer can be a wrong-region answer at all, from its status alone (before reading a body). */
export function mayBeWrongRegion(status: number): boolean {
  return status === 301 || status === 307 || status === 400 || status === 403;
}

/**
 * The region an upstream answer names for the bucket, if it is a wrong-region answer: the
 * `x-amz-bucket-region` header of a 3xx/400/403, or the `<Region>` of an AuthorizationHeaderMalformed or
 * PermanentRedirect error body. Undefined for any other answer, and for a region that is not one.
 */
export function regionFromAnswer(
  status: number,
  headerRegion: string | undefined,
  errorBody: string | undefined,
): string | undefined {
  if (!mayBeWrongRegion(status)) return undefined;
  const code = errorBody === undefined ? undefined : /<Code>([^<]*)<\/Code>/.exec(errorBody)?.[1];
  const isRegionError =
    status === 301 ||
    status === 307 ||
    code === 'AuthorizationHeaderMalformed' ||
    code === 'PermanentRedirect' ||
    code === 'IllegalLocationConstraintException';
  // A 403 or another 400 names the bucket's region too, but is a refusal in its own right unless it says so.
  if (!isRegionError && (status === 403 || code !== undefined)) return undefined;
  const named =
    headerRegion ?? (errorBody === undefined ? undefined : /<Region>([^<]*)<\/Region>/.exec(errorBody)?.[1]);
  return named !== undefined && REGION.test(named.trim()) ? named.trim() : undefined;
}

/**
 * The endpoint hostname for a region: AWS's regional S3 endpoints (`s3.<region>.amazonaws.com`,
 * `s3-<region>…`, the global `s3.amazonaws.com`) are per region; any other endpoint serves every region
 * of its provider under one name and is kept.
 */
export function hostnameForRegion(configuredHostname: string, region: string): string {
  const aws = /^s3(?:[.-](?:dualstack\.)?[a-z]{2}(?:-[a-z0-9]+){1,4})?\.amazonaws\.com$/.exec(
    configuredHostname,
  );
  if (aws === null) return configuredHostname;
  const dualstack = configuredHostname.includes('.dualstack.') ? 'dualstack.' : '';
  return `s3.${dualstack}${region}.amazonaws.com`;
}
