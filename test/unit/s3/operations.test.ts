import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ClassifiableRequest, classifyRequest } from '../../../src/s3/classify.ts';
import {
  HANDLED_OPERATIONS,
  isOperationName,
  KNOWN_QUERY_NAMES,
  OPERATION_NAMES,
  OPERATION_ROWS,
  type OperationName,
  type OperationRow,
  type QueryRequirement,
  responseRuleOf,
  rowOf,
  SELECTING_HEADERS,
  type Treatment,
  UNROUTED_OPERATIONS,
} from '../../../src/s3/operations.ts';
import { sdkCommandNames, sdkOperation } from './sdk-model.ts';

const ROWS: readonly OperationRow[] = OPERATION_ROWS;

/** Every operation whose request body becomes stored object (or object-attached) data. */
const WRITES_OBJECT_DATA: readonly OperationName[] = [
  'PutObject',
  'AppendObject',
  'CopyObject',
  'RenameObject',
  'PostObject',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
  'CompleteMultipartUpload',
  'PutObjectAnnotation',
];

/** Every operation whose response carries stored object data or facts derived from the ciphertext. */
const READS_OBJECT_DATA: readonly OperationName[] = [
  'GetObject',
  'HeadObject',
  'SelectObjectContent',
  'GetObjectTorrent',
  'GetObjectAttributes',
  'ListParts',
  'ListObjects',
  'ListObjectsV2',
  'ListObjectVersions',
];

/** The request a client would send to reach `row`: its sub-resources with fitting values, its headers. */
function requestFor(row: OperationRow): ClassifiableRequest {
  const query = row.requires.map((requirement) =>
    requirement.value.kind === 'empty'
      ? requirement.name
      : `${requirement.name}=${requirement.value.kind === 'any' ? 'v1' : requirement.value.value}`,
  );
  if (row.xId !== undefined) query.push(`x-id=${row.xId}`);
  const headers: Record<string, string> = { host: 'localhost:8190' };
  for (const name of SELECTING_HEADERS) if (row.headers[name] === 'present') headers[name] = '/src/key';
  if (row.formUpload) headers['content-type'] = 'multipart/form-data; boundary=x';
  const path = row.level === 'service' ? '/' : row.level === 'bucket' ? '/my-bucket' : '/my-bucket/dir/key';
  return { method: row.method, rawUrl: query.length === 0 ? path : `${path}?${query.join('&')}`, headers };
}

const classify = (request: ClassifiableRequest) =>
  classifyRequest(request, { virtualHostDomains: ['localhost'] });

describe('the operations table, row by row', () => {
  for (const row of ROWS) {
    const { method, rawUrl } = requestFor(row);
    it(`${method} ${rawUrl} is ${row.operation}, ${row.treatment}`, () => {
      const request = classify(requestFor(row));
      assert.equal(request.operation, row.operation, request.unknownReason);
      assert.equal(request.row, row);
    });

    if (row.parameters.length > 0) {
      it(`${row.operation} accepts ${row.parameters.join(', ')}, each once, and no other name`, () => {
        const base = requestFor(row);
        const join = base.rawUrl.includes('?') ? '&' : '?';
        const all = row.parameters.map((name) => `${name}=p`).join('&');
        assert.equal(classify({ ...base, rawUrl: `${base.rawUrl}${join}${all}` }).row, row);
        const repeated = classify({ ...base, rawUrl: `${base.rawUrl}${join}${all}&${row.parameters[0]}=q` });
        assert.equal(repeated.operation, 'Unknown');
        assert.equal(
          classify({ ...base, rawUrl: `${base.rawUrl}${join}${all}&novel=1` }).operation,
          'Unknown',
        );
      });
    }

    for (const name of SELECTING_HEADERS) {
      if (row.headers[name] !== 'absent') continue;
      it(`${row.operation} with ${name} matches no row of ${row.operation}'s own`, () => {
        const base = requestFor(row);
        const request = classify({ ...base, headers: { ...base.headers, [name]: '/other/key' } });
        assert.notEqual(request.operation, row.operation);
        if (request.row !== undefined) assert.equal(request.row.headers[name], 'present', request.operation);
      });
    }
  }

  it('names each operation in exactly one row, and every name the table uses', () => {
    const names = ROWS.map((row) => row.operation);
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual(
      [...OPERATION_NAMES].sort(),
      [...names, ...Object.keys(UNROUTED_OPERATIONS), 'Unknown'].sort(),
    );
    assert.ok(isOperationName('GetObject'));
    assert.ok(!isOperationName('getobject'));
    assert.equal(rowOf('GetObjectTagging')?.treatment, 'passthrough');
    assert.equal(rowOf('Unknown'), undefined);
  });

  it('never passes through an operation that writes object data', () => {
    for (const operation of WRITES_OBJECT_DATA) {
      assert.ok(['encrypt', 'envelope', 'refuse'].includes(rowOf(operation)?.treatment ?? ''), operation);
    }
  });

  it('never passes through an operation that returns object data or ciphertext facts', () => {
    for (const operation of READS_OBJECT_DATA) {
      assert.notEqual(rowOf(operation)?.treatment, 'passthrough', operation);
    }
  });

  it('handles exactly these operations other than by passing them through', () => {
    const notPassthrough = Object.fromEntries(
      ROWS.filter((row) => row.treatment !== 'passthrough').map((row) => [row.operation, row.treatment]),
    );
    const expected: Record<string, Treatment> = {
      PutObject: 'encrypt',
      GetObject: 'decrypt',
      HeadObject: 'head',
      ListObjects: 'rewrite-listing',
      ListObjectsV2: 'rewrite-listing',
      ListObjectVersions: 'rewrite-listing',
      PostObject: 'refuse',
      CreateSession: 'refuse',
      AppendObject: 'refuse',
      CopyObject: 'envelope',
      RenameObject: 'refuse',
      GetObjectAttributes: 'head',
      GetObjectAnnotation: 'refuse',
      ListObjectAnnotations: 'refuse',
      PutObjectAnnotation: 'refuse',
      DeleteObjectAnnotation: 'refuse',
      UpdateObjectEncryption: 'refuse',
      SelectObjectContent: 'refuse',
      GetObjectTorrent: 'refuse',
      CreateMultipartUpload: 'envelope',
      UploadPart: 'encrypt',
      UploadPartCopy: 'encrypt',
      CompleteMultipartUpload: 'envelope',
      ListParts: 'rewrite-listing',
    };
    assert.deepEqual(notPassthrough, expected);
    const handled = ROWS.filter((row) => !['passthrough', 'refuse'].includes(row.treatment));
    assert.deepEqual(handled.map((row) => row.operation).sort(), [...HANDLED_OPERATIONS].sort());
  });

  it('gives every refusal a reason', () => {
    for (const row of ROWS) {
      if (row.treatment === 'refuse') assert.ok(row.reason.length > 20, `${row.operation} says why`);
    }
  });

  it('passes through at object level only bodies that are declared documents, and PUT/POST only with one', () => {
    for (const row of ROWS.filter((r) => r.treatment === 'passthrough')) {
      assert.notEqual(row.body.kind, 'object-data', row.operation);
      if (row.level === 'object' && ['PUT', 'POST'].includes(row.method)) {
        assert.ok(['xml', 'json'].includes(row.body.kind), `${row.operation} declares its document`);
      }
    }
  });

  it('passes through object-level reads only where they return no object data, and checks their answers', () => {
    const reads = ROWS.filter(
      (row) =>
        row.level === 'object' && ['GET', 'HEAD'].includes(row.method) && row.treatment === 'passthrough',
    );
    assert.deepEqual(reads.map((row) => row.operation).sort(), [
      'GetObjectAcl',
      'GetObjectLegalHold',
      'GetObjectRetention',
      'GetObjectTagging',
    ]);
    for (const row of reads) assert.equal(responseRuleOf(row)?.kind, 'xml', row.operation);
    for (const row of ROWS.filter(
      (r) => r.level === 'object' && r.method === 'GET' && r.treatment !== 'refuse',
    ))
      if (row.operation !== 'GetObject')
        assert.ok(responseRuleOf(row), `${row.operation} declares its answer`);
  });

  it('is frozen, rows included', () => {
    for (const row of ROWS) {
      assert.ok(Object.isFrozen(row), row.operation);
      assert.ok(Object.isFrozen(row.headers) && Object.isFrozen(row.parameters) && Object.isFrozen(row.body));
    }
  });
});

describe('the operations table against the current S3 API (@aws-sdk/client-s3)', () => {
  const commands = sdkCommandNames();

  it('names every operation of the SDK, as a row or as one that no request can name', () => {
    assert.ok(commands.length > 100, `found ${commands.length} commands`);
    const unnamed = commands.filter((name) => !isOperationName(name));
    assert.deepEqual(unnamed, []);
    const unknownToSdk = OPERATION_NAMES.filter(
      (name) =>
        name !== 'Unknown' && name !== 'PostObject' && name !== 'AppendObject' && !commands.includes(name),
    );
    // PostObject (a browser form) and AppendObject (PutObject with an offset) have no command of their own.
    assert.deepEqual(unknownToSdk, []);
  });

  for (const name of commands) {
    if (name in UNROUTED_OPERATIONS) continue;
    it(`${name}: method, level, sub-resources, query parameters and documents as the SDK's model has them`, () => {
      const sdk = sdkOperation(name);
      const row = rowOf(name as OperationName);
      assert.ok(row, name);
      assert.equal(row.method, sdk.method);
      assert.equal(row.level, sdk.level);
      const accepted = new Set([...row.requires.map((r) => r.name), ...row.parameters]);
      for (const [query, value] of sdk.uriQuery) {
        const requirement: QueryRequirement | undefined = row.requires.find((r) => r.name === query);
        assert.ok(requirement, `${name} requires ?${query}`);
        if (value !== '') assert.deepEqual(requirement.value, { kind: 'exactly', value });
        else assert.equal(requirement.value.kind, 'empty', query);
      }
      for (const member of sdk.queryMembers) {
        assert.ok(accepted.has(member.name), `${name} accepts ${member.name}`);
        if (row.requires.some((r) => r.name === member.name)) assert.ok(member.required, member.name);
      }
      for (const requirement of row.requires) {
        assert.ok(
          sdk.uriQuery.has(requirement.name) || sdk.queryMembers.some((m) => m.name === requirement.name),
          `the SDK sends ${requirement.name}`,
        );
      }
      assert.deepEqual(sdk.queryMaps, []);
      if (row.treatment === 'refuse') return;
      const body = row.body;
      switch (sdk.payload.kind) {
        case 'xml':
          assert.equal(body.kind === 'xml' ? body.root : body.kind, sdk.payload.root);
          if (row.treatment === 'passthrough')
            assert.equal(body.kind === 'xml' && body.optional, !sdk.payload.required);
          break;
        case 'string':
          assert.equal(body.kind, 'json');
          break;
        case 'blob':
          assert.equal(body.kind, 'object-data');
          break;
        case 'none':
          assert.equal(body.kind, 'none');
      }
      const answer = responseRuleOf(row);
      if (answer !== undefined) assert.equal(answer.root, sdk.answerRoot);
    });
  }

  it('has no query parameter that takes several values, so refusing a repeated name loses nothing', () => {
    const lists = commands.flatMap((name) =>
      sdkOperation(name)
        .queryMembers.filter((member) => member.list)
        .map((member) => `${name}.${member.name}`),
    );
    assert.deepEqual(lists, []);
  });

  it('knows every query name the SDK sends', () => {
    const names = new Set(
      commands.flatMap((name) => {
        const sdk = sdkOperation(name);
        return [...sdk.uriQuery.keys(), ...sdk.queryMembers.map((m) => m.name)];
      }),
    );
    assert.deepEqual(
      [...names].filter((name) => !KNOWN_QUERY_NAMES.has(name)),
      [],
    );
  });
});
