import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { SigningSha256 } from '../../../src/upstream/signing-hash.ts';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

function signer(sha256: ConstructorParameters<typeof SignatureV4>[0]['sha256']): SignatureV4 {
  return new SignatureV4({
    credentials,
    region: 'eu-west-1',
    service: 's3',
    sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
}

describe('SigningSha256: the hashes @smithy/hash-node computes, keys held as KeyObjects', () => {
  it('SHA-256, and HMAC-SHA256 with a string, a Uint8Array and an ArrayBuffer key', async () => {
    const data = new TextEncoder().encode('GET\n/bucket/key\n\nhost:example\n');
    const key = new Uint8Array(32).map((_, i) => i * 7);
    for (const secret of [undefined, 'secret', key, key.buffer]) {
      const ours = new SigningSha256(secret);
      const theirs = new Hash('sha256', secret);
      ours.update(data);
      theirs.update(data);
      assert.deepEqual(Buffer.from(await ours.digest()), Buffer.from(await theirs.digest()));
    }
  });

  it('reset starts over with the same key; the same Uint8Array key object gives the same MAC every time', async () => {
    const key = new Uint8Array(32).fill(9);
    const hash = new SigningSha256(key);
    hash.update(new TextEncoder().encode('ignored'));
    hash.reset();
    hash.update(new TextEncoder().encode('data'));
    const first = Buffer.from(await hash.digest());
    const again = new SigningSha256(key);
    again.update(new TextEncoder().encode('data'));
    assert.deepEqual(Buffer.from(await again.digest()), first);
    const other = new SigningSha256(new Uint8Array(32).fill(8));
    other.update(new TextEncoder().encode('data'));
    assert.notDeepEqual(Buffer.from(await other.digest()), first);
  });

  it('@smithy/signature-v4 signs with it exactly as with @smithy/hash-node, request after request', async () => {
    const signingDate = new Date('2026-12-02T06:00:00Z');
    const ours = signer(SigningSha256);
    const theirs = signer(Hash.bind(null, 'sha256'));
    for (const path of ['/bucket/a', '/bucket/b/c', '/bucket/a']) {
      const request = () => ({
        method: 'PUT',
        protocol: 'http:',
        hostname: 'example',
        path,
        query: { partNumber: '2', uploadId: 'u' },
        headers: { host: 'example', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': '4096' },
      });
      const a = await ours.sign(request(), { signingDate });
      const b = await theirs.sign(request(), { signingDate });
      assert.equal(a.headers.authorization, b.headers.authorization);
    }
  });
});
