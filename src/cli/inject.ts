import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { injectManifests } from '../injector/manifests.ts';
import {
  loadInjectorOptions,
  renderInjectorSettings,
  SIDECAR_MODES,
  type SidecarMode,
} from '../injector/options.ts';

export const INJECT_USAGE = `Usage: cloudtaser-s3-proxy inject -f FILE|- [--sidecar-mode native|container] [--image IMAGE]

Prints the given Kubernetes manifests (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs,
CronJobs, Lists; several YAML documents) with the S3 proxy sidecar added to every pod template annotated
cloudtaser.io/s3-proxy: "true", exactly as the admission webhook would add it. Other documents are printed
unchanged. If any pod template lacks a required annotation, nothing is printed, every problem is reported
on stderr, and the exit status is 1.
`;

/** `cloudtaser-s3-proxy inject`: the webhook's mutation, offline, for GitOps pipelines and trials. */
export async function inject(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(args);
  } catch (error) {
    process.stderr.write(`cloudtaser-s3-proxy inject: ${(error as Error).message}\n\n${INJECT_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(INJECT_USAGE + renderInjectorSettings(['Sidecar']));
    return 0;
  }
  const file = parsed.file;
  if (file === undefined) {
    process.stderr.write(
      `cloudtaser-s3-proxy inject: -f FILE (or -f - for standard input) is required\n\n${INJECT_USAGE}`,
    );
    return 2;
  }
  const mode = parsed.mode;
  if (mode !== undefined && !SIDECAR_MODES.includes(mode as SidecarMode)) {
    process.stderr.write(
      `cloudtaser-s3-proxy inject: --sidecar-mode must be native or container, got ${JSON.stringify(mode)}\n`,
    );
    return 2;
  }
  const loaded = loadInjectorOptions({
    ...env,
    ...(mode === undefined ? {} : { CLOUDTASER_INJECTOR_SIDECAR_MODE: mode }),
    ...(parsed.image === undefined ? {} : { CLOUDTASER_INJECTOR_IMAGE: parsed.image }),
  });
  if (!loaded.ok) {
    process.stderr.write(
      `cloudtaser-s3-proxy inject: invalid configuration:\n${loaded.errors.map((e) => `  ${e}\n`).join('')}`,
    );
    return 2;
  }
  let input: string;
  try {
    input = file === '-' ? await text(process.stdin) : await readFile(file, 'utf8');
  } catch (error) {
    process.stderr.write(`cloudtaser-s3-proxy inject: cannot read ${file}: ${(error as Error).message}\n`);
    return 2;
  }
  const result = injectManifests(input, loaded.sidecar);
  for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
  if (result.errors.length > 0) {
    for (const error of result.errors) process.stderr.write(`error: ${error}\n`);
    return 1;
  }
  process.stdout.write(result.output);
  if (result.injected.length === 0) {
    process.stderr.write(
      'cloudtaser-s3-proxy inject: no pod template asked for the sidecar (cloudtaser.io/s3-proxy: "true")\n',
    );
  }
  return 0;
}

function parseFlags(args: readonly string[]) {
  const { values } = parseArgs({
    args: [...args],
    options: {
      file: { type: 'string', short: 'f' },
      'sidecar-mode': { type: 'string' },
      image: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  return { file: values.file, mode: values['sidecar-mode'], image: values.image, help: values.help === true };
}
