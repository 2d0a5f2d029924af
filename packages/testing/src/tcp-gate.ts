import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpGate {
  /** host:port of the gate, to use instead of the target's. */
  port: number;
  /** Forwards connections from now on. */
  open(): void;
  close(): Promise<void>;
}

/**
 * A TCP port in front of a server (Redis, say) that starts closed: each connection is accepted and
 * dropped at once, as an unreachable server would look to a client that keeps reconnecting. Once
 * opened, connections are forwarded byte for byte.
 */
export async function startTcpGate(target: { host: string; port: number }): Promise<TcpGate> {
  let open = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => {
      open = true;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
