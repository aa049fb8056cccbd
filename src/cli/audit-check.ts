/**
 * The audit of one object: what its HEAD says (the envelope, the stored size), for multipart objects what
 * their part headers say (located with a ranged GET of 256 bytes per part), and, when it is to be
 * verified, every stored byte read and authenticated with the proxy's own reader, the plaintext thrown
 * away as it verifies. Every outcome becomes one AuditRecord; nothing here changes the bucket.
 */
import {
  assertStoredSize,
  isEnvelopeError,
  META_TRANSIT_KEY,
  type PartLayout,
  type StoredEnvelope,
} from '../envelope/index.ts';
import { KeyServiceError, wrappedKeyVersion } from '../kms/key-wrapper.ts';
import type { TransitKeyInfo } from '../kms/transit.ts';
import { LayoutCache, storedPartLayout } from '../proxy/stored-object.ts';
import type { AuditRecord, AuditStatus, TransitKeyRef } from './audit-ledger.ts';
import {
  discardStream,
  envelopeOf,
  headObject,
  type IncompleteUpload,
  identityOf,
  listUploadParts,
  openEncrypted,
  readPlaintext,
  type StoredObject,
  type ToolServices,
  UpstreamError,
} from './s3-objects.ts';
import { describeError } from './tool.ts';

/** Transit's key information, or why the audit could not read it. */
export type KeyInfoResult =
  | { ok: true; info: TransitKeyInfo }
  | { ok: false; reason: string; denied: boolean };

export type AuditChecker = {
  bucket: string;
  services: ToolServices;
  /** CLOUDTASER_S3PROXY_TRANSIT_MOUNT/KEY: the key of every object that names none. */
  configuredKey: TransitKeyRef;
  keyInfo: (key: TransitKeyRef) => Promise<KeyInfoResult>;
  shouldVerify: (key: string, versionId: string | null) => boolean;
  /** Set when Vault refused this token Transit decrypt: no further object is sent to Vault to verify. */
  vaultRefusal: string | undefined;
};

/**
 * The Transit key that wrapped an object's data keys, from what the object records
 * (`x-amz-meta-cloudtaser-transit-key: <mount>/<key>`, FORMAT.md section 7); an object that records none
 * is under the configured default key. The one place the audit reads a recorded key name.
 */
export function transitKeyOf(
  object: StoredObject,
  configured: TransitKeyRef,
): TransitKeyRef & { recordedInObject: boolean } {
  const recorded = recordedTransitKey(object.headers);
  const slash = recorded?.lastIndexOf('/') ?? -1;
  if (recorded === undefined || slash <= 0 || slash === recorded.length - 1)
    return { ...configured, recordedInObject: false };
  return { mount: recorded.slice(0, slash), key: recorded.slice(slash + 1), recordedInObject: true };
}

function recordedTransitKey(headers: StoredObject['headers']): string | undefined {
  for (const [name, value] of Object.entries(headers))
    if (name.toLowerCase() === META_TRANSIT_KEY && typeof value === 'string') return value;
  return undefined;
}

/**
 * The tools' services with a cache of part layouts sized for the audit: a layout is needed from an
 * object's HEAD to the end of its verification, so a few per object under way, not the proxy's thousand
 * (whose memory grows with part counts).
 */
export function auditServices(services: ToolServices, concurrency: number): ToolServices {
  return { ...services, layouts: new LayoutCache(4 * concurrency) };
}

/**
 * The part layout of a multipart object, located the way the proxy locates it. How the proxy finds (and
 * authenticates) multipart layouts reaches the audit only through this file and, for verification, the
 * shared read path behind openEncrypted. storedPartLayout reports an S3 error answering a header read as
 * TRUNCATED; that says nothing about the object, so it becomes the S3 error it is.
 */
async function locateParts(object: StoredObject, services: ToolServices): Promise<PartLayout> {
  try {
    return await storedPartLayout(identityOf(object), services);
  } catch (error) {
    const status = isEnvelopeError(error, 'TRUNCATED')
      ? /upstream answered HTTP (\d+)/.exec(error.message)
      : null;
    if (status !== null)
      throw new UpstreamError(
        Number(status[1]),
        undefined,
        `reading the part headers: S3 answered HTTP ${status[1]}`,
      );
    throw error;
  }
}

/** The FORMAT.md §11 failures that mean the stored length does not fit the envelope. */
const SIZE_CODES = new Set(['SIZE_IMPOSSIBLE', 'SIZE_MISMATCH', 'TRUNCATED', 'TRAILING_DATA']);

/**
 * What a failure says about the object. Before the body (`envelope`): a named failure is a malformed
 * envelope or a stored size that does not fit it. While verifying (`verify`): any named failure, or a
 * wrapped key Transit will not unwrap, is a failed verification. A retired key version is its own
 * finding; Vault or S3 failing to answer, or the object changing meanwhile, mean it could not be checked.
 */
export function classifyFailure(
  error: unknown,
  phase: 'envelope' | 'verify',
): { status: AuditStatus; failure: { code: string; message: string } } {
  if (isEnvelopeError(error)) {
    const status: AuditStatus =
      phase === 'verify'
        ? 'verify-failed'
        : SIZE_CODES.has(error.code)
          ? 'size-mismatch'
          : 'malformed-envelope';
    return { status, failure: { code: error.code, message: error.message } };
  }
  const message = describeError(error);
  if (error instanceof KeyServiceError) {
    if (error.kind === 'retired')
      return { status: 'key-version-retired', failure: { code: 'KEY_VERSION_RETIRED', message } };
    if (error.kind === 'rejected')
      return { status: 'verify-failed', failure: { code: 'KEY_REJECTED', message } };
    return {
      status: 'not-checked',
      failure: { code: error.kind === 'denied' ? 'VAULT_DENIED' : 'VAULT_UNAVAILABLE', message },
    };
  }
  if (
    error instanceof UpstreamError &&
    (error.status === 404 || error.status === 412 || error.code === 'PreconditionFailed')
  )
    return {
      status: 'not-checked',
      failure: {
        code: 'CHANGED',
        message: `the object changed or went while it was audited (${message}); run again`,
      },
    };
  if (error instanceof UpstreamError)
    return { status: 'not-checked', failure: { code: 'S3_ERROR', message } };
  return { status: 'not-checked', failure: { code: 'ERROR', message } };
}

/** A record of which nothing is known yet but what it is. */
function newRecord(identity: Pick<AuditRecord, 'kind' | 'key'> & Partial<AuditRecord>): AuditRecord {
  return {
    versionId: null,
    latest: null,
    uploadId: null,
    initiated: null,
    status: 'not-checked',
    storedSize: null,
    etag: null,
    format: null,
    plaintextSize: null,
    parts: null,
    transit: null,
    keyVersions: [],
    verified: false,
    failure: null,
    checkedAt: '',
    ...identity,
  };
}

/** One listed object version; undefined when it is gone by the time of its HEAD. */
export async function checkObject(
  checker: AuditChecker,
  entry: { key: string; versionId: string | null; latest: boolean | null },
): Promise<AuditRecord | undefined> {
  const record = newRecord({
    kind: 'object',
    key: entry.key,
    versionId: entry.versionId,
    latest: entry.latest,
  });
  const done = (status: AuditStatus, failure: AuditRecord['failure'] = null): AuditRecord => {
    record.status = status;
    record.failure = failure;
    record.checkedAt = new Date().toISOString();
    return record;
  };
  const failed = (error: unknown, phase: 'envelope' | 'verify') => {
    const { status, failure } = classifyFailure(error, phase);
    return done(status, failure);
  };

  let object: StoredObject | undefined;
  try {
    object = await headObject(
      checker.services.upstream,
      checker.bucket,
      entry.key,
      entry.versionId ?? undefined,
    );
  } catch (error) {
    return failed(error, 'envelope');
  }
  if (object === undefined) return undefined;
  record.storedSize = object.storedSize;
  record.etag = object.etag;

  let envelope: StoredEnvelope | undefined;
  try {
    envelope = envelopeOf(object);
  } catch (error) {
    return failed(error, 'envelope');
  }
  if (envelope === undefined)
    return done('not-encrypted', {
      code: 'NO_ENVELOPE',
      message: 'no x-amz-meta-cloudtaser-format: stored as it was sent, not by the proxy',
    });
  record.format = envelope.format;
  record.transit = transitKeyOf(object, checker.configuredKey);
  try {
    // Free to check without Vault: an object whose location does not accept the key it records was not
    // written there by the proxy (a provider's copy from another tenant, or an edited envelope).
    checker.services.keys.recordedKey(checker.bucket, entry.key, envelope.transitKey);
  } catch (error) {
    if (error instanceof KeyServiceError && error.notAcceptedHere)
      return done('malformed-envelope', {
        code: 'TRANSIT_KEY_NOT_ACCEPTED',
        message: error.clientMessage ?? error.message,
      });
    throw error;
  }

  try {
    if (envelope.format === 'v1') {
      record.plaintextSize = envelope.plaintextSize;
      record.keyVersions = [wrappedKeyVersion(envelope.wrappedDek) ?? null];
      assertStoredSize(envelope.plaintextSize, object.storedSize);
    } else {
      const layout = await locateParts(object, checker.services);
      record.parts = layout.parts.length;
      record.plaintextSize = layout.plainSize;
      record.keyVersions = layout.parts.map((part) => wrappedKeyVersion(part.header.wrappedDek) ?? null);
    }
  } catch (error) {
    return failed(error, 'envelope');
  }

  const keyInfo = await checker.keyInfo(record.transit);
  if (keyInfo.ok) {
    const minimum = keyInfo.info.minDecryptionVersion;
    const below = [...new Set(record.keyVersions.filter((version) => version !== null && version < minimum))];
    if (below.length > 0)
      return done('key-version-retired', {
        code: 'KEY_VERSION_RETIRED',
        message: `data keys under key version ${below.join(', ')} of ${record.transit.mount}/${record.transit.key}, below its min_decryption_version ${minimum}: Transit will not unwrap them`,
      });
  }

  if (!checker.shouldVerify(entry.key, entry.versionId)) return done('encrypted');
  if (checker.vaultRefusal !== undefined)
    return done('not-checked', { code: 'VAULT_DENIED', message: checker.vaultRefusal });
  try {
    const encrypted = await openEncrypted(object, envelope, checker.services);
    const bytes = await discardStream(await readPlaintext(checker.services.upstream, object, encrypted));
    if (bytes !== encrypted.plainSize)
      throw new Error(`verified ${bytes} plaintext bytes of the ${encrypted.plainSize} the object holds`);
    // The proxy fails every GET of an object whose sealed checksum does not open; so does the audit.
    await encrypted.checksum();
    record.plaintextSize = bytes;
    record.verified = true;
    return done('encrypted');
  } catch (error) {
    if (error instanceof KeyServiceError && error.kind === 'denied')
      checker.vaultRefusal = describeError(error);
    return failed(error, 'verify');
  }
}

/** An incomplete multipart upload: reported with the parts it holds; its bytes cannot be read through S3. */
export async function checkUpload(checker: AuditChecker, upload: IncompleteUpload): Promise<AuditRecord> {
  const record = newRecord({
    kind: 'incomplete-upload',
    key: upload.key,
    uploadId: upload.uploadId,
    initiated: upload.initiated ?? null,
  });
  record.status = 'incomplete-upload';
  try {
    const { parts, storedBytes } = await listUploadParts(checker.services.upstream, checker.bucket, upload);
    record.parts = parts;
    record.storedSize = storedBytes;
  } catch (error) {
    record.failure = { code: 'S3_ERROR', message: describeError(error) };
  }
  record.checkedAt = new Date().toISOString();
  return record;
}
