import { randomBytes } from 'node:crypto';
import { NONCE_SIZE } from '../envelope/constants.ts';
import type { KeyChoice } from '../kms/key-ring.ts';

/**
 * A fresh data key and nonce for exactly one object or part at bucket/key, wrapped by the Transit key the
 * mapping gives that location; `transitKey` is the name the object records (FORMAT.md section 7).
 */
export async function freshDataKey(
  keys: KeyChoice,
  where: { readonly bucket?: string | undefined; readonly key?: string | undefined },
): Promise<{ dek: Buffer; nonce: Buffer; wrappedDek: string; transitKey: string }> {
  const scoped = keys.forWrite(where.bucket ?? '', where.key ?? '');
  const { plaintext, wrapped } = await scoped.keys.newDataKey();
  return {
    dek: plaintext,
    nonce: randomBytes(NONCE_SIZE),
    wrappedDek: wrapped,
    transitKey: scoped.transitKey,
  };
}
