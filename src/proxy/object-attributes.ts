import type { IncomingHttpHeaders } from 'node:http';
import { partPlaintextSize } from '../envelope/index.ts';
import { responseRuleOf } from '../s3/operations.ts';
import { rewriteListingEntries } from '../s3/xml/listing.ts';
import { drainBody } from '../upstream/client.ts';
import { presentETag } from './etag.ts';
import type { Exchange } from './exchange.ts';
import { forwardableRequestHeaders } from './headers.ts';
import { encryptedObjectOf, readRequest } from './object-read.ts';
import { checkUpstreamAnswer, relayCheckedResponse } from './passthrough-response.ts';
import { answerXml, readUpstreamText, relayResponse } from './relay.ts';
import { checksumElement } from './stored-checksum.ts';

/**
 * GetObjectAttributes: the upstream's answer describes what is stored; for an encrypted object the size,
 * the ETag and the part sizes are shown as the plaintext's, and checksums (of ciphertext) are left out; the
 * client's own checksum, where the envelope keeps one, is the object's.
 */
export async function getObjectAttributes(exchange: Exchange): Promise<void> {
  const { req, s3, deps } = exchange;
  const request = readRequest(exchange);
  const head = await deps.upstream.send({
    method: 'HEAD',
    bucket: s3.bucket,
    key: s3.key,
    query: request.query,
    headers: request.headers,
  });
  drainBody(head.body);
  const object =
    head.status === 200 ? await encryptedObjectOf(exchange, head, { sizes: 'located' }) : undefined;
  const response = await deps.upstream.send({
    method: 'GET',
    bucket: s3.bucket,
    key: s3.key,
    query: s3.query,
    headers: forwardableRequestHeaders(req.headers, { dropIntegrity: false }),
  });
  const answer = responseRuleOf(s3.row);
  if (response.status !== 200 || object === undefined) {
    if (answer === undefined) await relayResponse(exchange, response);
    else await relayCheckedResponse(exchange, response, s3.operation, answer);
    return;
  }
  let xml = await readUpstreamText(response);
  if (answer !== undefined) checkUpstreamAnswer(exchange, response, Buffer.from(xml), s3.operation, answer);
  xml = xml.replace(/<ObjectSize>\d+<\/ObjectSize>/, `<ObjectSize>${object.plainSize}</ObjectSize>`);
  xml = xml.replace(/<ETag>([^<]*)<\/ETag>/, (_whole, etag: string) => {
    const quoted = etag.includes('"') || etag.includes('&quot;');
    const presented = (presentETag(etag.replaceAll('&quot;', '"')) ?? etag).replaceAll('"', '');
    return `<ETag>${quoted ? `&quot;${presented}&quot;` : presented}</ETag>`;
  });
  xml = xml.replace(/<Checksum>[\s\S]*?<\/Checksum>/g, '');
  const checksum = asksFor(req.headers, 'Checksum') ? await object.checksum() : undefined;
  xml = rewriteListingEntries(
    xml,
    ({ size, etag }) => {
      try {
        return { size: partPlaintextSize(size), etag };
      } catch {
        return { size, etag };
      }
    },
    ['Part'],
  );
  xml = xml.replace(/<(Checksum[A-Za-z0-9]+)>[^<]*<\/\1>/g, '');
  if (checksum !== undefined)
    xml = xml.replace(
      '</GetObjectAttributesResponse>',
      `${checksumElement(checksum)}</GetObjectAttributesResponse>`,
    );
  answerXml(exchange, response, xml);
}

/** Whether x-amz-object-attributes names this attribute (a comma-separated list, any case). */
function asksFor(headers: IncomingHttpHeaders, attribute: string): boolean {
  const value = headers['x-amz-object-attributes'];
  const names = (Array.isArray(value) ? value.join(',') : (value ?? '')).split(',');
  return names.some((name) => name.trim().toLowerCase() === attribute.toLowerCase());
}
