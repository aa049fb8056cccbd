/**
 * The current S3 API as the AWS SDK for JavaScript ships it: the command list (one
 * `dist-types/commands/*Command.d.ts` per operation) and each operation's HTTP binding from the SDK's
 * schemas (method, URI with its literal sub-resources, query members, payload, answer), read with
 * smithy's own schema reader. The operations table is checked against this, so an SDK update that adds
 * or changes an operation fails the unit tests.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as S3 from '@aws-sdk/client-s3';
import { NormalizedSchema } from '@smithy/core/schema';

const require = createRequire(import.meta.url);
const COMMANDS = join(dirname(require.resolve('@aws-sdk/client-s3/package.json')), 'dist-types', 'commands');

/** Every operation of the S3 API, by the SDK's command files. */
export function sdkCommandNames(): string[] {
  return readdirSync(COMMANDS)
    .filter((file) => file.endsWith('Command.d.ts'))
    .map((file) => file.slice(0, -'Command.d.ts'.length))
    .sort();
}

export type SdkPayload =
  | { kind: 'none' }
  | { kind: 'xml'; root: string; required: boolean }
  | { kind: 'string'; required: boolean }
  | { kind: 'blob'; required: boolean };

export type SdkOperation = {
  name: string;
  method: string;
  /** 'object' when the URI has `{Key+}`, 'bucket' when the input has a Bucket, else 'service'. */
  level: 'service' | 'bucket' | 'object';
  /** The query written into the URI (`?tagging`, `?list-type=2`), `x-id` left out. */
  uriQuery: Map<string, string>;
  /** Query members: name on the wire, and whether the SDK can send several values. */
  queryMembers: { name: string; list: boolean; required: boolean }[];
  /** Query members bound as a map of arbitrary names (`httpQueryParams`). */
  queryMaps: string[];
  payload: SdkPayload;
  /** The answer's XML root element, when the answer is an XML document. */
  answerRoot: string | undefined;
};

type OperationSchema = [number, string, string, { http: [string, string, number] }, unknown, unknown];

const resolve = (value: unknown): unknown => (typeof value === 'function' ? value() : value);

export function sdkOperation(name: string): SdkOperation {
  const schema = (S3 as unknown as Record<string, OperationSchema | undefined>)[`${name}$`];
  if (schema === undefined) throw new Error(`the SDK has no schema for ${name}`);
  const [method, uri] = schema[3].http;
  const input = NormalizedSchema.of(resolve(schema[4]) as never);
  const requiredCount = Number((input.getSchema() as unknown[])[6] ?? 0);
  const [path = '', query = ''] = uri.split('?', 2);
  const uriQuery = new Map<string, string>();
  for (const part of query === '' ? [] : query.split('&')) {
    const [key = '', value = ''] = part.split('=', 2);
    if (key !== 'x-id') uriQuery.set(key, value);
  }
  const queryMembers: SdkOperation['queryMembers'] = [];
  const queryMaps: string[] = [];
  let payload: SdkPayload = { kind: 'none' };
  let hasBucket = false;
  let index = 0;
  let unboundMembers = 0;
  for (const [memberName, member] of input.structIterator()) {
    const required = index++ < requiredCount;
    const traits = member.getMergedTraits() as Record<string, unknown>;
    if (memberName === 'Bucket') hasBucket = true;
    if (typeof traits.httpQuery === 'string') {
      queryMembers.push({ name: traits.httpQuery, list: member.isListSchema(), required });
    } else if (traits.httpQueryParams) {
      queryMaps.push(memberName);
    } else if (traits.httpPayload) {
      if (member.isStructSchema()) {
        payload = { kind: 'xml', root: String(traits.xmlName ?? member.getName()), required };
      } else if (member.isStringSchema()) payload = { kind: 'string', required };
      else payload = { kind: 'blob', required };
    } else if (
      traits.httpHeader === undefined &&
      traits.httpPrefixHeaders === undefined &&
      traits.httpLabel === undefined &&
      !['Bucket', 'Key'].includes(memberName)
    ) {
      unboundMembers++;
    }
  }
  // Members bound to nothing form the body, whose root element is the input's own name.
  if (payload.kind === 'none' && unboundMembers > 0) {
    const traits = input.getMergedTraits() as Record<string, unknown>;
    payload = { kind: 'xml', root: String(traits.xmlName ?? input.getName()), required: true };
  }
  return {
    name,
    method,
    level: path.includes('{Key+}') ? 'object' : hasBucket ? 'bucket' : 'service',
    uriQuery,
    queryMembers,
    queryMaps,
    payload,
    answerRoot: answerRootOf(resolve(schema[5])),
  };
}

function answerRootOf(outputSchema: unknown): string | undefined {
  const output = NormalizedSchema.of(outputSchema as never);
  if (!output.isStructSchema()) return undefined;
  for (const [, member] of output.structIterator()) {
    const traits = member.getMergedTraits() as Record<string, unknown>;
    if (traits.httpPayload) {
      return member.isStructSchema() ? String(traits.xmlName ?? member.getName()) : undefined;
    }
  }
  const xmlName = (output.getMergedTraits() as Record<string, unknown>).xmlName;
  return typeof xmlName === 'string' ? xmlName : undefined;
}
