import { randomBytes } from 'node:crypto';
import { DEK_SIZE, NONCE_SIZE } from '../envelope/constants.ts';
import type { KeyWrapper } from '../kms/key-wrapper.ts';

/** A fresh data key and nonce for exactly one object or part, with the key wrapped by the key service. */
export async function freshDataKey(
  keys: KeyWrapper,
): Promise<{ dek: Buffer; nonce: Buffer; wrappedDek: string }> {
  const dek = randomBytes(DEK_SIZE);
  try {
    const wrappedDek = await keys.wrapKey(dek);
    return { dek, nonce: randomBytes(NONCE_SIZE), wrappedDek };
  } catch (error) {
    dek.fill(0);
    throw error;
  }
}
