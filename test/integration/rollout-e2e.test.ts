/**
 * End to end over HTTP against the real stack (Temporal dev server + worker + PostgreSQL + API) with a
 * real SMTP server (smtp-server, in process; mails parsed with mailparser) behind the nodemailer mailer:
 * register devices and software, preview, start a rollout, let the devices do their part through the
 * device endpoints, watch the progress to completion, read the summary email (and the early alert).
 *
 * The devices are simulated with the device API exactly as a device would use it (push method "mark
 * for installation"): `POST /api/v1/device/sync` returns the pending job with its ticket link, the
 * device downloads the whole file from `/d/:ticket` (→ Downloaded), one device fetches only the first
 * KiB and reports a post-install failure through `POST /api/v1/device/reports` (→ Installation
 * failed), and one device never shows
 * up: its ticket (lifetime 15 s for this rollout) expires → Installation failed, "not heard from".
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { createMailer } from '../../infra/channels';
import { createDurableMailer } from '../../infra/channels/durable';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp';
import { type Stack, startStack } from '../helpers/stack';

let smtp: TestSmtpServer;
let stack: Stack;

beforeAll(async () => {
  smtp = await startSmtpServer();
  stack = await startStack({
    // as in production (infra/channels/configured.ts): the SMTP mailer behind the durable send record
    deps: (db) => ({
      mailer: createDurableMailer(db, createMailer({ url: smtp.url, from: 'DeviceRollout <rollout@example.com>' })),
    }),
  });
});
afterAll(async () => {
  await stack?.stop();
  await smtp?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a rollout from the first request to the summary email', () => {
  it('preview, start, devices install, progress to completed, summary email with P1 lists', { timeout: 240_000 }, async () => {
    // --- devices and software through the admin API
    const tag = randomUUID().slice(0, 8);
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: Array.from({ length: 7 }, (_, i) => ({ externalId: `e2e-${tag}-${i}`, platform: 'android' })),
    });
    expect(reg.status).toBe(201);
    const devices = reg.body.devices as { id: string; externalId: string; token: string }[];
    const form = new FormData();
    form.set('name', `Field App ${tag}`);
    form.set('version', '2.1');
    form.set('kind', 'other');
    form.set('platforms', 'android');
    form.append('file', new Blob([Buffer.alloc(64 * 1024, 7)]), 'field-app.apk');
    const sw = await fetch(`${stack.baseUrl}/api/v1/software`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: form,
    });
    expect(sw.status).toBe(201);
    const software = (await sw.json()) as { id: string };

    const body = {
      softwareId: software.id,
      devices: { ids: devices.map((d) => d.id) },
      options: { useDm: false, push: 'mark', maxPushAttempts: 1 },
      schedule: {
        perDay: 'unlimited',
        weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        window: { start: '00:00', end: '24:00' },
      },
      timeouts: { ticketLifetime: '15s' },
      notify: ['ops@example.com', 'lead@example.org'],
      failureThreshold: 1,
    };

    // --- preview: everyone at once, today (S6); nothing started
    const preview = await stack.api('POST', '/api/v1/rollouts/preview', body);
    expect(preview.status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    expect(preview.body.days).toEqual([{ date: today, count: 7 }]);
    expect(preview.body.slots.map((s: { deviceId: string }) => s.deviceId)).toEqual(devices.map((d) => d.id));
    expect(
      (
        await stack.db('installations').whereIn(
          'device_id',
          devices.map((d) => d.id),
        )
      ).length,
    ).toBe(0);

    // --- start
    const created = await stack.api('POST', '/api/v1/rollouts', body);
    expect(created.status).toBe(201);
    const { id, workflowId } = created.body as { id: string; workflowId: string };

    // --- the devices: six sync and act on their pending job, the seventh stays silent
    const acting = devices.slice(0, 6);
    const silent = devices[6]!;
    const done = new Set<string>();
    const deadline = Date.now() + 60_000;
    while (done.size < acting.length) {
      if (Date.now() > deadline)
        throw new Error(`devices still without their job: ${acting.filter((d) => !done.has(d.id)).length}`);
      for (const [i, d] of acting.entries()) {
        if (done.has(d.id)) continue;
        const sync = await stack.api('POST', '/api/v1/device/sync', { installed: {} }, d.token);
        expect(sync.status).toBe(200);
        const job = (sync.body.pending as { jobId: string; url: string; size: number; sha256: string }[])[0];
        if (!job) continue;
        // the link as the device sees it, served by this API
        const url = `${stack.baseUrl}${new URL(job.url).pathname}`;
        if (i === 5) {
          // this one starts the download (first KiB, resumable), then its installer fails
          const part = await fetch(url, { headers: { range: 'bytes=0-1023' } });
          expect(part.status).toBe(206);
          await part.arrayBuffer();
          for (const [phase, result, detail] of [
            ['download-begin', 'success', undefined],
            ['post-install', 'failure', 'installer exit code 1603'],
          ] as const) {
            const rep = await stack.api('POST', '/api/v1/device/reports', { jobId: job.jobId, phase, result, detail }, d.token);
            expect(rep.status).toBeLessThan(300);
          }
        } else {
          const file = await fetch(url);
          expect(file.status).toBe(200);
          expect((await file.arrayBuffer()).byteLength).toBe(job.size);
        }
        done.add(d.id);
      }
      await sleep(300);
    }

    // --- progress until completed (the silent device's ticket expires after 15 s)
    const seen = new Set<string>();
    let last: any;
    const until = Date.now() + 120_000;
    for (;;) {
      const res = await stack.api('GET', `/api/v1/rollouts/${id}`);
      expect(res.status).toBe(200);
      last = res.body;
      seen.add(last.state);
      if (last.state === 'completed' || Date.now() > until) break;
      expect(last.total).toBe(7);
      await sleep(500);
    }
    expect(last).toMatchObject({
      id,
      state: 'completed',
      total: 7,
      started: 7,
      remaining: 0,
      nextStartAt: null,
      counts: { [STATUS.downloaded]: 5, [STATUS.installationFailed]: 2 },
      source: 'database',
    });
    expect(last.completedAt).not.toBeNull();
    expect(seen.has('running') || seen.has('completed')).toBe(true);

    // the state is written before the summary mail goes out; the workflow ends right after
    const handle = stack.client.workflow.getHandle(workflowId);
    const outcome = await handle.result();
    expect(outcome).toMatchObject({
      state: 'completed',
      finished: 7,
      dbCounts: { [STATUS.downloaded]: 5, [STATUS.installationFailed]: 2 },
    });
    const desc = await handle.describe();
    expect(desc.status.name).toBe('COMPLETED');
    expect(desc.typedSearchAttributes.getAll().find((p) => p.key.name === 'RolloutState')?.value).toBe('completed');

    // Between the workflow's end and its write of the final state, the API reports the state
    // PostgreSQL has (rewound here to that moment): never `completed` without completedAt.
    const stored = await stack.db('rollouts').where({ id }).first('state', 'completed_at');
    await stack.db('rollouts').where({ id }).update({ state: 'running', completed_at: null });
    try {
      const inFlight = await stack.api('GET', `/api/v1/rollouts/${id}`);
      expect(inFlight.body).toMatchObject({ state: 'running', source: 'workflow', completedAt: null, remaining: 0, finished: 7 });
    } finally {
      await stack.db('rollouts').where({ id }).update(stored);
    }

    // --- the tables and a log
    const installed = await stack.api('GET', `/api/v1/rollouts/${id}/installations?table=installed&limit=500`);
    expect(installed.body.installations).toHaveLength(7);
    expect((await stack.api('GET', `/api/v1/rollouts/${id}/installations?table=installing`)).body.installations).toEqual([]);
    const failedJob = installed.body.installations.find((j: { deviceId: string }) => j.deviceId === acting[5]!.id);
    const log = await stack.api('GET', `/api/v1/installations/${failedJob.id}/log`);
    expect(log.body.log.map((e: { to: string | null }) => e.to)).toContain(STATUS.installationFailed);
    expect(log.body.log.map((e: { message: string | null }) => e.message).join('\n')).toMatch(/installer exit code 1603/);
    expect(log.body.log[0].message).toMatch(/install started by the rollout/);

    // --- the early alert (first failure, threshold 1) and the summary
    const [alert] = await smtp.waitForMails(
      1,
      (m) => /failures in the rollout of Field App/.test(m.parsed.subject ?? ''),
      30_000,
    );
    expect(alert?.envelope.to).toEqual(['ops@example.com', 'lead@example.org']);
    const [summary] = await smtp.waitForMails(
      1,
      (m) => (m.parsed.subject ?? '').includes(`Field App ${tag} 2.1 completed`),
      30_000,
    );
    expect(summary).toBeDefined();
    const mail = summary!;
    expect(mail.parsed.subject).toBe(`DeviceRollout: rollout of Field App ${tag} 2.1 completed — 5 succeeded, 2 failed of 7`);
    expect(mail.envelope.to).toEqual(['ops@example.com', 'lead@example.org']);
    const text = mail.parsed.text ?? '';
    expect(text).toContain(`Rollout ${id} of Field App ${tag} 2.1: completed.`);
    expect(text).toContain(`${STATUS.downloaded}: 5`);
    expect(text).toContain(`${STATUS.installationFailed}: 2`);
    expect(text).toMatch(
      new RegExp(`Failures \\(2\\):[\\s\\S]*e2e-${tag}-5 \\(android\\): Installation failed — [^\\n]*installer exit code 1603`),
    );
    expect(text).toMatch(new RegExp(`Failures \\(2\\):[\\s\\S]*e2e-${tag}-6 \\(android\\): Installation failed`));
    for (const d of acting.slice(0, 5)) expect(text).toContain(`${d.externalId} (android): ${STATUS.downloaded}`);
    // P1 "devices not heard from": only the silent one
    expect(text).toMatch(
      new RegExp(`Not heard from \\(1\\):\\n  - ${silent.externalId} \\(android\\): Installation failed, last contact never`),
    );
    expect(mail.parsed.html).toContain('<h3>Failures (2)</h3>');
    expect(mail.parsed.html).toContain(silent.externalId);
    // once: the key is recorded as sent
    const sent = await stack
      .db('messages')
      .where({ idempotency_key: `rollout/${id}/summary` })
      .first('state', 'recipient');
    expect(sent).toEqual({ state: 'sent', recipient: 'ops@example.com, lead@example.org' });
    expect(smtp.received.filter((m) => (m.parsed.subject ?? '').includes(`Field App ${tag} 2.1 completed`))).toHaveLength(1);
  });
});
