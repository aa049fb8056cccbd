/**
 * `cloudtaser-s3-proxy decrypt`: recovery without the proxy. Reads one object from S3 (or a ciphertext file
 * saved from it), unwraps its data key(s) with Transit and writes the verified plaintext. It uses the
 * proxy's own reader, so it accepts exactly what the proxy would serve and fails where the proxy would.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config/index.ts';
import {
  ciphertextSize,
  createOpenStream,
  discoverPartLayout,
  EnvelopeError,
  type HeaderMap,
  META_FORMAT,
  PART_HEADER_SIZE,
  readEnvelope,
  type StoredEnvelope,
} from '../envelope/index.ts';
import type { KeyChoice } from '../kms/key-ring.ts';
import { multipartObject } from '../proxy/stored-object.ts';
import { envelopeOf, headObject, openEncrypted, readPlaintext, readStored, s3Url } from './s3-objects.ts';
import { describeError, openTools, UsageError } from './tool.ts';

export const DECRYPT_USAGE = `Usage:
  cloudtaser-s3-proxy decrypt s3://BUCKET/KEY [--version-id ID] --output FILE|-
  cloudtaser-s3-proxy decrypt --input CIPHERTEXT_FILE [--metadata METADATA_JSON] --output FILE|-

Decrypts one object with only Vault (Transit decrypt) and S3 read access; no proxy needs to run.
Single-part and multipart objects; every segment is verified before its plaintext is written.

  --output FILE   written to a temporary file beside FILE (mode 0600) and renamed to FILE only
                  once the whole object has verified: FILE never holds a partial plaintext.
  --output -      standard output. On a failure the bytes already written are a verified prefix
                  and the exit status is non-zero; use a file when the result must be all or nothing.
  --input FILE    the stored bytes of an object (what S3 holds, e.g. from "aws s3 cp" without the proxy).
  --metadata FILE JSON with the object's metadata, needed for a single-part object (multipart
                  objects carry their keys in the file). Either the x-amz-meta-cloudtaser-* headers
                  as an object ({"x-amz-meta-cloudtaser-format": "v1", ...}), or the output of
                  "aws s3api head-object" ({"Metadata": {"cloudtaser-format": "v1", ...}}).

Reads the same environment variables as the proxy (cloudtaser-s3-proxy --help).
Exit status: 0 written, 1 failed (nothing written to FILE), 2 usage.
`;

type DecryptArgs = {
  source:
    | { kind: 's3'; bucket: string; key: string; versionId: string | undefined }
    | { kind: 'file'; input: string; metadata: string | undefined };
  output: string;
};

function parseDecryptArgs(args: string[]): DecryptArgs | 'help' {
  let output: string | undefined;
  let input: string | undefined;
  let metadata: string | undefined;
  let versionId: string | undefined;
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    const [name, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = () => {
      const next = inline ?? args[++i];
      if (next === undefined) throw new UsageError(`${name} needs a value`);
      return next;
    };
    // `-` is a value (stdout), so the option parser is written out rather than util.parseArgs.
    if (name === '--output' || name === '-o') output = value();
    else if (name === '--input' || name === '-i') input = value();
    else if (name === '--metadata') metadata = value();
    else if (name === '--version-id') versionId = value();
    else if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
    else positionals.push(arg);
  }
  if (output === undefined) throw new UsageError('--output FILE (or - for standard output) is required');
  if (input !== undefined) {
    if (positionals.length > 0 || versionId !== undefined)
      throw new UsageError('give either s3://BUCKET/KEY or --input FILE, not both');
    return { source: { kind: 'file', input, metadata }, output };
  }
  if (metadata !== undefined) throw new UsageError('--metadata goes with --input');
  if (positionals.length !== 1) throw new UsageError('decrypt takes one s3://BUCKET/KEY (or --input FILE)');
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(positionals[0] as string);
  if (match === null)
    throw new UsageError(`the object must be s3://BUCKET/KEY, not ${JSON.stringify(positionals[0])}`);
  return { source: { kind: 's3', bucket: match[1] as string, key: match[2] as string, versionId }, output };
}

export async function decrypt(args: string[], config: Config): Promise<number> {
  const parsed = parseDecryptArgs(args);
  if (parsed === 'help') {
    process.stdout.write(DECRYPT_USAGE);
    return 0;
  }
  const tools = openTools(config);
  const { source } = parsed;
  const name = source.kind === 's3' ? s3Url(source.bucket, source.key) : source.input;
  try {
    await writeOutput(parsed.output, async () => {
      if (source.kind === 'file') return plaintextOfFile(source.input, source.metadata, tools.services.keys);
      const object = await headObject(tools.services.upstream, source.bucket, source.key, source.versionId);
      if (object === undefined)
        throw new Error(source.versionId === undefined ? 'no such object' : `no version ${source.versionId}`);
      const envelope = envelopeOf(object);
      if (envelope === undefined) {
        if (config.unencryptedObjects === 'refuse')
          throw new Error(
            `not encrypted (no ${META_FORMAT}), and CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS=refuse`,
          );
        process.stderr.write(`note: ${name} is not encrypted (no ${META_FORMAT}); written as stored\n`);
        return readStored(tools.services.upstream, object);
      }
      const encrypted = await openEncrypted(object, envelope, tools.services);
      return readPlaintext(tools.services.upstream, object, encrypted);
    });
    return 0;
  } catch (error) {
    process.stderr.write(`cloudtaser-s3-proxy decrypt: ${name}: ${describeError(error)}\n`);
    return error instanceof UsageError ? 2 : 1;
  } finally {
    await tools.close();
  }
}

/**
 * Streams the plaintext to FILE through a temporary file in the same directory, renamed over FILE only
 * after the last byte verified and was flushed; on any failure the temporary file is removed. `-` is stdout.
 */
async function writeOutput(output: string, plaintext: () => Promise<Readable>): Promise<void> {
  if (output === '-') {
    await pipeline(await plaintext(), process.stdout, { end: false });
    return;
  }
  const temporary = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    // Plaintext: readable by the owner only, like the key material it came from.
    await pipeline(await plaintext(), createWriteStream(temporary, { flags: 'wx', mode: 0o600 }));
    const handle = await open(temporary, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, output);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** A saved ciphertext file: single-part with its metadata, or multipart (its part headers say everything). */
async function plaintextOfFile(
  input: string,
  metadataPath: string | undefined,
  ring: KeyChoice,
): Promise<Readable> {
  const file = await open(input, 'r');
  try {
    const { size } = await file.stat();
    let envelope: StoredEnvelope | undefined;
    if (metadataPath !== undefined) {
      envelope = readEnvelope(await metadataFile(metadataPath));
      if (envelope === undefined)
        throw new UsageError(
          `${metadataPath} has no ${META_FORMAT}: not the metadata of an encrypted object`,
        );
    } else {
      const magic = Buffer.alloc(8);
      await file.read(magic, 0, 8, 0);
      if (magic.toString('latin1') !== 'CTS3PRT1')
        throw new UsageError(
          `${input} is not a multipart object (no part header); a single-part object needs --metadata`,
        );
      envelope = { format: 'v1-multipart' };
    }
    // A saved file has no bucket to check the mapping against: the key it records (or the default) is used.
    const keys = ring.forRecorded(envelope.transitKey);
    if (envelope.format === 'v1') {
      const expected = ciphertextSize(envelope.plaintextSize);
      if (size !== expected)
        throw new EnvelopeError(
          'SIZE_MISMATCH',
          `${input} holds ${size} bytes; the metadata's plaintext size needs ${expected}`,
        );
      const dek = await keys.unwrapKey(envelope.wrappedDek);
      const opener = createOpenStream({ dek, nonce: envelope.nonce, plaintextSize: envelope.plaintextSize });
      opener.once('close', () => dek.fill(0));
      return pipeFrom(createReadStream(input), opener);
    }
    const layout = await discoverPartLayout(size, async (offset) => {
      const header = Buffer.alloc(Math.min(PART_HEADER_SIZE, size - offset));
      await file.read(header, 0, header.length, offset);
      return header;
    });
    const opener = await multipartObject(layout, keys).open(undefined);
    return pipeFrom(createReadStream(input), opener);
  } finally {
    await file.close();
  }
}

function pipeFrom(source: Readable, opener: NodeJS.ReadWriteStream & Readable): Readable {
  source.on('error', (error) => opener.destroy(error));
  source.pipe(opener);
  return opener;
}

/** The metadata JSON: header names (`x-amz-meta-…`), bare user-metadata names, or `{"Metadata": {...}}`. */
async function metadataFile(path: string): Promise<HeaderMap> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`${path}: not JSON (${error instanceof Error ? error.message : error})`);
  }
  const root = parsed as { Metadata?: unknown } | null;
  const map =
    root !== null && typeof root === 'object' && typeof root.Metadata === 'object' ? root.Metadata : parsed;
  if (map === null || typeof map !== 'object' || Array.isArray(map))
    throw new UsageError(`${path}: expected a JSON object of metadata names and values`);
  const headers: HeaderMap = {};
  for (const [name, value] of Object.entries(map as Record<string, unknown>)) {
    if (typeof value !== 'string') continue;
    const lower = name.toLowerCase();
    const header = lower.startsWith('x-amz-meta-') ? lower : `x-amz-meta-${lower}`;
    const existing = headers[header];
    // Two spellings of one name are ambiguous: readEnvelope refuses a name present twice.
    headers[header] = existing === undefined ? value : [existing as string, value].flat();
  }
  return headers;
}
