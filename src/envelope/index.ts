export {
  CHECKSUM_DIGEST_SIZES,
  isStoredChecksumAlgorithm,
  META_CHECKSUM,
  openChecksum,
  type PlainChecksum,
  type StoredChecksumAlgorithm,
  sealChecksum,
} from './checksum.ts';
export {
  AAD_V1,
  DEK_SIZE,
  FORMAT_V1,
  FORMAT_V1_MULTIPART,
  MAX_PART_NUMBER,
  MAX_PLAINTEXT_SIZE,
  META_DEK,
  META_FORMAT,
  META_NONCE,
  META_PREFIX,
  META_SIZE,
  META_TRANSIT_KEY,
  NONCE_SIZE,
  PART_HEADER_SIZE,
  SEALED_SEGMENT_SIZE,
  SEGMENT_SIZE,
  TAG_SIZE,
  UPLOAD_BINDING_SIZE,
} from './constants.ts';
export { ENVELOPE_ERROR_CODES, EnvelopeError, type EnvelopeErrorCode, isEnvelopeError } from './errors.ts';
export {
  type Envelope,
  envelopeToHeaders,
  type HeaderMap,
  isEnvelopeHeader,
  type MultipartEnvelope,
  multipartEnvelopeHeaders,
  readEnvelope,
  type StoredEnvelope,
} from './metadata.ts';
export {
  authenticatePartLayout,
  createMultipartOpenStream,
  discoverPartLayout,
  type FetchHeader,
  type FetchStored,
  KEY_WINDOW,
  type LayoutPart,
  type MultipartOpenOptions,
  type PartLayout,
  planMultipartRead,
} from './multipart.ts';
export { segmentNonce } from './nonce.ts';
export { createOpenStream, type OpenOptions } from './open.ts';
export { decodePartHeader, encodePartHeader, type PartHeader, uploadBinding } from './part-header.ts';
export { createPartSealStream, createSealStream, type PartSealOptions, type SealOptions } from './seal.ts';
export { SegmentOpener, type SegmentOpenerOptions } from './segment-opener.ts';
export {
  assertStoredSize,
  ciphertextSize,
  finalSegmentStoredSize,
  maxPartPlaintextSize,
  multipartListingPlaintextSize,
  partCiphertextSize,
  partPlaintextSize,
  plaintextSize,
  segmentCount,
  segmentPlainLength,
} from './size.ts';
export {
  fullWindow,
  planWindow,
  type RequestedRange,
  type SegmentWindow,
  type StoredRequest,
  storedRequestFor,
} from './window.ts';
