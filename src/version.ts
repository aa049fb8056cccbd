import { readFileSync } from 'node:fs';

/**
 * The version in package.json (the image copies it beside src/): what the injector's default image tag and
 * the audit report name. 'latest' when it cannot be read.
 */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'latest';
  } catch {
    return 'latest';
  }
}
