/**
 * Helpers of the Transit-keys-per-bucket tests: Transit keys of the test's own, a token whose policy
 * names exactly the keys it may use, and a look at what an object records and which key its DEK is under.
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { bodyBytes } from '../support/fixtures.ts';
import type { ServicesState } from '../support/services.ts';
import { bao } from './vault-support.ts';

type Vault = ServicesState['vault'];

/** A new Transit key (aes256-gcm96) on the services' mount. */
export async function createTransitKey(vault: Vault, name: string): Promise<string> {
  await bao(vault, 'POST', `${vault.transitMount}/keys/${name}`, { body: { type: 'aes256-gcm96' } });
  return name;
}

/** A token whose only policy allows encrypt and decrypt on exactly these keys (the proxy's policy, per key). */
export async function tokenForKeys(vault: Vault, policy: string, keys: readonly string[]): Promise<string> {
  const rules = keys.flatMap((key) => [
    `path "${vault.transitMount}/encrypt/${key}" { capabilities = ["update"] }`,
    `path "${vault.transitMount}/decrypt/${key}" { capabilities = ["update"] }`,
  ]);
  await bao(vault, 'PUT', `sys/policies/acl/${policy}`, { body: { policy: rules.join('\n') } });
  const created = await bao(vault, 'POST', 'auth/token/create', {
    body: { policies: [policy], ttl: '1h', renewable: true },
  });
  const token = (created?.auth as { client_token?: string } | undefined)?.client_token;
  if (typeof token !== 'string') throw new Error('token create returned no client_token');
  return token;
}

/** The envelope metadata of a stored object, as SeaweedFS holds it (names without `x-amz-meta-`). */
export async function storedMetadata(
  direct: S3Client,
  bucket: string,
  key: string,
): Promise<Record<string, string>> {
  const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return head.Metadata ?? {};
}

/** Whether Transit key `key` unwraps `wrapped` (asked as root, so only the key decides). */
export async function unwrapsUnder(vault: Vault, key: string, wrapped: string): Promise<boolean> {
  const answer = await bao(vault, 'POST', `${vault.transitMount}/decrypt/${key}`, {
    body: { ciphertext: wrapped },
    okStatuses: [400],
  });
  return typeof (answer?.data as { plaintext?: unknown } | undefined)?.plaintext === 'string';
}

/** The wrapped DEK in the first part header of a stored multipart object (FORMAT.md section 9.2). */
export async function firstPartDek(direct: S3Client, bucket: string, key: string): Promise<string> {
  const response = await direct.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-255' }),
  );
  const header = await bodyBytes(response.Body);
  return header.subarray(50, 50 + header.readUInt16BE(48)).toString('latin1');
}
