/**
 * Tests that need a tool this machine may lack (podman, kube-apiserver): on a developer's machine they are
 * skipped with the reason; in CI (CI=true), where .ci/run installs every such tool, they run and fail on
 * the missing one, so that a tool that went missing can never pass as a skipped test.
 */
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** Why a prerequisite is missing, or undefined when it is there. */
export type Missing = string | undefined;

/** `describe(..., { skip: skipUnlessPresent(missing) })`: a skip outside CI only. */
export function skipUnlessPresent(missing: Missing): string | false {
  if (missing === undefined || process.env.CI === 'true') return false;
  return missing;
}

/** For the suite's `before`: throws in CI when the prerequisite is missing (elsewhere the suite was skipped). */
export function assertPresent(missing: Missing): void {
  if (missing !== undefined) throw new Error(`${missing} (CI=true: .ci/run is meant to provide it)`);
}

/** Inside a test: `return skipOutsideCi(t, missing)` skips it with the reason, and fails it in CI. */
export function skipOutsideCi(t: TestContext, missing: string): void {
  if (process.env.CI === 'true') assertPresent(missing);
  t.skip(missing);
}

/** Missing unless `command args` runs and exits 0. */
export function missingCommand(command: string, args: string[] = ['--version']): Missing {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) return `${command} is not installed (${result.error.message})`;
  if (result.status !== 0)
    return `${command} ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`;
  return undefined;
}
