/**
 * Device changes reaching running jobs, against the real stack with a worker: a changed MSISDN is
 * used by the next push of a running job (its retry after an expired link), and retiring a device
 * cancels its running job through Temporal (`Cancelled`, tickets revoked) and refuses its token.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { recordedMessages } from '../../infra/channels/recording';
import { installWorkflow } from '../../workflows/install';
import { type InstallInput, installWorkflowId } from '../../workflows/messages';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

/** A registered android device, an .apk, and its install job started with SMS pushes. */
async function runningSmsJob(msisdn: string, ticketLifetimeMs: number) {
  const reg = await stack.api('POST', '/api/v1/devices', {
    devices: [{ externalId: `imei-${randomUUID()}`, platform: 'android', msisdn, tags: ['berlin'] }],
  });
  expect(reg.status).toBe(201);
  const { id: deviceId, token } = reg.body.devices[0];
  const [sw] = await stack
    .db('software')
    .insert({ name: `App ${randomUUID()}`, version: '2.0', kind: 'other', platforms: ['android'] })
    .returning('id');
  const [file] = await stack
    .db('software_files')
    .insert({ software_id: sw.id, file_name: 'app.apk', format: 'apk', size: 10, sha256: 'x', storage_path: '/nonexistent' })
    .returning('id');
  const [rollout] = await stack
    .db('rollouts')
    .insert({
      software_id: sw.id,
      options: { useDm: false, push: 'sms' },
      schedule: { perDay: 'unlimited' },
      state: 'running',
      total: 1,
    })
    .returning('id');
  const [job] = await stack
    .db('installations')
    .insert({ rollout_id: rollout.id, device_id: deviceId, seq: 0, file_id: file.id })
    .returning('id');
  const workflowId = installWorkflowId(rollout.id, deviceId);
  const input: InstallInput = {
    installationId: job.id,
    rolloutId: rollout.id,
    deviceId,
    softwareId: sw.id,
    options: { useDm: false, push: 'sms', maxPushAttempts: 5 },
    timeouts: { ...stack.config.timeouts, ticketLifetimeMs },
  };
  const handle = await stack.client.workflow.start(installWorkflow, {
    taskQueue: stack.config.taskQueue,
    workflowId,
    args: [input],
  });
  await stack.db('installations').where({ id: job.id }).update({ workflow_id: workflowId, started_at: stack.db.fn.now() });
  return { deviceId, token, jobId: job.id as string, handle };
}

describe('a changed MSISDN reaches the running job', () => {
  it('the push retried after the expired link goes to the new number (recorded messages)', async () => {
    const { deviceId, jobId, handle } = await runningSmsJob('+4915100000111', 4_000);
    const first = await until('the first SMS', async () => {
      const m = await recordedMessages(stack.db, { installationId: jobId });
      return m.length >= 1 ? m : undefined;
    });
    expect(first[0]).toMatchObject({ channel: 'sms', recipient: '+4915100000111' });

    const patched = await stack.api('PATCH', `/api/v1/devices/${deviceId}`, { msisdn: '+49 151 0000 0222' });
    expect(patched.status).toBe(200);
    expect(patched.body.msisdn).toBe('+4915100000222');
    expect(patched.body.history).toEqual([
      expect.objectContaining({ event: 'updated', changes: { msisdn: { from: '+4915100000111', to: '+4915100000222' } } }),
    ]);

    const both = await until(
      'the second SMS',
      async () => {
        const m = await recordedMessages(stack.db, { installationId: jobId });
        return m.length >= 2 ? m : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(both.map((m) => m.recipient)).toEqual(['+4915100000111', '+4915100000222']);
    expect(both[1]!.idempotencyKey).toBe(`${jobId}:push:2`);
    await handle.cancel();
  });
});

describe('DELETE /api/v1/devices/:id retires the device', () => {
  it('its running job is Cancelled by its install workflow, its token refused, its record readable; idempotent', async () => {
    const { deviceId, token, jobId, handle } = await runningSmsJob('+4915100000333', 3_600_000);
    await until('Waiting for download', async () => {
      const row = await stack.db('installations').where({ id: jobId }).first('status');
      return row.status === STATUS.waitingForDownload ? true : undefined;
    });
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: {} }, token)).status).toBe(200);

    const del = await stack.api('DELETE', `/api/v1/devices/${deviceId}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id: deviceId, cancelledJobs: 1 });
    expect(Date.parse(del.body.retiredAt)).not.toBeNaN();

    // the workflow records Cancelled, then ends cancelled (as under a rollout's cancel)
    await expect(handle.result()).rejects.toThrow(/cancel/i);
    const job = await stack.db('installations').where({ id: jobId }).first();
    expect(job).toMatchObject({ status: STATUS.cancelled, final: true });
    const tickets = await stack.db('push_tickets').where({ installation_id: jobId });
    expect(tickets.length).toBeGreaterThan(0);
    expect(tickets.every((t) => t.revoked_at instanceof Date)).toBe(true);

    const refused = await stack.api('POST', '/api/v1/device/sync', { installed: {} }, token);
    expect(refused.status).toBe(401);

    const detail = await stack.api('GET', `/api/v1/devices/${deviceId}`);
    expect(detail.status).toBe(200);
    expect(detail.body.retiredAt).toBe(del.body.retiredAt);
    expect(detail.body.jobs).toEqual([expect.objectContaining({ id: jobId, status: STATUS.cancelled, final: true })]);
    expect(detail.body.history.map((h: any) => h.event)).toEqual(['retired']);

    const again = await stack.api('DELETE', `/api/v1/devices/${deviceId}`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: deviceId, retiredAt: del.body.retiredAt, cancelledJobs: 0 });
    expect((await stack.api('GET', `/api/v1/devices/${deviceId}`)).body.history).toHaveLength(1);
  });

  it('a job its rollout has not started yet is Cancelled at once; when the rollout reaches it, nothing is sent', async () => {
    const msisdn = '+4915100000444';
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: [{ externalId: `imei-${randomUUID()}`, platform: 'android', msisdn }],
    });
    expect(reg.status).toBe(201);
    const deviceId: string = reg.body.devices[0].id;
    const [sw] = await stack
      .db('software')
      .insert({ name: `App ${randomUUID()}`, version: '2.0', kind: 'other', platforms: ['android'] })
      .returning('id');
    await stack
      .db('software_files')
      .insert({ software_id: sw.id, file_name: 'app.apk', format: 'apk', size: 10, sha256: 'x', storage_path: '/nonexistent' });
    const schedule = {
      perDay: 'unlimited',
      timeZone: 'UTC',
      weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      window: { start: '00:00', end: '24:00' },
      startDate: '2031-03-03',
    };
    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: sw.id,
      devices: { ids: [deviceId] },
      options: { useDm: false, push: 'sms' },
      schedule,
    });
    expect(created.status).toBe(201);
    const rolloutId: string = created.body.id;

    const del = await stack.api('DELETE', `/api/v1/devices/${deviceId}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ id: deviceId, cancelledJobs: 1 });
    const job = await stack.db('installations').where({ rollout_id: rolloutId }).first();
    expect(job).toMatchObject({ status: STATUS.cancelled, final: true, started_at: null });
    const log = await stack.db('installation_log').where({ installation_id: job.id }).select('message');
    expect(log.map((l) => l.message)).toEqual(['device retired before this install started']);

    // the rollout reaches the job today: its install ends at once on the final status, nothing is sent
    const today = new Date().toISOString().slice(0, 10);
    const changed = await stack.api('PATCH', `/api/v1/rollouts/${rolloutId}/schedule`, { ...schedule, startDate: today });
    expect(changed.status).toBe(200);
    const done = await until(
      'the rollout completed',
      async () => {
        const r = await stack.api('GET', `/api/v1/rollouts/${rolloutId}`);
        return r.body.state === 'completed' ? r.body : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(done.counts).toMatchObject({ [STATUS.cancelled]: 1 });
    expect(await recordedMessages(stack.db, { installationId: job.id })).toEqual([]);
    expect(await stack.db('installations').where({ id: job.id }).first('status', 'final')).toEqual({
      status: STATUS.cancelled,
      final: true,
    });
  });
});
