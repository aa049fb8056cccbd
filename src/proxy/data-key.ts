import { randomBytes } from 'node:crypto';
import { NONCE_SIZE } from '../envelope/constants.ts';
import type { KeyWrapper } from '../kms/key-wrapper.ts';

/** A fresh data key and nonce for exactly one object or part, with the key wrapped by the key service. */
export async function freshDataKey(
  keys: KeyWrapper,
): Promise<{ dek: Buffer; nonce: Buffer; wrappedDek: string }> {
  const { plaintext, wrapped } = await keys.newDataKey();
  return { dek: plaintext, nonce: randomBytes(NONCE_SIZE), wrappedDek: wrapped };
}
