// freePort hands out each loopback port once per process and once per machine for a minute: the
// kernel gives a just-closed port again, a Kannel start once got the same port for its sendsms
// listener and its SMSC, and two processes drawing at once were given the same ports.
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../devstack/child-process';

describe('freePort', () => {
  it('never hands out the same port twice in one process', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 500; i++) ports.push(await freePort());
    const repeated = ports.filter((port, i) => ports.indexOf(port) !== i);
    expect(repeated).toEqual([]);
  });

  it('never hands out one port to two processes drawing at the same moment', async () => {
    const source = path.resolve(__dirname, '../../devstack/child-process.ts');
    // each child waits for the same instant, draws 250 ports and prints them
    const draw = `const { freePort } = require(process.argv[1]);
      (async () => {
        await new Promise((r) => setTimeout(r, Math.max(0, Number(process.argv[2]) - Date.now())));
        const ports = [];
        for (let i = 0; i < 250; i++) ports.push(await freePort());
        process.stdout.write(JSON.stringify(ports));
      })();`;
    const at = String(Date.now() + 3_000);
    const run = () => promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', draw, source, at], { timeout: 60_000 });
    const [a, b] = await Promise.all([run(), run()]);
    const first = new Set<number>(JSON.parse(a.stdout));
    const second: number[] = JSON.parse(b.stdout);
    expect(first.size).toBe(250);
    expect(second.filter((port) => first.has(port))).toEqual([]);
  }, 90_000);

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
