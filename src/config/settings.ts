/**
 * The one table of settings. Parsing, validation, defaults, `--help` and docs/CONFIGURATION.md all come
 * from it, so a setting cannot exist in one of them and not the others. Order here is the order shown.
 */
import {
  type Parsed,
  parseBoolean,
  parseChoice,
  parseDomainList,
  parseDuration,
  parseFilePath,
  parseListenAddress,
  parseNonEmptyText,
  parseNonNegativeInteger,
  parsePositiveInteger,
  parseReadableFile,
  parseRegion,
  parseS3Endpoint,
  parseVaultAddress,
  parseVaultMountPath,
  parseVaultName,
} from './parse.ts';
import { parseTransitKeyMapping } from './transit-keys.ts';

export const SETTING_GROUPS = [
  'Required',
  'Listeners',
  'Vault',
  'Proxy behaviour',
  'Timeouts and limits',
] as const;
export type SettingGroup = (typeof SETTING_GROUPS)[number];

interface SettingCommon<T> {
  readonly env: string;
  readonly group: SettingGroup;
  /** Shape of the value in help and docs, e.g. `<url>` or `kubernetes|token`. */
  readonly valueHint: string;
  readonly description: string;
  /** Never echoed in errors, help or logs. */
  readonly secret?: boolean;
  readonly parse: (raw: string) => Parsed<T>;
}

export interface RequiredSetting<T> extends SettingCommon<T> {
  readonly presence: 'required';
  /** Completes "<VARIABLE> is required (...)". */
  readonly purpose: string;
}

export interface DefaultedSetting<T> extends SettingCommon<T> {
  readonly presence: 'defaulted';
  /** Goes through `parse` like any value, so help, docs and behaviour cannot disagree. */
  readonly default: string;
}

export interface OptionalSetting<T> extends SettingCommon<T> {
  readonly presence: 'optional';
  /** Shown in help and docs when another setting makes this one required. */
  readonly requiredWhen?: string;
}

export type Setting<T> = RequiredSetting<T> | DefaultedSetting<T> | OptionalSetting<T>;

/** The parsed type of a setting: optional settings may be absent, the others always have a value. */
export type SettingValue<S> =
  S extends OptionalSetting<infer T> ? T | undefined : S extends Setting<infer T> ? T : never;

const required = <T>(spec: Omit<RequiredSetting<T>, 'presence'>): RequiredSetting<T> => ({
  presence: 'required',
  ...spec,
});
const defaulted = <T>(spec: Omit<DefaultedSetting<T>, 'presence'>): DefaultedSetting<T> => ({
  presence: 'defaulted',
  ...spec,
});
const optional = <T>(spec: Omit<OptionalSetting<T>, 'presence'>): OptionalSetting<T> => ({
  presence: 'optional',
  ...spec,
});

export const VAULT_AUTH_METHODS = ['kubernetes', 'token'] as const;
export type VaultAuthMethod = (typeof VAULT_AUTH_METHODS)[number];
export const UPSTREAM_ADDRESSING_MODES = ['auto', 'path', 'virtual'] as const;
export type UpstreamAddressingMode = (typeof UPSTREAM_ADDRESSING_MODES)[number];
export const UNENCRYPTED_OBJECT_POLICIES = ['serve', 'refuse'] as const;
export type UnencryptedObjectPolicy = (typeof UNENCRYPTED_OBJECT_POLICIES)[number];
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SETTINGS = {
  s3Endpoint: required({
    env: 'CLOUDTASER_S3PROXY_S3_ENDPOINT',
    group: 'Required',
    purpose: 'upstream S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com',
    valueHint: '<url>',
    description:
      'Upstream S3 endpoint URL (http or https, no path), e.g. https://s3.eu-west-1.amazonaws.com or http://seaweedfs:8333.',
    parse: parseS3Endpoint,
  }),
  s3Region: required({
    env: 'CLOUDTASER_S3PROXY_S3_REGION',
    group: 'Required',
    purpose: 'AWS region used to sign upstream requests, e.g. eu-west-1',
    valueHint: '<region>',
    description:
      "AWS region used to sign upstream requests (SigV4), e.g. eu-west-1. A bucket in another region is learned from the upstream's wrong-region answer (301 PermanentRedirect, 400 AuthorizationHeaderMalformed, x-amz-bucket-region), remembered, and signed (on AWS also addressed) for its own region.",
    parse: parseRegion,
  }),
  vaultAddr: required({
    env: 'VAULT_ADDR',
    group: 'Required',
    purpose: 'OpenBao/Vault address, e.g. https://vault.eu.example.com:8200',
    valueHint: '<url>',
    description: 'OpenBao/Vault address, e.g. https://vault.eu.example.com:8200.',
    parse: parseVaultAddress,
  }),
  transitKey: required({
    env: 'CLOUDTASER_S3PROXY_TRANSIT_KEY',
    group: 'Required',
    purpose: 'name of the Vault Transit key that wraps data keys',
    valueHint: '<name>',
    description:
      'Name of the Vault Transit key that wraps the per-object data keys (the KEK never leaves Vault).',
    parse: parseVaultName,
  }),
  listenAddr: defaulted({
    env: 'CLOUDTASER_S3PROXY_LISTEN_ADDR',
    group: 'Listeners',
    default: '127.0.0.1:8190',
    valueHint: '<host:port>',
    description:
      'Address of the S3 proxy. Loopback by default, so only containers in the same pod reach the decrypting proxy ' +
      '(the seed default ":8190" would let every pod in the cluster read decrypted objects). ' +
      'An explicit ":8190" binds all interfaces (IPv6 "::" and IPv4, or 0.0.0.0 where IPv6 is unavailable).',
    parse: parseListenAddress,
  }),
  healthAddr: defaulted({
    env: 'CLOUDTASER_S3PROXY_HEALTH_ADDR',
    group: 'Listeners',
    default: ':8191',
    valueHint: '<host:port>',
    description:
      'Address of /healthz, /readyz and /metrics. All interfaces by default, because the kubelet probes the pod IP; ' +
      'it serves no object data.',
    parse: parseListenAddress,
  }),
  clientCredentialsFile: optional({
    env: 'CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE',
    group: 'Listeners',
    valueHint: '<file>',
    description:
      'Client credentials (YAML, see docs/SECURITY.md "Client credentials"). When set, every request must be signed ' +
      '(AWS Signature Version 4) with one of the access keys listed, and reaches only the buckets and key prefixes ' +
      'granted to that key. Re-read when it changes (a Kubernetes Secret update) without a restart; a new file that ' +
      'does not parse keeps the credentials in force. Unset: no inbound authentication, for the loopback sidecar.',
    parse: parseReadableFile,
  }),
  clientCredentialsReloadInterval: defaulted({
    env: 'CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_RELOAD_INTERVAL',
    group: 'Listeners',
    default: '10s',
    valueHint: '<duration>',
    description:
      "How often the client credentials file's content is compared with the credentials in force, besides the " +
      'watch on its directory (which reacts at once where the volume supports it).',
    parse: parseDuration({ allowZero: false }),
  }),
  transitMount: defaulted({
    env: 'CLOUDTASER_S3PROXY_TRANSIT_MOUNT',
    group: 'Vault',
    default: 'transit',
    valueHint: '<path>',
    description: 'Mount path of the Vault Transit secrets engine.',
    parse: parseVaultMountPath,
  }),
  transitKeys: optional({
    env: 'CLOUDTASER_S3PROXY_TRANSIT_KEYS',
    group: 'Vault',
    valueHint: 'bucket[/prefix]=[mount:]key,...',
    description:
      'Transit keys per bucket and key prefix, e.g. "bucket-a=myapp-a,bucket-b/exports/=transit2:exports": the longest ' +
      'matching prefix wins; the mount defaults to CLOUDTASER_S3PROXY_TRANSIT_MOUNT; everything unmapped uses ' +
      'CLOUDTASER_S3PROXY_TRANSIT_KEY. Each object records the key that wrapped it, and is read only at a location that ' +
      'accepts that key: the first key of an entry wraps new objects, keys after "|" (bucket-a=new|old) are still read ' +
      'there, so that a changed mapping keeps old objects readable (docs/OPERATIONS.md "Tenants").',
    parse: parseTransitKeyMapping,
  }),
  vaultToken: optional({
    env: 'VAULT_TOKEN',
    group: 'Vault',
    requiredWhen: 'VAULT_AUTH_METHOD=token',
    secret: true,
    valueHint: '<token>',
    description: 'Vault token for VAULT_AUTH_METHOD=token (development and testing only).',
    parse: parseNonEmptyText,
  }),
  vaultAuthMethod: defaulted({
    env: 'VAULT_AUTH_METHOD',
    group: 'Vault',
    default: 'kubernetes',
    valueHint: VAULT_AUTH_METHODS.join('|'),
    description:
      'How the proxy logs in to Vault: with the pod service-account token (kubernetes) or with VAULT_TOKEN.',
    parse: parseChoice(VAULT_AUTH_METHODS),
  }),
  vaultAuthRole: optional({
    env: 'VAULT_AUTH_ROLE',
    group: 'Vault',
    requiredWhen: 'VAULT_AUTH_METHOD=kubernetes',
    valueHint: '<role>',
    description: 'Vault Kubernetes auth role to log in as.',
    parse: parseNonEmptyText,
  }),
  vaultAuthMountPath: defaulted({
    env: 'VAULT_AUTH_MOUNT_PATH',
    group: 'Vault',
    default: 'kubernetes',
    valueHint: '<path>',
    description: 'Mount path of the Vault Kubernetes auth method (login goes to auth/<path>/login).',
    parse: parseVaultMountPath,
  }),
  vaultAuthTokenPath: defaulted({
    env: 'VAULT_AUTH_TOKEN_PATH',
    group: 'Vault',
    default: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    valueHint: '<file>',
    description:
      'Service-account token (JWT) presented to Vault Kubernetes auth; re-read at every login, as kubelet rotates it.',
    parse: parseFilePath,
  }),
  vaultSkipVerify: defaulted({
    env: 'VAULT_SKIP_VERIFY',
    group: 'Vault',
    default: 'false',
    valueHint: 'true|false',
    description: "Skip verification of Vault's TLS certificate (development only).",
    parse: parseBoolean,
  }),
  vaultNamespace: optional({
    env: 'VAULT_NAMESPACE',
    group: 'Vault',
    valueHint: '<namespace>',
    description: 'Vault Enterprise / OpenBao namespace sent with every request (X-Vault-Namespace).',
    parse: parseNonEmptyText,
  }),
  vaultCaCert: optional({
    env: 'VAULT_CACERT',
    group: 'Vault',
    valueHint: '<file>',
    description:
      "PEM file of CA certificates that sign Vault's TLS certificate; must exist and be readable at start-up.",
    parse: parseReadableFile,
  }),
  vaultClientTimeout: defaulted({
    env: 'VAULT_CLIENT_TIMEOUT',
    group: 'Vault',
    default: '10s',
    valueHint: '<duration>',
    description:
      'Bound of each Vault request, connecting included: a duration such as 10s or 1m, or whole seconds. ' +
      'A request that Vault does not answer in time fails and is retried (VAULT_MAX_RETRIES).',
    parse: parseDuration({ allowZero: false }),
  }),
  vaultMaxRetries: defaulted({
    env: 'VAULT_MAX_RETRIES',
    group: 'Vault',
    default: '2',
    valueHint: '<count>',
    description:
      'Retries of a failed Vault request (with jitter) before the S3 request fails with 503; 0 disables retries.',
    parse: parseNonNegativeInteger(100),
  }),
  keyPoolSize: defaulted({
    env: 'CLOUDTASER_S3PROXY_KEY_POOL_SIZE',
    group: 'Vault',
    default: '128',
    valueHint: '<count>',
    description:
      'Data keys wrapped ahead of time, in batches of Transit encrypt calls, so that writes do not wait for Vault; ' +
      'each key is used for exactly one object or part. A pooled key is used only while Vault answered within ' +
      'the last 10s and nothing failed since; otherwise the write waits for a new batch (503 if Vault is down). ' +
      '0 wraps every key in its own Vault call.',
    parse: parseNonNegativeInteger(4096),
  }),
  keyTimeout: defaulted({
    env: 'CLOUDTASER_S3PROXY_KEY_TIMEOUT',
    group: 'Vault',
    default: '10s',
    valueHint: '<duration>',
    description:
      'Longest an S3 request waits for Vault: a write for its data key, a read for the unwrapping of a key ' +
      'not cached. Then it answers 503 SlowDown (SDKs retry), whatever Vault calls are still under way.',
    parse: parseDuration({ allowZero: false }),
  }),
  keyCacheEnabled: defaulted({
    env: 'CLOUDTASER_S3PROXY_KEY_CACHE_ENABLED',
    group: 'Vault',
    default: 'true',
    valueHint: 'true|false',
    description:
      'Keep unwrapped data keys in memory so that reading an object again costs no Vault call; ' +
      'false asks Vault on every read.',
    parse: parseBoolean,
  }),
  keyCacheSize: defaulted({
    env: 'CLOUDTASER_S3PROXY_KEY_CACHE_SIZE',
    group: 'Vault',
    default: '10000',
    valueHint: '<count>',
    description: 'Most unwrapped data keys kept (least recently used go first; each takes well under 1 KiB).',
    parse: parsePositiveInteger('number of keys', 10_000_000),
  }),
  keyCacheTtl: defaulted({
    env: 'CLOUDTASER_S3PROXY_KEY_CACHE_TTL',
    group: 'Vault',
    default: '5m',
    valueHint: '<duration>',
    description:
      'How long an unwrapped data key is kept after Vault unwrapped it, however often it is used: also how long ' +
      'a revoked policy or a raised min_decryption_version may take to stop reads of cached objects.',
    parse: parseDuration({ allowZero: false }),
  }),
  maxObjectSize: defaulted({
    env: 'CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE',
    group: 'Proxy behaviour',
    default: '268435456',
    valueHint: '<bytes>',
    description:
      'Largest object accepted by a single PutObject, in bytes (256 MiB by default); larger uploads get EntityTooLarge.',
    parse: parsePositiveInteger('number of bytes'),
  }),
  virtualHostDomains: defaulted({
    env: 'CLOUDTASER_S3PROXY_VIRTUAL_HOST_DOMAINS',
    group: 'Proxy behaviour',
    default: 'localhost',
    valueHint: '<domain,...>',
    description:
      'Base domains for virtual-hosted-style requests: "Host: <bucket>.<domain>" names a bucket. ' +
      'A request to a domain itself, or to any other host, is path-style.',
    parse: parseDomainList,
  }),
  upstreamAddressing: defaulted({
    env: 'CLOUDTASER_S3PROXY_UPSTREAM_ADDRESSING',
    group: 'Proxy behaviour',
    default: 'auto',
    valueHint: UPSTREAM_ADDRESSING_MODES.join('|'),
    description:
      'How upstream requests name the bucket. auto: virtual-hosted for *.amazonaws.com endpoints ' +
      '(path-style for bucket names with dots or that are not DNS-compatible), path-style for other endpoints.',
    parse: parseChoice(UPSTREAM_ADDRESSING_MODES),
  }),
  unencryptedObjects: defaulted({
    env: 'CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS',
    group: 'Proxy behaviour',
    default: 'serve',
    valueHint: UNENCRYPTED_OBJECT_POLICIES.join('|'),
    description:
      'What GetObject does with objects that carry no encryption envelope (written before the proxy): ' +
      'serve them as stored (counted and logged) or refuse them.',
    parse: parseChoice(UNENCRYPTED_OBJECT_POLICIES),
  }),
  logLevel: defaulted({
    env: 'CLOUDTASER_S3PROXY_LOG_LEVEL',
    group: 'Proxy behaviour',
    default: 'info',
    valueHint: LOG_LEVELS.join('|'),
    description: 'Least severe level of log lines written (JSON to stdout).',
    parse: parseChoice(LOG_LEVELS),
  }),
  shutdownGrace: defaulted({
    env: 'CLOUDTASER_S3PROXY_SHUTDOWN_GRACE',
    group: 'Proxy behaviour',
    default: '25s',
    valueHint: '<duration>',
    description:
      'On SIGTERM, how long requests in flight may take to finish before they are aborted; ' +
      "keep it below the pod's terminationGracePeriodSeconds (30s by default).",
    parse: parseDuration({ allowZero: true }),
  }),
  clientHeaderTimeout: defaulted({
    env: 'CLOUDTASER_S3PROXY_CLIENT_HEADER_TIMEOUT',
    group: 'Timeouts and limits',
    default: '20s',
    valueHint: '<duration>',
    description:
      'Longest a client may take from the first byte of a request to the end of its headers; ' +
      'then the connection is closed (408).',
    parse: parseDuration({ allowZero: false }),
  }),
  clientIdleTimeout: defaulted({
    env: 'CLOUDTASER_S3PROXY_CLIENT_IDLE_TIMEOUT',
    group: 'Timeouts and limits',
    default: '20s',
    valueHint: '<duration>',
    description:
      'Longest a client may keep the proxy waiting without progress: no byte of a request body arriving ' +
      '(answered 400 RequestTimeout, the upload aborted so nothing is stored), or no byte of a response taken ' +
      "(the connection is cut). Time the proxy itself waits (Vault, the upstream) is not counted. S3's own is about 20s.",
    parse: parseDuration({ allowZero: false }),
  }),
  clientMinBodyRate: defaulted({
    env: 'CLOUDTASER_S3PROXY_CLIENT_MIN_BODY_RATE',
    group: 'Timeouts and limits',
    default: '500',
    valueHint: '<bytes per second>',
    description:
      'Average rate a request body must keep after a first CLOUDTASER_S3PROXY_CLIENT_IDLE_TIMEOUT of grace: ' +
      'every byte received buys 1/rate seconds more (as Apache mod_reqtimeout MinRate). Slower bodies are ' +
      'answered 400 RequestTimeout and their upload aborted; 0 turns the rule off.',
    parse: parseNonNegativeInteger(1024 ** 3),
  }),
  maxRequests: defaulted({
    env: 'CLOUDTASER_S3PROXY_MAX_REQUESTS',
    group: 'Timeouts and limits',
    default: '512',
    valueHint: '<count>',
    description:
      'Most S3 requests handled at once; more are answered 503 SlowDown at once (SDKs back off and retry). ' +
      'It also bounds the connections to the upstream, which have no cap of their own (a request uses one at a ' +
      'time, UploadPartCopy two), and memory: a GET whose client stopped reading holds about 0.5 MiB.',
    parse: parsePositiveInteger('number of requests', 1_000_000),
  }),
  maxUploads: defaulted({
    env: 'CLOUDTASER_S3PROXY_MAX_UPLOADS',
    group: 'Timeouts and limits',
    default: '256',
    valueHint: '<count>',
    description:
      'Most of those requests whose body is still arriving from the client (PutObject, UploadPart, any request ' +
      'with a body); more are answered 503 SlowDown at once. Below CLOUDTASER_S3PROXY_MAX_REQUESTS, so that slow ' +
      'uploads always leave room for other requests.',
    parse: parsePositiveInteger('number of requests', 1_000_000),
  }),
  readyTimeout: defaulted({
    env: 'CLOUDTASER_S3PROXY_READY_TIMEOUT',
    group: 'Timeouts and limits',
    default: '3s',
    valueHint: '<duration>',
    description:
      'Longest /readyz waits for its checks (a Vault Transit round trip, an upstream request) before it answers ' +
      "503; keep it below the probe's timeoutSeconds (5 in the injected sidecar).",
    parse: parseDuration({ allowZero: false }),
  }),
} as const;

export type SettingId = keyof typeof SETTINGS;
export type SettingValues = { readonly [K in SettingId]: SettingValue<(typeof SETTINGS)[K]> };

export const SETTING_LIST: readonly Setting<unknown>[] = Object.values(SETTINGS);

/** Prefix of this proxy's own variables; an unknown one is probably a typo and is reported. */
export const SETTING_PREFIX = 'CLOUDTASER_S3PROXY_';

/**
 * AWS credentials are not settings of ours: the AWS SDK's default credential chain reads them. Listed in help
 * and docs so that operators know what to set.
 */
export const AWS_CREDENTIAL_VARIABLES: readonly { readonly env: string; readonly description: string }[] = [
  { env: 'AWS_ACCESS_KEY_ID', description: 'Static access key id (with AWS_SECRET_ACCESS_KEY).' },
  { env: 'AWS_SECRET_ACCESS_KEY', description: 'Static secret access key.' },
  { env: 'AWS_SESSION_TOKEN', description: 'Session token for temporary static credentials.' },
  { env: 'AWS_PROFILE', description: 'Profile in the shared files ~/.aws/credentials and ~/.aws/config.' },
  {
    env: 'AWS_WEB_IDENTITY_TOKEN_FILE',
    description: 'Web identity token file (IRSA: set by EKS together with AWS_ROLE_ARN).',
  },
  { env: 'AWS_ROLE_ARN', description: 'Role assumed with the web identity token (IRSA).' },
  {
    env: 'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    description:
      'Container credentials endpoint (EKS Pod Identity, ECS), with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.',
  },
  {
    env: 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
    description: 'Token for the container credentials endpoint.',
  },
  {
    env: 'AWS_EC2_METADATA_DISABLED',
    description: 'Set to true to skip EC2 instance metadata (IMDS), the last resort of the chain.',
  },
];
