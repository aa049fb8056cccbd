/**
 * The pod annotations the injector reads and writes. Names are constants so that code, tests and
 * docs/DEPLOYMENT.md cannot drift; the seed's table ("Pod Annotations") is the first five, the Vault
 * address and role are shared with CloudTaser's secret injector (the seed's example sets them once for both).
 */

/** Opt-in: "true" injects, "false" or absence leaves the pod alone. */
export const ANNOTATION_INJECT = 'cloudtaser.io/s3-proxy';
/** Written by the injector; its presence makes injection idempotent (a second pass changes nothing). */
export const ANNOTATION_STATUS = 'cloudtaser.io/s3-proxy-status';
export const STATUS_INJECTED = 'injected';

export const ANNOTATION_ENDPOINT = 'cloudtaser.io/s3-proxy-endpoint';
export const ANNOTATION_REGION = 'cloudtaser.io/s3-proxy-region';
export const ANNOTATION_TRANSIT_KEY = 'cloudtaser.io/s3-proxy-transit-key';
export const ANNOTATION_TRANSIT_MOUNT = 'cloudtaser.io/s3-proxy-transit-mount';
/** Transit keys per bucket and prefix (CLOUDTASER_S3PROXY_TRANSIT_KEYS), validated at admission by the proxy's parser. */
export const ANNOTATION_TRANSIT_KEYS = 'cloudtaser.io/s3-proxy-transit-keys';
export const ANNOTATION_VAULT_ADDRESS = 'cloudtaser.io/vault-address';
export const ANNOTATION_VAULT_ROLE = 'cloudtaser.io/vault-role';
export const ANNOTATION_VAULT_AUTH_PATH = 'cloudtaser.io/vault-auth-path';
export const ANNOTATION_VAULT_NAMESPACE = 'cloudtaser.io/vault-namespace';
/** A ConfigMap in the pod's namespace with the PEM CA bundle of Vault under the key `ca.crt`. */
export const ANNOTATION_VAULT_CA_CONFIGMAP = 'cloudtaser.io/vault-ca-configmap';
/** A Secret in the pod's namespace with static upstream credentials (S3-compatible stores without IAM roles). */
export const ANNOTATION_AWS_CREDENTIALS_SECRET = 'cloudtaser.io/s3-proxy-aws-credentials-secret';
/** A Secret in the pod's namespace with the proxy's client credentials (inbound authentication) under `credentials.yaml`. */
export const ANNOTATION_CLIENT_CREDENTIALS_SECRET = 'cloudtaser.io/s3-proxy-client-credentials-secret';
export const ANNOTATION_MAX_OBJECT_SIZE = 'cloudtaser.io/s3-proxy-max-object-size';
export const ANNOTATION_LOG_LEVEL = 'cloudtaser.io/s3-proxy-log-level';
export const ANNOTATION_CPU_REQUEST = 'cloudtaser.io/s3-proxy-cpu-request';
export const ANNOTATION_MEMORY_REQUEST = 'cloudtaser.io/s3-proxy-memory-request';
export const ANNOTATION_CPU_LIMIT = 'cloudtaser.io/s3-proxy-cpu-limit';
export const ANNOTATION_MEMORY_LIMIT = 'cloudtaser.io/s3-proxy-memory-limit';

export interface AnnotationSpec {
  readonly name: string;
  /** The proxy variable it sets, if it sets one directly. */
  readonly env?: string;
  /** `required`, or the default applied when the annotation is absent (text for the docs). */
  readonly presence: 'required' | { readonly default: string };
  readonly description: string;
}

/** Every annotation the injector reads, in the order docs/DEPLOYMENT.md lists them. */
export const ANNOTATIONS: readonly AnnotationSpec[] = [
  {
    name: ANNOTATION_INJECT,
    presence: 'required',
    description: 'Set to "true" to inject the S3 proxy sidecar; "false" or absent leaves the pod unchanged.',
  },
  {
    name: ANNOTATION_ENDPOINT,
    env: 'CLOUDTASER_S3PROXY_S3_ENDPOINT',
    presence: 'required',
    description: 'Upstream S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com.',
  },
  {
    name: ANNOTATION_REGION,
    env: 'CLOUDTASER_S3PROXY_S3_REGION',
    presence: 'required',
    description: 'AWS region used to sign upstream requests, e.g. eu-west-1.',
  },
  {
    name: ANNOTATION_TRANSIT_KEY,
    env: 'CLOUDTASER_S3PROXY_TRANSIT_KEY',
    presence: 'required',
    description: 'Name of the Vault Transit key that wraps the data keys.',
  },
  {
    name: ANNOTATION_TRANSIT_MOUNT,
    env: 'CLOUDTASER_S3PROXY_TRANSIT_MOUNT',
    presence: { default: 'transit' },
    description: 'Mount path of the Vault Transit engine.',
  },
  {
    name: ANNOTATION_TRANSIT_KEYS,
    env: 'CLOUDTASER_S3PROXY_TRANSIT_KEYS',
    presence: { default: 'none (the transit key for every bucket)' },
    description:
      'Transit keys per bucket and key prefix, e.g. "bucket-a=myapp-a,bucket-b/exports/=transit2:exports" (docs/OPERATIONS.md "Tenants"); a mapping the proxy would reject is refused at admission, naming every bad entry.',
  },
  {
    name: ANNOTATION_VAULT_ADDRESS,
    env: 'VAULT_ADDR',
    presence: 'required',
    description:
      "OpenBao/Vault address. Required unless the injector has a default (CLOUDTASER_INJECTOR_VAULT_ADDR, the chart's vault.address).",
  },
  {
    name: ANNOTATION_VAULT_ROLE,
    env: 'VAULT_AUTH_ROLE',
    presence: 'required',
    description:
      "Vault Kubernetes auth role the sidecar logs in as, bound to the pod's service account and namespace.",
  },
  {
    name: ANNOTATION_VAULT_AUTH_PATH,
    env: 'VAULT_AUTH_MOUNT_PATH',
    presence: { default: 'kubernetes (or the injector default)' },
    description: 'Mount path of the Vault Kubernetes auth method.',
  },
  {
    name: ANNOTATION_VAULT_NAMESPACE,
    env: 'VAULT_NAMESPACE',
    presence: { default: 'none' },
    description: 'Vault Enterprise / OpenBao namespace.',
  },
  {
    name: ANNOTATION_VAULT_CA_CONFIGMAP,
    env: 'VAULT_CACERT',
    presence: { default: 'none (system CAs)' },
    description:
      "ConfigMap in the pod's namespace holding Vault's CA bundle under the key ca.crt (trust-manager's layout); mounted read-only into the sidecar.",
  },
  {
    name: ANNOTATION_AWS_CREDENTIALS_SECRET,
    presence: { default: 'none (the AWS credential chain: IRSA, EKS Pod Identity, …)' },
    description:
      "Secret in the pod's namespace whose keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (optional) AWS_SESSION_TOKEN become the sidecar's upstream credentials.",
  },
  {
    name: ANNOTATION_CLIENT_CREDENTIALS_SECRET,
    env: 'CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE',
    presence: { default: 'none (or the injector default): no inbound authentication' },
    description:
      "Secret in the pod's namespace holding the client credentials (docs/SECURITY.md) under the key credentials.yaml; mounted read-only into the sidecar, which then accepts only requests signed with a listed key and re-reads the Secret when it changes.",
  },
  {
    name: ANNOTATION_MAX_OBJECT_SIZE,
    env: 'CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE',
    presence: { default: '268435456 (or the injector default)' },
    description: 'Largest object accepted by a single PutObject, in bytes.',
  },
  {
    name: ANNOTATION_LOG_LEVEL,
    env: 'CLOUDTASER_S3PROXY_LOG_LEVEL',
    presence: { default: 'info (or the injector default)' },
    description: 'Log level of the sidecar: debug, info, warn or error.',
  },
  {
    name: ANNOTATION_CPU_REQUEST,
    presence: { default: 'the injector default (100m)' },
    description: 'CPU request of the sidecar (a Kubernetes quantity).',
  },
  {
    name: ANNOTATION_MEMORY_REQUEST,
    presence: { default: 'the injector default (128Mi)' },
    description: 'Memory request of the sidecar.',
  },
  {
    name: ANNOTATION_CPU_LIMIT,
    presence: { default: 'the injector default (1)' },
    description: 'CPU limit of the sidecar; "none" removes the limit.',
  },
  {
    name: ANNOTATION_MEMORY_LIMIT,
    presence: { default: 'the injector default (512Mi)' },
    description: 'Memory limit of the sidecar.',
  },
];

/** Proxy variable → the annotation that sets it, so that a proxy validation error names the annotation. */
export const ANNOTATION_OF_ENV: ReadonlyMap<string, string> = new Map(
  ANNOTATIONS.flatMap((a) => (a.env === undefined ? [] : [[a.env, a.name] as const])),
);
