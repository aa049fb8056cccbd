/**
 * The settings reference in docs/CONFIGURATION.md, generated from the settings table and kept in sync by a
 * unit test. Regenerate with: node src/config/reference.ts --write
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { presenceText } from './help.ts';
import { AWS_CREDENTIAL_VARIABLES, SETTING_GROUPS, SETTING_LIST } from './settings.ts';

export const REFERENCE_BEGIN =
  '<!-- BEGIN GENERATED: settings reference (node src/config/reference.ts --write) -->';
export const REFERENCE_END = '<!-- END GENERATED: settings reference -->';

/** Table cells are Markdown: `<path>` would vanish as an HTML tag and `*` would start emphasis. */
const cell = (text: string): string =>
  text.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('*', '\\*');
const code = (text: string): string => `\`${text.replaceAll('|', '\\|')}\``;

export function renderSettingsReference(): string {
  const out: string[] = [];
  for (const group of SETTING_GROUPS) {
    out.push(`### ${group}`, '', '| Variable | Value | Default | Description |', '|---|---|---|---|');
    for (const setting of SETTING_LIST.filter((s) => s.group === group)) {
      const presence = setting.presence === 'defaulted' ? code(setting.default) : cell(presenceText(setting));
      out.push(
        `| ${code(setting.env)} | ${code(setting.valueHint)} | ${presence} | ${cell(setting.description)} |`,
      );
    }
    out.push('');
  }
  out.push(
    '### AWS credentials (read by the AWS SDK credential chain)',
    '',
    '| Variable | Description |',
    '|---|---|',
  );
  for (const variable of AWS_CREDENTIAL_VARIABLES) {
    out.push(`| ${code(variable.env)} | ${cell(variable.description)} |`);
  }
  return out.join('\n');
}

export function replaceGeneratedReference(document: string): string {
  const begin = document.indexOf(REFERENCE_BEGIN);
  const end = document.indexOf(REFERENCE_END);
  if (begin < 0 || end < begin) {
    throw new Error('docs/CONFIGURATION.md lacks the generated-reference markers');
  }
  return `${document.slice(0, begin + REFERENCE_BEGIN.length)}\n\n${renderSettingsReference()}\n\n${document.slice(end)}`;
}

if (import.meta.main && process.argv.includes('--write')) {
  const path = new URL('../../docs/CONFIGURATION.md', import.meta.url);
  writeFileSync(path, replaceGeneratedReference(readFileSync(path, 'utf8')));
}
