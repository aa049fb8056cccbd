export { type RawHeaders, splitRequestTarget } from './canonical.ts';
export { ChunkSignatureChain } from './chunk-signature.ts';
export {
  MAX_CLOCK_SKEW_MS,
  type SecretLookup,
  type SignedRequest,
  type VerifiedSignature,
  verifyRequestSignature,
} from './verify.ts';
