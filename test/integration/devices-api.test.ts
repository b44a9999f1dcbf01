/**
 * Admin device API against the real stack (PostgreSQL + dev server + HTTP): registration with tokens
 * shown once and stored hashed, validation naming the field, duplicates, cursor paging, device detail
 * with jobs, logs and health.
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DEVICES_PER_REQUEST } from '../../api/admin/devices';
import { STATUS } from '../../domain/status';
import { type Stack, startStack } from '../helpers/stack';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
let stack: Stack;
let n = 0;
const ext = (prefix = 'imei') => `${prefix}-${Date.now()}-${++n}`;

beforeAll(async () => {
  stack = await startStack({ noWorker: true });
});
afterAll(async () => {
  await stack?.stop();
});

async function register(devices: unknown[]) {
  return stack.api('POST', '/api/v1/devices', { devices });
}

describe('POST /api/v1/devices', () => {
  it('registers a batch: 201 with id, externalId and a token shown once (stored as SHA-256 only)', async () => {
    const ids = [ext(), ext(), ext()];
    const res = await register([
      { externalId: ids[0], platform: 'windows-mobile-pocketpc', msisdn: '+49 151 2345-6789', bootstrapped: true },
      { externalId: ids[1], platform: 'symbian', installed: { 'DME Client': '3.1' } },
      { externalId: ids[2], platform: 'ios', msisdn: '0044 7700 900123' },
    ]);
    expect(res.status).toBe(201);
    expect(res.body.devices.map((d: any) => d.externalId)).toEqual(ids);
    for (const d of res.body.devices) {
      expect(d.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(d.token).toMatch(/^drd_[A-Za-z0-9_-]{43}$/);
    }
    const rows = await stack.db('devices').whereIn('external_id', ids).orderBy('external_id');
    const byExt = new Map(rows.map((r) => [r.external_id, r]));
    for (const d of res.body.devices) {
      const row = byExt.get(d.externalId);
      expect(row.id).toBe(d.id);
      expect(row.token_hash).toBe(sha256(d.token));
      expect(JSON.stringify(row)).not.toContain(d.token);
    }
    expect(byExt.get(ids[0])).toMatchObject({
      platform: 'windows-mobile-pocketpc',
      msisdn: '+4915123456789',
      bootstrapped: true,
    });
    expect(byExt.get(ids[1])).toMatchObject({ msisdn: null, bootstrapped: false, installed: { 'DME Client': '3.1' } });
    expect(byExt.get(ids[2]).msisdn).toBe('+447700900123');
  });

  it('the token authenticates the device; a token is not an admin key', async () => {
    const res = await register([{ externalId: ext(), platform: 'android' }]);
    const token = res.body.devices[0].token;
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: {} }, token)).status).toBe(200);
    const asAdmin = await stack.api('GET', '/api/v1/devices', undefined, token);
    expect(asAdmin.status).toBe(401);
  });

  it.each([
    [{ externalId: 'x1', platform: 'blackberry' }, 'devices.0.platform', /one of symbian/],
    [{ platform: 'ios' }, 'devices.0.externalId', /./],
    [{ externalId: '  ', platform: 'ios' }, 'devices.0.externalId', /empty/],
    [{ externalId: 'has space', platform: 'ios' }, 'devices.0.externalId', /printable/],
    [{ externalId: 'x2', platform: 'ios', msisdn: '12ab' }, 'devices.0.msisdn', /MSISDN/],
    [{ externalId: 'x3', platform: 'ios', msisdn: '+0123456789' }, 'devices.0.msisdn', /MSISDN/],
    [{ externalId: 'x4', platform: 'ios', bootstrapped: 'yes' }, 'devices.0.bootstrapped', /./],
    [{ externalId: 'x5', platform: 'ios', installed: { App: 3 } }, 'devices.0.installed.App', /./],
    [{ externalId: 'x6', platform: 'ios', imei: '1' }, 'devices.0', /imei/],
  ])('400 naming the field for %j', async (device, field, message) => {
    const res = await register([device]);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request', field });
    expect(res.body.error.message).toMatch(message);
  });

  it('400 naming `devices` for an empty batch, a missing list and a batch over the limit', async () => {
    for (const body of [{ devices: [] }, {}, { devices: 'all' }]) {
      const res = await stack.api('POST', '/api/v1/devices', body);
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe('devices');
    }
    const tooMany = Array.from({ length: MAX_DEVICES_PER_REQUEST + 1 }, (_, i) => ({
      externalId: `big-${i}`,
      platform: 'other',
    }));
    const res = await register(tooMany);
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('devices');
    expect(res.body.error.message).toMatch(String(MAX_DEVICES_PER_REQUEST));
    expect(await stack.db('devices').where('external_id', 'like', 'big-%').count({ c: '*' })).toEqual([{ c: '0' }]);
  });

  it(`accepts exactly ${MAX_DEVICES_PER_REQUEST} devices in one request`, async () => {
    const prefix = ext('max');
    const res = await register(
      Array.from({ length: MAX_DEVICES_PER_REQUEST }, (_, i) => ({ externalId: `${prefix}-${i}`, platform: 'other' })),
    );
    expect(res.status).toBe(201);
    expect(res.body.devices).toHaveLength(MAX_DEVICES_PER_REQUEST);
    expect(new Set(res.body.devices.map((d: any) => d.token)).size).toBe(MAX_DEVICES_PER_REQUEST);
  });

  it('409 naming the duplicate externalId — within the batch or already registered — and registers none of the batch', async () => {
    const a = ext();
    const b = ext();
    const dup = await register([
      { externalId: a, platform: 'ios' },
      { externalId: b, platform: 'ios' },
      { externalId: a, platform: 'android' },
    ]);
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'conflict', field: 'devices.2.externalId' });
    expect(dup.body.error.message).toContain(a);
    expect(await stack.db('devices').whereIn('external_id', [a, b]).count({ c: '*' })).toEqual([{ c: '0' }]);

    expect((await register([{ externalId: a, platform: 'ios' }])).status).toBe(201);
    const again = await register([
      { externalId: b, platform: 'ios' },
      { externalId: a, platform: 'ios' },
    ]);
    expect(again.status).toBe(409);
    expect(again.body.error.field).toBe('devices.1.externalId');
    expect(again.body.error.message).toContain(`"${a}" is already registered`);
    expect(await stack.db('devices').where('external_id', b).first()).toBeUndefined();
  });

  it('401 without an admin key', async () => {
    const res = await stack.api('POST', '/api/v1/devices', { devices: [{ externalId: ext(), platform: 'ios' }] }, null);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });
});

describe('GET /api/v1/devices', () => {
  it('pages with an opaque cursor in registration order: no device twice, none left out, platform filter', async () => {
    const platform = 'windows-ce';
    await stack.db('devices').where({ platform }).delete();
    const first = await register(Array.from({ length: 4 }, () => ({ externalId: ext('ce'), platform })));
    const second = await register(Array.from({ length: 3 }, () => ({ externalId: ext('ce'), platform })));
    await register([{ externalId: ext('noise'), platform: 'android' }]);
    const expected = [...first.body.devices, ...second.body.devices].map((d: any) => d.id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/api/v1/devices?platform=${platform}&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await stack.api('GET', q);
      expect(res.status).toBe(200);
      expect(res.body.devices.length).toBeLessThanOrEqual(3);
      for (const d of res.body.devices) expect(d.platform).toBe(platform);
      seen.push(...res.body.devices.map((d: any) => d.id));
      cursor = res.body.nextCursor;
      if (cursor) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    // the first batch before the second; within a batch (same created_at) by id
    expect(seen.slice(0, 4).sort()).toEqual(first.body.devices.map((d: any) => d.id).sort());
    expect(seen.slice(4).sort()).toEqual(second.body.devices.map((d: any) => d.id).sort());
    expect(new Set(seen).size).toBe(expected.length);
  });

  it('default limit 50, max 500; 400 naming limit, platform and cursor', async () => {
    const res = await stack.api('GET', '/api/v1/devices');
    expect(res.status).toBe(200);
    expect(res.body.devices.length).toBe(50);
    expect(res.body.nextCursor).toEqual(expect.any(String));
    expect((await stack.api('GET', '/api/v1/devices?limit=500')).body.devices.length).toBe(500);
    for (const [q, field] of [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=ten', 'limit'],
      ['platform=palm', 'platform'],
      ['cursor=!!', 'cursor'],
      ['cursor=' + Buffer.from('{"a":1}').toString('base64url'), 'cursor'],
      ['cursor=' + Buffer.from('["yesterday","not-a-uuid"]').toString('base64url'), 'cursor'],
    ]) {
      const bad = await stack.api('GET', `/api/v1/devices?${q}`);
      expect(bad.status, q).toBe(400);
      expect(bad.body.error.field, q).toBe(field);
    }
  });
});

describe('GET /api/v1/devices/:id', () => {
  it('the device, its health and its jobs with status and log', async () => {
    const reg = await register([{ externalId: ext(), platform: 'symbian', msisdn: '+358401234567', installed: { App: '1.0' } }]);
    const { id, token } = reg.body.devices[0];

    let res = await stack.api('GET', `/api/v1/devices/${id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id,
      platform: 'symbian',
      msisdn: '+358401234567',
      bootstrapped: false,
      installed: { App: '1.0' },
      lastContactAt: null,
      lastSyncAt: null,
      silentForSeconds: null,
      jobs: [],
    });

    const [sw] = await stack
      .db('software')
      .insert({ name: `App ${n}`, version: '2.0', kind: 'dme-client', platforms: ['symbian'] })
      .returning('id');
    const [rollout] = await stack
      .db('rollouts')
      .insert({ software_id: sw.id, options: {}, schedule: {}, state: 'running' })
      .returning('id');
    const [job] = await stack
      .db('installations')
      .insert({
        rollout_id: rollout.id,
        device_id: id,
        seq: 0,
        status: STATUS.waitingForDownload,
        method: 'sms',
        workflow_id: 'wf-1',
      })
      .returning('id');
    await stack.db('installation_log').insert([
      { installation_id: job.id, event: 'push', message: 'SMS push sent', entry_key: '1.0:push' },
      { installation_id: job.id, event: 'status', from_status: null, to_status: STATUS.waitingForDownload, entry_key: '1:s' },
    ]);
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: { App: '1.0' } }, token)).status).toBe(200);

    res = await stack.api('GET', `/api/v1/devices/${id}`);
    expect(res.status).toBe(200);
    expect(Date.parse(res.body.lastContactAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(res.body.lastSyncAt).toEqual(expect.any(String));
    expect(res.body.silentForSeconds).toBeGreaterThanOrEqual(0);
    expect(res.body.silentForSeconds).toBeLessThan(60);
    expect(res.body.jobs).toHaveLength(1);
    expect(res.body.jobs[0]).toMatchObject({
      id: job.id,
      rolloutId: rollout.id,
      rolloutState: 'running',
      software: { id: sw.id, name: `App ${n}`, version: '2.0' },
      status: STATUS.waitingForDownload,
      final: false,
      method: 'sms',
      workflowId: 'wf-1',
    });
    expect(res.body.jobs[0].log).toEqual([
      expect.objectContaining({ event: 'push', message: 'SMS push sent' }),
      expect.objectContaining({ event: 'status', from: null, to: STATUS.waitingForDownload }),
    ]);
  });

  it('404 JSON for an unknown id and for a malformed one', async () => {
    for (const id of [randomUUID(), 'not-a-uuid', '1']) {
      const res = await stack.api('GET', `/api/v1/devices/${id}`);
      expect(res.status).toBe(404);
      expect(res.body.error).toEqual({ code: 'not_found', message: 'device not found' });
    }
  });
});

describe('tags, PATCH, new token and retire (issue 15)', () => {
  it('registration takes tags: lower-case words, duplicates once, at most 32; others are 400 naming the field', async () => {
    const e = ext();
    const ok = await register([{ externalId: e, platform: 'android', tags: ['berlin', 'sales', 'berlin'] }]);
    expect(ok.status).toBe(201);
    const got = await stack.api('GET', `/api/v1/devices/${ok.body.devices[0].id}`);
    expect(got.body.tags).toEqual(['berlin', 'sales']);
    expect(got.body.retiredAt).toBeNull();
    expect(got.body.history).toEqual([]);
    for (const [tags, field] of [
      [['Berlin'], 'devices.0.tags.0'],
      [['a b'], 'devices.0.tags.0'],
      [[''], 'devices.0.tags.0'],
      [Array.from({ length: 33 }, (_, i) => `t${i}`), 'devices.0.tags'],
      ['berlin', 'devices.0.tags'],
    ] as const) {
      const res = await register([{ externalId: ext(), platform: 'android', tags }]);
      expect(res.status, JSON.stringify(tags)).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_request', field });
    }
  });

  it('PATCH changes msisdn, bootstrapped, tags and platform; each change in the history shown by GET', async () => {
    const reg = await register([{ externalId: ext(), platform: 'symbian', msisdn: '+4915100000001', tags: ['a'] }]);
    const id = reg.body.devices[0].id;
    let res = await stack.api('PATCH', `/api/v1/devices/${id}`, { msisdn: '+49 151 0000 0002', tags: ['b', 'c'] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, msisdn: '+4915100000002', tags: ['b', 'c'], platform: 'symbian' });
    res = await stack.api('PATCH', `/api/v1/devices/${id}`, { bootstrapped: true, platform: 'android', msisdn: null });
    expect(res.status).toBe(200);
    // unchanged values write nothing
    res = await stack.api('PATCH', `/api/v1/devices/${id}`, { bootstrapped: true });
    expect(res.status).toBe(200);
    const got = await stack.api('GET', `/api/v1/devices/${id}`);
    expect(got.body).toMatchObject({ msisdn: null, bootstrapped: true, platform: 'android', tags: ['b', 'c'] });
    expect(got.body.history).toEqual([
      {
        at: expect.any(String),
        event: 'updated',
        changes: { msisdn: { from: '+4915100000001', to: '+4915100000002' }, tags: { from: ['a'], to: ['b', 'c'] } },
        keyId: null,
        keyName: 'ADMIN_API_KEY',
      },
      {
        at: expect.any(String),
        event: 'updated',
        changes: {
          msisdn: { from: '+4915100000002', to: null },
          bootstrapped: { from: false, to: true },
          platform: { from: 'symbian', to: 'android' },
        },
        keyId: null,
        keyName: 'ADMIN_API_KEY',
      },
    ]);
  });

  it.each([
    [{}, 'body', /at least one/],
    [{ msisdn: '12ab' }, 'msisdn', /MSISDN/],
    [{ tags: ['UPPER'] }, 'tags.0', /lower-case/],
    [{ platform: 'blackberry' }, 'platform', /one of/],
    [{ bootstrapped: 'yes' }, 'bootstrapped', /./],
    [{ externalId: 'x' }, 'body', /externalId/],
  ])('PATCH 400 naming the field for %j', async (body, field, message) => {
    const reg = await register([{ externalId: ext(), platform: 'ios' }]);
    const res = await stack.api('PATCH', `/api/v1/devices/${reg.body.devices[0].id}`, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    if (field !== 'body') expect(res.body.error.field).toBe(field);
    expect(res.body.error.message).toMatch(message);
  });

  it('PATCH, token and DELETE answer 404 for an unknown device', async () => {
    for (const id of [randomUUID(), 'nope']) {
      expect((await stack.api('PATCH', `/api/v1/devices/${id}`, { bootstrapped: true })).status).toBe(404);
      expect((await stack.api('POST', `/api/v1/devices/${id}/token`)).status).toBe(404);
      expect((await stack.api('DELETE', `/api/v1/devices/${id}`)).status).toBe(404);
    }
  });

  it('POST /devices/:id/token: a new token shown once; the old one stops working at once', async () => {
    const reg = await register([{ externalId: ext(), platform: 'android' }]);
    const { id, token: old } = reg.body.devices[0];
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: {} }, old)).status).toBe(200);
    const res = await stack.api('POST', `/api/v1/devices/${id}/token`);
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^drd_[A-Za-z0-9_-]{43}$/);
    expect(res.body.token).not.toBe(old);
    const row = await stack.db('devices').where({ id }).first('token_hash');
    expect(row.token_hash).toBe(sha256(res.body.token));
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: {} }, old)).status).toBe(401);
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: {} }, res.body.token)).status).toBe(200);
    const got = await stack.api('GET', `/api/v1/devices/${id}`);
    expect(got.body.history).toEqual([expect.objectContaining({ event: 'token-rotated', changes: {} })]);
    expect(JSON.stringify(got.body)).not.toContain(res.body.token);
  });

  it('a retired device: token refused, not listed, not selectable, PATCH and new token 409, DELETE again 200', async () => {
    const reg = await register([{ externalId: ext(), platform: 'android', tags: ['retire-me'] }]);
    const { id, token } = reg.body.devices[0];
    const del = await stack.api('DELETE', `/api/v1/devices/${id}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id, cancelledJobs: 0 });
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: {} }, token)).status).toBe(401);
    expect((await stack.api('PATCH', `/api/v1/devices/${id}`, { bootstrapped: true })).status).toBe(409);
    expect((await stack.api('POST', `/api/v1/devices/${id}/token`)).status).toBe(409);
    expect((await stack.api('GET', '/api/v1/devices?tag=retire-me')).body.devices).toEqual([]);
    const retired = await stack.api('GET', '/api/v1/devices?tag=retire-me&retired=true');
    expect(retired.body.devices.map((d: any) => d.id)).toEqual([id]);
    expect(retired.body.devices[0].retiredAt).toBe(del.body.retiredAt);
    const again = await stack.api('DELETE', `/api/v1/devices/${id}`);
    expect(again.status).toBe(200);
    expect(again.body.retiredAt).toBe(del.body.retiredAt);
  });
});

describe('GET /api/v1/devices filters (issue 15)', () => {
  it('platform, tag, installed, installed + below (R8 order), silentFor and retired combine with AND; pages keep the filter', async () => {
    const tag = `f${n}-${Date.now()}`;
    const devices = [
      { platform: 'android', tags: [tag, 'x'], installed: { 'DME Client': '5.2' } },
      { platform: 'android', tags: [tag], installed: { 'dme  client': '5.10' } },
      { platform: 'android', tags: [tag], installed: { 'DME Client': '5.2-rc1' } },
      { platform: 'symbian', tags: [tag], installed: { 'DME Client': '4.9' } },
      { platform: 'android', tags: [tag], installed: {} },
      { platform: 'android', tags: [], installed: { 'DME Client': '1.0' } },
    ].map((d, i) => ({ externalId: ext(`filter${i}`), ...d }));
    const reg = await register(devices);
    const ids = reg.body.devices.map((d: any) => d.id) as string[];
    await stack.db('devices').whereIn('id', ids.slice(0, 2)).update({ last_contact_at: stack.db.fn.now() });
    await stack
      .db('devices')
      .where({ id: ids[2] })
      .update({ last_contact_at: stack.db.raw("now() - interval '8 days'") });
    const list = async (q: string) => {
      const res = await stack.api('GET', `/api/v1/devices?${q}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      // one batch shares its created_at: registration order within it is by id
      return res.body.devices.map((d: any) => ids.indexOf(d.id)).sort();
    };
    expect(await list(`tag=${tag}`)).toEqual([0, 1, 2, 3, 4]);
    expect(await list(`tag=${tag}&platform=android`)).toEqual([0, 1, 2, 4]);
    expect(await list(`tag=${tag}&installed=DME%20Client`)).toEqual([0, 1, 2, 3]);
    expect(await list(`tag=${tag}&installed=DME%20Client&below=5.10`)).toEqual([0, 2, 3]);
    expect(await list(`tag=${tag}&installed=dme%20client&below=5.2`)).toEqual([2, 3]);
    expect(await list(`tag=${tag}&installed=DME%20Client&below=5.2.0.0`)).toEqual([2, 3]);
    expect(await list(`tag=${tag}&silentFor=7d`)).toEqual([2, 3, 4]);
    expect(await list(`tag=x&installed=DME%20Client&below=6`)).toEqual([0]);
    // paging with the filter
    const p1 = await stack.api('GET', `/api/v1/devices?tag=${tag}&limit=2`);
    const p2 = await stack.api('GET', `/api/v1/devices?tag=${tag}&limit=2&cursor=${p1.body.nextCursor}`);
    const p3 = await stack.api('GET', `/api/v1/devices?tag=${tag}&limit=2&cursor=${p2.body.nextCursor}`);
    const paged = [...p1.body.devices, ...p2.body.devices, ...p3.body.devices].map((d: any) => d.id);
    expect(paged.map((id: string) => ids.indexOf(id)).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(paged).toEqual([...paged].sort()); // (created_at, id) order
    expect(p3.body.nextCursor).toBeNull();
  });

  it.each([
    ['tag=Upper', 'tag'],
    ['below=1.0', 'below'],
    ['installed=', undefined],
    ['silentFor=week', 'silentFor'],
    ['retired=yes', 'retired'],
    ['platform=blackberry', 'platform'],
  ])('400 naming the parameter for %s', async (q, field) => {
    const res = await stack.api('GET', `/api/v1/devices?${q}`);
    if (field === undefined) {
      expect(res.status).toBe(200);
      return;
    }
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request', field });
  });
});
