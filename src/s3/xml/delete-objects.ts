/**
 * The DeleteObjects request (`<Delete><Quiet/><Object><Key/><VersionId/></Object>…</Delete>`) and the
 * per-key errors of its reply (`<DeleteResult>…<Error><Key/><VersionId/><Code/><Message/></Error></DeleteResult>`),
 * for the keys an authenticated client may not delete.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from '../errors.ts';
import { escapeXml } from './error.ts';

/**
 * One `<Object>` of the request, with the conditions S3 applies to it (`ETag`; `LastModifiedTime` and
 * `Size` on directory buckets), kept as written: a delete sent on without them would delete unconditionally.
 */
export type DeleteTarget = {
  readonly key: string;
  readonly versionId?: string;
  readonly etag?: string;
  readonly lastModifiedTime?: string;
  readonly size?: string;
};

const CONDITIONS = [
  ['ETag', 'etag'],
  ['LastModifiedTime', 'lastModifiedTime'],
  ['Size', 'size'],
] as const;
export type DeleteRequest = { readonly quiet: boolean; readonly objects: readonly DeleteTarget[] };

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  // Keys may begin or end with spaces.
  trimValues: false,
  isArray: (name) => name === 'Object',
  processEntities: true,
  htmlEntities: true,
});

export function parseDeleteObjects(xml: string): DeleteRequest {
  let document: { Delete?: { Quiet?: string; Object?: Array<Record<string, unknown>> } };
  try {
    if (XMLValidator.validate(xml) !== true) throw new S3Error('MalformedXML');
    document = parser.parse(xml) as typeof document;
  } catch {
    throw new S3Error('MalformedXML');
  }
  const root = document.Delete;
  if (root === undefined || typeof root !== 'object') throw new S3Error('MalformedXML');
  const objects = (root.Object ?? []).map((object) => {
    if (typeof object !== 'object' || typeof object.Key !== 'string' || object.Key === '') {
      throw new S3Error('MalformedXML');
    }
    const target: { -readonly [K in keyof DeleteTarget]: DeleteTarget[K] } = { key: object.Key };
    if (typeof object.VersionId === 'string') target.versionId = object.VersionId.trim();
    for (const [element, field] of CONDITIONS) {
      const value = object[element];
      if (value === undefined) continue;
      if (typeof value !== 'string') throw new S3Error('MalformedXML');
      target[field] = value.trim();
    }
    return target;
  });
  return { quiet: String(root.Quiet ?? '').trim() === 'true', objects };
}

export function serializeDeleteObjects(request: DeleteRequest): string {
  const objects = request.objects
    .map(
      (o) =>
        `<Object><Key>${escapeXml(o.key)}</Key>${o.versionId === undefined ? '' : `<VersionId>${escapeXml(o.versionId)}</VersionId>`}${CONDITIONS.map(([element, field]) => (o[field] === undefined ? '' : `<${element}>${escapeXml(o[field])}</${element}>`)).join('')}</Object>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${request.quiet ? '<Quiet>true</Quiet>' : ''}${objects}</Delete>`;
}

/** `<Error>` entries for keys refused by the proxy, as S3 reports a key it may not delete. */
export function accessDeniedEntries(targets: readonly DeleteTarget[]): string {
  return targets
    .map(
      (t) =>
        `<Error><Key>${escapeXml(t.key)}</Key>${t.versionId === undefined ? '' : `<VersionId>${escapeXml(t.versionId)}</VersionId>`}<Code>AccessDenied</Code><Message>Access Denied</Message></Error>`,
    )
    .join('');
}

/** A DeleteResult of the upstream with the refused keys' errors added; or one made of them alone. */
export function withDeniedEntries(upstreamXml: string | undefined, denied: readonly DeleteTarget[]): string {
  const entries = accessDeniedEntries(denied);
  if (upstreamXml === undefined) {
    return `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${entries}</DeleteResult>`;
  }
  const end = upstreamXml.lastIndexOf('</DeleteResult>');
  if (end < 0) throw new S3Error('InternalError', 'The upstream DeleteObjects reply has no DeleteResult.');
  return `${upstreamXml.slice(0, end)}${entries}${upstreamXml.slice(end)}`;
}
