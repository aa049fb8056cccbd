import { randomBytes } from 'node:crypto';
import { type PlainChecksum, sealChecksum } from '../envelope/checksum.ts';
import { NONCE_SIZE } from '../envelope/constants.ts';
import { envelopeToHeaders } from '../envelope/metadata.ts';
import type { KeyChoice } from '../kms/key-ring.ts';

export type FreshDataKey = { dek: Buffer; nonce: Buffer; wrappedDek: string; transitKey: string };

/**
 * A fresh data key and nonce for exactly one object or part at bucket/key, wrapped by the Transit key the
 * mapping gives that location; `transitKey` is the name the object records (FORMAT.md section 7).
 */
export async function freshDataKey(
  keys: KeyChoice,
  where: { readonly bucket?: string | undefined; readonly key?: string | undefined },
): Promise<FreshDataKey> {
  const scoped = keys.forWrite(where.bucket ?? '', where.key ?? '');
  const { plaintext, wrapped } = await scoped.keys.newDataKey();
  return {
    dek: plaintext,
    nonce: randomBytes(NONCE_SIZE),
    wrappedDek: wrapped,
    transitKey: scoped.transitKey,
  };
}

/**
 * The envelope of a single-part object of `plaintextSize` bytes sealed under `key`; a checksum of the
 * client's is sealed under the same key (FORMAT.md 7.1).
 */
export function singlePartEnvelopeHeaders(
  key: FreshDataKey,
  plaintextSize: number,
  checksum: PlainChecksum | undefined,
): Record<string, string> {
  return envelopeToHeaders({
    format: 'v1',
    wrappedDek: key.wrappedDek,
    nonce: key.nonce,
    plaintextSize,
    transitKey: key.transitKey,
    ...(checksum === undefined ? {} : { checksum: sealChecksum(key.dek, checksum) }),
  });
}
