import { plaintextSize } from '../envelope/size.ts';
import { S3Error } from '../s3/errors.ts';
import { rewriteListingEntries } from '../s3/xml/listing.ts';
import { presentETag } from './etag.ts';
import type { Exchange } from './exchange.ts';
import { clientResponseHeaders, forwardableRequestHeaders } from './headers.ts';
import { relayResponse } from './relay.ts';

const MAX_LISTING_BYTES = 64 * 1024 * 1024;

/**
 * Listings report plaintext sizes (R-SEM-3) without a request per object: the stored size is an invertible
 * function of the plaintext size (docs/FORMAT.md). A listing does not say which objects carry an envelope,
 * so an entry whose stored size is a possible ciphertext size is taken as encrypted; see
 * docs/decisions/0002-etags-and-listing-sizes.md for what that means for objects stored before the proxy.
 */
export async function listObjects(exchange: Exchange): Promise<void> {
  const { req, s3, deps } = exchange;
  const response = await deps.upstream.send({
    method: req.method ?? 'GET',
    bucket: s3.bucket,
    key: s3.key,
    query: s3.query,
    headers: forwardableRequestHeaders(req.headers, { dropIntegrity: false }),
  });
  if (response.status !== 200) {
    await relayResponse(exchange, response);
    return;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += (chunk as Buffer).length;
    if (total > MAX_LISTING_BYTES)
      throw new S3Error('InternalError', 'The upstream listing is larger than the proxy accepts.');
    chunks.push(chunk as Buffer);
  }
  const xml = rewriteListingEntries(Buffer.concat(chunks).toString('utf8'), ({ size, etag }) => {
    const plain = plaintextSizeOrUndefined(size);
    if (plain === undefined) return { size, etag };
    return { size: plain, etag: presentETag(etag) };
  });
  const body = Buffer.from(xml, 'utf8');
  const headers = clientResponseHeaders(response.headers, { dropIntegrity: true });
  headers['content-length'] = String(body.length);
  headers['x-amz-request-id'] ??= exchange.id;
  exchange.res.writeHead(200, headers);
  exchange.res.end(body);
}

function plaintextSizeOrUndefined(stored: number): number | undefined {
  try {
    return plaintextSize(stored);
  } catch {
    return undefined;
  }
}
