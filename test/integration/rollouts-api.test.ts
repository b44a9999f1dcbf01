/**
 * The admin rollout API against the real stack (PostgreSQL + Temporal dev server + worker + HTTP):
 * validation naming every field (R1, R7, schedule), preview, the bulk write of a 100,000-device
 * rollout in a handful of statements, control Updates (pause/resume/schedule/cancel) with their
 * rejections, the Installing/Installed tables, job logs, and the OpenAPI document and docs page.
 *
 * Rollouts here start on a date a year ahead, so no install runs (the e2e test covers that).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../api/openapi';
import { STATUS } from '../../domain/status';
import { installationSeq } from '../../workflows/messages';
import { type Stack, startStack } from '../helpers/stack';

let stack: Stack;
let n = 0;
const ext = (p: string) => `${p}-${Date.now()}-${++n}`;
const FUTURE = `${new Date().getUTCFullYear() + 1}-03-02`; // a Tuesday… or not: only "far ahead" matters

async function registerDevices(platform: string, count: number): Promise<{ id: string; externalId: string }[]> {
  const res = await stack.api('POST', '/api/v1/devices', {
    // an MSISDN: an SMS push reaches them (issue 14: devices without one are refused or skipped)
    devices: Array.from({ length: count }, () => ({ externalId: ext(platform), platform, msisdn: '+4915100000001' })),
  });
  expect(res.status).toBe(201);
  return res.body.devices;
}

async function createSoftware(fields: Record<string, string>, files: string[]): Promise<string> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  for (const f of files) form.append('file', new Blob([`contents of ${f}`]), f);
  const res = await fetch(`${stack.baseUrl}/api/v1/software`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  const body = (await res.json()) as { id: string };
  expect(res.status).toBe(201);
  return body.id;
}

let android: { id: string; externalId: string }[];
let smartphones: { id: string; externalId: string }[];
let apkApp: string;
let cabOnly: string;
let iosInHouse: string;
let dmeClient: string;

beforeAll(async () => {
  stack = await startStack();
  android = await registerDevices('android', 5);
  smartphones = await registerDevices('windows-mobile-smartphone', 2);
  await registerDevices('ios', 1);
  apkApp = await createSoftware({ name: `app-${randomUUID()}`, version: '1.0', kind: 'other', platforms: 'android' }, [
    'app.apk',
  ]);
  cabOnly = await createSoftware(
    {
      name: `cab-${randomUUID()}`,
      version: '2.0',
      kind: 'other',
      platforms: 'windows-mobile-smartphone,windows-mobile-pocketpc',
    },
    ['client.cab'],
  );
  iosInHouse = await createSoftware(
    {
      name: `ios-${randomUUID()}`,
      version: '3.0',
      kind: 'other',
      platforms: 'ios',
      inHouseIos: 'true',
      bundleId: 'com.example.app',
    },
    ['app.ipa'],
  );
  dmeClient = await createSoftware(
    { name: `dme-${randomUUID()}`, version: '4.0', kind: 'dme-client', platforms: 'android,symbian' },
    ['dme.apk', 'dme.sisx'],
  );
});
afterAll(async () => {
  await stack?.stop();
});

const schedule = (over: Record<string, unknown> = {}) => ({
  perDay: 2,
  startDate: FUTURE,
  weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
  window: { start: '09:00', end: '17:00' },
  timeZone: 'Europe/Berlin',
  ...over,
});

describe('POST /api/v1/rollouts — validation names the field', () => {
  const valid = () => ({ softwareId: apkApp, devices: { ids: android.map((d) => d.id) }, schedule: schedule() });

  const cases: [string, (b: any) => unknown, string, RegExp][] = [
    ['softwareId missing', (b) => ({ ...b, softwareId: undefined }), 'softwareId', /softwareId/],
    ['softwareId unknown', (b) => ({ ...b, softwareId: randomUUID() }), 'softwareId', /no software with id/],
    ['devices missing', (b) => ({ ...b, devices: undefined }), 'devices', /devices/],
    [
      'devices both ids and filter',
      (b) => ({ ...b, devices: { ids: [android[0]!.id], filter: { platform: 'android' } } }),
      'devices',
      /exactly one/,
    ],
    ['devices.filter empty', (b) => ({ ...b, devices: { filter: {} } }), 'devices.filter', /at least one of/],
    ['devices.ids empty', (b) => ({ ...b, devices: { ids: [] } }), 'devices.ids', /at least one/],
    ['devices.ids not uuids', (b) => ({ ...b, devices: { ids: ['nope'] } }), 'devices.ids.0', /uuid/],
    ['devices.ids unknown', (b) => ({ ...b, devices: { ids: [randomUUID()] } }), 'devices.ids', /no such device/],
    ['devices.ids twice', (b) => ({ ...b, devices: { ids: [android[0]!.id, android[0]!.id] } }), 'devices.ids', /more than once/],
    [
      'devices.filter.platform unknown',
      (b) => ({ ...b, devices: { filter: { platform: 'palm' } } }),
      'devices.filter.platform',
      /must be one of/,
    ],
    [
      'devices.filter matches nothing',
      (b) => ({ ...b, devices: { filter: { platform: 'windows-ce' } } }),
      'devices.filter.platform',
      /no registered device/,
    ],
    ['options.push', (b) => ({ ...b, options: { push: 'fax' } }), 'options.push', /sms, wap, mark/],
    ['options.maxPushAttempts', (b) => ({ ...b, options: { maxPushAttempts: 50 } }), 'options.maxPushAttempts', /./],
    ['options unknown key', (b) => ({ ...b, options: { useDM: true } }), 'options', /useDM/],
    ['schedule.perDay 0', (b) => ({ ...b, schedule: schedule({ perDay: 0 }) }), 'schedule.perDay', /1 to 10000, or "unlimited"/],
    ['schedule.perDay too big', (b) => ({ ...b, schedule: schedule({ perDay: 10001 }) }), 'schedule.perDay', /10000/],
    [
      'schedule.startDate not a date',
      (b) => ({ ...b, schedule: schedule({ startDate: '2026-02-30' }) }),
      'schedule.startDate',
      /real calendar date/,
    ],
    ['schedule.weekdays empty', (b) => ({ ...b, schedule: schedule({ weekdays: [] }) }), 'schedule.weekdays', /at least one/],
    [
      'schedule.weekdays unknown',
      (b) => ({ ...b, schedule: schedule({ weekdays: ['mon', 'funday'] }) }),
      'schedule.weekdays.1',
      /mon/,
    ],
    [
      'schedule.window overnight',
      (b) => ({ ...b, schedule: schedule({ window: { start: '22:00', end: '06:00' } }) }),
      'schedule.window.end',
      /overnight windows are not supported/,
    ],
    [
      'schedule.window.start malformed',
      (b) => ({ ...b, schedule: schedule({ window: { start: '9am', end: '17:00' } }) }),
      'schedule.window.start',
      /HH:MM/,
    ],
    ['schedule.timeZone', (b) => ({ ...b, schedule: schedule({ timeZone: 'Mars/Olympus' }) }), 'schedule.timeZone', /IANA/],
    ['timeouts.bootstrap', (b) => ({ ...b, timeouts: { bootstrap: 'soon' } }), 'timeouts.bootstrap', /duration/],
    ['notify not emails', (b) => ({ ...b, notify: ['ops'] }), 'notify.0', /email/],
    ['failureThreshold', (b) => ({ ...b, failureThreshold: 0 }), 'failureThreshold', /./],
    ['unknown top-level key', (b) => ({ ...b, priority: 'high' }), '', /priority/],
  ];
  for (const [name, change, field, message] of cases) {
    it(`400: ${name}`, async () => {
      const res = await stack.api('POST', '/api/v1/rollouts', change(valid()));
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      if (field) expect(res.body.error.field).toBe(field);
      expect(res.body.error.message).toMatch(message);
    });
  }

  it('R1: Use DM for an in-house iOS app → 400 options.useDm with the reason', async () => {
    const res = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: iosInHouse,
      devices: { filter: { platform: 'ios' } },
      options: { useDm: true },
      schedule: schedule(),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('options.useDm');
    expect(res.body.error.message).toMatch(/in-house iOS apps: they are always installed by SMS push/);
  });

  it('R1: Use DM for a DME client on Android devices → 400 options.useDm naming the devices', async () => {
    const res = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: dmeClient,
      devices: { ids: android.slice(0, 2).map((d) => d.id) },
      options: { useDm: true },
      schedule: schedule(),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('options.useDm');
    expect(res.body.error.message).toContain('platform android');
    expect(res.body.error.message).toContain(android[0]!.externalId);
  });

  it('R7: a .cab-only package for Windows Mobile Smartphones → 400 devices naming them', async () => {
    const res = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: cabOnly,
      devices: { ids: smartphones.map((d) => d.id) },
      schedule: schedule(),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('devices');
    expect(res.body.error.message).toMatch(/\.cab files cannot be pushed or pulled to Windows Mobile Smartphones/);
    for (const d of smartphones) expect(res.body.error.message).toContain(d.externalId);
  });

  it('a device of a platform the software does not target → 400 devices', async () => {
    const res = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: apkApp,
      devices: { ids: [android[0]!.id, smartphones[0]!.id] },
      schedule: schedule(),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('devices');
    expect(res.body.error.message).toContain(smartphones[0]!.externalId);
    expect(res.body.error.message).toMatch(/does not target platform windows-mobile-smartphone/);
  });

  it('nothing is written by a refused request', async () => {
    const before = await stack.db('rollouts').count<{ count: string }[]>('* as count');
    await stack.api('POST', '/api/v1/rollouts', { softwareId: cabOnly, devices: { ids: smartphones.map((d) => d.id) } });
    const after = await stack.db('rollouts').count<{ count: string }[]>('* as count');
    expect(after[0]!.count).toBe(before[0]!.count);
  });
});

describe('POST /api/v1/rollouts/preview', () => {
  it('the planned start of every device and the starts per day; nothing written or started', async () => {
    const rolloutsBefore = (await stack.db('rollouts').count<{ c: string }[]>('* as c'))[0]!.c;
    const res = await stack.api('POST', '/api/v1/rollouts/preview', {
      softwareId: apkApp,
      devices: { ids: android.map((d) => d.id) },
      schedule: schedule({ perDay: 2, startDate: '2031-03-03', timeZone: 'UTC' }), // a Monday
    });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(5);
    expect(res.body.slots).toEqual([
      { deviceId: android[0]!.id, at: '2031-03-03T09:00:00.000Z', date: '2031-03-03', group: 'all', method: 'sms' },
      { deviceId: android[1]!.id, at: '2031-03-03T13:00:00.000Z', date: '2031-03-03', group: 'all', method: 'sms' },
      { deviceId: android[2]!.id, at: '2031-03-04T09:00:00.000Z', date: '2031-03-04', group: 'all', method: 'sms' },
      { deviceId: android[3]!.id, at: '2031-03-04T13:00:00.000Z', date: '2031-03-04', group: 'all', method: 'sms' },
      { deviceId: android[4]!.id, at: '2031-03-05T09:00:00.000Z', date: '2031-03-05', group: 'all', method: 'sms' },
    ]);
    expect(res.body.days).toEqual([
      { date: '2031-03-03', count: 2 },
      { date: '2031-03-04', count: 2 },
      { date: '2031-03-05', count: 1 },
    ]);
    expect(res.body.slotsTruncated).toBe(false);
    expect(res.body.options).toEqual({ useDm: false, push: 'sms', maxPushAttempts: 3 });
    expect((await stack.db('rollouts').count<{ c: string }[]>('* as c'))[0]!.c).toBe(rolloutsBefore);
  });

  it('S5: a quota above the fleet (and so a last, partial day) spreads the devices over the whole window', async () => {
    const res = await stack.api('POST', '/api/v1/rollouts/preview', {
      softwareId: apkApp,
      devices: { ids: android.map((d) => d.id) },
      schedule: schedule({ perDay: 10, startDate: '2031-03-03', timeZone: 'UTC' }), // a Monday, 09:00–17:00
    });
    expect(res.status).toBe(200);
    // 5 devices, 10/day: 480 min ÷ 5 = one every 96 minutes from 09:00 (not every 48, crowded into the morning)
    expect(res.body.slots.map((s: { at: string }) => s.at)).toEqual(
      ['09:00', '10:36', '12:12', '13:48', '15:24'].map((hm) => `2031-03-03T${hm}:00.000Z`),
    );
    expect(res.body.days).toEqual([{ date: '2031-03-03', count: 5 }]);
  });

  it('in-house iOS apps go by SMS push whatever is asked (R6)', async () => {
    const res = await stack.api('POST', '/api/v1/rollouts/preview', {
      softwareId: iosInHouse,
      devices: { filter: { platform: 'ios' } },
      options: { push: 'mark' },
      schedule: schedule(),
    });
    expect(res.status).toBe(200);
    expect(res.body.options.push).toBe('sms');
  });

  it('validates like POST /rollouts (400 naming the field)', async () => {
    const res = await stack.api('POST', '/api/v1/rollouts/preview', {
      softwareId: apkApp,
      devices: { ids: [android[0]!.id] },
      schedule: schedule({ window: { start: '18:00', end: '08:00' } }),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('schedule.window.end');
    const badLimit = await stack.api('POST', '/api/v1/rollouts/preview?limit=0', {
      softwareId: apkApp,
      devices: { ids: [android[0]!.id] },
    });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.field).toBe('limit');
  });
});

describe('a 100,000-device rollout', () => {
  const FLEET = 100_000;
  let rolloutId: string;

  it('is written with one INSERT … SELECT (not 100,000 round trips), ids encoding their seq, then cancelled before any start', async () => {
    const platform = 'windows-ce';
    await stack.db.raw(
      `INSERT INTO devices (external_id, platform, msisdn, token_hash, created_at)
       SELECT 'bulk-' || g, ?, '+4915100000001', md5('bulk-token-' || g), now() + g * interval '1 microsecond' FROM generate_series(1, ?) g`,
      [platform, FLEET],
    );
    const software = await createSoftware({ name: `ce-${randomUUID()}`, version: '1', kind: 'other', platforms: platform }, [
      'ce.cab',
    ]);
    const body = { softwareId: software, devices: { filter: { platform } }, schedule: schedule({ perDay: 10000 }) };

    const preview = await stack.api('POST', '/api/v1/rollouts/preview?limit=100', body);
    expect(preview.status).toBe(200);
    expect(preview.body.slots).toHaveLength(100);
    expect(preview.body.slotsTruncated).toBe(true);
    expect(preview.body.days.map((d: { count: number }) => d.count)).toEqual(Array(10).fill(10000)); // complete
    expect(preview.body.slots[0].deviceId).toBe(
      (await stack.db('devices').where({ platform }).orderBy(['created_at', 'id']).first('id')).id,
    );

    const statements: string[] = [];
    const onQuery = (q: { sql: string }) => statements.push(q.sql);
    stack.db.on('query', onQuery);
    const res = await stack.api('POST', '/api/v1/rollouts', body);
    stack.db.off('query', onQuery);
    expect(res.status).toBe(201);
    rolloutId = res.body.id;
    expect(res.body).toEqual({ id: rolloutId, workflowId: `rollout/${rolloutId}`, total: FLEET });
    // validation + one insert of the rollout + ONE insert of all installation rows
    expect(statements.filter((s) => /insert into "?installations/i.test(s))).toHaveLength(1);
    expect(statements.length).toBeLessThan(20);

    const agg = await stack
      .db('installations')
      .where({ rollout_id: rolloutId })
      .first(stack.db.raw('count(*)::int as n, min(seq) as lo, max(seq) as hi, count(file_id)::int as with_file'));
    expect(agg).toMatchObject({ n: FLEET, lo: 0, hi: FLEET - 1, with_file: FLEET });
    const sample = await stack
      .db('installations')
      .where({ rollout_id: rolloutId })
      .whereIn('seq', [0, 1, 4242, FLEET - 1])
      .select('id', 'seq');
    for (const r of sample) expect(installationSeq(rolloutId, r.id)).toBe(r.seq);

    // the workflow is there, with its search attributes, waiting for a start date far ahead
    const desc = await stack.client.workflow.getHandle(`rollout/${rolloutId}`).describe();
    expect(desc.status.name).toBe('RUNNING');
    expect(desc.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])).toEqual(
      expect.arrayContaining([
        ['RolloutId', rolloutId],
        ['RolloutState', 'scheduled'],
      ]),
    );

    // Its progress while the workflow answers (planned: the next start is known): the status counts
    // are PostgreSQL's, everything else the workflow's — one statement reads the jobs, not a pass over
    // all 100,000 of them for figures the workflow has.
    let reads: string[] = [];
    const onRead = (q: { sql: string }) => reads.push(q.sql);
    const progressRead = async () => {
      reads = [];
      stack.db.on('query', onRead);
      try {
        return (await stack.api('GET', `/api/v1/rollouts/${rolloutId}`)).body;
      } finally {
        stack.db.off('query', onRead);
      }
    };
    await expect
      .poll(
        async () => {
          const b = await progressRead();
          return { source: b.source, planned: b.nextStartAt !== null };
        },
        { timeout: 60_000, interval: 500 },
      )
      .toEqual({ source: 'workflow', planned: true });
    const progress = await progressRead();
    expect(progress).toMatchObject({
      source: 'workflow',
      state: 'scheduled',
      counts: {},
      started: 0,
      remaining: FLEET,
      groups: [{ index: 0, name: 'all', total: FLEET, started: 0, succeeded: 0, failed: 0, state: 'running' }],
      waitingFor: null,
    });
    expect(reads.filter((sql) => /\bfrom "installations"/i.test(sql))).toHaveLength(1);

    const cancelled = await stack.api('POST', `/api/v1/rollouts/${rolloutId}/cancel`, { reason: 'test' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', remaining: 0 });
    await expect
      .poll(async () => (await stack.api('GET', `/api/v1/rollouts/${rolloutId}`)).body, { timeout: 60_000, interval: 500 })
      .toMatchObject({ state: 'cancelled', counts: { [STATUS.cancelled]: FLEET }, source: 'database' });
    const done = await stack.api('GET', `/api/v1/rollouts/${rolloutId}`);
    expect(done.body.completedAt).not.toBeNull();

    // A cancelled rollout is stored as `cancelled` from the request on, and over only when the
    // workflow's last step writes completedAt. Rewound to that moment, the API still asks the
    // workflow (source 'workflow', no completedAt) instead of calling it over.
    const stored = await stack.db('rollouts').where({ id: rolloutId }).first('state', 'completed_at');
    await stack.db('rollouts').where({ id: rolloutId }).update({ completed_at: null });
    try {
      const inFlight = await stack.api('GET', `/api/v1/rollouts/${rolloutId}`);
      expect(inFlight.body).toMatchObject({
        state: 'cancelled',
        source: 'workflow',
        completedAt: null,
        cancelling: false,
        remaining: 0,
      });
    } finally {
      await stack.db('rollouts').where({ id: rolloutId }).update(stored);
    }
    expect((await stack.api('GET', `/api/v1/rollouts/${rolloutId}`)).body).toMatchObject({
      state: 'cancelled',
      source: 'database',
    });
  });
});

describe('control, tables and logs of a running rollout', () => {
  let id: string;
  let workflowId: string;

  beforeAll(async () => {
    const res = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: apkApp,
      devices: { ids: android.map((d) => d.id) },
      options: { push: 'mark' },
      schedule: schedule({ perDay: 2, startDate: '2031-03-03', timeZone: 'UTC' }),
      notify: ['ops@example.com'],
    });
    expect(res.status).toBe(201);
    id = res.body.id;
    workflowId = res.body.workflowId;
  });

  it('GET /rollouts/:id answers state, counts, total and the next start from the workflow', async () => {
    await expect
      .poll(async () => (await stack.api('GET', `/api/v1/rollouts/${id}`)).body.nextStartAt, { timeout: 30_000, interval: 300 })
      .toBe('2031-03-03T09:00:00.000Z');
    const res = await stack.api('GET', `/api/v1/rollouts/${id}`);
    expect(res.body).toMatchObject({
      id,
      state: 'scheduled',
      counts: {},
      total: 5,
      started: 0,
      remaining: 5,
      source: 'workflow',
      workflowId,
      notify: ['ops@example.com'],
      options: { useDm: false, push: 'mark', maxPushAttempts: 3 },
    });
    const planned = await stack.db('installations').where({ rollout_id: id }).orderBy('seq').pluck('planned_at');
    expect(planned.map((d: Date) => d.toISOString())).toEqual([
      '2031-03-03T09:00:00.000Z',
      '2031-03-03T13:00:00.000Z',
      '2031-03-04T09:00:00.000Z',
      '2031-03-04T13:00:00.000Z',
      '2031-03-05T09:00:00.000Z',
    ]);
    expect((await stack.api('GET', `/api/v1/rollouts/${randomUUID()}`)).status).toBe(404);
    expect((await stack.api('GET', '/api/v1/rollouts/not-a-uuid')).status).toBe(404);
  });

  it('pause, pause again (409 with the reason), resume (the next start), schedule change, bad schedules (400)', async () => {
    const paused = await stack.api('POST', `/api/v1/rollouts/${id}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ id, state: 'paused', nextStartAt: null });
    const again = await stack.api('POST', `/api/v1/rollouts/${id}/pause`);
    expect(again.status).toBe(409);
    expect(again.body.error).toEqual({ code: 'conflict', message: 'the rollout is already paused' });
    await expect
      .poll(async () => (await stack.db('rollouts').where({ id }).first('state')).state, { timeout: 30_000 })
      .toBe('paused');

    const resumed = await stack.api('POST', `/api/v1/rollouts/${id}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ state: 'scheduled', nextStartAt: '2031-03-03T09:00:00.000Z' });
    const notPaused = await stack.api('POST', `/api/v1/rollouts/${id}/resume`);
    expect(notPaused.status).toBe(409);
    expect(notPaused.body.error.message).toBe('the rollout is not paused (it is scheduled)');

    const changed = await stack.api('PATCH', `/api/v1/rollouts/${id}/schedule`, { perDay: 4, window: { start: '08:00' } });
    expect(changed.status).toBe(200);
    expect(changed.body.schedule).toEqual({
      perDay: 4,
      startDate: '2031-03-03',
      weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
      window: { start: '08:00', end: '17:00' },
      timeZone: 'UTC',
    });
    expect(changed.body.nextStartAt).toBe('2031-03-03T08:00:00.000Z');
    expect((await stack.db('rollouts').where({ id }).first('schedule')).schedule.perDay).toBe(4);
    const planned = await stack.db('installations').where({ rollout_id: id }).orderBy('seq').pluck('planned_at');
    expect(planned.map((d: Date) => d.toISOString().slice(0, 16))).toEqual([
      '2031-03-03T08:00',
      '2031-03-03T10:15',
      '2031-03-03T12:30',
      '2031-03-03T14:45',
      '2031-03-04T08:00',
    ]);

    const overnight = await stack.api('PATCH', `/api/v1/rollouts/${id}/schedule`, { window: { start: '20:00', end: '04:00' } });
    expect(overnight.status).toBe(400);
    expect(overnight.body.error.field).toBe('schedule.window.end');
    const zone = await stack.api('PATCH', `/api/v1/rollouts/${id}/schedule`, { timeZone: 'Asia/Tokyo' });
    expect(zone.status).toBe(400);
    expect(zone.body.error.field).toBe('schedule.timeZone');
    const shape = await stack.api('PATCH', `/api/v1/rollouts/${id}/schedule`, { perDay: 'lots' });
    expect(shape.status).toBe(400);
    expect(shape.body.error.field).toBe('schedule.perDay');
  });

  it('Installing table: every non-final job in planned order, cursor-paged; status filter validated', async () => {
    const first = await stack.api('GET', `/api/v1/rollouts/${id}/installations?table=installing&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.installations.map((j: any) => j.deviceId)).toEqual([android[0]!.id, android[1]!.id]);
    expect(first.body.installations[0]).toMatchObject({
      seq: 0,
      status: null,
      final: false,
      externalId: android[0]!.externalId,
      platform: 'android',
    });
    const second = await stack.api(
      'GET',
      `/api/v1/rollouts/${id}/installations?table=installing&limit=2&cursor=${first.body.nextCursor}`,
    );
    const third = await stack.api(
      'GET',
      `/api/v1/rollouts/${id}/installations?table=installing&limit=2&cursor=${second.body.nextCursor}`,
    );
    expect([...second.body.installations, ...third.body.installations].map((j: any) => j.seq)).toEqual([2, 3, 4]);
    expect(third.body.nextCursor).toBeNull();
    expect((await stack.api('GET', `/api/v1/rollouts/${id}/installations?table=installed`)).body.installations).toEqual([]);
    const bad = await stack.api('GET', `/api/v1/rollouts/${id}/installations?status=Done`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('status');
    expect((await stack.api('GET', `/api/v1/rollouts/${id}/installations?table=all`)).body.error.field).toBe('table');
    expect((await stack.api('GET', `/api/v1/rollouts/${id}/installations?cursor=xyz`)).body.error.field).toBe('cursor');
    expect((await stack.api('GET', `/api/v1/rollouts/${randomUUID()}/installations`)).status).toBe(404);
    // searched by device: part of the external id, any case, or the device's id; `%` and `_` are text
    const byDevice = async (device: string) =>
      (
        await stack.api('GET', `/api/v1/rollouts/${id}/installations?device=${encodeURIComponent(device)}`)
      ).body.installations.map((j: any) => j.deviceId);
    const ext = android[3]!.externalId;
    expect(await byDevice(ext.slice(2).toUpperCase())).toEqual([android[3]!.id]);
    expect(await byDevice(android[1]!.id)).toEqual([android[1]!.id]);
    expect(await byDevice('%')).toEqual([]);
    expect(await byDevice('_')).toEqual([]);
    const long = await stack.api('GET', `/api/v1/rollouts/${id}/installations?device=${'x'.repeat(201)}`);
    expect(long.status).toBe(400);
    expect(long.body.error.field).toBe('device');
  });

  it('cancel: jobs move to the Installed table as Cancelled, with a log entry; further control is 409', async () => {
    const res = await stack.api('POST', `/api/v1/rollouts/${id}/cancel`, { reason: 'wrong build' });
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('cancelled');
    // the workflow is over when completedAt is set (state `cancelled` shows at once)
    await expect
      .poll(async () => (await stack.api('GET', `/api/v1/rollouts/${id}`)).body.completedAt, { timeout: 30_000, interval: 300 })
      .not.toBeNull();
    expect((await stack.api('GET', `/api/v1/rollouts/${id}`)).body).toMatchObject({
      state: 'cancelled',
      counts: { [STATUS.cancelled]: 5 },
    });
    const installed = await stack.api(
      'GET',
      `/api/v1/rollouts/${id}/installations?table=installed&status=${encodeURIComponent(STATUS.cancelled)}`,
    );
    expect(installed.body.installations).toHaveLength(5);
    expect((await stack.api('GET', `/api/v1/rollouts/${id}/installations?table=installing`)).body.installations).toEqual([]);

    const jobId = installed.body.installations[0].id;
    const log = await stack.api('GET', `/api/v1/installations/${jobId}/log`);
    expect(log.status).toBe(200);
    expect(log.body.installation).toMatchObject({ id: jobId, rolloutId: id, status: STATUS.cancelled, final: true });
    expect(log.body.log).toEqual([
      expect.objectContaining({
        event: 'status',
        from: null,
        to: STATUS.cancelled,
        message: 'rollout cancelled before this install started: wrong build',
      }),
    ]);
    expect((await stack.api('GET', `/api/v1/installations/${randomUUID()}/log`)).status).toBe(404);

    const pause = await stack.api('POST', `/api/v1/rollouts/${id}/pause`);
    expect(pause.status).toBe(409);
    expect(pause.body.error.message).toMatch(/cancelled/);
  });

  it('admin routes need the admin key', async () => {
    expect((await stack.api('GET', `/api/v1/rollouts/${id}`, undefined, null)).status).toBe(401);
    expect((await stack.api('POST', '/api/v1/rollouts', {}, null)).status).toBe(401);
  });
});

/**
 * Where `value` departs from `schema` of the served OpenAPI document (`$ref`, `nullable`, `anyOf`,
 * type, enum, pattern, required, and properties the schema does not list): what a client generated
 * from the document would trip over.
 */
function departures(doc: any, value: unknown, schema: any, at = '$'): string[] {
  if (schema?.$ref) return departures(doc, value, doc.components.schemas[String(schema.$ref).split('/').pop()!], at);
  if (!schema) return [`${at}: no schema`];
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (schema.type === undefined && !alternatives && !schema.enum) return []; // any value (z.unknown())
  if (value === null) return schema.nullable ? [] : [`${at}: null`];
  if (alternatives) {
    const tried = alternatives.map((s: any) => departures(doc, value, s, at));
    return tried.some((d: string[]) => d.length === 0) ? [] : [`${at}: matches no alternative`, ...tried.flat()];
  }
  if (schema.enum && !schema.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} not one of ${schema.enum}`];
  const type = Array.isArray(value) ? 'array' : value === undefined ? 'undefined' : typeof value;
  switch (schema.type) {
    case undefined:
      return [];
    case 'string':
      if (type !== 'string') return [`${at}: ${type}, not a string`];
      return schema.pattern && !new RegExp(schema.pattern).test(value as string) ? [`${at}: ${value} does not match`] : [];
    case 'integer':
      return Number.isInteger(value) ? [] : [`${at}: ${JSON.stringify(value)}, not an integer`];
    case 'number':
      return type === 'number' ? [] : [`${at}: ${type}, not a number`];
    case 'boolean':
      return type === 'boolean' ? [] : [`${at}: ${type}, not a boolean`];
    case 'array':
      if (type !== 'array') return [`${at}: ${type}, not an array`];
      return (value as unknown[]).flatMap((v, i) => departures(doc, v, schema.items, `${at}[${i}]`));
    case 'object': {
      if (type !== 'object') return [`${at}: ${type}, not an object`];
      const obj = value as Record<string, unknown>;
      const out = (schema.required ?? []).filter((k: string) => !(k in obj)).map((k: string) => `${at}.${k}: missing`);
      for (const [k, v] of Object.entries(obj)) {
        const prop = schema.properties?.[k];
        if (prop) out.push(...departures(doc, v, prop, `${at}.${k}`));
        else if (schema.additionalProperties && typeof schema.additionalProperties === 'object')
          out.push(...departures(doc, v, schema.additionalProperties, `${at}.${k}`));
        else if (schema.properties) out.push(`${at}.${k}: not documented`);
      }
      return out;
    }
    default:
      return [`${at}: unknown type ${schema.type}`];
  }
}

describe('OpenAPI document and docs', () => {
  it('/openapi.json is the whole document; real answers conform to its response schemas', async () => {
    const res = await stack.api('GET', '/openapi.json', undefined, null);
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())));

    /** The answer of a documented operation, checked against the documented schema of its status. */
    const check = async (method: string, path: string, route: string, body?: unknown) => {
      const r = await stack.api(method, path, body);
      const response = doc.paths[route]?.[method.toLowerCase()]?.responses?.[String(r.status)];
      expect(response, `${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`).toBeDefined();
      const schema = response.content?.['application/json']?.schema;
      expect(schema, `${method} ${route} ${r.status}: no JSON schema`).toBeDefined();
      expect(departures(doc, r.body, schema), `${method} ${path} → ${r.status}`).toEqual([]);
      return r;
    };

    const registered = await check('POST', '/api/v1/devices', '/api/v1/devices', {
      devices: [{ externalId: ext('openapi'), platform: 'android', msisdn: '+4915123456789', installed: { App: '1.0' } }],
    });
    expect(registered.status).toBe(201);
    await check('GET', '/api/v1/devices?limit=3', '/api/v1/devices');
    await check('GET', `/api/v1/devices/${registered.body.devices[0].id}`, '/api/v1/devices/{id}');
    await check('GET', '/api/v1/software?limit=3', '/api/v1/software');
    await check('GET', `/api/v1/software/${iosInHouse}`, '/api/v1/software/{id}');
    await check('GET', '/api/v1/messages?limit=5', '/api/v1/messages');
    await check('GET', '/health', '/health');

    const body = { softwareId: apkApp, devices: { ids: android.slice(0, 2).map((d) => d.id) }, schedule: schedule() };
    expect((await check('POST', '/api/v1/rollouts/preview', '/api/v1/rollouts/preview', body)).status).toBe(200);
    const created = await check('POST', '/api/v1/rollouts', '/api/v1/rollouts', body);
    expect(created.status).toBe(201);
    const id = created.body.id;
    await check('GET', `/api/v1/rollouts/${id}`, '/api/v1/rollouts/{id}');
    const table = await check('GET', `/api/v1/rollouts/${id}/installations`, '/api/v1/rollouts/{id}/installations');
    expect(table.body.installations.length).toBe(2);
    await check('GET', `/api/v1/installations/${table.body.installations[0].id}/log`, '/api/v1/installations/{id}/log');
    // issue 14: the list, the report, one job's cancel, a retry refused while the rollout runs
    await check('GET', '/api/v1/rollouts?limit=2', '/api/v1/rollouts');
    await check('GET', `/api/v1/rollouts/${id}/report`, '/api/v1/rollouts/{id}/report');
    const one = table.body.installations[1].id;
    expect((await check('POST', `/api/v1/installations/${one}/cancel`, '/api/v1/installations/{id}/cancel', {})).status).toBe(
      200,
    );
    expect((await check('POST', `/api/v1/rollouts/${id}/retry`, '/api/v1/rollouts/{id}/retry', {})).status).toBe(409);
    expect((await check('POST', `/api/v1/rollouts/${id}/cancel`, '/api/v1/rollouts/{id}/cancel', {})).status).toBe(200);
    // a device that has jobs, with their logs
    await check('GET', `/api/v1/devices/${android[0]!.id}`, '/api/v1/devices/{id}');
    // errors too
    expect((await check('GET', `/api/v1/rollouts/${randomUUID()}`, '/api/v1/rollouts/{id}')).status).toBe(404);
    expect((await check('POST', '/api/v1/devices', '/api/v1/devices', { devices: [] })).status).toBe(400);
  });

  it('the document is generated from the validating schemas; /docs renders it without external resources', async () => {
    const doc = (await stack.api('GET', '/openapi.json', undefined, null)).body;
    expect(doc.openapi).toBe('3.0.3');
    for (const p of [
      '/api/v1/rollouts',
      '/api/v1/rollouts/preview',
      '/api/v1/rollouts/{id}',
      '/api/v1/rollouts/{id}/pause',
      '/api/v1/rollouts/{id}/resume',
      '/api/v1/rollouts/{id}/cancel',
      '/api/v1/rollouts/{id}/schedule',
      '/api/v1/rollouts/{id}/installations',
      '/api/v1/installations/{id}/log',
      '/api/v1/devices',
      '/api/v1/software',
      '/api/v1/device/sync',
      '/d/{ticket}',
      '/dm',
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    const req = doc.components.schemas.RolloutRequest;
    expect(req.required).toEqual(['softwareId', 'devices']);
    expect(req.additionalProperties).toBe(false);
    expect(doc.components.schemas.InstallOptions.properties.push).toMatchObject({ enum: ['sms', 'wap', 'mark'], default: 'sms' });
    expect(doc.components.schemas.Schedule.properties.perDay.anyOf).toEqual([
      expect.objectContaining({ type: 'integer', minimum: 1, maximum: 10000 }),
      expect.objectContaining({ enum: ['unlimited'] }),
    ]);
    expect(doc.paths['/api/v1/rollouts'].post.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/RolloutRequest',
    });
    expect(doc.paths['/api/v1/devices'].post.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/DeviceRegistration',
    });
    expect(doc.components.schemas.DeviceReport.properties.phase.enum).toEqual(['download-begin', 'download-end', 'post-install']);
    expect(JSON.stringify(doc)).not.toContain('"$id"');

    const docs = await fetch(`${stack.baseUrl}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    const html = await docs.text();
    expect(html).toContain("fetch('/openapi.json')");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/);
  });
});
