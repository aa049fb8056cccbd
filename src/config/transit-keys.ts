/**
 * Transit keys per bucket and key prefix (CLOUDTASER_S3PROXY_TRANSIT_KEYS): the syntax, its validation, and
 * which key wraps a new object and which recorded keys a read may unwrap with. Pure: the proxy, the tools and
 * the injector's admission check all use this one definition. Why reads are restricted:
 * docs/decisions/0013-transit-keys-per-bucket.md.
 */
import { isVaultSegment, type Parsed } from './parse.ts';

/** A Transit key: `<mount>/encrypt/<key>` and `<mount>/decrypt/<key>` in Vault. */
export type TransitKeyName = { readonly mount: string; readonly key: string };

/** One mapping entry, mounts not yet defaulted: `keys[0]` wraps new objects, the others are only read. */
export type TransitKeyEntry = {
  readonly bucket: string;
  /** Empty: the whole bucket. */
  readonly prefix: string;
  readonly keys: readonly { readonly mount: string | undefined; readonly key: string }[];
};

/** S3's bucket naming rules (the DNS-compatible ones every current bucket follows). */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * `bucket[/prefix]=[mount:]key[|[mount:]key...]`, entries separated by commas. Every problem is named,
 * each with its entry, so that an operator fixes the mapping in one round.
 */
export function parseTransitKeyMapping(raw: string): Parsed<TransitKeyEntry[]> {
  const problems: string[] = [];
  const entries: TransitKeyEntry[] = [];
  const seen = new Map<string, number>();
  const texts = raw.split(',').map((text) => text.trim());
  texts.forEach((text, index) => {
    const where = `entry ${index + 1} (${JSON.stringify(text)})`;
    if (text === '') {
      problems.push(`${where} is empty`);
      return;
    }
    const equals = text.indexOf('=');
    if (equals < 0) {
      problems.push(`${where} has no "=" between location and key`);
      return;
    }
    const location = text.slice(0, equals).trim();
    const slash = location.indexOf('/');
    const bucket = slash < 0 ? location : location.slice(0, slash);
    const prefix = slash < 0 ? '' : location.slice(slash + 1);
    const before = problems.length;
    if (!BUCKET_NAME.test(bucket) || bucket.includes('..'))
      problems.push(
        `${where}: ${JSON.stringify(bucket)} is not a bucket name (3-63 characters: a-z, 0-9, ".", "-")`,
      );
    if (/[=|]/.test(prefix)) problems.push(`${where}: the prefix must not contain "=" or "|"`);
    const keys: { mount: string | undefined; key: string }[] = [];
    for (const spec of text.slice(equals + 1).split('|')) {
      const trimmed = spec.trim();
      const colon = trimmed.lastIndexOf(':');
      const mount = colon < 0 ? undefined : trimmed.slice(0, colon).replace(/^\/+|\/+$/g, '');
      const key = colon < 0 ? trimmed : trimmed.slice(colon + 1);
      if (key === '') problems.push(`${where}: a key name is empty`);
      else if (!isVaultSegment(key))
        problems.push(`${where}: key ${JSON.stringify(key)} must not contain "/", "?", "#", "%" or spaces`);
      if (mount !== undefined && !(mount !== '' && mount.split('/').every(isVaultSegment)))
        problems.push(
          `${where}: mount ${JSON.stringify(mount)} is not a mount path such as "transit" or "team-a/transit"`,
        );
      keys.push({ mount, key });
    }
    const id = `${bucket}/${prefix}`;
    const first = seen.get(id);
    if (first !== undefined)
      problems.push(`${where} maps the same location as entry ${first + 1} (${bucket}/${prefix})`);
    else seen.set(id, index);
    if (problems.length === before) entries.push({ bucket, prefix, keys });
  });
  if (problems.length > 0)
    return {
      ok: false,
      expected: `a comma-separated list of bucket[/prefix]=[mount:]key[|[mount:]key] entries; ${problems.join('; ')}`,
    };
  return { ok: true, value: entries };
}

/** How a Transit key is recorded in an object (`x-amz-meta-cloudtaser-transit-key`) and named in logs and metrics. */
export function transitKeyRef(name: TransitKeyName): string {
  return `${name.mount}/${name.key}`;
}

/** Where a read may unwrap: the key, or why the proxy refuses (never unwrapping). */
export type ReadKeyDecision =
  | { readonly ok: true; readonly key: TransitKeyName }
  | { readonly ok: false; readonly reason: 'unknown' | 'elsewhere'; readonly message: string };

type ResolvedEntry = { prefix: string; keys: readonly TransitKeyName[] };

/**
 * The mapping with mounts defaulted. `writeKey` is the key of the longest matching prefix (or the default);
 * a read unwraps only with a key that location accepts: its write key or one listed after it, so that an
 * object the provider moves in from another tenant's location is refused, never unwrapped under that
 * tenant's key (the confused deputy). An object without a recorded key was wrapped under the default key.
 */
export class TransitKeyMap {
  readonly defaultKey: TransitKeyName;
  readonly #byBucket = new Map<string, ResolvedEntry[]>();
  readonly #byRef = new Map<string, TransitKeyName>();
  readonly #default: ResolvedEntry;

  constructor(defaultKey: TransitKeyName, entries: readonly TransitKeyEntry[] = []) {
    this.defaultKey = { mount: defaultKey.mount, key: defaultKey.key };
    this.#default = { prefix: '', keys: [this.defaultKey] };
    this.#remember(this.defaultKey);
    for (const entry of entries) {
      const keys = entry.keys.map((spec) =>
        this.#remember({ mount: spec.mount ?? defaultKey.mount, key: spec.key }),
      );
      const list = this.#byBucket.get(entry.bucket) ?? [];
      list.push({ prefix: entry.prefix, keys });
      // Longest prefix first, so the first match is the one that wins.
      list.sort((a, b) => b.prefix.length - a.prefix.length);
      this.#byBucket.set(entry.bucket, list);
    }
  }

  /** Every distinct key the proxy is configured with, the default first: what /readyz checks. */
  get keys(): readonly TransitKeyName[] {
    return [...this.#byRef.values()];
  }

  /** Whether any bucket or prefix has its own key (otherwise everything uses the default). */
  get mapped(): boolean {
    return this.#byBucket.size > 0;
  }

  /** The key that wraps the data keys of a new object (or part) at bucket/objectKey. */
  writeKey(bucket: string, objectKey: string): TransitKeyName {
    return this.#entry(bucket, objectKey).keys[0] as TransitKeyName;
  }

  /** The key to unwrap an object's data keys with, given the key it records (undefined: none recorded). */
  readKey(bucket: string, objectKey: string, recorded: string | undefined): ReadKeyDecision {
    const ref = recorded ?? transitKeyRef(this.defaultKey);
    const configured = this.#byRef.get(ref);
    if (configured === undefined)
      return {
        ok: false,
        reason: 'unknown',
        message: `The object records Transit key ${ref}, which this proxy is not configured with (CLOUDTASER_S3PROXY_TRANSIT_KEY, CLOUDTASER_S3PROXY_TRANSIT_KEYS); it is not unwrapped.`,
      };
    const entry = this.#entry(bucket, objectKey);
    if (entry.keys.some((key) => transitKeyRef(key) === ref)) return { ok: true, key: configured };
    const location = entry === this.#default ? 'unmapped objects' : `${bucket}/${entry.prefix}`;
    return {
      ok: false,
      reason: 'elsewhere',
      message:
        `The object records Transit key ${ref}, which the mapping does not accept for ${location} (it accepts ${entry.keys.map(transitKeyRef).join(', ')}); ` +
        'an object wrapped for another bucket or prefix is not unwrapped here. If the mapping changed, list the former key after the new one (bucket=new|old) in CLOUDTASER_S3PROXY_TRANSIT_KEYS.',
    };
  }

  #entry(bucket: string, objectKey: string): ResolvedEntry {
    const list = this.#byBucket.get(bucket);
    return list?.find((entry) => objectKey.startsWith(entry.prefix)) ?? this.#default;
  }

  #remember(name: TransitKeyName): TransitKeyName {
    const ref = transitKeyRef(name);
    const known = this.#byRef.get(ref);
    if (known !== undefined) return known;
    this.#byRef.set(ref, name);
    return name;
  }
}
