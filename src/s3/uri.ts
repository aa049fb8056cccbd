/**
 * RFC 3986 encoding as S3 and SigV4 expect it: every byte except the unreserved set is percent-encoded, once.
 * Object keys are encoded segment by segment so that `/` stays a separator and nothing is ever normalised
 * (`a//b`, `./x` and `../y` are distinct keys in S3).
 */
export function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeRfc3986).join('/');
}

/** The query string in SigV4 canonical order; valueless sub-resources become `name=`, which S3 accepts. */
export function canonicalQueryString(query: ReadonlyArray<readonly [string, string]>): string {
  return query
    .map(([name, value]) => [encodeRfc3986(name), encodeRfc3986(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}
