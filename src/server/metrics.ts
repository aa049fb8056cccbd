import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric the proxy exports, on one registry that /metrics serves (R-OPS-1). `inFlight` reports the
 * request budget's use when /metrics is read.
 */
export function createMetrics(sources: { inFlight?: () => { requests: number; uploads: number } } = {}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cloudtaser_s3proxy_' });
  const prefix = 'cloudtaser_s3proxy_';
  return {
    registry,
    requests: new Counter({
      name: `${prefix}requests_total`,
      help: 'S3 requests answered, by operation and HTTP status.',
      labelNames: ['operation', 'status'] as const,
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: `${prefix}request_duration_seconds`,
      help: 'Time from request to the end of the response, by operation.',
      labelNames: ['operation'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    bytesIn: new Counter({
      name: `${prefix}plaintext_bytes_in_total`,
      help: 'Object bytes received from clients (plaintext).',
      registers: [registry],
    }),
    bytesOut: new Counter({
      name: `${prefix}plaintext_bytes_out_total`,
      help: 'Object bytes sent to clients (verified plaintext).',
      registers: [registry],
    }),
    vaultCalls: new Counter({
      name: `${prefix}vault_requests_total`,
      help: 'HTTP calls to Vault, by path kind and outcome (ok, denied, rejected, unavailable).',
      labelNames: ['call', 'outcome'] as const,
      registers: [registry],
    }),
    vaultDuration: new Histogram({
      name: `${prefix}vault_request_duration_seconds`,
      help: 'Latency of HTTP calls to Vault.',
      labelNames: ['call'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    vaultLogins: new Counter({
      name: `${prefix}vault_logins_total`,
      help: 'Vault logins (kubernetes auth), by outcome (ok, failed).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    vaultRenewals: new Counter({
      name: `${prefix}vault_token_renewals_total`,
      help: 'Renewals of the Vault token (auth/token/renew-self), by outcome (ok, failed).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    keyCacheLookups: new Counter({
      name: `${prefix}key_cache_lookups_total`,
      help: 'Reads asking for an unwrapped data key: hit (no Vault call: cached, or joined a call under way) or miss. Per Transit key (transit_key: <mount>/<key>).',
      labelNames: ['result', 'transit_key'] as const,
      registers: [registry],
    }),
    keyCacheEntries: new Gauge({
      name: `${prefix}key_cache_entries`,
      help: 'Unwrapped data keys held in the cache. Per Transit key (transit_key: <mount>/<key>).',
      labelNames: ['transit_key'] as const,
      registers: [registry],
    }),
    keyPoolKeys: new Gauge({
      name: `${prefix}key_pool_keys`,
      help: 'Pre-wrapped data keys ready for writes. Per Transit key (transit_key: <mount>/<key>).',
      labelNames: ['transit_key'] as const,
      registers: [registry],
    }),
    keyPoolRefills: new Counter({
      name: `${prefix}key_pool_refills_total`,
      help: 'Batches of data keys wrapped by Transit for the pool, by outcome (ok, failed). Per Transit key (transit_key: <mount>/<key>).',
      labelNames: ['outcome', 'transit_key'] as const,
      registers: [registry],
    }),
    keyPoolDiscarded: new Counter({
      name: `${prefix}key_pool_keys_discarded_total`,
      help: 'Pre-wrapped data keys zeroed unused, by reason (expired, rotated, shutdown). Per Transit key (transit_key: <mount>/<key>).',
      labelNames: ['reason', 'transit_key'] as const,
      registers: [registry],
    }),
    dataKeysIssued: new Counter({
      name: `${prefix}data_keys_issued_total`,
      help: 'Data keys handed to writes: from the pool at once (pool), after waiting for a Transit batch (waited). Per Transit key (transit_key: <mount>/<key>).',
      labelNames: ['source', 'transit_key'] as const,
      registers: [registry],
    }),
    unencryptedObjectsServed: new Counter({
      name: `${prefix}unencrypted_objects_served_total`,
      help: 'GETs answered with an object stored without the encryption envelope (R-ENC-7).',
      registers: [registry],
    }),
    clientAuthRefusals: new Counter({
      name: `${prefix}client_auth_refusals_total`,
      help: 'Requests refused by inbound authentication or authorisation, by reason (docs/SECURITY.md).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    clientCredentialsReloads: new Counter({
      name: `${prefix}client_credentials_reloads_total`,
      help: 'Loads of the client credentials file after start, by outcome (ok; failed: the credentials in force stay).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    clientCredentialsKeys: new Gauge({
      name: `${prefix}client_credentials_keys`,
      help: 'Access keys in the client credentials in force.',
      registers: [registry],
    }),
    requestsInFlight: new Gauge({
      name: `${prefix}requests_in_flight`,
      help: 'Requests being handled (budget requests, CLOUDTASER_S3PROXY_MAX_REQUESTS) and, of them, requests whose body is still arriving (uploads, CLOUDTASER_S3PROXY_MAX_UPLOADS).',
      labelNames: ['budget'] as const,
      registers: [registry],
      collect() {
        const inFlight = sources.inFlight?.();
        if (inFlight === undefined) return;
        this.set({ budget: 'requests' }, inFlight.requests);
        this.set({ budget: 'uploads' }, inFlight.uploads);
      },
    }),
    requestsRefused: new Counter({
      name: `${prefix}requests_refused_total`,
      help: 'Requests answered 503 SlowDown at once because a budget was full: requests (MAX_REQUESTS) or uploads (MAX_UPLOADS).',
      labelNames: ['budget'] as const,
      registers: [registry],
    }),
    clientTimeouts: new Counter({
      name: `${prefix}client_timeouts_total`,
      help: 'Requests ended because the client kept the proxy waiting, by phase (request body, response) and reason (idle, too slow).',
      labelNames: ['phase', 'reason'] as const,
      registers: [registry],
    }),
    decryptFailures: new Counter({
      name: `${prefix}decrypt_failures_total`,
      help: 'Reads refused or aborted because the stored object failed verification.',
      registers: [registry],
    }),
  };
}

export type ProxyMetrics = ReturnType<typeof createMetrics>;

/** Vault paths carry key names; metrics label by the kind of call only. */
export function vaultCallLabel(path: string): string {
  if (/\/encrypt\//.test(path)) return 'encrypt';
  if (/\/decrypt\//.test(path)) return 'decrypt';
  if (/\/rewrap\//.test(path)) return 'rewrap';
  if (/^auth\/.*\/login$/.test(path)) return 'login';
  if (path === 'auth/token/renew-self') return 'renew';
  if (path === 'auth/token/lookup-self') return 'lookup';
  return 'other';
}
