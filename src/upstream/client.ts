import { Readable } from 'node:stream';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { Agent, type Dispatcher } from 'undici';
import { S3Error } from '../s3/errors.ts';
import { canonicalQueryString, encodeKeyPath, encodeRfc3986 } from '../s3/uri.ts';
import { errorXml } from '../s3/xml/error.ts';
import { BucketRegions, hostnameForRegion, mayBeWrongRegion, regionFromAnswer } from './bucket-region.ts';
import { SigningSha256 } from './signing-hash.ts';

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/**
 * The methods undici sends `Content-Length: 0` for when the body is empty; on any other method it leaves
 * the header off the wire (RFC 9110 §8.6), so it must not be signed there either (COMPAT 24).
 */
const METHODS_WITH_PAYLOAD = new Set(['PUT', 'POST', 'PATCH']);

/**
 * Response bytes undici buffers before it stops reading the socket. Its default, 64 KiB, is less than one
 * sealed segment (65552 bytes), so a reader a little behind would pause and resume the socket for every
 * segment; a few segments of slack let several arrive, and be opened, in one turn.
 */
const RESPONSE_HIGH_WATER_MARK = 256 * 1024;

export type UpstreamAddressing = 'auto' | 'path' | 'virtual';

export type UpstreamOptions = {
  endpoint: { protocol: 'http:' | 'https:'; hostname: string; port: number; basePath: string };
  region: string;
  addressing: UpstreamAddressing;
  credentials?: AwsCredentialIdentityProvider;
};

export type UpstreamRequest = {
  method: string;
  bucket?: string | undefined;
  key?: string | undefined;
  query?: ReadonlyArray<readonly [string, string]>;
  /** Lower-case names; the caller has already removed the client's signing and hop-by-hop headers. */
  headers?: Record<string, string>;
  /** A stream needs `contentLength`: S3 refuses chunked transfer encoding on writes. */
  body?: Readable | Buffer | undefined;
  contentLength?: number;
  signal?: AbortSignal;
};

export type UpstreamResponse = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { text(): Promise<string> };
};

/**
 * The pooled HTTP client to the real S3 endpoint. Every request is signed anew with SigV4 from the AWS
 * credential chain; bodies stream and are declared with an exact Content-Length, payloads are sent as
 * UNSIGNED-PAYLOAD so that no body has to be buffered to be hashed.
 */
export class UpstreamClient {
  readonly #options: UpstreamOptions;
  readonly #agent: Agent;
  readonly #signer: SignatureV4;
  readonly #origin: string;
  readonly #regions: BucketRegions;

  constructor(options: UpstreamOptions) {
    this.#options = options;
    const { protocol, hostname, port } = options.endpoint;
    this.#origin = `${protocol}//${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`;
    // No cap on connections: a cap is a queue, and a queue behind uploads that trickle or readers that
    // stall starves every other request. What bounds connections is the proxy's request budget
    // (CLOUDTASER_S3PROXY_MAX_REQUESTS; docs/decisions/0006-slow-clients-and-silent-vault.md).
    this.#agent = new Agent({
      connections: null,
      keepAliveTimeout: 30_000,
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
    });
    this.#signer = new SignatureV4({
      credentials: options.credentials ?? fromNodeProviderChain(),
      region: options.region,
      service: 's3',
      sha256: SigningSha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
    this.#regions = new BucketRegions(options.region);
  }

  get origin(): string {
    return this.#origin;
  }

  /** Path and Host for a bucket and key, in the addressing style the endpoint wants. */
  target(
    bucket: string | undefined,
    key: string | undefined,
  ): { host: string; path: string; hostname: string } {
    const { port, protocol, basePath } = this.#options.endpoint;
    const hostname = hostnameForRegion(this.#options.endpoint.hostname, this.#regions.regionOf(bucket));
    const defaultPort = protocol === 'https:' ? 443 : 80;
    const hostSuffix = port === defaultPort ? '' : `:${port}`;
    const keyPath = key === undefined ? '' : `/${encodeKeyPath(key)}`;
    if (bucket !== undefined && this.#virtualHosted(bucket)) {
      const virtualHostname = `${bucket}.${hostname}`;
      return {
        host: `${virtualHostname}${hostSuffix}`,
        hostname: virtualHostname,
        path: `${basePath}${keyPath || '/'}`,
      };
    }
    const bucketPath =
      bucket === undefined ? '/' : `/${encodeRfc3986(bucket)}${keyPath || (key === undefined ? '' : '/')}`;
    const hostHeader = hostname.includes(':') ? `[${hostname}]` : hostname;
    return { host: `${hostHeader}${hostSuffix}`, hostname, path: `${basePath}${bucketPath}` };
  }

  /**
   * Sends one request, signed for the bucket's region. A wrong-region answer (COMPAT 20) teaches the
   * bucket's region; a request without a body or with a Buffer body is then signed anew and sent once
   * more. A streamed body cannot be replayed: the client gets 503 SlowDown, which SDKs retry, and the
   * retry goes to the learned region.
   */
  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const region = this.#regions.regionOf(request.bucket);
    const response = await this.#sendSigned(request, region);
    if (request.bucket === undefined || !mayBeWrongRegion(response.status)) return response;
    const { answer, named } = await examineRegion(response);
    if (named === undefined || named === region) return answer;
    this.#regions.remember(request.bucket, named);
    if (request.body === undefined || Buffer.isBuffer(request.body)) return this.#sendSigned(request, named);
    drainBody(answer.body);
    return synthesizedError(
      new S3Error(
        'SlowDown',
        `Bucket ${request.bucket} is in region ${named}, not ${region}; retry, the proxy now signs for ${named}.`,
      ),
    );
  }

  async #sendSigned(request: UpstreamRequest, region: string): Promise<UpstreamResponse> {
    const { host, path, hostname } = this.target(request.bucket, request.key);
    const query = request.query ?? [];
    const headers: Record<string, string> = { ...request.headers, host };
    const body = Buffer.isBuffer(request.body) && request.body.length === 0 ? undefined : request.body;
    if (body !== undefined) {
      const length = Buffer.isBuffer(body) ? body.length : request.contentLength;
      if (length === undefined) throw new Error('upstream request with a stream body needs a content length');
      headers['content-length'] = String(length);
    } else if (METHODS_WITH_PAYLOAD.has(request.method)) {
      headers['content-length'] = '0';
    }
    if (headers['x-amz-content-sha256'] === undefined) {
      headers['x-amz-content-sha256'] = body === undefined ? EMPTY_SHA256 : UNSIGNED_PAYLOAD;
    }
    const signed = await this.#signer.sign(
      {
        method: request.method,
        protocol: this.#options.endpoint.protocol,
        hostname,
        port: this.#options.endpoint.port,
        path,
        query: queryRecord(query),
        headers,
      },
      { signingRegion: region },
    );
    const queryString = canonicalQueryString(query);
    const response = await this.#agent.request({
      origin: this.#originFor(hostname),
      path: queryString === '' ? path : `${path}?${queryString}`,
      method: request.method as Dispatcher.HttpMethod,
      headers: signed.headers,
      body: body ?? null,
      signal: request.signal ?? null,
      highWaterMark: RESPONSE_HIGH_WATER_MARK,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  #originFor(hostname: string): string {
    if (hostname === this.#options.endpoint.hostname) return this.#origin;
    const { protocol, port } = this.#options.endpoint;
    return `${protocol}//${hostname}:${port}`;
  }

  #virtualHosted(bucket: string): boolean {
    const { addressing, endpoint } = this.#options;
    if (addressing === 'path') return false;
    if (addressing === 'virtual') return true;
    return endpoint.hostname.endsWith('.amazonaws.com') && !bucket.includes('.');
  }
}

/** Error replies the proxy reads to find a region in are small; a longer one is not a region error. */
const MAX_REGION_ERROR_BODY = 64 * 1024;

/** The region a possible wrong-region answer names, and the answer itself with its body still readable. */
async function examineRegion(
  response: UpstreamResponse,
): Promise<{ answer: UpstreamResponse; named: string | undefined }> {
  const headerRegion = headerValue(response.headers, 'x-amz-bucket-region');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_REGION_ERROR_BODY) {
      abandonBody(response.body);
      return { answer: { ...response, body: replayableBody(Buffer.concat(chunks)) }, named: undefined };
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks);
  const named = regionFromAnswer(
    response.status,
    headerRegion,
    text.length === 0 ? undefined : text.toString('utf8'),
  );
  return { answer: { ...response, body: replayableBody(text) }, named };
}

function replayableBody(bytes: Buffer): UpstreamResponse['body'] {
  return Object.assign(Readable.from(bytes.length === 0 ? [] : [bytes]), {
    text: async () => bytes.toString('utf8'),
  });
}

/** An answer of the proxy's own in the place of the upstream's, for callers that relay what they get. */
function synthesizedError(error: S3Error): UpstreamResponse {
  const body = Buffer.from(errorXml(error, ''), 'utf8');
  return {
    status: error.status,
    headers: { 'content-type': 'application/xml', 'content-length': String(body.length) },
    body: replayableBody(body),
  };
}

function queryRecord(query: ReadonlyArray<readonly [string, string]>): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const [name, value] of query) {
    const existing = record[name];
    if (existing === undefined) record[name] = value;
    else record[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return record;
}

export function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

const ignore = () => undefined;

/**
 * Reads and drops an upstream body the caller has no use for (a HEAD's, a 304's, the answer to a PUT), so
 * its connection goes back to the pool. If the connection fails first, nobody needs to know; but an
 * 'error' event without a listener would end the process, so one listens.
 */
export function drainBody(body: Readable): void {
  body.on('error', ignore);
  body.resume();
}

/**
 * Stops reading an upstream body part-way. undici then emits RequestAbortedError on it (its connection is
 * closed); that error is the expected outcome, and unheard it would end the process.
 */
export function abandonBody(body: Readable): void {
  body.on('error', ignore);
  body.destroy();
}
