import { DECRYPT_USAGE, decrypt } from './cli/decrypt.ts';
import { ENCRYPT_EXISTING_USAGE, encryptExisting } from './cli/encrypt-existing.ts';
import { inject } from './cli/inject.ts';
import { REWRAP_USAGE, rewrap } from './cli/rewrap.ts';
import { serve } from './cli/serve.ts';
import { UsageError } from './cli/tool.ts';
import { webhook } from './cli/webhook.ts';
import { type Config, loadConfig, renderHelp } from './config/index.ts';

/** `cloudtaser-s3-proxy [serve|check-config|decrypt|rewrap|encrypt-existing|inject|webhook|help]`; configured by environment variables only. */
async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'serve';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(renderHelp());
    return 0;
  }
  // The injector's commands read CLOUDTASER_INJECTOR_* settings, not the proxy's.
  if (command === 'inject') return inject(argv.slice(1), process.env);
  if (command === 'webhook') return webhook(argv.slice(1), process.env);
  // The recovery and migration tools read the proxy's settings (listen addresses are unused).
  const tool = new Map<string, { run: (args: string[], config: Config) => Promise<number>; usage: string }>([
    ['decrypt', { run: decrypt, usage: DECRYPT_USAGE }],
    ['rewrap', { run: rewrap, usage: REWRAP_USAGE }],
    ['encrypt-existing', { run: encryptExisting, usage: ENCRYPT_EXISTING_USAGE }],
  ]).get(command);
  if (tool !== undefined && argv.slice(1).some((arg) => arg === '--help' || arg === '-h')) {
    process.stdout.write(tool.usage);
    return 0;
  }
  if (command !== 'serve' && command !== 'check-config' && tool === undefined) {
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
  if (tool !== undefined) {
    // Until the tool returns: if the event loop ran dry first, something never finished, which is no success.
    process.exitCode = 1;
    try {
      return await tool.run(argv.slice(1), loaded.config);
    } catch (error) {
      if (
        !(error instanceof UsageError) &&
        !String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')
      )
        throw error;
      process.stderr.write(`cloudtaser-s3-proxy ${command}: ${(error as Error).message}\n`);
      return 2;
    }
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
