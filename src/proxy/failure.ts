import type { ServerResponse } from 'node:http';
import { errors as undiciErrors } from 'undici';
import { EnvelopeError } from '../envelope/errors.ts';
import { KeyServiceError } from '../kms/key-wrapper.ts';
import { S3Error } from '../s3/errors.ts';
import { ClientRefusal } from '../s3/sigv4/refusal.ts';
import { errorXml } from '../s3/xml/error.ts';
import { type ClientTimeout, hasRequestBody, type Refusal } from '../server/client-limits.ts';
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
        return new S3Error(
          'AccessDenied',
          error.clientMessage ??
            `The key service (Vault Transit) denied the key operation${error.transitKey === undefined ? '' : ` on Transit key ${error.transitKey}`}.`,
          { resource, cause: error },
        );
      case 'rejected':
        return new S3Error(
          'InvalidEncryptedObject',
          `The key service refused the object's wrapped data key: ${error.message}`,
          { resource, cause: error },
        );
      case 'retired': {
        const version = error.keyVersion === undefined ? 'an older version' : `version ${error.keyVersion}`;
        return new S3Error(
          'InvalidEncryptedObject',
          `Object ${resource}: its data key is wrapped under ${version} of the Transit key, which is below the key's min_decryption_version. ` +
            `Lower min_decryption_version to ${error.keyVersion ?? 'that version'} to read it, and rewrap it before raising the minimum again.`,
          { resource, cause: error },
        );
      }
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

/** Small unread bodies are read and dropped so the error can go out on a connection the client still listens on. */
const DRAIN_LIMIT = 1024 * 1024;

/** Sends the error as S3 XML, or, once the response has started, aborts it so it can never look complete. */
export function sendError(exchange: Exchange, error: unknown): S3Error {
  const s3Error = toS3Error(error, exchange);
  const level = s3Error.status >= 500 ? 'error' : 'warn';
  // Names the access key that signed (or claimed to sign) the request; never a secret.
  const accessKeyId =
    exchange.client?.accessKeyId ?? s3Error.details.find(([name]) => name === 'AWSAccessKeyId')?.[1];
  if (s3Error instanceof ClientRefusal)
    exchange.deps.metrics.clientAuthRefusals.inc({ reason: s3Error.reason });
  exchange.log[level](
    {
      code: s3Error.code,
      status: s3Error.status,
      ...(accessKeyId === undefined ? {} : { accessKeyId }),
      ...(s3Error instanceof ClientRefusal ? { refusal: s3Error.reason } : {}),
      err: error instanceof Error && !(error instanceof ClientRefusal) ? error : undefined,
    },
    s3Error instanceof ClientRefusal ? `client refused: ${s3Error.message}` : 'request failed',
  );
  if (exchange.res.headersSent) {
    cutResponse(exchange.res);
    return s3Error;
  }
  void drainSmallBody(exchange).then((drained) => writeError(exchange, s3Error, drained));
  return s3Error;
}

/** How long the bytes written before a failure may take to reach the client before the connection is dropped. */
const CUT_FLUSH_MS = 10_000;

/**
 * Ends a response whose status line is out, short of its Content-Length: what was written (the status
 * line with it) still reaches the client, then the connection closes. Destroying the socket at once
 * would drop what was still buffered, the status line too when it left with the first chunk, and the
 * request log would count bytes the client never got.
 */
function cutResponse(res: ServerResponse): void {
  const socket = res.socket;
  if (socket === null || socket.destroyed) {
    res.destroy();
    return;
  }
  while (res.writableCorked > 0) res.uncork();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), CUT_FLUSH_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/**
 * A request over a budget (docs/decisions/0006): 503 SlowDown at once, naming the setting, without
 * reading its body; a connection with a body still coming closes, so a slow client is not waited for.
 */
export function refuseOverBudget(exchange: Exchange, refusal: Refusal, limit: number): void {
  const setting =
    refusal === 'uploads' ? 'CLOUDTASER_S3PROXY_MAX_UPLOADS' : 'CLOUDTASER_S3PROXY_MAX_REQUESTS';
  const what = refusal === 'uploads' ? 'requests receiving a body' : 'requests';
  const error = new S3Error(
    'SlowDown',
    `The proxy is handling as many ${what} at once as it may (${setting}=${limit}); retry later.`,
    { resource: objectResource(exchange.s3) },
  );
  writeError(exchange, error, !hasRequestBody(exchange.req));
}

/**
 * A client that kept the proxy waiting. Mid-body: 400 RequestTimeout as S3 answers it, then the request is
 * destroyed, so the upload stops short of its length and the upstream stores nothing. Mid-response: the
 * connection is cut, as any fault after the headers is.
 */
export function endTimedOutClient(exchange: Exchange, timeout: ClientTimeout, minBodyRate: number): void {
  const { req, res } = exchange;
  exchange.log.warn({ phase: timeout.phase, reason: timeout.reason }, 'client timed out');
  const message =
    timeout.reason === 'too slow'
      ? `The request body arrived slower than ${minBodyRate} bytes per second (CLOUDTASER_S3PROXY_CLIENT_MIN_BODY_RATE).`
      : undefined;
  const error = new S3Error('RequestTimeout', message, { resource: objectResource(exchange.s3) });
  if (timeout.phase === 'response') {
    res.destroy(error);
    return;
  }
  if (!res.headersSent) writeError(exchange, error, false);
  req.destroy(error);
}

/**
 * Answering while the client is still sending makes many clients see a reset instead of the answer.
 * A small body is read to its end first; a large one is not worth reading, so that connection closes.
 */
async function drainSmallBody(exchange: Exchange): Promise<boolean> {
  const { req } = exchange;
  if (req.complete || req.readableEnded) return true;
  if (exchange.awaitingContinue || req.destroyed) return false;
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (!(declared <= DRAIN_LIMIT) || req.readableFlowing !== null) return false;
  let seen = 0;
  try {
    for await (const chunk of req) {
      seen += (chunk as Buffer).length;
      if (seen > DRAIN_LIMIT) return false;
    }
    return true;
  } catch {
    return false;
  }
}

function writeError(exchange: Exchange, s3Error: S3Error, bodyConsumed: boolean): void {
  const { res, req } = exchange;
  if (res.headersSent || res.destroyed) return;
  const body = req.method === 'HEAD' ? '' : errorXml(s3Error, exchange.id);
  res.writeHead(s3Error.status, {
    ...s3Error.headers,
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': exchange.id,
    // A request whose body was not read to the end cannot share its connection with the next request.
    ...(bodyConsumed ? {} : { connection: 'close' }),
  });
  res.end(body);
}
