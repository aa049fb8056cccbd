/**
 * The operations table in docs/S3-OPERATIONS.md, generated from src/s3/operations.ts and kept in sync by a
 * unit test. Regenerate with: node src/s3/operations-reference.ts --write
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  type BodyRule,
  type Level,
  OPERATION_ROWS,
  type OperationRow,
  responseRuleOf,
  SELECTING_HEADERS,
  UNROUTED_OPERATIONS,
} from './operations.ts';

export const OPERATIONS_BEGIN =
  '<!-- BEGIN GENERATED: operations table (node src/s3/operations-reference.ts --write) -->';
export const OPERATIONS_END = '<!-- END GENERATED: operations table -->';

const LEVELS: readonly { level: Level; title: string }[] = [
  { level: 'service', title: 'Service (`/`)' },
  { level: 'bucket', title: 'Bucket (`/bucket`)' },
  { level: 'object', title: 'Object (`/bucket/key`)' },
];

/** Table cells are Markdown: `|` would end the cell and `<root>` would vanish as an HTML tag. */
const cell = (text: string): string =>
  text.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const code = (text: string): string => `\`${text.replaceAll('|', '\\|')}\``;

function size(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

function bodyText(body: BodyRule): string {
  switch (body.kind) {
    case 'none':
      return 'none';
    case 'object-data':
      return 'object data';
    case 'xml':
      return `${code(`<${body.root}>`)} ≤ ${size(body.maxBytes)}${body.optional ? ', or none' : ''}`;
    case 'json':
      return `JSON object ≤ ${size(body.maxBytes)}${body.optional ? ', or none' : ''}`;
  }
}

function requestText(row: OperationRow): string {
  const parts = [row.query === '' ? '—' : code(`?${row.query}`)];
  for (const name of SELECTING_HEADERS) {
    if (row.headers[name] === 'present') parts.push(`with ${code(name)}`);
  }
  if (row.formUpload) parts.push(`with ${code('Content-Type: multipart/form-data')}`);
  if (row.xId !== undefined) parts.push(`with ${code(`x-id=${row.xId}`)}`);
  return parts.join(' ');
}

function notesText(row: OperationRow): string {
  if (row.treatment === 'refuse') return cell(row.reason);
  const notes: string[] = [];
  const response = responseRuleOf(row);
  if (response !== undefined) notes.push(`answer must be ${code(`<${response.root}>`)}, else 500`);
  if (row.parameters.length > 0) notes.push(`also ${row.parameters.map(code).join(', ')}`);
  return notes.join('; ');
}

export function renderOperationsReference(): string {
  const out: string[] = [];
  for (const { level, title } of LEVELS) {
    out.push(
      `### ${title}`,
      '',
      '| Method | Sub-resources | Operation | Treatment | Request body | Notes |',
      '|---|---|---|---|---|---|',
    );
    for (const row of OPERATION_ROWS.filter((r) => r.level === level)) {
      out.push(
        `| ${row.method} | ${requestText(row)} | ${row.operation} | ${row.treatment} | ${row.treatment === 'refuse' ? '—' : bodyText(row.body)} | ${notesText(row)} |`,
      );
    }
    out.push('');
  }
  out.push('### Named, but matched by no request', '', '| Operation | Why |', '|---|---|');
  for (const [operation, why] of Object.entries(UNROUTED_OPERATIONS))
    out.push(`| ${operation} | ${cell(why)} |`);
  return out.join('\n');
}

export function replaceGeneratedOperations(document: string): string {
  const begin = document.indexOf(OPERATIONS_BEGIN);
  const end = document.indexOf(OPERATIONS_END);
  if (begin < 0 || end < begin) throw new Error('docs/S3-OPERATIONS.md lacks the generated-table markers');
  return `${document.slice(0, begin + OPERATIONS_BEGIN.length)}\n\n${renderOperationsReference()}\n\n${document.slice(end)}`;
}

if (import.meta.main && process.argv.includes('--write')) {
  const path = new URL('../../docs/S3-OPERATIONS.md', import.meta.url);
  writeFileSync(path, replaceGeneratedOperations(readFileSync(path, 'utf8')));
}
