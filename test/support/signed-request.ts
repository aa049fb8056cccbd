/**
 * Requests signed by the official signer (@smithy/signature-v4, what aws-sdk-js v3 signs with) and sent
 * byte for byte with node:http, for the tests that need what no SDK call sends: a chosen clock, a tampered
 * header, or a signed aws-chunked body.
 *
 * Signed aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, the minio-go / mc form): no client in the suite
 * sends it (the Java SDK v2 sends only the -TRAILER form, test/compat/client-auth-clients.test.ts), so the body
 * is framed here from the spec (AWS "sigv4-streaming", "sigv4-streaming-trailers"), each chunk's string to
 * sign written out below and signed by smithy's `sign(stringToSign)`, independently of the proxy's verifier.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

export type SigningCredentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

export type SignedRequestOptions = {
  method: string;
  /** The path exactly as it goes on the wire (already percent-encoded). */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer;
  credentials: SigningCredentials;
  region?: string;
  signingDate?: Date;
  /** `x-amz-content-sha256`; by default the hex SHA-256 of the body. */
  payloadHash?: string;
  /** Sent instead of the endpoint's host (virtual-hosted style: `bucket.localhost:port`). */
  host?: string;
  /** Changes the request after signing (a tampering test). */
  tamper?: (request: { path: string; headers: Record<string, string> }) => void;
};

export type RawResponse = { status: number; headers: IncomingHttpHeaders; body: Buffer };

export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function signerFor(credentials: SigningCredentials, region = 'us-east-1'): SignatureV4 {
  return new SignatureV4({
    credentials,
    region,
    service: 's3',
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false,
    applyChecksum: false,
  });
}

/** The query as it goes on the wire: RFC 3986 encoded, which is also its canonical form. */
function wireQuery(query: Record<string, string>): string {
  const encode = (text: string) =>
    encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return Object.entries(query)
    .map(([name, value]) => `${encode(name)}=${encode(value)}`)
    .join('&');
}

/** Signs with the Authorization header; returns the signed headers and the seed signature. */
export async function signRequest(
  endpoint: string,
  options: SignedRequestOptions,
): Promise<{ headers: Record<string, string>; signature: string }> {
  const url = new URL(endpoint);
  const host = options.host ?? url.host;
  const headers: Record<string, string> = {
    host,
    'x-amz-content-sha256': options.payloadHash ?? sha256Hex(options.body ?? Buffer.alloc(0)),
    ...options.headers,
  };
  const signed = await signerFor(options.credentials, options.region).sign(
    {
      method: options.method,
      protocol: url.protocol,
      hostname: host.replace(/:\d+$/, ''),
      port: Number(url.port),
      path: options.path,
      query: options.query ?? {},
      headers,
    },
    { signingDate: options.signingDate ?? new Date() },
  );
  const signedHeaders = signed.headers as Record<string, string>;
  const signature = /Signature=([0-9a-f]{64})/.exec(signedHeaders.authorization ?? '')?.[1] ?? '';
  return { headers: signedHeaders, signature };
}

export async function signedRequest(endpoint: string, options: SignedRequestOptions): Promise<RawResponse> {
  const { headers } = await signRequest(endpoint, options);
  const query = wireQuery(options.query ?? {});
  const target = { path: query === '' ? options.path : `${options.path}?${query}`, headers };
  options.tamper?.(target);
  return sendRaw(endpoint, { method: options.method, ...target, body: options.body });
}

/** Sends a request exactly as given: the target is not normalised, headers are sent as written. */
export function sendRaw(
  endpoint: string,
  request: { method: string; path: string; headers: Record<string, string>; body?: Buffer | undefined },
): Promise<RawResponse> {
  const url = new URL(endpoint);
  const headers = { ...request.headers };
  if (
    request.body !== undefined &&
    !Object.keys(headers).some((name) => name.toLowerCase() === 'content-length')
  )
    headers['content-length'] = String(request.body.length);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: request.method, path: request.path, headers },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    // A server that refuses a large body answers before it has read it all, then closes: the answer counts.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.end(request.body);
  });
}

/** `<Code>` and every other child of an S3 `<Error>` body. */
export function errorElements(body: Buffer | string): Record<string, string> {
  const xml = body.toString();
  const elements: Record<string, string> = {};
  for (const match of xml.matchAll(/<([A-Za-z0-9-]+)>([^<]*)<\/\1>/g)) {
    elements[match[1] as string] = (match[2] as string)
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&quot;', '"')
      .replaceAll('&apos;', "'")
      .replaceAll('&amp;', '&');
  }
  return elements;
}

export type ChunkedBodyOptions = {
  credentials: SigningCredentials;
  region?: string;
  signingDate: Date;
  seedSignature: string;
  data: Buffer;
  chunkSize: number;
  /** Trailer fields (lower-case names) for STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, signed at the end. */
  trailers?: [string, string][];
  /** Changes a chunk's data after it was signed (index from 0), or the trailer after it was signed. */
  tamperChunk?: number;
  tamperTrailer?: boolean;
};

/** Total aws-chunked length of `dataLength` bytes in signed chunks of `chunkSize` (for Content-Length). */
export function signedChunkedLength(dataLength: number, chunkSize: number, trailer?: string): number {
  const line = (size: number) => size.toString(16).length + ';chunk-signature='.length + 64 + 2;
  let total = 0;
  for (let offset = 0; offset < dataLength; offset += chunkSize) {
    const size = Math.min(chunkSize, dataLength - offset);
    total += line(size) + size + 2;
  }
  total += line(0);
  return total + (trailer === undefined ? 2 : Buffer.byteLength(trailer));
}

/** A signed aws-chunked body: each chunk signed over the previous signature, the trailers over the last. */
export async function signedChunkedBody(options: ChunkedBodyOptions): Promise<Buffer> {
  const region = options.region ?? 'us-east-1';
  const signer = signerFor(options.credentials, region);
  const amzDate = options.signingDate
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const scope = `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
  const sign = (stringToSign: string) =>
    signer.sign(stringToSign, {
      signingDate: options.signingDate,
      signingRegion: region,
      signingService: 's3',
    });
  const parts: Buffer[] = [];
  let previous = options.seedSignature;
  const sizes: number[] = [];
  for (let offset = 0; offset < options.data.length; offset += options.chunkSize)
    sizes.push(Math.min(options.chunkSize, options.data.length - offset));
  sizes.push(0);
  let offset = 0;
  for (const [index, size] of sizes.entries()) {
    const chunk = Buffer.from(options.data.subarray(offset, offset + size));
    offset += size;
    previous = await sign(
      `AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${previous}\n${EMPTY_SHA256}\n${sha256Hex(chunk)}`,
    );
    const middle = chunk.length >> 1;
    if (options.tamperChunk === index && chunk.length > 0) chunk[middle] = (chunk[middle] ?? 0) ^ 0x01;
    parts.push(Buffer.from(`${size.toString(16)};chunk-signature=${previous}\r\n`));
    if (size > 0) parts.push(chunk, Buffer.from('\r\n'));
  }
  if (options.trailers === undefined) {
    parts.push(Buffer.from('\r\n'));
    return Buffer.concat(parts);
  }
  const canonical = options.trailers.map(([name, value]) => `${name}:${value}\n`).join('');
  const trailerSignature = await sign(
    `AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n${previous}\n${sha256Hex(canonical)}`,
  );
  const sent = options.tamperTrailer
    ? options.trailers.map(([name, value]) => [name, `${value.slice(0, -2)}AA`] as const)
    : options.trailers;
  parts.push(
    Buffer.from(
      `${sent.map(([name, value]) => `${name}:${value}\r\n`).join('')}x-amz-trailer-signature:${trailerSignature}\r\n\r\n`,
    ),
  );
  return Buffer.concat(parts);
}
