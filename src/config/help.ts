import { AWS_CREDENTIAL_VARIABLES, SETTING_GROUPS, SETTING_LIST, type Setting } from './settings.ts';

const WIDTH = 100;
const INDENT = '      ';

function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > WIDTH) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

/** The part of a setting's help that says whether it must be set and what it is when it is not. */
export function presenceText(setting: Setting<unknown>): string {
  switch (setting.presence) {
    case 'required':
      return 'required';
    case 'defaulted':
      return `default ${setting.default}`;
    case 'optional':
      return setting.requiredWhen === undefined ? 'optional' : `required when ${setting.requiredWhen}`;
  }
}

export function renderHelp(): string {
  const out: string[] = [
    'Usage: cloudtaser-s3-proxy [serve|check-config|decrypt|rewrap|encrypt-existing|audit|inject|webhook]',
    '',
    '  serve             run the S3 encryption proxy (the default)',
    '  check-config      check the configuration in the environment, print every problem, and exit',
    '  decrypt           decrypt one object from S3 or a saved file, without the proxy (decrypt --help)',
    '  rewrap            move wrapped data keys to the newest Transit key version (rewrap --help)',
    '  encrypt-existing  encrypt objects stored without encryption, in place (encrypt-existing --help)',
    '  audit             check and report that every object is stored encrypted, read only (audit --help)',
    '  inject            print Kubernetes manifests with the sidecar added (inject --help)',
    '  webhook           run the Kubernetes admission webhook that adds the sidecar (webhook --help)',
    '  help              print this text (also --help, -h)',
    '',
    'The tools (decrypt, rewrap, encrypt-existing, audit) read the settings below, like the proxy.',
    '',
    'Configuration is read from environment variables. Blank values count as unset.',
  ];
  for (const group of SETTING_GROUPS) {
    out.push('', `${group}:`);
    for (const setting of SETTING_LIST.filter((s) => s.group === group)) {
      out.push(`  ${setting.env}=${setting.valueHint}  (${presenceText(setting)})`);
      out.push(...wrap(setting.description, INDENT));
    }
  }
  out.push(
    '',
    'AWS credentials for the upstream: not settings of this proxy, read by the AWS SDK credential chain:',
  );
  for (const variable of AWS_CREDENTIAL_VARIABLES) {
    out.push(`  ${variable.env}`);
    out.push(...wrap(variable.description, INDENT));
  }
  out.push(
    ...wrap(
      'The chain also reads the shared files (~/.aws/credentials, ~/.aws/config) and, last, EC2 instance metadata (IMDS).',
      '  ',
    ),
  );
  return `${out.join('\n')}\n`;
}
