/** Real client programs (from .venv, installed by scripts/install-tools.sh) run as a user would run them. */
import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

export const VENV_BIN = resolve(import.meta.dirname, '..', '..', '.venv', 'bin');
/** AWS CLI v2 has no PyPI package; scripts/install-tools.sh installs Debian's `awscli` (2.9.x). */
export const AWS_CLI_V2 = '/usr/bin/aws';

/**
 * Runs a command to its end and returns its exit code and interleaved output. The environment is only
 * PATH, HOME and `env`: none of the developer's own AWS or Vault settings leak into a client under test.
 */
export function runClient(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, output }));
  });
}

const BUILD_SDK_CLIENTS = resolve(import.meta.dirname, '..', '..', 'scripts', 'build-sdk-clients.sh');

/** The Go or Java SDK client's command line, built by scripts/build-sdk-clients.sh (install-tools.sh runs it first). */
export async function sdkClient(which: 'go' | 'java'): Promise<string[]> {
  const { stdout } = await promisify(execFile)('bash', [BUILD_SDK_CLIENTS, '--print', which], {
    maxBuffer: 1 << 20,
  });
  return stdout.split('\n').filter((line) => line !== '');
}
