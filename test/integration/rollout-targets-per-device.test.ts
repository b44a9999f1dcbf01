/**
 * Per device, not all or nothing (issue 14, SPEC G4) over HTTP against the real stack:
 * - Use DM on a mixed fleet: DM where it applies to the device (R1), the push method for the others —
 *   the preview says each device's first method, and the started installs take them;
 * - devices a rollout cannot reach (no MSISDN for an SMS / WAP push or an in-house iOS app) make a 400
 *   naming how many and the first of them (field `devices`), unless `options.skipUnreachable` leaves
 *   them out (counted as `skipped`); an in-house iOS job goes by SMS with the manifest link, never as a
 *   plain link (not even when `mark` is asked for);
 * - R7 per device: a .cab-only package refuses the Windows Mobile Smartphones only, by name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LATER, NOW_ALL_DAY, registerDevices, uploadSoftware } from '../helpers/api-fixtures';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const jobsOf = async (rolloutId: string) =>
  (await stack.db('installations').where({ rollout_id: rolloutId }).orderBy('seq').select('device_id', 'file_id', 'method')) as {
    device_id: string;
    file_id: string | null;
    method: string | null;
  }[];

describe('Use DM on a mixed fleet', () => {
  it('DM where it applies (Android), SMS push for the others (iOS): preview per device, and the installs do so', {
    timeout: 60_000,
  }, async () => {
    const android = await registerDevices(stack, 'dm-android', [{ platform: 'android' }, { platform: 'android' }]);
    const ios = await registerDevices(stack, 'dm-ios', [{ platform: 'ios' }, { platform: 'ios' }]);
    const software = await uploadSoftware(stack, { kind: 'other', platforms: 'android,ios' }, ['app.apk', 'app.ipa']);
    const devices = [android[0]!, ios[0]!, android[1]!, ios[1]!];
    const body = {
      softwareId: software,
      devices: { ids: devices.map((d) => d.id) },
      options: { useDm: true, push: 'sms' },
      schedule: NOW_ALL_DAY,
    };

    const preview = await stack.api('POST', '/api/v1/rollouts/preview', body);
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.slots.map((s: { deviceId: string; method: string }) => [s.deviceId, s.method])).toEqual([
      [android[0]!.id, 'dm'],
      [ios[0]!.id, 'sms'],
      [android[1]!.id, 'dm'],
      [ios[1]!.id, 'sms'],
    ]);

    const created = await stack.api('POST', '/api/v1/rollouts', body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.total).toBe(4);
    expect(created.body.skipped).toBeUndefined();
    // the installs start at once: DM (bootstrap first) on Android, the SMS push on iOS
    const methods = await until(
      'every job to have chosen its method',
      async () => {
        const jobs = await jobsOf(created.body.id);
        return jobs.every((j) => j.method) ? jobs.map((j) => [j.device_id, j.method]) : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(methods).toEqual([
      [android[0]!.id, 'dm'],
      [ios[0]!.id, 'sms'],
      [android[1]!.id, 'dm'],
      [ios[1]!.id, 'sms'],
    ]);
    const cancel = await stack.api('POST', `/api/v1/rollouts/${created.body.id}/cancel`, { reason: 'test over' });
    expect(cancel.status).toBe(200);
  });

  it('Use DM that applies to none of the selected devices is still a 400 naming options.useDm', async () => {
    const ios = await registerDevices(stack, 'dm-none', [{ platform: 'ios' }]);
    const software = await uploadSoftware(stack, { kind: 'other', platforms: 'android,ios' }, ['app.apk', 'app.ipa']);
    const res = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: software,
      devices: { ids: [ios[0]!.id] },
      options: { useDm: true },
      schedule: LATER,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('options.useDm');
    expect(res.body.error.message).toMatch(/applies to none of the selected devices/);
    expect(res.body.error.message).toContain(ios[0]!.externalId);
  });
});

describe('devices that cannot be reached', () => {
  it('SMS and WAP push without an MSISDN: 400 naming how many and the first; skipUnreachable leaves them out', async () => {
    const devices = await registerDevices(stack, 'reach', [
      { platform: 'android' },
      { platform: 'android', msisdn: null },
      { platform: 'android' },
      { platform: 'android', msisdn: null },
    ]);
    const software = await uploadSoftware(stack, { kind: 'other', platforms: 'android' }, ['app.apk']);
    const ids = devices.map((d) => d.id);
    for (const push of ['sms', 'wap'] as const) {
      const body = { softwareId: software, devices: { ids }, options: { push }, schedule: LATER };
      for (const path of ['/api/v1/rollouts/preview', '/api/v1/rollouts']) {
        const res = await stack.api('POST', path, body);
        expect(res.status, `${push} ${path}`).toBe(400);
        expect(res.body.error.field).toBe('devices');
        expect(res.body.error.message).toMatch(/cannot install on 2 of 4 selected device\(s\)/);
        expect(res.body.error.message).toMatch(push === 'sms' ? /SMS push needs one/ : /WAP push needs one/);
        for (const d of [devices[1]!, devices[3]!]) expect(res.body.error.message).toContain(d.id);
        for (const d of [devices[0]!, devices[2]!]) expect(res.body.error.message).not.toContain(d.id);
      }
      const skip = { ...body, options: { push, skipUnreachable: true } };
      const preview = await stack.api('POST', '/api/v1/rollouts/preview', skip);
      expect(preview.status).toBe(200);
      expect(preview.body.total).toBe(2);
      expect(preview.body.slots.map((s: { deviceId: string }) => s.deviceId)).toEqual([ids[0], ids[2]]);
      const created = await stack.api('POST', '/api/v1/rollouts', skip);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.total).toBe(2);
      expect(created.body.skipped).toEqual({
        total: 2,
        noFile: 0,
        noMsisdn: 2,
        first: [
          { id: ids[1], externalId: devices[1]!.externalId },
          { id: ids[3], externalId: devices[3]!.externalId },
        ],
      });
      expect((await jobsOf(created.body.id)).map((j) => j.device_id)).toEqual([ids[0], ids[2]]);
    }
    // mark for installation needs no MSISDN: every device
    const mark = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: software,
      devices: { ids },
      options: { push: 'mark' },
      schedule: LATER,
    });
    expect(mark.status).toBe(201);
    expect(mark.body.total).toBe(4);
  });

  it('a filter selection: refused by count, or the reachable devices in registration order', async () => {
    const devices = await registerDevices(stack, 'reach-filter', [
      { platform: 'symbian' },
      { platform: 'symbian', msisdn: null },
      { platform: 'symbian' },
    ]);
    const software = await uploadSoftware(stack, { kind: 'other', platforms: 'symbian' }, ['app.sisx']);
    const body = { softwareId: software, devices: { filter: { platform: 'symbian' } }, schedule: LATER };
    const refused = await stack.api('POST', '/api/v1/rollouts', body);
    expect(refused.status).toBe(400);
    expect(refused.body.error.field).toBe('devices');
    expect(refused.body.error.message).toMatch(/cannot install on 1 of 3/);
    expect(refused.body.error.message).toContain(devices[1]!.externalId);
    const created = await stack.api('POST', '/api/v1/rollouts', { ...body, options: { skipUnreachable: true } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ total: 2, skipped: { total: 1, noMsisdn: 1 } });
    // registration order: (created_at, id) — one request registers its devices at one instant
    const inOrder = (
      await stack.db('devices').whereIn('id', [devices[0]!.id, devices[2]!.id]).orderBy(['created_at', 'id']).select('id')
    ).map((d) => d.id);
    expect((await jobsOf(created.body.id)).map((j) => j.device_id)).toEqual(inOrder);
    // the rollout keeps the filter it was made from
    expect((await stack.db('rollouts').where({ id: created.body.id }).first('filter')).filter).toEqual({ platform: 'symbian' });
  });

  it('an in-house iOS app needs an MSISDN even when mark is asked for, and goes by SMS with the manifest link', {
    timeout: 60_000,
  }, async () => {
    const devices = await registerDevices(stack, 'inhouse', [{ platform: 'ios', msisdn: null }, { platform: 'ios' }]);
    const software = await uploadSoftware(
      stack,
      { kind: 'other', platforms: 'ios', inHouseIos: 'true', bundleId: 'com.example.inhouse' },
      ['inhouse.ipa'],
    );
    const body = {
      softwareId: software,
      devices: { ids: devices.map((d) => d.id) },
      options: { push: 'mark' },
      schedule: NOW_ALL_DAY,
    };
    const refused = await stack.api('POST', '/api/v1/rollouts', body);
    expect(refused.status).toBe(400);
    expect(refused.body.error.field).toBe('devices');
    expect(refused.body.error.message).toMatch(/in-house iOS app goes only by SMS push \(R6\), never as a plain link/);
    expect(refused.body.error.message).toContain(devices[0]!.id);

    const created = await stack.api('POST', '/api/v1/rollouts', { ...body, options: { push: 'mark', skipUnreachable: true } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ total: 1, skipped: { total: 1, noMsisdn: 1 } });
    const [job] = await stack.db('installations').where({ rollout_id: created.body.id }).select('id', 'device_id');
    expect(job.device_id).toBe(devices[1]!.id);
    const sms = await until(
      'the SMS of the in-house app',
      async () => {
        const res = await stack.api('GET', `/api/v1/messages?installationId=${job.id}`);
        return res.body.messages?.length ? res.body.messages : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(sms[0].channel).toBe('sms');
    expect(sms[0].body).toMatch(/itms-services:\/\/\?action=download-manifest&url=/);
    expect((await stack.api('POST', `/api/v1/rollouts/${created.body.id}/cancel`, {})).status).toBe(200);
  });

  it('an in-house iOS job whose device lost its MSISDN before its start fails: never marked, never a plain link', {
    timeout: 60_000,
  }, async () => {
    const devices = await registerDevices(stack, 'inhouse-lost', [{ platform: 'ios' }, { platform: 'ios' }]);
    const software = await uploadSoftware(
      stack,
      { kind: 'other', platforms: 'ios', inHouseIos: 'true', bundleId: 'com.example.lost' },
      ['lost.ipa'],
    );
    // 2 a day over the whole day: the first starts now, the second hours later
    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: software,
      devices: { ids: devices.map((d) => d.id) },
      schedule: { ...NOW_ALL_DAY, perDay: 2 },
    });
    expect(created.status).toBe(201);
    const [, second] = await stack.db('installations').where({ rollout_id: created.body.id }).orderBy('seq').select('id');
    expect((await stack.api('PATCH', `/api/v1/devices/${devices[1]!.id}`, { msisdn: null })).status).toBe(200);
    expect((await stack.api('PATCH', `/api/v1/rollouts/${created.body.id}/schedule`, { perDay: 'unlimited' })).status).toBe(200);
    const job = await until(
      'the second job to end',
      async () => {
        const j = await stack.db('installations').where({ id: second.id }).first('status', 'final', 'method', 'detail');
        return j.final ? j : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(job).toMatchObject({
      status: 'Installation failed',
      detail: expect.stringMatching(/in-house iOS app goes only by SMS push/),
    });
    expect(job.method).not.toBe('mark');
    expect(await stack.db('push_tickets').where({ installation_id: second.id }).count('* as n').first()).toEqual({ n: '0' });
    const sync = await stack.api('POST', '/api/v1/device/sync', { installed: {} }, devices[1]!.token);
    expect(sync.body.pending).toEqual([]);
    await stack.api('POST', `/api/v1/rollouts/${created.body.id}/cancel`, {});
  });
});

describe('R7 per device', () => {
  it('a .cab-only package refuses the Windows Mobile Smartphones by name, not the Pocket PCs; skipUnreachable leaves them out', async () => {
    const pocket = await registerDevices(stack, 'ppc', [
      { platform: 'windows-mobile-pocketpc' },
      { platform: 'windows-mobile-pocketpc' },
    ]);
    const phones = await registerDevices(stack, 'smartphone', [
      { platform: 'windows-mobile-smartphone' },
      { platform: 'windows-mobile-smartphone' },
    ]);
    const cabOnly = await uploadSoftware(
      stack,
      { kind: 'other', platforms: 'windows-mobile-pocketpc,windows-mobile-smartphone' },
      ['client.cab'],
    );
    const ids = [pocket[0]!.id, phones[0]!.id, pocket[1]!.id, phones[1]!.id];
    const body = { softwareId: cabOnly, devices: { ids }, schedule: LATER };
    const refused = await stack.api('POST', '/api/v1/rollouts', body);
    expect(refused.status).toBe(400);
    expect(refused.body.error.field).toBe('devices');
    expect(refused.body.error.message).toMatch(/cannot install on 2 of 4/);
    expect(refused.body.error.message).toMatch(/\.cab files cannot be pushed or pulled to Windows Mobile Smartphones/);
    for (const d of phones) expect(refused.body.error.message).toContain(d.externalId);
    for (const d of pocket) expect(refused.body.error.message).not.toContain(d.externalId);

    const created = await stack.api('POST', '/api/v1/rollouts', { ...body, options: { skipUnreachable: true } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ total: 2, skipped: { total: 2, noFile: 2, noMsisdn: 0 } });
    expect((await jobsOf(created.body.id)).map((j) => j.device_id)).toEqual([pocket[0]!.id, pocket[1]!.id]);

    // with an .exe variant every device is served: the smartphones get the .exe, the Pocket PCs the .cab
    const both = await uploadSoftware(stack, { kind: 'other', platforms: 'windows-mobile-pocketpc,windows-mobile-smartphone' }, [
      'client.cab',
      'client.exe',
    ]);
    const all = await stack.api('POST', '/api/v1/rollouts', { ...body, softwareId: both });
    expect(all.status).toBe(201);
    const files = new Map(
      (await stack.db('software_files').where({ software_id: both }).select('id', 'format')).map((f) => [f.id, f.format]),
    );
    expect((await jobsOf(all.body.id)).map((j) => files.get(j.file_id!))).toEqual(['cab', 'exe', 'cab', 'exe']);
  });
});
