import { S3Error } from '../s3/errors.ts';

/** S3 limits user metadata to 2 KB, counted as the UTF-8 bytes of names (without the prefix) and values. */
const USER_METADATA_LIMIT = 2048;

/** The client's user metadata and the envelope the proxy adds must fit S3's limit together (R-ENC-6). */
export function checkMetadataSize(headers: Record<string, string>, resource: string): void {
  let size = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-'))
      size += Buffer.byteLength(name.slice('x-amz-meta-'.length)) + Buffer.byteLength(value);
  }
  if (size > USER_METADATA_LIMIT) {
    throw new S3Error(
      'MetadataTooLarge',
      `User metadata and the encryption envelope together take ${size} bytes; S3 allows ${USER_METADATA_LIMIT}.`,
      { resource },
    );
  }
}
