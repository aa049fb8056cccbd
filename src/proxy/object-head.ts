import { drainBody } from '../upstream/client.ts';
import { type Exchange, objectResource } from './exchange.ts';
import {
  answerNotModified,
  encryptedObjectOf,
  partSizesFor,
  plaintextHeaders,
  plaintextRange,
  readRequest,
  returnsChecksum,
} from './object-read.ts';
import { relayResponse } from './relay.ts';

/** HeadObject: passes through with the envelope visible, but sizes, ranges and ETags are the plaintext's (R-SEM-1). */
export async function headObject(exchange: Exchange): Promise<void> {
  const request = readRequest(exchange);
  const response = await exchange.deps.upstream.send({
    method: 'HEAD',
    bucket: exchange.s3.bucket,
    key: exchange.s3.key,
    query: request.query,
    headers: request.headers,
  });
  if (response.status === 304) {
    await answerNotModified(exchange, response);
    return;
  }
  drainBody(response.body);
  const object =
    response.status === 200
      ? await encryptedObjectOf(exchange, response, { sizes: partSizesFor(request) })
      : undefined;
  if (object === undefined) {
    // Not ours to interpret: an error, or an object stored before the proxy, answered exactly as upstream did.
    const original =
      request.partNumber === undefined && request.rangeHeader === undefined
        ? response
        : await exchange.deps.upstream.send({
            method: 'HEAD',
            bucket: exchange.s3.bucket,
            key: exchange.s3.key,
            query: exchange.s3.query,
            headers: {
              ...request.headers,
              ...(request.rangeHeader === undefined ? {} : { range: request.rangeHeader }),
            },
          });
    await relayResponse(exchange, original);
    return;
  }
  const range = plaintextRange(request, object, objectResource(exchange.s3));
  // Only a HEAD that returns the checksum unwraps the data key to open it.
  const checksum = returnsChecksum(exchange, request) ? await object.checksum() : undefined;
  const { status, headers } = plaintextHeaders(response, object, range, exchange, request, checksum);
  exchange.res.writeHead(status, headers);
  exchange.res.end();
}
