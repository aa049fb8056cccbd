/**
 * The ETag policy (docs/decisions/0002-etags.md). Upstream, the ETag of an encrypted single-part object is
 * the MD5 of its ciphertext. Shown as it is, clients that treat a 32-hex ETag as the content MD5 (rclone,
 * s3cmd, older Java SDKs) would call the object corrupt. So the proxy shows it with the suffix `-0`: still
 * unique and stable per stored object, the same in PUT, HEAD, GET and listings, and no longer an MD5 in
 * form; no multipart ETag ends in `-0`, so the mapping back for conditional requests is exact.
 */
const PLAIN_MD5_ETAG = /^"?([0-9a-fA-F]{32})"?$/;
const PRESENTED_ETAG = /^"?([0-9a-fA-F]{32})-0"?$/;

export function presentETag(upstreamETag: string | undefined): string | undefined {
  if (upstreamETag === undefined) return undefined;
  const match = PLAIN_MD5_ETAG.exec(upstreamETag.trim());
  return match === null ? upstreamETag : `"${match[1]}-0"`;
}

/** Maps the ETags in If-Match / If-None-Match / x-amz-copy-source-if-* lists back to what upstream knows. */
export function upstreamETagCondition(value: string): string {
  return value
    .split(',')
    .map((item) => {
      const trimmed = item.trim();
      const match = PRESENTED_ETAG.exec(trimmed.replace(/^W\//, ''));
      return match === null ? trimmed : `"${match[1]}"`;
    })
    .join(', ');
}

export const CONDITION_HEADERS = [
  'if-match',
  'if-none-match',
  'x-amz-copy-source-if-match',
  'x-amz-copy-source-if-none-match',
] as const;

export function translateConditions(headers: Record<string, string>): void {
  for (const name of CONDITION_HEADERS) {
    const value = headers[name];
    if (value !== undefined) headers[name] = upstreamETagCondition(value);
  }
}

/**
 * A DeleteObjects body with its `<ETag>` conditions mapped back to what upstream knows, or undefined when
 * none names an ETag in the proxy's form (the body then goes as it is). Quotes may come as `&quot;` or
 * `&#34;` (Go's encoding/xml); the mapped value is written with `&quot;`.
 */
export function upstreamDeleteConditions(body: Buffer): Buffer | undefined {
  const xml = body.toString('utf8');
  let changed = false;
  const mapped = xml.replace(/<ETag>([^<]*)<\/ETag>/g, (element, text: string) => {
    const value = text.replace(/&quot;|&#34;|&#x22;/gi, '"').trim();
    const upstream = upstreamETagCondition(value);
    if (upstream === value) return element;
    changed = true;
    return `<ETag>${upstream.replaceAll('"', '&quot;')}</ETag>`;
  });
  return changed ? Buffer.from(mapped, 'utf8') : undefined;
}
