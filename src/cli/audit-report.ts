/**
 * What an audit tells people: the outcome and its exit status, the closing summary on the terminal, and
 * the Markdown report for an auditor (what was checked, when, against what, with which tool, what passed,
 * what did not, and what the check cannot prove). Pure functions of what the audit found.
 */
import type { KeyInfoResult } from './audit-check.ts';
import {
  AUDIT_STATUSES,
  type AuditParams,
  type AuditRecord,
  type AuditStatus,
  type AuditTotals,
  INTEGRITY_STATUSES,
  type RunInfo,
  type TransitKeyRef,
} from './audit-ledger.ts';
import { formatBytes } from './progress.ts';

/** Exit statuses, in precedence order: when several apply, the first one is the status. */
export const AUDIT_EXIT_CODES = [
  { code: 3, name: 'unencrypted', meaning: 'unencrypted objects found' },
  {
    code: 4,
    name: 'integrity',
    meaning: 'integrity failures: malformed envelope, stored size mismatch, failed verification',
  },
  { code: 5, name: 'retired', meaning: 'data keys under a key version below min_decryption_version' },
  { code: 1, name: 'could-not-check', meaning: 'could not check some objects (or the bucket)' },
  { code: 130, name: 'interrupted', meaning: 'interrupted by a signal before every object was checked' },
  { code: 6, name: 'incomplete', meaning: 'stopped at --max-objects before every object was checked' },
  { code: 0, name: 'passed', meaning: 'every object checked, and every check passed' },
] as const;

export type AuditOutcome = { exitCode: number; verdict: 'PASSED' | 'FAILED' | 'INCOMPLETE'; reason: string };

export const STATUS_LABELS: Record<AuditStatus, string> = {
  encrypted: 'encrypted',
  'not-encrypted': 'not encrypted',
  'malformed-envelope': 'malformed envelope',
  'size-mismatch': 'stored size does not fit the envelope',
  'key-version-retired': 'key version below min_decryption_version',
  'verify-failed': 'verification failed',
  'not-checked': 'could not be checked',
  'incomplete-upload': 'incomplete multipart upload',
};

export function auditOutcome(
  totals: AuditTotals,
  run: { fatal: boolean; interrupted: boolean; bounded: boolean },
): AuditOutcome {
  const count = (status: AuditStatus) => totals.byStatus[status].objects;
  const applies: Record<(typeof AUDIT_EXIT_CODES)[number]['name'], boolean> = {
    unencrypted: count('not-encrypted') > 0,
    integrity: INTEGRITY_STATUSES.some((status) => count(status) > 0),
    retired: count('key-version-retired') > 0,
    'could-not-check': run.fatal || count('not-checked') > 0,
    interrupted: run.interrupted,
    incomplete: run.bounded,
    passed: true,
  };
  const first = AUDIT_EXIT_CODES.find((entry) => applies[entry.name]) ?? AUDIT_EXIT_CODES[0];
  const verdict =
    first.code === 0 ? 'PASSED' : first.code === 130 || first.code === 6 ? 'INCOMPLETE' : 'FAILED';
  return { exitCode: first.code, verdict, reason: first.meaning };
}

/** Everything the summary and the report show. */
export type AuditFindings = {
  params: AuditParams;
  totals: AuditTotals;
  /** Records that did not pass, in the order they were checked, up to a limit. */
  problems: AuditRecord[];
  /** Incomplete uploads, up to a limit. */
  uploads: AuditRecord[];
  keyInfo: Array<{ key: TransitKeyRef; result: KeyInfoResult }>;
  runs: RunInfo[];
  toolVersion: string;
  region: string;
  vaultAddr: string;
  outcome: AuditOutcome;
  /** Why the run stopped before every object was checked, if it did. */
  stopped: string | undefined;
};

/**
 * What the audit cannot show: the residual risks of docs/SECURITY.md and docs/FORMAT.md §13 (`sources`
 * names the bold title of each entry there, and a unit test keeps the lists in step), then the limits of
 * the audit itself.
 */
export const RESIDUAL_RISKS: ReadonlyArray<{
  title: string;
  text: string;
  sources: ReadonlyArray<{ doc: 'SECURITY.md' | 'FORMAT.md'; title: string }>;
}> = [
  {
    title: 'Whole-object substitution and rollback',
    text: 'A valid object put in place of another (an older version of it, or a copy of another object under the same Transit key) passes every check here, --verify included: nothing in an object binds it to its name or version. The audit cannot tell whether an object holds the data its name promises.',
    sources: [
      { doc: 'SECURITY.md', title: 'Whole-object substitution and rollback' },
      { doc: 'FORMAT.md', title: 'Whole-object substitution and rollback' },
    ],
  },
  {
    title: 'Tenants sharing a proxy are separated by Transit key, not by the recorded key',
    text: 'With Transit keys per bucket or prefix, an object recording a key its location does not accept is reported (TRANSIT_KEY_NOT_ACCEPTED); one the provider copied in from elsewhere under a key the location does accept (its own, or a former key still listed) passes as any valid object does.',
    sources: [
      {
        doc: 'SECURITY.md',
        title: 'Tenants sharing a proxy are separated by Transit key, not by the recorded key',
      },
    ],
  },
  {
    title: 'Trailing parts of a multipart object removed',
    text: 'A multipart object without its last parts verifies as a complete, shorter object. The part count reported is the count found, not the count the application wrote.',
    sources: [
      { doc: 'SECURITY.md', title: 'Trailing parts of a multipart object removed' },
      { doc: 'FORMAT.md', title: 'Removal of whole trailing parts of a multipart object' },
    ],
  },
  {
    title: 'Retried parts and upload ids',
    text: 'A part replaced by an earlier upload of the same part number of the same upload (a retry the provider kept), or by a part of another upload the provider gave the same upload id, verifies.',
    sources: [
      { doc: 'SECURITY.md', title: 'Retried parts and upload ids' },
      { doc: 'FORMAT.md', title: 'Multipart bindings are only as distinct as upload ids' },
    ],
  },
  {
    title: 'Object sub-resources the upstream lacks',
    text: 'An upstream without a route for object-level tagging, ACL, retention or legal-hold PUTs stores their XML document as the object, replacing it. Such an object is reported here as not encrypted, but the audit cannot tell how it got there, nor recover what it replaced.',
    sources: [{ doc: 'SECURITY.md', title: 'Object sub-resources the upstream lacks' }],
  },
  {
    title: 'Metadata other than the envelope',
    text: 'Content types, user metadata, tags and object names are stored in the clear and not authenticated; the audit does not examine them. Object names appear in this report.',
    sources: [
      { doc: 'SECURITY.md', title: 'Metadata other than the envelope' },
      { doc: 'FORMAT.md', title: 'Metadata other than the envelope is not authenticated' },
    ],
  },
  {
    title: 'Sizes',
    text: 'Plaintext sizes are visible to the provider, exactly, and appear in the JSON output.',
    sources: [
      { doc: 'SECURITY.md', title: 'Sizes' },
      { doc: 'FORMAT.md', title: 'Sizes leak' },
    ],
  },
  {
    title: 'Sizes reported without reading the body',
    text: 'The plaintext sizes and part counts of objects not verified are those the metadata and the part headers state, checked against the stored length but not authenticated; those of verified objects are the sizes of the bytes authenticated.',
    sources: [{ doc: 'FORMAT.md', title: 'Sizes reported without reading the body' }],
  },
  {
    title: 'Objects without the envelope',
    text: 'An object whose envelope metadata was deleted is reported as not encrypted without its bytes being read: the audit cannot tell such ciphertext from plaintext. Either way it is a finding; the proxy serves such an object as stored unless CLOUDTASER_S3PROXY_UNENCRYPTED_OBJECTS=refuse.',
    sources: [{ doc: 'SECURITY.md', title: 'Objects without the envelope' }],
  },
  {
    title: 'A stored checksum can be removed',
    text: "An object whose sealed checksum (x-amz-meta-cloudtaser-checksum) was deleted reads, and is reported, as one written without a checksum; --verify fails an object whose sealed checksum does not open under the object's key.",
    sources: [{ doc: 'FORMAT.md', title: 'A stored checksum can be removed' }],
  },
  {
    title: "Key wrapping is Vault's",
    text: 'Whoever may call Transit decrypt on the key can unwrap every data key. The audit does not examine Vault policies, tokens or audit logs; of the key it reads only its versions and whether it is exportable, and only when the token may.',
    sources: [{ doc: 'FORMAT.md', title: "Key wrapping is Vault's" }],
  },
  {
    title: 'Without --verify, metadata only',
    text: 'Without --verify the classification rests on the envelope metadata and the part headers, which the provider can change: an object reported encrypted may still have a damaged or altered body, and key versions are what those fields say. Only --verify authenticates the bytes; with --verify-sample P only those of the sampled objects (k altered objects all escape a sample of P % with probability (1 - P/100)^k).',
    sources: [],
  },
  {
    title: 'What the provider shows',
    text: 'The audit sees what the storage provider answers to it, at the moment it asks. Objects written, changed or deleted after they were checked are not covered, and copies the provider keeps elsewhere (replicas, backups, earlier versions when --versions was not given, plaintext that was stored before it was encrypted) are beyond it. The bytes of incomplete multipart uploads cannot be read through S3 and are only listed.',
    sources: [],
  },
  {
    title: 'Trusted',
    text: 'The machine the audit runs on, Vault/OpenBao and the tool itself (the proxy reader it uses) are trusted.',
    sources: [],
  },
];

/** The most problems the report lists (the JSON output always has every record). */
export const REPORT_LISTED = 1000;
const SUMMARY_LISTED = 20;

export function location(params: AuditParams): string {
  return `s3://${params.bucket}/${params.prefix}`;
}

function depth(params: AuditParams): string {
  const head =
    'listing, HEAD of every object, the part headers of multipart objects (a 256-byte ranged GET per part)';
  if (params.verify === 'all')
    return `${head}; every stored byte of every encrypted object read and authenticated (--verify)`;
  if (params.verify === 'sample')
    return `${head}; every stored byte of a random ${params.samplePercent} % of the encrypted objects read and authenticated (--verify-sample ${params.samplePercent}, seed ${params.seed})`;
  return `${head}; no object body read (no --verify)`;
}

function keyDescription(result: KeyInfoResult, key: TransitKeyRef): string {
  if (!result.ok) {
    const why = result.denied ? `the token may not read ${key.mount}/keys/${key.key}` : result.reason;
    return `not read (${why}): key versions below min_decryption_version were not looked for`;
  }
  const { info } = result;
  const export_ =
    info.exportable || info.plaintextBackup ? 'EXPORTABLE: the key itself may leave Vault' : 'not exportable';
  return `${info.type}, newest version ${info.latestVersion}, min_decryption_version ${info.minDecryptionVersion}, ${export_}`;
}

function keyVersionNote(
  version: number | null,
  key: TransitKeyRef,
  keyInfo: AuditFindings['keyInfo'],
): string {
  if (version === null) return 'not a vault:vN: key: version unknown';
  const result = keyInfo.find((entry) => entry.key.mount === key.mount && entry.key.key === key.key)?.result;
  if (result === undefined || !result.ok) return '';
  if (version < result.info.minDecryptionVersion)
    return `below min_decryption_version ${result.info.minDecryptionVersion}: Transit will not unwrap`;
  if (version < result.info.latestVersion)
    return `older than the newest version ${result.info.latestVersion}: rewrap pending`;
  return 'newest';
}

function timing(runs: RunInfo[]): { from: string; to: string; seconds: number } {
  const first = runs[0];
  const last = runs.at(-1);
  const seconds = runs.reduce(
    (sum, run) =>
      sum + Math.max(0, (Date.parse(run.endedAt ?? run.startedAt) - Date.parse(run.startedAt)) / 1000),
    0,
  );
  return { from: first?.startedAt ?? '', to: last?.endedAt ?? last?.startedAt ?? '', seconds };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function objectName(record: AuditRecord): string {
  const version = record.versionId === null ? '' : ` (version ${record.versionId})`;
  return `${record.key}${version}`;
}

/** The closing summary on the terminal: counts, bytes, key versions, what failed, how long it took. */
export function renderSummary(findings: AuditFindings): string {
  const { totals, params, outcome } = findings;
  const out: string[] = [];
  const time = timing(findings.runs);
  out.push(
    `audit ${location(params)}: ${outcome.verdict}: ${outcome.reason} (exit status ${outcome.exitCode})`,
    `  ${totals.objects} object${params.versions ? ' versions' : 's'}, ${formatBytes(totals.storedBytes)} stored, in ${time.seconds.toFixed(1)} s${findings.runs.length > 1 ? ` over ${findings.runs.length} runs` : ''}`,
  );
  for (const status of AUDIT_STATUSES) {
    if (status === 'incomplete-upload') continue;
    const tally = totals.byStatus[status];
    if (tally.objects === 0 && status !== 'encrypted') continue;
    out.push(
      `  ${STATUS_LABELS[status].padEnd(42)} ${String(tally.objects).padStart(8)}  ${formatBytes(tally.storedBytes)}`,
    );
  }
  if (params.verify !== 'none')
    out.push(
      `  ${'verified (every byte authenticated)'.padEnd(42)} ${String(totals.verified.objects).padStart(8)}  ${formatBytes(totals.verified.plaintextBytes)} plaintext`,
    );
  if (totals.incompleteUploads.uploads > 0)
    out.push(
      `  ${'incomplete multipart uploads (not readable)'.padEnd(42)} ${String(totals.incompleteUploads.uploads).padStart(8)}  ${formatBytes(totals.incompleteUploads.storedBytes)}`,
    );
  for (const { key, result } of findings.keyInfo)
    out.push(`  Transit key ${key.mount}/${key.key}: ${keyDescription(result, key)}`);
  for (const row of totals.keyVersions) {
    const note = keyVersionNote(row.version, row, findings.keyInfo);
    out.push(
      `    v${row.version ?? '?'}: ${row.objects} object${row.objects === 1 ? '' : 's'}, ${row.dataKeys} data key${row.dataKeys === 1 ? '' : 's'}${note === '' ? '' : ` (${note})`}`,
    );
  }
  if (findings.problems.length > 0) {
    out.push('  did not pass:');
    for (const record of findings.problems.slice(0, SUMMARY_LISTED))
      out.push(
        `    ${record.failure?.code ?? record.status}  s3://${params.bucket}/${objectName(record)}: ${record.failure?.message ?? STATUS_LABELS[record.status]}`,
      );
    const more = countProblems(totals) - Math.min(SUMMARY_LISTED, findings.problems.length);
    if (more > 0) out.push(`    … and ${more} more (--json FILE or --report FILE lists them)`);
  }
  if (findings.stopped !== undefined) out.push(`  ${findings.stopped}`);
  return `${out.join('\n')}\n`;
}

export function countProblems(totals: AuditTotals): number {
  return AUDIT_STATUSES.filter((status) => status !== 'encrypted' && status !== 'incomplete-upload').reduce(
    (sum, status) => sum + totals.byStatus[status].objects,
    0,
  );
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: they are what is escaped
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/** Markdown inline code that survives any object name: backticks, pipes, control characters. */
export function mdCode(text: string): string {
  const visible = text.replace(
    CONTROL_CHARACTERS,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  const longest = Math.max(0, ...[...visible.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = visible.startsWith('`') || visible.endsWith('`') || visible === '' ? ' ' : '';
  return `${fence}${pad}${visible.replaceAll('|', '\\|')}${pad}${fence}`;
}

/** Plain text in a Markdown table cell. */
function mdText(text: string): string {
  // Underscores stay: GFM does not emphasise inside words, and names like min_decryption_version abound.
  return text.replace(/[\r\n]+/g, ' ').replace(/[\\|*<>[\]`]/g, (c) => `\\${c}`);
}

/** The report for an auditor, in Markdown. */
export function renderReport(findings: AuditFindings): string {
  const { params, totals, outcome } = findings;
  const time = timing(findings.runs);
  const out: string[] = [];
  const row = (...cells: string[]) => out.push(`| ${cells.join(' | ')} |`);
  out.push(
    `# Encryption audit of ${mdText(location(params))}`,
    '',
    `**Result: ${outcome.verdict}: ${mdText(outcome.reason)} (exit status ${outcome.exitCode}).**`,
    '',
    '| | |',
    '|---|---|',
  );
  row('Bucket', mdCode(params.bucket));
  row('Prefix', params.prefix === '' ? '(the whole bucket)' : mdCode(params.prefix));
  row('S3 endpoint', `${mdCode(params.endpoint)}, region ${mdCode(findings.region)}`);
  row(
    'Transit key',
    `${mdCode(`${params.transit.mount}/${params.transit.key}`)} at ${mdCode(findings.vaultAddr)}`,
  );
  for (const { key, result } of findings.keyInfo)
    row(`Key ${mdCode(`${key.mount}/${key.key}`)}`, mdText(keyDescription(result, key)));
  row(
    'When',
    `${time.from} to ${time.to} (${time.seconds.toFixed(1)} s${findings.runs.length > 1 ? `, ${findings.runs.length} runs continuing one state file` : ''})`,
  );
  row('Tool', `cloudtaser-s3-proxy ${mdText(findings.toolVersion)} \`audit\`, Node.js ${process.version}`);
  row(
    'Scope',
    `${params.versions ? 'every version of every object (--versions)' : 'the current version of every object'} under the prefix; incomplete multipart uploads listed`,
  );
  row('Depth', mdText(depth(params)));
  if (findings.stopped !== undefined) row('Complete', `**no**: ${mdText(findings.stopped)}`);
  else
    row(
      'Complete',
      `yes: every listed object was checked${findings.runs.length > 1 ? ` (over ${findings.runs.length} runs)` : ''}`,
    );

  out.push('', '## Findings', '', '| class | objects | stored bytes |', '|---|---:|---:|');
  for (const status of AUDIT_STATUSES) {
    if (status === 'incomplete-upload') continue;
    const tally = totals.byStatus[status];
    row(
      STATUS_LABELS[status],
      String(tally.objects),
      `${tally.storedBytes} (${formatBytes(tally.storedBytes)})`,
    );
  }
  row('**all**', `**${totals.objects}**`, `**${totals.storedBytes} (${formatBytes(totals.storedBytes)})**`);
  out.push('');
  if (params.verify !== 'none')
    out.push(
      `Verified: ${totals.verified.objects} objects, ${totals.verified.plaintextBytes} plaintext bytes (${formatBytes(totals.verified.plaintextBytes)}), every stored byte of them authenticated. Objects found malformed, of the wrong size or under a retired key version were not read.`,
      '',
    );

  out.push('## Transit key versions', '');
  if (totals.keyVersions.length === 0) out.push('No data keys seen.', '');
  else {
    out.push('| key | version | objects | data keys | note |', '|---|---:|---:|---:|---|');
    for (const entry of totals.keyVersions)
      row(
        mdCode(`${entry.mount}/${entry.key}`),
        entry.version === null ? '?' : `v${entry.version}`,
        String(entry.objects),
        String(entry.dataKeys),
        mdText(keyVersionNote(entry.version, entry, findings.keyInfo)),
      );
    out.push(
      '',
      'Single-part objects have one data key (in their metadata), multipart objects one per part (in the part headers). The Transit key is the one each object records (x-amz-meta-cloudtaser-transit-key), or for an object written before keys were recorded, the default key (CLOUDTASER_S3PROXY_TRANSIT_KEY).',
      '',
    );
  }

  out.push('## Objects that did not pass', '');
  const problems = countProblems(totals);
  if (problems === 0) out.push('None.', '');
  else {
    out.push('| object | class | failure | detail |', '|---|---|---|---|');
    for (const record of findings.problems)
      row(
        mdCode(objectName(record)),
        STATUS_LABELS[record.status],
        mdCode(record.failure?.code ?? ''),
        mdText(record.failure?.message ?? ''),
      );
    if (problems > findings.problems.length)
      out.push(
        '',
        `… and ${problems - findings.problems.length} more: the JSON output (--json FILE) lists every object.`,
      );
    out.push('');
  }

  out.push('## Incomplete multipart uploads', '');
  if (totals.incompleteUploads.uploads === 0) out.push('None.', '');
  else {
    out.push(
      `${plural(totals.incompleteUploads.uploads, 'upload')} ${totals.incompleteUploads.uploads === 1 ? 'holds' : 'hold'} ${plural(totals.incompleteUploads.parts, 'part')}, ${formatBytes(totals.incompleteUploads.storedBytes)}. S3 offers no way to read them, so they are listed, not checked; abort them, or let an AbortIncompleteMultipartUpload lifecycle rule do so.`,
      '',
      '| object | upload id | started | parts | stored bytes |',
      '|---|---|---|---:|---:|',
    );
    for (const record of findings.uploads)
      row(
        mdCode(record.key),
        mdCode(record.uploadId ?? ''),
        record.initiated ?? '?',
        record.parts === null ? '?' : String(record.parts),
        record.storedSize === null ? mdText(record.failure?.message ?? '?') : String(record.storedSize),
      );
    out.push('');
  }

  out.push(
    '## What was checked',
    '',
    '- **not encrypted**: the object has no `x-amz-meta-cloudtaser-format`; it was stored as sent, not by the proxy.',
    '- **malformed envelope**: the envelope metadata or a multipart part header breaks docs/FORMAT.md (codes of its section 11: `ENVELOPE_MISSING_FIELD`, `ENVELOPE_BAD_FIELD`, `ENVELOPE_UNKNOWN_FORMAT`, `PART_HEADER_INVALID`, `PART_ORDER`, `PART_UPLOAD_MISMATCH`).',
    '- **stored size does not fit the envelope**: the stored length is not the one the envelope implies (`SIZE_MISMATCH`, `SIZE_IMPOSSIBLE`, or parts that do not end at it: `TRUNCATED`).',
    '- **key version below min_decryption_version**: a data key is wrapped under a Transit key version that Transit no longer decrypts (from the key settings, or from Transit refusing it while verifying).',
    '- **verification failed** (only with --verify or --verify-sample): reading every stored byte with the proxy reader failed with a named failure of docs/FORMAT.md section 11 (`SEGMENT_AUTH_FAILED`, `TRUNCATED`, `TRAILING_DATA`, `PART_LAYOUT_CHANGED`, ...), or Transit refused to unwrap the data key (`KEY_REJECTED`). No plaintext was written anywhere; it was discarded as it verified.',
    '- **could not be checked**: S3 or Vault did not answer or refused (`S3_ERROR`, `VAULT_DENIED`, `VAULT_UNAVAILABLE`), or the object changed while it was audited (`CHANGED`). A run with the same --state file checks these again.',
    '- **encrypted**: none of the above; with verification, every byte authenticated.',
    '',
    '## What this audit does not prove',
    '',
  );
  for (const risk of RESIDUAL_RISKS) out.push(`- **${risk.title}.** ${risk.text}`);
  out.push(
    '',
    `The first ${RESIDUAL_RISKS.filter((risk) => risk.sources.length > 0).length} are the residual risks of docs/SECURITY.md and docs/FORMAT.md section 13, which explain them; the others are limits of the audit itself.`,
    '',
    '## Exit status',
    '',
  );
  for (const entry of AUDIT_EXIT_CODES) out.push(`- ${entry.code}: ${entry.meaning}`);
  out.push('', 'When several apply, the first in this list is the exit status.', '');
  return `${out.join('\n')}`;
}
