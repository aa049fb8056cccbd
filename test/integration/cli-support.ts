/**
 * Helpers of the cli-*.test.ts files: the tools run as users run them (`node src/main.ts <tool>`, configured
 * by the proxy's environment), objects written through the proxy, and what SeaweedFS really stores.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { discoverPartLayout, type PartLayout } from '../../src/envelope/index.ts';
import { bodyBytes } from '../support/fixtures.ts';
import { proxyEnv, runProxyCli } from '../support/proxy-process.ts';
import type { ServicesState } from '../support/services.ts';
import { bao } from './vault-support.ts';

type Vault = ServicesState['vault'];

/** The proxy's environment for a tool run: the tools ignore the listen addresses. */
export function toolEnv(
  services: Pick<ServicesState, 'vault' | 's3'>,
  overrides: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    ...proxyEnv(services, { listenAddr: '127.0.0.1:0', healthAddr: '127.0.0.1:0' }),
    ...overrides,
  };
}

export type ToolRun = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

export function runTool(
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs = 120_000,
): Promise<ToolRun> {
  return runProxyCli(args, env, { timeoutMs });
}

/** The one JSON line a tool prints with --json. */
export function summaryOf(run: ToolRun): Record<string, unknown> {
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`no JSON summary (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

/** A token holding only a policy `name` with these HCL rules (none: only OpenBao's `default`). */
export async function tokenWithRules(vault: Vault, name: string, rules: string[]): Promise<string> {
  await bao(vault, 'PUT', `sys/policies/acl/${name}`, { body: { policy: rules.join('\n') || '# nothing' } });
  const created = await bao(vault, 'POST', 'auth/token/create', {
    body: { policies: [name], ttl: '1h' },
  });
  const token = (created?.auth as { client_token?: string } | undefined)?.client_token;
  if (typeof token !== 'string') throw new Error('token create returned no client_token');
  return token;
}

/** A token holding update on `<mount>/{encrypt,decrypt,rewrap}/<key>`: the proxy's policy plus rewrap. */
export function rewrapToken(vault: Vault, key: string): Promise<string> {
  const mount = vault.transitMount;
  return tokenWithRules(
    vault,
    `${key}-rewrap`,
    ['encrypt', 'decrypt', 'rewrap'].map(
      (verb) => `path "${mount}/${verb}/${key}" { capabilities = ["update"] }`,
    ),
  );
}

/** A multipart upload through the proxy with exactly these parts. */
export { uploadParts } from '../support/fixtures.ts';

export type Stored = {
  bytes: Buffer;
  etag: string;
  metadata: Record<string, string>;
  contentType: string | undefined;
};

/** Exactly what SeaweedFS holds for a key. */
export async function stored(direct: S3Client, bucket: string, key: string): Promise<Stored> {
  const got = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return {
    bytes: await bodyBytes(got.Body),
    etag: got.ETag ?? '',
    metadata: got.Metadata ?? {},
    contentType: got.ContentType,
  };
}

/** Stores, directly in SeaweedFS, what `change` makes of what is stored for `key` (bytes and metadata). */
export async function alterStored(
  direct: S3Client,
  bucket: string,
  key: string,
  change: (saved: Stored) => Buffer | undefined,
): Promise<void> {
  const saved = await stored(direct, bucket, key);
  const bytes = change(saved) ?? saved.bytes;
  await direct.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, Metadata: saved.metadata }),
  );
}

export async function readThrough(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return bodyBytes(got.Body);
}

/** The part headers of a stored multipart object, located as the format says (docs/FORMAT.md §9.4). */
export async function storedLayout(direct: S3Client, bucket: string, key: string): Promise<PartLayout> {
  const head = await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const size = head.ContentLength ?? 0;
  return discoverPartLayout(size, async (offset) => {
    const got = await direct.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        Range: `bytes=${offset}-${Math.min(size, offset + 256) - 1}`,
      }),
    );
    return bodyBytes(got.Body);
  });
}

/** The Transit key version in a wrapped key (`vault:v3:…` → 3). */
export function versionOf(wrapped: string | undefined): number | undefined {
  const match = /^vault:v(\d+):/.exec(wrapped ?? '');
  return match === null ? undefined : Number(match[1]);
}
