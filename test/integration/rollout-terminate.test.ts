/**
 * Issue 13, item 1 on the real stack (Temporal dev server + worker + PostgreSQL + API): an install
 * workflow terminated with `temporal workflow terminate` (what an operator does from the Temporal UI)
 * during a rollout. The install writes no final status and sends no `installFinished`; the rollout
 * notices its child closed, fails the job with the reason in its log, and completes.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTemporalCli } from '../../devstack/temporal-servers';
import { STATUS } from '../../domain/status';
import { type Stack, startStack } from '../helpers/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The Temporal CLI binary the integration setup uses (built or cached by devstack/temporal-servers.ts). */
async function temporalCli(): Promise<string> {
  const exe = await ensureTemporalCli();
  if (exe.type !== 'existing-path') throw new Error('this test needs the Temporal CLI binary (TEMPORAL_CLI_PATH or go)');
  return exe.path;
}

describe('an install workflow terminated during a real rollout', () => {
  it('`temporal workflow terminate` on one install: the rollout completes, the job is Installation failed with the reason', {
    timeout: 120_000,
  }, async () => {
    const tag = randomUUID().slice(0, 8);
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: Array.from({ length: 2 }, (_, i) => ({ externalId: `term-${tag}-${i}`, platform: 'android' })),
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const [active, stuck] = reg.body.devices as { id: string; token: string }[];
    const form = new FormData();
    form.set('name', `Terminate App ${tag}`);
    form.set('version', '1.0');
    form.set('kind', 'other');
    form.set('platforms', 'android');
    form.append('file', new Blob([Buffer.alloc(4 * 1024, 3)]), 'app.apk');
    const sw = await fetch(`${stack.baseUrl}/api/v1/software`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: form,
    });
    expect(sw.status, await sw.clone().text()).toBe(201);
    const software = (await sw.json()) as { id: string };

    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: software.id,
      devices: { ids: [active!.id, stuck!.id] },
      options: { useDm: false, push: 'mark', maxPushAttempts: 1 },
      schedule: {
        perDay: 'unlimited',
        weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        window: { start: '00:00', end: '24:00' },
      },
      timeouts: { ticketLifetime: '1h' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { id: rolloutId } = created.body as { id: string };

    // the active device fetches its file (→ Downloaded); the other never shows up: its install waits
    const until = Date.now() + 60_000;
    for (;;) {
      if (Date.now() > until) throw new Error('the active device never got its job');
      const sync = await stack.api('POST', '/api/v1/device/sync', { installed: {} }, active!.token);
      const job = (sync.body.pending as { url: string }[] | undefined)?.[0];
      if (job) {
        const file = await fetch(`${stack.baseUrl}${new URL(job.url).pathname}`);
        expect(file.status).toBe(200);
        await file.arrayBuffer();
        break;
      }
      await sleep(300);
    }
    const stuckJob = async () => stack.db('installations').where({ rollout_id: rolloutId, device_id: stuck!.id }).first();
    for (;;) {
      if (Date.now() > until) throw new Error('the stuck device never got its install workflow');
      const row = await stuckJob();
      if (row?.status === STATUS.waitingForDownload) break;
      await sleep(300);
    }

    // the operator's action
    const workflowId = `install/${rolloutId}/${stuck!.id}`;
    await promisify(execFile)(await temporalCli(), [
      'workflow',
      'terminate',
      '--address',
      inject('temporalAddress'),
      '--workflow-id',
      workflowId,
      '--reason',
      'stuck device: operator action',
    ]);
    expect((await stack.client.workflow.getHandle(workflowId).describe()).status.name).toBe('TERMINATED');

    let last: any;
    const deadline = Date.now() + 60_000;
    for (;;) {
      last = (await stack.api('GET', `/api/v1/rollouts/${rolloutId}`)).body;
      if (last.state === 'completed' || Date.now() > deadline) break;
      await sleep(500);
    }
    expect(last).toMatchObject({
      state: 'completed',
      total: 2,
      counts: { [STATUS.downloaded]: 1, [STATUS.installationFailed]: 1 },
    });
    const row = await stuckJob();
    expect(row).toMatchObject({ status: STATUS.installationFailed, final: true });
    const log = await stack.api('GET', `/api/v1/installations/${row.id}/log`);
    const failed = (log.body.log as { to: string | null; message: string | null }[]).filter(
      (e) => e.to === STATUS.installationFailed,
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]!.message).toBe('install workflow terminated: stuck device: operator action');
  });
});
