import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentProblem } from '../../../src/s3/documents.ts';
import type { DocumentRule } from '../../../src/s3/operations.ts';

const tagging: DocumentRule = { kind: 'xml', root: 'Tagging', maxBytes: 1024, optional: false };
const policy: DocumentRule = { kind: 'json', maxBytes: 1024, optional: false };
const problem = (text: string | Buffer, rule: DocumentRule = tagging) =>
  documentProblem(typeof text === 'string' ? Buffer.from(text) : text, rule);

describe('documentProblem', () => {
  it('accepts the declared root element, with a declaration, namespace, comments and whitespace', () => {
    for (const text of [
      '<Tagging/>',
      '<?xml version="1.0" encoding="UTF-8"?>\n<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>',
      '<!-- note --><Tagging></Tagging>\n',
      '  <Tagging>&amp;</Tagging>  ',
    ]) {
      assert.equal(problem(text), undefined, text);
    }
  });

  it('refuses anything that is not that one document, saying what it is', () => {
    const cases: [string | Buffer, RegExp][] = [
      ['plaintext CLOUDTASER marker', /not well-formed XML/],
      ['<Retention/>', /root element is <Retention>, not <Tagging>/],
      ['<s3:Tagging xmlns:s3="x"/>', /root element is <s3:Tagging>/],
      ['<Tagging/><Tagging/>', /more than one root/],
      ['<Tagging/><Other/>', /more than one root/],
      ['<Tagging>x</Tagging>trailing', /not well-formed/],
      ['<Tagging><a></Tagging>', /not well-formed/],
      ['<!DOCTYPE t [<!ENTITY e "x">]><Tagging>&e;</Tagging>', /document type declaration/],
      [Buffer.from([0x3c, 0x54, 0xff, 0xfe, 0x3e]), /not UTF-8/],
      ['', /empty/],
      [`<Tagging>${'x'.repeat(1100)}</Tagging>`, /larger than 1024 bytes/],
      [
        '--boundary\r\nContent-Disposition: form-data; name="file"\r\n\r\n<Tagging/>\r\n--boundary--',
        /not well-formed/,
      ],
    ];
    for (const [text, expected] of cases) assert.match(problem(text) ?? 'accepted', expected, String(text));
  });

  it('accepts an empty body only where the document is optional', () => {
    assert.equal(problem('', { ...tagging, optional: true }), undefined);
  });

  it('takes a JSON object as a policy, and nothing else', () => {
    assert.equal(problem('{"Version":"2012-10-17","Statement":[]}', policy), undefined);
    assert.match(problem('[1]', policy) ?? '', /not an object/);
    assert.match(problem('null', policy) ?? '', /not an object/);
    assert.match(problem('{"a":', policy) ?? '', /not JSON/);
    assert.match(problem('<Policy/>', policy) ?? '', /not JSON/);
  });
});
