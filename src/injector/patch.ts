/**
 * RFC 6902 JSON Patch, the only patch type AdmissionReview v1 accepts, and the few Kubernetes object
 * shapes the injector reads. Objects are typed loosely: the injector must carry every field it does not
 * know through unchanged, so it never rebuilds a pod, it only adds to it.
 */

export type PatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown };

/** RFC 6901: `~` → `~0`, `/` → `~1`, so `cloudtaser.io/s3-proxy` becomes one pointer segment. */
export function escapePointerSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

export interface KubeObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeContainerPort {
  containerPort: number;
  name?: string;
  protocol?: string;
  [field: string]: unknown;
}

export interface KubeContainer {
  name: string;
  image?: string;
  ports?: KubeContainerPort[];
  restartPolicy?: string;
  [field: string]: unknown;
}

export interface KubeVolume {
  name: string;
  [field: string]: unknown;
}

export interface KubePodSpec {
  containers: KubeContainer[];
  initContainers?: KubeContainer[];
  volumes?: KubeVolume[];
  serviceAccountName?: string;
  [field: string]: unknown;
}

export interface KubePod {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeObjectMeta;
  spec?: KubePodSpec;
  [field: string]: unknown;
}

/**
 * Appends `values` to the array at `path`: one `add` of the whole array when it is absent (a pointer
 * to `/-` of a missing array is an error), otherwise one `add` per element at `/-`, or at `/0` onwards
 * to put them first.
 */
export function addToArray(
  path: string,
  existing: readonly unknown[] | undefined,
  values: readonly unknown[],
  position: 'first' | 'last',
): PatchOperation[] {
  if (values.length === 0) return [];
  if (existing === undefined) return [{ op: 'add', path, value: [...values] }];
  return values.map((value, i) => ({
    op: 'add' as const,
    path: position === 'first' ? `${path}/${i}` : `${path}/-`,
    value,
  }));
}
