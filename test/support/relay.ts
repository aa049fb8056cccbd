import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * How a paused relay looks to a client:
 * - `refuse`: nothing listens on the port any more, so connects fail with ECONNREFUSED (a stopped server);
 * - `hang`: connections are accepted and then never answered (a server or network that has stalled).
 * Connections open at the moment of pausing are cut in both modes, as they would be by a crash.
 */
export type PauseMode = 'refuse' | 'hang';

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
  let paused: PauseMode | null = null;
  let closed = false;

  function forward(client: Socket): void {
    const upstream = connect({ host: target.host, port: target.port });
    forwarded.add(client);
    forwarded.add(upstream);
    client.unref();
    upstream.unref();
    const teardown = (): void => {
      client.destroy();
      upstream.destroy();
      forwarded.delete(client);
      forwarded.delete(upstream);
    };
    client.on('error', teardown).on('close', teardown);
    upstream.on('error', teardown).on('close', teardown);
    if (options.onClientData) client.on('data', options.onClientData);
    client.pipe(upstream);
    upstream.pipe(client);
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
      paused = mode;
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
      paused = null;
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
      if (server !== null) {
        const closing = closeServer(server);
        server = null;
        await closing;
      }
    },
  };
}
