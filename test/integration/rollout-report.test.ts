/**
 * Reports an admin can read (SPEC P1, issue 14) over HTTP against the real stack, on a rollout whose
 * devices (acting through the device API, mark for installation) succeed, fail by report, stay silent,
 * contact the server without downloading, or are cancelled alone — in two groups (a canary of 2, then
 * the rest, issue 14):
 * - `GET /rollouts/:id/report`: counts per status, succeeded, failed with the reason (the last error of
 *   the job's log), not heard from — each entry with device id and external id — checked row by row
 *   against the jobs and their logs; paged per list;
 * - `GET /rollouts/:id/installations.csv`: every job in planned order, checked row by row;
 * - `GET /rollouts?state=&limit=&cursor=`: newest first with counts, every rollout once across pages;
 * - the summary mail links to the report; viewers may read all of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../../domain/report-rows';
import { STATUS } from '../../domain/status';
import { createMailer } from '../../infra/channels';
import { createDurableMailer } from '../../infra/channels/durable';
import { LATER, NOW_ALL_DAY, type RegisteredDevice, registerDevices, uploadSoftware } from '../helpers/api-fixtures';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

let smtp: TestSmtpServer;
let stack: Stack;
let viewerKey: string;

beforeAll(async () => {
  smtp = await startSmtpServer();
  stack = await startStack({
    env: { PUBLIC_URL: 'https://rollout.example.com' },
    deps: (db) => ({
      mailer: createDurableMailer(db, createMailer({ url: smtp.url, from: 'DeviceRollout <rollout@example.com>' })),
    }),
  });
  const key = await stack.api('POST', '/api/v1/admin-keys', { name: 'report-viewer', role: 'viewer' });
  viewerKey = key.body.key;
});
afterAll(async () => {
  await stack?.stop();
  await smtp?.stop();
});

/** A minimal RFC 4180 reader (quoted fields, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  expect(field, 'the CSV ends with CRLF').toBe('');
  return rows;
}

describe('the report, the CSV and the list of a rollout with failing devices', () => {
  let rolloutId: string;
  let devices: RegisteredDevice[];

  beforeAll(async () => {
    devices = await registerDevices(
      stack,
      'report',
      Array.from({ length: 6 }, () => ({ platform: 'android' })),
    );
    const software = await uploadSoftware(stack, { kind: 'other', platforms: 'android', name: 'Report App' }, ['app.apk']);
    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: software,
      devices: { ids: devices.map((d) => d.id) },
      options: { push: 'mark', maxPushAttempts: 1 },
      schedule: NOW_ALL_DAY,
      timeouts: { ticketLifetime: '5s' },
      notify: ['ops@example.com'],
      // the rest starts once the canary succeeded; its failures must not halt the rollout here
      groups: [{ name: 'canary', devices: 2 }, { name: 'rest' }],
      safety: { successThreshold: '100%', errorThreshold: '100%' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    rolloutId = created.body.id;

    // 0, 1 (the canary) download; 2 reports an installer failure; 3 stays silent; 4 syncs but never
    // downloads; 5 is cancelled alone before it starts
    const pending = async (d: RegisteredDevice) => {
      const sync = await stack.api('POST', '/api/v1/device/sync', { installed: {} }, d.token);
      return sync.body.pending[0] as { jobId: string; url: string } | undefined;
    };
    const jobs = await stack.db('installations').where({ rollout_id: rolloutId }).orderBy('seq').select('id');
    const cancelled = await stack.api('POST', `/api/v1/installations/${jobs[5]!.id}/cancel`, { reason: 'unit sent back' });
    expect(cancelled.body).toMatchObject({ cancelled: 'not-started', status: STATUS.cancelled });
    const acted = new Set<number>();
    await until(
      'the acting devices',
      async () => {
        for (const i of [0, 1, 2, 4]) {
          if (acted.has(i)) continue;
          const job = await pending(devices[i]!);
          if (!job) continue;
          const url = `${stack.baseUrl}${new URL(job.url).pathname}`;
          if (i === 0 || i === 1) await (await fetch(url)).arrayBuffer();
          if (i === 2) {
            const rep = await stack.api(
              'POST',
              '/api/v1/device/reports',
              { jobId: job.jobId, phase: 'post-install', result: 'failure', detail: 'installer exit code 1603' },
              devices[2]!.token,
            );
            expect(rep.status).toBeLessThan(300);
          }
          acted.add(i);
        }
        return acted.size === 4 ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    await until('the rollout to complete', async () => {
      const r = await stack.api('GET', `/api/v1/rollouts/${rolloutId}`);
      return r.body.state === 'completed' && r.body.completedAt ? true : undefined;
    });
  }, 90_000);

  /** The jobs as PostgreSQL has them, with the last error of each log (what the report must say). */
  async function expectedJobs() {
    const rows = await stack
      .db('installations as i')
      .join('devices as d', 'd.id', 'i.device_id')
      .where('i.rollout_id', rolloutId)
      .orderBy('i.seq')
      .select('i.id', 'i.device_id', 'd.external_id', 'i.status', 'i.detail', 'i.started_at', 'i.ended_at');
    const out = [];
    for (const r of rows) {
      const log = (await stack.api('GET', `/api/v1/installations/${r.id}/log`)).body.log as { event: string; message: string }[];
      const lastError = log.filter((e) => e.event === 'error').pop()?.message ?? null;
      out.push({ ...r, lastError });
    }
    return out;
  }

  it('GET /rollouts/:id/report: counts, succeeded, failed with the last error of the log, not heard from — row by row', async () => {
    const res = await stack.api('GET', `/api/v1/rollouts/${rolloutId}/report`, undefined, viewerKey);
    expect(res.status).toBe(200);
    const r = res.body;
    const jobs = await expectedJobs();
    expect(jobs.map((j) => j.status)).toEqual([
      STATUS.downloaded,
      STATUS.downloaded,
      STATUS.installationFailed,
      STATUS.installationFailed,
      STATUS.installationFailed,
      STATUS.cancelled,
    ]);
    expect(r).toMatchObject({
      rolloutId,
      state: 'completed',
      total: 6,
      retryOf: null,
      counts: { [STATUS.downloaded]: 2, [STATUS.installationFailed]: 3, [STATUS.cancelled]: 1 },
      csv: `/api/v1/rollouts/${rolloutId}/installations.csv`,
    });
    expect(r.software.name).toBe('Report App');
    const ids = (e: { deviceId: string; externalId: string }) => [e.deviceId, e.externalId];
    expect(r.succeeded.total).toBe(2);
    expect(r.succeeded.entries.map(ids)).toEqual(jobs.slice(0, 2).map((j) => [j.device_id, j.external_id]));
    expect(r.succeeded.nextCursor).toBeNull();

    expect(r.failed.total).toBe(3);
    expect(
      r.failed.entries.map((e: { deviceId: string; externalId: string; reason: string; status: string }) => [
        ...ids(e),
        e.status,
        e.reason,
      ]),
    ).toEqual(jobs.slice(2, 5).map((j) => [j.device_id, j.external_id, STATUS.installationFailed, j.lastError]));
    expect(r.failed.entries[0].reason).toMatch(/installer exit code 1603/);
    expect(r.failed.entries[1].reason).toMatch(/ticket expired/);

    // not heard from: the silent device and the one cancelled before it synced; not the one that synced
    expect(r.notHeardFrom.total).toBe(2);
    expect(r.notHeardFrom.entries.map(ids)).toEqual([jobs[3]!, jobs[5]!].map((j) => [j.device_id, j.external_id]));
    expect(r.notHeardFrom.entries.map((e: { lastContactAt: string | null }) => e.lastContactAt)).toEqual([null, null]);
  });

  it('the report pages one list at a time; bad queries name the field', async () => {
    const first = await stack.api('GET', `/api/v1/rollouts/${rolloutId}/report?list=failed&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.failed.entries).toHaveLength(2);
    expect(first.body.succeeded).toEqual({ total: 2 });
    expect(first.body.failed.nextCursor).toEqual(expect.any(String));
    const second = await stack.api(
      'GET',
      `/api/v1/rollouts/${rolloutId}/report?list=failed&limit=2&cursor=${first.body.failed.nextCursor}`,
    );
    expect(second.body.failed.entries).toHaveLength(1);
    expect(second.body.failed.nextCursor).toBeNull();
    const all = await stack.api('GET', `/api/v1/rollouts/${rolloutId}/report?list=failed`);
    expect([...first.body.failed.entries, ...second.body.failed.entries]).toEqual(all.body.failed.entries);
    const nhf = await stack.api('GET', `/api/v1/rollouts/${rolloutId}/report?list=not-heard-from&limit=1`);
    expect(nhf.body.notHeardFrom.entries).toHaveLength(1);

    for (const [q, field] of [
      ['list=everything', 'list'],
      [`cursor=${first.body.failed.nextCursor}`, 'cursor'],
      ['list=failed&cursor=garbage', 'cursor'],
      ['limit=0', 'limit'],
      ['sort=asc', 'sort'],
    ] as const) {
      const bad = await stack.api('GET', `/api/v1/rollouts/${rolloutId}/report?${q}`);
      expect(bad.status, q).toBe(400);
      expect(bad.body.error.field, q).toBe(field);
    }
    expect((await stack.api('GET', `/api/v1/rollouts/${crypto.randomUUID()}/report`)).status).toBe(404);
  });

  it('GET /rollouts/:id/installations.csv: every job in planned order, row by row', async () => {
    const res = await fetch(`${stack.baseUrl}/api/v1/rollouts/${rolloutId}/installations.csv`, {
      headers: { authorization: `Bearer ${viewerKey}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="rollout-${rolloutId}.csv"`);
    const rows = parseCsv(await res.text());
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    const jobs = await expectedJobs();
    const iso = (d: Date | null) => (d ? new Date(d).toISOString() : '');
    expect(rows.slice(1)).toEqual(
      jobs.map((j, i) => [
        j.external_id,
        'android',
        i < 2 ? 'canary' : 'rest',
        j.status,
        iso(j.started_at),
        iso(j.ended_at),
        j.status === STATUS.installationFailed ? j.lastError : j.status === STATUS.cancelled ? j.detail : '',
      ]),
    );
    expect(rows[6]![6]).toBe('cancelled alone by an operator before this install started: unit sent back');
    for (const row of rows.slice(1)) expect(row[4]).not.toBe('');

    expect((await stack.api('GET', `/api/v1/rollouts/${crypto.randomUUID()}/installations.csv`)).status).toBe(404);
    expect((await stack.api('GET', `/api/v1/rollouts/${rolloutId}/installations.csv`, undefined, null)).status).toBe(401);
  });

  it('the summary mail links to the report and the CSV', async () => {
    const [mail] = await smtp.waitForMails(1, (m) => (m.parsed.subject ?? '').includes('Report App 1.0 completed'), 30_000);
    const url = `https://rollout.example.com/api/v1/rollouts/${rolloutId}/report`;
    expect(mail!.parsed.text).toContain(`Report: ${url}`);
    expect(mail!.parsed.text).toContain(
      `Every job as CSV: https://rollout.example.com/api/v1/rollouts/${rolloutId}/installations.csv`,
    );
    expect(mail!.parsed.html).toContain(`<a href="${url}">The report</a>`);
  });

  it('GET /rollouts: newest first with counts, filtered by state, every rollout once across pages', async () => {
    const software = await uploadSoftware(stack, { kind: 'other', platforms: 'android' }, ['later.apk']);
    const later: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await stack.api('POST', '/api/v1/rollouts', {
        softwareId: software,
        devices: { ids: [devices[i]!.id] },
        options: { push: 'mark' },
        schedule: LATER,
      });
      expect(r.status).toBe(201);
      later.push(r.body.id);
    }
    const expected = (
      await stack
        .db('rollouts')
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .select('id')
    ).map((r) => r.id);
    expect(expected.slice(0, 3)).toEqual([...later].reverse());
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: any } = await stack.api(
        'GET',
        `/api/v1/rollouts?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        undefined,
        viewerKey,
      );
      expect(page.status).toBe(200);
      expect(page.body.rollouts.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.rollouts.map((r: { id: string }) => r.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(expected);

    const completed = await stack.api('GET', '/api/v1/rollouts?state=completed');
    const mine = completed.body.rollouts.find((r: { id: string }) => r.id === rolloutId);
    expect(mine).toMatchObject({
      state: 'completed',
      total: 6,
      retryOf: null,
      software: { name: 'Report App', version: '1.0' },
      counts: { [STATUS.downloaded]: 2, [STATUS.installationFailed]: 3, [STATUS.cancelled]: 1 },
    });
    expect(completed.body.rollouts.every((r: { state: string }) => r.state === 'completed')).toBe(true);
    const scheduled = await stack.api('GET', '/api/v1/rollouts?state=scheduled');
    expect(scheduled.body.rollouts.map((r: { id: string }) => r.id)).toEqual(expect.arrayContaining(later));
    expect(scheduled.body.rollouts[0].counts).toEqual({ 'Not started': 1 });

    for (const [q, field] of [
      ['state=done', 'state'],
      ['limit=500', 'limit'],
      ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
      [`cursor=${Buffer.from(JSON.stringify(['yesterday', 'x'])).toString('base64url')}`, 'cursor'],
      ['software=x', 'software'],
    ] as const) {
      const bad = await stack.api('GET', `/api/v1/rollouts?${q}`);
      expect(bad.status, q).toBe(400);
      expect(bad.body.error.field, q).toBe(field);
    }
  });
});
