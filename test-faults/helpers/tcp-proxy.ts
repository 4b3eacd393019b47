import net from 'node:net';

/**
 * A loopback TCP proxy in front of a dependency, for fault drills. `pass` forwards; `blackhole`
 * stops forwarding in both directions on every connection, open or new, without a FIN or RST (a
 * partition, a failover that left the old primary's connections dead); `heal` forwards new
 * connections again while the black-holed ones stay dead, as after a failover; `refuse` resets
 * every connection at once. Nothing is buffered for black-holed sockets: bytes are dropped.
 */
export type TcpProxy = {
  port: number;
  blackhole(): void;
  heal(): void;
  refuse(): void;
  pass(): void;
  close(): Promise<void>;
  /** Connections accepted so far. */
  readonly accepted: number;
};

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  type Pair = { client: net.Socket; upstream: net.Socket | undefined; dead: boolean };
  const pairs = new Set<Pair>();
  let mode: 'pass' | 'blackhole' | 'refuse' = 'pass';
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: undefined, dead: mode === 'blackhole' };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      pair.upstream?.destroy();
    };
    client.on('error', drop).on('close', drop);
    client.on('data', (chunk) => {
      if (!pair.dead) pair.upstream?.write(chunk);
    });
    if (pair.dead) return;
    const upstream = net.connect(target.port, target.host);
    pair.upstream = upstream;
    client.pause();
    upstream.on('connect', () => client.resume());
    upstream.on('data', (chunk) => {
      if (!pair.dead) client.write(chunk);
    });
    upstream.on('error', drop).on('close', () => {
      if (!pair.dead) drop();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() { return accepted; },
    blackhole() {
      mode = 'blackhole';
      for (const p of pairs) p.dead = true;
    },
    heal() {
      mode = 'pass';
    },
    pass() {
      mode = 'pass';
    },
    refuse() {
      mode = 'refuse';
      for (const p of pairs) {
        p.client.resetAndDestroy();
        p.upstream?.destroy();
      }
      pairs.clear();
    },
    close: () => new Promise<void>((resolve) => {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      server.close(() => resolve());
    }),
  };
}
