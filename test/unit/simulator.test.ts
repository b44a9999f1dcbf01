/**
 * Pure parts of the fleet simulator and the benchmark: knob assignment and the expected final status
 * per knob, the SMS link parser, the bounded-concurrency limiter, percentiles and the chart's buckets;
 * and the simulator's HTTP client against a local server (keep-alive, timeouts, retries).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { rebucket } from '../../bench/chart';
import { STATUS } from '../../domain/status';
import { linkInSms } from '../../simulator/device';
import { assignKnobs, expectedStatus, goesByDm, NO_FAILURES, seededRandom } from '../../simulator/expect';
import { ApiClient, endpointOf } from '../../simulator/http';
import { createLimiter } from '../../simulator/pool';
import { groupStalls, LatencyRecorder, percentile } from '../../simulator/stats';

describe('knob assignment', () => {
  it('gives each failure knob round(share × n) eligible devices, at most one knob per device, reproducibly', () => {
    const dmPath = Array.from({ length: 100 }, (_, i) => i % 2 === 0);
    const shares = {
      ...NO_FAILURES,
      interrupt: 0.3,
      neverBootstraps: 0.05,
      dmFails: 0.05,
      ignoresSms: 0.1,
      neverSyncs: 0.1,
      offline: 0.1,
    };
    const a = assignKnobs(dmPath, 'sms', shares, seededRandom(1));
    const count = (k: string) => a.knob.filter((x) => x === k).length;
    expect([count('neverBootstraps'), count('dmFails'), count('ignoresSms'), count('neverSyncs'), count('offline')]).toEqual([
      5, 5, 10, 10, 10,
    ]);
    a.knob.forEach((k, i) => {
      if (k === 'neverBootstraps' || k === 'dmFails') expect(dmPath[i]).toBe(true);
      if (k === 'ignoresSms') expect(dmPath[i]).toBe(false);
    });
    expect(a.interrupt.filter(Boolean)).toHaveLength(30);
    a.interrupt.forEach((x, i) => {
      if (x) expect(a.knob[i]).not.toBe('ignoresSms');
    });
    expect(assignKnobs(dmPath, 'sms', shares, seededRandom(1))).toEqual(a);
  });

  it('assigns fewer devices when not enough are eligible: DM knobs without a DM path, ignores SMS with Mark for installation', () => {
    const none = assignKnobs(
      [false, false, false, false],
      'mark',
      { ...NO_FAILURES, dmFails: 0.5, ignoresSms: 0.5 },
      seededRandom(2),
    );
    expect(none.knob).toEqual([null, null, null, null]);
  });
});

describe('expected final status', () => {
  const sms = { push: 'sms' as const, kind: 'dme-client' as const };
  it.each([
    [{ knob: null, dmPath: false }, sms, STATUS.downloadedVerified],
    [{ knob: 'ignoresSms', dmPath: false }, sms, STATUS.installationFailed],
    [{ knob: 'neverSyncs', dmPath: false }, sms, STATUS.unknownStatus],
    [{ knob: 'offline', dmPath: false }, sms, STATUS.downloadedVerified],
    [{ knob: null, dmPath: true }, sms, STATUS.installedVerified],
    [{ knob: 'neverSyncs', dmPath: true }, sms, STATUS.unknownStatus],
    [{ knob: 'neverBootstraps', dmPath: true }, sms, STATUS.downloadedVerified],
    [{ knob: 'dmFails', dmPath: true }, sms, STATUS.downloadedVerified],
    [{ knob: 'neverSyncs', dmPath: false }, { push: 'mark' as const, kind: 'dme-client' as const }, STATUS.installationFailed],
    [{ knob: null, dmPath: false }, { push: 'wap' as const, kind: 'other' as const }, STATUS.downloaded],
    [{ knob: 'neverSyncs', dmPath: true }, { push: 'sms' as const, kind: 'other' as const }, STATUS.installed],
  ] as const)('%o with %o → %s', (d, o, want) => {
    expect(expectedStatus(d, o)).toBe(want);
  });

  it('DME clients go by DM only to Symbian and Windows Mobile; other software to any DM-capable platform', () => {
    expect(goesByDm(true, 'dme-client', 'symbian', ['symbian', 'android'])).toBe(true);
    expect(goesByDm(true, 'dme-client', 'android', ['symbian', 'android'])).toBe(false);
    expect(goesByDm(true, 'other', 'android', ['android'])).toBe(true);
    expect(goesByDm(true, 'other', 'ios', ['ios'])).toBe(false);
    expect(goesByDm(false, 'dme-client', 'symbian', ['symbian'])).toBe(false);
  });
});

describe('SMS link parsing', () => {
  it('finds the ticket link, or the file link inside an itms-services manifest link', () => {
    expect(linkInSms('Install DME Client 5.2: http://localhost:3000/d/AbC_-123xyz')).toEqual({
      url: 'http://localhost:3000/d/AbC_-123xyz',
      manifest: false,
    });
    const manifest = `itms-services://?action=download-manifest&url=${encodeURIComponent('http://h:1/d/Tk_123456789/manifest.plist')}`;
    expect(linkInSms(`Install App 1.0: ${manifest}`)).toEqual({
      url: 'http://h:1/d/Tk_123456789/manifest.plist',
      manifest: true,
    });
    expect(linkInSms('no link here')).toBeUndefined();
  });

  it('labels latency series without ids or tickets', () => {
    expect(endpointOf('/d/AbC_-123xyz')).toBe('/d/:ticket');
    expect(endpointOf('/api/v1/rollouts/0b7c2b8e-1f2a-4c3d-9e8f-001122334455/cancel')).toBe('/api/v1/rollouts/:id/cancel');
  });

  it('groups slow requests whose times overlap into stalls; fast ones are not kept', () => {
    expect(
      groupStalls([
        { endpoint: 'sync', endedAtMs: 2_000, ms: 1_700 }, // 300 → 2,000
        { endpoint: 'reports', endedAtMs: 1_900, ms: 400 }, // 1,500 → 1,900: inside the first
        { endpoint: 'sync', endedAtMs: 2_300, ms: 500 }, // 1,800 → 2,300: overlaps, extends it
        { endpoint: 'reports', endedAtMs: 9_000, ms: 300 }, // 8,700 → 9,000: another stall
      ]),
    ).toEqual([
      { startMs: 300, endMs: 2_300, requests: 3, endpoints: { sync: 2, reports: 1 }, maxMs: 1_700 },
      { startMs: 8_700, endMs: 9_000, requests: 1, endpoints: { reports: 1 }, maxMs: 300 },
    ]);
    const rec = new LatencyRecorder(250);
    rec.record('a', 249, 200);
    rec.record('a', 251, 200);
    expect(rec.stalls()).toHaveLength(1);
    expect(rec.stalls()[0]).toMatchObject({ requests: 1, maxMs: 251 });
    rec.reset();
    expect(rec.stalls()).toEqual([]);
  });
});

describe('bounded concurrency', () => {
  it('never runs more than the limit at once and runs every task', async () => {
    const limit = createLimiter(3);
    let running = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limit(async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setImmediate(r));
          running--;
          return i;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(peak).toBe(3);
    await limit.idle();
    expect(limit.active + limit.waiting).toBe(0);
  });

  it('a failing task rejects its own promise only', async () => {
    const limit = createLimiter(1);
    const bad = limit(async () => {
      throw new Error('boom');
    });
    const good = limit(async () => 'ok');
    await expect(bad).rejects.toThrow('boom');
    await expect(good).resolves.toBe('ok');
  });
});

describe('statistics and chart buckets', () => {
  it('percentiles by nearest rank', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(s, 50), percentile(s, 99), percentile(s, 100)]).toEqual([50, 99, 100]);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('sums a per-second series into wider buckets as a per-second rate', () => {
    const perSecond: [number, number][] = [
      [0.5, 2],
      [1.5, 4],
      [2.5, 6],
      [3.5, 0],
      [4.5, 3],
    ];
    expect(rebucket(perSecond, 2)).toEqual([
      [1, 3],
      [3, 3],
      [4.5, 3],
    ]);
  });
});

describe('ApiClient over node:http', () => {
  it('reuses one keep-alive socket, retries timeouts and 503s, and sends and reads JSON and headers', async () => {
    let connections = 0;
    const hits: Record<string, number> = {};
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const path = req.url ?? '';
      hits[path] = (hits[path] ?? 0) + 1;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (path === '/slow') {
          const t = setTimeout(() => res.end('{}'), 1_000);
          res.on('close', () => clearTimeout(t));
          return;
        }
        if (path === '/flaky' && hits[path] === 1) {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"busy"}}');
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        res.writeHead(200, { 'content-type': 'application/json', 'x-echo': 'yes' });
        res.end(
          JSON.stringify({
            method: req.method,
            auth: req.headers.authorization ?? null,
            extra: req.headers['x-extra'] ?? null,
            type: req.headers['content-type'] ?? null,
            body: body ? JSON.parse(body) : null,
          }),
        );
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const latency = new LatencyRecorder();
    const api = new ApiClient({ baseUrl: base, adminKey: 'admin-key', latency, timeoutMs: 200, retries: 1 });
    try {
      // JSON both ways, Authorization (admin key, token, none), extra headers, headers readable
      const a = await api.expect([200], 'POST', '/echo', { body: { n: 1, s: 'ä' }, headers: { 'x-extra': 'x' } });
      expect(a.body).toEqual({
        method: 'POST',
        auth: 'Bearer admin-key',
        extra: 'x',
        type: 'application/json',
        body: { n: 1, s: 'ä' },
      });
      expect(a.headers.get('x-echo')).toBe('yes');
      expect(a.headers.get('content-type')).toBe('application/json');
      expect((await api.request('GET', '/echo', { token: 'device-token' })).body.auth).toBe('Bearer device-token');
      expect((await api.request('GET', '/echo', { token: null })).body.auth).toBeNull();
      const viaFetch = await api.fetch(`${base}/echo`, { method: 'PUT', body: Buffer.from('[1]') });
      expect([viaFetch.status, ((await viaFetch.json()) as { body: unknown }).body]).toEqual([200, [1]]);
      // keep-alive: five sequential requests, one connection
      for (let i = 0; i < 5; i++) await api.request('GET', '/echo');
      expect(connections).toBe(1);

      // a 503 is retried, then succeeds
      const flaky = await api.request('GET', '/flaky', { endpoint: 'flaky' });
      expect([flaky.status, hits['/flaky']]).toEqual([200, 2]);
      expect(latency.all().flaky?.statuses).toEqual({ 200: 1, 503: 1 });

      // slower than timeoutMs: a timeout (latency status 0), retried once, then thrown
      const t0 = performance.now();
      await expect(api.request('GET', '/slow', { endpoint: 'slow' })).rejects.toThrow(/timeout/);
      expect(performance.now() - t0).toBeLessThan(1_000);
      expect(hits['/slow']).toBe(2);
      expect(latency.all().slow?.statuses).toEqual({ 0: 2 });
      await expect(api.request('GET', '/slow', { retry: false })).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(hits['/slow']).toBe(3);
    } finally {
      // the client's idle keep-alive sockets close with the server's side of them
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
