import { S3Error } from '../s3/errors.ts';
import { handlingOf } from '../s3/operations.ts';
import type { Exchange } from './exchange.ts';

/** Operations that would store or expose object data the proxy cannot keep encrypted (R-S3-6). */
export async function refuse(exchange: Exchange): Promise<void> {
  const reason = handlingOf(exchange.s3.operation).reason ?? 'operation not supported';
  throw new S3Error(
    'NotImplemented',
    `${exchange.s3.operation} is refused by the encryption proxy: ${reason}.`,
  );
}
