import { errors as undiciErrors } from 'undici';
import { EnvelopeError } from '../envelope/errors.ts';
import { KeyServiceError } from '../kms/key-wrapper.ts';
import { S3Error } from '../s3/errors.ts';
import { errorXml } from '../s3/xml/error.ts';
import { type Exchange, objectResource } from './exchange.ts';

/**
 * The one mapping from anything that can go wrong to what the client sees (R-S3-7): the client's own
 * mistakes are 4xx; an unreachable Vault or upstream is 503 SlowDown so that SDKs back off and retry;
 * a stored object that fails verification is never returned. Internal detail goes to the log only.
 */
export function toS3Error(error: unknown, exchange: Exchange): S3Error {
  const resource = objectResource(exchange.s3);
  if (error instanceof S3Error) return error;
  if (error instanceof KeyServiceError) {
    switch (error.kind) {
      case 'unavailable':
        return new S3Error('SlowDown', 'The key service (Vault Transit) is unavailable; retry later.', {
          resource,
          cause: error,
        });
      case 'denied':
        return new S3Error('AccessDenied', 'The key service (Vault Transit) denied the key operation.', {
          resource,
          cause: error,
        });
      case 'rejected':
        return new S3Error(
          'InvalidEncryptedObject',
          `The key service refused the object's wrapped data key: ${error.message}`,
          { resource, cause: error },
        );
    }
  }
  if (error instanceof EnvelopeError) {
    return new S3Error(
      'InvalidEncryptedObject',
      `The stored object failed verification (${error.code}); no data is returned.`,
      {
        resource,
        cause: error,
      },
    );
  }
  if (isUpstreamConnectionError(error)) {
    return new S3Error('SlowDown', 'The upstream S3 endpoint is unavailable; retry later.', {
      resource,
      cause: error,
    });
  }
  return new S3Error('InternalError', undefined, { resource, cause: error });
}

function isUpstreamConnectionError(error: unknown): boolean {
  if (error instanceof undiciErrors.UndiciError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)
  );
}

/** Sends the error as S3 XML, or, once the response has started, aborts it so it can never look complete. */
export function sendError(exchange: Exchange, error: unknown): S3Error {
  const s3Error = toS3Error(error, exchange);
  const { res, req } = exchange;
  const level = s3Error.status >= 500 ? 'error' : 'warn';
  exchange.log[level](
    { code: s3Error.code, status: s3Error.status, err: error instanceof Error ? error : undefined },
    'request failed',
  );
  if (res.headersSent) {
    res.destroy(s3Error);
    return s3Error;
  }
  const body = req.method === 'HEAD' ? '' : errorXml(s3Error, exchange.id);
  // A request whose body we did not read to the end cannot share its connection with the next request.
  const bodyUnread = !req.readableEnded && !req.complete;
  res.writeHead(s3Error.status, {
    ...s3Error.headers,
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': exchange.id,
    ...(bodyUnread ? { connection: 'close' } : {}),
  });
  res.end(body);
  return s3Error;
}
