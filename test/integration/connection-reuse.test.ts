/**
 * A client's connection outlives an upload through the proxy exactly as it does against S3 (issue 10): the
 * proxy reads every request body to its end and answers without `Connection: close`, so a keep-alive
 * client sends its next part on the same socket.
 *
 * aws-sdk-js v3 with its default request handler cannot show this: @smithy/node-http-handler sends every
 * request that carries `Expect: 100-continue` (S3 bodies of 2 MiB and more) through a throwaway
 * `keepAlive: false` agent, so each such request has a connection of its own and asks for
 * `Connection: close`, against SeaweedFS as much as against the proxy. Given an Agent instance, the SDK
 * keeps its sockets; that is the client measured here, next to a client that waits for the
 * `100 Continue` before it sends the body, as curl does.
 */
import assert from 'node:assert/strict';
import { Agent, type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { bodyBytes, createBucket, MiB, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { useServices } from '../support/services.ts';
import { signRequest } from '../support/signed-request.ts';

const CLIENT_CREDENTIALS = { accessKeyId: 'AKIDPROXYCLIENT', secretAccessKey: 'proxy-client-secret' };

/** A keep-alive agent that counts the connections it opens. */
class CountingAgent extends Agent {
  opened = 0;

  constructor(maxSockets: number) {
    super({ keepAlive: true, maxSockets });
  }

  override createConnection(
    ...args: Parameters<Agent['createConnection']>
  ): ReturnType<Agent['createConnection']> {
    this.opened++;
    return super.createConnection(...args);
  }
}

type Answer = {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
  sentContinue: boolean;
  socket: Socket;
};

/**
 * A signed request on `agent` that sends `Expect: 100-continue` and holds the body back until the proxy
 * asks for it, as curl does for bodies over 1 MiB.
 */
async function putAwaitingContinue(
  endpoint: string,
  agent: Agent,
  path: string,
  body: Buffer,
  query: Record<string, string> = {},
): Promise<Answer> {
  const { headers } = await signRequest(endpoint, {
    method: 'PUT',
    path,
    query,
    body,
    headers: { 'content-length': String(body.length) },
    credentials: CLIENT_CREDENTIALS,
  });
  const url = new URL(endpoint);
  const search = new URLSearchParams(query).toString();
  return new Promise((resolve, reject) => {
    let sentContinue = false;
    const req: ClientRequest = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: search === '' ? path : `${path}?${search}`,
        headers: { ...headers, expect: '100-continue' },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            sentContinue,
            socket: req.socket as Socket,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('continue', () => {
      sentContinue = true;
      req.end(body);
    });
    req.on('error', reject);
  });
}

describe('a client connection outlives uploads through the proxy, as against S3', () => {
  let proxy: ProxyProcess;
  const bucket = uniqueBucket('connection-reuse');

  before(async () => {
    const services = await useServices();
    proxy = await startProxy(services);
    await createBucket(proxyS3Client(proxy), bucket);
  });
  after(async () => {
    await proxy?.stop();
  });

  it('lib-storage Upload of 60 MiB in 5 MiB parts, 4 in flight, on a keep-alive agent opens at most 5 connections; further PUTs open none', async () => {
    const agent = new CountingAgent(50);
    const client: S3Client = proxyS3Client(proxy, { config: { requestHandler: { httpAgent: agent } } });
    try {
      const plaintext = patternBytes(60 * MiB, 3);
      const queueSize = 4;
      await new Upload({
        client,
        params: { Bucket: bucket, Key: 'lib-storage', Body: plaintext },
        partSize: 5 * MiB,
        queueSize,
      }).done();
      // 12 parts: one connection per part in flight, and the one CreateMultipartUpload opened.
      assert.ok(agent.opened <= queueSize + 1, `12 parts opened ${agent.opened} connections`);

      const afterUpload = agent.opened;
      for (let i = 0; i < 3; i++) {
        // 3 MiB: over the SDK's 2 MiB threshold for `Expect: 100-continue`.
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: `put/${i}`, Body: patternBytes(3 * MiB, i) }),
        );
      }
      assert.equal(agent.opened, afterUpload, 'sequential PUTs reuse an idle connection');

      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'lib-storage' }));
      assert.ok((await bodyBytes(got.Body)).equals(plaintext));
    } finally {
      client.destroy();
    }
  });

  it('PUT and UploadPart that wait for 100 Continue, as curl sends them, all go on one connection', async () => {
    const agent = new CountingAgent(1);
    const client = proxyS3Client(proxy);
    try {
      const created = await client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'curl-like' }),
      );
      const uploadId = created.UploadId ?? '';
      const answers: Answer[] = [];
      answers.push(
        await putAwaitingContinue(
          proxy.endpoint,
          agent,
          `/${bucket}/curl-like-put`,
          patternBytes(3 * MiB, 7),
        ),
      );
      for (const partNumber of [1, 2]) {
        answers.push(
          await putAwaitingContinue(
            proxy.endpoint,
            agent,
            `/${bucket}/curl-like`,
            patternBytes(5 * MiB, partNumber),
            {
              partNumber: String(partNumber),
              uploadId,
            },
          ),
        );
      }
      for (const answer of answers) {
        assert.equal(answer.status, 200, answer.body.toString());
        assert.ok(answer.sentContinue, 'the body went only after the 100 Continue');
        assert.notEqual(answer.headers.connection, 'close');
        assert.ok(
          answer.headers['content-length'] !== undefined || answer.headers['transfer-encoding'] !== undefined,
        );
      }
      assert.equal(agent.opened, 1, 'one connection carried the PUT and both parts');
      assert.ok(answers.every((answer) => answer.socket === answers[0]?.socket));
    } finally {
      client.destroy();
      agent.destroy();
    }
  });
});
