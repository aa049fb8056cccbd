/**
 * Every way reading or writing the envelope can fail, each with a stable code that callers match on
 * and that docs/FORMAT.md lists (a test keeps the two in step). Messages never carry key material or
 * plaintext.
 */
export const ENVELOPE_ERROR_CODES = [
  'ENVELOPE_MISSING_FIELD',
  'ENVELOPE_BAD_FIELD',
  'ENVELOPE_UNKNOWN_FORMAT',
  'PART_HEADER_INVALID',
  'PART_ORDER',
  'PART_UPLOAD_MISMATCH',
  'PART_LAYOUT_CHANGED',
  'SIZE_IMPOSSIBLE',
  'SIZE_MISMATCH',
  'SEGMENT_AUTH_FAILED',
  'TRUNCATED',
  'TRAILING_DATA',
  'CHECKSUM_AUTH_FAILED',
] as const;

export type EnvelopeErrorCode = (typeof ENVELOPE_ERROR_CODES)[number];

export class EnvelopeError extends Error {
  readonly code: EnvelopeErrorCode;

  constructor(code: EnvelopeErrorCode, message: string) {
    super(message);
    this.name = 'EnvelopeError';
    this.code = code;
  }
}

export function isEnvelopeError(error: unknown, code?: EnvelopeErrorCode): error is EnvelopeError {
  return error instanceof EnvelopeError && (code === undefined || error.code === code);
}
