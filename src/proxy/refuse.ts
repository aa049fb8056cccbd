import { S3Error } from '../s3/errors.ts';
import { describeRow } from '../s3/operations.ts';
import { type Exchange, objectResource } from './exchange.ts';

/**
 * Requests the operations table refuses (R-S3-6): rows that would store or expose object data the proxy
 * cannot keep encrypted, and every request that matches no row exactly.
 */
export async function refuse(exchange: Exchange): Promise<void> {
  const { s3 } = exchange;
  const message =
    s3.row?.treatment === 'refuse'
      ? `${s3.row.operation} (${describeRow(s3.row)}) is refused by the encryption proxy: ${s3.row.reason}.`
      : `The encryption proxy refuses ${s3.unknownReason ?? 'this request'}; it forwards only requests it can name exactly, so that no object data passes unencrypted.`;
  throw new S3Error('NotImplemented', message, { resource: objectResource(s3) });
}
