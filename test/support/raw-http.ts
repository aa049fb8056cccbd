import { request } from 'node:http';
import { crc32 } from 'node:zlib';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { encodeRfc3986 } from '../../src/s3/uri.ts';

export type RawResponse = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body as received, for binary content. */
  bytes: Buffer;
  sentContinue: boolean;
};

/**
 * A hand-made request, to send exactly the headers and bytes a client may send, including ones `fetch`
 * would change (it drops `Content-Length: 0` on a DELETE, as undici does) or wrong ones; the target's
 * query goes as written (repeated names, odd casing). A connection reset once the answer has begun (a
 * refusal sent before a large body was read) still yields the answer; without any answer it rejects.
 */
export function rawRequest(
  url: string,
  options: {
    method: string;
    headers?: Record<string, string>;
    body?: Buffer;
    expectContinue?: boolean;
    /** Sends neither Content-Length nor Transfer-Encoding, which Node would otherwise add. */
    unframed?: boolean;
  },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let sentContinue = false;
    let answered = false;
    const headers = { ...options.headers };
    // Node chunks PUT and POST bodies by itself but sends a GET, HEAD or DELETE body unframed, which the
    // server would read as the start of the next request.
    const framed = Object.keys(headers).some((name) =>
      ['content-length', 'transfer-encoding'].includes(name.toLowerCase()),
    );
    if (
      options.body !== undefined &&
      options.body.length > 0 &&
      !framed &&
      !['PUT', 'POST'].includes(options.method)
    )
      headers['content-length'] = String(options.body.length);
    const req = request(url, { method: options.method, headers, agent: false });
    if (options.unframed) {
      req.removeHeader('content-length');
      req.removeHeader('transfer-encoding');
    }
    req.on('continue', () => {
      sentContinue = true;
      req.end(options.body);
    });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          bytes: Buffer.concat(chunks),
          sentContinue,
        });
        // Answered without a 100 Continue: the body was never sent and never will be.
        if (options.expectContinue && !sentContinue) req.destroy();
      };
      res.on('end', finish);
      res.on('aborted', finish);
      res.on('error', finish);
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (!options.expectContinue) req.end(options.body);
  });
}

/** The framing aws-sdk-js v3 uses by default: unsigned chunks and a checksum trailer. */
export function awsChunkedWithTrailer(
  data: Buffer,
  trailerName: string,
  trailerValue: string,
  chunkSize = 65536,
): Buffer {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += chunkSize) {
    const chunk = data.subarray(offset, offset + chunkSize);
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0\r\n${trailerName}:${trailerValue}\r\n\r\n`));
  return Buffer.concat(parts);
}

export function crc32Base64(data: Buffer): string {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(crc32(data));
  return value.toString('base64');
}

export type SigningIdentity = { accessKeyId: string; secretAccessKey: string; region: string };

export type SignedRawOptions = {
  method: string;
  /** Bucket and key as they go on the wire, already percent-encoded: `/bucket/key`. */
  path: string;
  query?: ReadonlyArray<readonly [string, string]>;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Sends neither Content-Length nor Transfer-Encoding (and no body). */
  noContentLength?: boolean;
};

/**
 * A request signed with SigV4 (UNSIGNED-PAYLOAD) by the signer aws-sdk-js v3 uses, and sent as `rawRequest`
 * sends: the same bytes can go to SeaweedFS, which checks the signature, and to the proxy, which
 * replaces it. Content-Length is the body's unless the headers or `noContentLength` say otherwise.
 */
export async function signedRawRequest(
  endpoint: string,
  identity: SigningIdentity,
  options: SignedRawOptions,
): Promise<RawResponse> {
  const url = new URL(endpoint);
  const query = options.query ?? [];
  const headers: Record<string, string> = {
    host: url.host,
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    ...options.headers,
  };
  const framed = Object.keys(headers).some((name) =>
    ['content-length', 'transfer-encoding'].includes(name.toLowerCase()),
  );
  if (!framed && !options.noContentLength && options.body !== undefined)
    headers['content-length'] = String(options.body.length);
  const record: Record<string, string | string[]> = {};
  for (const [name, value] of query) {
    const existing = record[name];
    record[name] = existing === undefined ? value : [existing, value].flat();
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: identity.accessKeyId, secretAccessKey: identity.secretAccessKey },
    region: identity.region,
    service: 's3',
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false,
    applyChecksum: false,
  });
  const signed = await signer.sign({
    method: options.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: options.path,
    query: record,
    headers,
  });
  const queryString = query
    .map(([name, value]) => `${encodeRfc3986(name)}=${encodeRfc3986(value)}`)
    .join('&');
  return rawRequest(`${url.origin}${options.path}${queryString === '' ? '' : `?${queryString}`}`, {
    method: options.method,
    headers: signed.headers as Record<string, string>,
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.noContentLength ? { unframed: true } : {}),
  });
}

/** The `<Code>` of an S3 error body, if it is one. */
export function errorCode(response: RawResponse): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(response.body)?.[1];
}
