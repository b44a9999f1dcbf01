/**
 * A loopback TCP proxy a test can take down and bring back, to simulate a gateway outage without
 * touching the gateway: while down, connections are refused (the listener is closed) and open ones
 * are cut. With `loseAnswers(true)` requests still get through, but each connection is cut when the
 * answer starts to come back: the gateway acted on a request whose client never hears of it.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  down(): Promise<void>;
  up(): Promise<void>;
  loseAnswers(on: boolean): void;
  stop(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  let connections = 0;
  let losingAnswers = false;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((client) => {
        connections += 1;
        const upstream = net.connect({ port: targetPort, host: targetHost });
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.once('close', () => sockets.delete(sock));
          sock.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        upstream.on('data', (chunk: Buffer) => {
          if (!losingAnswers) return void client.write(chunk);
          client.destroy();
          upstream.destroy();
        });
        upstream.on('end', () => client.end());
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        const addr = s.address();
        if (typeof addr === 'object' && addr) port = addr.port;
        server = s;
        resolve();
      });
    });
  const close = () =>
    new Promise<void>((resolve) => {
      for (const sock of sockets) sock.destroy();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await listen();
  return {
    port,
    get connections() {
      return connections;
    },
    down: close,
    up: listen,
    loseAnswers: (on) => {
      losingAnswers = on;
    },
    stop: close,
  };
}
