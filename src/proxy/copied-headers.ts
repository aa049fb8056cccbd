import { isEnvelopeHeader } from '../envelope/index.ts';
import type { HeaderMap } from '../envelope/metadata.ts';

/** Headers that describe the object, not its bytes: a copy with REPLACE keeps them only if they are sent again. */
const DESCRIPTIVE_HEADERS = [
  'content-type',
  'content-encoding',
  'content-disposition',
  'content-language',
  'cache-control',
  'expires',
  'x-amz-website-redirect-location',
  'x-amz-storage-class',
  'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-server-side-encryption-bucket-key-enabled',
];

/**
 * The user metadata and descriptive headers of a HEAD, as a write that replaces a copy must repeat them
 * (CopyObject with REPLACE, CreateMultipartUpload, a copy sealed again); the envelope's own names are left
 * out (the caller adds the new envelope). Tags are separate; ACLs and object-lock settings are not carried over.
 */
export function preservedHeaders(headers: HeaderMap): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    const single = Array.isArray(value) ? value.join(',') : value;
    if (lower.startsWith('x-amz-meta-') && !isEnvelopeHeader(lower)) kept[lower] = single;
    else if (DESCRIPTIVE_HEADERS.includes(lower)) kept[lower] = single;
  }
  // S3 reports the default class only when asked; sending it back is harmless but pointless.
  if (kept['x-amz-storage-class'] === 'STANDARD') delete kept['x-amz-storage-class'];
  return kept;
}
