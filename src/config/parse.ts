/**
 * Parsers for single configuration values. Each returns either the parsed value or the phrase that
 * completes "<VARIABLE> must be ..." so that every error names the variable and what was expected, and
 * the caller decides whether the offending value may be echoed (secrets never are).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { isIP, isIPv6 } from 'node:net';

export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (expected: string): Parsed<never> => ({ ok: false, expected });

/**
 * Where a listener binds. `host: undefined` means every interface: Node's `server.listen({ host: undefined, port })`
 * binds the IPv6 wildcard `::` (dual-stack, so IPv4 too) and falls back to `0.0.0.0` where IPv6 is unavailable,
 * which a fixed `::` would not.
 */
export interface ListenAddress {
  readonly host: string | undefined;
  readonly port: number;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function isHostname(value: string): boolean {
  return HOSTNAME.test(value);
}

function parsePort(value: string): number | undefined {
  if (!/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port <= 65535 ? port : undefined;
}

/**
 * `host:port` in the forms Go and Vault users know: `:8190` (all interfaces), `127.0.0.1:8190`,
 * `[::1]:8190`, `localhost:8190`. Port 0 asks the OS for a free port (tests use it).
 */
export function parseListenAddress(value: string): Parsed<ListenAddress> {
  const expected = 'a listen address host:port such as 127.0.0.1:8190, [::1]:8190 or :8190 (all interfaces)';
  let hostPart: string;
  let portPart: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':') return fail(expected);
    hostPart = value.slice(1, close);
    portPart = value.slice(close + 2);
    if (!isIPv6(hostPart)) return fail(expected);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon < 0) return fail(expected);
    hostPart = value.slice(0, colon);
    portPart = value.slice(colon + 1);
    if (hostPart.includes(':')) return fail(`${expected} (IPv6 hosts go in brackets)`);
    if (hostPart !== '' && isIP(hostPart) === 0 && !isHostname(hostPart)) return fail(expected);
  }
  const port = parsePort(portPart);
  if (port === undefined) return fail(`${expected}, with a port from 0 to 65535`);
  return ok({ host: hostPart === '' ? undefined : hostPart, port });
}

/** How a listen address reads in logs: `:8190` for all interfaces, brackets around IPv6. */
export function formatListenAddress(address: ListenAddress): string {
  if (address.host === undefined) return `:${address.port}`;
  return isIPv6(address.host) ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export interface HttpEndpoint {
  readonly protocol: 'http:' | 'https:';
  /** Host name or IP to connect to; IPv6 without brackets. */
  readonly host: string;
  /** Always set: the scheme's default port when the URL names none. */
  readonly port: number;
  /** Path prefix before bucket and key. Always '' at present: endpoints with a path are refused. */
  readonly basePath: string;
  /** The `Host` header value (and SigV4 host) for path-style requests: default ports omitted. */
  readonly hostHeader: string;
  /** `protocol//hostHeader`, no trailing slash. */
  readonly origin: string;
}

/** An http(s) URL without credentials, query or fragment: what both the S3 endpoint and VAULT_ADDR must be. */
function parseHttpUrl(value: string): URL | undefined {
  if (value.includes('?') || value.includes('#')) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '' || url.hostname === '') return undefined;
  if (url.search !== '' || url.hash !== '') return undefined;
  return url;
}

/** An S3 endpoint: scheme, host and optional port only, because bucket and key form the whole path. */
export function parseS3Endpoint(value: string): Parsed<HttpEndpoint> {
  const expected =
    'an http:// or https:// URL with no path, query or credentials, e.g. https://s3.eu-west-1.amazonaws.com';
  const url = parseHttpUrl(value);
  if (url === undefined) return fail(expected);
  if (url.pathname !== '/' && url.pathname !== '') return fail(expected);
  const protocol = url.protocol === 'https:' ? 'https:' : 'http:';
  const defaultPort = protocol === 'https:' ? 443 : 80;
  const port = url.port === '' ? defaultPort : Number(url.port);
  const hostHeader = url.host;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return ok({ protocol, host, port, basePath: '', hostHeader, origin: `${protocol}//${hostHeader}` });
}

/** Vault's address: an http(s) URL, kept as a string without trailing slash so `${addr}/v1/...` composes. */
export function parseVaultAddress(value: string): Parsed<string> {
  const expected =
    'an http:// or https:// URL with no query or credentials, e.g. https://vault.example.com:8200';
  const url = parseHttpUrl(value);
  if (url === undefined) return fail(expected);
  return ok(`${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`);
}

export function parsePositiveInteger(
  what: string,
  max = Number.MAX_SAFE_INTEGER,
): (value: string) => Parsed<number> {
  return (value) => {
    const expected = `a positive integer${what === '' ? '' : ` ${what}`}`;
    if (!/^\d+$/.test(value)) return fail(expected);
    const n = Number(value);
    if (n <= 0 || !Number.isSafeInteger(n)) return fail(expected);
    if (n > max) return fail(`${expected} no greater than ${max}`);
    return ok(n);
  };
}

export function parseNonNegativeInteger(max: number): (value: string) => Parsed<number> {
  return (value) => {
    const expected = `a whole number from 0 to ${max}`;
    if (!/^\d+$/.test(value)) return fail(expected);
    const n = Number(value);
    return n <= max ? ok(n) : fail(expected);
  };
}

const DURATION_UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A duration as Vault reads one (`VAULT_CLIENT_TIMEOUT`): whole seconds (`30`) or a Go duration
 * (`1m30s`, `500ms`, `1.5h`). Returns milliseconds, rounded up so a tiny non-zero duration stays non-zero.
 */
export function parseDuration(options: { allowZero: boolean }): (value: string) => Parsed<number> {
  return (value) => {
    const expected = `a duration such as 30s, 1m30s or 500ms, or a whole number of seconds${options.allowZero ? '' : ', greater than zero'}`;
    let ms: number;
    if (/^\d+$/.test(value)) {
      ms = Number(value) * 1000;
    } else {
      const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
      ms = 0;
      let consumed = 0;
      for (let match = part.exec(value); match !== null; match = part.exec(value)) {
        ms += Number(match[1]) * (DURATION_UNIT_MS[match[2] ?? ''] ?? Number.NaN);
        consumed = part.lastIndex;
      }
      if (consumed === 0 || consumed !== value.length) return fail(expected);
      ms = Math.ceil(ms);
    }
    if (!Number.isSafeInteger(ms) || (ms === 0 && !options.allowZero)) return fail(expected);
    return ok(ms);
  };
}

/** Booleans as Go's strconv.ParseBool (which Vault uses for VAULT_SKIP_VERIFY) reads them, in any case. */
export function parseBoolean(value: string): Parsed<boolean> {
  const lower = value.toLowerCase();
  if (lower === '1' || lower === 't' || lower === 'true') return ok(true);
  if (lower === '0' || lower === 'f' || lower === 'false') return ok(false);
  return fail('true or false');
}

export function parseChoice<const T extends string>(choices: readonly T[]): (value: string) => Parsed<T> {
  return (value) => {
    const choice = choices.find((c) => c === value);
    if (choice !== undefined) return ok(choice);
    return fail(choices.map((c) => `"${c}"`).join(choices.length === 2 ? ' or ' : ', '));
  };
}

/** One path segment of a Vault API path (a key name): it must not add or remove path structure. */
export function isVaultSegment(value: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
  return value !== '' && value !== '.' && value !== '..' && !/[\s/?#%\u0000-\u001f\u007f]/.test(value);
}

export function parseVaultName(value: string): Parsed<string> {
  return isVaultSegment(value) ? ok(value) : fail('a name without "/", "?", "#", "%" or spaces');
}

/** A Vault mount path such as `transit` or `team-a/transit`; surrounding slashes are dropped. */
export function parseVaultMountPath(value: string): Parsed<string> {
  const trimmed = value.replace(/^\/+|\/+$/g, '');
  if (trimmed.split('/').every(isVaultSegment)) return ok(trimmed);
  return fail('a mount path such as "transit" or "team-a/transit", without empty, "." or ".." segments');
}

export function parseNonEmptyText(value: string): Parsed<string> {
  return ok(value);
}

/** SigV4 puts the region in the credential scope, where "/" and whitespace would break the signature. */
export function parseRegion(value: string): Parsed<string> {
  return /^[A-Za-z0-9._-]+$/.test(value) ? ok(value) : fail('a region name such as eu-west-1');
}

export function parseDomainList(value: string): Parsed<readonly string[]> {
  const domains = value
    .split(',')
    .map((d) =>
      d
        .trim()
        .toLowerCase()
        .replace(/^\.+|\.+$/g, ''),
    )
    .filter((d) => d !== '');
  if (domains.length === 0 || !domains.every((d) => isHostname(d) || isIP(d) !== 0)) {
    return fail('a comma-separated list of domain names, e.g. localhost,s3.local');
  }
  return ok([...new Set(domains)]);
}

/** A file the proxy will read at start-up (a CA bundle): checked now so a typo fails before listening. */
export function parseReadableFile(value: string): Parsed<string> {
  try {
    if (!statSync(value).isFile()) return fail('the path of a readable file');
    accessSync(value, constants.R_OK);
  } catch {
    return fail('the path of an existing, readable file');
  }
  return ok(value);
}

export function parseFilePath(value: string): Parsed<string> {
  return value.startsWith('/') ? ok(value) : fail('an absolute file path');
}
