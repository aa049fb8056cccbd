/**
 * The constants of envelope format v1. They are part of the stored format (docs/FORMAT.md): changing
 * any of them makes a new format, which needs a new format identifier.
 */

/** Plaintext bytes per segment; the last segment of an object or part holds 1..SEGMENT_SIZE bytes. */
export const SEGMENT_SIZE = 65536;
/** AES-GCM authentication tag appended to every sealed segment. */
export const TAG_SIZE = 16;
/** A sealed segment that is not the last one. */
export const SEALED_SEGMENT_SIZE = SEGMENT_SIZE + TAG_SIZE;
export const DEK_SIZE = 32;
export const NONCE_SIZE = 12;

/**
 * Sizes beyond this are refused so that every size and offset stays an exact JavaScript Number
 * (C(2^52) < 2^53). It is 800 times S3's 5 TiB object limit.
 */
export const MAX_PLAINTEXT_SIZE = 2 ** 52;

export const FORMAT_V1 = 'v1';
export const FORMAT_V1_MULTIPART = 'v1-multipart';

/**
 * Additional authenticated data of every segment of a single-part (PutObject) object. The segments of
 * a multipart part use the part's whole 256-byte header instead, which starts with PART_MAGIC, so
 * neither can be read as the other.
 */
export const AAD_V1 = Buffer.from('cloudtaser-s3/v1', 'ascii');

/** S3 lowercases user metadata names, so these are the exact names on the wire. */
export const META_PREFIX = 'x-amz-meta-cloudtaser-';
export const META_FORMAT = 'x-amz-meta-cloudtaser-format';
export const META_DEK = 'x-amz-meta-cloudtaser-dek';
export const META_NONCE = 'x-amz-meta-cloudtaser-nonce';
export const META_SIZE = 'x-amz-meta-cloudtaser-size';
/** The Transit key (`<mount>/<key>`) that wrapped the data keys; absent: the default key (FORMAT.md section 7). */
export const META_TRANSIT_KEY = 'x-amz-meta-cloudtaser-transit-key';

/** Every part of a multipart object starts with a header of exactly this many bytes. */
export const PART_HEADER_SIZE = 256;
export const PART_MAGIC = Buffer.from('CTS3PRT1', 'ascii');
/** magic (8) + plaintext length (8) + nonce (12) + part number (4) + upload binding (16) + wrapped-DEK length (2). */
export const PART_HEADER_FIXED_SIZE = 50;
export const MAX_WRAPPED_DEK_LENGTH = PART_HEADER_SIZE - PART_HEADER_FIXED_SIZE;
/** S3 numbers parts 1..10000; a body with more parts than that cannot come from a completed upload. */
export const MAX_PART_NUMBER = 10000;
/** The first bytes of SHA-256(upload id) that a part header carries to tie the part to its upload. */
export const UPLOAD_BINDING_SIZE = 16;
