import { randomFillSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { classifyRequest, type S3Request } from '../s3/classify.ts';
import { withoutClientAuthQuery } from '../s3/client-auth.ts';
import type { HandledOperation } from '../s3/operations.ts';
import { liftHoistedHeaders } from '../s3/presigned-headers.ts';
import { authenticateClient, authorisedHandler } from './client-access.ts';
import { copyObject, uploadPartCopy } from './copy.ts';
import type { Exchange, ProxyDeps } from './exchange.ts';
import { endTimedOutClient, refuseOverBudget, sendError } from './failure.ts';
import { listObjects, listParts } from './listing.ts';
import { completeMultipartUpload, createMultipartUpload, uploadPart } from './multipart.ts';
import { getObjectAttributes } from './object-attributes.ts';
import { getObject } from './object-get.ts';
import { headObject } from './object-head.ts';
import { putObject } from './object-put.ts';
import { passthrough } from './passthrough.ts';
import { refuse } from './refuse.ts';

type Handler = (exchange: Exchange) => Promise<void>;

/** The handlers of the operations the proxy implements itself, one for each handled row of the table. */
const HANDLERS: Readonly<Record<HandledOperation, Handler>> = {
  PutObject: putObject,
  CreateMultipartUpload: createMultipartUpload,
  UploadPart: uploadPart,
  UploadPartCopy: uploadPartCopy,
  CompleteMultipartUpload: completeMultipartUpload,
  ListParts: listParts,
  CopyObject: copyObject,
  GetObjectAttributes: getObjectAttributes,
  GetObject: getObject,
  HeadObject: headObject,
  ListObjects: listObjects,
  ListObjectsV2: listObjects,
  ListObjectVersions: listObjects,
};

/** The row decides: refused, passed through under its body and response rules, or handled. */
function handlerFor(s3: S3Request): Handler {
  const { row } = s3;
  if (row === undefined || row.treatment === 'refuse') return refuse;
  if (row.treatment === 'passthrough') return (exchange) => passthrough(exchange, row);
  return HANDLERS[row.operation];
}

export type ProxyRequestHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue: boolean,
) => void;

/** Random bytes for request ids, drawn a few hundred ids at a time: one draw per request cost more than the id. */
const idBytes = Buffer.alloc(4096);
let idOffset = idBytes.length;

/** 16 upper-case hex digits, 64 random bits, as S3's own request ids look. */
function newRequestId(): string {
  if (idOffset === idBytes.length) {
    randomFillSync(idBytes);
    idOffset = 0;
  }
  idOffset += 8;
  return idBytes.toString('hex', idOffset - 8, idOffset).toUpperCase();
}

export function createProxyHandler(deps: ProxyDeps): ProxyRequestHandler {
  return (req, res, expectsContinue) => {
    const started = performance.now();
    const id = newRequestId();
    // Only failures and warnings log through the exchange: its child logger is made when one first does.
    let log: Logger | undefined;
    let continued = !expectsContinue;
    let s3: S3Request;
    let classifyError: unknown;
    try {
      // A presigned URL's hoisted headers are headers from here on (src/s3/presigned-headers.ts).
      const { rawUrl, lifted } = liftHoistedHeaders(req.url ?? '/', req.headers);
      Object.assign(req.headers, lifted);
      const classified = classifyRequest(
        { method: req.method ?? 'GET', rawUrl, host: req.headers.host, headers: req.headers },
        { virtualHostDomains: deps.virtualHostDomains },
      );
      s3 = { ...classified, query: withoutClientAuthQuery(classified.query) };
    } catch (error) {
      classifyError = error;
      s3 = { operation: 'Unknown', query: [], rawQuery: '' } as unknown as S3Request;
    }
    const exchange: Exchange = {
      req,
      res,
      id,
      s3,
      deps,
      get log() {
        log ??= deps.logger.child({ requestId: id });
        return log;
      },
      bytesIn: 0,
      bytesOut: 0,
      continueBody() {
        if (!continued) {
          continued = true;
          res.writeContinue();
        }
      },
      get awaitingContinue() {
        return !continued;
      },
    };
    res.on('close', () => {
      const seconds = (performance.now() - started) / 1000;
      const status = res.headersSent ? res.statusCode : 0;
      deps.metrics.requests.inc({
        operation: s3.operation,
        status: res.writableFinished ? String(status) : 'aborted',
      });
      deps.metrics.requestDuration.observe({ operation: s3.operation }, seconds);
      deps.metrics.bytesIn.inc(exchange.bytesIn);
      deps.metrics.bytesOut.inc(exchange.bytesOut);
      // The same line the exchange's child logger writes, without making one for it.
      deps.logger.info(
        {
          requestId: id,
          operation: s3.operation,
          method: req.method,
          bucket: s3.bucket,
          key: s3.key,
          accessKeyId: exchange.client?.accessKeyId,
          status,
          complete: res.writableFinished,
          durationMs: Math.round(seconds * 1000),
          bytesIn: exchange.bytesIn,
          bytesOut: exchange.bytesOut,
        },
        'request',
      );
    });
    const { limits } = deps.clients;
    const refusal = deps.clients.admit(req, res, {
      awaitingContinue: () => !continued,
      onTimeout: (timeout) => {
        deps.metrics.clientTimeouts.inc(timeout);
        endTimedOutClient(exchange, timeout, limits.minBodyRate);
      },
    });
    if (refusal !== undefined) {
      deps.metrics.requestsRefused.inc({ budget: refusal });
      refuseOverBudget(exchange, refusal, refusal === 'uploads' ? limits.maxUploads : limits.maxRequests);
      return;
    }
    const run = async () => {
      authenticateClient(exchange);
      if (classifyError !== undefined) throw classifyError;
      await (authorisedHandler(exchange) ?? handlerFor(s3))(exchange);
    };
    run().catch((error: unknown) => {
      const answered = sendError(exchange, error);
      if (answered.code === 'InvalidEncryptedObject') deps.metrics.decryptFailures.inc();
    });
  };
}
