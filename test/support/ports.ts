import { createServer, type Server } from 'node:net';

const LOOPBACK = '127.0.0.1';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listening server has no TCP port');
  return address.port;
}

/**
 * Distinct loopback ports that were free a moment ago. All are held open together before any is
 * released, so the kernel cannot hand the same port out twice. Another process may still take one
 * before our service binds it; callers retry the start when that happens.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listen(0));
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(close));
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  return port;
}

/** A free port whose successor is free too (OpenBao's dev server puts its cluster listener on port+1). */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await listen(0);
    const port = portOf(first);
    try {
      const second = await listen(port + 1);
      await close(second);
      return port;
    } catch {
      // successor taken: try another
    } finally {
      await close(first);
    }
  }
  throw new Error('could not find two consecutive free loopback ports');
}
