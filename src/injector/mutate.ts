/**
 * The injector's decision, as a pure function of the pod and the injector's settings:
 * should inject → read annotations and defaults → build the sidecar → validate → JSON patch.
 * The webhook and `inject` differ only in how pods arrive and where the patch goes.
 */
import { loadConfig, SETTINGS } from '../config/index.ts';
import { parseBoolean } from '../config/parse.ts';
import {
  ANNOTATION_AWS_CREDENTIALS_SECRET,
  ANNOTATION_CLIENT_CREDENTIALS_SECRET,
  ANNOTATION_CPU_LIMIT,
  ANNOTATION_CPU_REQUEST,
  ANNOTATION_ENDPOINT,
  ANNOTATION_INJECT,
  ANNOTATION_LOG_LEVEL,
  ANNOTATION_MAX_OBJECT_SIZE,
  ANNOTATION_MEMORY_LIMIT,
  ANNOTATION_MEMORY_REQUEST,
  ANNOTATION_REGION,
  ANNOTATION_STATUS,
  ANNOTATION_TRANSIT_KEY,
  ANNOTATION_TRANSIT_KEYS,
  ANNOTATION_TRANSIT_MOUNT,
  ANNOTATION_VAULT_ADDRESS,
  ANNOTATION_VAULT_AUTH_PATH,
  ANNOTATION_VAULT_CA_CONFIGMAP,
  ANNOTATION_VAULT_NAMESPACE,
  ANNOTATION_VAULT_ROLE,
  ANNOTATIONS,
  STATUS_INJECTED,
} from './annotations.ts';
import { DNS_SUBDOMAIN, parseQuantity, type SidecarOptions } from './options.ts';
import {
  addToArray,
  escapePointerSegment,
  type KubeContainer,
  type KubePod,
  type PatchOperation,
} from './patch.ts';
import {
  buildSidecarContainer,
  buildSidecarVolumes,
  CLIENT_CREDENTIALS_DIR,
  CLIENT_CREDENTIALS_KEY,
  HEALTH_PORT,
  HEALTH_PORT_NAME,
  PROXY_LISTEN,
  SIDECAR_NAME,
  type SidecarSpec,
  TOKEN_DIR,
  VAULT_CA_DIR,
  VAULT_CA_KEY,
} from './sidecar.ts';

export type PodMutation =
  | { readonly action: 'skip'; readonly reason: string }
  | { readonly action: 'refuse'; readonly errors: readonly string[] }
  | {
      readonly action: 'inject';
      readonly patch: readonly PatchOperation[];
      readonly sidecar: KubeContainer;
      readonly warnings: readonly string[];
    };

const PROXY_PORT = 8190;

/** Where a value came from, to name it in an error: the annotation, or the injector's own default. */
type Source = { annotation: string } | { injector: string };

function describeSource(source: Source): string {
  if ('annotation' in source) return `annotation ${source.annotation}`;
  return source.injector === FIXED ? FIXED : `injector setting ${source.injector}`;
}

/** The source of the values the injector always sets itself. */
const FIXED = 'the injector';

function annotationText(name: string): string {
  const spec = ANNOTATIONS.find((a) => a.name === name);
  return spec === undefined ? '' : `: ${spec.description.replace(/\.$/, '')}`;
}

/** Step 1: only pods that asked, and only once. */
function shouldInject(
  pod: KubePod,
): { inject: true } | { inject: false; reason: string } | { error: string } {
  const annotations = pod.metadata?.annotations ?? {};
  const optIn = annotations[ANNOTATION_INJECT];
  if (optIn === undefined) return { inject: false, reason: `no ${ANNOTATION_INJECT} annotation` };
  const parsed = parseBoolean(optIn.trim());
  if (!parsed.ok) {
    return {
      error: `annotation ${ANNOTATION_INJECT} must be "true" or "false", got ${JSON.stringify(optIn)}`,
    };
  }
  if (!parsed.value) return { inject: false, reason: `${ANNOTATION_INJECT} is "${optIn}"` };
  if (annotations[ANNOTATION_STATUS] === STATUS_INJECTED) {
    return { inject: false, reason: `already injected (${ANNOTATION_STATUS}: ${STATUS_INJECTED})` };
  }
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (containers.some((c) => c.name === SIDECAR_NAME)) {
    return { inject: false, reason: `already has a container named ${SIDECAR_NAME}` };
  }
  return { inject: true };
}

export function mutatePod(pod: KubePod, options: SidecarOptions): PodMutation {
  const decision = shouldInject(pod);
  if ('error' in decision) return { action: 'refuse', errors: [decision.error] };
  if (!decision.inject) return { action: 'skip', reason: decision.reason };
  const spec = pod.spec;
  if (spec === undefined || !Array.isArray(spec.containers)) {
    return { action: 'refuse', errors: ['the pod has no spec.containers'] };
  }
  const annotations = pod.metadata?.annotations ?? {};
  const errors: string[] = [];
  const warnings: string[] = [];
  const read = (name: string): string | undefined => {
    const value = annotations[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };

  // Step 2: annotations over injector defaults. `missing` records variables already reported, so
  // the proxy's own validation below does not report them a second time.
  const env = new Map<string, { value: string; source: Source }>();
  const missing = new Set<string>();
  const set = (variable: string, annotation: string, fallback?: { value: string; setting: string }) => {
    const value = read(annotation);
    if (value !== undefined) env.set(variable, { value, source: { annotation } });
    else if (fallback !== undefined)
      env.set(variable, { value: fallback.value, source: { injector: fallback.setting } });
  };
  const require = (variable: string, annotation: string, fallback?: { value: string; setting: string }) => {
    set(variable, annotation, fallback);
    if (!env.has(variable)) {
      missing.add(variable);
      errors.push(`annotation ${annotation} is required${annotationText(annotation)}`);
    }
  };

  for (const [variable, value] of Object.entries(options.proxyEnv)) {
    env.set(variable, { value, source: { injector: 'CLOUDTASER_INJECTOR_PROXY_ENV' } });
  }
  require(SETTINGS.s3Endpoint.env, ANNOTATION_ENDPOINT);
  require(SETTINGS.s3Region.env, ANNOTATION_REGION);
  require(SETTINGS.transitKey.env, ANNOTATION_TRANSIT_KEY);
  set(SETTINGS.transitMount.env, ANNOTATION_TRANSIT_MOUNT);
  set(SETTINGS.transitKeys.env, ANNOTATION_TRANSIT_KEYS);
  require(SETTINGS.vaultAddr.env, ANNOTATION_VAULT_ADDRESS, options.vaultAddress === undefined
    ? undefined
    : { value: options.vaultAddress, setting: 'CLOUDTASER_INJECTOR_VAULT_ADDR' });
  env.set(SETTINGS.vaultAuthMethod.env, { value: 'kubernetes', source: { injector: FIXED } });
  require(SETTINGS.vaultAuthRole.env, ANNOTATION_VAULT_ROLE);
  set(SETTINGS.vaultAuthMountPath.env, ANNOTATION_VAULT_AUTH_PATH, {
    value: options.vaultAuthPath,
    setting: 'CLOUDTASER_INJECTOR_VAULT_AUTH_PATH',
  });
  env.set(SETTINGS.vaultAuthTokenPath.env, {
    value: `${TOKEN_DIR}/token`,
    source: { injector: FIXED },
  });
  set(SETTINGS.vaultNamespace.env, ANNOTATION_VAULT_NAMESPACE);
  set(SETTINGS.maxObjectSize.env, ANNOTATION_MAX_OBJECT_SIZE);
  set(SETTINGS.logLevel.env, ANNOTATION_LOG_LEVEL);
  env.set(SETTINGS.listenAddr.env, { value: PROXY_LISTEN, source: { injector: FIXED } });
  env.set(SETTINGS.healthAddr.env, { value: `:${HEALTH_PORT}`, source: { injector: FIXED } });

  const vaultCaConfigMap = read(ANNOTATION_VAULT_CA_CONFIGMAP);
  if (vaultCaConfigMap !== undefined) {
    if (DNS_SUBDOMAIN.test(vaultCaConfigMap)) {
      env.set(SETTINGS.vaultCaCert.env, {
        value: `${VAULT_CA_DIR}/${VAULT_CA_KEY}`,
        source: { annotation: ANNOTATION_VAULT_CA_CONFIGMAP },
      });
    } else {
      errors.push(
        `annotation ${ANNOTATION_VAULT_CA_CONFIGMAP} must be the name of a ConfigMap, got ${JSON.stringify(vaultCaConfigMap)}`,
      );
    }
  }

  const credentialsSecret = read(ANNOTATION_AWS_CREDENTIALS_SECRET);
  if (credentialsSecret !== undefined && !DNS_SUBDOMAIN.test(credentialsSecret)) {
    errors.push(
      `annotation ${ANNOTATION_AWS_CREDENTIALS_SECRET} must be the name of a Secret, got ${JSON.stringify(credentialsSecret)}`,
    );
  }
  for (const variable of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
    if (credentialsSecret !== undefined && env.has(variable)) {
      errors.push(
        `annotation ${ANNOTATION_AWS_CREDENTIALS_SECRET} and ${describeSource(env.get(variable)?.source ?? { injector: '' })} both set ${variable}`,
      );
    }
  }

  const annotatedClientCredentials = read(ANNOTATION_CLIENT_CREDENTIALS_SECRET);
  const clientCredentialsSecret = annotatedClientCredentials ?? options.clientCredentialsSecret;
  if (clientCredentialsSecret !== undefined) {
    if (DNS_SUBDOMAIN.test(clientCredentialsSecret)) {
      env.set(SETTINGS.clientCredentialsFile.env, {
        value: `${CLIENT_CREDENTIALS_DIR}/${CLIENT_CREDENTIALS_KEY}`,
        source:
          annotatedClientCredentials === undefined
            ? { injector: 'CLOUDTASER_INJECTOR_CLIENT_CREDENTIALS_SECRET' }
            : { annotation: ANNOTATION_CLIENT_CREDENTIALS_SECRET },
      });
    } else {
      errors.push(
        `annotation ${ANNOTATION_CLIENT_CREDENTIALS_SECRET} must be the name of a Secret, got ${JSON.stringify(clientCredentialsSecret)}`,
      );
    }
  }

  const quantity = (annotation: string, fallback: string): string => {
    const value = read(annotation);
    if (value === undefined) return fallback;
    const parsed = parseQuantity(value);
    if (parsed.ok) return parsed.value;
    errors.push(`annotation ${annotation} must be ${parsed.expected}, got ${JSON.stringify(value)}`);
    return fallback;
  };
  const cpuLimitAnnotation = read(ANNOTATION_CPU_LIMIT);
  const cpuLimit =
    cpuLimitAnnotation === 'none' ||
    (cpuLimitAnnotation === undefined && options.resources.cpuLimit === undefined)
      ? undefined
      : quantity(ANNOTATION_CPU_LIMIT, options.resources.cpuLimit ?? '');
  const resources = {
    requests: {
      cpu: quantity(ANNOTATION_CPU_REQUEST, options.resources.cpuRequest),
      memory: quantity(ANNOTATION_MEMORY_REQUEST, options.resources.memoryRequest),
    },
    limits: {
      ...(cpuLimit === undefined ? {} : { cpu: cpuLimit }),
      memory: quantity(ANNOTATION_MEMORY_LIMIT, options.resources.memoryLimit),
    },
  };

  // Step 3: build.
  const order = [
    SETTINGS.s3Endpoint.env,
    SETTINGS.s3Region.env,
    SETTINGS.transitKey.env,
    SETTINGS.transitMount.env,
    SETTINGS.transitKeys.env,
    SETTINGS.vaultAddr.env,
    SETTINGS.vaultAuthMethod.env,
    SETTINGS.vaultAuthRole.env,
    SETTINGS.vaultAuthMountPath.env,
    SETTINGS.vaultAuthTokenPath.env,
    SETTINGS.listenAddr.env,
    SETTINGS.healthAddr.env,
  ];
  const names = [
    ...order.filter((n) => env.has(n)),
    ...[...env.keys()].filter((n) => !order.includes(n)).sort(),
  ];
  const sidecarSpec: SidecarSpec = {
    image: options.image,
    imagePullPolicy: options.imagePullPolicy,
    mode: options.mode,
    env: names.map((name) => ({ name, value: env.get(name)?.value ?? '' })),
    resources,
    ...(options.tokenAudience === undefined ? {} : { tokenAudience: options.tokenAudience }),
    tokenExpirationSeconds: options.tokenExpirationSeconds,
    ...(vaultCaConfigMap !== undefined && DNS_SUBDOMAIN.test(vaultCaConfigMap) ? { vaultCaConfigMap } : {}),
    ...(credentialsSecret !== undefined && DNS_SUBDOMAIN.test(credentialsSecret)
      ? { credentialsSecret }
      : {}),
    ...(clientCredentialsSecret !== undefined && DNS_SUBDOMAIN.test(clientCredentialsSecret)
      ? { clientCredentialsSecret }
      : {}),
  };
  const sidecar = buildSidecarContainer(sidecarSpec);
  const volumes = buildSidecarVolumes(sidecarSpec);

  // Step 4: validate. The proxy's own start-up validation, run now, so that a pod that would start a
  // failing sidecar is refused at admission with the annotation named. VAULT_CACERT and the client
  // credentials file name files that exist only inside the pod, so they are checked for shape above instead.
  const podFiles = new Set([SETTINGS.vaultCaCert.env, SETTINGS.clientCredentialsFile.env]);
  const proxyEnv: Record<string, string> = {};
  for (const [name, { value }] of env) if (!podFiles.has(name)) proxyEnv[name] = value;
  const loaded = loadConfig(proxyEnv);
  if (!loaded.ok) {
    for (const error of loaded.errors) {
      const variable = error.split(' ', 1)[0] ?? '';
      if (missing.has(variable)) continue;
      const source = env.get(variable)?.source;
      errors.push(source === undefined ? error : `${describeSource(source)}: ${error}`);
    }
  } else {
    warnings.push(...loaded.warnings);
  }

  const podContainers = [...(spec.initContainers ?? []), ...spec.containers];
  for (const container of podContainers) {
    for (const port of container.ports ?? []) {
      if (port.containerPort === PROXY_PORT || port.containerPort === HEALTH_PORT) {
        errors.push(
          `container ${container.name} declares port ${port.containerPort}, which the S3 proxy sidecar uses (the pod shares one network namespace)`,
        );
      }
      if (port.name === HEALTH_PORT_NAME) {
        errors.push(
          `container ${container.name} declares a port named ${HEALTH_PORT_NAME}, which the sidecar uses`,
        );
      }
    }
  }
  for (const volume of volumes) {
    if ((spec.volumes ?? []).some((v) => v.name === volume.name)) {
      errors.push(`the pod already has a volume named ${volume.name}, which the sidecar uses`);
    }
  }
  if (
    options.mode === 'container' &&
    (spec.restartPolicy === 'Never' || spec.restartPolicy === 'OnFailure')
  ) {
    warnings.push(
      `restartPolicy ${String(spec.restartPolicy)}: a container-mode sidecar outlives the app, so the pod never completes`,
    );
  }
  if (errors.length > 0) return { action: 'refuse', errors };

  // Step 5: patch. Native sidecars go first among the init containers, so that init containers of the
  // application can use S3 too; ordinary sidecars go last, so that `kubectl exec` and `kubectl logs`
  // still default to the application's container.
  const patch: PatchOperation[] =
    options.mode === 'native'
      ? addToArray('/spec/initContainers', spec.initContainers, [sidecar], 'first')
      : addToArray('/spec/containers', spec.containers, [sidecar], 'last');
  patch.push(...addToArray('/spec/volumes', spec.volumes, volumes, 'last'));
  patch.push({
    op: 'add',
    path: `/metadata/annotations/${escapePointerSegment(ANNOTATION_STATUS)}`,
    value: STATUS_INJECTED,
  });
  return { action: 'inject', patch, sidecar, warnings };
}
