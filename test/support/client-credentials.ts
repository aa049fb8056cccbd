/**
 * A client credentials file laid out as Kubernetes mounts a Secret: the data in a timestamped directory,
 * `..data` a symlink to it, and the file itself a symlink through `..data`. An update writes a new
 * directory and swaps `..data` in one rename, as the kubelet does, so the file's path never changes.
 */
import { mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const CREDENTIALS_KEY = 'credentials.yaml';

export type GrantSpec = { bucket: string; prefixes?: string[]; readOnly?: boolean };
export type CredentialSpec = { accessKeyId: string; secretAccessKey: string; allow: GrantSpec[] };

export type MountedCredentials = {
  /** What CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE names. */
  readonly path: string;
  /** Replaces the content the way a Secret update does. */
  update(content: CredentialSpec[] | string): Promise<void>;
  remove(): Promise<void>;
};

/** Only the fields of the format: the AWS SDK adds bookkeeping (`$source`) to credential objects it was given. */
export function credentialsYaml(credentials: CredentialSpec[]): string {
  return stringify({
    credentials: credentials.map(({ accessKeyId, secretAccessKey, allow }) => ({
      accessKeyId,
      secretAccessKey,
      allow,
    })),
  });
}

export async function mountCredentials(initial: CredentialSpec[] | string): Promise<MountedCredentials> {
  const dir = await mkdtemp(join(tmpdir(), 'cloudtaser-client-credentials-'));
  let generation = 0;
  const write = async (content: CredentialSpec[] | string) => {
    generation += 1;
    const data = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${generation}`;
    await mkdir(join(dir, data));
    await writeFile(
      join(dir, data, CREDENTIALS_KEY),
      typeof content === 'string' ? content : credentialsYaml(content),
    );
    const previous = await readlink(join(dir, '..data')).catch(() => undefined);
    await symlink(data, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true });
  };
  await write(initial);
  await symlink(join('..data', CREDENTIALS_KEY), join(dir, CREDENTIALS_KEY));
  return {
    path: join(dir, CREDENTIALS_KEY),
    update: write,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
