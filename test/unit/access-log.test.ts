import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { accessLog } from '../../api/http/access-log';

describe('access log', () => {
  it('writes one JSON line per request with the route pattern and the rollout id of the path', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const app = express();
    app.use(accessLog(pino({ level: 'debug' }, sink)));
    const router = express.Router();
    router.get('/rollouts/:id', (_req, res) => {
      res.json({ ok: true });
    });
    app.use('/api/v1', router);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/rollouts/r-42`);
      expect(res.status).toBe(200);
      await fetch(`http://127.0.0.1:${port}/nowhere`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      server.close();
    }
    expect(lines[0]).toMatchObject({
      msg: 'request',
      method: 'GET',
      route: '/api/v1/rollouts/:id',
      status: 200,
      rolloutId: 'r-42',
    });
    expect(typeof lines[0]?.ms).toBe('number');
    expect(lines[1]).toMatchObject({ route: 'unmatched', status: 404 });
  });
});
