import { inject } from './cli/inject.ts';
import { serve } from './cli/serve.ts';
import { webhook } from './cli/webhook.ts';
import { loadConfig, renderHelp } from './config/index.ts';

/** `cloudtaser-s3-proxy [serve|check-config|inject|webhook|help]`; configured by environment variables only. */
async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'serve';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(renderHelp());
    return 0;
  }
  // The injector's commands read CLOUDTASER_INJECTOR_* settings, not the proxy's.
  if (command === 'inject') return inject(argv.slice(1), process.env);
  if (command === 'webhook') return webhook(argv.slice(1), process.env);
  if (command !== 'serve' && command !== 'check-config') {
    process.stderr.write(`cloudtaser-s3-proxy: unknown command "${command}"\n\n${renderHelp()}`);
    return 2;
  }
  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    process.stderr.write(
      `cloudtaser-s3-proxy: invalid configuration:\n${loaded.errors.map((e) => `  ${e}\n`).join('')}`,
    );
    return 2;
  }
  if (command === 'check-config') {
    for (const warning of loaded.warnings) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write('configuration is valid\n');
    return 0;
  }
  await serve(loaded.config, loaded.warnings);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `cloudtaser-s3-proxy: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
