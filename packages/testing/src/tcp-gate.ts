import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpGate {
  /** host:port of the gate, to use instead of the target's. */
  port: number;
  /** Forwards connections from now on. */
  open(): void;
  /**
   * The server gets stuck: nothing more is forwarded either way on open connections (they stay
   * open), and new connections are accepted and never answered.
   */
  freeze(): void;
  close(): Promise<void>;
}

/**
 * A TCP port in front of a server (Redis, say) that starts closed: each connection is accepted and
 * dropped at once, as an unreachable server would look to a client that keeps reconnecting. Once
 * opened, connections are forwarded byte for byte. With `whileClosed: 'hang'` a connection made
 * while closed is accepted and never answered instead (a server that is stuck), and stays so.
 */
export async function startTcpGate(target: { host: string; port: number }, options: { whileClosed?: 'drop' | 'hang' } = {}): Promise<TcpGate> {
  let open = false;
  let frozen = false;
  let hang = options.whileClosed === 'hang';
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    if (!open || frozen) {
      // 'hang': accepted and read, never answered (a server that is stuck); 'drop': closed at once.
      if (hang) client.resume();
      else client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    // Forwarded by hand, so a freeze can stop the bytes without closing anything.
    client.on('data', (chunk: Buffer) => {
      if (!frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!frozen) client.write(chunk);
    });
    client.once('end', () => upstream.end());
    upstream.once('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => {
      open = true;
    },
    freeze: () => {
      frozen = true;
      hang = true;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
