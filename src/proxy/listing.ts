import { multipartListingPlaintextSize, partPlaintextSize, plaintextSize } from '../envelope/index.ts';
import { responseRuleOf } from '../s3/operations.ts';
import { withoutChecksumElements } from '../s3/xml/complete-multipart.ts';
import { type EntryRewrite, rewriteListingEntries } from '../s3/xml/listing.ts';
import { presentETag } from './etag.ts';
import type { Exchange } from './exchange.ts';
import { forwardableRequestHeaders } from './headers.ts';
import { checkUpstreamAnswer, relayCheckedResponse } from './passthrough-response.ts';
import { answerXml, readUpstreamText, relayResponse } from './relay.ts';

const MULTIPART_ETAG = /^"?[0-9a-fA-F]{32}-(\d+)"?$/;

/**
 * Listings report plaintext sizes (R-SEM-3) without a request per object: the stored size is an invertible
 * function of the plaintext size (docs/FORMAT.md), and for multipart objects of the size and the part count
 * in the ETag. A listing does not say which objects carry an envelope, so an entry whose stored size is a
 * possible ciphertext size is taken as encrypted; see docs/decisions/0002-etags-and-listing-sizes.md.
 */
export async function listObjects(exchange: Exchange): Promise<void> {
  await rewriteListing(exchange, ['Contents', 'Version'], ({ size, etag }) => {
    const parts = MULTIPART_ETAG.exec(etag ?? '')?.[1];
    const plain =
      parts === undefined
        ? orUndefined(() => plaintextSize(size))
        : orUndefined(() => multipartListingPlaintextSize(size, Number(parts)));
    return plain === undefined ? { size, etag } : { size: plain, etag: presentETag(etag) };
  });
}

/** ListParts: part sizes and ETags as the client sent and was told them. */
export async function listParts(exchange: Exchange): Promise<void> {
  await rewriteListing(exchange, ['Part'], ({ size, etag }) => {
    const plain = orUndefined(() => partPlaintextSize(size));
    return plain === undefined ? { size, etag } : { size: plain, etag: presentETag(etag) };
  });
}

/** Forwards a listing request and answers with its entries rewritten; an upstream error goes back as it is. */
async function rewriteListing(
  exchange: Exchange,
  elements: readonly string[],
  rewrite: EntryRewrite,
): Promise<void> {
  const { req, s3, deps } = exchange;
  const response = await deps.upstream.send({
    method: req.method ?? 'GET',
    bucket: s3.bucket,
    key: s3.key,
    query: s3.query,
    headers: forwardableRequestHeaders(req.headers, { dropIntegrity: false }),
  });
  // ListParts is an object-level read: an upstream that fell back to GetObject must not have its answer relayed.
  const answer = responseRuleOf(s3.row);
  if (response.status !== 200) {
    if (answer === undefined) await relayResponse(exchange, response);
    else await relayCheckedResponse(exchange, response, s3.operation, answer);
    return;
  }
  const text = await readUpstreamText(response);
  if (answer !== undefined) checkUpstreamAnswer(exchange, response, Buffer.from(text), s3.operation, answer);
  const xml = rewriteListingEntries(text, rewrite, elements);
  answerXml(exchange, response, withoutChecksumElements(xml));
}

function orUndefined(compute: () => number | undefined): number | undefined {
  try {
    return compute();
  } catch {
    return undefined;
  }
}
