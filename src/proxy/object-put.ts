import { envelopeToHeaders } from '../envelope/metadata.ts';
import { createSealStream } from '../envelope/seal.ts';
import { ciphertextSize } from '../envelope/size.ts';
import { clientBody, declaresPlaintextLength } from './client-body.ts';
import { freshDataKey } from './data-key.ts';
import { uploadClientBody } from './encrypted-upload.ts';
import { translateConditions } from './etag.ts';
import { type Exchange, objectResource } from './exchange.ts';
import { forwardableRequestHeaders } from './headers.ts';
import { putStreamedObject } from './object-put-streamed.ts';
import { checkMetadataSize } from './user-metadata.ts';

/**
 * PutObject: the body is decoded (aws-chunked), checked against the client's checksums and sealed while
 * it streams; the upstream sees only ciphertext with an exact Content-Length. The data key is wrapped
 * before the first byte is read, so an unavailable Vault costs the client nothing but a 503.
 */
export async function putObject(exchange: Exchange): Promise<void> {
  const { req, deps, s3 } = exchange;
  if (!declaresPlaintextLength(req.headers)) return putStreamedObject(exchange);
  const body = clientBody(exchange, {
    maxSize: deps.maxObjectSize,
    describe: (size) =>
      `The object is ${size} bytes; this proxy accepts single PUTs up to ${deps.maxObjectSize} bytes (CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE); larger objects go as multipart uploads.`,
  });
  const { dek, nonce, wrappedDek, transitKey } = await freshDataKey(deps.keys, s3);
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  translateConditions(headers);
  Object.assign(
    headers,
    envelopeToHeaders({ format: 'v1', wrappedDek, nonce, plaintextSize: body.size, transitKey }),
  );
  try {
    checkMetadataSize(headers, objectResource(s3));
  } catch (error) {
    dek.fill(0);
    throw error;
  }

  await uploadClientBody(exchange, body, {
    seal: createSealStream({ dek, nonce, plaintextSize: body.size }),
    storedSize: ciphertextSize(body.size),
    headers,
    dek,
  });
}
