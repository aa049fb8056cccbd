import { createSealStream } from '../envelope/seal.ts';
import { ciphertextSize } from '../envelope/size.ts';
import { S3Error } from '../s3/errors.ts';
import { clientBody, declaresPlaintextLength } from './client-body.ts';
import { freshDataKey, singlePartEnvelopeHeaders } from './data-key.ts';
import { uploadClientBody } from './encrypted-upload.ts';
import { translateConditions } from './etag.ts';
import { type Exchange, objectResource } from './exchange.ts';
import { forwardableRequestHeaders } from './headers.ts';
import { putStreamedObject } from './object-put-streamed.ts';
import { checksumToStore } from './stored-checksum.ts';
import { checkMetadataSize } from './user-metadata.ts';

/**
 * PutObject: the body is decoded (aws-chunked), checked against the client's checksums and sealed while
 * it streams; the upstream sees only ciphertext with an exact Content-Length. The data key is wrapped
 * before the first byte is read, so an unavailable Vault costs the client nothing but a 503.
 */
export async function putObject(exchange: Exchange): Promise<void> {
  const { req, deps, s3 } = exchange;
  if (!declaresPlaintextLength(req.headers)) {
    // Without Content-Length or Transfer-Encoding a request has no body at all; S3 answers 411 then.
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)
      throw new S3Error('MissingContentLength');
    return putStreamedObject(exchange);
  }
  const body = clientBody(exchange, {
    maxSize: deps.maxObjectSize,
    describe: (size) =>
      `The object is ${size} bytes; this proxy accepts single PUTs up to ${deps.maxObjectSize} bytes (CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE); larger objects go as multipart uploads.`,
  });
  const key = await freshDataKey(deps.keys, s3);
  const { dek, nonce } = key;
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  translateConditions(headers);
  try {
    // The client's checksum header is known before the body: it is sealed into the envelope (FORMAT.md 7.1),
    // which goes upstream with the headers; a body that does not match it is never committed.
    const checksum = checksumToStore(req.headers);
    Object.assign(headers, singlePartEnvelopeHeaders(key, body.size, checksum));
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
