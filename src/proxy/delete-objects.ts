import { createHash } from 'node:crypto';
import { mayAccessObject } from '../auth/authorize.ts';
import {
  type DeleteTarget,
  parseDeleteObjects,
  serializeDeleteObjects,
  withDeniedEntries,
} from '../s3/xml/delete-objects.ts';
import { upstreamDeleteConditions } from './etag.ts';
import type { Exchange } from './exchange.ts';
import { forwardableRequestHeaders } from './headers.ts';
import { bufferedRequestBody } from './passthrough-body.ts';
import { answerXml, readUpstreamText, relayResponse } from './relay.ts';

/**
 * DeleteObjects for a client whose grants cover part of the bucket: every key is checked, as S3 checks
 * each key of a multi-object delete. The permitted keys are deleted upstream; each refused key gets
 * `AccessDenied` in the DeleteResult, next to the upstream's own results, and is not sent upstream.
 */
export async function deleteObjectsWithinGrants(exchange: Exchange): Promise<void> {
  const { req, s3, deps, client } = exchange;
  const bucket = s3.bucket ?? '';
  const grants = client?.grants ?? [];
  const { body } = await bufferedRequestBody(exchange);
  const request = parseDeleteObjects(body.toString('utf8'));
  const allowed: DeleteTarget[] = [];
  const denied: DeleteTarget[] = [];
  for (const target of request.objects) {
    (mayAccessObject(grants, bucket, target.key, 'write') ? allowed : denied).push(target);
  }
  if (denied.length > 0) {
    exchange.log.warn(
      { accessKeyId: client?.accessKeyId, bucket, refusedKeys: denied.length, deletedKeys: allowed.length },
      'DeleteObjects: keys outside the grants refused',
    );
  }
  if (allowed.length === 0) {
    const xml = Buffer.from(withDeniedEntries(undefined, denied));
    exchange.res.writeHead(200, {
      'content-type': 'application/xml',
      'content-length': xml.length,
      'x-amz-request-id': exchange.id,
    });
    exchange.res.end(xml);
    return;
  }
  const serialized = Buffer.from(serializeDeleteObjects({ quiet: request.quiet, objects: allowed }));
  const upstreamBody = upstreamDeleteConditions(serialized) ?? serialized;
  const headers = forwardableRequestHeaders(req.headers, { dropIntegrity: true });
  headers['content-md5'] = createHash('md5').update(upstreamBody).digest('base64');
  const response = await deps.upstream.send({
    method: 'POST',
    bucket: s3.bucket,
    query: s3.query,
    headers,
    body: upstreamBody,
  });
  if (response.status !== 200) {
    await relayResponse(exchange, response);
    return;
  }
  answerXml(exchange, response, withDeniedEntries(await readUpstreamText(response), denied));
}
