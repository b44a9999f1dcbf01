/**
 * Bad input on the DEVICE side (issue 6 "Bad input"), property-based (fast-check, fixed seed,
 * bounded runs) against the real stack: the device endpoints (`/api/v1/device/sync`, `/reports`)
 * with random, malformed, huge and wrong-typed bodies and unknown fields; bad device tokens; bad,
 * expired and revoked tickets on `/d/:ticket`; Range headers in and out of bounds (every answer is
 * checked against the file's bytes). Never a 5xx, never a stack trace; every 4xx is JSON naming the
 * problem. Also: the 1 MB body limit on the device endpoints.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import {
  expectJsonError,
  expectSane,
  expectSuccessOrJsonError,
  FC,
  headerText,
  hostileJson,
  jsonRequest,
  pathSegment,
  type RawResponse,
  raw,
} from '../helpers/api-properties';
import { type Stack, startStack } from '../helpers/stack';

let stack: Stack;
let token: string;
let deviceId: string;
let jobId: string;
let ticket: string;
let expiredTicket: string;
let revokedTicket: string;
const FILE = randomBytes(4099);
const FILE_SHA = createHash('sha256').update(FILE).digest('hex');

const device = (path: string, body: unknown, bearer: string | null = token) =>
  jsonRequest(stack.baseUrl, 'POST', `/api/v1/device${path}`, body, bearer);

beforeAll(async () => {
  // no worker: signals go to install workflows that do not exist (answered as harmless, D5)
  stack = await startStack({ noWorker: true, env: { DEVICE_RATE_LIMIT: 'off', LOG_LEVEL: 'fatal' } });
  const form = new FormData();
  form.append('name', 'Range Client');
  form.append('version', '2.0');
  form.append('kind', 'dme-client');
  form.append('platforms', 'symbian');
  form.append('file', new Blob([FILE]), 'client.sisx');
  const sw = await raw(stack.baseUrl, 'POST', '/api/v1/software', {
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  expect(sw.status).toBe(201);
  expect(sw.json.sha256).toBe(FILE_SHA);
  const reg = await stack.api('POST', '/api/v1/devices', {
    devices: [{ externalId: `prop-dev-${randomUUID()}`, platform: 'symbian', msisdn: '+4915100000001' }],
  });
  expect(reg.status).toBe(201);
  token = reg.body.devices[0].token;
  deviceId = reg.body.devices[0].id;
  const [rollout] = await stack
    .db('rollouts')
    .insert({ software_id: sw.json.id, options: {}, schedule: {}, state: 'running' })
    .returning('id');
  const [job] = await stack
    .db('installations')
    .insert({ rollout_id: rollout.id, device_id: deviceId, seq: 0, status: STATUS.waitingForDownload, method: 'mark' })
    .returning('id');
  jobId = job.id;
  const mk = async (secs: number, revoked = false, attempt = 1) => {
    const t = randomBytes(32).toString('base64url');
    await stack.db('push_tickets').insert({
      ticket: t,
      installation_id: jobId,
      file_id: sw.json.files[0].id,
      attempt,
      expires_at: stack.db.raw('now() + make_interval(secs => ?)', [secs]),
      revoked_at: revoked ? stack.db.fn.now() : null,
    });
    return t;
  };
  ticket = await mk(3600, false, 1);
  expiredTicket = await mk(-60, false, 2);
  revokedTicket = await mk(3600, true, 3);
});
afterAll(async () => {
  await stack?.stop();
});

describe('device authentication', () => {
  it('property: any malformed or unknown token is a 401 JSON error on every device endpoint', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/sync', '/reports', '/nothing-here'),
        fc.oneof(
          headerText(),
          headerText(80).map((s) => `Bearer ${s}`),
          fc.base64String({ minLength: 10, maxLength: 60 }).map((s) => `Bearer drd_${s}`),
          fc.constantFrom(
            '',
            'Bearer',
            'Bearer ',
            `Basic ${token}`,
            `Bearer ${token}x`,
            `Bearer ${token.slice(0, -1)}`,
            `Bearer ${stack.adminKey}`,
            `Bearer ${'a'.repeat(6_000)}`,
            `bearer  ${token} extra`,
          ),
        ),
        async (path, authorization) => {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (authorization) headers.authorization = authorization;
          const res = await raw(stack.baseUrl, 'POST', `/api/v1/device${path}`, { headers, body: '{"installed":{}}' });
          expectJsonError(res, `${path} with "${authorization.slice(0, 60)}"`, { status: 401, code: 'unauthorized' });
        },
      ),
      FC(150),
    );
  });

  it('a valid token on an unknown device path is a JSON 404', async () => {
    for (const [method, path] of [
      ['GET', '/sync'],
      ['POST', '/unknown'],
      ['DELETE', '/reports'],
    ] as const) {
      const res = await jsonRequest(stack.baseUrl, method, `/api/v1/device${path}`, method === 'GET' ? undefined : {}, token);
      expectJsonError(res, `${method} ${path}`, { status: 404 });
    }
  });
});

describe('POST /api/v1/device/sync', () => {
  it('property: any JSON body — 200 or a 400 JSON error naming the field', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileJson,
          fc.record({ installed: hostileJson }, { requiredKeys: [] }),
          fc.record(
            {
              installed: fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), { maxKeys: 5 }),
              info: hostileJson,
              reportedAt: hostileJson,
            },
            { requiredKeys: ['installed'] },
          ),
        ),
        async (body) => {
          const res = await device('/sync', body);
          const what = JSON.stringify(body)?.slice(0, 200) ?? 'undefined';
          expectSuccessOrJsonError(res, what);
          if (res.status === 200) expect(Array.isArray(res.json.pending), what).toBe(true);
          if (res.status >= 400) {
            // a top-level JSON value that is not an object is refused by the body parser
            expectJsonError(res, what, { status: 400 });
            expect(['invalid_request', 'malformed_json'], what).toContain(res.json.error.code);
            if (res.json.error.field !== undefined)
              expect(res.json.error.field, what).toMatch(/^(installed|info|reportedAt)(\.|$)/);
          }
        },
      ),
      FC(200),
    );
  });

  it('property: a broken inventory entry is a 400 naming installed.<name>', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.stringMatching(/^[A-Za-z][A-Za-z ]{0,20}[A-Za-z]$/),
        fc.oneof(
          fc.integer(),
          fc.boolean(),
          fc.constant(null),
          fc.array(fc.string(), { maxLength: 2 }),
          fc.constantFrom('', '   ', 'v'.repeat(101)),
        ),
        async (name, version) => {
          const res = await device('/sync', { installed: { Good: '1.0', [name]: version } });
          expectJsonError(res, `${name} = ${JSON.stringify(version)}`, { status: 400, field: `installed.${name}` });
        },
      ),
      FC(60),
    );
  });

  it('huge inventories and odd dates are refused by field', async () => {
    const cases: [unknown, string | RegExp][] = [
      [{}, 'installed'],
      [{ installed: Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`App ${i}`, '1'])) }, 'installed'],
      [{ installed: { ['n'.repeat(201)]: '1' } }, /^installed/],
      [{ installed: {}, reportedAt: '2026-02-30T25:61:00Z' }, 'reportedAt'],
      [{ installed: {}, reportedAt: 1_700_000_000 }, 'reportedAt'],
      [{ installed: {}, info: 'text' }, 'info'],
    ];
    for (const [body, field] of cases) {
      const res = await device('/sync', body);
      expectJsonError(res, JSON.stringify(body).slice(0, 80), { status: 400, field });
    }
  });

  it('deeply nested info and detail (within 1 MB) are a 400 naming the field, not a stack overflow', async () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const deepObj = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    for (const nested of [deep(5_000), deep(100_000), deepObj(20_000)]) {
      const sync = await raw(stack.baseUrl, 'POST', '/api/v1/device/sync', {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: `{"installed":{},"info":{"x":${nested}}}`,
      });
      expectJsonError(sync, `sync info nested ${nested.length}`, { status: 400, field: 'info' });
      const report = await raw(stack.baseUrl, 'POST', '/api/v1/device/reports', {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: `{"jobId":"${jobId}","phase":"download-begin","result":"failure","detail":${nested}}`,
      });
      expectJsonError(report, `report detail nested ${nested.length}`, { status: 400, field: 'detail' });
    }
  });
});

describe('POST /api/v1/device/reports', () => {
  it('property: any JSON body — 202 or a 4xx JSON error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileJson,
          fc.record(
            {
              jobId: fc.oneof(fc.constant(jobId), fc.uuid(), hostileJson),
              phase: fc.oneof(fc.constantFrom('download-begin', 'download-end', 'post-install'), hostileJson),
              result: fc.oneof(fc.constantFrom('success', 'failure'), hostileJson),
              detail: hostileJson,
              reportedAt: fc.oneof(
                fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
                hostileJson,
              ),
              extra: hostileJson,
            },
            { requiredKeys: [] },
          ),
        ),
        async (body) => {
          const res = await device('/reports', body);
          const what = JSON.stringify(body)?.slice(0, 200) ?? 'undefined';
          expectSuccessOrJsonError(res, what);
          if (res.status < 300) expect(res.status, what).toBe(202);
          else expect([400, 404], what).toContain(res.status);
        },
      ),
      FC(200),
    );
  });

  it('property: one wrong field is a 400 naming it; a job of another device or none is a 404', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('jobId', 'phase', 'result', 'reportedAt'),
        fc.oneof(fc.integer(), fc.boolean(), fc.constantFrom('', 'downloaded', 'SUCCESS', null, [], {})),
        async (field, value) => {
          const body: Record<string, unknown> = { jobId, phase: 'download-begin', result: 'success', [field]: value };
          const res = await device('/reports', body);
          const what = `${field} = ${JSON.stringify(value)}`;
          // a jobId that is a non-empty string but not one of this device's jobs is an unknown job
          if (field === 'jobId' && typeof value === 'string' && value !== '')
            expectJsonError(res, what, { status: 404, code: 'not_found' });
          else expectJsonError(res, what, { status: 400, code: 'invalid_request', field });
        },
      ),
      FC(60),
    );
    for (const other of [randomUUID(), 'job-1', 'x'.repeat(10_000)]) {
      const res = await device('/reports', { jobId: other, phase: 'download-begin', result: 'success' });
      expectJsonError(res, `jobId ${other.slice(0, 20)}`, { status: 404, code: 'not_found' });
    }
  });
});

describe('ticket links /d/:ticket', () => {
  it('property: unknown or malformed tickets are the same 404 JSON that reveals nothing', async () => {
    const reference = await raw(stack.baseUrl, 'GET', `/d/${randomBytes(32).toString('base64url')}`);
    expectJsonError(reference, 'unknown ticket', { status: 404, code: 'not_found' });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          pathSegment,
          fc
            .base64String({ minLength: 8, maxLength: 64 })
            .map((s) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '')),
          fc.constant(`${ticket.slice(0, -1)}A`),
        ),
        fc.constantFrom('', '/manifest.plist', '/x', '/../d'),
        fc.constantFrom('GET', 'HEAD'),
        async (seg, suffix, method) => {
          if (seg === ticket) return;
          const res = await raw(stack.baseUrl, method, `/d/${seg}${suffix}`);
          const what = `${method} /d/${seg.slice(0, 60)}${suffix}`;
          expectSane(res, what);
          expect(res.status, what).toBeGreaterThanOrEqual(400);
          if (method === 'GET') {
            expectJsonError(res, what);
            // an unknown ticket and an unknown path look alike; a malformed escape is a 400
            if (res.status === 404) expect(res.json.error.message, what).not.toMatch(/ticket|expired|revoked/i);
            else expect(res.status, what).toBe(400);
          }
        },
      ),
      FC(150),
    );
  });

  it("requests Node's HTTP parser refuses (huge URL or headers, malformed request) get a JSON error too", async () => {
    const port = Number(new URL(stack.baseUrl).port);
    const huge = 'a'.repeat(20_000);
    expectJsonError(await raw(stack.baseUrl, 'GET', `/d/${huge}`), 'a 20 kB URL', { status: 431, code: 'headers_too_large' });
    expectJsonError(
      await raw(stack.baseUrl, 'POST', '/api/v1/device/sync', { headers: { authorization: `Bearer ${huge}` } }),
      'a 20 kB token',
      {
        status: 431,
      },
    );
    for (const request of [
      'NOT HTTP AT ALL\r\n\r\n',
      'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
      'GET / HTTP/1.1\r\nbad header\r\n\r\n',
    ]) {
      expectJsonError(await rawSocket(port, request), JSON.stringify(request), { status: 400, code: 'malformed_request' });
    }
    // the server is still fine afterwards
    expect((await raw(stack.baseUrl, 'GET', '/health')).status).toBe(200);
  });

  it('expired and revoked tickets are a 410 JSON error; wrong methods a JSON 404', async () => {
    for (const t of [expiredTicket, revokedTicket]) {
      for (const suffix of ['', '/manifest.plist'])
        expectJsonError(await raw(stack.baseUrl, 'GET', `/d/${t}${suffix}`), `gone ${suffix}`, { status: 410, code: 'gone' });
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      expectJsonError(await raw(stack.baseUrl, method, `/d/${ticket}`, { body: '{}' }), method, { status: 404 });
    }
    // the manifest of a non-iOS file is a 404
    expectJsonError(await raw(stack.baseUrl, 'GET', `/d/${ticket}/manifest.plist`), 'manifest of a .sisx', { status: 404 });
  });

  it('property: Range headers in and out of bounds — 206 with exactly those bytes, 200 with the file, or 416 JSON', async () => {
    const size = FILE.length;
    const int = fc.oneof(
      fc.nat({ max: size + 10 }),
      fc.constantFrom(0, size - 1, size, size + 1, 2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER),
      fc.bigInt({ min: 0n, max: 10n ** 30n }),
    );
    const range = fc.oneof(
      fc.tuple(int, int).map(([a, b]) => `bytes=${a}-${b}`),
      int.map((a) => `bytes=${a}-`),
      int.map((b) => `bytes=-${b}`),
      fc.tuple(int, int, int, int).map(([a, b, c, d]) => `bytes=${a}-${b}, ${c}-${d}`),
      fc.tuple(fc.integer({ min: -5000, max: -1 }), int).map(([a, b]) => `bytes=${a}-${b}`),
      fc.constantFrom(
        'bytes=',
        'bytes=-',
        'bytes=--1',
        'bytes=1-2-3',
        'items=0-10',
        'bytes 0-10',
        'bytes=0x10-20',
        'bytes=1e3-',
        ' bytes = 5 - 9 ',
        'BYTES=0-0',
        'bytes=0-0,-1',
      ),
      headerText(40),
    );
    await fc.assert(
      fc.asyncProperty(
        range,
        fc.constantFrom('GET', 'HEAD'),
        fc.option(fc.constantFrom(`"${FILE_SHA}"`, '"other"', 'Thu, 01 Jan 1970 00:00:00 GMT'), { nil: undefined }),
        async (header, method, ifRange) => {
          const headers: Record<string, string> = { range: header };
          if (ifRange) headers['if-range'] = ifRange;
          const res = await fetch(`${stack.baseUrl}/d/${ticket}`, { method, headers });
          const body = Buffer.from(await res.arrayBuffer());
          const what = `${method} Range: ${header} If-Range: ${ifRange}`;
          expect([200, 206, 416], `${what} → ${res.status} ${body.toString().slice(0, 200)}`).toContain(res.status);
          expect(res.headers.get('accept-ranges'), what).toBe('bytes');
          if (res.status === 200) {
            expect(Number(res.headers.get('content-length')), what).toBe(size);
            if (method === 'GET') expect(body.equals(FILE), what).toBe(true);
          } else if (res.status === 206) {
            const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
            expect(m, what).not.toBeNull();
            const [start, end, total] = [Number(m![1]), Number(m![2]), Number(m![3])];
            expect(total, what).toBe(size);
            expect(start, what).toBeLessThanOrEqual(end);
            expect(end, what).toBeLessThan(size);
            expect(Number(res.headers.get('content-length')), what).toBe(end - start + 1);
            if (method === 'GET') expect(body.equals(FILE.subarray(start, end + 1)), what).toBe(true);
          } else {
            expect(res.headers.get('content-range'), what).toBe(`bytes */${size}`);
            if (method === 'GET') {
              const json = JSON.parse(body.toString());
              expect(json.error.code, what).toBe('range_not_satisfiable');
              expect(json.error.message, what).toMatch(/range/);
            }
          }
        },
      ),
      FC(250),
    );
  });
});

describe('payload size limit on the device endpoints', () => {
  it('a JSON body over 1 MB is a 413 JSON error; the token is still checked for smaller ones', async () => {
    const big = JSON.stringify({ installed: { App: '1' }, info: { pad: 'x'.repeat(1024 * 1024 + 1) } });
    for (const path of ['/sync', '/reports']) {
      const res = await raw(stack.baseUrl, 'POST', `/api/v1/device${path}`, {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: big,
      });
      expectJsonError(res, path, { status: 413, code: 'payload_too_large' });
    }
    const under = JSON.stringify({ installed: { App: '1' }, info: { pad: 'x'.repeat(1000 * 1000) } });
    const ok = await raw(stack.baseUrl, 'POST', '/api/v1/device/sync', {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: under,
    });
    expect(ok.status).toBe(200);
  });
});

/** Writes `request` on a new TCP connection and parses the HTTP/1.1 response the server sends before it closes. */
function rawSocket(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = new Headers(
        headerLines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string]),
      );
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text: body, json });
    });
  });
}
