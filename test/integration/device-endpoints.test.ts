/**
 * Device-facing endpoints against the real stack: device token auth, system-info sync (inventory,
 * `sysinfoSynced` to every open job, pending Mark-for-installation jobs) and download/install reports
 * (logged once, `downloaded` / `downloadFailed`). The signals are queued in the signal outbox and
 * delivered by the stack's dispatchers; they are observed in real Temporal histories: each job's
 * workflow id is held by a recorder workflow started on a task queue no worker polls, so every signal
 * the API delivers lands in that workflow's history, in order, with its payload.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { syncInventory } from '../../services/device-reports';
import { CONTACT_RESOLUTION_S } from '../../services/devices';
import { completeDownload, downloadedDedupeKey, findTicket } from '../../services/downloads';
import { type OutboxSignal, outboxBacklog, outboxRow } from '../../services/signal-outbox';
import { temporalSignaller } from '../../services/signals';
import { downloadedSignal, installWorkflowId, sysinfoSyncedSignal } from '../../workflows/messages';
import { recordedSignals, startSignalRecorder } from '../helpers/signal-recorder';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

let stack: Stack;
const recorders: WorkflowHandle[] = [];
let n = 0;

/** While true, the dispatchers' signals fail as with Temporal unreachable. */
let temporalDown = false;

beforeAll(async () => {
  stack = await startStack({
    noWorker: true,
    signaller: (client) => {
      const temporal = temporalSignaller(client);
      return {
        signal: (id, def, ...args) =>
          temporalDown ? Promise.reject(new Error('Temporal unreachable (test)')) : temporal.signal(id, def, ...args),
      };
    },
  });
});
afterAll(async () => {
  await Promise.all(recorders.map((h) => h.terminate('test over').catch(() => undefined)));
  await stack?.stop();
});

async function registerDevice(platform = 'windows-mobile-pocketpc'): Promise<{ id: string; token: string }> {
  const res = await stack.api('POST', '/api/v1/devices', { devices: [{ externalId: `dev-${Date.now()}-${++n}`, platform }] });
  expect(res.status).toBe(201);
  return res.body.devices[0];
}

async function uploadSoftware(name = `Client ${Date.now()}-${++n}`, version = '2.0') {
  const form = new FormData();
  form.append('name', name);
  form.append('version', version);
  form.append('kind', 'dme-client');
  form.append('platforms', 'windows-mobile-pocketpc');
  form.append('file', new Blob([randomBytes(4096)]), 'client.cab');
  const res = await fetch(`${stack.baseUrl}/api/v1/software`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  expect(res.status).toBe(201);
  return (await res.json()) as {
    id: string;
    name: string;
    version: string;
    sha256: string;
    size: number;
    files: { id: string }[];
  };
}

interface JobSeed {
  deviceId: string;
  softwareId: string;
  status?: string | null;
  method?: string | null;
  final?: boolean;
  /** Ticket lifetimes in seconds (negative: expired), with optional revocation. */
  tickets?: { expiresIn: number; revoked?: boolean; attempt?: number }[];
  fileId?: string;
}

async function seedJob(s: JobSeed): Promise<{ rolloutId: string; jobId: string; tickets: string[] }> {
  const [rollout] = await stack
    .db('rollouts')
    .insert({ software_id: s.softwareId, options: {}, schedule: {}, state: 'running' })
    .returning('id');
  const [job] = await stack
    .db('installations')
    .insert({
      rollout_id: rollout.id,
      device_id: s.deviceId,
      seq: 0,
      status: s.status === undefined ? STATUS.waitingForDownload : s.status,
      method: s.method === undefined ? 'mark' : s.method,
      final: s.final ?? false,
    })
    .returning('id');
  const tickets: string[] = [];
  for (const t of s.tickets ?? []) {
    const ticket = randomBytes(32).toString('base64url');
    await stack.db('push_tickets').insert({
      ticket,
      installation_id: job.id,
      file_id: s.fileId,
      attempt: t.attempt ?? null,
      expires_at: stack.db.raw(`now() + make_interval(secs => ?)`, [t.expiresIn]),
      revoked_at: t.revoked ? stack.db.fn.now() : null,
    });
    tickets.push(ticket);
  }
  return { rolloutId: rollout.id, jobId: job.id, tickets };
}

/** A registered device with one job of a fresh software upload and one live download link. */
async function deviceWithLiveJob() {
  const device = await registerDevice();
  const sw = await uploadSoftware();
  const job = await seedJob({ deviceId: device.id, softwareId: sw.id, fileId: sw.files[0]!.id, tickets: [{ expiresIn: 3600 }] });
  return { device, sw, job };
}

/** Holds the job's install workflow id on a task queue nobody polls: its history records every signal. */
async function recorder(rolloutId: string, deviceId: string): Promise<WorkflowHandle> {
  const h = await startSignalRecorder(stack.client, installWorkflowId(rolloutId, deviceId));
  recorders.push(h);
  return h;
}

/** Every queued signal delivered by the stack's dispatchers. */
const signalsDelivered = () =>
  until('the signal outbox delivered', async () => ((await outboxBacklog(stack.db)).pending === 0 ? true : undefined));

/** A signal as `signal_outbox` stores it (`outboxRow`, its args as the jsonb column reads back). */
const storedRow = (signal: OutboxSignal) => {
  const row = outboxRow(signal);
  return { ...row, args: JSON.parse(row.args) };
};

const sync = (token: string | null, body: unknown) => stack.api('POST', '/api/v1/device/sync', body, token);
const report = (token: string, body: unknown) => stack.api('POST', '/api/v1/device/reports', body, token);

/**
 * The SQL statements a device request runs, counted on knex's `query` events of the API's pool; the
 * first authenticates it (the device of the token hash).
 */
async function statementsOf<R>(request: () => Promise<R>): Promise<{ res: R; statements: string[] }> {
  const statements: string[] = [];
  const onQuery = (q: { sql: string }) => statements.push(q.sql);
  stack.db.on('query', onQuery);
  let res: R;
  try {
    res = await request();
  } finally {
    stack.db.off('query', onQuery);
  }
  expect(statements[0]).toContain('token_hash');
  return { res, statements };
}

describe('device authentication', () => {
  it('401 JSON without a token, with a wrong one or another scheme; a valid token records the contact', async () => {
    const device = await registerDevice();
    for (const auth of [undefined, 'Bearer drd_wrong', `Basic ${device.token}`, 'Bearer']) {
      const res = await fetch(`${stack.baseUrl}/api/v1/device/sync`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify({ installed: {} }),
      });
      expect(res.status, auth).toBe(401);
      expect(((await res.json()) as any).error.code).toBe('unauthorized');
    }
    expect((await stack.db('devices').where({ id: device.id }).first()).last_contact_at).toBeNull();
    // an admin key is not a device token
    expect((await sync(stack.adminKey, { installed: {} })).status).toBe(401);

    expect((await sync(device.token, { installed: {} })).status).toBe(200);
    const row = await stack.db('devices').where({ id: device.id }).first();
    expect(row.last_contact_at).toBeInstanceOf(Date);
    expect(Date.now() - row.last_contact_at.getTime()).toBeLessThan(60_000);
  });

  it(`last_contact_at is written at most once per ${CONTACT_RESOLUTION_S} s, and at the first contact after a job started`, async () => {
    const device = await registerDevice();
    const contact = async () => (await stack.db('devices').where({ id: device.id }).first()).last_contact_at as Date;
    expect((await sync(device.token, { installed: {} })).status).toBe(200);
    const first = await contact();
    // more requests within the resolution: no write
    for (let i = 0; i < 3; i++) expect((await sync(device.token, { installed: {} })).status).toBe(200);
    expect((await contact()).getTime()).toBe(first.getTime());
    // once the recorded contact is older than that, the next request records it again
    const old = new Date(Date.now() - (CONTACT_RESOLUTION_S + 5) * 1000);
    await stack.db('devices').where({ id: device.id }).update({ last_contact_at: old });
    expect((await sync(device.token, { installed: {} })).status).toBe(200);
    const later = await contact();
    expect(later.getTime()).toBeGreaterThan(old.getTime() + CONTACT_RESOLUTION_S * 1000);
    expect(Date.now() - later.getTime()).toBeLessThan(60_000);
    // …and the first contact after one of its jobs started is always written (P1 "not heard from")
    const sw = await uploadSoftware();
    const job = await seedJob({ deviceId: device.id, softwareId: sw.id, fileId: sw.files[0]!.id });
    await stack.db('installations').where({ id: job.jobId }).update({ started_at: stack.db.fn.now() });
    expect((await sync(device.token, { installed: {} })).status).toBe(200);
    const afterStart = await contact();
    expect(afterStart.getTime()).toBeGreaterThan(later.getTime());
    const { started_at: startedAt } = await stack.db('installations').where({ id: job.jobId }).first('started_at');
    expect(afterStart.getTime()).toBeGreaterThanOrEqual((startedAt as Date).getTime());
    expect((await sync(device.token, { installed: {} })).status).toBe(200);
    expect((await contact()).getTime()).toBe(afterStart.getTime());
    // …also when the rollout has not written the start yet (its start marks go in batches) but the
    // install is under way: the first contact after each change of the job counts
    const pending = await seedJob({ deviceId: device.id, softwareId: sw.id, fileId: sw.files[0]!.id });
    await stack
      .db('installations')
      .where({ id: pending.jobId })
      .update({ started_at: null, final: false, updated_at: stack.db.fn.now() });
    expect((await sync(device.token, { installed: {} })).status).toBe(200);
    const duringStart = await contact();
    expect(duringStart.getTime()).toBeGreaterThan(afterStart.getTime());
    expect((await sync(device.token, { installed: {} })).status).toBe(200);
    expect((await contact()).getTime()).toBe(duringStart.getTime());
    // a final job without a start (cancelled before it started) never does, however recent its change
    await stack
      .db('installations')
      .where({ id: pending.jobId })
      .update({ final: true, updated_at: stack.db.raw("now() + interval '1 hour'") });
    expect((await sync(device.token, { installed: {} })).status).toBe(200);
    expect((await contact()).getTime()).toBe(duringStart.getTime());
    // a report is a contact too, recorded in its one statement
    await stack.db('devices').where({ id: device.id }).update({ last_contact_at: old });
    expect((await report(device.token, { jobId: job.jobId, phase: 'download-begin', result: 'success' })).status).toBe(202);
    const reported = await contact();
    expect(reported.getTime()).toBeGreaterThan(old.getTime() + CONTACT_RESOLUTION_S * 1000);
    expect((await report(device.token, { jobId: job.jobId, phase: 'download-end', result: 'success' })).status).toBe(202);
    expect((await contact()).getTime()).toBe(reported.getTime());
    // a wrong token writes nothing
    await stack.db('devices').where({ id: device.id }).update({ last_contact_at: old });
    expect((await sync(`${device.token}x`, { installed: {} })).status).toBe(401);
    expect((await report(`${device.token}x`, { jobId: job.jobId, phase: 'post-install', result: 'failure' })).status).toBe(401);
    expect((await contact()).getTime()).toBe(old.getTime());
  });

  it("a wrong or retired token is a 401 whatever the body; the device's refused body is its 400 or 404; nothing written", async () => {
    const { device, job } = await deviceWithLiveJob();
    const logged = async () => (await stack.db('installation_log').where({ installation_id: job.jobId, event: 'report' })).length;
    const entries = await logged();
    const valid = { jobId: job.jobId, phase: 'download-end', result: 'failure' };
    const wrong = `${device.token}x`;
    const cases: [string, () => Promise<{ status: number; body: any }>, number, string][] = [
      ['wrong token, valid report', () => report(wrong, valid), 401, 'unauthorized'],
      ['wrong token, report without a phase', () => report(wrong, { jobId: job.jobId, result: 'failure' }), 401, 'unauthorized'],
      ['wrong token, job id not a uuid', () => report(wrong, { ...valid, jobId: 'job-1' }), 401, 'unauthorized'],
      ['wrong token, sync without an inventory', () => sync(wrong, {}), 401, 'unauthorized'],
      ['no token, sync without an inventory', () => sync(null, {}), 401, 'unauthorized'],
      [
        'device, report without a phase',
        () => report(device.token, { jobId: job.jobId, result: 'failure' }),
        400,
        'invalid_request',
      ],
      ['device, job id not a uuid', () => report(device.token, { ...valid, jobId: 'job-1' }), 404, 'not_found'],
      ['device, sync without an inventory', () => sync(device.token, {}), 400, 'invalid_request'],
    ];
    for (const [what, request, status, code] of cases) {
      const res = await request();
      expect(res.status, what).toBe(status);
      expect(res.body.error.code, what).toBe(code);
    }
    // a retired device's token authenticates nothing either, in its one statement
    await stack.db('devices').where({ id: device.id }).update({ retired_at: stack.db.fn.now(), last_contact_at: null });
    const retired = await statementsOf(() => report(device.token, valid));
    expect(retired.res.status).toBe(401);
    expect(retired.statements).toHaveLength(1);
    expect((await sync(device.token, { installed: { App: '9' } })).status).toBe(401);
    const row = await stack.db('devices').where({ id: device.id }).first();
    expect(row.last_contact_at).toBeNull();
    expect(row.installed).not.toEqual({ App: '9' });
    expect(await logged()).toBe(entries);
    expect(
      await stack.db('signal_outbox').where('workflow_id', 'like', `%${device.id}%`).where({ signal: 'downloadFailed' }),
    ).toHaveLength(0);
  });

  it('one SQL statement per request, its authentication included, no signal RPC: a report (job + its link, entry, signal), a sync (inventory, signals, pending jobs)', async () => {
    const { device, sw, job } = await deviceWithLiveJob();
    const other = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId: sw.files[0]!.id,
      status: STATUS.installingSoftware,
      method: 'sms',
    });
    const stranger = await registerDevice();
    expect((await sync(device.token, { installed: {} })).status).toBe(200); // the contact is recorded
    const reports: [unknown, number, unknown][] = [
      [{ jobId: job.jobId, phase: 'download-end', result: 'success' }, 202, { accepted: true, duplicate: false }],
      [{ jobId: job.jobId, phase: 'download-end', result: 'success' }, 202, { accepted: true, duplicate: true }],
      [{ jobId: job.jobId, phase: 'download-begin', result: 'success' }, 202, { accepted: true, duplicate: false }],
      [{ jobId: other.jobId, phase: 'post-install', result: 'failure', detail: 'x' }, 202, { accepted: true, duplicate: false }],
    ];
    for (const [body, status, answer] of reports) {
      const { res, statements } = await statementsOf(() => report(device.token, body));
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body).toEqual(answer);
      expect(statements, JSON.stringify(body)).toHaveLength(1);
    }
    // another device's job: not found, in one statement, nothing written
    const notMine = await statementsOf(() =>
      report(stranger.token, { jobId: job.jobId, phase: 'download-end', result: 'failure' }),
    );
    expect(notMine.res.status).toBe(404);
    expect(notMine.statements).toHaveLength(1);

    const synced = await statementsOf(() => sync(device.token, { installed: { App: '1' } }));
    expect(synced.res.body).toMatchObject({ inventoryStored: true, signalled: 2, pending: [{ jobId: job.jobId }] });
    expect(synced.statements).toHaveLength(1);
    await signalsDelivered();
    expect(await stack.db('installation_log').where({ installation_id: job.jobId })).toHaveLength(2);
  });

  it('unknown device endpoints answer JSON 404 to a device', async () => {
    const device = await registerDevice();
    const res = await stack.api('GET', '/api/v1/device/config', undefined, device.token);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('POST /api/v1/device/sync', () => {
  it('stores the inventory and queues sysinfoSynced for every open job of the device (closed/unknown workflows ignored)', async () => {
    const device = await registerDevice();
    const other = await registerDevice();
    const sw = await uploadSoftware();
    const fileId = sw.files[0]!.id;
    const open1 = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      status: STATUS.downloadedWaitingForVerification,
      method: 'sms',
    });
    const open2 = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      status: STATUS.installingSoftware,
      method: 'dm',
    });
    const done = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      status: STATUS.downloadedVerified,
      final: true,
    });
    const closed = await seedJob({ deviceId: device.id, softwareId: sw.id, fileId, status: STATUS.waitingForDownload });
    await seedJob({ deviceId: device.id, softwareId: sw.id, fileId, status: null, method: null }); // no workflow at all
    const othersJob = await seedJob({ deviceId: other.id, softwareId: sw.id, fileId });
    const [h1, h2, hDone, hClosed, hOther] = await Promise.all([
      recorder(open1.rolloutId, device.id),
      recorder(open2.rolloutId, device.id),
      recorder(done.rolloutId, device.id),
      recorder(closed.rolloutId, device.id),
      recorder(othersJob.rolloutId, other.id),
    ]);
    await hClosed.terminate('closed before the sync');

    const installed = { [sw.name]: '2.0', Other: '1.1' };
    const res = await sync(device.token, { installed, info: { os: 'Windows Mobile 6.1', freeMb: 12 } });
    expect(res.status).toBe(200);
    // passed to the device's four open jobs (queued); the closed workflow and the job without one
    // count as delivered when the dispatcher meets them
    expect(res.body).toEqual({ pending: [], inventoryStored: true, signalled: 4 });

    const row = await stack.db('devices').where({ id: device.id }).first();
    expect(row.installed).toEqual(installed);
    expect(row.info).toEqual({ os: 'Windows Mobile 6.1', freeMb: 12 });
    expect(row.last_sync_at).toBeInstanceOf(Date);

    await signalsDelivered();
    for (const h of [h1, h2]) {
      const s = await recordedSignals(h);
      expect(s).toHaveLength(1);
      expect(s[0]).toMatchObject({ name: 'sysinfoSynced', arg: { installed } });
      expect(Date.parse(s[0]!.arg.at)).toBe(row.last_sync_at.getTime());
    }
    expect(await recordedSignals(hDone)).toEqual([]);
    expect(await recordedSignals(hOther)).toEqual([]);

    // a duplicate sync is harmless: same inventory, one more signal per open job
    expect((await sync(device.token, { installed })).status).toBe(200);
    expect((await stack.db('devices').where({ id: device.id }).first()).info).toEqual({ os: 'Windows Mobile 6.1', freeMb: 12 });
    await signalsDelivered();
    expect(await recordedSignals(h1, 'sysinfoSynced')).toHaveLength(2);
  });

  it('queues one sysinfoSynced row per open job (its workflow id, the inventory and its time) and returns the marked job, as rows', async () => {
    const device = await registerDevice();
    const other = await registerDevice();
    const sw = await uploadSoftware();
    const fileId = sw.files[0]!.id;
    // open: a Mark-for-installation job waiting for its download (no workflow id written: the default
    // one), and one whose workflow was started under an id of its own
    const marked = await seedJob({ deviceId: device.id, softwareId: sw.id, fileId, tickets: [{ expiresIn: 3600, attempt: 1 }] });
    const own = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      status: STATUS.installingSoftware,
      method: 'sms',
    });
    const ownWorkflowId = `install/custom/${own.jobId}`;
    await stack.db('installations').where({ id: own.jobId }).update({ workflow_id: ownWorkflowId });
    const done = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      status: STATUS.downloadedVerified,
      final: true,
    });
    const othersJob = await seedJob({ deviceId: other.id, softwareId: sw.id, fileId });
    const workflowIds = [
      installWorkflowId(marked.rolloutId, device.id),
      ownWorkflowId,
      installWorkflowId(done.rolloutId, device.id),
      installWorkflowId(othersJob.rolloutId, other.id),
    ];
    const queued = () =>
      stack
        .db('signal_outbox')
        .whereIn('workflow_id', workflowIds)
        .orderBy('id')
        .select('workflow_id', 'signal', 'args', 'dedupe_key');

    const installed = { [sw.name]: '1.0', Other: '3' };
    const reportedAt = new Date(Date.now() - 60_000).toISOString();
    temporalDown = true; // the rows stay in the outbox to be looked at
    try {
      const res = await sync(device.token, { installed, reportedAt });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        inventoryStored: true,
        signalled: 2,
        pending: [
          {
            jobId: marked.jobId,
            software: sw.name,
            version: '2.0',
            url: `${stack.config.publicUrl}/d/${marked.tickets[0]}`,
            size: sw.size,
            sha256: sw.sha256,
            fileName: 'client.cab',
            format: 'cab',
            expiresAt: expect.any(String),
          },
        ],
      });
      // the rows enqueueSignals would write for these signals (services/signal-outbox.ts)
      const rows = await queued();
      expect(rows.sort((a, b) => a.workflow_id.localeCompare(b.workflow_id))).toEqual(
        [workflowIds[0]!, ownWorkflowId]
          .sort((a, b) => a.localeCompare(b))
          .map((workflowId) => storedRow({ workflowId, signal: sysinfoSyncedSignal, args: [{ installed, at: reportedAt }] })),
      );
      expect((await stack.db('devices').where({ id: device.id }).first()).last_sync_at.toISOString()).toBe(reportedAt);

      // the service itself: the marked job's row as the database returns it (size: bigint as a string)
      const direct = await syncInventory({ db: stack.db }, device.token, { installed });
      expect(direct).toEqual({
        device: { id: device.id, externalId: expect.any(String), platform: 'windows-mobile-pocketpc' },
        inventoryStored: true,
        signalled: 2,
        pending: [
          {
            job_id: marked.jobId,
            name: sw.name,
            version: '2.0',
            file_name: 'client.cab',
            format: 'cab',
            size: String(sw.size),
            sha256: sw.sha256,
            ticket: marked.tickets[0],
            expires_at: expect.any(Date),
          },
        ],
      });
      expect(await queued()).toHaveLength(4);
    } finally {
      temporalDown = false;
    }
    await signalsDelivered();
    // a device without jobs: nothing queued, nothing pending
    expect((await syncInventory({ db: stack.db }, other.token, { installed: {} }))?.pending).toEqual([]);
  });

  it('a late sync (queued on the device, older than the stored one) never overwrites the newer inventory', async () => {
    const device = await registerDevice();
    expect((await sync(device.token, { installed: { App: '2.0' } })).status).toBe(200);
    const before = await stack.db('devices').where({ id: device.id }).first();
    const late = await sync(device.token, {
      installed: { App: '1.0' },
      reportedAt: new Date(Date.now() - 3_600_000).toISOString(),
    });
    expect(late.status).toBe(200);
    expect(late.body.inventoryStored).toBe(false);
    const after = await stack.db('devices').where({ id: device.id }).first();
    expect(after.installed).toEqual({ App: '2.0' });
    expect(after.last_sync_at.getTime()).toBe(before.last_sync_at.getTime());
    // …but it is a contact of the device, recorded when due as by any other request
    const old = new Date(Date.now() - (CONTACT_RESOLUTION_S + 5) * 1000);
    await stack.db('devices').where({ id: device.id }).update({ last_contact_at: old });
    expect(
      (await sync(device.token, { installed: { App: '1.0' }, reportedAt: new Date(Date.now() - 3_600_000).toISOString() })).body,
    ).toMatchObject({
      inventoryStored: false,
    });
    const contacted = await stack.db('devices').where({ id: device.id }).first();
    expect(contacted.last_contact_at.getTime()).toBeGreaterThan(old.getTime() + CONTACT_RESOLUTION_S * 1000);
    expect(contacted.installed).toEqual({ App: '2.0' });
    expect(contacted.last_sync_at.getTime()).toBe(before.last_sync_at.getTime());
    // a device clock ahead of the server's counts as now, it does not pin the inventory in the future
    const ahead = await sync(device.token, {
      installed: { App: '2.1' },
      reportedAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    expect(ahead.body.inventoryStored).toBe(true);
    expect((await stack.db('devices').where({ id: device.id }).first()).last_sync_at.getTime()).toBeLessThanOrEqual(Date.now());
    expect((await sync(device.token, { installed: { App: '2.2' } })).body.inventoryStored).toBe(true);
  });

  it.each([
    [{}, 'installed'],
    [{ installed: 'App=1' }, 'installed'],
    [{ installed: { App: 1 } }, 'installed.App'],
    [{ installed: { App: '' } }, 'installed.App'],
    [{ installed: {}, info: 'x' }, 'info'],
    [{ installed: {}, reportedAt: 'yesterday' }, 'reportedAt'],
  ])('400 naming the field for %j', async (body, field) => {
    const device = await registerDevice();
    const res = await sync(device.token, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request', field });
  });

  it('answers the pending Mark-for-installation jobs with a live link, newest ticket, nothing else', async () => {
    const device = await registerDevice();
    const other = await registerDevice();
    const sw = await uploadSoftware();
    const fileId = sw.files[0]!.id;
    const live = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      tickets: [
        { expiresIn: -60, attempt: 1 },
        { expiresIn: 3600, attempt: 2 },
      ],
    });
    await seedJob({ deviceId: device.id, softwareId: sw.id, fileId, tickets: [{ expiresIn: -1 }] }); // expired
    await seedJob({ deviceId: device.id, softwareId: sw.id, fileId, tickets: [{ expiresIn: 3600, revoked: true }] });
    await seedJob({ deviceId: device.id, softwareId: sw.id, fileId, method: 'sms', tickets: [{ expiresIn: 3600 }] });
    await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      method: 'dm',
      status: STATUS.installingSoftware,
      tickets: [{ expiresIn: 3600, attempt: 0 }],
    });
    await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      status: STATUS.downloadedWaitingForVerification,
      tickets: [{ expiresIn: 3600 }],
    });
    await seedJob({ deviceId: other.id, softwareId: sw.id, fileId, tickets: [{ expiresIn: 3600 }] });

    const res = await sync(device.token, { installed: {} });
    expect(res.status).toBe(200);
    expect(res.body.pending).toEqual([
      {
        jobId: live.jobId,
        software: sw.name,
        version: '2.0',
        url: `${stack.config.publicUrl}/d/${live.tickets[1]}`,
        size: sw.size,
        sha256: sw.sha256,
        fileName: 'client.cab',
        format: 'cab',
        expiresAt: expect.any(String),
      },
    ]);
    // the link works
    const file = await fetch(res.body.pending[0].url.replace(stack.config.publicUrl, stack.baseUrl), { method: 'HEAD' });
    expect(file.status).toBe(200);
    expect(file.headers.get('x-checksum-sha256')).toBe(sw.sha256);
  });
});

describe('POST /api/v1/device/reports', () => {
  it('logs each report once on the job; download-end success → downloaded, failures → downloadFailed', async () => {
    const { device, job } = await deviceWithLiveJob();
    const h = await recorder(job.rolloutId, device.id);

    const begin = { jobId: job.jobId, phase: 'download-begin', result: 'success' };
    let res = await report(device.token, begin);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: true, duplicate: false });
    await signalsDelivered();
    expect(await recordedSignals(h)).toEqual([]);

    const failure = { jobId: job.jobId, phase: 'download-end', result: 'failure', detail: 'connection lost at 40%' };
    expect((await report(device.token, failure)).status).toBe(202);
    const end = { jobId: job.jobId, phase: 'download-end', result: 'success', reportedAt: new Date().toISOString() };
    expect((await report(device.token, end)).status).toBe(202);
    const post = { jobId: job.jobId, phase: 'post-install', result: 'failure', detail: { exitCode: 5 } };
    expect((await report(device.token, post)).status).toBe(202);

    // the device's queue sends everything again: logged once, signalled once
    for (const dup of [begin, failure, end, post]) {
      res = await report(device.token, dup);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ accepted: true, duplicate: true });
    }

    const log = await stack.db('installation_log').where({ installation_id: job.jobId }).orderBy('id');
    expect(log.map((l) => [l.event, l.message])).toEqual([
      ['report', 'device report: download-begin success'],
      ['report', 'device report: download-end failure: connection lost at 40%'],
      ['report', `device report: download-end success (reported at ${end.reportedAt})`],
      ['report', 'device report: post-install failure: {"exitCode":5}'],
    ]);
    await signalsDelivered();
    expect(await recordedSignals(h)).toEqual([
      { name: 'downloadFailed', arg: { phase: 'download-end', detail: 'connection lost at 40%' } },
      { name: 'downloaded', arg: { source: 'report', at: end.reportedAt } },
      { name: 'downloadFailed', arg: { phase: 'post-install', detail: '{"exitCode":5}' } },
    ]);

    // the same result again later (another attempt, another time) is a new entry
    res = await report(device.token, { ...failure, reportedAt: new Date().toISOString() });
    expect(res.body.duplicate).toBe(false);
    await signalsDelivered();
    expect(await recordedSignals(h, 'downloadFailed')).toHaveLength(3);
  });

  it('one downloaded per push link: download-end reports of the latest link after the first (or after its download) are logged, not signalled', async () => {
    const device = await registerDevice();
    const sw = await uploadSoftware();
    const job = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId: sw.files[0]!.id,
      method: 'sms',
      // the DM package link, push 1 and push 2
      tickets: [
        { expiresIn: 3600, attempt: 0 },
        { expiresIn: 3600, attempt: 1 },
        { expiresIn: 3600, attempt: 2 },
      ],
    });
    const h = await recorder(job.rolloutId, device.id);
    let reports = 0;
    // each a new report (its own time), not a repeat of the last one
    const end = () => ({
      jobId: job.jobId,
      phase: 'download-end',
      result: 'success',
      reportedAt: new Date(Date.now() - ++reports * 1000).toISOString(),
    });
    const downloaded = async () => {
      await signalsDelivered();
      return (await recordedSignals(h, 'downloaded')).length;
    };

    // the first report of the latest link (push 2) is the news
    expect((await report(device.token, end())).body).toEqual({ accepted: true, duplicate: false });
    expect(await downloaded()).toBe(1);
    // another one (the device reported again later): logged, not signalled
    expect((await report(device.token, end())).body).toEqual({ accepted: true, duplicate: false });
    expect(await downloaded()).toBe(1);
    // nor does the completed download of that link signal again
    const push2 = await findTicket(stack.db, job.tickets[2]!);
    expect(await completeDownload({ db: stack.db }, push2!)).toEqual({ first: true, signalled: false });
    expect(await downloaded()).toBe(1);

    // a new push (attempt 3): its completed download is the news, the report after it is not
    const ticket3 = randomBytes(32).toString('base64url');
    await stack.db('push_tickets').insert({
      ticket: ticket3,
      installation_id: job.jobId,
      file_id: sw.files[0]!.id,
      attempt: 3,
      expires_at: stack.db.raw("now() + interval '1 hour'"),
    });
    expect(await completeDownload({ db: stack.db }, (await findTicket(stack.db, ticket3))!)).toEqual({
      first: true,
      signalled: true,
    });
    expect((await report(device.token, end())).body).toEqual({ accepted: true, duplicate: false });
    expect(await downloaded()).toBe(2);
    expect(await stack.db('installation_log').where({ installation_id: job.jobId, event: 'report' })).toHaveLength(3);
  });

  it('the downloaded of a report is keyed as downloadedDedupeKey keys its push link (numbered or not): the report and that completed download are one signal', async () => {
    const device = await registerDevice();
    const sw = await uploadSoftware();
    const fileId = sw.files[0]!.id;
    const downloadedRows = (workflowId: string) =>
      stack
        .db('signal_outbox')
        .where({ workflow_id: workflowId, signal: 'downloaded' })
        .orderBy('id')
        .select('dedupe_key', 'args');
    const end = (jobId: string) => ({ jobId, phase: 'download-end', result: 'success', reportedAt: new Date().toISOString() });
    const complete = async (ticket: string) => completeDownload({ db: stack.db }, (await findTicket(stack.db, ticket))!);

    // numbered link (push 2, the latest; push 1 and the DM package link are older), its workflow
    // started under an id of its own, the job id in upper case: the report first, then the download
    const numbered = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      method: 'sms',
      tickets: [
        { expiresIn: 3600, attempt: 0 },
        { expiresIn: 3600, attempt: 2 },
        { expiresIn: 3600, attempt: 1 },
      ],
    });
    const ownWorkflowId = `install/custom/${numbered.jobId}`;
    await stack.db('installations').where({ id: numbered.jobId }).update({ workflow_id: ownWorkflowId });
    const numberedEnd = end(numbered.jobId.toUpperCase());
    expect((await report(device.token, numberedEnd)).body).toEqual({ accepted: true, duplicate: false });
    const numberedKey = downloadedDedupeKey(numbered.jobId, { attempt: 2, ticket: numbered.tickets[1]! });
    expect(numberedKey).toBe(`downloaded:${numbered.jobId}:2`);
    // the row enqueueSignals would write for this signal (services/signal-outbox.ts)
    expect(
      await stack.db('signal_outbox').where({ dedupe_key: numberedKey }).select('workflow_id', 'signal', 'args', 'dedupe_key'),
    ).toEqual([
      storedRow({
        workflowId: ownWorkflowId,
        signal: downloadedSignal,
        args: [{ at: numberedEnd.reportedAt, source: 'report' }],
        dedupeKey: numberedKey,
      }),
    ]);
    expect(await complete(numbered.tickets[1]!)).toEqual({ first: true, signalled: false });
    expect(await downloadedRows(ownWorkflowId)).toHaveLength(1);

    // unnumbered link (attempt NULL, written by older versions): the report first, then the download…
    const unnumbered = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      method: 'sms',
      tickets: [{ expiresIn: 3600 }],
    });
    const unnumberedKey = downloadedDedupeKey(unnumbered.jobId, { attempt: null, ticket: unnumbered.tickets[0]! });
    expect(unnumberedKey).toMatch(new RegExp(`^downloaded:${unnumbered.jobId}:t[0-9a-f]{16}$`));
    const unnumberedEnd = end(unnumbered.jobId);
    expect((await report(device.token, unnumberedEnd)).body).toEqual({ accepted: true, duplicate: false });
    expect(await downloadedRows(installWorkflowId(unnumbered.rolloutId, device.id))).toEqual([
      { dedupe_key: unnumberedKey, args: [{ at: unnumberedEnd.reportedAt, source: 'report' }] },
    ]);
    expect(await complete(unnumbered.tickets[0]!)).toEqual({ first: true, signalled: false });
    expect(await downloadedRows(installWorkflowId(unnumbered.rolloutId, device.id))).toHaveLength(1);

    // …and the download first, then the report: queued once, by the download
    const downloadFirst = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId,
      method: 'sms',
      tickets: [{ expiresIn: 3600 }],
    });
    expect(await complete(downloadFirst.tickets[0]!)).toEqual({ first: true, signalled: true });
    expect((await report(device.token, end(downloadFirst.jobId))).body).toEqual({ accepted: true, duplicate: false });
    expect(await downloadedRows(installWorkflowId(downloadFirst.rolloutId, device.id))).toEqual([
      {
        dedupe_key: downloadedDedupeKey(downloadFirst.jobId, { attempt: null, ticket: downloadFirst.tickets[0]! }),
        args: [expect.objectContaining({ source: 'download' })],
      },
    ]);

    // a job without a push link: no dedupe key, each new report signals
    const noLink = await seedJob({ deviceId: device.id, softwareId: sw.id, fileId, method: 'sms' });
    const h = await recorder(noLink.rolloutId, device.id);
    const first = end(noLink.jobId);
    expect((await report(device.token, first)).status).toBe(202);
    expect((await report(device.token, { ...first, reportedAt: new Date(Date.now() - 1000).toISOString() })).status).toBe(202);
    await signalsDelivered();
    expect(await recordedSignals(h, 'downloaded')).toHaveLength(2);
  });

  it('a job without a running workflow still takes the report (logged, 202)', async () => {
    const device = await registerDevice();
    const sw = await uploadSoftware();
    const job = await seedJob({
      deviceId: device.id,
      softwareId: sw.id,
      fileId: sw.files[0]!.id,
      status: STATUS.installationFailed,
      final: true,
    });
    const res = await report(device.token, { jobId: job.jobId, phase: 'download-end', result: 'success' });
    expect(res.status).toBe(202);
    expect(await stack.db('installation_log').where({ installation_id: job.jobId })).toHaveLength(1);
  });

  it('404 for a job of another device, an unknown or malformed job id; 400 naming the field', async () => {
    const device = await registerDevice();
    const other = await registerDevice();
    const sw = await uploadSoftware();
    const job = await seedJob({ deviceId: other.id, softwareId: sw.id, fileId: sw.files[0]!.id });
    for (const jobId of [job.jobId, randomUUID(), 'job-1']) {
      const res = await report(device.token, { jobId, phase: 'download-begin', result: 'success' });
      expect(res.status, jobId).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    expect(await stack.db('installation_log').where({ installation_id: job.jobId })).toEqual([]);
    for (const [body, field] of [
      [{ phase: 'download-begin', result: 'success' }, 'jobId'],
      [{ jobId: job.jobId, phase: 'install', result: 'success' }, 'phase'],
      [{ jobId: job.jobId, phase: 'post-install', result: 'ok' }, 'result'],
      [{ jobId: job.jobId, phase: 'post-install', result: 'success', reportedAt: 'now' }, 'reportedAt'],
    ] as const) {
      const res = await report(device.token, body);
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe(field);
    }
  });

  it('Temporal unreachable: reports and syncs are still accepted, delivered in order once it is back, nothing twice', async () => {
    const { device, job } = await deviceWithLiveJob();
    const h = await recorder(job.rolloutId, device.id);
    const entries = () =>
      stack.db('installation_log').where({ installation_id: job.jobId }).orderBy('id').select('message', 'signalled_at');
    const queued = () =>
      stack
        .db('signal_outbox')
        .where({ workflow_id: installWorkflowId(job.rolloutId, device.id) })
        .orderBy('id');

    temporalDown = true;
    try {
      const end = { jobId: job.jobId, phase: 'download-end', result: 'success' };
      const first = await report(device.token, end);
      expect(first.status).toBe(202);
      expect(first.body).toEqual({ accepted: true, duplicate: false });
      // the entry and its signal are stored together
      expect(await entries()).toEqual([{ message: 'device report: download-end success', signalled_at: expect.any(Date) }]);
      const failure = { jobId: job.jobId, phase: 'post-install', result: 'failure', detail: 'exit 3' };
      expect((await report(device.token, failure)).status).toBe(202);
      expect((await sync(device.token, { installed: { App: '1.0' } })).body).toMatchObject({ signalled: 1 });
      // the dispatcher tried, failed, and keeps the rows for a retry
      await until('a failed delivery recorded', async () => {
        const rows = await queued();
        return rows[0]?.attempts >= 1 ? rows : undefined;
      });
      const [row] = await queued();
      expect(row).toMatchObject({ signal: 'downloaded', delivered_at: null });
      expect(row.last_error).toContain('Temporal unreachable (test)');
      expect(row.deliver_after.getTime()).toBeGreaterThan(row.created_at.getTime());
      expect(await recordedSignals(h)).toEqual([]);
      // the device's queue sends its reports again: duplicates, nothing queued twice
      expect((await report(device.token, end)).body).toEqual({ accepted: true, duplicate: true });
      expect((await report(device.token, failure)).body).toEqual({ accepted: true, duplicate: true });
      expect(await queued()).toHaveLength(3);
    } finally {
      temporalDown = false;
    }
    await signalsDelivered();
    // once each, in the order they were accepted
    expect((await recordedSignals(h)).map((s) => s.name)).toEqual(['downloaded', 'downloadFailed', 'sysinfoSynced']);
    expect(await recordedSignals(h, 'downloadFailed')).toEqual([
      { name: 'downloadFailed', arg: { phase: 'post-install', detail: 'exit 3' } },
    ]);
    expect(await entries()).toHaveLength(2);
  });
});
