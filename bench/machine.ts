/** The machine a run was made on, for the results and docs/BENCHMARKS.md. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/support/services.ts';

export type Machine = {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  seaweedfs: string;
  rclone: string;
  curl: string;
  /** 1-minute load average when the run started and ended: other work on the machine skews wall-clock figures. */
  load: { start: number; end?: number };
};

function firstLine(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')[0]
      ?.trim() as string;
  } catch {
    return 'unknown';
  }
}

export function describeMachine(): Machine {
  const venv = join(REPO_ROOT, '.venv', 'bin');
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
    seaweedfs: firstLine(join(venv, 'weed'), ['version']).replace(/^version\s+/, ''),
    rclone: firstLine(join(venv, 'rclone'), ['version']),
    curl: firstLine('curl', ['--version']).split(' ').slice(0, 2).join(' '),
    load: { start: loadavg()[0] as number },
  };
}

export function currentLoad(): number {
  return loadavg()[0] as number;
}
