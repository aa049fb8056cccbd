import type { S3Error } from '../errors.ts';

export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

export function errorXml(error: S3Error, requestId: string): string {
  const resource = error.resource === undefined ? '' : `<Resource>${escapeXml(error.resource)}</Resource>`;
  const details = error.details.map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message>${details}${resource}<RequestId>${escapeXml(requestId)}</RequestId></Error>`;
}
