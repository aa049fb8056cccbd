import { maySeeBucket } from '../auth/authorize.ts';
import { filterBucketEntries } from '../s3/xml/listing.ts';
import type { Exchange } from './exchange.ts';
import { forwardableRequestHeaders } from './headers.ts';
import { answerXml, readUpstreamText, relayResponse } from './relay.ts';

/**
 * ListBuckets (and ListDirectoryBuckets) for a client whose grants name some buckets only: the upstream's
 * list, with every bucket the client has no grant on removed, so that a shared proxy does not tell one
 * client the names of another's buckets.
 */
export async function listVisibleBuckets(exchange: Exchange): Promise<void> {
  const { req, s3, deps, client } = exchange;
  const response = await deps.upstream.send({
    method: 'GET',
    query: s3.query,
    headers: forwardableRequestHeaders(req.headers, { dropIntegrity: false }),
  });
  if (response.status !== 200) {
    await relayResponse(exchange, response);
    return;
  }
  const grants = client?.grants ?? [];
  const xml = filterBucketEntries(await readUpstreamText(response), (bucket) => maySeeBucket(grants, bucket));
  answerXml(exchange, response, xml);
}
