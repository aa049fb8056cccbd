import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1/Pod';
import { loadConfig } from '../../../src/config/index.ts';
import {
  type AdmissionRequest,
  type AdmissionResponse,
  reviewAdmission,
} from '../../../src/injector/admission.ts';
import { mutatePod } from '../../../src/injector/mutate.ts';
import { loadInjectorOptions, type SidecarOptions } from '../../../src/injector/options.ts';
import type { KubeContainer, KubePod } from '../../../src/injector/patch.ts';
import { EXPECTED_SEED_SIDECAR, EXPECTED_TOKEN_VOLUME } from '../../injector/seed-sidecar.ts';

const FIXTURES = new URL('../../injector/fixtures/', import.meta.url);
const seedReview = JSON.parse(readFileSync(new URL('seed-pod-review.json', FIXTURES), 'utf8')) as {
  apiVersion: string;
  kind: string;
  request: AdmissionRequest & { object: KubePod };
};

function defaults(env: Record<string, string> = {}): SidecarOptions {
  const loaded = loadInjectorOptions({
    CLOUDTASER_INJECTOR_IMAGE: 'cloudtaser/cloudtaser-s3-proxy:test',
    ...env,
  });
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
  return loaded.sidecar;
}

const OPTIONS = defaults();

/** A copy of the seed's pod with annotations changed (`undefined` removes one) and spec fields merged. */
function seedPod(
  annotations: Record<string, string | undefined> = {},
  spec: Record<string, unknown> = {},
): KubePod {
  const pod = structuredClone(seedReview.request.object);
  const merged: Record<string, string> = { ...pod.metadata?.annotations };
  for (const [name, value] of Object.entries(annotations)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  pod.metadata = { ...pod.metadata, annotations: merged };
  pod.spec = { ...(pod.spec as NonNullable<KubePod['spec']>), ...spec };
  return pod;
}

function review(pod: KubePod, request: Partial<AdmissionRequest> = {}) {
  return { ...seedReview, request: { ...seedReview.request, object: pod, ...request } };
}

function respond(
  pod: KubePod,
  options = OPTIONS,
  request: Partial<AdmissionRequest> = {},
): AdmissionResponse {
  const result = reviewAdmission(review(pod, request), options);
  assert.ok(result.ok, result.ok ? '' : result.error);
  assert.equal(result.review.apiVersion, 'admission.k8s.io/v1');
  assert.equal(result.review.kind, 'AdmissionReview');
  assert.equal(result.review.response.uid, seedReview.request.uid);
  return result.review.response;
}

function decodePatch(response: AdmissionResponse): Operation[] {
  assert.equal(response.patchType, 'JSONPatch');
  return JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8')) as Operation[];
}

/** The pod the API server would store: the patch applied by an independent JSON Patch implementation. */
function applied(pod: KubePod, response: AdmissionResponse): KubePod {
  return fastJsonPatch.applyPatch(structuredClone(pod), decodePatch(response), true, false).newDocument;
}

function sidecarOf(pod: KubePod): KubeContainer {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  const sidecar = all.find((c) => c.name === 'cloudtaser-s3-proxy');
  assert.ok(sidecar, 'the pod has the sidecar');
  return sidecar;
}

/** The literal values of a container's environment (references to Secrets are left out). */
function envOf(container: KubeContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { name, value } of container.env as { name: string; value?: string }[]) {
    if (value !== undefined) env[name] = value;
  }
  return env;
}

describe('mutation: the seed example', () => {
  it('adds the proxy as a native sidecar, its token volume and the status annotation, in exactly these operations', () => {
    const response = respond(seedReview.request.object);
    assert.equal(response.allowed, true);
    assert.deepEqual(decodePatch(response), [
      { op: 'add', path: '/spec/initContainers', value: [EXPECTED_SEED_SIDECAR] },
      { op: 'add', path: '/spec/volumes', value: [EXPECTED_TOKEN_VOLUME] },
      { op: 'add', path: '/metadata/annotations/cloudtaser.io~1s3-proxy-status', value: 'injected' },
    ]);
    assert.equal(response.warnings, undefined);
  });

  it('gives a pod that validates against the Kubernetes Pod schema, with the application container untouched', () => {
    const pod = applied(seedReview.request.object, respond(seedReview.request.object));
    new Pod(pod as ConstructorParameters<typeof Pod>[0]).validate();
    assert.deepEqual(pod.spec?.containers, seedReview.request.object.spec?.containers);
    assert.equal(pod.metadata?.annotations?.['cloudtaser.io/s3-proxy-status'], 'injected');
  });

  it("gives the sidecar an environment that passes the proxy's own start-up validation", () => {
    const pod = applied(seedReview.request.object, respond(seedReview.request.object));
    const loaded = loadConfig(envOf(sidecarOf(pod)));
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
    assert.deepEqual(loaded.warnings, []);
    assert.equal(loaded.config.listen.host, '127.0.0.1', 'the decrypting proxy stays on loopback');
    assert.equal(loaded.config.listen.port, 8190);
    assert.equal(loaded.config.health.host, undefined, 'health on all interfaces, for the kubelet');
    assert.equal(loaded.config.health.port, 8191);
    assert.equal(loaded.config.vault.authMethod, 'kubernetes');
    assert.equal(loaded.config.vault.authRole, 'myapp');
    assert.equal(loaded.config.transit.mount, 'transit', "the seed's default mount");
    assert.equal(loaded.config.transit.key, 'myapp-s3');
  });

  it('is idempotent: the injected pod, sent again, is allowed unchanged', () => {
    const once = applied(seedReview.request.object, respond(seedReview.request.object));
    const again = respond(once);
    assert.equal(again.allowed, true);
    assert.equal(again.patch, undefined);
  });
});

describe('mutation: pods that are left alone', () => {
  const cases: { name: string; pod: KubePod; request?: Partial<AdmissionRequest> }[] = [
    { name: 'a pod without the opt-in annotation', pod: seedPod({ 'cloudtaser.io/s3-proxy': undefined }) },
    { name: 'a pod that opts out with "false"', pod: seedPod({ 'cloudtaser.io/s3-proxy': 'false' }) },
    { name: 'a pod without any annotations', pod: { ...seedPod(), metadata: { generateName: 'x-' } } },
    {
      name: 'a pod already injected (status annotation)',
      pod: seedPod({ 'cloudtaser.io/s3-proxy-status': 'injected' }),
    },
    {
      name: 'a pod that already has a container named cloudtaser-s3-proxy',
      pod: seedPod({}, { initContainers: [{ name: 'cloudtaser-s3-proxy', image: 'x' }] }),
    },
    { name: 'an UPDATE of a pod', pod: seedPod(), request: { operation: 'UPDATE' } },
    { name: 'a pod subresource', pod: seedPod(), request: { subResource: 'status' } },
    {
      name: 'an object that is not a pod',
      pod: seedPod(),
      request: {
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      },
    },
  ];
  for (const { name, pod, request } of cases) {
    it(`allows ${name} without a patch`, () => {
      const response = respond(pod, OPTIONS, request);
      assert.equal(response.allowed, true);
      assert.equal(response.patch, undefined);
      assert.equal(response.patchType, undefined);
    });
  }
});

describe('mutation: refusals name the annotation', () => {
  const missing: { annotation: string; options?: SidecarOptions }[] = [
    { annotation: 'cloudtaser.io/s3-proxy-endpoint' },
    { annotation: 'cloudtaser.io/s3-proxy-region' },
    { annotation: 'cloudtaser.io/s3-proxy-transit-key' },
    { annotation: 'cloudtaser.io/vault-address' },
    { annotation: 'cloudtaser.io/vault-role' },
  ];
  for (const { annotation } of missing) {
    it(`refuses a pod without ${annotation}, naming it`, () => {
      const response = respond(seedPod({ [annotation]: undefined }));
      assert.equal(response.allowed, false);
      assert.equal(response.patch, undefined);
      assert.equal(response.status?.code, 400);
      assert.match(response.status?.message ?? '', new RegExp(`annotation ${annotation} is required`));
      assert.equal(response.status?.message.match(/is required/g)?.length, 1, 'one line for one problem');
    });
  }

  it('refuses a pod without any of the required annotations, naming every one at once', () => {
    const pod = seedPod(Object.fromEntries(missing.map(({ annotation }) => [annotation, undefined])));
    const message = respond(pod).status?.message ?? '';
    for (const { annotation } of missing) assert.match(message, new RegExp(annotation));
  });

  it('treats a blank annotation as missing, as the proxy treats blank variables', () => {
    const response = respond(seedPod({ 'cloudtaser.io/s3-proxy-transit-key': '  ' }));
    assert.match(response.status?.message ?? '', /cloudtaser\.io\/s3-proxy-transit-key is required/);
  });

  it('takes the Vault address from the injector default when the pod has none', () => {
    const options = defaults({ CLOUDTASER_INJECTOR_VAULT_ADDR: 'https://vault.internal:8200' });
    const pod = applied(
      seedPod({ 'cloudtaser.io/vault-address': undefined }),
      respond(seedPod({ 'cloudtaser.io/vault-address': undefined }), options),
    );
    assert.equal(envOf(sidecarOf(pod)).VAULT_ADDR, 'https://vault.internal:8200');
  });

  const invalid: { annotation: string; value: string; expected: RegExp }[] = [
    {
      annotation: 'cloudtaser.io/s3-proxy-endpoint',
      value: 's3.eu-west-1.amazonaws.com',
      expected:
        /annotation cloudtaser\.io\/s3-proxy-endpoint: CLOUDTASER_S3PROXY_S3_ENDPOINT must be an http/,
    },
    {
      annotation: 'cloudtaser.io/s3-proxy-transit-key',
      value: 'team/key',
      expected: /annotation cloudtaser\.io\/s3-proxy-transit-key: CLOUDTASER_S3PROXY_TRANSIT_KEY must be/,
    },
    {
      annotation: 'cloudtaser.io/vault-address',
      value: 'vault:8200',
      expected: /annotation cloudtaser\.io\/vault-address: VAULT_ADDR must be/,
    },
    {
      annotation: 'cloudtaser.io/s3-proxy-max-object-size',
      value: '-1',
      expected:
        /annotation cloudtaser\.io\/s3-proxy-max-object-size: CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE must be/,
    },
    {
      annotation: 'cloudtaser.io/s3-proxy-memory-limit',
      value: 'lots',
      expected: /annotation cloudtaser\.io\/s3-proxy-memory-limit must be a Kubernetes quantity/,
    },
    {
      annotation: 'cloudtaser.io/vault-ca-configmap',
      value: 'Not_A_Name',
      expected: /annotation cloudtaser\.io\/vault-ca-configmap must be the name of a ConfigMap/,
    },
    {
      annotation: 'cloudtaser.io/s3-proxy-aws-credentials-secret',
      value: 'creds/../x',
      expected: /annotation cloudtaser\.io\/s3-proxy-aws-credentials-secret must be the name of a Secret/,
    },
    {
      annotation: 'cloudtaser.io/s3-proxy-client-credentials-secret',
      value: 'Clients_Secret',
      expected: /annotation cloudtaser\.io\/s3-proxy-client-credentials-secret must be the name of a Secret/,
    },
    {
      annotation: 'cloudtaser.io/s3-proxy-transit-keys',
      value: 'bucket-a=key-a,bucket-a=key-b,Bad=key',
      expected:
        /annotation cloudtaser\.io\/s3-proxy-transit-keys: CLOUDTASER_S3PROXY_TRANSIT_KEYS must be .*entry 2 .*same location as entry 1.*entry 3 .*"Bad" is not a bucket name/,
    },
    {
      annotation: 'cloudtaser.io/s3-proxy',
      value: 'yes',
      expected: /annotation cloudtaser\.io\/s3-proxy must be "true" or "false"/,
    },
  ];
  for (const { annotation, value, expected } of invalid) {
    it(`refuses ${annotation}: ${JSON.stringify(value)} with the proxy's own reason`, () => {
      const response = respond(seedPod({ [annotation]: value }));
      assert.equal(response.allowed, false);
      assert.match(response.status?.message ?? '', expected);
    });
  }

  it('refuses a pod whose containers already use port 8190 or 8191', () => {
    const pod = seedPod(
      {},
      { containers: [{ name: 'myapp', image: 'x', ports: [{ containerPort: 8191 }] }] },
    );
    assert.match(respond(pod).status?.message ?? '', /container myapp declares port 8191/);
  });
});

describe('mutation: annotations and settings', () => {
  it('maps the optional annotations onto the proxy variables and the resources', () => {
    const pod = seedPod({
      'cloudtaser.io/s3-proxy-transit-mount': 'eu/transit',
      'cloudtaser.io/s3-proxy-transit-keys': 'bucket-a=key-a,bucket-b/exports/=transit2:exports',
      'cloudtaser.io/vault-auth-path': 'k8s-prod',
      'cloudtaser.io/vault-namespace': 'team-a',
      'cloudtaser.io/vault-ca-configmap': 'vault-ca',
      'cloudtaser.io/s3-proxy-max-object-size': '1073741824',
      'cloudtaser.io/s3-proxy-log-level': 'debug',
      'cloudtaser.io/s3-proxy-cpu-request': '250m',
      'cloudtaser.io/s3-proxy-memory-request': '256Mi',
      'cloudtaser.io/s3-proxy-cpu-limit': 'none',
      'cloudtaser.io/s3-proxy-memory-limit': '1Gi',
    });
    const injected = applied(pod, respond(pod));
    const sidecar = sidecarOf(injected);
    const env = envOf(sidecar);
    assert.equal(env.CLOUDTASER_S3PROXY_TRANSIT_MOUNT, 'eu/transit');
    assert.equal(env.CLOUDTASER_S3PROXY_TRANSIT_KEYS, 'bucket-a=key-a,bucket-b/exports/=transit2:exports');
    assert.equal(env.VAULT_AUTH_MOUNT_PATH, 'k8s-prod');
    assert.equal(env.VAULT_NAMESPACE, 'team-a');
    assert.equal(env.VAULT_CACERT, '/etc/cloudtaser/vault-ca/ca.crt');
    assert.equal(env.CLOUDTASER_S3PROXY_MAX_OBJECT_SIZE, '1073741824');
    assert.equal(env.CLOUDTASER_S3PROXY_LOG_LEVEL, 'debug');
    assert.deepEqual(sidecar.resources, {
      requests: { cpu: '250m', memory: '256Mi' },
      limits: { memory: '1Gi' },
    });
    assert.deepEqual(injected.spec?.volumes?.[1], {
      name: 'cloudtaser-s3-proxy-vault-ca',
      configMap: { name: 'vault-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
    new Pod(injected as ConstructorParameters<typeof Pod>[0]).validate();
  });

  it('references static upstream credentials from a Secret, without copying them', () => {
    const pod = seedPod({ 'cloudtaser.io/s3-proxy-aws-credentials-secret': 'seaweedfs-s3' });
    const injected = applied(pod, respond(pod));
    const env = sidecarOf(injected).env as { name: string; valueFrom?: unknown }[];
    assert.deepEqual(
      env.filter((e) => e.name.startsWith('AWS_')),
      [
        {
          name: 'AWS_ACCESS_KEY_ID',
          valueFrom: { secretKeyRef: { name: 'seaweedfs-s3', key: 'AWS_ACCESS_KEY_ID' } },
        },
        {
          name: 'AWS_SECRET_ACCESS_KEY',
          valueFrom: { secretKeyRef: { name: 'seaweedfs-s3', key: 'AWS_SECRET_ACCESS_KEY' } },
        },
        {
          name: 'AWS_SESSION_TOKEN',
          valueFrom: { secretKeyRef: { name: 'seaweedfs-s3', key: 'AWS_SESSION_TOKEN', optional: true } },
        },
      ],
    );
    new Pod(injected as ConstructorParameters<typeof Pod>[0]).validate();
  });

  it('mounts the client credentials Secret as a directory (so updates arrive) and points the proxy at it', () => {
    const pod = seedPod({ 'cloudtaser.io/s3-proxy-client-credentials-secret': 'myapp-s3-clients' });
    const injected = applied(pod, respond(pod));
    const sidecar = sidecarOf(injected);
    assert.equal(
      envOf(sidecar).CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE,
      '/etc/cloudtaser/client-credentials/credentials.yaml',
    );
    assert.deepEqual((sidecar.volumeMounts as unknown[]).at(-1), {
      name: 'cloudtaser-s3-proxy-client-credentials',
      mountPath: '/etc/cloudtaser/client-credentials',
      readOnly: true,
    });
    assert.deepEqual(injected.spec?.volumes?.at(-1), {
      name: 'cloudtaser-s3-proxy-client-credentials',
      secret: {
        secretName: 'myapp-s3-clients',
        items: [{ key: 'credentials.yaml', path: 'credentials.yaml' }],
      },
    });
    new Pod(injected as ConstructorParameters<typeof Pod>[0]).validate();
  });

  it('takes the client credentials Secret from the injector default, which an annotation overrides', () => {
    const options = defaults({ CLOUDTASER_INJECTOR_CLIENT_CREDENTIALS_SECRET: 'cluster-s3-clients' });
    const plain = seedPod({});
    const secretOf = (pod: KubePod, opts: SidecarOptions) => {
      const volume = applied(pod, respond(pod, opts)).spec?.volumes?.at(-1) as
        | { secret?: { secretName: string } }
        | undefined;
      return volume?.secret?.secretName;
    };
    assert.equal(secretOf(plain, options), 'cluster-s3-clients');
    assert.equal(
      secretOf(seedPod({ 'cloudtaser.io/s3-proxy-client-credentials-secret': 'team-clients' }), options),
      'team-clients',
    );
    assert.equal(secretOf(plain, OPTIONS), undefined, 'no Secret, no inbound authentication');
    assert.equal(
      envOf(sidecarOf(applied(plain, respond(plain)))).CLOUDTASER_S3PROXY_CLIENT_CREDENTIALS_FILE,
      undefined,
    );
  });

  it('gives proxy defaults from the injector to every sidecar, and lets annotations override them', () => {
    const options = defaults({
      CLOUDTASER_INJECTOR_PROXY_ENV: JSON.stringify({
        CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS: 'refuse',
        CLOUDTASER_S3PROXY_LOG_LEVEL: 'warn',
      }),
      CLOUDTASER_INJECTOR_TOKEN_AUDIENCE: 'vault',
    });
    const pod = seedPod({ 'cloudtaser.io/s3-proxy-log-level': 'debug' });
    const injected = applied(pod, respond(pod, options));
    const env = envOf(sidecarOf(injected));
    assert.equal(env.CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS, 'refuse');
    assert.equal(env.CLOUDTASER_S3PROXY_LOG_LEVEL, 'debug');
    assert.deepEqual(injected.spec?.volumes?.[0]?.projected, {
      sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600, audience: 'vault' } }],
    });
  });

  it('puts a native sidecar before existing init containers and appends its volume to existing ones', () => {
    const pod = seedPod(
      {},
      {
        initContainers: [{ name: 'migrate', image: 'registry.example.com/migrate:1' }],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    );
    const patch = decodePatch(respond(pod));
    assert.deepEqual(
      patch.map((op) => [op.op, op.path]),
      [
        ['add', '/spec/initContainers/0'],
        ['add', '/spec/volumes/-'],
        ['add', '/metadata/annotations/cloudtaser.io~1s3-proxy-status'],
      ],
    );
    const injected = applied(pod, respond(pod));
    assert.deepEqual(
      injected.spec?.initContainers?.map((c) => c.name),
      ['cloudtaser-s3-proxy', 'migrate'],
    );
    assert.deepEqual(
      injected.spec?.volumes?.map((v) => v.name),
      ['data', 'cloudtaser-s3-proxy-token'],
    );
  });

  it('in container mode appends an ordinary container without restartPolicy, after the application', () => {
    const options = defaults({ CLOUDTASER_INJECTOR_SIDECAR_MODE: 'container' });
    const injected = applied(seedReview.request.object, respond(seedReview.request.object, options));
    assert.deepEqual(
      injected.spec?.containers.map((c) => c.name),
      ['myapp', 'cloudtaser-s3-proxy'],
    );
    assert.equal(injected.spec?.initContainers, undefined);
    assert.equal(sidecarOf(injected).restartPolicy, undefined);
    new Pod(injected as ConstructorParameters<typeof Pod>[0]).validate();
  });

  it('in container mode warns that a Job pod would never complete', () => {
    const options = defaults({ CLOUDTASER_INJECTOR_SIDECAR_MODE: 'container' });
    const response = respond(seedPod({}, { restartPolicy: 'Never' }), options);
    assert.equal(response.allowed, true);
    assert.match(response.warnings?.[0] ?? '', /never completes/);
  });

  it('mutatePod returns the same patch for the same pod (no clocks, no randomness)', () => {
    assert.deepEqual(mutatePod(seedPod(), OPTIONS), mutatePod(seedPod(), OPTIONS));
  });
});

describe('AdmissionReview decoding', () => {
  it('rejects a body that is not an AdmissionReview v1', () => {
    const result = reviewAdmission({ ...seedReview, apiVersion: 'admission.k8s.io/v1beta1' }, OPTIONS);
    assert.equal(result.ok, false);
  });

  it('rejects a review without request.uid', () => {
    const result = reviewAdmission({ ...seedReview, request: { ...seedReview.request, uid: '' } }, OPTIONS);
    assert.equal(result.ok, false);
  });
});
