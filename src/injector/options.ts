/**
 * The injector's own settings (`inject` and `webhook`), read from CLOUDTASER_INJECTOR_* variables: one
 * table, as for the proxy, so that parsing, defaults and `--help` agree. Sidecar settings are the
 * cluster-wide defaults that pod annotations may override; webhook settings only concern the server.
 */
import {
  type ListenAddress,
  type Parsed,
  parseChoice,
  parseDuration,
  parseFilePath,
  parseListenAddress,
  parsePositiveInteger,
  parseVaultAddress,
  parseVaultMountPath,
} from '../config/parse.ts';
import { LOG_LEVELS, type LogLevel, SETTINGS } from '../config/settings.ts';
import { packageVersion } from '../version.ts';

export const SIDECAR_MODES = ['native', 'container'] as const;
export type SidecarMode = (typeof SIDECAR_MODES)[number];
export const PULL_POLICIES = ['IfNotPresent', 'Always', 'Never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** What the mutation needs besides the pod: pure data, so `mutate` stays a function of its inputs. */
export interface SidecarOptions {
  readonly image: string;
  readonly imagePullPolicy: PullPolicy;
  readonly mode: SidecarMode;
  readonly vaultAddress?: string;
  readonly vaultAuthPath: string;
  /** Audience of the projected service-account token; absent = the API server's own audience. */
  readonly tokenAudience?: string;
  readonly tokenExpirationSeconds: number;
  readonly resources: {
    readonly cpuRequest: string;
    readonly memoryRequest: string;
    /** `undefined`: no CPU limit. */
    readonly cpuLimit?: string;
    readonly memoryLimit: string;
  };
  /** Proxy variables set in every sidecar unless an annotation sets them (the chart's proxy defaults). */
  readonly proxyEnv: Readonly<Record<string, string>>;
  /** Client credentials Secret for pods without the annotation; absent: no inbound authentication. */
  readonly clientCredentialsSecret?: string;
}

export interface WebhookOptions {
  readonly listen: ListenAddress;
  readonly health: ListenAddress;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly tlsReloadIntervalMs: number;
  readonly logLevel: LogLevel;
}

export const DEFAULT_IMAGE = `cloudtaser/cloudtaser-s3-proxy:${packageVersion()}`;

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (expected: string): Parsed<never> => ({ ok: false, expected });

/** A Kubernetes resource quantity (`100m`, `0.5`, `128Mi`, `1e3`), as the API server accepts it. */
export function parseQuantity(value: string): Parsed<string> {
  return /^\+?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.test(value)
    ? ok(value)
    : fail('a Kubernetes quantity such as 100m, 0.5, 128Mi or 1Gi');
}

function parseOptionalQuantity(value: string): Parsed<string | undefined> {
  return value === 'none' ? ok(undefined) : parseQuantity(value);
}

function parseImage(value: string): Parsed<string> {
  return /^[^\s]+$/.test(value) ? ok(value) : fail('a container image reference without spaces');
}

/** A Kubernetes object name (DNS subdomain), as Secrets are named. */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function parseSecretName(value: string): Parsed<string> {
  return DNS_SUBDOMAIN.test(value) ? ok(value) : fail('the name of a Secret (a DNS subdomain)');
}

function parseAudience(value: string): Parsed<string> {
  return /^[^\s]+$/.test(value) ? ok(value) : fail('an audience without spaces, e.g. vault');
}

/** Variables the injector sets itself; a default for them would be overridden or break the sidecar. */
const INJECTOR_OWNED_ENV = new Set([
  SETTINGS.listenAddr.env,
  SETTINGS.healthAddr.env,
  SETTINGS.vaultAuthMethod.env,
  SETTINGS.vaultAuthTokenPath.env,
  SETTINGS.vaultToken.env,
  SETTINGS.vaultCaCert.env,
  SETTINGS.clientCredentialsFile.env,
]);
/** Credentials do not belong in a ConfigMap; the annotation references a Secret instead. */
const SECRET_AWS_ENV = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);
const KNOWN_PROXY_ENV = new Set(Object.values(SETTINGS).map((s) => s.env));

/** A JSON object of proxy variables: `{"CLOUDTASER_S3PROXY_LOG_LEVEL":"warn"}`. */
export function parseProxyEnv(value: string): Parsed<Readonly<Record<string, string>>> {
  const expected =
    'a JSON object of proxy settings and string values, e.g. {"CLOUDTASER_S3PROXY_LOG_LEVEL":"warn"}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return fail(expected);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail(expected);
  const env: Record<string, string> = {};
  for (const [name, raw] of Object.entries(parsed)) {
    if (typeof raw !== 'string') return fail(`${expected}; ${name} is not a string`);
    if (INJECTOR_OWNED_ENV.has(name)) return fail(`${expected}; ${name} is set by the injector`);
    if (SECRET_AWS_ENV.has(name)) {
      return fail(`${expected}; ${name} is a credential: use cloudtaser.io/s3-proxy-aws-credentials-secret`);
    }
    if (!KNOWN_PROXY_ENV.has(name) && !name.startsWith('AWS_')) {
      return fail(`${expected}; ${name} is not a setting of the proxy`);
    }
    env[name] = raw;
  }
  return ok(env);
}

interface InjectorSetting<T> {
  readonly env: string;
  readonly group: 'Sidecar' | 'Webhook';
  readonly default?: string;
  readonly valueHint: string;
  readonly description: string;
  readonly parse: (raw: string) => Parsed<T>;
}

const setting = <T>(spec: InjectorSetting<T>): InjectorSetting<T> => spec;

export const INJECTOR_SETTINGS = {
  image: setting({
    env: 'CLOUDTASER_INJECTOR_IMAGE',
    group: 'Sidecar',
    default: DEFAULT_IMAGE,
    valueHint: '<image>',
    description: 'Image of the injected sidecar (this project’s image; it runs `serve`).',
    parse: parseImage,
  }),
  imagePullPolicy: setting({
    env: 'CLOUDTASER_INJECTOR_IMAGE_PULL_POLICY',
    group: 'Sidecar',
    default: 'IfNotPresent',
    valueHint: PULL_POLICIES.join('|'),
    description: 'imagePullPolicy of the sidecar.',
    parse: parseChoice(PULL_POLICIES),
  }),
  mode: setting({
    env: 'CLOUDTASER_INJECTOR_SIDECAR_MODE',
    group: 'Sidecar',
    default: 'native',
    valueHint: SIDECAR_MODES.join('|'),
    description:
      'native: an init container with restartPolicy Always (Kubernetes 1.29+), started before and stopped after the ' +
      'application; container: an ordinary container, for older clusters (see docs/decisions/0003-native-sidecar.md).',
    parse: parseChoice(SIDECAR_MODES),
  }),
  vaultAddress: setting({
    env: 'CLOUDTASER_INJECTOR_VAULT_ADDR',
    group: 'Sidecar',
    valueHint: '<url>',
    description: 'Vault address for pods without the cloudtaser.io/vault-address annotation.',
    parse: parseVaultAddress,
  }),
  vaultAuthPath: setting({
    env: 'CLOUDTASER_INJECTOR_VAULT_AUTH_PATH',
    group: 'Sidecar',
    default: 'kubernetes',
    valueHint: '<path>',
    description: 'Vault Kubernetes auth mount path for pods without cloudtaser.io/vault-auth-path.',
    parse: parseVaultMountPath,
  }),
  tokenAudience: setting({
    env: 'CLOUDTASER_INJECTOR_TOKEN_AUDIENCE',
    group: 'Sidecar',
    valueHint: '<audience>',
    description:
      'Audience of the service-account token projected for Vault login (set the same audience on the Vault role). ' +
      "Unset: the API server's default audience, which Vault roles without an audience accept.",
    parse: parseAudience,
  }),
  tokenExpirationSeconds: setting({
    env: 'CLOUDTASER_INJECTOR_TOKEN_EXPIRATION_SECONDS',
    group: 'Sidecar',
    default: '3600',
    valueHint: '<seconds>',
    description: 'Lifetime of the projected token (at least 600); the kubelet renews it before it expires.',
    parse: (raw: string): Parsed<number> => {
      const parsed = parsePositiveInteger('number of seconds')(raw);
      return parsed.ok && parsed.value < 600 ? fail('a number of seconds, at least 600') : parsed;
    },
  }),
  cpuRequest: setting({
    env: 'CLOUDTASER_INJECTOR_CPU_REQUEST',
    group: 'Sidecar',
    default: '100m',
    valueHint: '<quantity>',
    description: 'CPU request of the sidecar.',
    parse: parseQuantity,
  }),
  memoryRequest: setting({
    env: 'CLOUDTASER_INJECTOR_MEMORY_REQUEST',
    group: 'Sidecar',
    default: '128Mi',
    valueHint: '<quantity>',
    description: 'Memory request of the sidecar.',
    parse: parseQuantity,
  }),
  cpuLimit: setting({
    env: 'CLOUDTASER_INJECTOR_CPU_LIMIT',
    group: 'Sidecar',
    default: '1',
    valueHint: '<quantity>|none',
    description: 'CPU limit of the sidecar; "none" sets no limit.',
    parse: parseOptionalQuantity,
  }),
  memoryLimit: setting({
    env: 'CLOUDTASER_INJECTOR_MEMORY_LIMIT',
    group: 'Sidecar',
    default: '512Mi',
    valueHint: '<quantity>',
    description:
      'Memory limit of the sidecar (the proxy streams: its memory does not grow with object size).',
    parse: parseQuantity,
  }),
  proxyEnv: setting({
    env: 'CLOUDTASER_INJECTOR_PROXY_ENV',
    group: 'Sidecar',
    default: '{}',
    valueHint: '<json object>',
    description:
      'Proxy settings given to every sidecar unless an annotation sets them, e.g. {"CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS":"refuse"}.',
    parse: parseProxyEnv,
  }),
  clientCredentialsSecret: setting({
    env: 'CLOUDTASER_INJECTOR_CLIENT_CREDENTIALS_SECRET',
    group: 'Sidecar',
    valueHint: '<secret name>',
    description:
      'Client credentials Secret (key credentials.yaml) mounted into every sidecar whose pod has no ' +
      'cloudtaser.io/s3-proxy-client-credentials-secret annotation: the Secret must then exist in every namespace ' +
      'with injected pods, or their pods do not start. Unset: no inbound authentication unless annotated.',
    parse: parseSecretName,
  }),
  listen: setting({
    env: 'CLOUDTASER_INJECTOR_LISTEN_ADDR',
    group: 'Webhook',
    default: ':8443',
    valueHint: '<host:port>',
    description: 'HTTPS address of the admission webhook (POST /mutate; also /healthz).',
    parse: parseListenAddress,
  }),
  health: setting({
    env: 'CLOUDTASER_INJECTOR_HEALTH_ADDR',
    group: 'Webhook',
    default: ':8191',
    valueHint: '<host:port>',
    description: 'Plain HTTP address of /healthz, /readyz and /metrics.',
    parse: parseListenAddress,
  }),
  tlsCertFile: setting({
    env: 'CLOUDTASER_INJECTOR_TLS_CERT_FILE',
    group: 'Webhook',
    default: '/etc/cloudtaser/tls/tls.crt',
    valueHint: '<file>',
    description: 'PEM certificate chain of the webhook; re-read when it changes (cert-manager renewals).',
    parse: parseFilePath,
  }),
  tlsKeyFile: setting({
    env: 'CLOUDTASER_INJECTOR_TLS_KEY_FILE',
    group: 'Webhook',
    default: '/etc/cloudtaser/tls/tls.key',
    valueHint: '<file>',
    description: 'PEM private key of the webhook; re-read with the certificate.',
    parse: parseFilePath,
  }),
  tlsReloadInterval: setting({
    env: 'CLOUDTASER_INJECTOR_TLS_RELOAD_INTERVAL',
    group: 'Webhook',
    default: '10s',
    valueHint: '<duration>',
    description: 'How often the certificate and key files are checked for changes.',
    parse: parseDuration({ allowZero: false }),
  }),
  logLevel: setting({
    env: 'CLOUDTASER_INJECTOR_LOG_LEVEL',
    group: 'Webhook',
    default: 'info',
    valueHint: LOG_LEVELS.join('|'),
    description: 'Least severe level of log lines written (JSON to stdout).',
    parse: parseChoice(LOG_LEVELS),
  }),
} as const;

type Env = Readonly<Record<string, string | undefined>>;
type Values = { -readonly [K in keyof typeof INJECTOR_SETTINGS]: unknown };

export type InjectorOptionsResult =
  | { ok: true; sidecar: SidecarOptions; webhook: WebhookOptions }
  | { ok: false; errors: string[] };

/** Reads every CLOUDTASER_INJECTOR_* variable, reporting every problem at once, one line each. */
export function loadInjectorOptions(env: Env): InjectorOptionsResult {
  const errors: string[] = [];
  const values = {} as Values;
  for (const [id, spec] of Object.entries(INJECTOR_SETTINGS) as [
    keyof typeof INJECTOR_SETTINGS,
    InjectorSetting<unknown>,
  ][]) {
    const raw = env[spec.env]?.trim();
    const text = raw === undefined || raw === '' ? spec.default : raw;
    if (text === undefined) continue;
    const parsed = spec.parse(text);
    if (parsed.ok) values[id] = parsed.value;
    else errors.push(`${spec.env} must be ${parsed.expected}, got ${JSON.stringify(text)}`);
  }
  if (errors.length > 0) return { ok: false, errors };
  const v = values as {
    [K in keyof typeof INJECTOR_SETTINGS]: (typeof INJECTOR_SETTINGS)[K] extends InjectorSetting<infer T>
      ? T
      : never;
  };
  return {
    ok: true,
    sidecar: {
      image: v.image,
      imagePullPolicy: v.imagePullPolicy,
      mode: v.mode,
      ...(v.vaultAddress === undefined ? {} : { vaultAddress: v.vaultAddress }),
      vaultAuthPath: v.vaultAuthPath,
      ...(v.tokenAudience === undefined ? {} : { tokenAudience: v.tokenAudience }),
      tokenExpirationSeconds: v.tokenExpirationSeconds,
      resources: {
        cpuRequest: v.cpuRequest,
        memoryRequest: v.memoryRequest,
        ...(v.cpuLimit === undefined ? {} : { cpuLimit: v.cpuLimit }),
        memoryLimit: v.memoryLimit,
      },
      proxyEnv: v.proxyEnv,
      ...(v.clientCredentialsSecret === undefined
        ? {}
        : { clientCredentialsSecret: v.clientCredentialsSecret }),
    },
    webhook: {
      listen: v.listen,
      health: v.health,
      tlsCertFile: v.tlsCertFile,
      tlsKeyFile: v.tlsKeyFile,
      tlsReloadIntervalMs: v.tlsReloadInterval,
      logLevel: v.logLevel,
    },
  };
}

/** The settings' help text, for `inject --help` and `webhook --help`. */
export function renderInjectorSettings(groups: readonly ('Sidecar' | 'Webhook')[]): string {
  const lines: string[] = [];
  for (const group of groups) {
    lines.push('', `${group} settings (environment variables):`);
    for (const spec of Object.values(INJECTOR_SETTINGS) as InjectorSetting<unknown>[]) {
      if (spec.group !== group) continue;
      lines.push(
        `  ${spec.env}=${spec.valueHint}  (${spec.default === undefined ? 'optional' : `default ${spec.default}`})`,
      );
      lines.push(`      ${spec.description}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
