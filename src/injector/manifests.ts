/**
 * `inject` on YAML: finds every pod template in a stream of manifests, runs the same mutation the
 * webhook runs, and applies its JSON patch to the YAML document itself, so that comments, key order
 * and untouched documents come out as they went in.
 */
import { type Document, isMap, isSeq, parseAllDocuments } from 'yaml';
import { mutatePod } from './mutate.ts';
import type { SidecarOptions } from './options.ts';
import type { KubePod, PatchOperation } from './patch.ts';

/** Where each workload kind keeps its pod template. */
export const POD_TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export interface InjectResult {
  /** The manifests with sidecars added; empty when there are errors, so no half-injected output escapes. */
  readonly output: string;
  readonly injected: readonly string[];
  readonly skipped: readonly string[];
  readonly warnings: readonly string[];
  readonly errors: readonly string[];
}

function decodePointer(path: string): string[] {
  return path
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** Applies the `add` operations the mutation produces to a YAML document, below `base`. */
function applyToDocument(
  doc: Document,
  base: readonly (string | number)[],
  patch: readonly PatchOperation[],
) {
  for (const operation of patch) {
    const segments = decodePointer(operation.path);
    const last = segments.pop() ?? '';
    const parentPath = [...base, ...segments];
    const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
    const node = doc.createNode(operation.value);
    if (isSeq(parent)) {
      if (last === '-') parent.items.push(node);
      else parent.items.splice(Number(last), 0, node);
    } else if (isMap(parent)) {
      parent.set(last, node);
    } else {
      throw new Error(`cannot apply ${operation.op} at ${operation.path}: the parent is not a map or list`);
    }
  }
}

function describe(object: Record<string, unknown>, index: number): string {
  const metadata = object.metadata as { name?: unknown } | undefined;
  const name = typeof metadata?.name === 'string' ? metadata.name : '(unnamed)';
  return `${String(object.kind).toLowerCase()}/${name} (document ${index + 1})`;
}

export function injectManifests(text: string, options: SidecarOptions): InjectResult {
  const injected: string[] = [];
  const skipped: string[] = [];
  const warnings: string[] = [];
  const errors: string[] = [];
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs))
    return { output: '', injected, skipped, warnings, errors: ['the input is empty'] };

  docs.forEach((doc, index) => {
    for (const error of doc.errors) errors.push(`document ${index + 1}: ${error.message}`);
    if (doc.errors.length > 0) return;
    const visit = (object: unknown, base: (string | number)[]) => {
      if (typeof object !== 'object' || object === null || Array.isArray(object)) return;
      const record = object as Record<string, unknown>;
      if (record.kind === 'List' && Array.isArray(record.items)) {
        record.items.forEach((item, i) => {
          visit(item, [...base, 'items', i]);
        });
        return;
      }
      const templatePath = typeof record.kind === 'string' ? POD_TEMPLATE_PATHS[record.kind] : undefined;
      if (templatePath === undefined) return;
      let template: unknown = record;
      for (const key of templatePath) template = (template as Record<string, unknown> | undefined)?.[key];
      const what = describe(record, index);
      if (typeof template !== 'object' || template === null) {
        errors.push(`${what}: no pod template at .${templatePath.join('.')}`);
        return;
      }
      const mutation = mutatePod(template as KubePod, options);
      if (mutation.action === 'skip') {
        skipped.push(`${what}: ${mutation.reason}`);
      } else if (mutation.action === 'refuse') {
        for (const error of mutation.errors) errors.push(`${what}: ${error}`);
      } else {
        applyToDocument(doc, [...base, ...templatePath], mutation.patch);
        injected.push(what);
        for (const warning of mutation.warnings) warnings.push(`${what}: ${warning}`);
      }
    };
    visit(doc.toJS(), []);
  });
  if (errors.length > 0) return { output: '', injected, skipped, warnings, errors };
  return { output: docs.map((d) => String(d)).join(''), injected, skipped, warnings, errors };
}
