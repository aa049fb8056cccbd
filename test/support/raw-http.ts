import { request } from 'node:http';

export type RawResponse = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body as received, for binary content. */
  bytes: Buffer;
  sentContinue: boolean;
};

/**
 * A hand-made request, to send exactly the headers and bytes a client may send, including ones `fetch`
 * would change (it drops `Content-Length: 0` on a DELETE, as undici does) or wrong ones.
 */
export function rawRequest(
  url: string,
  options: { method: string; headers: Record<string, string>; body?: Buffer; expectContinue?: boolean },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let sentContinue = false;
    const req = request(url, { method: options.method, headers: options.headers });
    req.on('continue', () => {
      sentContinue = true;
      req.end(options.body);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          bytes: Buffer.concat(chunks),
          sentContinue,
        });
        // Answered without a 100 Continue: the body was never sent and never will be.
        if (options.expectContinue && !sentContinue) req.destroy();
      });
    });
    req.on('error', reject);
    if (!options.expectContinue) req.end(options.body);
  });
}
