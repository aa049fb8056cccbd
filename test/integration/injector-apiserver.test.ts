/**
 * The injector behind a real Kubernetes API server: etcd and kube-apiserver (built from the Go module
 * proxy by scripts/kube.sh) on loopback, the Helm chart's objects as helm renders them (its
 * MutatingWebhookConfiguration with caBundle, failurePolicy, matchConditions and the namespace and object
 * selectors; its Secret, whose certificate the webhook serves), the webhook as the chart's Deployment runs
 * it (`cloudtaser-s3-proxy webhook` with the chart's ConfigMap as its environment), and pods created
 * through the API server, which calls the webhook, applies its patch, defaults and validates the result,
 * and stores it.
 *
 * What a cluster has and this does not: no controller-manager, kubelet or kube-proxy. So the test creates
 * the service accounts the controller-manager would (the API server refuses pods whose service account is
 * missing), nothing runs the stored pods, and the chart's Service is replaced by an ExternalName Service of
 * the same name pointing at localhost, which is how the API server reaches a webhook on this machine's
 * loopback (it dials the name of an ExternalName Service and verifies the certificate for
 * <service>.<namespace>.svc, as in a cluster).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { parse, parseAllDocuments } from 'yaml';
import type { KubeContainer, KubeObjectMeta } from '../../src/injector/patch.ts';
import { EXPECTED_SEED_SIDECAR, EXPECTED_TOKEN_VOLUME } from '../injector/seed-sidecar.ts';
import { freePorts } from '../support/ports.ts';
import { assertPresent, type Missing, skipUnlessPresent } from '../support/prerequisites.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const CHART = join(REPO_ROOT, 'charts', 'cloudtaser-s3-proxy');
const RELEASE_NAMESPACE = 'cloudtaser';
const APP_NAMESPACE = 'myapp';
const WEBHOOK_NAME = 's3-proxy.injector.cloudtaser.io';
const START_TIMEOUT_MS = 90_000;
const execFileAsync = promisify(execFile);

/** The path a helper script printed, or why it could not (it exits 3 with the reason). */
function toolDir(script: string, env: Record<string, string>): { path?: string; missing: Missing } {
  const found = spawnSync('bash', [script], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  if (found.status === 0) return { path: found.stdout.trim(), missing: undefined };
  return { missing: found.stderr.trim() || `${script} exited ${found.status}` };
}

// Building either takes minutes, which .ci/run does before the tests; here they are only looked up.
const kube = toolDir('scripts/kube.sh', { CLOUDTASER_KUBE_BUILD: 'never' });
const helm = toolDir('scripts/helm.sh', { CLOUDTASER_HELM_BUILD: 'never' });
const missing = kube.missing ?? helm.missing;

// ---------------------------------------------------------------------------------------------
// The API server and the objects sent to it.

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeObjectMeta;
  [field: string]: unknown;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** Plural resource names of the kinds the chart renders and the test creates. */
const RESOURCES: Record<string, string> = {
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  Secret: 'secrets',
  ConfigMap: 'configmaps',
  Service: 'services',
  Pod: 'pods',
  Deployment: 'deployments',
  PodDisruptionBudget: 'poddisruptionbudgets',
  ClusterRoleBinding: 'clusterrolebindings',
  MutatingWebhookConfiguration: 'mutatingwebhookconfigurations',
};
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);

class ApiServer {
  readonly url: string;
  readonly #token: string;
  readonly #dispatcher: Agent;

  constructor(url: string, token: string, dispatcher: Agent) {
    this.url = url;
    this.#token = token;
    this.#dispatcher = dispatcher;
  }

  async call(method: string, path: string, body?: unknown): Promise<Answer> {
    const response = await request(`${this.url}${path}`, {
      method: method as 'GET',
      dispatcher: this.#dispatcher,
      headers: {
        authorization: `Bearer ${this.#token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.body.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { text };
    }
    return { status: response.statusCode, body: parsed };
  }

  collection(object: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
    const resource = RESOURCES[object.kind];
    assert.ok(resource, `no resource name for ${object.kind}`);
    const group = object.apiVersion.includes('/')
      ? `/apis/${object.apiVersion}`
      : `/api/${object.apiVersion}`;
    if (CLUSTER_SCOPED.has(object.kind)) return `${group}/${resource}`;
    return `${group}/namespaces/${object.metadata.namespace ?? 'default'}/${resource}`;
  }

  /** POST; `dryRun` has the object validated (and admitted) without being stored. */
  create(object: KubeObject, options: { dryRun?: boolean } = {}): Promise<Answer> {
    return this.call('POST', `${this.collection(object)}${options.dryRun ? '?dryRun=All' : ''}`, object);
  }

  /** POST that must succeed; returns the stored object. */
  async mustCreate(object: KubeObject, options: { dryRun?: boolean } = {}): Promise<KubeObject> {
    const answer = await this.create(object, options);
    assert.equal(
      answer.status,
      201,
      `${object.kind} ${object.metadata.name}: ${JSON.stringify(answer.body)}`,
    );
    return answer.body as unknown as KubeObject;
  }

  async pods(namespace: string, labelSelector: string): Promise<KubeObject[]> {
    const answer = await this.call(
      'GET',
      `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(labelSelector)}`,
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.items as KubeObject[];
  }
}

interface Started {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function start(command: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const append = (chunk: string) => {
    // The API server logs a lot at start; what is kept is enough to explain a failure.
    output = (output + chunk).slice(-200_000);
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => {
      running.delete(child);
      resolveExit(code);
    });
  });
  return { child, output: () => output, exited };
}

async function stop(started: Started | undefined): Promise<number | null | undefined> {
  if (started === undefined || started.child.exitCode !== null) return started?.child.exitCode;
  started.child.kill('SIGTERM');
  const killer = setTimeout(() => started.child.kill('SIGKILL'), 15_000);
  try {
    return await started.exited;
  } finally {
    clearTimeout(killer);
  }
}

async function until<T>(what: string, attempt: () => Promise<T | undefined>, log: () => string): Promise<T> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what} did not happen within ${START_TIMEOUT_MS / 1000} s (${String(last)})\n${log()}`,
      );
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// The pods.

const seedDeployment = parse(
  readFileSync(join(REPO_ROOT, 'test/injector/fixtures/seed-deployment.yaml'), 'utf8'),
) as {
  spec: {
    template: { metadata: { annotations: Record<string, string> }; spec: { containers: KubeContainer[] } };
  };
};

/**
 * The pod of the seed's Deployment (its pod template, as the ReplicaSet would create it), completed only
 * with what the API server requires and the seed leaves out: the application's image.
 */
function seedPod(change: {
  name: string;
  namespace?: string;
  annotations?: Record<string, string | undefined>;
  labels?: Record<string, string>;
}): KubeObject {
  const template = structuredClone(seedDeployment.spec.template);
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...template.metadata.annotations, ...change.annotations }))
    if (value !== undefined) annotations[key] = value;
  const [app] = template.spec.containers;
  assert.ok(app && app.image === undefined, 'the seed gives its container no image');
  app.image = 'registry.example.com/myapp:1.4.2';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: change.name,
      namespace: change.namespace ?? APP_NAMESPACE,
      labels: { app: 'myapp', case: change.name, ...change.labels },
      annotations,
    },
    spec: template.spec,
  };
}

/** The service-account token volume (and its mounts) the API server adds to every pod has a random suffix. */
function withoutGeneratedNames(containers: KubeContainer[]): KubeContainer[] {
  return JSON.parse(JSON.stringify(containers).replace(/kube-api-access-[a-z0-9]{5}/g, 'kube-api-access'));
}

function specOf(pod: KubeObject): {
  initContainers?: KubeContainer[];
  containers: KubeContainer[];
  volumes?: unknown[];
} {
  return pod.spec as ReturnType<typeof specOf>;
}

// ---------------------------------------------------------------------------------------------

describe('the injector behind a real Kubernetes API server', { skip: skipUnlessPresent(missing) }, () => {
  let dir: string;
  let etcd: Started | undefined;
  let apiServer: Started | undefined;
  let webhook: Started | undefined;
  let api: ApiServer;
  let webhookHealth: string;
  let kubernetesVersion: string;

  const admissions = async (): Promise<number> => {
    const metrics = await (await fetch(`${webhookHealth}/metrics`)).text();
    let total = 0;
    for (const match of metrics.matchAll(/^cloudtaser_injector_admissions_total\{[^}]*\} (\d+)$/gm))
      total += Number(match[1]);
    return total;
  };

  before(async () => {
    assertPresent(missing);
    const binaries = kube.path as string;
    dir = mkdtempSync(join(tmpdir(), 'cloudtaser-apiserver-'));
    const [etcdClient, etcdPeer, securePort, webhookPort, healthPort] = (await freePorts(5)) as number[];
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };

    etcd = start(
      join(binaries, 'etcd'),
      [
        '--name=test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=test=http://127.0.0.1:${etcdPeer}`,
        // Throw-away data: no fsync, so the shared machine's disk is spared.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      env,
    );

    // The API server signs service-account tokens; a static token authenticates the test as an admin.
    const serviceAccountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'sa.key'), serviceAccountKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'sa.pub'), serviceAccountKey.publicKey.export({ type: 'spki', format: 'pem' }));
    const token = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${token},test-admin,test-admin,system:masters\n`);
    const certDir = join(dir, 'certs');
    mkdirSync(certDir);
    apiServer = start(
      join(binaries, 'kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${securePort}`,
        // No serving certificate given: it makes a self-signed one and its CA into cert-dir.
        `--cert-dir=${certDir}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        // No kubernetes Service endpoints to maintain: nothing here routes to the API server by them.
        '--endpoint-reconciler-type=none',
        '--v=1',
      ],
      env,
    );
    const certificate = join(certDir, 'apiserver.crt');
    api = await until(
      'the API server being ready',
      async () => {
        // The API server writes its certificate and CA into this file while it starts: it is used once
        // it holds both, and read again at every attempt until then.
        const ca = existsSync(certificate) ? readFileSync(certificate, 'utf8') : '';
        if ((ca.match(/-----END CERTIFICATE-----/g) ?? []).length < 2) return undefined;
        const agent = new Agent({ connect: { ca } });
        const candidate = new ApiServer(`https://127.0.0.1:${securePort}`, token, agent);
        let ready = false;
        try {
          ready = (await candidate.call('GET', '/readyz')).status === 200;
        } finally {
          if (!ready) await agent.close();
        }
        return ready ? candidate : undefined;
      },
      () => `${apiServer?.output()}\n${etcd?.output()}`,
    );
    const version = await api.call('GET', '/version');
    kubernetesVersion = String(version.body.gitVersion).replace(/^v/, '');

    // The chart, rendered for this API server's version; its Service port is where the webhook listens.
    const { stdout: rendered } = await execFileAsync(helm.path as string, [
      'template',
      'cloudtaser-s3-proxy',
      CHART,
      '--namespace',
      RELEASE_NAMESPACE,
      '--kube-version',
      kubernetesVersion,
      '--set',
      'image.tag=test',
      '--set',
      `service.port=${webhookPort}`,
    ]);
    const objects = parseAllDocuments(rendered)
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null);
    const ofKind = (kind: string) => {
      const found = objects.find((o) => o.kind === kind);
      assert.ok(found, `the chart renders a ${kind}`);
      return found;
    };

    for (const namespace of [RELEASE_NAMESPACE, APP_NAMESPACE]) {
      await api.mustCreate({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
      // What the controller-manager's service-account controller creates in every namespace.
      await api.mustCreate({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'default', namespace },
      });
    }
    // Every object of the chart is validated by the API server; all but the Service are stored, and the
    // webhook configuration last, once the webhook answers.
    for (const object of objects) {
      if (object.kind === 'MutatingWebhookConfiguration') continue;
      await api.mustCreate(object, { dryRun: object.kind === 'Service' });
    }
    const service = ofKind('Service');
    await api.mustCreate({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: service.metadata.name, namespace: RELEASE_NAMESPACE },
      spec: { type: 'ExternalName', externalName: 'localhost' },
    });

    // The webhook as the chart's Deployment runs it: the ConfigMap as its environment, the Secret's
    // certificate and key as files, only the listen addresses moved to loopback ports.
    const secret = ofKind('Secret') as KubeObject & { data: Record<string, string> };
    const configMap = ofKind('ConfigMap') as KubeObject & { data: Record<string, string> };
    const tlsDir = join(dir, 'tls');
    mkdirSync(tlsDir);
    for (const file of ['tls.crt', 'tls.key'])
      writeFileSync(join(tlsDir, file), Buffer.from(secret.data[file] ?? '', 'base64'));
    webhookHealth = `http://127.0.0.1:${healthPort}`;
    webhook = start(process.execPath, ['src/main.ts', 'webhook'], {
      ...env,
      ...configMap.data,
      CLOUDTASER_INJECTOR_LISTEN_ADDR: `127.0.0.1:${webhookPort}`,
      CLOUDTASER_INJECTOR_HEALTH_ADDR: `127.0.0.1:${healthPort}`,
      CLOUDTASER_INJECTOR_TLS_CERT_FILE: join(tlsDir, 'tls.crt'),
      CLOUDTASER_INJECTOR_TLS_KEY_FILE: join(tlsDir, 'tls.key'),
    });
    await until(
      'the webhook being healthy',
      async () => ((await fetch(`${webhookHealth}/healthz`)).status === 200 ? true : undefined),
      () => webhook?.output() ?? '',
    );

    await api.mustCreate(ofKind('MutatingWebhookConfiguration'));
    // The API server picks up a new webhook configuration a moment later: dry-run creations (admitted
    // but never stored) show when it calls the webhook.
    await until(
      'the API server calling the webhook',
      async () => {
        const answer = await api.create(seedPod({ name: 'probe' }), { dryRun: true });
        return specOf(answer.body as unknown as KubeObject)?.initContainers ? true : undefined;
      },
      () => `${apiServer?.output()}\n${webhook?.output()}`,
    );
  });

  after(async () => {
    await stop(webhook);
    await stop(apiServer);
    await stop(etcd);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stores the seed example pod with the sidecar exactly as the unit tests expect, plus what the API server itself adds', async (t) => {
    const created = await api.mustCreate(seedPod({ name: 'seed' }));
    const stored = (await api.call('GET', `/api/v1/namespaces/${APP_NAMESPACE}/pods/seed`))
      .body as unknown as KubeObject;
    assert.deepEqual(stored.spec, created.spec);
    const spec = specOf(stored);

    // What the API server adds to the patched pod before it stores it, and nothing else: the defaults of
    // a few fields, and the pod's service-account token mount, because a webhook that changes a pod has
    // the built-in admission plugins run again (ServiceAccount among them), and the sidecar is a container
    // without that mount by then.
    const probeDefaults = { successThreshold: 1 };
    assert.deepEqual(withoutGeneratedNames(spec.initContainers ?? []), [
      {
        ...EXPECTED_SEED_SIDECAR,
        startupProbe: { ...EXPECTED_SEED_SIDECAR.startupProbe, ...probeDefaults },
        livenessProbe: { ...EXPECTED_SEED_SIDECAR.livenessProbe, ...probeDefaults },
        readinessProbe: { ...EXPECTED_SEED_SIDECAR.readinessProbe, ...probeDefaults },
        terminationMessagePath: '/dev/termination-log',
        volumeMounts: [
          ...EXPECTED_SEED_SIDECAR.volumeMounts,
          {
            name: 'kube-api-access',
            mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
            readOnly: true,
          },
        ],
      },
    ]);
    const volume = (spec.volumes as { name: string }[]).find((v) => v.name === EXPECTED_TOKEN_VOLUME.name);
    assert.deepEqual(volume, {
      ...EXPECTED_TOKEN_VOLUME,
      projected: { ...EXPECTED_TOKEN_VOLUME.projected, defaultMode: 420 },
    });
    assert.equal(stored.metadata.annotations?.['cloudtaser.io/s3-proxy-status'], 'injected');

    // The application's container is exactly what it is without the injector (the same pod without the
    // opt-in annotation).
    const twin = await api.mustCreate(
      seedPod({ name: 'seed-twin', annotations: { 'cloudtaser.io/s3-proxy': undefined } }),
    );
    assert.deepEqual(withoutGeneratedNames(spec.containers), withoutGeneratedNames(specOf(twin).containers));
    t.diagnostic(
      `Kubernetes ${kubernetesVersion}: sidecar mode native (an init container with restartPolicy Always)`,
    );
  });

  it('leaves a pod without the cloudtaser.io/s3-proxy annotation untouched, without calling the webhook (matchConditions)', async () => {
    const before = await admissions();
    const pod = await api.mustCreate(
      seedPod({ name: 'not-opted-in', annotations: { 'cloudtaser.io/s3-proxy': undefined } }),
    );
    assert.equal(specOf(pod).initContainers, undefined);
    assert.deepEqual(
      specOf(pod).containers.map((c) => c.name),
      ['myapp'],
    );
    assert.equal(pod.metadata.annotations?.['cloudtaser.io/s3-proxy-status'], undefined);
    assert.equal(await admissions(), before, 'the API server never sent it to the webhook');
  });

  it('refuses a pod without cloudtaser.io/s3-proxy-transit-key with the message naming it, and stores nothing', async () => {
    const answer = await api.create(
      seedPod({ name: 'no-transit-key', annotations: { 'cloudtaser.io/s3-proxy-transit-key': undefined } }),
    );
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    assert.match(
      String(answer.body.message),
      new RegExp(
        `^admission webhook "${WEBHOOK_NAME.replaceAll('.', '\\.')}" denied the request: .*annotation cloudtaser\\.io/s3-proxy-transit-key is required`,
      ),
    );
    assert.deepEqual(await api.pods(APP_NAMESPACE, 'case=no-transit-key'), []);
  });

  it("never sends pods of the release's namespace or labelled cloudtaser.io/s3-proxy-injection=disabled (namespace and object selectors)", async () => {
    const before = await admissions();
    const inRelease = await api.mustCreate(
      seedPod({ name: 'in-release-namespace', namespace: RELEASE_NAMESPACE }),
    );
    const disabled = await api.mustCreate(
      seedPod({ name: 'disabled', labels: { 'cloudtaser.io/s3-proxy-injection': 'disabled' } }),
    );
    for (const pod of [inRelease, disabled])
      assert.equal(specOf(pod).initContainers, undefined, pod.metadata.name);
    assert.equal(await admissions(), before);
  });

  it('with the webhook down (failurePolicy Fail) refuses opted-in pods and creates every other pod', async () => {
    assert.equal(await stop(webhook), 0, webhook?.output());
    const refused = await api.create(seedPod({ name: 'webhook-down' }));
    assert.equal(refused.status, 500, JSON.stringify(refused.body));
    assert.match(
      String(refused.body.message),
      new RegExp(`failed calling webhook "${WEBHOOK_NAME.replaceAll('.', '\\.')}"`),
    );
    assert.deepEqual(await api.pods(APP_NAMESPACE, 'case=webhook-down'), []);

    const others = [
      seedPod({ name: 'down-not-opted-in', annotations: { 'cloudtaser.io/s3-proxy': undefined } }),
      seedPod({ name: 'down-in-release-namespace', namespace: RELEASE_NAMESPACE }),
      seedPod({ name: 'down-disabled', labels: { 'cloudtaser.io/s3-proxy-injection': 'disabled' } }),
    ];
    for (const pod of others) {
      const created = await api.mustCreate(pod);
      assert.equal(specOf(created).initContainers, undefined, pod.metadata.name);
    }
  });
});
