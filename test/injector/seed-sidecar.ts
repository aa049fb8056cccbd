/**
 * What the injector adds to the seed's example pod with the default sidecar settings and the image
 * cloudtaser/cloudtaser-s3-proxy:test: asserted on the patch by the unit tests and on the pod the real
 * API server stores by test/integration/injector-apiserver.test.ts.
 */

/** The seed's example, injected with the defaults: every field of the sidecar, as the docs describe it. */
export const EXPECTED_SEED_SIDECAR = {
  name: 'cloudtaser-s3-proxy',
  image: 'cloudtaser/cloudtaser-s3-proxy:test',
  imagePullPolicy: 'IfNotPresent',
  args: ['serve'],
  restartPolicy: 'Always',
  env: [
    { name: 'CLOUDTASER_S3PROXY_S3_ENDPOINT', value: 'https://s3.eu-west-1.amazonaws.com' },
    { name: 'CLOUDTASER_S3PROXY_S3_REGION', value: 'eu-west-1' },
    { name: 'CLOUDTASER_S3PROXY_TRANSIT_KEY', value: 'myapp-s3' },
    { name: 'VAULT_ADDR', value: 'https://vault.eu.example.com:8200' },
    { name: 'VAULT_AUTH_METHOD', value: 'kubernetes' },
    { name: 'VAULT_AUTH_ROLE', value: 'myapp' },
    { name: 'VAULT_AUTH_MOUNT_PATH', value: 'kubernetes' },
    { name: 'VAULT_AUTH_TOKEN_PATH', value: '/var/run/secrets/cloudtaser.io/serviceaccount/token' },
    { name: 'CLOUDTASER_S3PROXY_LISTEN_ADDR', value: '127.0.0.1:8190' },
    { name: 'CLOUDTASER_S3PROXY_HEALTH_ADDR', value: ':8191' },
  ],
  ports: [{ name: 's3proxy-health', containerPort: 8191, protocol: 'TCP' }],
  startupProbe: {
    httpGet: { path: '/healthz', port: 8191, scheme: 'HTTP' },
    periodSeconds: 1,
    timeoutSeconds: 1,
    failureThreshold: 60,
  },
  livenessProbe: {
    httpGet: { path: '/healthz', port: 8191, scheme: 'HTTP' },
    periodSeconds: 10,
    timeoutSeconds: 2,
    failureThreshold: 3,
  },
  readinessProbe: {
    httpGet: { path: '/readyz', port: 8191, scheme: 'HTTP' },
    periodSeconds: 10,
    timeoutSeconds: 5,
    failureThreshold: 3,
  },
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
  securityContext: {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  },
  volumeMounts: [
    {
      name: 'cloudtaser-s3-proxy-token',
      mountPath: '/var/run/secrets/cloudtaser.io/serviceaccount',
      readOnly: true,
    },
  ],
  terminationMessagePolicy: 'FallbackToLogsOnError',
};

export const EXPECTED_TOKEN_VOLUME = {
  name: 'cloudtaser-s3-proxy-token',
  projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } }] },
};
