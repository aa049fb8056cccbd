/**
 * What a cluster operator applies: `inject` output, the Helm chart rendered by the real helm, and the
 * Dockerfile, checked with the tools they are meant for: strict Kubernetes schemas
 * (kubernetes-validate, rejecting unknown fields), helm lint and hadolint.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { loadInjectorOptions } from '../../src/injector/options.ts';
import { skipOutsideCi } from '../support/prerequisites.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const VENV_BIN = join(REPO_ROOT, '.venv', 'bin');
const CHART = join(REPO_ROOT, 'charts', 'cloudtaser-s3-proxy');
const run = promisify(execFile);

let workDir: string;
before(() => {
  workDir = mkdtempSync(join(tmpdir(), 'cloudtaser-manifests-'));
});
after(() => rmSync(workDir, { recursive: true, force: true }));

function cli(args: string[], input?: string) {
  return spawnSync(process.execPath, ['src/main.ts', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    input,
    encoding: 'utf8',
  });
}

/** kubernetes-validate --strict on YAML text; returns its report lines that are not passes. */
async function validateStrict(yaml: string, kubernetesVersion: string): Promise<string[]> {
  const file = join(workDir, `validate-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  try {
    const { stdout, stderr } = await run(join(VENV_BIN, 'kubernetes-validate'), [
      '--strict',
      '-k',
      kubernetesVersion,
      file,
    ]);
    return `${stdout}${stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !/ passed for resource /.test(l));
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    return [`kubernetes-validate failed:\n${stdout}${stderr}`];
  }
}

function objects(yaml: string): Record<string, unknown>[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((o): o is Record<string, unknown> => o !== null);
}

describe('inject on the command line', () => {
  it("prints the seed's example as a Deployment whose pod has the sidecar", () => {
    const result = cli(['inject', '-f', 'test/injector/fixtures/seed-deployment.yaml']);
    assert.equal(result.status, 0, result.stderr);
    const [deployment] = objects(result.stdout) as {
      kind: string;
      spec: { template: { spec: Record<string, unknown> } };
    }[];
    assert.equal(deployment?.kind, 'Deployment');
    const init = deployment?.spec.template.spec.initContainers as { name: string }[];
    assert.equal(init[0]?.name, 'cloudtaser-s3-proxy');
  });

  it('reads standard input with -f -', () => {
    const input = readFileSync(join(REPO_ROOT, 'test/injector/fixtures/seed-deployment.yaml'), 'utf8');
    const result = cli(['inject', '-f', '-'], input);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /name: cloudtaser-s3-proxy/);
  });

  it('exits 1 naming the annotation when a required one is missing, and prints no manifest', () => {
    const input = readFileSync(
      join(REPO_ROOT, 'test/injector/fixtures/seed-deployment.yaml'),
      'utf8',
    ).replace(/^ *cloudtaser\.io\/s3-proxy-transit-key:.*\n/m, '');
    const result = cli(['inject', '-f', '-'], input);
    assert.equal(result.status, 1);
    assert.equal(result.stdout, '');
    assert.match(
      result.stderr,
      /deployment\/myapp \(document 1\): annotation cloudtaser\.io\/s3-proxy-transit-key is required/,
    );
  });

  it('exits 2 on a usage error', () => {
    assert.equal(cli(['inject']).status, 2);
    assert.equal(cli(['inject', '-f', 'x', '--sidecar-mode', 'sideways']).status, 2);
  });

  for (const [mode, versions] of [
    ['native', ['1.29.0', '1.37.0']],
    ['container', ['1.26.0', '1.37.0']],
  ] as const) {
    it(`prints a ${mode}-sidecar Deployment that validates strictly against Kubernetes ${versions.join(' and ')}`, async () => {
      const result = cli([
        'inject',
        '-f',
        'test/injector/fixtures/myapp-deployment.yaml',
        '--sidecar-mode',
        mode,
      ]);
      assert.equal(result.status, 0, result.stderr);
      for (const version of versions)
        assert.deepEqual(await validateStrict(result.stdout, version), [], version);
    });
  }
});

describe('the container image', () => {
  it('has a Dockerfile hadolint finds nothing in', async () => {
    const { stdout, stderr } = await run(join(VENV_BIN, 'hadolint'), ['Dockerfile'], { cwd: REPO_ROOT });
    assert.equal(`${stdout}${stderr}`, '');
  });
});

describe('the Helm chart, rendered by helm', () => {
  let helm: string | undefined;
  let skipReason = '';

  before(() => {
    const found = spawnSync('bash', ['scripts/helm.sh'], { cwd: REPO_ROOT, encoding: 'utf8' });
    if (found.status === 0) helm = found.stdout.trim();
    else skipReason = found.stderr.trim() || `scripts/helm.sh exited ${found.status}`;
  });

  async function render(kubeVersion: string, values: string[] = []): Promise<string> {
    assert.ok(helm);
    const { stdout } = await run(helm, [
      'template',
      'cloudtaser-s3-proxy',
      CHART,
      '--namespace',
      'cloudtaser',
      '--kube-version',
      kubeVersion,
      ...values.flatMap((v) => ['--set', v]),
    ]);
    return stdout;
  }

  it('passes helm lint', async (t) => {
    if (helm === undefined) return skipOutsideCi(t, `helm unavailable: ${skipReason}`);
    const { stdout } = await run(helm, ['lint', '--strict', CHART]);
    assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  const cases: { name: string; kubeVersion: string; values: string[]; mode: string }[] = [
    { name: 'defaults on Kubernetes 1.33', kubeVersion: '1.33.0', values: [], mode: 'native' },
    { name: 'defaults on Kubernetes 1.28', kubeVersion: '1.28.0', values: [], mode: 'container' },
    { name: 'defaults on Kubernetes 1.27', kubeVersion: '1.27.0', values: [], mode: 'container' },
    {
      name: 'an existing Secret, proxy defaults, no CPU limit and the Vault token reviewer',
      kubeVersion: '1.37.0',
      values: [
        'tls.mode=secret',
        'tls.secretName=injector-tls',
        'tls.caBundle=Zm9v',
        'sidecar.vaultAddress=https://vault.eu.example.com:8200',
        'sidecar.tokenAudience=vault',
        'sidecar.proxyEnv.CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS=refuse',
        'sidecar.clientCredentialsSecret=s3-clients',
        'sidecar.resources.limits.cpu=none',
        'vaultTokenReviewer.create=true',
        'webhook.failurePolicy=Ignore',
      ],
      mode: 'native',
    },
    { name: 'cert-manager', kubeVersion: '1.30.0', values: ['tls.mode=cert-manager'], mode: 'native' },
  ];
  for (const { name, kubeVersion, values, mode } of cases) {
    it(`renders objects that validate strictly, with settings the webhook accepts: ${name}`, async (t) => {
      if (helm === undefined) return skipOutsideCi(t, `helm unavailable: ${skipReason}`);
      const rendered = await render(kubeVersion, values);
      const problems = await validateStrict(rendered, kubeVersion);
      // cert-manager's kinds are custom resources, which the Kubernetes schemas do not cover.
      assert.deepEqual(
        problems.filter(
          (p) =>
            !/Couldn't find schema for kind (Certificate|Issuer) with api version cert-manager\.io\/v1/.test(
              p,
            ),
        ),
        [],
      );
      const all = objects(rendered);
      const kinds = all.map((o) => o.kind);
      for (const kind of [
        'Deployment',
        'Service',
        'ServiceAccount',
        'MutatingWebhookConfiguration',
        'ConfigMap',
      ]) {
        assert.ok(kinds.includes(kind), `renders a ${kind}`);
      }
      const configMap = all.find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> };
      const loaded = loadInjectorOptions(configMap.data);
      assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
      assert.equal(loaded.sidecar.mode, mode);
      assert.equal(
        loaded.sidecar.clientCredentialsSecret,
        values.includes('sidecar.clientCredentialsSecret=s3-clients') ? 's3-clients' : undefined,
      );

      const configuration = all.find((o) => o.kind === 'MutatingWebhookConfiguration') as {
        metadata: { name: string; annotations?: Record<string, string> };
        webhooks: {
          failurePolicy: string;
          sideEffects: string;
          admissionReviewVersions: string[];
          clientConfig: { caBundle?: string; service: { path: string } };
          namespaceSelector: { matchExpressions: { key: string; values: string[] }[] };
          matchConditions?: { expression: string }[];
        }[];
      };
      const [webhook] = configuration.webhooks;
      assert.ok(webhook);
      assert.equal(webhook.sideEffects, 'None');
      assert.deepEqual(webhook.admissionReviewVersions, ['v1']);
      assert.equal(webhook.clientConfig.service.path, '/mutate');
      assert.equal(
        webhook.failurePolicy,
        values.includes('webhook.failurePolicy=Ignore') ? 'Ignore' : 'Fail',
      );
      assert.ok(
        webhook.namespaceSelector.matchExpressions[0]?.values.includes('cloudtaser'),
        'the webhook never sees its own namespace',
      );
      assert.ok(configuration.metadata.name.startsWith('cloudtaser'));
      if (values.includes('tls.mode=cert-manager')) {
        assert.equal(
          configuration.metadata.annotations?.['cert-manager.io/inject-ca-from'],
          'cloudtaser/cloudtaser-s3-proxy',
        );
        assert.equal(webhook.clientConfig.caBundle, undefined);
      } else {
        assert.ok(webhook.clientConfig.caBundle, 'a caBundle');
      }
      if (Number(kubeVersion.split('.')[1]) >= 28) {
        assert.match(
          webhook.matchConditions?.[0]?.expression ?? '',
          /'cloudtaser\.io\/s3-proxy' in object\.metadata\.annotations/,
        );
      } else {
        assert.equal(webhook.matchConditions, undefined, 'no matchConditions before Kubernetes 1.28');
      }
    });
  }

  it('generates a certificate for the Service name signed by the CA in the caBundle', async (t) => {
    if (helm === undefined) return skipOutsideCi(t, `helm unavailable: ${skipReason}`);
    const all = objects(await render('1.33.0'));
    const secret = all.find((o) => o.kind === 'Secret') as { data: Record<string, string> };
    const { X509Certificate } = await import('node:crypto');
    const cert = new X509Certificate(Buffer.from(secret.data['tls.crt'] ?? '', 'base64'));
    const ca = new X509Certificate(Buffer.from(secret.data['ca.crt'] ?? '', 'base64'));
    assert.ok(cert.verify(ca.publicKey), 'signed by the CA');
    assert.match(cert.subjectAltName ?? '', /DNS:cloudtaser-s3-proxy\.cloudtaser\.svc/);
    const configuration = all.find((o) => o.kind === 'MutatingWebhookConfiguration') as {
      webhooks: { clientConfig: { caBundle: string } }[];
    };
    assert.equal(configuration.webhooks[0]?.clientConfig.caBundle, secret.data['ca.crt']);
  });
});
