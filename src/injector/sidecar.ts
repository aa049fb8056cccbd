/**
 * The sidecar container and the volumes it brings, built from settings already read and checked.
 * Pure: the same settings give the same objects, field for field, so patches are stable and testable.
 */
import type { SidecarMode } from './options.ts';
import type { KubeContainer, KubeVolume } from './patch.ts';

export const SIDECAR_NAME = 'cloudtaser-s3-proxy';
/** Loopback only: the decrypting proxy must not be reachable from other pods (R-CFG-3). */
export const PROXY_LISTEN = '127.0.0.1:8190';
/** All interfaces: the kubelet probes the pod IP. Serves no object data. */
export const HEALTH_PORT = 8191;
export const HEALTH_PORT_NAME = 's3proxy-health';
export const TOKEN_VOLUME = 'cloudtaser-s3-proxy-token';
export const TOKEN_DIR = '/var/run/secrets/cloudtaser.io/serviceaccount';
export const VAULT_CA_VOLUME = 'cloudtaser-s3-proxy-vault-ca';
export const VAULT_CA_DIR = '/etc/cloudtaser/vault-ca';
export const VAULT_CA_KEY = 'ca.crt';
export const CLIENT_CREDENTIALS_VOLUME = 'cloudtaser-s3-proxy-client-credentials';
/** A directory, not a subPath mount: only a directory mount receives the kubelet's updates of the Secret. */
export const CLIENT_CREDENTIALS_DIR = '/etc/cloudtaser/client-credentials';
export const CLIENT_CREDENTIALS_KEY = 'credentials.yaml';
/** The image's non-root user (distroless "nonroot"); fixed so that runAsNonRoot can be checked by the kubelet. */
export const SIDECAR_UID = 65532;

export interface SidecarSpec {
  readonly image: string;
  readonly imagePullPolicy: string;
  readonly mode: SidecarMode;
  /** In the order they appear in the container. */
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly resources: {
    readonly requests: Readonly<Record<string, string>>;
    readonly limits: Readonly<Record<string, string>>;
  };
  readonly tokenAudience?: string;
  readonly tokenExpirationSeconds: number;
  readonly vaultCaConfigMap?: string;
  /** Secret with static upstream credentials, referenced (never copied) into the sidecar's environment. */
  readonly credentialsSecret?: string;
  /** Secret with the client credentials file, mounted as a directory. */
  readonly clientCredentialsSecret?: string;
}

/** The keys read from the credentials Secret; the session token is only for temporary credentials. */
export const CREDENTIAL_KEYS = [
  { key: 'AWS_ACCESS_KEY_ID', optional: false },
  { key: 'AWS_SECRET_ACCESS_KEY', optional: false },
  { key: 'AWS_SESSION_TOKEN', optional: true },
] as const;

export function buildSidecarContainer(spec: SidecarSpec): KubeContainer {
  const httpGet = (path: string) => ({ path, port: HEALTH_PORT, scheme: 'HTTP' });
  const volumeMounts: Record<string, unknown>[] = [
    { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
  ];
  if (spec.vaultCaConfigMap !== undefined) {
    volumeMounts.push({ name: VAULT_CA_VOLUME, mountPath: VAULT_CA_DIR, readOnly: true });
  }
  if (spec.clientCredentialsSecret !== undefined) {
    volumeMounts.push({ name: CLIENT_CREDENTIALS_VOLUME, mountPath: CLIENT_CREDENTIALS_DIR, readOnly: true });
  }
  return {
    name: SIDECAR_NAME,
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    args: ['serve'],
    // A native sidecar: started before the application containers, stopped after them (KEP-753).
    ...(spec.mode === 'native' ? { restartPolicy: 'Always' } : {}),
    env: [
      ...spec.env.map(({ name, value }) => ({ name, value })),
      ...(spec.credentialsSecret === undefined
        ? []
        : CREDENTIAL_KEYS.map(({ key, optional }) => ({
            name: key,
            valueFrom: {
              secretKeyRef: { name: spec.credentialsSecret, key, ...(optional ? { optional: true } : {}) },
            },
          }))),
    ],
    ports: [{ name: HEALTH_PORT_NAME, containerPort: HEALTH_PORT, protocol: 'TCP' }],
    // /healthz answers once both listeners are bound, so in native mode the application starts only
    // when the proxy accepts connections.
    startupProbe: { httpGet: httpGet('/healthz'), periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 60 },
    livenessProbe: {
      httpGet: httpGet('/healthz'),
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    // /readyz asks Vault and the upstream, whose answers can take a few seconds.
    readinessProbe: {
      httpGet: httpGet('/readyz'),
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
    resources: { requests: { ...spec.resources.requests }, limits: { ...spec.resources.limits } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_UID,
      runAsGroup: SIDECAR_UID,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

export function buildSidecarVolumes(spec: SidecarSpec): KubeVolume[] {
  const volumes: KubeVolume[] = [
    {
      name: TOKEN_VOLUME,
      // Its own short-lived token rather than the pod's automounted one: it works when the pod sets
      // automountServiceAccountToken: false, and it can be bound to Vault's audience.
      projected: {
        sources: [
          {
            serviceAccountToken: {
              path: 'token',
              expirationSeconds: spec.tokenExpirationSeconds,
              ...(spec.tokenAudience === undefined ? {} : { audience: spec.tokenAudience }),
            },
          },
        ],
      },
    },
  ];
  if (spec.vaultCaConfigMap !== undefined) {
    volumes.push({
      name: VAULT_CA_VOLUME,
      configMap: { name: spec.vaultCaConfigMap, items: [{ key: VAULT_CA_KEY, path: VAULT_CA_KEY }] },
    });
  }
  if (spec.clientCredentialsSecret !== undefined) {
    volumes.push({
      name: CLIENT_CREDENTIALS_VOLUME,
      secret: {
        secretName: spec.clientCredentialsSecret,
        items: [{ key: CLIENT_CREDENTIALS_KEY, path: CLIENT_CREDENTIALS_KEY }],
      },
    });
  }
  return volumes;
}
