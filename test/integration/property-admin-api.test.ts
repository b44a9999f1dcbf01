/**
 * Bad input on the ADMIN API (issue 6 "Bad input"), property-based (fast-check, fixed seed, bounded
 * runs) against the real stack (PostgreSQL, dev server, worker, HTTP):
 *  - auth on EVERY admin route, enumerated from the express app's router: 401 without a key, 401
 *    with a wrong key or a malformed Authorization header, 403 with a revoked key;
 *  - random, malformed, huge, wrong-typed bodies and unknown fields, random query strings and path
 *    ids on every route: never a 5xx, never a stack trace; every 4xx is JSON naming the problem
 *    (error.code, error.message, and error.field where a field is at fault);
 *  - payload size limit: a JSON body over 1 MB is a 413 JSON error on every route that takes a body.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { PLATFORMS } from '../../domain/install-options';
import { newSecret, sha256Hex } from '../../services/secrets';
import {
  adminRoutes,
  expectJsonError,
  expectSuccessOrJsonError,
  FC,
  fillParams,
  headerText,
  hostileJson,
  jsonRequest,
  notABoolean,
  notAString,
  pathSegment,
  type RouteInfo,
  raw,
} from '../helpers/api-properties';
import { type Stack, startStack } from '../helpers/stack';

let stack: Stack;
let routes: RouteInfo[];
let deviceId: string;
let softwareId: string;
let rolloutId: string;
const revokedKey = newSecret('dra');

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Routes that start real work on valid input; random bodies there are still checked, with fewer runs. */
const admin = (method: string, path: string, body?: unknown) => jsonRequest(stack.baseUrl, method, path, body, stack.adminKey);

beforeAll(async () => {
  stack = await startStack({ env: { DEVICE_RATE_LIMIT: 'off', LOG_LEVEL: 'fatal' } });
  routes = adminRoutes(createApp({ db: stack.db, temporal: stack.client, config: stack.config, log: () => undefined }));
  await stack.db('admin_keys').insert({ name: 'revoked', key_hash: sha256Hex(revokedKey), revoked_at: stack.db.fn.now() });
  // with an MSISDN: the SMS push of the valid rollouts reaches it (issue 14)
  const reg = await admin('POST', '/api/v1/devices', {
    devices: [{ externalId: `prop-${randomUUID()}`, platform: 'symbian', msisdn: '+4915100000003' }],
  });
  expect(reg.status).toBe(201);
  deviceId = reg.json.devices[0].id;
  const form = new FormData();
  form.append('name', 'Property Client');
  form.append('version', '1.0');
  form.append('kind', 'dme-client');
  form.append('platforms', 'symbian');
  form.append('file', new Blob([new Uint8Array(64)]), 'client.sisx');
  const sw = await raw(stack.baseUrl, 'POST', '/api/v1/software', {
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  expect(sw.status).toBe(201);
  softwareId = sw.json.id;
  // a rollout whose first start is a year away: its workflow runs and answers the control routes
  const ro = await admin('POST', '/api/v1/rollouts', validRollout());
  expect(ro.status, ro.text).toBe(201);
  rolloutId = ro.json.id;
});
afterAll(async () => {
  await stack?.stop();
});

/** A real id for the params of a route, or a random uuid (unknown). */
function idFor(name: string, real: boolean): string {
  if (!real) return randomUUID();
  if (/rollout/i.test(name)) return rolloutId;
  if (/software/i.test(name)) return softwareId;
  if (/device/i.test(name)) return deviceId;
  return randomUUID();
}

function pathOf(route: RouteInfo, real = false): string {
  const kind = route.path.includes('/software')
    ? 'software'
    : route.path.includes('/devices')
      ? 'device'
      : route.path.includes('/rollouts')
        ? 'rollout'
        : 'other';
  return fillParams(route.path, () => idFor(kind, real));
}

const nextYear = () => `${new Date().getUTCFullYear() + 1}-06-01`;

/** A valid rollout request (one device, first start a year away). */
function validRollout(): Record<string, any> {
  return {
    softwareId,
    devices: { ids: [deviceId] },
    options: { useDm: false, push: 'sms', maxPushAttempts: 2 },
    schedule: {
      perDay: 10,
      startDate: nextYear(),
      weekdays: ['mon', 'tue'],
      window: { start: '09:00', end: '17:00' },
      timeZone: 'Europe/Berlin',
    },
    timeouts: { ticketLifetime: '1h', verification: '2d' },
    notify: ['ops@example.com'],
    failureThreshold: 1,
  };
}

/** Sets `path` (dotted) in a copy of `obj`. */
function withValue(obj: Record<string, any>, path: string, value: unknown): Record<string, any> {
  const copy = structuredClone(obj);
  const keys = path.split('.');
  let o = copy;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys[keys.length - 1]!] = value;
  return copy;
}

describe('auth on every admin route', () => {
  it('the admin router is enumerated from the app (and holds the SPEC routes)', () => {
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(keys).toEqual(
      expect.arrayContaining([
        'POST /api/v1/devices',
        'GET /api/v1/devices',
        'GET /api/v1/devices/:id',
        'POST /api/v1/software',
        'GET /api/v1/messages',
        'POST /api/v1/diagnostics/round-trip',
        'POST /api/v1/rollouts',
        'POST /api/v1/rollouts/preview',
        'GET /api/v1/rollouts/:id',
        'POST /api/v1/rollouts/:id/pause',
        'POST /api/v1/rollouts/:id/resume',
        'POST /api/v1/rollouts/:id/cancel',
        'PATCH /api/v1/rollouts/:id/schedule',
      ]),
    );
    // device endpoints and ticket links are NOT admin routes
    expect(keys.some((k) => k.includes('/device/') || k.includes(' /d/'))).toBe(false);
  });

  it('401 without a key, 401 with a wrong key, 403 with a revoked key — on every route', async () => {
    const wrong = newSecret('dra');
    for (const route of routes) {
      const path = pathOf(route);
      const body = BODY_METHODS.has(route.method) ? {} : undefined;
      const what = `${route.method} ${route.path}`;
      const none = await jsonRequest(stack.baseUrl, route.method, path, body, null);
      expectJsonError(none, `${what} without a key`, { status: 401, code: 'unauthorized' });
      const bad = await jsonRequest(stack.baseUrl, route.method, path, body, wrong);
      expectJsonError(bad, `${what} with a wrong key`, { status: 401, code: 'unauthorized' });
      const revoked = await jsonRequest(stack.baseUrl, route.method, path, body, revokedKey);
      expectJsonError(revoked, `${what} with a revoked key`, { status: 403, code: 'forbidden' });
      // a device token is not an admin key either
      const asDevice = await jsonRequest(stack.baseUrl, route.method, path, body, newSecret('drd'));
      expectJsonError(asDevice, `${what} with a device token`, { status: 401 });
    }
    // and the key itself still works (the 401s were about the key, not the route)
    expect((await admin('GET', '/api/v1/devices')).status).toBe(200);
  });

  it('property: any malformed Authorization header on any admin route is a 401 JSON error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: routes.length - 1 }),
        fc.oneof(
          headerText(),
          headerText(60).map((s) => `Bearer ${s}`),
          headerText(60).map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
          fc.constantFrom(
            'Bearer',
            'Bearer ',
            'bearer dra_',
            `Bearer ${stack.adminKey}x`,
            `Bearer ${stack.adminKey.slice(0, -1)}`,
            `Bearer  ${'a'.repeat(4000)}`,
          ),
        ),
        async (i, authorization) => {
          const route = routes[i]!;
          const res = await raw(stack.baseUrl, route.method, pathOf(route), {
            headers: { authorization, 'content-type': 'application/json' },
            body: BODY_METHODS.has(route.method) ? '{}' : undefined,
          });
          expectJsonError(res, `${route.method} ${route.path} with Authorization "${authorization.slice(0, 80)}"`, {
            status: 401,
          });
        },
      ),
      FC(150),
    );
  });
});

describe('any body, any path id, any query on every admin route', () => {
  it('property: hostile JSON bodies — never a 5xx, every 4xx a JSON error', async () => {
    const bodyRoutes = routes.filter((r) => BODY_METHODS.has(r.method));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: bodyRoutes.length - 1 }), fc.boolean(), hostileJson, async (i, real, body) => {
        const route = bodyRoutes[i]!;
        // (the live rollout is not cancelled here: the control-route property below needs it)
        // (nor is the device retired: the rollout requests below name it)
        const keep = route.path.endsWith('/cancel') || (route.method === 'DELETE' && route.path === '/api/v1/devices/:id');
        const res = await admin(route.method, pathOf(route, real && !keep), body);
        expectSuccessOrJsonError(res, `${route.method} ${route.path} ${JSON.stringify(body)?.slice(0, 200)}`);
      }),
      FC(200),
    );
  });

  it('property: malformed JSON is a 400 malformed_json on every route that takes a body', async () => {
    const bodyRoutes = routes.filter((r) => BODY_METHODS.has(r.method));
    const notJson = fc.oneof(
      fc.string({ minLength: 1, maxLength: 200 }).filter((s) => {
        try {
          JSON.parse(s);
          return false;
        } catch {
          return s.trim() !== '';
        }
      }),
      fc.constantFrom(
        '{',
        '{"devices": [',
        "{'a': 1}",
        '{"a": 1,}',
        'undefined',
        'NaN',
        '{"a": 01}',
        '[1, 2',
        '\u0000',
        '{"a":"\\x41"}',
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: bodyRoutes.length - 1 }), notJson, async (i, body) => {
        const route = bodyRoutes[i]!;
        const res = await raw(stack.baseUrl, route.method, pathOf(route), {
          headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
          body,
        });
        expectJsonError(res, `${route.method} ${route.path} body ${JSON.stringify(body).slice(0, 100)}`, {
          status: 400,
          code: 'malformed_json',
        });
      }),
      FC(120),
    );
  });

  it('property: random path ids are a 404 (or 400) JSON error, never a 5xx', async () => {
    const withParams = routes.filter((r) => r.path.includes(':'));
    expect(withParams.length).toBeGreaterThan(0);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: withParams.length - 1 }), pathSegment, async (i, seg) => {
        const route = withParams[i]!;
        // pathSegment is already URL-safe or deliberately percent-encoded: put it in as is
        const path = route.path.replace(/:(\w+)/g, () => seg);
        const res = await admin(route.method, path, BODY_METHODS.has(route.method) ? {} : undefined);
        expectJsonError(res, `${route.method} ${path.slice(0, 200)}`);
        expect([400, 404]).toContain(res.status);
      }),
      FC(150),
    );
  });

  it('property: random query strings on the list routes — never a 5xx; a 400 names the parameter', async () => {
    const lists = routes.filter((r) => r.method === 'GET');
    const names = fc.constantFrom(
      'limit',
      'cursor',
      'platform',
      'status',
      'table',
      'to',
      'channel',
      'installationId',
      'state',
      'filter',
      'tag',
      'installed',
      'below',
      'silentFor',
      'retired',
      'keyId',
      'targetId',
      'since',
      '__proto__',
      'x',
    );
    const values = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom(
        '0',
        '-1',
        '1',
        '500',
        '501',
        '1e3',
        '99999999999999999999999',
        '1.5',
        ' 5',
        'NaN',
        '',
        'null',
        '[]',
        'x'.repeat(3_000),
      ),
      fc.base64String({ maxLength: 200 }),
      // a cursor-looking value: base64url of JSON with the wrong shape
      fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url')),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: lists.length - 1 }),
        fc.boolean(),
        fc.array(fc.tuple(names, values), { minLength: 1, maxLength: 4 }),
        async (i, real, params) => {
          const route = lists[i]!;
          const qs = new URLSearchParams(params).toString();
          const res = await admin('GET', `${pathOf(route, real)}?${qs}`);
          const what = `GET ${route.path}?${qs.slice(0, 200)}`;
          expectSuccessOrJsonError(res, what);
          if (res.status === 400 && res.json.error.field !== undefined) {
            expect(
              params.map(([k]) => k),
              what,
            ).toContain(res.json.error.field);
          }
        },
      ),
      FC(250),
    );
  });
});

describe('POST /api/v1/devices', () => {
  const validDevice = fc.record({
    externalId: fc.stringMatching(/^[A-Za-z0-9]{6,20}$/).map((s) => `p-${s}-${randomUUID().slice(0, 8)}`),
    platform: fc.constantFrom(...PLATFORMS),
  });

  it('property: one field of one device broken — 400 naming devices.<i>.<field>', async () => {
    const broken = fc.oneof(
      fc.record({
        field: fc.constant('externalId'),
        value: fc.oneof(
          notAString,
          fc.constantFrom('', '   ', 'has space', 'tab\there', 'x'.repeat(129), 'x'.repeat(100_000), 'ü-umlaut'),
        ),
      }),
      fc.record({
        field: fc.constant('platform'),
        value: fc.oneof(notAString, fc.constantFrom('', 'Symbian', 'blackberry', 'ios ', null)),
      }),
      fc.record({
        field: fc.constant('msisdn'),
        value: fc.oneof(
          fc.integer(),
          fc.boolean(),
          fc.constantFrom('', '123', '+0123456789', 'abc', '1'.repeat(30), '+49 151 ☎'),
        ),
      }),
      fc.record({ field: fc.constant('bootstrapped'), value: notABoolean }),
      fc.record({
        field: fc.constant('installed'),
        value: fc.oneof(
          fc.constantFrom([], 'x', 1, true, { '': '1.0' }, { App: '' }, { App: 3 }, { App: null }, { App: { v: 1 } }),
          fc.constant(Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`App ${i}`, '1.0']))),
          fc.constant({ ['n'.repeat(201)]: '1.0' }),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(validDevice, { minLength: 1, maxLength: 3 }), fc.nat(), broken, async (devices, at, b) => {
        const i = at % devices.length;
        const list: Record<string, unknown>[] = devices.map((d) => ({ ...d }));
        list[i]![b.field] = b.value;
        const res = await admin('POST', '/api/v1/devices', { devices: list });
        expectJsonError(res, `devices[${i}].${b.field} = ${JSON.stringify(b.value)?.slice(0, 80)}`, {
          status: 400,
          code: 'invalid_request',
          field: new RegExp(`^devices\\.${i}\\.${b.field}(\\.|$)`),
        });
      }),
      FC(150),
    );
  });

  it('property: unknown fields are refused by name', async () => {
    const unknownKey = fc
      .stringMatching(/^[a-z][a-zA-Z]{2,15}$/)
      .filter((k) => !['externalId', 'platform', 'msisdn', 'bootstrapped', 'installed', 'tags', 'devices'].includes(k));
    await fc.assert(
      fc.asyncProperty(
        validDevice,
        unknownKey,
        fc.jsonValue({ maxDepth: 1 }),
        fc.boolean(),
        async (device, key, value, topLevel) => {
          const body = topLevel ? { devices: [device], [key]: value } : { devices: [{ ...device, [key]: value }] };
          const res = await admin('POST', '/api/v1/devices', body);
          const err = expectJsonError(res, `unknown field ${key}`, { status: 400, code: 'invalid_request' });
          expect(err.message).toContain(key);
          if (!topLevel) expect(err.field).toBe('devices.0');
        },
      ),
      FC(60),
    );
  });

  it('huge batches and wrong containers are 400 naming `devices`', async () => {
    for (const body of [
      {},
      { devices: [] },
      { devices: {} },
      { devices: 'all' },
      { devices: null },
      { devices: Array.from({ length: 1_001 }, (_, i) => ({ externalId: `huge-${i}`, platform: 'ios' })) },
    ]) {
      const res = await admin('POST', '/api/v1/devices', body);
      expectJsonError(res, JSON.stringify(body).slice(0, 60), { status: 400, field: 'devices' });
    }
    for (const body of [null, [], 'devices', 42, true]) {
      const res = await admin('POST', '/api/v1/devices', body);
      expectJsonError(res, JSON.stringify(body), { status: 400 });
    }
  });

  it('a body that is not JSON at all (text/plain, form) is a 400 naming what is missing', async () => {
    for (const [type, body] of [
      ['text/plain', '{"devices": []}'],
      ['application/x-www-form-urlencoded', 'devices=1'],
      ['application/xml', '<devices/>'],
    ] as const) {
      const res = await raw(stack.baseUrl, 'POST', '/api/v1/devices', {
        headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': type },
        body,
      });
      expectJsonError(res, type, { status: 400, field: 'devices' });
    }
  });

  it('property: any JSON value as a device — never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostileJson, { minLength: 1, maxLength: 3 }), async (devices) => {
        const res = await admin('POST', '/api/v1/devices', { devices });
        expectSuccessOrJsonError(res, JSON.stringify(devices)?.slice(0, 200));
      }),
      FC(120),
    );
  });
});

describe('POST /api/v1/software (multipart)', () => {
  it('property: random form fields and files — 201 or a 400/409 JSON error naming the field', async () => {
    const text = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom(
        '',
        ' ',
        'x'.repeat(300),
        'a\u0000b',
        'ios,android',
        '["ios"]',
        '[1]',
        '[',
        'true',
        'yes',
        'com.example.app',
      ),
    );
    const fields = fc.record(
      {
        name: text,
        version: text,
        kind: fc.oneof(text, fc.constantFrom('dme-client', 'other')),
        platforms: fc.oneof(text, fc.constantFrom('symbian', 'ios', 'android,symbian', '["windows-ce"]', 'blackberry')),
        inHouseIos: text,
        bundleId: text,
        extra: text,
      },
      { requiredKeys: [] },
    );
    const files = fc.array(
      fc.record({
        name: fc.oneof(
          fc.constantFrom(
            'a.cab',
            'a.exe',
            'a.sisx',
            'a.ipa',
            'a.apk',
            'noext',
            '.hidden',
            '../../etc/x.cab',
            'dir/a.CAB',
            'x'.repeat(300),
          ),
          fc.string({ maxLength: 20 }),
        ),
        size: fc.constantFrom(0, 1, 100),
      }),
      { maxLength: 3 },
    );
    const allowedFields = new Set(['name', 'version', 'kind', 'platforms', 'inHouseIos', 'bundleId', 'file', 'extra']);
    await fc.assert(
      fc.asyncProperty(fields, files, async (f, fs) => {
        const form = new FormData();
        for (const [k, v] of Object.entries(f)) form.append(k, v as string);
        for (const file of fs) form.append('file', new Blob([new Uint8Array(file.size)]), file.name);
        const res = await raw(stack.baseUrl, 'POST', '/api/v1/software', {
          headers: { authorization: `Bearer ${stack.adminKey}` },
          body: form,
        });
        const what = `${JSON.stringify(f).slice(0, 200)} files ${JSON.stringify(fs)}`;
        expectSuccessOrJsonError(res, what);
        if (res.status === 400 && res.json.error.field !== undefined) expect(allowedFields, what).toContain(res.json.error.field);
        if (res.status >= 400) expect([400, 409, 413], what).toContain(res.status);
      }),
      FC(100),
    );
  });

  it('a broken multipart body or a JSON body is a 400 JSON error', async () => {
    for (const [type, body] of [
      ['multipart/form-data; boundary=xyz', '--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nA'],
      ['multipart/form-data', 'no boundary'],
      ['multipart/form-data; boundary=xyz', 'garbage'],
      ['application/json', '{"name":"A","version":"1","kind":"other","platforms":"ios"}'],
    ] as const) {
      const res = await raw(stack.baseUrl, 'POST', '/api/v1/software', {
        headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': type },
        body,
      });
      expectJsonError(res, type, { status: 400 });
    }
  });
});

describe('rollout requests', () => {
  /** [field path, a wrong value] — the 400 must name the path (or a sub-path of it). */
  const broken: fc.Arbitrary<[string, unknown]> = fc.oneof(
    fc.tuple(fc.constant('softwareId'), fc.oneof(notAString, fc.constantFrom('x', '', randomUUID(), null))),
    fc.tuple(
      fc.constant('devices'),
      fc.constantFrom({}, { ids: [], filter: {} }, [], 'all', null, { filter: { platform: 'palm' } }, { ids: 'x' }),
    ),
    fc.tuple(
      fc.constant('devices.ids'),
      fc.oneof(
        fc.constantFrom([], ['x'], [1], [randomUUID()]),
        fc.uuid().map((u) => [u, u]),
      ),
    ),
    fc.tuple(fc.constant('options.push'), fc.constantFrom('email', 'SMS', 1, null, [])),
    fc.tuple(fc.constant('options.useDm'), notABoolean),
    fc.tuple(fc.constant('options.maxPushAttempts'), fc.constantFrom(0, 11, 1.5, -1, 'x', 1e308)),
    fc.tuple(fc.constant('schedule.perDay'), fc.constantFrom(0, 10_001, -1, 1.5, 'lots', 'Unlimited', null, 1e308)),
    fc.tuple(fc.constant('schedule.startDate'), fc.constantFrom('2026-13-01', '2026-02-30', '01/02/2026', 5, '', '99999-01-01')),
    fc.tuple(fc.constant('schedule.weekdays'), fc.constantFrom([], ['monday'], 'mon', [1], ['mon', 'mon'], null)),
    fc.tuple(fc.constant('schedule.window.start'), fc.constantFrom('25:00', '9:00', 5, '', '17:00', '24:00')),
    fc.tuple(fc.constant('schedule.window.end'), fc.constantFrom('24:01', '08:00', '09:00', 'noon', 9)),
    fc.tuple(
      fc.constant('schedule.timeZone'),
      fc.constantFrom('Mars/Olympus', '', 5, 'UTC+2', '../../etc/passwd', 'x'.repeat(5_000)),
    ),
    fc.tuple(
      fc.constant('notify'),
      fc.constantFrom(
        ['not-an-email'],
        'ops@example.com',
        [1],
        Array.from({ length: 51 }, (_, i) => `a${i}@example.com`),
      ),
    ),
    fc.tuple(fc.constant('timeouts.ticketLifetime'), fc.constantFrom('1y', 0, '-5m', 10 ** 12, '5', 999)),
    fc.tuple(fc.constant('failureThreshold'), fc.constantFrom(0, -1, 'x', 1.5)),
  );

  it('property: one field of a rollout request broken — 400 naming it (preview and create)', async () => {
    await fc.assert(
      fc.asyncProperty(broken, fc.constantFrom('/api/v1/rollouts/preview', '/api/v1/rollouts'), async ([path, value], route) => {
        const res = await admin('POST', route, withValue(validRollout(), path, value));
        const top = path.split('.').slice(0, 2).join('.');
        expectJsonError(res, `${route} ${path} = ${JSON.stringify(value)?.slice(0, 80)}`, {
          status: 400,
          code: 'invalid_request',
          field: new RegExp(`^${top.replace('.', '\\.')}(\\.|$)`),
        });
      }),
      FC(200),
    );
    // nothing was created by the refused requests
    expect(Number((await stack.db('rollouts').count({ n: '*' }))[0]!.n)).toBe(1);
  });

  it('property: unknown fields anywhere in a rollout request are refused by name', async () => {
    const unknownKey = fc
      .stringMatching(/^[a-z][a-zA-Z]{3,12}$/)
      .filter(
        (k) =>
          ![
            'softwareId',
            'devices',
            'options',
            'schedule',
            'timeouts',
            'notify',
            'failureThreshold',
            'ids',
            'filter',
            'useDm',
            'push',
            'maxPushAttempts',
            'perDay',
            'startDate',
            'weekdays',
            'window',
            'timeZone',
            'start',
            'end',
            'bootstrap',
            'dmInstall',
            'ticketLifetime',
            'verification',
            'platform',
          ].includes(k),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('', 'devices', 'options', 'schedule', 'schedule.window', 'timeouts'),
        unknownKey,
        async (at, key) => {
          const res = await admin('POST', '/api/v1/rollouts/preview', withValue(validRollout(), at ? `${at}.${key}` : key, 1));
          const err = expectJsonError(res, `${at}.${key}`, { status: 400, code: 'invalid_request' });
          expect(err.message).toContain(key);
        },
      ),
      FC(40),
    );
  });

  it('huge selections are refused by field', async () => {
    const ids = Array.from({ length: 20_001 }, () => randomUUID());
    const res = await admin('POST', '/api/v1/rollouts/preview', withValue(validRollout(), 'devices.ids', ids));
    expectJsonError(res, '20,001 ids', { status: 400, field: 'devices.ids' });
  });

  it('property: random schedule changes, pause/resume/cancel bodies on a live rollout — never a 5xx', async () => {
    const change = fc.oneof(
      hostileJson,
      fc.record(
        {
          perDay: fc.oneof(fc.integer({ min: -5, max: 20_000 }), fc.constant('unlimited'), hostileJson),
          startDate: fc.oneof(fc.constantFrom(nextYear(), '2026-02-30', ''), hostileJson),
          weekdays: fc.oneof(fc.subarray(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']), hostileJson),
          window: fc.oneof(
            fc.record({
              start: fc.constantFrom('08:00', '18:00', '24:00', 'x'),
              end: fc.constantFrom('09:00', '24:00', '07:00'),
            }),
            hostileJson,
          ),
          timeZone: fc.oneof(fc.constantFrom('Europe/Berlin', 'UTC', 'Nowhere/Else'), hostileJson),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        change,
        fc.constantFrom('PATCH schedule', 'POST pause', 'POST resume', 'POST cancel'),
        async (body, op) => {
          const [method, action] = op.split(' ') as [string, string];
          // cancel only with a body that cannot be a valid cancel request, so the rollout stays alive
          if (
            action === 'cancel' &&
            (body === null || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length === 0)
          )
            return;
          if (action === 'cancel' && Object.keys(body as object).every((k) => k === 'reason')) return;
          const res = await admin(method, `/api/v1/rollouts/${rolloutId}/${action}`, body);
          const what = `${op} ${JSON.stringify(body)?.slice(0, 200)}`;
          expectSuccessOrJsonError(res, what);
          if (res.status >= 400) expect([400, 404, 409], what).toContain(res.status);
          if (res.status === 400 && res.json.error.field !== undefined && action === 'schedule') {
            // unknown keys and non-object bodies are named by their parent, the schedule itself
            expect(res.json.error.field, what).toMatch(
              /^(schedule$|(schedule\.)?(perDay|startDate|weekdays|window|timeZone)(\.|$))/,
            );
          }
        },
      ),
      FC(120),
    );
    const view = await admin('GET', `/api/v1/rollouts/${rolloutId}`);
    expect(view.status).toBe(200);
    expect(['scheduled', 'paused', 'running']).toContain(view.json.state);
  });
});

describe('fleet management and access control bodies (issue 15)', () => {
  /** A value with whether the route must accept it. */
  type Tagged = { ok: boolean; value: unknown };
  const good = (a: fc.Arbitrary<unknown>) => a.map((value): Tagged => ({ ok: true, value }));
  const bad = (a: fc.Arbitrary<unknown>) => a.map((value): Tagged => ({ ok: false, value }));
  const tag = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/);
  const badTag = fc.oneof(notAString, fc.constantFrom('', 'Upper', 'a b', '-x', 'x'.repeat(65), 'ü'));

  /** Each field: absent, valid or broken; the answer is 2xx exactly when nothing given is broken. */
  async function checkFields(
    fields: Record<string, Tagged | undefined>,
    send: (body: Record<string, unknown>) => Promise<Awaited<ReturnType<typeof admin>>>,
    what: string,
    okStatus: number,
  ) {
    const body = Object.fromEntries(
      Object.entries(fields)
        .filter(([, t]) => t !== undefined)
        .map(([k, t]) => [k, t!.value]),
    );
    const brokenFields = Object.entries(fields)
      .filter(([, t]) => t && !t.ok)
      .map(([k]) => k);
    const res = await send(body);
    const label = `${what} ${JSON.stringify(body).slice(0, 200)}`;
    if (brokenFields.length === 0 && Object.keys(body).length > 0) {
      expect(res.status, `${label}: ${res.text.slice(0, 300)}`).toBe(okStatus);
      return;
    }
    const err = expectJsonError(res, label, { status: 400, code: 'invalid_request' });
    if (brokenFields.length > 0) expect(brokenFields, label).toContain(String(err.field).split('.')[0]);
  }

  it('property: PATCH /devices/:id — 200 exactly for valid changes, else a 400 naming a broken field; never a 5xx', async () => {
    const reg = await admin('POST', '/api/v1/devices', {
      devices: [{ externalId: `patch-${randomUUID()}`, platform: 'android' }],
    });
    const id = reg.json.devices[0].id;
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            msisdn: fc.oneof(
              good(fc.constantFrom('+4915100000001', '0049 151 000-00002', null)),
              bad(fc.constantFrom('12ab', '', 5, true)),
            ),
            bootstrapped: fc.oneof(good(fc.boolean()), bad(notABoolean)),
            tags: fc.oneof(
              good(fc.array(tag, { maxLength: 32 })),
              bad(
                fc.oneof(
                  fc.array(badTag, { minLength: 1, maxLength: 3 }),
                  fc.array(tag, { minLength: 33, maxLength: 40 }),
                  fc.constantFrom('berlin', 1, true, {}),
                ),
              ),
            ),
            platform: fc.oneof(good(fc.constantFrom(...PLATFORMS)), bad(fc.constantFrom('palm', '', 1, null))),
          },
          { requiredKeys: [] },
        ),
        async (fields) => checkFields(fields, (body) => admin('PATCH', `/api/v1/devices/${id}`, body), 'PATCH /devices/:id', 200),
      ),
      FC(150),
    );
  });

  it('property: POST /admin-keys — 201 exactly for a valid key request, else a 400 naming a broken field', async () => {
    const future = new Date(Date.now() + 86_400_000).toISOString();
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            name: fc.oneof(
              good(fc.string({ minLength: 1, maxLength: 50 }).filter((s) => s.trim() !== '')),
              bad(fc.oneof(notAString, fc.constantFrom('', '   ', 'x'.repeat(201)))),
            ),
            role: fc.oneof(
              good(fc.constantFrom('admin', 'operator', 'viewer')),
              bad(fc.constantFrom('root', 'Admin', '', 1, null)),
            ),
            expiresAt: fc.oneof(good(fc.constant(future)), bad(fc.constantFrom('2001-01-01T00:00:00Z', 'tomorrow', 5, ''))),
          },
          { requiredKeys: ['name', 'role'] },
        ),
        async (fields) => checkFields(fields, (b) => admin('POST', '/api/v1/admin-keys', b), 'POST /admin-keys', 201),
      ),
      FC(120),
    );
  });

  it('property: devices.filter on preview — any mix of fields: 200 or a 400 naming devices.filter…, never a 5xx', async () => {
    const filter = fc.record(
      {
        platform: fc.oneof(fc.constantFrom(...PLATFORMS), fc.constantFrom('palm', 1, null)),
        tags: fc.oneof(fc.array(tag, { maxLength: 3 }), fc.array(badTag, { minLength: 1, maxLength: 2 }), notAString),
        installed: fc.oneof(
          fc.record(
            {
              name: fc.oneof(
                fc.constantFrom('Property Client', 'property  client', 'Other'),
                fc.string({ maxLength: 20 }),
                notAString,
              ),
              below: fc.oneof(
                fc.constantFrom('1.0', '2', '1.0-rc1', 'v0.9 build 3', ''),
                fc.string({ maxLength: 10 }),
                fc.integer(),
              ),
              missing: fc.oneof(fc.constant(true), fc.constantFrom(false, 'yes', 1)),
            },
            { requiredKeys: [] },
          ),
          hostileJson,
        ),
        contactedWithin: fc.oneof(
          fc.constantFrom('30d', '12h', '1s', '0s', '3651d', '30 days', '', 5),
          fc.string({ maxLength: 8 }),
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(filter, async (f) => {
        const res = await admin('POST', '/api/v1/rollouts/preview?limit=5', { ...validRollout(), devices: { filter: f } });
        const what = `filter ${JSON.stringify(f).slice(0, 200)}`;
        expectSuccessOrJsonError(res, what);
        if (res.status >= 400) {
          expect(res.status, what).toBe(400);
          expect(res.json.error.field, `${what}: ${res.text.slice(0, 300)}`).toMatch(
            /^(devices\.filter|devices$|options\.useDm$)/,
          );
        }
      }),
      FC(150),
    );
  });
});

describe('payload size limit', () => {
  it('a JSON body over 1 MB is a 413 JSON error on every route that takes a body', async () => {
    const big = JSON.stringify({ devices: [{ externalId: 'big', platform: 'ios', pad: 'x'.repeat(1024 * 1024 + 10) }] });
    expect(big.length).toBeGreaterThan(1024 * 1024);
    for (const route of routes.filter((r) => BODY_METHODS.has(r.method))) {
      const res = await raw(stack.baseUrl, route.method, pathOf(route), {
        headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
        body: big,
      });
      expectJsonError(res, `${route.method} ${route.path}`, { status: 413, code: 'payload_too_large' });
    }
    // just under the limit is parsed (and refused for its content, not its size)
    const under = JSON.stringify({ devices: [{ externalId: 'under', platform: 'ios', pad: 'x'.repeat(1000 * 1000) }] });
    const ok = await raw(stack.baseUrl, 'POST', '/api/v1/devices', {
      headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
      body: under,
    });
    expectJsonError(ok, 'just under 1 MB', { status: 400, field: 'devices.0' });
  });

  it('a JSON body in an unsupported charset is a 4xx JSON error', async () => {
    const res = await raw(stack.baseUrl, 'POST', '/api/v1/devices', {
      headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json; charset=utf-32' },
      body: '{"devices":[]}',
    });
    expectJsonError(res, 'unsupported charset');
    expect([400, 415]).toContain(res.status);
  });
});
