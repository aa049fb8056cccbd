import { type Config, loadConfig, renderHelp } from './config/index.ts';

type Tool = { run: (args: string[], config: Config) => Promise<number>; usage: string };

/**
 * The recovery and migration tools read the proxy's settings (listen addresses are unused). Commands are
 * loaded when named, so that `serve` does not carry the tools' and the injector's modules in memory.
 */
const TOOLS: Record<string, () => Promise<Tool>> = {
  decrypt: async () => {
    const m = await import('./cli/decrypt.ts');
    return { run: m.decrypt, usage: m.DECRYPT_USAGE };
  },
  rewrap: async () => {
    const m = await import('./cli/rewrap.ts');
    return { run: m.rewrap, usage: m.REWRAP_USAGE };
  },
  'encrypt-existing': async () => {
    const m = await import('./cli/encrypt-existing.ts');
    return { run: m.encryptExisting, usage: m.ENCRYPT_EXISTING_USAGE };
  },
  audit: async () => {
    const m = await import('./cli/audit.ts');
    return { run: m.audit, usage: m.AUDIT_USAGE };
  },
};

/** `cloudtaser-s3-proxy [serve|check-config|decrypt|rewrap|encrypt-existing|audit|inject|webhook|help]`; configured by environment variables only. */
async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'serve';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(renderHelp());
    return 0;
  }
  // The injector's commands read CLOUDTASER_INJECTOR_* settings, not the proxy's.
  if (command === 'inject') return (await import('./cli/inject.ts')).inject(argv.slice(1), process.env);
  if (command === 'webhook') return (await import('./cli/webhook.ts')).webhook(argv.slice(1), process.env);
  const loadTool = Object.hasOwn(TOOLS, command) ? TOOLS[command] : undefined;
  if (command !== 'serve' && command !== 'check-config' && loadTool === undefined) {
    process.stderr.write(`cloudtaser-s3-proxy: unknown command "${command}"\n\n${renderHelp()}`);
    return 2;
  }
  const tool = loadTool === undefined ? undefined : await loadTool();
  if (tool !== undefined && argv.slice(1).some((arg) => arg === '--help' || arg === '-h')) {
    process.stdout.write(tool.usage);
    return 0;
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
    const { UsageError } = await import('./cli/tool.ts');
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
  const { serve } = await import('./cli/serve.ts');
  return await serve(loaded.config, loaded.warnings);
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
