export {
  AwsChunkedDecoder,
  type AwsChunkedDecoderOptions,
  type ChunkSignatureVerifier,
  createAwsChunkedDecoder,
  DEFAULT_MAX_CHUNK_SIZE,
  MAX_CHUNK_LINE_BYTES,
  MAX_TRAILER_SECTION_BYTES,
} from './decoder.ts';
export {
  contentEncodingWithoutAwsChunked,
  type PayloadMode,
  parseDecodedContentLength,
  payloadMode,
} from './payload-mode.ts';
