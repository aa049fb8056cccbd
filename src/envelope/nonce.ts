import { NONCE_SIZE } from './constants.ts';

const TWO_POW_32 = 2 ** 32;

/**
 * nonce_i = objectNonce XOR (0x00 0x00 0x00 || uint64_be(i) || lastFlag). Binding the index stops
 * reordering; binding the last flag stops truncation at a segment boundary and extension.
 */
export function segmentNonce(objectNonce: Buffer, index: number, last: boolean): Buffer {
  if (objectNonce.length !== NONCE_SIZE) {
    throw new RangeError(`object nonce must be ${NONCE_SIZE} bytes, got ${objectNonce.length}`);
  }
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new RangeError(`segment index must be a non-negative safe integer, got ${index}`);
  }
  const nonce = Buffer.from(objectNonce);
  const high = Math.floor(index / TWO_POW_32);
  const low = index - high * TWO_POW_32;
  nonce.writeUInt32BE((nonce.readUInt32BE(3) ^ high) >>> 0, 3);
  nonce.writeUInt32BE((nonce.readUInt32BE(7) ^ low) >>> 0, 7);
  if (last) nonce[11] = (nonce[11] as number) ^ 0x01;
  return nonce;
}
