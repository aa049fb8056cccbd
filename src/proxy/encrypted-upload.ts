import { pipeline, type Readable, type Transform } from 'node:stream';
import { S3Error } from '../s3/errors.ts';
import { drainBody, type UpstreamResponse } from '../upstream/client.ts';
import type { ClientBody } from './client-body.ts';
import { presentETag } from './etag.ts';
import type { Exchange } from './exchange.ts';
import { clientResponseHeaders } from './headers.ts';
import { HoldTailUntil } from './hold-tail.ts';
import { firstString } from './object-read.ts';
import { relayResponse } from './relay.ts';

export type EncryptedUpload = {
  /** Where the plaintext comes from: the client's request (piped, so a failure cannot destroy its socket) or another stream. */
  source: Readable;
  /** Plaintext-producing stages after the source (decoding, checksum tap); may be empty. */
  stages: Transform[];
  /** The sealing stage: plaintext in, exactly `storedSize` bytes of ciphertext out. */
  seal: Transform;
  storedSize: number;
  /** Runs after the whole plaintext passed; throwing stops the upload before the upstream has every byte. */
  verify: () => void | Promise<void>;
  request: {
    bucket: string | undefined;
    key: string | undefined;
    query: ReadonlyArray<readonly [string, string]>;
    headers: Record<string, string>;
  };
  /** Called once the pipeline has ended, successfully or not (to zero keys). */
  done?: () => void;
};

/**
 * Streams plaintext through sealing to an upstream PUT. The last chunk of ciphertext is held back until
 * `verify` passes (checksums in an aws-chunked trailer arrive only after the whole body), so a failed
 * check leaves the upstream request short of its Content-Length, and an aborted short request stores nothing.
 */
export async function sendEncrypted(exchange: Exchange, upload: EncryptedUpload): Promise<UpstreamResponse> {
  const gate = new HoldTailUntil(upload.verify);
  const first = upload.stages[0] ?? upload.seal;
  const stages: Transform[] = [...upload.stages, upload.seal, gate];
  let bodyError: unknown;
  const { source } = upload;
  source.on('error', (error) => first.destroy(error));
  source.pipe(first);
  pipeline(stages, (error) => {
    upload.done?.();
    if (error) {
      bodyError = error;
      source.unpipe(first);
      if (source !== exchange.req) source.destroy();
    }
  });
  if (source === exchange.req) {
    const { req } = exchange;
    const cutShort = () => {
      if (!req.complete)
        first.destroy(
          new S3Error('IncompleteBody', 'The client closed the connection before sending the whole body.'),
        );
    };
    // Closed while the data key was on its way (a client gone, or one timed out): nothing will come.
    if (req.destroyed) cutShort();
    else req.on('close', cutShort);
  }

  let response: UpstreamResponse;
  try {
    response = await exchange.deps.upstream.send({
      method: 'PUT',
      ...upload.request,
      body: gate,
      contentLength: upload.storedSize,
    });
  } catch (error) {
    throw bodyError ?? error;
  }
  if (bodyError !== undefined) {
    drainBody(response.body);
    throw bodyError;
  }
  if (response.status >= 300) gate.destroy();
  return response;
}

/** The 200 of a PutObject or UploadPart: the ETag as presented to clients and the client's verified checksums. */
export function answerUpload(
  exchange: Exchange,
  response: UpstreamResponse,
  verifiedChecksums: Record<string, string>,
): void {
  drainBody(response.body);
  const headers = clientResponseHeaders(response.headers, { dropIntegrity: true });
  const etag = presentETag(firstString(response.headers.etag));
  if (etag !== undefined) headers.etag = etag;
  Object.assign(headers, verifiedChecksums);
  headers['content-length'] = '0';
  headers['x-amz-request-id'] ??= exchange.id;
  exchange.res.writeHead(200, headers);
  exchange.res.end();
}

/**
 * PutObject and UploadPart: the client's body, checked and sealed, to the upstream; the answer with the
 * presented ETag, or the upstream's error as it is.
 */
export async function uploadClientBody(
  exchange: Exchange,
  body: ClientBody,
  upload: { seal: Transform; storedSize: number; headers: Record<string, string>; dek: Buffer },
): Promise<void> {
  const { s3 } = exchange;
  exchange.continueBody();
  const response = await sendEncrypted(exchange, {
    source: exchange.req,
    stages: body.stages,
    seal: upload.seal,
    storedSize: upload.storedSize,
    verify: () => body.verify(),
    request: { bucket: s3.bucket, key: s3.key, query: s3.query, headers: upload.headers },
    done: () => upload.dek.fill(0),
  });
  if (response.status !== 200) {
    await relayResponse(exchange, response);
    return;
  }
  exchange.bytesIn += body.size;
  answerUpload(exchange, response, body.verifiedChecksumHeaders());
}
