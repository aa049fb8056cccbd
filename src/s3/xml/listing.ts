/**
 * Rewrites the entries of a ListObjects / ListObjectsV2 / ListObjectVersions / ListParts reply in place. Only
 * the `<Size>` and `<ETag>` of each entry element (`<Contents>`, `<Version>`, `<Part>`) are touched; every other byte stays as
 * the upstream wrote it, so nothing the proxy does not understand can be lost in a re-serialisation.
 * Element text in S3 XML is entity-encoded, so a tag-shaped string inside a key cannot match these patterns.
 */
export type ListingEntry = { size: number; etag: string | undefined };
export type EntryRewrite = (entry: ListingEntry) => { size: number; etag: string | undefined };

const SIZE = /<Size>(\d+)<\/Size>/;
const ETAG = /<ETag>([^<]*)<\/ETag>/;

export function rewriteListingEntries(
  xml: string,
  rewrite: EntryRewrite,
  elements: readonly string[] = ['Contents', 'Version'],
): string {
  const entry = new RegExp(`<(${elements.join('|')})>([\\s\\S]*?)<\\/\\1>`, 'g');
  return xml.replace(entry, (whole, element: string, inner: string) => {
    const sizeMatch = SIZE.exec(inner);
    if (sizeMatch === null) return whole;
    const etagMatch = ETAG.exec(inner);
    const etag = etagMatch === null ? undefined : decodeQuotes(etagMatch[1] ?? '');
    const next = rewrite({ size: Number(sizeMatch[1]), etag });
    let body = inner.replace(SIZE, `<Size>${next.size}</Size>`);
    if (etagMatch !== null && next.etag !== undefined)
      body = body.replace(ETAG, `<ETag>${encodeQuotes(next.etag)}</ETag>`);
    return `<${element}>${body}</${element}>`;
  });
}

function decodeQuotes(text: string): string {
  return text.replaceAll('&quot;', '"').replaceAll('&#34;', '"');
}

function encodeQuotes(text: string): string {
  return text.replaceAll('"', '&quot;');
}

/** Keeps only the `<Bucket>` entries of a ListBuckets / ListDirectoryBuckets reply whose name passes `visible`. */
export function filterBucketEntries(xml: string, visible: (bucket: string) => boolean): string {
  return xml.replace(/<Bucket>([\s\S]*?)<\/Bucket>/g, (whole, inner: string) => {
    const name = /<Name>([^<]*)<\/Name>/.exec(inner)?.[1];
    return name !== undefined && visible(name) ? whole : '';
  });
}
