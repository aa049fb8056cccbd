/**
 * The SigV4 canonical request of a request as the proxy received it (AWS "Create a canonical request"):
 *
 *     <method>\n<canonical URI>\n<canonical query>\n<canonical headers>\n\n<signed headers>\n<payload hash>
 *
 * Built from the raw request target and the raw header lines, never from anything parsed and re-encoded
 * for the upstream, so that what is verified is what the client signed. S3 never normalises paths
 * (`a//b`, `./x`, `../y` are keys), so neither does this.
 */
import { parseQuery } from '../classify.ts';
import { canonicalQueryString, encodeRfc3986 } from '../uri.ts';

/** Node's `req.rawHeaders`: names as sent and values, alternating, duplicates kept in order. */
export type RawHeaders = readonly string[];

export type CanonicalRequestParts = {
  readonly method: string;
  readonly canonicalUri: string;
  readonly canonicalQuery: string;
  /** Lower-case names, in the order the client listed them. */
  readonly signedHeaders: readonly string[];
  readonly rawHeaders: RawHeaders;
  readonly payloadHash: string;
};

/** Path and query of a request target; an absolute-form target (`http://host/path`) loses its authority. */
export function splitRequestTarget(rawUrl: string): { path: string; rawQuery: string } {
  let rest = rawUrl;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/.exec(rest);
  if (scheme !== null) rest = rest.slice(scheme[0].length) || '/';
  if (rest.startsWith('?')) rest = `/${rest}`;
  const question = rest.indexOf('?');
  return question < 0
    ? { path: rest, rawQuery: '' }
    : { path: rest.slice(0, question), rawQuery: rest.slice(question + 1) };
}

/**
 * The canonical URI for the path as it came over the wire: an SDK signs exactly the encoding it sends.
 * Characters that cannot appear unencoded on the wire (a space, non-ASCII) are encoded, as the signer
 * would have; existing `%XX` escapes stay as they are.
 */
export function wireCanonicalUri(rawPath: string): string {
  let out = '';
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath[i] as string;
    if (c === '%' && /^[0-9A-Fa-f]{2}$/.test(rawPath.slice(i + 1, i + 3))) {
      out += rawPath.slice(i, i + 3);
      i += 2;
    } else if (c === '/' || /[A-Za-z0-9\-._~!$&'()*+,;=:@]/.test(c)) {
      out += c;
    } else {
      const codePoint = rawPath.codePointAt(i) ?? 0;
      if (codePoint > 0xffff) i++;
      out += encodeRfc3986(String.fromCodePoint(codePoint));
    }
  }
  return out;
}

/**
 * The canonical URI of the path decoded once and encoded strictly (RFC 3986, every byte but the unreserved
 * set), segment by segment: what the signer computed when the client's HTTP stack changed the encoding
 * after signing (`~` sent as `%7E`, `!` left bare). Both forms name the same key once decoded.
 */
export function strictCanonicalUri(rawPath: string): string {
  return rawPath
    .split('/')
    .map((segment) => encodeRfc3986(decodePathSegment(segment)))
    .join('/');
}

/** The canonical URIs a signature may have been made over, the wire form first. */
export function canonicalUriCandidates(rawPath: string): string[] {
  const wire = wireCanonicalUri(rawPath);
  const strict = strictCanonicalUri(rawPath);
  return strict === wire ? [wire] : [wire, strict];
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The canonical query: every parameter but `excluded` (the presigned signature), decoded the way the
 * proxy reads the query (so the signature covers what the proxy acts on), encoded and sorted.
 */
export function canonicalQuery(rawQuery: string, excluded?: string): string {
  return canonicalQueryString(parseQuery(rawQuery).filter(([name]) => name !== excluded));
}

/** Every value of a header (any case of its name), trimmed, in the order received. */
export function headerValues(rawHeaders: RawHeaders, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === name) values.push((rawHeaders[i + 1] as string).trim());
  }
  return values;
}

/** `name:value\n` for each signed header: every value of that name, trimmed, inner whitespace collapsed, joined by ','. */
export function canonicalHeaders(rawHeaders: RawHeaders, signedHeaders: readonly string[]): string {
  let out = '';
  for (const name of signedHeaders) {
    const values: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      if ((rawHeaders[i] as string).toLowerCase() === name) {
        values.push((rawHeaders[i + 1] as string).trim().replace(/\s+/g, ' '));
      }
    }
    out += `${name}:${values.join(',')}\n`;
  }
  return out;
}

export function canonicalRequest(parts: CanonicalRequestParts): string {
  return [
    parts.method,
    parts.canonicalUri,
    parts.canonicalQuery,
    canonicalHeaders(parts.rawHeaders, parts.signedHeaders),
    parts.signedHeaders.join(';'),
    parts.payloadHash,
  ].join('\n');
}
