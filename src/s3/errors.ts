/**
 * The one table of S3 errors the proxy can answer with. 4xx codes are the client's mistake and are
 * not retried by SDKs; 5xx codes are faults worth retrying (SDKs back off on 500/503 and SlowDown).
 * Messages here are the defaults; a thrown S3Error may carry a more specific message, which must never
 * contain key material, tokens or plaintext.
 */
export const S3_ERRORS = {
  AccessDenied: { status: 403, message: 'Access Denied' },
  AuthorizationHeaderMalformed: { status: 400, message: 'The authorization header is malformed.' },
  AuthorizationQueryParametersError: {
    status: 400,
    message: 'Error parsing the X-Amz-Credential parameter.',
  },
  InvalidAccessKeyId: {
    status: 403,
    message: 'The AWS Access Key Id you provided does not exist in our records.',
  },
  InvalidToken: { status: 400, message: 'The provided token is malformed or otherwise invalid.' },
  RequestTimeTooSkewed: {
    status: 403,
    message: 'The difference between the request time and the current time is too large.',
  },
  SignatureDoesNotMatch: {
    status: 403,
    message:
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  },
  BadDigest: {
    status: 400,
    message: 'The Content-MD5 or checksum you specified did not match what was received.',
  },
  XAmzContentSHA256Mismatch: {
    status: 400,
    message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  },
  IncompleteBody: {
    status: 400,
    message: 'You did not provide the number of bytes specified by the Content-Length HTTP header.',
  },
  EntityTooLarge: { status: 400, message: 'Your proposed upload exceeds the maximum allowed object size.' },
  InvalidArgument: { status: 400, message: 'Invalid Argument' },
  InvalidBucketName: { status: 400, message: 'The specified bucket is not valid.' },
  InvalidDigest: { status: 400, message: 'The Content-MD5 or checksum you specified is not valid.' },
  InvalidPart: { status: 400, message: 'One or more of the specified parts could not be found.' },
  InvalidRequest: { status: 400, message: 'Invalid Request' },
  InvalidURI: { status: 400, message: "Couldn't parse the specified URI." },
  MalformedXML: { status: 400, message: 'The XML you provided was not well-formed.' },
  MalformedPolicy: { status: 400, message: 'Policies must be valid JSON objects.' },
  MetadataTooLarge: {
    status: 400,
    message: 'Your metadata headers exceed the maximum allowed metadata size.',
  },
  MissingContentLength: { status: 411, message: 'You must provide the Content-Length HTTP header.' },
  InvalidPartOrder: { status: 400, message: 'The list of parts was not in ascending order.' },
  InvalidRange: { status: 416, message: 'The requested range is not satisfiable' },
  InvalidPartNumber: { status: 416, message: 'The requested partnumber is not satisfiable' },
  RequestTimeout: {
    status: 400,
    message:
      'Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.',
  },
  PreconditionFailed: {
    status: 412,
    message: 'At least one of the preconditions you specified did not hold.',
  },
  MethodNotAllowed: { status: 405, message: 'The specified method is not allowed against this resource.' },
  InternalError: { status: 500, message: 'We encountered an internal error. Please try again.' },
  NotImplemented: {
    status: 501,
    message: 'A header or operation you provided implies functionality that is not implemented.',
  },
  ServiceUnavailable: { status: 503, message: 'Service is unable to handle request.' },
  SlowDown: { status: 503, message: 'Please reduce your request rate.' },
  /** Not an AWS code: the object is stored but its envelope or ciphertext failed verification. */
  InvalidEncryptedObject: {
    status: 500,
    message: 'The stored object failed decryption and is not returned.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type S3ErrorCode = keyof typeof S3_ERRORS;

export class S3Error extends Error {
  readonly code: S3ErrorCode;
  readonly status: number;
  readonly resource: string | undefined;
  /** Extra response headers the error carries, such as `Content-Range: bytes *\/size` on a 416. */
  readonly headers: Readonly<Record<string, string>>;
  /** Extra elements of the XML body, in order, as S3 adds them (`AWSAccessKeyId`, `StringToSign`, …). */
  readonly details: ReadonlyArray<readonly [string, string]>;

  constructor(
    code: S3ErrorCode,
    message?: string,
    options?: {
      cause?: unknown;
      resource?: string;
      headers?: Record<string, string>;
      details?: ReadonlyArray<readonly [string, string]>;
    },
  ) {
    super(
      message ?? S3_ERRORS[code].message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'S3Error';
    this.code = code;
    this.status = S3_ERRORS[code].status;
    this.resource = options?.resource;
    this.headers = options?.headers ?? {};
    this.details = options?.details ?? [];
  }
}
