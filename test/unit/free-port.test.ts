// freePort hands out each loopback port once per process: the kernel gives a just-closed port
// again, and a Kannel start once got the same port for its sendsms listener and its SMSC.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../devstack/child-process';

describe('freePort', () => {
  it('never hands out the same port twice in one process', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 2_000; i++) ports.push(await freePort());
    const repeated = ports.filter((port, i) => ports.indexOf(port) !== i);
    expect(repeated).toEqual([]);
  });

  it('hands out a port something can listen on', async () => {
    const port = await freePort();
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => srv.close(resolve));
  });
});
