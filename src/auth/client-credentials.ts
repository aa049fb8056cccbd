/**
 * The client credentials file (CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE): who may sign requests to the
 * proxy, and which buckets and key prefixes each access key reaches. YAML (so JSON works too), usually the
 * one key of a Kubernetes Secret:
 *
 *     credentials:
 *       - accessKeyId: APPREADWRITE0001
 *         secretAccessKey: "<40 random characters>"
 *         allow:
 *           - bucket: app-data                  # the whole bucket, read and write
 *           - bucket: shared
 *             prefixes: [reports/, exports/]   # only keys under these prefixes
 *             readOnly: true                   # no writes of any kind
 *           - bucket: "logs-*"                 # a trailing * matches bucket names by prefix; "*" is every bucket
 *
 * Parsing is strict: an unknown field is an error (a misspelt `readonly` must not silently grant writes),
 * and errors name the entry and field but never quote the file, which holds secrets.
 */
import { LineCounter, parseDocument } from 'yaml';

export type Grant = {
  /** An exact bucket name, a prefix pattern ending in `*`, or `*` for every bucket. */
  readonly bucket: string;
  /** Key prefixes the grant is limited to; empty: the whole bucket, bucket configuration included. */
  readonly prefixes: readonly string[];
  readonly readOnly: boolean;
};

export type ClientCredential = {
  readonly accessKeyId: string;
  /** Not enumerable, so that logging or serialising a credential cannot print it. */
  readonly secretAccessKey: string;
  readonly grants: readonly Grant[];
};

export type ClientCredentials = ReadonlyMap<string, ClientCredential>;

export class CredentialsFileError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'CredentialsFileError';
    this.problems = problems;
  }
}

/** Access key ids as AWS forms them and S3-compatible stores accept; no `/`, which separates the scope. */
const ACCESS_KEY_ID = /^[A-Za-z0-9._-]{3,128}$/;
export const MIN_SECRET_LENGTH = 16;
const BUCKET_PATTERN = /^(\*|[A-Za-z0-9._-]{1,255}\*?)$/;
const CREDENTIAL_FIELDS = new Set(['accessKeyId', 'secretAccessKey', 'allow', 'description']);
const GRANT_FIELDS = new Set(['bucket', 'prefixes', 'readOnly']);

export function parseClientCredentials(text: string): ClientCredentials {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  if (document.errors.length > 0) {
    throw new CredentialsFileError(
      document.errors.map((error) => {
        const at = lineCounter.linePos(error.pos[0]);
        return `not valid YAML (${error.code} at line ${at.line}, column ${at.col})`;
      }),
    );
  }
  const root: unknown = document.toJS();
  const problems: string[] = [];
  const credentials = new Map<string, ClientCredential>();
  if (!isRecord(root) || !Array.isArray(root.credentials)) {
    throw new CredentialsFileError(['the file must be a mapping with a list "credentials"']);
  }
  for (const field of Object.keys(root)) {
    if (field !== 'credentials') problems.push(`unknown top-level field "${field}"`);
  }
  root.credentials.forEach((entry: unknown, index: number) => {
    const where = `credentials[${index}]`;
    if (!isRecord(entry)) {
      problems.push(`${where} must be a mapping`);
      return;
    }
    for (const field of Object.keys(entry)) {
      if (!CREDENTIAL_FIELDS.has(field)) problems.push(`${where}: unknown field "${field}"`);
    }
    const { accessKeyId, secretAccessKey, allow } = entry;
    const id = typeof accessKeyId === 'string' ? accessKeyId : undefined;
    const named = id === undefined ? where : `${where} (${id})`;
    if (id === undefined || !ACCESS_KEY_ID.test(id)) {
      problems.push(`${where}: accessKeyId must be 3 to 128 letters, digits, ".", "_" or "-"`);
    } else if (credentials.has(id)) {
      problems.push(`${named}: accessKeyId is listed twice`);
    }
    if (typeof secretAccessKey !== 'string' || secretAccessKey.length < MIN_SECRET_LENGTH) {
      problems.push(`${named}: secretAccessKey must be a string of at least ${MIN_SECRET_LENGTH} characters`);
    } else if (/\s/.test(secretAccessKey)) {
      problems.push(`${named}: secretAccessKey must not contain whitespace`);
    }
    if (entry.description !== undefined && typeof entry.description !== 'string') {
      problems.push(`${named}: description must be a string`);
    }
    if (!Array.isArray(allow)) {
      problems.push(`${named}: allow must be a list of grants ({bucket, prefixes?, readOnly?})`);
      return;
    }
    const grants = allow.flatMap((grant: unknown, grantIndex: number) => {
      const parsed = parseGrant(grant, `${named}.allow[${grantIndex}]`, problems);
      return parsed === undefined ? [] : [parsed];
    });
    if (id !== undefined && typeof secretAccessKey === 'string') {
      const credential = { accessKeyId: id, grants } as unknown as ClientCredential;
      Object.defineProperty(credential, 'secretAccessKey', { value: secretAccessKey, enumerable: false });
      credentials.set(id, Object.freeze(credential));
    }
  });
  if (problems.length > 0) throw new CredentialsFileError(problems);
  return credentials;
}

function parseGrant(grant: unknown, where: string, problems: string[]): Grant | undefined {
  if (!isRecord(grant)) {
    problems.push(`${where} must be a mapping with a bucket`);
    return undefined;
  }
  for (const field of Object.keys(grant)) {
    if (!GRANT_FIELDS.has(field)) problems.push(`${where}: unknown field "${field}"`);
  }
  const { bucket, prefixes = [], readOnly = false } = grant;
  let ok = true;
  if (typeof bucket !== 'string' || !BUCKET_PATTERN.test(bucket)) {
    problems.push(`${where}: bucket must be a bucket name, a name prefix ending in "*", or "*"`);
    ok = false;
  }
  if (!Array.isArray(prefixes) || prefixes.some((p) => typeof p !== 'string' || p === '')) {
    problems.push(
      `${where}: prefixes must be a list of non-empty key prefixes (omit it for the whole bucket)`,
    );
    ok = false;
  }
  if (typeof readOnly !== 'boolean') {
    problems.push(`${where}: readOnly must be true or false`);
    ok = false;
  }
  return ok
    ? Object.freeze({
        bucket: bucket as string,
        prefixes: Object.freeze([...(prefixes as string[])]),
        readOnly: readOnly as boolean,
      })
    : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
