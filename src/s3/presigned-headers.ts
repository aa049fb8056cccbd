/**
 * Request headers that a SigV4 presigner moved into the query. aws-sdk-js v3's S3 presigner hoists every
 * `x-amz-*` header of the command but the `x-amz-server-side-encryption*` ones (`x-amz-meta-*`, `x-amz-acl`,
 * `x-amz-tagging`, `x-amz-storage-class`, `x-amz-copy-source`, …), so that the URL carries them signed. In a
 * presigned request they are taken as the headers they stand for, before the request is classified, so
 * every rule about headers applies to them (the operations table's selecting headers, envelope names
 * dropped, conditions translated, SSE-C carried); the query the upstream gets never holds them (`x-`
 * parameters are not forwarded). Outside a presigned request an `x-amz-*` query parameter stays refused
 * (src/s3/classify.ts).
 *
 * Kept out: the URL's own signature parameters and the checksum parameters presigners add (S3 ignores
 * checksums in presigned URLs; aws-sdk-js v3 signs the CRC32 of an empty body into them), see
 * client-auth.ts. Refused, with 400 InvalidArgument:
 * - SSE-C keys (`x-amz-server-side-encryption-customer-key`, and the copy source's): a secret in a URL is
 *   written to logs and histories, and presigners keep these as headers;
 * - `x-amz-decoded-content-length` and `x-amz-trailer`: they describe the framing of one request's body,
 *   which a URL made in advance cannot know, and they steer how the proxy decodes what it encrypts;
 * - a parameter that names a header the request also sends, with another value: which one holds would be
 *   a guess.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseQuery } from './classify.ts';
import { isSigV4QueryParameter } from './client-auth.ts';
import { S3Error } from './errors.ts';

const REFUSED = new Map([
  ['x-amz-server-side-encryption-customer-key', 'an SSE-C key belongs in a header, not in a URL'],
  ['x-amz-copy-source-server-side-encryption-customer-key', 'an SSE-C key belongs in a header, not in a URL'],
  ['x-amz-decoded-content-length', "it describes the framing of one request's body"],
  ['x-amz-trailer', "it describes the framing of one request's body"],
]);

function isPresignedV4(names: readonly string[]): boolean {
  return names.some((name) => name.toLowerCase() === 'x-amz-signature');
}

/** A query parameter a presigner made of a header: `x-amz-*`, but none of the URL's own (checksum mode aside). */
function isHoisted(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith('x-amz-') && (lower === 'x-amz-checksum-mode' || !isSigV4QueryParameter(lower));
}

/**
 * The headers a presigned request carries in its query, and its target without them (for classification;
 * signature checks read the target as received). A request that is not presigned comes back unchanged.
 */
export function liftHoistedHeaders(
  rawUrl: string,
  headers: IncomingHttpHeaders,
): { rawUrl: string; lifted: Record<string, string> } {
  const question = rawUrl.indexOf('?');
  if (question < 0) return { rawUrl, lifted: {} };
  const parts = rawUrl.slice(question + 1).split('&');
  const decoded = parts.map((part) => parseQuery(part)[0]);
  if (!isPresignedV4(decoded.flatMap((pair) => (pair === undefined ? [] : [pair[0]]))))
    return { rawUrl, lifted: {} };
  const lifted: Record<string, string> = {};
  const kept: string[] = [];
  for (const [index, part] of parts.entries()) {
    const pair = decoded[index];
    if (pair === undefined || !isHoisted(pair[0])) {
      kept.push(part);
      continue;
    }
    const name = pair[0].toLowerCase();
    if (Object.hasOwn(lifted, name))
      throw new S3Error('InvalidArgument', `The presigned URL carries ${name} more than once.`);
    const refusal = REFUSED.get(name);
    if (refusal !== undefined)
      throw new S3Error(
        'InvalidArgument',
        `The presigned URL carries ${name}, which the proxy refuses there: ${refusal}.`,
      );
    const sent = headers[name];
    if (sent !== undefined && String(sent) !== pair[1]) {
      throw new S3Error(
        'InvalidArgument',
        `The presigned URL carries ${name} and the request sends it as a header with another value.`,
      );
    }
    lifted[name] = pair[1];
  }
  const path = rawUrl.slice(0, question);
  return { rawUrl: kept.length === 0 ? path : `${path}?${kept.join('&')}`, lifted };
}
