import { S3Error, type S3ErrorCode } from '../errors.ts';

/** Why a client was refused, as counted in `cloudtaser_s3proxy_client_auth_refusals_total{reason}`. */
export const REFUSAL_REASONS = [
  'unsigned',
  'unsupported_signature',
  'malformed',
  'unknown_key',
  'session_token',
  'clock_skew',
  'expired',
  'not_yet_valid',
  'unsigned_headers',
  'signature_mismatch',
  'chunk_signature_mismatch',
  'not_allowed',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** An S3 error that refuses a client's authentication or authorisation, with the reason for the metrics. */
export class ClientRefusal extends S3Error {
  readonly reason: RefusalReason;

  constructor(
    reason: RefusalReason,
    code: S3ErrorCode,
    message?: string,
    options?: { details?: ReadonlyArray<readonly [string, string]> },
  ) {
    super(code, message, options);
    this.reason = reason;
  }
}
