/**
 * Retry and per-job control (issue 14, SPEC G3) over HTTP against the real stack, the devices acting
 * through the device API (mark for installation: sync → download link):
 * - `POST /rollouts/:id/retry`: 409 while the source runs; once over, 201 a new rollout of the devices
 *   whose jobs ended in `statuses` (default failed / unknown), in the source's order, `retryOf` set,
 *   listed by `GET /rollouts`; 400 naming `statuses` when none matches, the fields of POST /rollouts
 *   named like there; operator, not viewer;
 * - `POST /installations/:id/cancel`: a job not started ends Cancelled at once (its device never gets
 *   it; the rollout, reaching it, closes it without an install), a running one is cancelled through
 *   its workflow, a final one or one whose software has reached the device is 409; operator, not viewer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { LATER, NOW_ALL_DAY, type RegisteredDevice, registerDevices, uploadSoftware } from '../helpers/api-fixtures';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

let stack: Stack;
let operatorKey: string;
let viewerKey: string;

beforeAll(async () => {
  stack = await startStack();
  const key = async (role: string) => {
    const res = await stack.api('POST', '/api/v1/admin-keys', { name: `retry-${role}`, role });
    expect(res.status).toBe(201);
    return res.body.key as string;
  };
  operatorKey = await key('operator');
  viewerKey = await key('viewer');
});
afterAll(async () => {
  await stack?.stop();
});

/** The device takes its pending job (mark for installation) and downloads the whole file; false when none is pending. */
async function download(device: RegisteredDevice): Promise<boolean> {
  const sync = await stack.api('POST', '/api/v1/device/sync', { installed: {} }, device.token);
  expect(sync.status).toBe(200);
  const job = sync.body.pending[0] as { url: string } | undefined;
  if (!job) return false;
  const file = await fetch(`${stack.baseUrl}${new URL(job.url).pathname}`);
  expect(file.status).toBe(200);
  await file.arrayBuffer();
  return true;
}

const state = async (id: string) => (await stack.api('GET', `/api/v1/rollouts/${id}`)).body;

describe('POST /api/v1/rollouts/:id/retry', () => {
  it('409 while running; then a new rollout of the failed devices (retryOf), or of the given statuses; 400 when none matches', {
    timeout: 90_000,
  }, async () => {
    const devices = await registerDevices(
      stack,
      'retry',
      Array.from({ length: 4 }, () => ({ platform: 'android' })),
    );
    const software = await uploadSoftware(stack, { kind: 'other', platforms: 'android' }, ['app.apk']);
    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: software,
      devices: { ids: devices.map((d) => d.id) },
      options: { push: 'mark', maxPushAttempts: 1 },
      schedule: NOW_ALL_DAY,
      timeouts: { ticketLifetime: '4s' },
      notify: ['ops@example.com'],
    });
    expect(created.status).toBe(201);
    const source = created.body.id as string;

    const running = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, {});
    expect(running.status).toBe(409);
    expect(running.body.error.message).toMatch(/still (scheduled|running)/);

    // devices 0 and 2 download; 1 and 3 stay silent: their links expire → Installation failed
    const acting = [devices[0]!, devices[2]!];
    const got = new Set<string>();
    await until(
      'the acting devices to download',
      async () => {
        for (const d of acting) if (!got.has(d.id) && (await download(d))) got.add(d.id);
        return got.size === acting.length ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const done = await until('the rollout to complete', async () => {
      const s = await state(source);
      return s.state === 'completed' && s.completedAt ? s : undefined;
    });
    expect(done.counts).toEqual({ [STATUS.downloaded]: 2, [STATUS.installationFailed]: 2 });

    // errors first: validation like POST /rollouts, roles, unknown rollout, nothing matching
    const badSchedule = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, {
      schedule: { window: { start: '18:00', end: '08:00' } },
    });
    expect(badSchedule.status).toBe(400);
    expect(badSchedule.body.error.field).toBe('schedule.window.end');
    const badStatus = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, { statuses: ['Broken'] });
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.error.field).toBe('statuses.0');
    const unknownField = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, { devices: { ids: [] } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.message).toMatch(/devices/);
    const none = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, { statuses: [STATUS.unknownStatus] });
    expect(none.status).toBe(400);
    expect(none.body.error.field).toBe('statuses');
    expect((await stack.api('POST', `/api/v1/rollouts/${crypto.randomUUID()}/retry`, {})).status).toBe(404);
    const asViewer = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, {}, viewerKey);
    expect(asViewer.status).toBe(403);
    expect(asViewer.body.error.message).toMatch(/operator/);

    // the default: the failed devices, in the source's order, the source's options and notify
    const retry = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, { schedule: LATER }, operatorKey);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.body).toMatchObject({
      total: 2,
      retryOf: source,
      statuses: [STATUS.installationFailed, STATUS.unknownStatus],
    });
    const jobs = await stack.db('installations').where({ rollout_id: retry.body.id }).orderBy('seq').select('device_id');
    expect(jobs.map((j) => j.device_id)).toEqual([devices[1]!.id, devices[3]!.id]);
    const row = await stack.db('rollouts').where({ id: retry.body.id }).first('retry_of', 'options', 'notify', 'schedule');
    expect(row.retry_of).toBe(source);
    // the source's weekdays and window (every day, all day), the quota and start date given
    expect(row.schedule).toMatchObject({ ...NOW_ALL_DAY, perDay: LATER.perDay, startDate: LATER.startDate, timeZone: 'UTC' });
    expect(row.options).toMatchObject({ push: 'mark', maxPushAttempts: 1 });
    expect(row.options.timeouts.ticketLifetimeMs).toBe(4_000);
    expect(row.notify).toEqual(['ops@example.com']);

    // given statuses and options
    const again = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, {
      statuses: [STATUS.downloaded],
      options: { push: 'sms', maxPushAttempts: 2 },
      schedule: LATER,
    });
    expect(again.status).toBe(201);
    expect(again.body.total).toBe(2);
    expect(
      (await stack.db('installations').where({ rollout_id: again.body.id }).orderBy('seq').select('device_id')).map(
        (j) => j.device_id,
      ),
    ).toEqual([devices[0]!.id, devices[2]!.id]);
    expect((await stack.db('rollouts').where({ id: again.body.id }).first('options')).options).toMatchObject({
      push: 'sms',
      maxPushAttempts: 2,
    });

    // groups and safety as in POST /rollouts
    const staged = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, {
      groups: [{ name: 'first', devices: 1 }, { name: 'rest' }],
      safety: { approval: 'manual' },
      schedule: LATER,
    });
    expect(staged.status, JSON.stringify(staged.body)).toBe(201);
    expect((await stack.db('rollouts').where({ id: staged.body.id }).first('groups')).groups).toEqual([
      { name: 'first', from: 0, size: 1 },
      { name: 'rest', from: 1, size: 1 },
    ]);
    const badGroups = await stack.api('POST', `/api/v1/rollouts/${source}/retry`, { groups: [{ name: 'x', devices: 'lots' }] });
    expect(badGroups.status).toBe(400);
    expect(badGroups.body.error.field).toMatch(/^groups/);
    expect((await stack.api('POST', `/api/v1/rollouts/${staged.body.id}/cancel`, {})).status).toBe(200);

    // the list names the source of each retry, newest first
    const list = await stack.api('GET', '/api/v1/rollouts?limit=3', undefined, viewerKey);
    expect(list.status).toBe(200);
    expect(list.body.rollouts.map((r: { id: string; retryOf: string | null }) => [r.id, r.retryOf])).toEqual([
      [staged.body.id, source],
      [again.body.id, source],
      [retry.body.id, source],
    ]);

    // a retry still running cannot be retried
    const busy = await stack.api('POST', `/api/v1/rollouts/${retry.body.id}/retry`, {});
    expect(busy.status).toBe(409);
    for (const id of [retry.body.id, again.body.id]) {
      expect((await stack.api('POST', `/api/v1/rollouts/${id}/cancel`, {})).status).toBe(200);
    }
  });
});

describe('POST /api/v1/installations/:id/cancel', () => {
  it('a job not started ends Cancelled at once, a running one through its workflow; final jobs are 409', {
    timeout: 90_000,
  }, async () => {
    const devices = await registerDevices(stack, 'jobcancel', [{ platform: 'android' }, { platform: 'android' }]);
    const software = await uploadSoftware(stack, { kind: 'other', platforms: 'android' }, ['app.apk']);
    // 2 a day over the whole day: the first starts now, the second hours later
    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: software,
      devices: { ids: devices.map((d) => d.id) },
      options: { push: 'mark' },
      schedule: { ...NOW_ALL_DAY, perDay: 2 },
    });
    expect(created.status).toBe(201);
    const rollout = created.body.id as string;
    const jobs = await stack.db('installations').where({ rollout_id: rollout }).orderBy('seq').select('id', 'device_id');
    const [first, second] = jobs as { id: string; device_id: string }[];
    await until('the first job to wait for its download', async () => {
      const j = await stack.db('installations').where({ id: first!.id }).first('status');
      return j.status === STATUS.waitingForDownload ? true : undefined;
    });

    expect((await stack.api('POST', `/api/v1/installations/${second!.id}/cancel`, {}, viewerKey)).status).toBe(403);
    expect((await stack.api('POST', `/api/v1/installations/${crypto.randomUUID()}/cancel`, {})).status).toBe(404);
    expect((await stack.api('POST', `/api/v1/installations/${second!.id}/cancel`, { reason: 42 })).status).toBe(400);

    // not started: Cancelled now, with its log entry; the device never gets it
    const notStarted = await stack.api('POST', `/api/v1/installations/${second!.id}/cancel`, { reason: 'bad unit' }, operatorKey);
    expect(notStarted.status, JSON.stringify(notStarted.body)).toBe(200);
    expect(notStarted.body).toEqual({
      id: second!.id,
      rolloutId: rollout,
      deviceId: second!.device_id,
      cancelled: 'not-started',
      status: STATUS.cancelled,
    });
    const log = await stack.api('GET', `/api/v1/installations/${second!.id}/log`);
    expect(log.body.log.map((e: { to: string | null; message: string }) => [e.to, e.message])).toEqual([
      [STATUS.cancelled, 'cancelled alone by an operator before this install started: bad unit'],
    ]);
    const again = await stack.api('POST', `/api/v1/installations/${second!.id}/cancel`, {});
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/has ended \(Cancelled\)/);

    // running: its install is cancelled and records Cancelled; the first device's link is dead
    const sync = await stack.api('POST', '/api/v1/device/sync', { installed: {} }, devices[0]!.token);
    const link = `${stack.baseUrl}${new URL(sync.body.pending[0].url).pathname}`;
    const running = await stack.api('POST', `/api/v1/installations/${first!.id}/cancel`, {}, operatorKey);
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ id: first!.id, cancelled: 'running' });
    await until('the running job to record Cancelled', async () => {
      const j = await stack.db('installations').where({ id: first!.id }).first('status', 'final');
      return j.final && j.status === STATUS.cancelled ? true : undefined;
    });
    expect((await fetch(link)).status).toBe(410);
    const runningLog = (await stack.api('GET', `/api/v1/installations/${first!.id}/log`)).body.log as { message: string }[];
    expect(runningLog.map((e) => e.message)).toContain('cancel requested by an operator for this job alone');
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: {} }, devices[1]!.token)).body.pending).toEqual([]);

    // the rollout, brought forward, reaches the cancelled job: no install, and it completes
    expect((await stack.api('PATCH', `/api/v1/rollouts/${rollout}/schedule`, { perDay: 'unlimited' })).status).toBe(200);
    const done = await until('the rollout to complete', async () => {
      const s = await state(rollout);
      return s.state === 'completed' && s.completedAt ? s : undefined;
    });
    expect(done.counts).toEqual({ [STATUS.cancelled]: 2 });
    // its start is logged, nothing is sent, its status stays Cancelled
    const after = (await stack.api('GET', `/api/v1/installations/${second!.id}/log`)).body.log as {
      event: string;
      to: string | null;
    }[];
    expect(after.filter((e) => e.to !== null).map((e) => e.to)).toEqual([STATUS.cancelled]);
    expect(after.filter((e) => e.event === 'push')).toEqual([]);
  });

  it('a job whose software reached the device is not cancelled (409), as a rollout cancel leaves it', {
    timeout: 60_000,
  }, async () => {
    const [device] = await registerDevices(stack, 'arrived', [{ platform: 'android' }]);
    const dme = await uploadSoftware(stack, { kind: 'dme-client', platforms: 'android', name: 'DME Client' }, ['dme.apk']);
    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: dme,
      devices: { ids: [device!.id] },
      options: { push: 'mark' },
      schedule: NOW_ALL_DAY,
    });
    expect(created.status).toBe(201);
    await until('the job to be pending', async () => ((await download(device!)) ? true : undefined));
    const job = await until('the job to wait for its verification', async () => {
      const j = await stack.db('installations').where({ rollout_id: created.body.id }).first('id', 'status');
      return j.status === STATUS.downloadedWaitingForVerification ? j : undefined;
    });
    const res = await stack.api('POST', `/api/v1/installations/${job.id}/cancel`, {});
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/reached the device/);
    expect((await stack.api('POST', `/api/v1/rollouts/${created.body.id}/cancel`, {})).status).toBe(200);
  });
});
