import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Grant } from '../auth/client-credentials.ts';
import type { ClientCredentialLookup } from '../auth/credentials-store.ts';
import type { KeyRing } from '../kms/key-ring.ts';
import type { ChunkSignatureVerifier } from '../s3/aws-chunked/index.ts';
import type { S3Request } from '../s3/classify.ts';
import { S3Error } from '../s3/errors.ts';
import type { ClientGuard } from '../server/client-limits.ts';
import type { ProxyMetrics } from '../server/metrics.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import type { LayoutCache } from './stored-object.ts';

/** What every handler needs from the running proxy; built once in main and shared. */
export type ProxyDeps = {
  upstream: UpstreamClient;
  /** The Transit keys, chosen per bucket and prefix. */
  keys: KeyRing;
  /** Part layouts of multipart objects, found once per stored version. */
  layouts: LayoutCache;
  maxObjectSize: number;
  unencryptedObjects: 'serve' | 'refuse';
  virtualHostDomains: string[];
  logger: Logger;
  metrics: ProxyMetrics;
  /** Admits requests against the budgets and ends those whose client keeps the proxy waiting. */
  clients: ClientGuard;
  /** Set when CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE is: every request must be signed by one of them. */
  clientCredentials?: ClientCredentialLookup | undefined;
};

/** The client that signed the request, once its signature verified (inbound authentication). */
export type AuthenticatedClient = {
  readonly accessKeyId: string;
  readonly grants: readonly Grant[];
  /** A verifier of the chunk and trailer signatures, for a signed aws-chunked body (one per body). */
  readonly chunkSignatures?: () => ChunkSignatureVerifier;
};

/** One client request on its way through the proxy. */
export type Exchange = {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly id: string;
  readonly s3: S3Request;
  readonly deps: ProxyDeps;
  readonly log: Logger;
  /** Answers `Expect: 100-continue` (once) when the handler has decided to read the body. */
  continueBody(): void;
  /** True while the client waits for a 100 Continue that was not sent: it has not sent its body. */
  readonly awaitingContinue: boolean;
  /** Who signed the request; undefined while inbound authentication is off. */
  client?: AuthenticatedClient;
  /** Plaintext bytes that crossed the client side of the proxy, for metrics. */
  bytesIn: number;
  bytesOut: number;
};

export function objectResource(s3: S3Request): string {
  return s3.key === undefined ? `/${s3.bucket ?? ''}` : `/${s3.bucket}/${s3.key}`;
}

export function queryValue(s3: S3Request, name: string): string | undefined {
  return s3.query.find(([key]) => key === name)?.[1];
}

/** The `partNumber` query parameter, 1..10000 as S3 allows; undefined when absent. */
export function partNumberOf(s3: S3Request): number | undefined {
  const text = queryValue(s3, 'partNumber');
  if (text === undefined) return undefined;
  const partNumber = Number(text);
  if (!/^\d{1,5}$/.test(text) || partNumber < 1 || partNumber > 10000) {
    throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive.');
  }
  return partNumber;
}
