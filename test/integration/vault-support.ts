/**
 * Helpers of the vault-*.test.ts files: real OpenBao set-up through its HTTP API (own Transit keys,
 * policies, tokens, the jwt auth method standing in for Kubernetes auth), JWTs signed by the test, and
 * reading the proxy's /metrics.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { errorCodeOf, httpStatusOf } from '../support/fixtures.ts';
import type { ServicesState } from '../support/services.ts';

type Vault = ServicesState['vault'];

/** One call to OpenBao as root (or `token`), optionally inside a namespace; throws unless it succeeded. */
export async function bao(
  vault: Pick<Vault, 'directAddr' | 'rootToken'>,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; namespace?: string; okStatuses?: number[] } = {},
): Promise<Record<string, unknown> | null> {
  const headers: Record<string, string> = { 'x-vault-token': options.token ?? vault.rootToken };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.namespace !== undefined) headers['x-vault-namespace'] = options.namespace;
  const response = await fetch(`${vault.directAddr}/v1/${path}`, {
    method,
    headers,
    body: options.body === undefined ? null : JSON.stringify(options.body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  const body = text === '' ? null : (JSON.parse(text) as Record<string, unknown>);
  if (response.status >= 300 && !(options.okStatuses ?? []).includes(response.status)) {
    throw new Error(`OpenBao ${method} ${path} answered ${response.status}: ${text}`);
  }
  return body;
}

/**
 * A Transit key of the test's own (so that rotating it or raising its minimum disturbs no other test),
 * a policy with `capabilities` on its encrypt and decrypt paths, and a token holding only that policy.
 */
export async function ownTransitKey(
  vault: Pick<Vault, 'directAddr' | 'rootToken' | 'transitMount'>,
  name: string,
  options: { encrypt?: boolean; decrypt?: boolean; namespace?: string } = {},
): Promise<{ key: string; token: string }> {
  const mount = vault.transitMount;
  const ns = options.namespace === undefined ? {} : { namespace: options.namespace };
  await bao(vault, 'POST', `${mount}/keys/${name}`, { body: { type: 'aes256-gcm96' }, ...ns });
  const rules: string[] = [];
  if (options.encrypt ?? true) rules.push(`path "${mount}/encrypt/${name}" { capabilities = ["update"] }`);
  if (options.decrypt ?? true) rules.push(`path "${mount}/decrypt/${name}" { capabilities = ["update"] }`);
  const policy = `${name}-policy`;
  await bao(vault, 'PUT', `sys/policies/acl/${policy}`, { body: { policy: rules.join('\n') }, ...ns });
  const created = await bao(vault, 'POST', 'auth/token/create', {
    body: { policies: [policy], ttl: '1h', renewable: true },
    ...ns,
  });
  const token = (created?.auth as { client_token?: string } | undefined)?.client_token;
  if (typeof token !== 'string') throw new Error('token create returned no client_token');
  return { key: name, token };
}

/** An ES256 key pair whose public half OpenBao's jwt method trusts (`jwt_validation_pubkeys`). */
export function jwtSigningKey(): { privateKey: KeyObject; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A service-account-like JWT (ES256), as the kubelet would project it into the pod. */
export function signJwt(privateKey: KeyObject | string, claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const header = encode({ alg: 'ES256', typ: 'JWT' });
  const payload = encode({ iat: now, nbf: now - 5, exp: now + 3600, jti: randomUUID(), ...claims });
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' });
  return `${header}.${payload}.${signature.toString('base64url')}`;
}

/** The value of one sample of /metrics (0 when absent), e.g. metric(text, 'vault_requests_total', { call: 'encrypt' }). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== `cloudtaser_s3proxy_${name}`) continue;
    const present = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] as string, m[2] as string]),
    );
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) total += Number(match[3]);
  }
  return total;
}

export async function metricsOf(proxy: { healthEndpoint: string }): Promise<string> {
  const response = await fetch(`${proxy.healthEndpoint}/metrics`);
  return response.text();
}

/** Vault tokens as OpenBao issues them: never to be seen in the proxy's output. */
export const VAULT_TOKEN_PATTERN = /\b[sbr]\.[A-Za-z0-9]{24}\b/;

/** The status, code and message of an S3 request that must fail (a test failure if it succeeds). */
export async function rejection(
  promise: Promise<unknown>,
): Promise<{ status?: number; code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return {
      ...(httpStatusOf(error) === undefined ? {} : { status: httpStatusOf(error) as number }),
      ...(errorCodeOf(error) === undefined ? {} : { code: errorCodeOf(error) as string }),
      message: error instanceof Error ? error.message : String(error),
    };
  }
  assert.fail('expected the request to fail');
}
