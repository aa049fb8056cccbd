/**
 * Whether a small body is the document an operations-table row declares (src/s3/operations.ts): an XML
 * document with exactly one root element of the declared name, or a JSON object (bucket policies). Used
 * for request bodies before they are passed through and for object-level answers before they are
 * relayed, so that neither a file nor an object can travel as a "configuration document".
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { DocumentRule } from './operations.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

const parser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  processEntities: false,
});

/** Why `body` is not the document `rule` declares, or undefined when it is. An empty body is judged by `rule.optional`. */
export function documentProblem(body: Uint8Array, rule: DocumentRule): string | undefined {
  if (body.length === 0) return rule.optional ? undefined : 'the body is empty';
  if (body.length > rule.maxBytes) return `the body is larger than ${rule.maxBytes} bytes`;
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return 'the body is not UTF-8 text';
  }
  return rule.kind === 'xml' ? xmlProblem(text, rule.root) : jsonProblem(text);
}

function xmlProblem(text: string, root: string): string | undefined {
  // S3 takes no document type declarations; an entity declared in one could expand differently upstream.
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) return 'the XML carries a document type declaration';
  let roots: string[];
  let document: Record<string, unknown>;
  try {
    if (XMLValidator.validate(text) !== true) return 'the body is not well-formed XML';
    document = parser.parse(text) as Record<string, unknown>;
    roots = Object.keys(document);
  } catch {
    // The validator and the parser throw plain errors on some malformed input.
    return 'the body is not well-formed XML';
  }
  if (roots.length !== 1 || Array.isArray(document[roots[0] ?? '']))
    return 'the XML has more than one root element';
  if (roots[0] !== root) return `the XML root element is <${roots[0]}>, not <${root}>`;
  return undefined;
}

function jsonProblem(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the body is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the JSON is not an object';
  return undefined;
}
