import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutBucketCorsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { httpStatusOf, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { createS3Client, useServices } from '../support/services.ts';

/**
 * boto3 and the AWS CLI send `Content-Length: 0` on requests without a body (DELETEs, some GETs); undici
 * leaves it off the wire for methods that expect no payload, so a signature covering it could never match
 * (COMPAT 24). Each case runs twice, with and without the header, and must get the same answer.
 */
type Case = {
  operation: string;
  method: string;
  /** Prepares what the request needs (a fresh object to delete, an upload to abort) and returns its path. */
  path: (variant: string) => Promise<string>;
  headers?: Record<string, string>;
  /** The status S3 gives this request. */
  status: number;
  /** After a delete: true when the thing is gone. */
  gone?: (path: string) => Promise<boolean>;
};

describe('requests with an empty body and Content-Length: 0 reach the upstream with a signature that matches', () => {
  let proxy: ProxyProcess;
  let client: S3Client;
  let direct: S3Client;
  const bucket = uniqueBucket('empty-body');

  /** Bucket settings the Get* cases read and the Delete* cases remove, each put anew before a delete. */
  const bucketConfigurations = {
    tagging: () =>
      direct.send(
        new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: 'env', Value: 'test' }] } }),
      ),
    policy: () =>
      direct.send(
        new PutBucketPolicyCommand({
          Bucket: bucket,
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: '*',
                Action: 's3:GetObject',
                Resource: `arn:aws:s3:::${bucket}/*`,
              },
            ],
          }),
        }),
      ),
    lifecycle: () =>
      direct.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: bucket,
          LifecycleConfiguration: {
            Rules: [{ ID: 'expire', Status: 'Enabled', Filter: { Prefix: 'tmp/' }, Expiration: { Days: 1 } }],
          },
        }),
      ),
    cors: () =>
      direct.send(
        new PutBucketCorsCommand({
          Bucket: bucket,
          CORSConfiguration: { CORSRules: [{ AllowedMethods: ['GET'], AllowedOrigins: ['*'] }] },
        }),
      ),
  };

  before(async () => {
    const services = await useServices();
    proxy = await startProxy(services);
    client = proxyS3Client(proxy, { config: { maxAttempts: 1 } });
    direct = createS3Client(services);
    await direct.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'obj', Body: 'object body' }));
    await direct.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: 'obj',
        Tagging: { TagSet: [{ Key: 'team', Value: 'blue' }] },
      }),
    );
    for (const put of Object.values(bucketConfigurations)) await put();
  });
  after(async () => {
    await proxy?.stop();
  });

  const objectGone = async (path: string): Promise<boolean> => {
    const key = decodeURIComponent(path.split('?')[0]?.split('/').slice(2).join('/') ?? '');
    try {
      await direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return false;
    } catch (error) {
      return httpStatusOf(error) === 404;
    }
  };
  const fixed = (path: string) => async () => path;
  const afterPutting = (subresource: keyof typeof bucketConfigurations) => async () => {
    await bucketConfigurations[subresource]();
    return `/${bucket}?${subresource}`;
  };

  const cases: Case[] = [
    { operation: 'ListBuckets', method: 'GET', path: fixed('/'), status: 200 },
    {
      operation: 'CreateBucket',
      method: 'PUT',
      path: async (variant) => `/${bucket}-new-${variant}`,
      status: 200,
    },
    { operation: 'HeadBucket', method: 'HEAD', path: fixed(`/${bucket}`), status: 200 },
    { operation: 'GetBucketLocation', method: 'GET', path: fixed(`/${bucket}?location`), status: 200 },
    { operation: 'GetBucketTagging', method: 'GET', path: fixed(`/${bucket}?tagging`), status: 200 },
    { operation: 'GetBucketAcl', method: 'GET', path: fixed(`/${bucket}?acl`), status: 200 },
    { operation: 'GetBucketVersioning', method: 'GET', path: fixed(`/${bucket}?versioning`), status: 200 },
    { operation: 'GetBucketPolicy', method: 'GET', path: fixed(`/${bucket}?policy`), status: 200 },
    {
      operation: 'GetBucketLifecycleConfiguration',
      method: 'GET',
      path: fixed(`/${bucket}?lifecycle`),
      status: 200,
    },
    { operation: 'GetBucketCors', method: 'GET', path: fixed(`/${bucket}?cors`), status: 200 },
    { operation: 'ListMultipartUploads', method: 'GET', path: fixed(`/${bucket}?uploads`), status: 200 },
    { operation: 'ListObjectsV2', method: 'GET', path: fixed(`/${bucket}?list-type=2`), status: 200 },
    { operation: 'ListObjects', method: 'GET', path: fixed(`/${bucket}`), status: 200 },
    { operation: 'GetObject', method: 'GET', path: fixed(`/${bucket}/obj`), status: 200 },
    { operation: 'HeadObject', method: 'HEAD', path: fixed(`/${bucket}/obj`), status: 200 },
    { operation: 'GetObjectTagging', method: 'GET', path: fixed(`/${bucket}/obj?tagging`), status: 200 },
    { operation: 'GetObjectAcl', method: 'GET', path: fixed(`/${bucket}/obj?acl`), status: 200 },
    {
      operation: 'GetObjectAttributes',
      method: 'GET',
      path: fixed(`/${bucket}/obj?attributes`),
      headers: { 'x-amz-object-attributes': 'ObjectSize' },
      status: 200,
    },
    {
      operation: 'DeleteObjectTagging',
      method: 'DELETE',
      path: async (variant) => {
        const key = `tagged-${variant}`;
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
        await direct.send(
          new PutObjectTaggingCommand({
            Bucket: bucket,
            Key: key,
            Tagging: { TagSet: [{ Key: 'a', Value: 'b' }] },
          }),
        );
        return `/${bucket}/${key}?tagging`;
      },
      status: 204,
    },
    { operation: 'DeleteBucketTagging', method: 'DELETE', path: afterPutting('tagging'), status: 204 },
    { operation: 'DeleteBucketPolicy', method: 'DELETE', path: afterPutting('policy'), status: 204 },
    {
      operation: 'DeleteBucketLifecycle',
      method: 'DELETE',
      path: afterPutting('lifecycle'),
      status: 204,
    },
    { operation: 'DeleteBucketCors', method: 'DELETE', path: afterPutting('cors'), status: 204 },
    {
      operation: 'DeleteObject',
      method: 'DELETE',
      path: async (variant) => {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: `doomed-${variant}`, Body: 'bye' }));
        return `/${bucket}/doomed-${variant}`;
      },
      status: 204,
      gone: objectGone,
    },
    {
      operation: 'AbortMultipartUpload',
      method: 'DELETE',
      path: async (variant) => {
        const created = await client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: `aborted-${variant}` }),
        );
        return `/${bucket}/aborted-${variant}?uploadId=${encodeURIComponent(created.UploadId ?? '')}`;
      },
      status: 204,
      gone: async (path) => {
        const uploads = await direct.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
        return !(uploads.Uploads ?? []).some((upload) =>
          path.includes(encodeURIComponent(upload.UploadId ?? '')),
        );
      },
    },
    {
      operation: 'DeleteBucket',
      method: 'DELETE',
      path: async (variant) => {
        const doomed = `${bucket}-${variant}`;
        await direct.send(new CreateBucketCommand({ Bucket: doomed }));
        return `/${doomed}`;
      },
      status: 204,
      gone: async (path) => {
        try {
          await direct.send(new HeadBucketCommand({ Bucket: path.slice(1) }));
          return false;
        } catch (error) {
          return httpStatusOf(error) === 404;
        }
      },
    },
  ];

  for (const testCase of cases) {
    it(`${testCase.operation} (${testCase.method}) answers ${testCase.status} with and without Content-Length: 0`, async () => {
      for (const variant of ['without', 'with']) {
        const path = await testCase.path(`${variant}-cl`);
        const response = await rawRequest(`${proxy.endpoint}${path}`, {
          method: testCase.method,
          headers: { ...testCase.headers, ...(variant === 'with' ? { 'content-length': '0' } : {}) },
        });
        assert.doesNotMatch(response.body, /SignatureDoesNotMatch/, `${variant} Content-Length: 0`);
        assert.equal(response.status, testCase.status, `${variant} Content-Length: 0: ${response.body}`);
        if (testCase.gone)
          assert.ok(await testCase.gone(path), `${variant} Content-Length: 0: ${path} is gone`);
      }
    });
  }
});
