import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * How a paused relay looks to a client:
 * - `refuse`: nothing listens on the port any more, so connects fail with ECONNREFUSED (a stopped server);
 * - `hang`: connections are accepted and then never answered (a server or network that has stalled);
 *   connections open at the moment of pausing are cut, as they would be by a crash;
 * - `silent`: a server stopped with SIGSTOP. Open connections stay open and new ones are accepted (the
 *   kernel completes the handshake), but not a byte moves either way; nothing is closed, so a client
 *   learns nothing but silence. `resume()` is SIGCONT: what was sent meanwhile is delivered then, and
 *   the connections accepted meanwhile are served.
 */
export type PauseMode = 'refuse' | 'hang' | 'silent';

export interface Relay {
  /** `http://127.0.0.1:<port>`: the address to give a client instead of the target's. */
  readonly addr: string;
  readonly port: number;
  readonly paused: PauseMode | null;
  pause(mode?: PauseMode): Promise<void>;
  /** Listens again on the same port and forwards new connections to the target. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP relay on loopback in front of `target`, that a test can switch off and on again while the
 * address its clients hold stays the same; `onClientData` sees every byte the client sends (what a proxy
 * in front of it puts on the wire). The relay never keeps the process alive by itself.
 */
export async function startRelay(
  target: { host: string; port: number },
  options: { onClientData?: (chunk: Buffer) => void } = {},
): Promise<Relay> {
  const forwarded = new Set<Socket>();
  const held = new Set<Socket>();
  /** Client → target pairs whose bytes are moving (not silenced). */
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  /** Connections accepted while silent, each waiting to be forwarded on resume. */
  const waiting = new Set<Socket>();
  let paused: PauseMode | null = null;
  let closed = false;

  function forward(client: Socket): void {
    const upstream = connect({ host: target.host, port: target.port });
    forwarded.add(client);
    forwarded.add(upstream);
    client.unref();
    upstream.unref();
    const pair = { client, upstream };
    const teardown = (): void => {
      client.destroy();
      upstream.destroy();
      forwarded.delete(client);
      forwarded.delete(upstream);
      pairs.delete(pair);
    };
    client.on('error', teardown).on('close', teardown);
    upstream.on('error', teardown).on('close', teardown);
    pairs.add(pair);
    if (options.onClientData) client.on('data', options.onClientData);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Stops every byte in both directions and stops reading, so the kernel's buffers fill as a stopped process's do. */
  function silence(): void {
    for (const { client, upstream } of pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  function unsilence(): void {
    for (const { client, upstream } of pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    for (const client of waiting) {
      waiting.delete(client);
      if (!client.destroyed) forward(client);
    }
  }

  function accept(client: Socket): void {
    if (paused === 'refuse' || closed) {
      client.destroy();
      return;
    }
    if (paused === 'hang') {
      client.unref();
      held.add(client);
      client.on('error', () => client.destroy()).on('close', () => held.delete(client));
      return;
    }
    if (paused === 'silent') {
      client.unref();
      client.pause();
      waiting.add(client);
      client.on('error', () => client.destroy()).on('close', () => waiting.delete(client));
      return;
    }
    forward(client);
  }

  function cut(sockets: Set<Socket>): void {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  }

  async function listen(port: number): Promise<Server> {
    const server = createServer(accept);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.unref();
    return server;
  }

  function closeServer(server: Server): Promise<void> {
    return new Promise((resolve) => server.close(() => resolve()));
  }

  let server: Server | null = await listen(0);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no TCP port');
  const port = address.port;

  return {
    addr: `http://127.0.0.1:${port}`,
    port,
    get paused() {
      return paused;
    },
    async pause(mode: PauseMode = 'refuse') {
      if (closed) throw new Error('relay is closed');
      if (paused === 'silent' && mode !== 'silent') unsilence();
      paused = mode;
      if (mode === 'silent') {
        silence();
        if (server === null) server = await listen(port);
        return;
      }
      cut(forwarded);
      if (mode === 'refuse') cut(held);
      if (mode === 'refuse' && server !== null) {
        const closing = closeServer(server);
        server = null;
        await closing;
      }
      if (mode === 'hang' && server === null) server = await listen(port);
    },
    async resume() {
      if (closed) throw new Error('relay is closed');
      const wasSilent = paused === 'silent';
      paused = null;
      if (wasSilent) unsilence();
      cut(held);
      if (server === null) {
        try {
          server = await listen(port);
        } catch (error) {
          throw new Error(`relay could not listen again on 127.0.0.1:${port}: ${String(error)}`);
        }
      }
    },
    async close() {
      closed = true;
      cut(forwarded);
      cut(held);
      cut(waiting);
      if (server !== null) {
        const closing = closeServer(server);
        server = null;
        await closing;
      }
    },
  };
}
