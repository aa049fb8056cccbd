import type { Readable, Transform } from 'node:stream';
import { createSealStream } from '../envelope/index.ts';
import { ciphertextSize } from '../envelope/size.ts';
import { escapeXml } from '../s3/xml/error.ts';
import { abandonBody, drainBody, type UpstreamResponse } from '../upstream/client.ts';
import { preservedHeaders } from './copied-headers.ts';
import { freshDataKey, singlePartEnvelopeHeaders } from './data-key.ts';
import { sendEncrypted } from './encrypted-upload.ts';
import { presentETag } from './etag.ts';
import type { Exchange } from './exchange.ts';
import { encryptedObjectOf, firstString } from './object-read.ts';
import { answerXml, relayResponse } from './relay.ts';
import { copySourceKeyHeaders } from './server-side-encryption.ts';
import { checkMetadataSize } from './user-metadata.ts';

/**
 * CopyObject between locations mapped to different Transit keys: a server-side copy would leave the
 * destination with the source's key (which its location does not accept, so it could not be read there,
 * and which another tenant's token may hold). The source is read and verified through the proxy and sealed
 * again as a single-part object under a fresh data key of the destination's key, which the copy records.
 */
export async function copyUnderAnotherKey(
  exchange: Exchange,
  source: { bucket: string; key: string; versionId: string | undefined },
  head: UpstreamResponse,
  headers: Record<string, string>,
): Promise<void> {
  const { deps, s3 } = exchange;
  // SSE-C of the provider under ours: the source is read with the client's copy-source key headers.
  const sourceKey = copySourceKeyHeaders(exchange.req.headers);
  const object = await encryptedObjectOf(exchange, head, {
    sizes: 'located',
    target: { ...source, readHeaders: sourceKey },
  });
  if (object === undefined) throw new Error('copyUnderAnotherKey needs an encrypted source');
  const replace = (headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase() === 'REPLACE';
  for (const name of Object.keys(headers))
    if (name.startsWith('x-amz-copy-source') || name === 'x-amz-metadata-directive') delete headers[name];
  // With COPY (the default) the copy describes itself as the source does, as a server-side copy would.
  if (!replace) Object.assign(headers, preservedHeaders(head.headers));
  const plainSize = object.plainSize;
  // Wrapped before the source is read, so an unavailable Vault costs only a 503.
  const key = await freshDataKey(deps.keys, s3);
  const { dek, nonce } = key;
  let fetched: UpstreamResponse;
  try {
    fetched = await deps.upstream.send({
      method: 'GET',
      bucket: source.bucket,
      key: source.key,
      query: source.versionId === undefined ? [] : [['versionId', source.versionId]],
      headers: { ...sourceKey, 'if-match': firstString(head.headers.etag) ?? '' },
    });
  } catch (error) {
    dek.fill(0);
    throw error;
  }
  if (fetched.status !== 200) {
    dek.fill(0);
    await relayResponse(exchange, fetched);
    return;
  }
  let plaintext: Readable;
  let open: Transform | undefined;
  try {
    open = await object.open(undefined);
    // The same plaintext: the client's checksum stays true, sealed again under the copy's data key.
    const checksum = await object.checksum();
    Object.assign(headers, singlePartEnvelopeHeaders(key, plainSize, checksum));
    checkMetadataSize(headers, `/${s3.bucket}/${s3.key}`);
    const opened = open;
    fetched.body.on('error', (error) => opened.destroy(error));
    plaintext = fetched.body.pipe(opened);
  } catch (error) {
    dek.fill(0);
    open?.destroy();
    abandonBody(fetched.body);
    throw error;
  }
  const response = await sendEncrypted(exchange, {
    source: plaintext,
    stages: [],
    seal: createSealStream({ dek, nonce, plaintextSize: plainSize }),
    storedSize: ciphertextSize(plainSize),
    verify: () => {},
    request: { bucket: s3.bucket, key: s3.key, query: [], headers },
    done: () => dek.fill(0),
  });
  if (response.status !== 200) {
    await relayResponse(exchange, response);
    return;
  }
  drainBody(response.body);
  const etag = presentETag(firstString(response.headers.etag)) ?? '';
  const lastModified = new Date(firstString(response.headers.date) ?? Date.now()).toISOString();
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>${lastModified}</LastModified><ETag>${escapeXml(etag)}</ETag></CopyObjectResult>`;
  answerXml(exchange, response, xml);
}
