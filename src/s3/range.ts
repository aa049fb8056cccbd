/**
 * The `Range` header of GetObject/HeadObject, parsed into a small union and only then resolved against the
 * object's (plaintext) length. Behaviour mirrors AWS S3:
 * - One range per request. S3 does not serve `multipart/byteranges`: for `bytes=0-1,5-6` it ignores the header
 *   and answers 200 with the whole object. So do we (`parseRange` → 'invalid').
 * - A syntactically invalid header (other unit, `bytes=abc`, `bytes=5-2`, `bytes=-`) is ignored likewise:
 *   200 with the whole object, as RFC 9110 §14.2 allows and S3 does (`bytes=1-0` → 200 full).
 * - `last` past the end is clamped; a suffix longer than the object selects the whole object (206).
 * - `first` at or past the end is unsatisfiable (416 `InvalidRange`, `Content-Range: bytes *\/size`), and so is
 *   any first-last or first- range on an empty object (`bytes=0-` on 0 bytes is a 416 on AWS).
 * - `bytes=-0` is unsatisfiable (RFC 9110: a suffix range needs a non-zero length).
 * - A non-zero suffix on an empty object is satisfiable by RFC 9110 but has no byte positions to name; it is
 *   answered 200 with the (empty) whole object ('whole'), as S3-compatible servers that follow AWS do
 *   (floci #1141, Trino's empty-file tail read). Not verified against AWS directly.
 */

export type ParsedRange =
  | { readonly kind: 'bounded'; readonly first: number; readonly last: number }
  | { readonly kind: 'from'; readonly first: number }
  | { readonly kind: 'suffix'; readonly length: number };

/** Inclusive byte positions. */
export interface ResolvedRange {
  readonly start: number;
  readonly end: number;
}

/** Positions beyond this are clamped: no object is that large, and Number stays exact below it. */
const MAX_POSITION = Number.MAX_SAFE_INTEGER;

function position(digits: string): number {
  // Leading zeros are harmless; a huge number only matters as "past any end".
  const value = Number(digits);
  return Math.min(value, MAX_POSITION);
}

/**
 * undefined: no Range header. 'invalid': a header S3 would ignore (serve 200 with the whole object).
 */
export function parseRange(header: string | undefined): ParsedRange | undefined | 'invalid' {
  if (header === undefined) return undefined;
  const match = /^[ \t]*bytes[ \t]*=[ \t]*(.*?)[ \t]*$/i.exec(header);
  if (match === null) return 'invalid';
  const spec = match[1] ?? '';
  if (spec.includes(',')) return 'invalid';
  const suffix = /^-([0-9]+)$/.exec(spec);
  if (suffix !== null) return { kind: 'suffix', length: position(suffix[1] ?? '') };
  const range = /^([0-9]+)-([0-9]*)$/.exec(spec);
  if (range === null) return 'invalid';
  const first = position(range[1] ?? '');
  if (range[2] === '' || range[2] === undefined) return { kind: 'from', first };
  const last = position(range[2]);
  if (last < first) return 'invalid';
  return { kind: 'bounded', first, last };
}

/**
 * 'unsatisfiable': answer 416 InvalidRange with `Content-Range: bytes *\/size`.
 * 'whole': answer 200 with the whole object and no Content-Range (only a suffix range on an empty object).
 */
export function resolveRange(range: ParsedRange, size: number): ResolvedRange | 'unsatisfiable' | 'whole' {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`Invalid object size: ${size}`);
  switch (range.kind) {
    case 'suffix':
      if (range.length === 0) return 'unsatisfiable';
      if (size === 0) return 'whole';
      return { start: Math.max(0, size - range.length), end: size - 1 };
    case 'from':
      if (range.first >= size) return 'unsatisfiable';
      return { start: range.first, end: size - 1 };
    case 'bounded':
      if (range.first >= size) return 'unsatisfiable';
      return { start: range.first, end: Math.min(range.last, size - 1) };
  }
}

/** `Content-Range` of a 206 answer. */
export function contentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end}/${size}`;
}

/** `Content-Range` of a 416 answer. */
export function unsatisfiableContentRange(size: number): string {
  return `bytes */${size}`;
}

/** Bytes in an inclusive range. */
export function rangeLength(range: ResolvedRange): number {
  return range.end - range.start + 1;
}
