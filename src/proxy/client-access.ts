/**
 * Inbound authentication and authorisation (R-REL-5), the two steps the router takes before any handler
 * when client credentials are configured: the request's SigV4 signature is verified against the listed
 * credentials (src/s3/sigv4), then its operation is checked against that credential's grants
 * (src/auth/authorize.ts). Nothing is read from the body or sent upstream before both passed; the body's
 * own signatures (aws-chunked) and hash are verified while it streams, before the upstream commits it.
 */
import { decideAccess } from '../auth/authorize.ts';
import type { ClientCredential } from '../auth/client-credentials.ts';
import { virtualHostBucket } from '../s3/classify.ts';
import { ClientRefusal } from '../s3/sigv4/refusal.ts';
import { verifyRequestSignature } from '../s3/sigv4/verify.ts';
import { parseCopySource } from './copy.ts';
import { deleteObjectsWithinGrants } from './delete-objects.ts';
import type { Exchange } from './exchange.ts';
import { firstHeader } from './headers.ts';
import { listVisibleBuckets } from './list-buckets.ts';

type Handler = (exchange: Exchange) => Promise<void>;

/** Verifies the request's signature and records who signed it; a no-op while authentication is off. */
export function authenticateClient(exchange: Exchange): void {
  const lookup = exchange.deps.clientCredentials;
  if (lookup === undefined) return;
  const { req } = exchange;
  let credential: ClientCredential | undefined;
  const verified = verifyRequestSignature(
    {
      method: req.method ?? 'GET',
      rawUrl: req.url ?? '/',
      rawHeaders: req.rawHeaders,
      virtualHostBucket: virtualHostBucket(req.headers.host, exchange.deps.virtualHostDomains),
    },
    (accessKeyId) => {
      credential = lookup.lookup(accessKeyId);
      return credential?.secretAccessKey;
    },
  );
  // A presigned URL may fix the payload's hash in its query; the body is then checked against it like a header.
  if (verified.form === 'presigned' && /^[0-9a-f]{64}$/i.test(verified.payloadHash)) {
    req.headers['x-amz-content-sha256'] = verified.payloadHash;
  }
  const chain = verified.chunkSignatures;
  exchange.client = {
    accessKeyId: verified.accessKeyId,
    grants: credential?.grants ?? [],
    ...(chain === undefined ? {} : { chunkSignatures: chain }),
  };
}

/**
 * Checks the operation against the client's grants. Returns the handler that must answer instead of the
 * usual one (ListBuckets filtered, DeleteObjects per key), or undefined for the usual one.
 */
export function authorisedHandler(exchange: Exchange): Handler | undefined {
  const { client, s3, req } = exchange;
  if (client === undefined) return undefined;
  const copies = s3.operation === 'CopyObject' || s3.operation === 'UploadPartCopy';
  const decision = decideAccess(
    {
      operation: s3.operation,
      bucket: s3.bucket,
      key: s3.key,
      query: s3.query,
      copySource: copies ? parseCopySource(firstHeader(req.headers, 'x-amz-copy-source')) : undefined,
    },
    client.grants,
  );
  switch (decision.kind) {
    case 'allow':
      return undefined;
    case 'filter-buckets':
      return listVisibleBuckets;
    case 'per-key-delete':
      return deleteObjectsWithinGrants;
    case 'deny':
      throw new ClientRefusal(
        'not_allowed',
        'AccessDenied',
        `Access Denied: access key ${client.accessKeyId} may not ${decision.reason}.`,
      );
  }
}
