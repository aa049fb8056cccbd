import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MiB, patternBytes, uniqueBucket } from '../support/fixtures.ts';
import { type ProxyProcess, proxyS3Client, startProxy } from '../support/proxy-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { type Relay, startRelay } from '../support/relay.ts';
import { useServices } from '../support/services.ts';

/**
 * Request headers that change the shape of the upstream response body are not forwarded (COMPAT 25): the
 * Java SDK v2 sends `x-amz-te: append-md5` on GetObject, and AWS then appends an MD5 to the body, which
 * the proxy would read as ciphertext; `Accept-Encoding` would let a store or CDN compress ciphertext or a
 * listing the proxy parses; checksum mode and request checksums on reads describe ciphertext.
 */
const SHAPING_HEADERS = {
  'x-amz-te': 'append-md5',
  'accept-encoding': 'gzip, deflate, br',
  'x-amz-checksum-mode': 'ENABLED',
  'x-amz-checksum-crc32': 'AAAAAA==',
};

describe('request headers that change the upstream response body are not forwarded', () => {
  let proxy: ProxyProcess;
  let relay: Relay;
  let wire = '';
  const bucket = uniqueBucket('shaping');
  const single = patternBytes(200_000, 41);
  const multipart = patternBytes(11 * MiB, 42);

  before(async () => {
    const services = await useServices();
    const s3 = new URL(services.s3.endpoint);
    relay = await startRelay(
      { host: s3.hostname, port: Number(s3.port) },
      { onClientData: (chunk) => (wire += chunk.toString('latin1')) },
    );
    proxy = await startProxy(services, { env: { CLOUDTASER_S3PROXY_S3_ENDPOINT: relay.addr } });
    const client = proxyS3Client(proxy);
    await rawRequest(`${proxy.endpoint}/${bucket}`, { method: 'PUT', headers: {} });
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: single }));
    await new Upload({
      client,
      params: { Bucket: bucket, Key: 'multi', Body: multipart },
      partSize: 5 * MiB,
    }).done();
  });
  after(async () => {
    await proxy?.stop();
    await relay?.close();
  });

  /** The header lines of each upstream request whose request line starts with `requestLine`. */
  const upstreamRequests = (requestLine: string): string[] =>
    wire
      .split(/\r\n\r\n/)
      .filter((head) => head.split('\r\n').some((line) => line.startsWith(requestLine)))
      .map((head) => head.slice(head.indexOf(requestLine)).toLowerCase());

  const reads: Array<[string, string, string, Record<string, string>, Buffer | undefined]> = [
    ['GET single', 'GET', 'single', {}, single],
    [
      'GET single with Range',
      'GET',
      'single',
      { range: 'bytes=70000-140000' },
      single.subarray(70000, 140001),
    ],
    ['HEAD single', 'HEAD', 'single', {}, undefined],
    ['GET multipart', 'GET', 'multi', {}, multipart],
    ['GET multipart partNumber=2', 'GET', 'multi?partNumber=2', {}, multipart.subarray(5 * MiB, 10 * MiB)],
  ];
  for (const [name, method, path, headers, expected] of reads) {
    it(`${name}: none of x-amz-te, Accept-Encoding, checksum mode or a request checksum goes upstream, and the plaintext is exact`, async () => {
      wire = '';
      const response = await rawRequest(`${proxy.endpoint}/${bucket}/${path}`, {
        method,
        headers: { ...SHAPING_HEADERS, ...headers },
      });
      assert.ok(response.status === 200 || response.status === 206, `${response.status} ${response.body}`);
      if (expected !== undefined) assert.ok(response.bytes.equals(expected));
      const sent = upstreamRequests(`${method} /${bucket}/${path.split('?')[0]}`);
      assert.ok(sent.length > 0, `the proxy sent ${method} upstream: ${wire.slice(0, 300)}`);
      for (const request of sent)
        for (const header of Object.keys(SHAPING_HEADERS))
          assert.doesNotMatch(
            request,
            new RegExp(`^${header}:`, 'm'),
            `${header} went upstream:\n${request}`,
          );
    });
  }

  it('ListObjectsV2: Accept-Encoding does not go upstream, so the listing the proxy rewrites is plain XML', async () => {
    wire = '';
    const response = await rawRequest(`${proxy.endpoint}/${bucket}?list-type=2`, {
      method: 'GET',
      headers: { 'accept-encoding': 'gzip' },
    });
    assert.equal(response.status, 200);
    assert.match(response.body, new RegExp(`<Size>${single.length}</Size>`));
    const sent = upstreamRequests(`GET /${bucket}`);
    assert.ok(sent.length > 0);
    for (const request of sent) assert.doesNotMatch(request, /^accept-encoding:/m);
  });
});
