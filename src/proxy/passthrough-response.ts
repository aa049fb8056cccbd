/**
 * Object-level reads other than GetObject (tagging, ACL, retention, legal hold, attributes, part lists)
 * answer with a small XML document. An upstream that does not know the sub-resource answers GetObject
 * instead and would hand over the stored object; so the answer is read whole and relayed only if it is the
 * document the operations table declares, and carries nothing of an object read (R-S3-6).
 */
import { META_PREFIX } from '../envelope/constants.ts';
import { documentProblem } from '../s3/documents.ts';
import { S3Error } from '../s3/errors.ts';
import type { XmlDocumentRule } from '../s3/operations.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import type { Exchange } from './exchange.ts';
import { clientResponseHeaders } from './headers.ts';

const ERROR_DOCUMENT: XmlDocumentRule = { kind: 'xml', root: 'Error', maxBytes: 64 * 1024, optional: true };

/** Relays `response` only if it is the declared document (or an S3 error); otherwise answers 500. */
export async function relayCheckedResponse(
  exchange: Exchange,
  response: UpstreamResponse,
  operation: string,
  rule: XmlDocumentRule,
): Promise<void> {
  const body = await readAtMost(response, rule.maxBytes);
  checkUpstreamAnswer(exchange, response, body, operation, rule);
  const headers = clientResponseHeaders(response.headers, { dropIntegrity: false });
  headers['content-length'] = String(body?.length ?? 0);
  headers['x-amz-request-id'] ??= exchange.id;
  exchange.res.writeHead(response.status, headers);
  exchange.res.end(exchange.req.method === 'HEAD' ? undefined : body);
}

/**
 * Throws unless the upstream's answer is what `operation` answers: with a 2xx status, the `rule` document;
 * otherwise an S3 error document or nothing. `body` is undefined when it was larger than the rule allows.
 */
export function checkUpstreamAnswer(
  exchange: Exchange,
  response: UpstreamResponse,
  body: Uint8Array | undefined,
  operation: string,
  rule: XmlDocumentRule,
): void {
  const envelope = Object.keys(response.headers).find((name) => name.toLowerCase().startsWith(META_PREFIX));
  const ok = response.status >= 200 && response.status < 300;
  const problem =
    envelope !== undefined
      ? `it carries ${envelope}, as an object read does`
      : body === undefined
        ? `it is larger than ${rule.maxBytes} bytes`
        : response.status >= 300 && response.status < 400 && response.status !== 304
          ? `it is a redirect (${response.status})`
          : documentProblem(body, ok ? rule : ERROR_DOCUMENT);
  if (problem === undefined) return;
  exchange.log.error(
    { operation, upstreamStatus: response.status, contentType: response.headers['content-type'], problem },
    'upstream answer refused: not the document the operation returns',
  );
  throw new S3Error(
    'InternalError',
    `The upstream's answer to ${operation} is not ${ok ? `a <${rule.root}> document` : 'an S3 error'} (${problem}); it may have run another operation, and nothing of it is relayed.`,
  );
}

/** The whole body if it is at most `limit` bytes, else undefined (the rest is not read). */
export async function readAtMost(response: UpstreamResponse, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  // Leaving the loop early destroys the body, which undici reports as an 'error' nobody else listens to.
  response.body.on('error', () => undefined);
  for await (const chunk of response.body) {
    total += (chunk as Buffer).length;
    if (total > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
