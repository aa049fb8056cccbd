/**
 * Which checksum of the client's the proxy keeps in the envelope (docs/FORMAT.md 7.1), and how it is shown.
 * Only a full-object checksum known before the metadata goes upstream can be kept: a header of PutObject,
 * or, for a PutObject of unknown length that ends within one part, its verified trailer. See
 * docs/CLIENTS.md for what cannot be kept (trailers of known-length uploads, multipart uploads).
 */
import { isStoredChecksumAlgorithm, type PlainChecksum } from '../envelope/index.ts';
import { escapeXml } from '../s3/xml/error.ts';

const NOT_DIGESTS = new Set(['x-amz-checksum-type', 'x-amz-checksum-algorithm', 'x-amz-checksum-mode']);

/** The `x-amz-checksum-<algorithm>` among these headers, when it describes the whole object. */
export function checksumToStore(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): PlainChecksum | undefined {
  const type = headers['x-amz-checksum-type'];
  if (type !== undefined && String(type).trim().toUpperCase() !== 'FULL_OBJECT') return undefined;
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('x-amz-checksum-') || NOT_DIGESTS.has(name) || typeof value !== 'string') continue;
    const algorithm = name.slice('x-amz-checksum-'.length).toUpperCase();
    if (isStoredChecksumAlgorithm(algorithm)) return { algorithm, value: value.trim() };
  }
  return undefined;
}

/** GetObjectAttributes' `<Checksum>` element for a full-object checksum. */
export function checksumElement(checksum: PlainChecksum): string {
  const name = `Checksum${checksum.algorithm}`;
  return `<Checksum><${name}>${escapeXml(checksum.value)}</${name}><ChecksumType>FULL_OBJECT</ChecksumType></Checksum>`;
}
