import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Pod } from 'kubernetes-models/v1/Pod';
import { parseAllDocuments } from 'yaml';
import { injectManifests } from '../../../src/injector/manifests.ts';
import { mutatePod } from '../../../src/injector/mutate.ts';
import { loadInjectorOptions, type SidecarOptions } from '../../../src/injector/options.ts';
import type { KubePod } from '../../../src/injector/patch.ts';

const SEED = readFileSync(new URL('../../injector/fixtures/seed-deployment.yaml', import.meta.url), 'utf8');

function options(env: Record<string, string> = {}): SidecarOptions {
  const loaded = loadInjectorOptions(env);
  assert.ok(loaded.ok);
  return loaded.sidecar;
}

function documents(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text as string & {}).map((d) => d.toJS() as Record<string, unknown>);
}

type Workload = { spec: { template: KubePod } };

const ANNOTATED = `
      annotations:
        cloudtaser.io/s3-proxy: "true"
        cloudtaser.io/s3-proxy-endpoint: https://s3.eu-west-1.amazonaws.com
        cloudtaser.io/s3-proxy-region: eu-west-1
        cloudtaser.io/s3-proxy-transit-key: reports-s3
        cloudtaser.io/vault-address: https://vault.eu.example.com:8200
        cloudtaser.io/vault-role: reports`;

describe('inject', () => {
  it("prints the seed's Deployment with the sidecar in its pod template", () => {
    const result = injectManifests(SEED, options());
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.injected, ['deployment/myapp (document 1)']);
    const [deployment] = documents(result.output) as unknown as Workload[];
    const template = deployment?.spec.template;
    assert.equal(template?.spec?.initContainers?.[0]?.name, 'cloudtaser-s3-proxy');
    assert.equal(template?.spec?.initContainers?.[0]?.restartPolicy, 'Always');
    assert.equal(template?.metadata?.annotations?.['cloudtaser.io/s3-proxy-status'], 'injected');
    // The seed's excerpt has no selector, so it is not a complete Deployment; its pod template is a complete pod.
    new Pod({ apiVersion: 'v1', kind: 'Pod', ...template } as ConstructorParameters<
      typeof Pod
    >[0]).validate();
  });

  it('prints the same pod template the webhook patch gives, applied by a JSON Patch library', () => {
    const [original] = documents(SEED) as unknown as Workload[];
    const mutation = mutatePod(original?.spec.template as KubePod, options());
    assert.equal(mutation.action, 'inject');
    if (mutation.action !== 'inject') return;
    const expected = fastJsonPatch.applyPatch(
      structuredClone(original?.spec.template),
      structuredClone(mutation.patch) as fastJsonPatch.Operation[],
      true,
      false,
    ).newDocument;
    const [printed] = documents(injectManifests(SEED, options()).output) as unknown as Workload[];
    assert.deepEqual(printed?.spec.template, expected);
  });

  it('keeps comments and leaves the application container as it was', () => {
    const output = injectManifests(SEED, options()).output;
    assert.match(output, /^# The seed's example/);
    assert.match(output, /value: "http:\/\/localhost:8190" # Point S3 client to the proxy/);
  });

  it('is idempotent: its own output comes out unchanged', () => {
    const once = injectManifests(SEED, options()).output;
    const twice = injectManifests(once, options());
    assert.equal(twice.output, once);
    assert.deepEqual(twice.injected, []);
    assert.match(twice.skipped[0] ?? '', /already injected/);
  });

  it('handles several documents: injects CronJobs and Lists, passes Services and pods without opt-in through', () => {
    const input = `apiVersion: v1
kind: Service
metadata:
  name: reports
spec:
  ports: [{port: 80}]
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-report
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:${ANNOTATED.replaceAll('\n      ', '\n            ')}
        spec:
          restartPolicy: Never
          containers:
            - name: report
              image: registry.example.com/report:2
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata:
      name: plain
    spec:
      containers: [{name: app, image: app}]
  - apiVersion: apps/v1
    kind: StatefulSet
    metadata:
      name: store
    spec:
      serviceName: store
      selector: {matchLabels: {app: store}}
      template:
        metadata:
          labels: {app: store}${ANNOTATED.replaceAll('\n      ', '\n          ')}
        spec:
          containers: [{name: store, image: store}]
`;
    const result = injectManifests(input, options());
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.injected, [
      'cronjob/nightly-report (document 2)',
      'statefulset/store (document 3)',
    ]);
    assert.deepEqual(result.skipped, ['pod/plain (document 3): no cloudtaser.io/s3-proxy annotation']);
    const [service, cronJob, list] = documents(result.output) as [
      Record<string, unknown>,
      { spec: { jobTemplate: { spec: Workload['spec'] } } },
      { items: [KubePod, Workload] },
    ];
    assert.deepEqual(service, documents(input)[0]);
    assert.equal(
      cronJob.spec.jobTemplate.spec.template.spec?.initContainers?.[0]?.name,
      'cloudtaser-s3-proxy',
    );
    new CronJob(cronJob as unknown as ConstructorParameters<typeof CronJob>[0]).validate();
    assert.equal(list.items[0].spec?.initContainers, undefined);
    assert.equal(list.items[1].spec.template.spec?.initContainers?.[0]?.name, 'cloudtaser-s3-proxy');
  });

  it('prints nothing and names the document and the annotation when one is missing', () => {
    const result = injectManifests(SEED.replace(/^ *cloudtaser\.io\/s3-proxy-region:.*\n/m, ''), options());
    assert.equal(result.output, '');
    assert.deepEqual(result.errors, [
      'deployment/myapp (document 1): annotation cloudtaser.io/s3-proxy-region is required: AWS region used to sign upstream requests, e.g. eu-west-1',
    ]);
  });

  it('reports YAML syntax errors with the document number', () => {
    const result = injectManifests('kind: Pod\n---\nkind: [unclosed\n', options());
    assert.equal(result.output, '');
    assert.match(result.errors[0] ?? '', /^document 2: /);
  });
});
